//! The network-namespace lab: rvsd forwarding real connections on DPDK ports between a
//! client and three reals, for the whole-system tests and for the demo (`rvs-lab demo`).
//!
//! ```text
//!                        director ns (rvsd; its kernel has no address on these veths)
//!  client ns             wan  10.0.0.1/24 fd00::1/64   VIPs 10.0.0.x, fd00::x
//!  cw 10.0.0.2/24 --veth-- dw
//!     fd00::2/64                        lanN 10.1.N.1/24 fd01:N::1/64
//!                                          dN --veth-- rN 10.1.N.11/24 fd01:N::11/64   real ns N
//!  cb (bridge)                                            default via 10.1.N.1, fd01:N::1
//!     10.2.0.2/24 --veth cxN .. xN-- 10.2.0.1N/24 (direct segment)      (N = 1, 2, 3)
//! ```
//!
//! - **NAT** and **FULLNAT** (IPv4 and IPv6): the reals' default routes point at the
//!   director, so NAT answers go back through it; FULLNAT answers go to its local
//!   addresses the same way.
//! - **DR**: every real holds [`addr::DR_VIP`] on `lo` with `arp_ignore=1` and
//!   `arp_announce=2`; the director sends it the client's frame unchanged but for the
//!   MACs. The real answers from the VIP, and a policy rule (`from VIP` -> table 100,
//!   default via the client's bridge) sends that answer over the direct segment, straight
//!   to the client: the director never sees DR answers.
//! - **TUN**: the director encapsulates in IPIP toward the real. The kernel here has no
//!   `ipip` module, so each real runs a decapsulator ([`scripts::TUN_DECAP`]: a raw socket
//!   for IP protocol 4, the inner packet written into the TUN device `tN`); the VIP
//!   ([`addr::TUN_VIP`]) is on `lo`, and answers take the direct segment as DR's do. A
//!   test may run the decapsulator in its GUE or GRE mode instead, for `tun_type` reals.
//! - Reverse-path filtering is off in the client and the reals (answers and TUN packets
//!   arrive on other interfaces than the routes back); the director's kernel has IPv6
//!   disabled, its ports are DPDK's. TSO, GSO and GRO are off on every veth: the director
//!   sees wire-sized frames, as from a NIC.
//!
//! Each real runs an HTTP server on [`HTTP_PORT`] (IPv4 and IPv6; it answers `NAME CLIENT`,
//! the client address it saw) and a UDP server on [`UDP_PORT`] (`NAME CLIENT PAYLOAD`).
//! Servers can be stopped and started again ([`Lab::stop_server`], [`Lab::start_http`]):
//! what a health check would notice. Probes that leave through the director's kernel (not
//! its DPDK ports) need [`Lab::add_probe_path`]: a kernel veth from the director onto the
//! direct segment ([`DIRECTOR_DIRECT`]) with a route to each real; without it the reals are
//! reachable only through the dataplane.
//!
//! [`geo::GeoLab`] is a second topology: a BGP router with ECMP in front of two
//! directors (rvsd and BIRD each) and shared DR reals, for scaled-out and geo tests.
//! [`ha::HaLab`] is a third: two directors of one VRRP virtual router (and a keepalived
//! host) on a shared client segment and a shared real segment, for failover tests.
//!
//! Everything is named with the process id (and a per-lab tag) and removed when the
//! [`Lab`] is dropped, on failure too. One lab runs at a time on the machine (a lock on a
//! file in the temporary directory, whichever process holds it): busy-polling workers of
//! two labs would starve each other on a small machine. Needs root and the tools
//! `scripts/setup` installs.

pub mod addr;
mod bird;
mod client;
mod cmd;
pub mod compare;
mod config;
pub mod geo;
pub mod ha;
mod lock;
mod mgmt;
mod netns;
mod probe;
mod rvsd;
pub mod scripts;
pub mod soak;
mod topology;

pub use bird::Bird;
pub use client::spread;
pub use cmd::{must, preflight, run};
pub use config::{Pmd, Service};
pub use lock::LabLock;
pub use mgmt::{Mgmt, MGMT_DIRECTOR, MGMT_HOST};
pub use probe::DIRECTOR_DIRECT;
pub use rvsd::{log_message, log_parts, Rvsd};
pub use topology::{Lab, HTTP_PORT, UDP_PORT};
