//! `conhash`: consistent hashing on the client address, ketama-style.
//!
//! Each real with a weight above zero puts `ceil(160 * weight / max_weight)` points on a
//! 64-bit ring (the heaviest real gets 160, libketama's per-server average), point `j` of a
//! real at `h(addr, port, j)`. A client goes to the real of the first point at or after
//! `h(client address)`, wrapping around; when that real may not take the connection, the
//! walk goes on clockwise to the next point whose real may. Points depend only on a real's
//! address, port and weight relative to the heaviest, so adding, removing or re-weighting
//! one real (other than the heaviest) moves only clients to or from that real, whatever
//! the configuration order.

use std::fmt;

use crate::hash;
use crate::select::usable;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Ring points of the heaviest real.
pub(crate) const POINTS_PER_REAL: u64 = 160;

/// Consistent hashing ring.
pub(crate) struct Conhash {
    id: u64,
    reals: Vec<RealServer>,
    /// `(point hash, real index)`, sorted.
    ring: Vec<(u64, u32)>,
}

impl fmt::Debug for Conhash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conhash")
            .field("reals", &self.reals.len())
            .field("points", &self.ring.len())
            .finish()
    }
}

impl Conhash {
    /// Put the points of `reals` with a weight above zero on the ring.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        let max = u64::from(reals.iter().map(|r| r.weight).max().unwrap_or(0));
        let mut ring = Vec::new();
        for (i, r) in reals.iter().enumerate().filter(|(_, r)| r.weight > 0) {
            let points = (POINTS_PER_REAL * u64::from(r.weight)).div_ceil(max);
            for j in 0..points as u32 {
                ring.push((
                    hash::addr_port(hash::SEED_RING_POINT, &r.addr, r.port, j),
                    i as u32,
                ));
            }
        }
        // Ties (equal point hashes) are ordered by the real's address and port, not by
        // configuration order, so the ring does not depend on it.
        ring.sort_unstable_by_key(|&(h, i)| (h, reals[i as usize].addr, reals[i as usize].port));
        Self {
            id: next_table_id(),
            reals,
            ring,
        }
    }
}

impl Scheduler for Conhash {
    fn name(&self) -> &'static str {
        "conhash"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let key = hash::addr_port(hash::SEED_RING_KEY, &flow.client, 0, 0);
        let start = self.ring.partition_point(|&(h, _)| h < key);
        let (wrapped, ahead) = self.ring.split_at(start);
        ahead
            .iter()
            .chain(wrapped)
            .map(|&(_, i)| i as usize)
            .find(|&i| usable(&self.reals[i], &loads.load(self.reals[i].id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_overloaded, flow, reals};
    use crate::{build, RealLoad, SchedKind, SchedParams};

    #[test]
    fn points_follow_weights() {
        let c = Conhash::new(reals(&[10, 5, 0, 1]));
        let mut n = [0; 4];
        for &(_, i) in &c.ring {
            n[i as usize] += 1;
        }
        assert_eq!(n, [160, 80, 0, 16]);
        assert!(c.ring.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn configuration_order_does_not_matter() {
        let rs = reals(&[3, 1, 2, 5, 1]);
        let mut rev = rs.clone();
        rev.reverse();
        let a = build(SchedKind::Conhash, rs.clone(), &SchedParams::default()).unwrap();
        let b = build(SchedKind::Conhash, rev, &SchedParams::default()).unwrap();
        let loads = vec![RealLoad::default(); 5];
        let (mut sa, mut sb) = (a.new_state(), b.new_state());
        for c in 0..500 {
            let ia = a.pick(&mut sa, &flow(c), &loads).unwrap();
            let ib = b.pick(&mut sb, &flow(c), &loads).unwrap();
            assert_eq!(a.reals()[ia].id, b.reals()[ib].id);
        }
    }

    #[test]
    fn walks_past_unusable_reals() {
        let s = build(
            SchedKind::Conhash,
            reals(&[1, 1, 1]),
            &SchedParams::default(),
        )
        .unwrap();
        let mut st = s.new_state();
        let mut loads = vec![RealLoad::default(); 3];
        let home = s.pick(&mut st, &flow(1), &loads).unwrap();
        loads[home].overloaded = true;
        let next = s.pick(&mut st, &flow(1), &loads).unwrap();
        assert_ne!(next, home);
        assert_eq!(s.pick(&mut st, &flow(1), &all_overloaded(3)), None);
    }
}
