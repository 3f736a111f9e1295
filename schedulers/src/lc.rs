//! `lc`: least connection, by IPVS's overhead `active * 256 + inactive` (weights only
//! decide who may take connections, not how many).

use crate::load_table::LoadRule;
use crate::select::{conn_overhead, usable};
use crate::{LoadView, RealServer};

/// Least connection.
#[derive(Debug)]
pub(crate) struct Lc;

impl LoadRule for Lc {
    const NAME: &'static str = "lc";

    /// The usable real with the smallest overhead; ties go to the earlier real.
    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, r) in reals.iter().enumerate() {
            let load = loads.load(r.id);
            if !usable(r, &load) {
                continue;
            }
            let doh = conn_overhead(&load);
            if least.map_or(true, |(_, loh)| doh < loh) {
                least = Some((i, doh));
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
        let s = build(SchedKind::Lc, reals(&[1, 5, 1, 0]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        // Overheads: 2*256+0 = 512, 1*256+300 = 556, 1*256+255 = 511, quiesced 0.
        let l = loads(&[(2, 0), (1, 300), (1, 255), (0, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(2));
        // Tie (511 vs 511): the first one stays.
        let l = loads(&[(1, 255), (1, 300), (1, 255), (0, 0)]);
        assert_eq!(s.pick(&mut st, &flow(0), &l), Some(0));
    }
}
