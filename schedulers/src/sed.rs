//! `sed`: shortest expected delay, the smallest `(active + 1) / weight` (inactive
//! connections do not count), compared by cross-multiplication.

use crate::load_table::LoadRule;
use crate::select::{expected_delay, weighted_least};
use crate::{LoadView, RealServer};

/// Shortest expected delay.
#[derive(Debug)]
pub(crate) struct Sed;

impl LoadRule for Sed {
    const NAME: &'static str = "sed";

    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize> {
        weighted_least(reals, loads, expected_delay)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, loads, reals};
    use crate::{build, SchedKind, SchedParams};

    #[test]
    fn hand_computed() {
        let s = build(SchedKind::Sed, reals(&[1, 4, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        // (0+1)/1 = 1, (3+1)/4 = 1, (1+1)/2 = 1: all tie -> first.
        let l = loads(&[(0, 0), (3, 0), (1, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(0));
        // 2/1, 4/4 = 1, 3/2 = 1.5 -> real 1; inactive connections are ignored.
        let l = loads(&[(1, 0), (3, 900), (2, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
        // An idle weight-1 server loses to a busier weight-4 one: 1/1 > 3/4.
        let l = loads(&[(0, 0), (2, 0), (5, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
    }
}
