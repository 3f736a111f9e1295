//! `rr`: round robin over the reals that may take a connection.

use crate::select::usable;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Round robin: the next usable real after the last one picked, in configuration order.
#[derive(Debug)]
pub(crate) struct Rr {
    id: u64,
    reals: Vec<RealServer>,
}

impl Rr {
    /// A table over `reals`, in configuration order.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
        }
    }
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, state: &mut SchedState, _flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let n = self.reals.len();
        let cursor = state.rr(self.id);
        let start = cursor.map_or(0, |c| c + 1);
        let found = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| usable(&self.reals[i], &loads.load(self.reals[i].id)))?;
        *cursor = Some(found);
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, real, reals};
    use crate::{build, RealLoad, SchedKind, SchedParams};

    #[test]
    fn cycles_and_skips_unusable() {
        let mut rs = reals(&[1, 1, 0, 1]);
        rs[3].available = false;
        rs.push(real(4, 1));
        let s = build(SchedKind::Rr, rs, &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut loads = vec![RealLoad::default(); 5];
        loads[1].overloaded = true;
        let got: Vec<_> = (0..5)
            .map(|_| s.pick(&mut st, &flow(1), &loads).unwrap())
            .collect();
        assert_eq!(got, vec![0, 4, 0, 4, 0]);
        loads[1].overloaded = false;
        // Resumes after the last pick (0), so 1 comes next.
        assert_eq!(s.pick(&mut st, &flow(1), &loads), Some(1));
        assert_eq!(s.pick(&mut st, &flow(1), &loads), Some(4));
    }
}
