//! `sh`: source hashing. The client address (and with `sh-port` the client port) picks a
//! bucket of a [`BucketTable`]; with `sh-fallback` an unusable real's clients move on to
//! another real, without it they get none (as IPVS).
//!
//! Unlike IPVS, the buckets are filled by weighted rendezvous hashing (see the `bucket`
//! module), so a client stays on its real across every rebuild that does not touch that
//! real: adding, removing or re-weighting another real moves only clients to or from it.

use crate::bucket::BucketTable;
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, SchedFlags, Scheduler};

/// Source hashing.
#[derive(Debug)]
pub(crate) struct Sh {
    /// Table id (see `SchedState`).
    id: u64,
    /// The configured reals.
    reals: Vec<RealServer>,
    /// Bucket -> real.
    table: BucketTable,
    /// `sh-port`: hash the client port too.
    port: bool,
    /// `sh-fallback`: walk on from an unusable real.
    fallback: bool,
}

impl Sh {
    /// Lay the buckets out over `reals`; `flags` gives `sh-port` and `sh-fallback`.
    pub(crate) fn new(reals: Vec<RealServer>, flags: SchedFlags) -> Self {
        Self {
            id: next_table_id(),
            table: BucketTable::new(&reals),
            reals,
            port: flags.sh_port,
            fallback: flags.sh_fallback,
        }
    }
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let port = if self.port { flow.client_port } else { 0 };
        self.table
            .get(&self.reals, loads, &flow.client, port, self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{all_overloaded, flow, reals};
    use crate::{build, Flow, RealLoad, SchedFlags, SchedKind, SchedParams};
    use std::net::{IpAddr, Ipv4Addr};

    fn params(flags: &str) -> SchedParams {
        SchedParams {
            flags: SchedFlags::parse(flags).unwrap(),
            ..SchedParams::default()
        }
    }

    #[test]
    fn port_flag_and_fallback() {
        let rs = reals(&[1; 8]);
        let loads = vec![RealLoad::default(); 8];
        let plain = build(SchedKind::Sh, rs.clone(), &params("")).unwrap();
        let port = build(SchedKind::Sh, rs.clone(), &params("sh-port")).unwrap();
        let mut st = plain.new_state();
        let f = flow(7);
        let by_addr = plain.pick(&mut st, &f, &loads).unwrap();
        // Without sh-port the client port does not matter.
        let mut ports_plain = std::collections::HashSet::new();
        let mut ports_hashed = std::collections::HashSet::new();
        for p in 0..64 {
            let g = Flow {
                client_port: 1000 + p,
                ..f
            };
            ports_plain.insert(plain.pick(&mut st, &g, &loads).unwrap());
            ports_hashed.insert(port.pick(&mut st, &g, &loads).unwrap());
        }
        assert_eq!(ports_plain.into_iter().collect::<Vec<_>>(), vec![by_addr]);
        assert!(ports_hashed.len() > 4);
        // The client's real goes down: no real without sh-fallback, another with it.
        let mut down = loads.clone();
        down[by_addr].overloaded = true;
        assert_eq!(plain.pick(&mut st, &f, &down), None);
        let fb = build(SchedKind::Sh, rs, &params("sh-fallback")).unwrap();
        let other = fb.pick(&mut st, &f, &down).unwrap();
        assert_ne!(other, by_addr);
        // Deterministic.
        assert_eq!(fb.pick(&mut st, &f, &down), Some(other));
        // Everyone down: none, even with the fallback.
        assert_eq!(fb.pick(&mut st, &f, &all_overloaded(8)), None);
    }

    /// Weights 3:1 give 75% and 25% of many clients, within a percent.
    #[test]
    fn client_shares_follow_weights() {
        let rs = reals(&[3, 1]);
        let loads = vec![RealLoad::default(); 2];
        for flags in ["", "sh-port"] {
            let s = build(SchedKind::Sh, rs.clone(), &params(flags)).unwrap();
            let mut st = s.new_state();
            let n = 100_000u32;
            let first = (0..n)
                .filter(|&c| {
                    let f = Flow {
                        client: IpAddr::V4(Ipv4Addr::from(c.wrapping_mul(2_654_435_761))),
                        client_port: c as u16,
                        ..flow(0)
                    };
                    s.pick(&mut st, &f, &loads) == Some(0)
                })
                .count();
            let share = first as f64 / f64::from(n);
            assert!((share - 0.75).abs() < 0.01, "{flags:?}: {share}");
        }
    }
}
