//! `lblcr`: locality-based least connection with replication. Each destination address
//! keeps a set of reals. A new connection goes to the set's weighted-least-connection member
//! (newest member first on ties); when there is none, or it breaks IPVS's locality overload
//! rule, a real chosen by weighted least connection over all reals is used and joins the
//! set. A set with more than one member that has not changed for a day drops its most
//! loaded member (IPVS's `lblcr_expiration`).
//!
//! Sets live in a per-worker [`LocalityMap`] with at most
//! [`SET_CAPACITY`](crate::state::SET_CAPACITY) members each.

use crate::select::{conn_overhead, heavier, locality_overloaded, usable, weighted_least};
use crate::state::{next_table_id, DestSet, Locality, LocalityMap, SchedState, EXPIRATION_MS};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Locality-based least connection with replication.
#[derive(Debug)]
pub(crate) struct Lblcr {
    id: u64,
    reals: Vec<RealServer>,
}

impl Lblcr {
    /// A table over `reals`, in configuration order.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
        }
    }

    /// The set's usable member with the least `overhead / weight`, newest first on ties.
    fn set_min(&self, set: &DestSet, loads: &dyn LoadView) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for i in set.newest_first() {
            let Some(r) = self.reals.get(i) else { continue };
            let load = loads.load(r.id);
            if !usable(r, &load) {
                continue;
            }
            let doh = conn_overhead(&load);
            match least {
                Some((l, loh)) if !heavier(loh, self.reals[l].weight, doh, r.weight) => {}
                _ => least = Some((i, doh)),
            }
        }
        least.map(|(i, _)| i)
    }

    /// The set's weighted member with the most `overhead / weight`, newest first on ties.
    fn set_max(&self, set: &DestSet, loads: &dyn LoadView) -> Option<usize> {
        let mut most: Option<(usize, u64)> = None;
        for i in set.newest_first() {
            let Some(r) = self.reals.get(i) else { continue };
            if r.weight == 0 {
                continue;
            }
            let doh = conn_overhead(&loads.load(r.id));
            match most {
                Some((m, moh)) if !heavier(doh, r.weight, moh, self.reals[m].weight) => {}
                _ => most = Some((i, doh)),
            }
        }
        most.map(|(i, _)| i)
    }
}

impl Scheduler for Lblcr {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::with_locality(self.id, Locality::Lblcr(LocalityMap::new()))
    }

    fn pick(&self, state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let now = flow.now_ms;
        let mut map = state.lblcr(self.id);
        if let Some(entry) = map.as_mut().and_then(|m| m.get(&flow.dest, now)) {
            entry.lastuse = now;
            let set = &mut entry.val;
            let member = self.set_min(set, loads);
            if set.len() > 1 && now > set.lastmod.saturating_add(EXPIRATION_MS) {
                if let Some(m) = self.set_max(set, loads) {
                    set.erase(m, now);
                }
            }
            if let Some(d) = member.filter(|&d| !locality_overloaded(&self.reals, loads, d)) {
                return Some(d);
            }
            let chosen = weighted_least(&self.reals, loads, conn_overhead)?;
            set.insert(chosen, now);
            return Some(chosen);
        }
        let chosen = weighted_least(&self.reals, loads, conn_overhead)?;
        if let Some(m) = map {
            m.insert(&flow.dest, now, DestSet::single(chosen, now));
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{EXPIRATION_MS, SET_CAPACITY};
    use crate::testutil::{flow, loads, reals};
    use crate::{build, Flow, SchedKind, SchedParams};
    use std::net::{IpAddr, Ipv4Addr};

    fn to(now_ms: u64) -> Flow {
        Flow {
            dest: IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1)),
            now_ms,
            ..flow(0)
        }
    }

    #[test]
    fn set_grows_on_overload_and_serves_its_least_loaded_member() {
        let s = build(SchedKind::Lblcr, reals(&[2, 2, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(0, 0), (1, 0), (1, 0)]);
        assert_eq!(s.pick(&mut st, &to(0), &l), Some(0)); // set {0}
                                                          // 0 over its weight while 1... is at half load (1*2 == 2): no one is under half, stay.
        l[0].active = 3;
        assert_eq!(s.pick(&mut st, &to(1), &l), Some(0));
        // 2 goes idle (0*2 < 2): 0 is overloaded by the locality rule; wlc over all picks 2.
        l[2].active = 0;
        assert_eq!(s.pick(&mut st, &to(2), &l), Some(2)); // set {0, 2}
                                                          // The set's least loaded member serves, not wlc over all (1 would tie with 2).
        l[2].active = 1;
        l[0].active = 2;
        assert_eq!(s.pick(&mut st, &to(3), &l), Some(2));
        // Member overloaded by threshold: skipped within the set.
        l[2].overloaded = true;
        assert_eq!(s.pick(&mut st, &to(4), &l), Some(0));
    }

    #[test]
    fn set_shrinks_after_expiration_by_dropping_the_most_loaded() {
        let s = build(SchedKind::Lblcr, reals(&[1, 1, 1]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(0, 0), (0, 0), (0, 0)]);
        assert_eq!(s.pick(&mut st, &to(0), &l), Some(0));
        // Force a second member: 0 has 2 active > weight 1, 1 and 2 are idle.
        l[0].active = 2;
        assert_eq!(s.pick(&mut st, &to(10), &l), Some(1)); // set {0, 1}, lastmod 10
        l[1].active = 1;
        // Not yet expired: set stays {0, 1}; min is 1 (1 < 2). Each pick refreshes the entry.
        assert_eq!(s.pick(&mut st, &to(10 + EXPIRATION_MS / 2), &l), Some(1));
        assert_eq!(s.pick(&mut st, &to(10 + EXPIRATION_MS), &l), Some(1));
        // Expired: the most loaded (0) leaves; this pick is still served from the old min.
        l[2].active = 5; // keep wlc over all away from 2
        assert_eq!(s.pick(&mut st, &to(11 + EXPIRATION_MS), &l), Some(1));
        // Now 0 would be the set's min if it were still a member; it is not.
        l[0].active = 0;
        l[1].active = 1;
        assert_eq!(s.pick(&mut st, &to(12 + EXPIRATION_MS), &l), Some(1));
    }

    #[test]
    fn set_holds_at_most_its_capacity() {
        let n = SET_CAPACITY + 2;
        let s = build(
            SchedKind::Lblcr,
            reals(&vec![1; n]),
            &SchedParams::default(),
        )
        .unwrap();
        let mut st = s.new_state();
        let mut l = loads(&vec![(0, 0); n]);
        // Each pick: make every current pick overloaded (2 > 1) while idle reals exist.
        let mut picked = Vec::new();
        for t in 0..n as u64 {
            let d = s.pick(&mut st, &to(t), &l).unwrap();
            picked.push(d);
            l[d].active = 2;
        }
        assert_eq!(picked, (0..n).collect::<Vec<_>>());
        // The set kept the first SET_CAPACITY reals; the last two were used, not cached.
        for x in l.iter_mut() {
            x.active = 0;
        }
        // The set's newest member wins the tie among idle members.
        assert_eq!(s.pick(&mut st, &to(100), &l), Some(SET_CAPACITY - 1));
    }
}
