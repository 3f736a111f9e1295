//! `wlc`: weighted least connection (IPVS's default): the smallest
//! `(active * 256 + inactive) / weight`, compared by cross-multiplication.

use crate::load_table::LoadRule;
use crate::select::{conn_overhead, weighted_least};
use crate::{LoadView, RealServer};

/// Weighted least connection.
#[derive(Debug)]
pub(crate) struct Wlc;

impl LoadRule for Wlc {
    const NAME: &'static str = "wlc";

    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize> {
        weighted_least(reals, loads, conn_overhead)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{flow, loads, reals};
    use crate::{build, SchedKind, SchedParams};

    #[test]
    fn hand_computed() {
        let s = build(SchedKind::Wlc, reals(&[1, 3, 2]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        // 256/1 = 256, (512+100)/3 = 204, (256+150)/2 = 203 -> real 2.
        let l = loads(&[(1, 0), (2, 100), (1, 150)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(2));
        // 256/1, 612/3 = 204, 408/2 = 204: tie between 1 and 2 -> the earlier, 1.
        let l = loads(&[(1, 0), (2, 100), (1, 152)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
        // lc would pick real 0 here (256 < 612); wlc weighs.
        let l = loads(&[(1, 0), (2, 100), (5, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(1));
    }
}
