//! `ovf`: weighted overflow. The highest-weight usable real whose active connections do not
//! exceed its weight (the first of equals); inactive connections do not count.

use crate::load_table::LoadRule;
use crate::select::heaviest;
use crate::{LoadView, RealServer};

/// Weighted overflow.
#[derive(Debug)]
pub(crate) struct Ovf;

impl LoadRule for Ovf {
    const NAME: &'static str = "ovf";

    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize> {
        heaviest(reals, loads, |r, load| load.active <= r.weight)
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
