//! `nq`: never queue. The first usable real with no active connection; when every one is
//! busy, the shortest expected delay `(active + 1) / weight`.

use crate::select::{expected_delay, heavier, usable};
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Never queue.
#[derive(Debug)]
pub(crate) struct Nq {
    id: u64,
    reals: Vec<RealServer>,
}

impl Nq {
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
        }
    }
}

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, _flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, r) in self.reals.iter().enumerate() {
            let load = loads.load(r.id);
            if !usable(r, &load) {
                continue;
            }
            if load.active == 0 {
                return Some(i);
            }
            let doh = expected_delay(&load);
            match least {
                Some((l, loh)) if !heavier(loh, self.reals[l].weight, doh, r.weight) => {}
                _ => least = Some((i, doh)),
            }
        }
        least.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, loads, reals};
    use crate::{build, SchedKind, SchedParams};

    #[test]
    fn hand_computed() {
        let s = build(SchedKind::Nq, reals(&[1, 4, 2, 1]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        // sed would pick real 1 (3/4 < 1/1 ...); nq takes the idle real 3.
        let l = loads(&[(1, 0), (2, 0), (5, 0), (0, 50)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(3));
        // Nobody idle: sed's rule, 2/1, 3/4, 6/2, 2/1 -> real 1.
        let l = loads(&[(1, 0), (2, 0), (5, 0), (1, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
        // Two idle reals: the first one.
        let l = loads(&[(1, 0), (0, 0), (5, 0), (0, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
    }
}
