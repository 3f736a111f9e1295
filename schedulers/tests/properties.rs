//! Properties every scheduler keeps, checked with proptest through the public API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use proptest::prelude::*;
use rvs_schedulers::{
    build, Flow, RealLoad, RealServer, SchedFlags, SchedKind, SchedParams, Scheduler,
};

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

/// What a rebuild does to one real X.
#[derive(Clone, Copy, Debug)]
enum Touch {
    /// X joins.
    Add,
    /// X leaves.
    Remove,
    /// X gets a new weight.
    Reweight(u32),
    /// X is taken out by, or brought back from, health checks.
    Toggle,
}

fn touch() -> impl Strategy<Value = Touch> {
    prop_oneof![
        Just(Touch::Add),
        Just(Touch::Remove),
        (1u32..=10).prop_map(Touch::Reweight),
        Just(Touch::Toggle),
    ]
}

/// `rs` with real `x` available (when it is there).
fn with_up(rs: &[RealServer], x: u32) -> Vec<RealServer> {
    let mut rs = rs.to_vec();
    rs.iter_mut()
        .filter(|r| r.id == x)
        .for_each(|r| r.available = true);
    rs
}

/// The real id `s` picks for `f` with idle loads.
fn pick_id(s: &Arc<dyn Scheduler>, f: &Flow) -> Option<u32> {
    let loads = vec![RealLoad::default(); s.reals().len()];
    s.pick(&mut s.new_state(), f, &loads)
        .map(|i| s.reals()[i].id)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// sh and dh move only the keys of the one real X that a rebuild adds, removes,
    /// re-weights or takes out / brings back: when the rebuild takes from X (X removed,
    /// lighter, or unavailable), every key whose real was not X keeps its real; when it
    /// gives to X (X added, heavier, or available again), every key whose real is not X
    /// afterwards had that real before.
    ///
    /// Keys: the client address, the client address and port (`sh-port`), the destination
    /// address (dh); with and without `sh-fallback`; other reals may be unavailable, their
    /// keys then find none or walk on (the walk stays put too). The table is laid out over
    /// unavailable reals as well, so while X is unavailable the keys of X's buckets find no
    /// real or walk on: the membership and weight changes are therefore checked with X
    /// available on both sides (the tables themselves when X is available), and X's
    /// availability with each layout.
    #[test]
    fn sh_dh_move_only_the_touched_reals_keys(
        spec in prop::collection::vec((1u32..=10, prop::bool::weighted(0.8)), 2..50),
        x in any::<prop::sample::Index>(),
        touch in touch(),
        sh_port in any::<bool>(),
        sh_fallback in any::<bool>(),
        clients in prop::collection::vec((any::<u32>(), any::<u16>()), 200),
    ) {
        let all: Vec<_> = spec.iter().enumerate().map(|(i, &(w, av))| real(i as u32, w, av)).collect();
        let x = x.index(all.len());
        let xid = all[x].id;
        let without_x = || {
            let mut v = all.clone();
            v.remove(x);
            v
        };
        let (before, after) = match touch {
            Touch::Add => (without_x(), all.clone()),
            Touch::Remove => (all.clone(), without_x()),
            Touch::Reweight(w) => {
                let mut v = all.clone();
                v[x].weight = w;
                (all.clone(), v)
            }
            Touch::Toggle => {
                let mut v = all.clone();
                v[x].available = !v[x].available;
                (all.clone(), v)
            }
        };
        let gives_x = |from: &[RealServer], to: &[RealServer]| {
            let w = |rs: &[RealServer]| rs.iter().find(|r| r.id == xid).map_or(0, |r| r.weight);
            let up = |rs: &[RealServer]| rs.iter().any(|r| r.id == xid && r.available);
            w(to) >= w(from) && up(to) >= up(from)
        };
        // Both hold when nothing changes (re-weighting to the same weight).
        let takes_from_x = gives_x(&after, &before);
        let gives_to_x = gives_x(&before, &after);
        prop_assert!(takes_from_x || gives_to_x);
        let sh_params = SchedParams {
            flags: SchedFlags { sh_port, sh_fallback, ..SchedFlags::default() },
            ..SchedParams::default()
        };
        // Every key of `from` whose real is not X is on the same real in `to`.
        let kept = |from: Option<u32>, to: Option<u32>| from.map_or(true, |f| f == xid || to == Some(f));
        for (kind, params) in [(SchedKind::Sh, sh_params), (SchedKind::Dh, SchedParams::default())] {
            // Each side as configured, and with X available.
            let tables = |rs: &[RealServer]| {
                let t = build(kind, rs.to_vec(), &params).unwrap();
                let up = with_up(rs, xid);
                let t_up = if up == rs { t.clone() } else { build(kind, up, &params).unwrap() };
                (t, t_up)
            };
            let (a, a_up) = tables(&before);
            let (b, b_up) = tables(&after);
            for &(c, p) in &clients {
                let f = flow(c, p, 0);
                // dh keys on the destination: give each flow its own.
                let f = Flow { dest: f.client, ..f };
                let (ia, ia_up) = (pick_id(&a, &f), pick_id(&a_up, &f));
                let (ib, ib_up) = (pick_id(&b, &f), pick_id(&b_up, &f));
                let what = format!("{kind} {touch:?} of {xid}: {ia:?}/{ia_up:?} -> {ib:?}/{ib_up:?}");
                if takes_from_x {
                    prop_assert!(kept(ia_up, ib_up), "{}", what);
                }
                if gives_to_x {
                    prop_assert!(kept(ib_up, ia_up), "{}", what);
                }
                // X unavailable: keys whose real would not be X keep it.
                prop_assert!(kept(ia_up, ia) && kept(ib_up, ib), "{}", what);
            }
        }
    }
}
