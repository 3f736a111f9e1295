//! `dh`: destination hashing. The destination address picks a bucket of a
//! [`BucketTable`]; an unusable real's destinations get no real (IPVS has no dh fallback).
//!
//! Unlike IPVS, the buckets are filled by weighted rendezvous hashing (see the `bucket`
//! module), so a destination stays on its real across every rebuild that does not touch
//! that real: adding, removing or re-weighting another real moves only destinations to or
//! from it.

use crate::bucket::BucketTable;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Destination hashing.
#[derive(Debug)]
pub(crate) struct Dh {
    id: u64,
    reals: Vec<RealServer>,
    table: BucketTable,
}

impl Dh {
    /// Lay the buckets out over `reals`.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            table: BucketTable::new(&reals),
            reals,
        }
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        self.table.get(&self.reals, loads, &flow.dest, 0, false)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, reals};
    use crate::{build, Flow, RealLoad, SchedKind, SchedParams};
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn hashes_the_destination_only() {
        let s = build(SchedKind::Dh, reals(&[1; 8]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let loads = vec![RealLoad::default(); 8];
        let d = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
        let picks: std::collections::HashSet<_> = (0..100)
            .map(|c| {
                s.pick(&mut st, &Flow { dest: d, ..flow(c) }, &loads)
                    .unwrap()
            })
            .collect();
        assert_eq!(picks.len(), 1);
        let spread: std::collections::HashSet<_> = (0..100u32)
            .map(|c| {
                let dest = IpAddr::V4(Ipv4Addr::from(0xc633_6400 + c));
                s.pick(&mut st, &Flow { dest, ..flow(0) }, &loads).unwrap()
            })
            .collect();
        assert_eq!(spread.len(), 8);
        let chosen = *picks.iter().next().unwrap();
        let mut down = loads.clone();
        down[chosen].overloaded = true;
        assert_eq!(s.pick(&mut st, &Flow { dest: d, ..flow(0) }, &down), None);
    }

    /// Weights 3:1 give 75% and 25% of many destinations, within a percent.
    #[test]
    fn destination_shares_follow_weights() {
        let s = build(SchedKind::Dh, reals(&[3, 1]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let loads = vec![RealLoad::default(); 2];
        let n = 100_000u32;
        let first = (0..n)
            .filter(|&k| {
                let dest = IpAddr::V4(Ipv4Addr::from(k.wrapping_mul(2_654_435_761)));
                s.pick(&mut st, &Flow { dest, ..flow(0) }, &loads) == Some(0)
            })
            .count();
        let share = first as f64 / f64::from(n);
        assert!((share - 0.75).abs() < 0.01, "{share}");
    }
}
