//! `lblc`: locality-based least connection, for cache clusters. Each destination address
//! keeps the real it was last sent to; the cached real is used while it is available, has a
//! weight, is not overloaded, and does not break IPVS's locality overload rule (more active
//! connections than its weight while another real is under half its weight). Otherwise a
//! new real is chosen by weighted least connection and cached.
//!
//! Cache entries live in a per-worker [`LocalityMap`]: unused
//! for a day they expire; under pressure, entries idle for six minutes make room.

use crate::select::{conn_overhead, locality_overloaded, usable, weighted_least};
use crate::state::{next_table_id, Locality, LocalityMap, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Locality-based least connection.
#[derive(Debug)]
pub(crate) struct Lblc {
    id: u64,
    reals: Vec<RealServer>,
}

impl Lblc {
    /// A table over `reals`, in configuration order.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
        }
    }

    /// May the cached real `i` keep the destination?
    fn keeps(&self, i: usize, loads: &dyn LoadView) -> bool {
        self.reals.get(i).is_some_and(|r| {
            usable(r, &loads.load(r.id)) && !locality_overloaded(&self.reals, loads, i)
        })
    }
}

impl Scheduler for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::with_locality(self.id, Locality::Lblc(LocalityMap::new()))
    }

    fn pick(&self, state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let now = flow.now_ms;
        let mut map = state.lblc(self.id);
        if let Some(entry) = map.as_mut().and_then(|m| m.get(&flow.dest, now)) {
            entry.lastuse = now;
            let cached = entry.val as usize;
            if self.keeps(cached, loads) {
                return Some(cached);
            }
        }
        let chosen = weighted_least(&self.reals, loads, conn_overhead)?;
        if let (Some(m), Ok(val)) = (map, u32::try_from(chosen)) {
            m.insert(&flow.dest, now, val);
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use crate::state::EXPIRATION_MS;
    use crate::testutil::{flow, loads, reals};
    use crate::{build, SchedKind, SchedParams, SchedState};
    use std::net::{IpAddr, Ipv4Addr};

    fn to(dest: u8, now_ms: u64) -> crate::Flow {
        crate::Flow {
            dest: IpAddr::V4(Ipv4Addr::new(172, 16, 0, dest)),
            now_ms,
            ..flow(0)
        }
    }

    #[test]
    fn sticks_to_cached_real_until_a_rule_breaks() {
        let s = build(SchedKind::Lblc, reals(&[4, 4, 4]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(1, 0), (0, 0), (2, 0)]);
        // wlc picks 1 and caches it for 172.16.0.1.
        assert_eq!(s.pick(&mut st, &to(1, 0), &l), Some(1));
        // Now 1 is the busiest, but stays (4 active <= weight 4).
        l[1].active = 4;
        assert_eq!(s.pick(&mut st, &to(1, 10), &l), Some(1));
        // 5 active > weight 4 and real 0 is under half load (1*2 < 4): re-scheduled to 0.
        l[1].active = 5;
        assert_eq!(s.pick(&mut st, &to(1, 20), &l), Some(0));
        // ... and 0 is cached now, even once 1 is light again.
        l[1].active = 0;
        assert_eq!(s.pick(&mut st, &to(1, 30), &l), Some(0));
        // Another destination gets its own wlc pick.
        assert_eq!(s.pick(&mut st, &to(2, 40), &l), Some(1));
    }

    #[test]
    fn over_weight_but_nobody_under_half_load_stays() {
        let s = build(SchedKind::Lblc, reals(&[2, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(0, 0), (1, 0)]);
        assert_eq!(s.pick(&mut st, &to(1, 0), &l), Some(0));
        // 0 over its weight, but 1 is at half load (1*2 == 2, not < 2).
        l[0].active = 9;
        assert_eq!(s.pick(&mut st, &to(1, 1), &l), Some(0));
    }

    #[test]
    fn unusable_cached_real_is_replaced() {
        let s = build(SchedKind::Lblc, reals(&[1, 1]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(0, 0), (0, 0)]);
        assert_eq!(s.pick(&mut st, &to(1, 0), &l), Some(0));
        l[0].overloaded = true;
        assert_eq!(s.pick(&mut st, &to(1, 1), &l), Some(1));
        l[0].overloaded = false;
        assert_eq!(s.pick(&mut st, &to(1, 2), &l), Some(1));
        // Nobody usable: no real.
        l[1].overloaded = true;
        l[0].overloaded = true;
        assert_eq!(s.pick(&mut st, &to(1, 3), &l), None);
    }

    #[test]
    fn entries_expire_after_a_day_of_disuse() {
        let s = build(SchedKind::Lblc, reals(&[1, 1]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(0, 0), (0, 0)]);
        assert_eq!(s.pick(&mut st, &to(1, 0), &l), Some(0));
        l[0].inactive = 1; // wlc now prefers 1
                           // Used again just before expiry: the entry is refreshed.
        assert_eq!(s.pick(&mut st, &to(1, EXPIRATION_MS - 1), &l), Some(0));
        assert_eq!(s.pick(&mut st, &to(1, 2 * EXPIRATION_MS - 2), &l), Some(0));
        // A day without use: gone, wlc decides again.
        assert_eq!(s.pick(&mut st, &to(1, 3 * EXPIRATION_MS - 2), &l), Some(1));
    }

    #[test]
    fn state_without_map_still_schedules() {
        let s = build(SchedKind::Lblc, reals(&[1, 1]), &SchedParams::default()).unwrap();
        let mut st = SchedState::default();
        let mut l = loads(&[(0, 0), (0, 0)]);
        assert_eq!(s.pick(&mut st, &to(1, 0), &l), Some(0));
        l[0].inactive = 1;
        // Nothing was cached.
        assert_eq!(s.pick(&mut st, &to(1, 1), &l), Some(1));
    }
}
