//! Properties every scheduler keeps, checked with proptest through the public API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rvs_schedulers::{build, Flow, RealLoad, RealServer, SchedFlags, SchedKind, SchedParams};

fn real(id: u32, weight: u32, available: bool) -> RealServer {
    RealServer {
        id,
        addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + id)),
        port: 8080,
        weight,
        upper: 0,
        lower: 0,
        available,
    }
}

fn flow(client: u32, port: u16, now_ms: u64) -> Flow {
    let client = if client % 5 == 0 {
        IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(client)))
    } else {
        IpAddr::V4(Ipv4Addr::from(client))
    };
    Flow {
        client,
        client_port: port,
        // A few destinations, so lblc/lblcr entries get reused.
        dest: IpAddr::V4(Ipv4Addr::new(172, 16, 0, (port % 4) as u8)),
        dest_port: 80,
        now_ms,
    }
}

fn params(all_flags: bool) -> SchedParams {
    let flags = if all_flags {
        SchedFlags::parse("sh-port,sh-fallback,mh-port,mh-fallback").unwrap()
    } else {
        SchedFlags::default()
    };
    SchedParams {
        flags,
        mh_table_size: 251,
    }
}

fn usable(r: &RealServer, l: &RealLoad) -> bool {
    r.available && r.weight > 0 && !l.overloaded
}

prop_compose! {
    fn cluster()(spec in prop::collection::vec(
        (0u32..5, prop::bool::weighted(0.8), 0u32..6, 0u32..6, prop::bool::weighted(0.2)),
        0..24,
    )) -> (Vec<RealServer>, Vec<RealLoad>) {
        spec.iter()
            .enumerate()
            .map(|(i, &(w, av, active, inactive, overloaded))| {
                (real(i as u32, w, av), RealLoad { active, inactive, overloaded })
            })
            .unzip()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// No scheduler ever picks a quiesced, unavailable or overloaded real, and each finds
    /// a real whenever the IPVS algorithm has one to give.
    #[test]
    fn never_picks_an_unusable_real(
        (reals, mut loads) in cluster(),
        all_flags in any::<bool>(),
        clients in prop::collection::vec((any::<u32>(), any::<u16>()), 1..40),
        churn in prop::collection::vec((0usize..24, 0u32..6, any::<bool>()), 40),
    ) {
        for kind in SchedKind::ALL {
            let s = build(kind, reals.clone(), &params(all_flags)).unwrap();
            let mut st = s.new_state();
            for (k, &(c, p)) in clients.iter().enumerate() {
                // Loads move between picks, as conntrack would move them.
                let (i, active, ovl) = churn[k];
                if let Some(l) = loads.get_mut(i) {
                    l.active = active;
                    l.overloaded = ovl;
                }
                let any_usable_now = reals.iter().zip(&loads).any(|(r, l)| usable(r, l));
                let now = k as u64 * 1000;
                match s.pick(&mut st, &flow(c, p, now), &loads) {
                    Some(i) => prop_assert!(
                        usable(&reals[i], &loads[i]),
                        "{kind} picked unusable real {i}: {:?} {:?}", reals[i], loads[i]
                    ),
                    None => {
                        // Only hashing schedulers without a fallback, and ovf (everyone
                        // over weight), may give up while a usable real exists.
                        let may_refuse = matches!(kind, SchedKind::Dh | SchedKind::Ovf)
                            || (!all_flags && matches!(kind, SchedKind::Sh | SchedKind::Mh));
                        prop_assert!(!any_usable_now || may_refuse, "{kind} found nothing");
                    }
                }
            }
        }
    }

    /// Over one full cycle, wrr hands each usable real exactly weight / gcd connections.
    #[test]
    fn wrr_cycle_is_weight_proportional(
        weights in prop::collection::vec(0u32..12, 1..12),
        start in 0usize..50,
    ) {
        let reals: Vec<_> = weights.iter().enumerate().map(|(i, &w)| real(i as u32, w, true)).collect();
        let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        prop_assume!(g > 0);
        let s = build(SchedKind::Wrr, reals, &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let loads = vec![RealLoad::default(); weights.len()];
        // Any starting point in the cycle.
        for _ in 0..start {
            s.pick(&mut st, &flow(1, 1, 0), &loads).unwrap();
        }
        let cycle: u32 = weights.iter().map(|w| w / g).sum();
        let mut got = vec![0u32; weights.len()];
        for _ in 0..cycle {
            got[s.pick(&mut st, &flow(1, 1, 0), &loads).unwrap()] += 1;
        }
        let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
        prop_assert_eq!(got, want);
    }

    /// sh, dh, mh and conhash send a key to the same real across rebuilds that do not touch
    /// that real: another real goes down or comes back, or changes its thresholds.
    #[test]
    fn hashing_is_stable_across_rebuilds_not_touching_the_real(
        weights in prop::collection::vec(1u32..4, 2..16),
        touched in any::<prop::sample::Index>(),
        clients in prop::collection::vec((any::<u32>(), any::<u16>()), 50),
    ) {
        let before: Vec<_> = weights.iter().enumerate().map(|(i, &w)| real(i as u32, w, true)).collect();
        let t = touched.index(before.len());
        let mut after = before.clone();
        after[t].available = false;
        after[t].upper = 100;
        after[t].lower = 50;
        let loads = vec![RealLoad::default(); before.len()];
        for kind in [SchedKind::Sh, SchedKind::Dh, SchedKind::Mh, SchedKind::Conhash] {
            let a = build(kind, before.clone(), &params(true)).unwrap();
            let b = build(kind, after.clone(), &params(true)).unwrap();
            let again = build(kind, before.clone(), &params(true)).unwrap();
            let (mut sa, mut sb, mut sc) = (a.new_state(), b.new_state(), again.new_state());
            for &(c, p) in &clients {
                let f = flow(c, p, 0);
                let ia = a.pick(&mut sa, &f, &loads).unwrap();
                prop_assert_eq!(again.pick(&mut sc, &f, &loads), Some(ia), "{} not deterministic", kind);
                if ia != t {
                    prop_assert_eq!(b.pick(&mut sb, &f, &loads), Some(ia), "{} moved a key", kind);
                }
            }
        }
    }

    /// conhash: adding or removing a real (not the heaviest, whose weight scales the ring)
    /// moves only keys to or from that real.
    #[test]
    fn conhash_moves_only_the_changed_reals_keys(
        weights in prop::collection::vec(1u32..4, 2..16),
        removed in any::<prop::sample::Index>(),
        clients in prop::collection::vec(any::<u32>(), 100),
    ) {
        let mut all: Vec<_> = weights.iter().enumerate().map(|(i, &w)| real(i as u32, w, true)).collect();
        all.push(real(weights.len() as u32, 4, true));
        let r = removed.index(weights.len());
        let mut fewer = all.clone();
        fewer.remove(r);
        let loads = vec![RealLoad::default(); all.len()];
        let a = build(SchedKind::Conhash, all, &SchedParams::default()).unwrap();
        let b = build(SchedKind::Conhash, fewer, &SchedParams::default()).unwrap();
        let (mut sa, mut sb) = (a.new_state(), b.new_state());
        for &c in &clients {
            let f = flow(c, 0, 0);
            let ia = a.pick(&mut sa, &f, &loads).unwrap();
            let ib = b.pick(&mut sb, &f, &loads).unwrap();
            if a.reals()[ia].id != r as u32 {
                prop_assert_eq!(a.reals()[ia].id, b.reals()[ib].id);
            }
        }
    }

    /// lblc: while the cached real stays usable and within the locality rule, a destination
    /// keeps it whatever the other reals' loads do.
    #[test]
    fn lblc_keeps_a_healthy_cached_real(
        weights in prop::collection::vec(1u32..6, 2..10),
        noise in prop::collection::vec((0usize..10, 0u32..50), 30),
    ) {
        let reals: Vec<_> = weights.iter().enumerate().map(|(i, &w)| real(i as u32, w, true)).collect();
        let mut loads = vec![RealLoad::default(); reals.len()];
        let s = build(SchedKind::Lblc, reals.clone(), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let cached = s.pick(&mut st, &flow(1, 1, 0), &loads).unwrap();
        for (k, &(i, inactive)) in noise.iter().enumerate() {
            if let Some(l) = loads.get_mut(i) {
                l.inactive = inactive;
            }
            // Active counts stay at 0: nobody is over its weight.
            prop_assert_eq!(s.pick(&mut st, &flow(k as u32, 1, k as u64), &loads), Some(cached));
        }
    }

    /// lblcr: the pick is always a member of the destination's set or the wlc choice.
    #[test]
    fn lblcr_picks_set_member_or_wlc(
        weights in prop::collection::vec(1u32..4, 2..10),
        steps in prop::collection::vec((0usize..10, 0u32..8), 60),
    ) {
        let reals: Vec<_> = weights.iter().enumerate().map(|(i, &w)| real(i as u32, w, true)).collect();
        let mut loads = vec![RealLoad::default(); reals.len()];
        let s = build(SchedKind::Lblcr, reals.clone(), &SchedParams::default()).unwrap();
        let wlc = build(SchedKind::Wlc, reals.clone(), &SchedParams::default()).unwrap();
        let (mut st, mut sw) = (s.new_state(), wlc.new_state());
        let mut set = std::collections::BTreeSet::new();
        for (k, &(i, active)) in steps.iter().enumerate() {
            if let Some(l) = loads.get_mut(i) {
                l.active = active;
            }
            let f = flow(9, 1, k as u64);
            let w = wlc.pick(&mut sw, &f, &loads).unwrap();
            let d = s.pick(&mut st, &f, &loads).unwrap();
            prop_assert!(set.contains(&d) || d == w, "{d} neither in {set:?} nor wlc's {w}");
            set.insert(d);
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
