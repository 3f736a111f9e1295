//! `nq`: never queue. The first usable real with no active connection; when every one is
//! busy, the shortest expected delay `(active + 1) / weight`.

use crate::load_table::LoadRule;
use crate::select::{expected_delay, usable, weighted_least};
use crate::{LoadView, RealServer};

/// Never queue.
#[derive(Debug)]
pub(crate) struct Nq;

impl LoadRule for Nq {
    const NAME: &'static str = "nq";

    /// The first usable idle real, else sed's choice (a second pass only when nobody is idle).
    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize> {
        reals
            .iter()
            .position(|r| {
                let load = loads.load(r.id);
                usable(r, &load) && load.active == 0
            })
            .or_else(|| weighted_least(reals, loads, expected_delay))
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
