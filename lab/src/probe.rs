//! A kernel path from the director's namespace to the reals, for what leaves through the
//! director's own kernel rather than its DPDK ports (health checks' probes): a veth from
//! the director into the client's bridge (the direct segment), and a host route to each
//! real's address through that real's address on the segment.

use crate::addr::{self, REALS};
use crate::cmd::must_line;
use crate::topology::Lab;

/// The director kernel's address on the direct segment.
pub const DIRECTOR_DIRECT: &str = "10.2.0.1";

impl Lab {
    /// Adds the probe path: afterwards the director namespace's kernel reaches every real
    /// at [`addr::real`] (IPv4), without rvsd.
    pub fn add_probe_path(&self) {
        let (c, d) = (self.ns("c"), self.ns("d"));
        let (dp, cp, bridge) = (self.iface("dp"), self.iface("cp"), self.iface("cb"));
        must_line(&format!(
            "ip link add {dp} netns {d} type veth peer name {cp} netns {c}"
        ));
        must_line(&format!("ip -n {c} link set {cp} master {bridge} up"));
        must_line(&format!("ip -n {d} addr add {DIRECTOR_DIRECT}/24 dev {dp}"));
        must_line(&format!("ip -n {d} link set {dp} up"));
        for i in 1..=REALS {
            let (real, via) = (addr::real(i), addr::real_direct(i));
            must_line(&format!("ip -n {d} route add {real} via {via} dev {dp}"));
        }
    }
}
