//! `wrr`: weighted round robin, IPVS's pass algorithm.
//!
//! Passes run with a current weight `cw` from `mw` down to 1 in steps of `di` (the GCD of
//! the weights); a pass hands a connection to each usable real whose weight is at least
//! `cw`. Over one cycle every real gets exactly `weight / di` connections. As in IPVS,
//! `mw` is the largest weight minus `di - 1`, so the last pass is at `cw = 1`.

use crate::select::weight_gcd;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Weighted round robin.
#[derive(Debug)]
pub(crate) struct Wrr {
    id: u64,
    reals: Vec<RealServer>,
    /// Weight step (GCD of the available reals' non-zero weights, 1 when none).
    di: i64,
    /// First pass weight (0: nothing can be picked).
    mw: i64,
}

impl Wrr {
    /// A table over `reals`, with the pass step and first pass weight of its available reals.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        let weights = || reals.iter().filter(|r| r.available).map(|r| r.weight);
        let di = i64::from(weight_gcd(weights()).max(1));
        let max = i64::from(weights().max().unwrap_or(0));
        Self {
            id: next_table_id(),
            di,
            mw: max - (di - 1),
            reals,
        }
    }

    /// May real `i` take a connection in the pass at weight `cw`?
    fn eligible(&self, i: usize, cw: i64, loads: &dyn LoadView) -> bool {
        let r = &self.reals[i];
        r.available && !loads.load(r.id).overloaded && i64::from(r.weight) >= cw
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::with_cw(self.id, self.mw)
    }

    fn pick(&self, state: &mut SchedState, _flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        if self.mw <= 0 {
            return None;
        }
        let (cursor, cw) = state.wrr(self.id, self.mw);
        let last = *cursor;
        // `stop` ends the search once every real was checked for weight >= 1.
        let mut stop = None;
        let (mut last_pass, mut restarted) = (false, false);
        let mut from = last.map_or(0, |c| c + 1);
        loop {
            for i in from..self.reals.len() {
                if self.eligible(i, *cw, loads) {
                    *cursor = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    *cursor = Some(i);
                    return None;
                }
            }
            from = 0;
            *cw -= self.di;
            if *cw <= 0 {
                *cw = self.mw;
                if last_pass || last.is_none() {
                    *cursor = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = *cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, reals};
    use crate::{build, RealLoad, SchedKind, SchedParams};

    #[test]
    fn ipvs_sequence() {
        // Weights 4, 3, 2: passes at cw 4, 3, 2, 1.
        let s = build(SchedKind::Wrr, reals(&[4, 3, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let loads = vec![RealLoad::default(); 3];
        let got: Vec<_> = (0..9)
            .map(|_| s.pick(&mut st, &flow(0), &loads).unwrap())
            .collect();
        assert_eq!(got, vec![0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn gcd_steps_and_overload() {
        // Weights 4 and 2: di 2, mw 3, passes at cw 3 and 1.
        let s = build(SchedKind::Wrr, reals(&[4, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let mut loads = vec![RealLoad::default(); 2];
        let got: Vec<_> = (0..6)
            .map(|_| s.pick(&mut st, &flow(0), &loads).unwrap())
            .collect();
        assert_eq!(got, vec![0, 0, 1, 0, 0, 1]);
        loads[0].overloaded = true;
        assert_eq!(s.pick(&mut st, &flow(0), &loads), Some(1));
        assert_eq!(s.pick(&mut st, &flow(0), &loads), Some(1));
        loads[1].overloaded = true;
        assert_eq!(s.pick(&mut st, &flow(0), &loads), None);
    }

    #[test]
    fn nothing_weighted_picks_nothing() {
        let s = build(SchedKind::Wrr, reals(&[0, 0]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        let loads = vec![RealLoad::default(); 2];
        assert_eq!(s.pick(&mut st, &flow(0), &loads), None);
    }
}
