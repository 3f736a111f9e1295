//! Opt-in addition to the HA lab for VIP announcement: a BGP router namespace with a
//! kernel link to each director ([`HaLab::add_router`]).
//!
//! ```text
//!  router ns g  gN 10.70.N.1/24 --veth-- uN 10.70.N.2/24 in director ns dN (N = 1, 2)
//! ```
//!
//! The directors' rvsd ports have no kernel addresses, so each director's routing daemon
//! peers with the router over a kernel veth of its own ([`uplink_addr`] and
//! [`router_addr`]).

use super::{HaLab, HA_DIRECTORS};
use crate::cmd::must;
use crate::netns;

/// Director `i`'s kernel address on its link to the router ([`HaLab::add_router`]).
pub fn uplink_addr(i: usize) -> String {
    format!("10.70.{i}.2")
}

/// The router's address on its link to director `i`.
pub fn router_addr(i: usize) -> String {
    format!("10.70.{i}.1")
}

impl HaLab {
    /// Adds the router namespace `g` with a kernel veth to each director (`gN` in the
    /// router, [`router_addr`]; `uN` in director N, [`uplink_addr`]), for BGP sessions
    /// between their routing daemons. The directors' rvsd ports are left as they were.
    pub fn add_router(&mut self) {
        let g = self.ns("g");
        self.namespaces.push(g.clone());
        netns::add(
            &g,
            &[
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                "net.ipv6.conf.all.disable_ipv6=1",
            ],
        );
        for i in 1..=HA_DIRECTORS {
            let d = self.ns(&format!("d{i}"));
            let (up, down) = (self.iface(&format!("u{i}")), self.iface(&format!("g{i}")));
            netns::veth(&d, &up, &g, &down);
            for (ns, dev, addr) in [(&d, &up, uplink_addr(i)), (&g, &down, router_addr(i))] {
                must(&[
                    "ip",
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    dev,
                ]);
                must(&["ip", "-n", ns, "link", "set", dev, "up"]);
            }
        }
    }
}
