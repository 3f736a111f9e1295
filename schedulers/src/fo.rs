//! `fo`: weighted failover, the usable real with the highest weight (the first of equals).

use crate::load_table::LoadRule;
use crate::select::heaviest;
use crate::{LoadView, RealServer};

/// Weighted failover.
#[derive(Debug)]
pub(crate) struct Fo;

impl LoadRule for Fo {
    const NAME: &'static str = "fo";

    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize> {
        heaviest(reals, loads, |_, _| true)
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
