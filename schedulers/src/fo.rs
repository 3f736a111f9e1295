//! `fo`: weighted failover, the usable real with the highest weight (the first of equals).

use crate::select::usable;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Weighted failover.
#[derive(Debug)]
pub(crate) struct Fo {
    id: u64,
    reals: Vec<RealServer>,
}

impl Fo {
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
        }
    }
}

impl Scheduler for Fo {
    fn name(&self) -> &'static str {
        "fo"
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
            if usable(r, &loads.load(r.id))
                && best.map_or(true, |b| r.weight > self.reals[b].weight)
            {
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
    fn highest_weight_then_failover() {
        let s = build(
            SchedKind::Fo,
            reals(&[5, 10, 10, 7]),
            &SchedParams::default(),
        )
        .unwrap();
        let mut st = s.new_state();
        let mut l = loads(&[(0, 0), (100, 0), (0, 0), (0, 0)]);
        // Load does not matter; the first of the two weight-10 reals wins.
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
        l[1].overloaded = true;
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(2));
        l[2].overloaded = true;
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(3));
    }
}
