//! `ovf`: weighted overflow. The highest-weight usable real whose active connections do not
//! exceed its weight (the first of equals); inactive connections do not count.

use crate::select::usable;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Weighted overflow.
#[derive(Debug)]
pub(crate) struct Ovf {
    id: u64,
    reals: Vec<RealServer>,
}

impl Ovf {
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
        }
    }
}

impl Scheduler for Ovf {
    fn name(&self) -> &'static str {
        "ovf"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, _flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, r) in self.reals.iter().enumerate() {
            let load = loads.load(r.id);
            if !usable(r, &load) || load.active > r.weight {
                continue;
            }
            if best.map_or(true, |b| r.weight > self.reals[b].weight) {
                best = Some(i);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, loads, reals};
    use crate::{build, SchedKind, SchedParams};

    #[test]
    fn overflows_past_weight() {
        let s = build(SchedKind::Ovf, reals(&[3, 5, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        // active == weight is still accepted.
        let l = loads(&[(0, 0), (5, 1000), (0, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
        let l = loads(&[(0, 0), (6, 0), (0, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(0));
        let l = loads(&[(4, 0), (6, 0), (2, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(2));
        let l = loads(&[(4, 0), (6, 0), (3, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), None);
    }
}
