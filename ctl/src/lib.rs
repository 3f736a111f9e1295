//! The rvs control plane as clients see it: the versioned wire protocol ([`proto`]),
//! its framing over a Unix stream socket ([`frame`]), the client side ([`client`]), the
//! logic of the two clients, `rvsadm` ([`adm`]) and `rvsctl` ([`rvsctl`]). The daemon's
//! side (the server, the Prometheus exposition) is `rvs-control`'s.
//!
//! Nothing here links DPDK: `rvsadm` and `rvsctl` build and run on any machine.

pub mod adm;
pub mod client;
mod counters;
pub mod frame;
mod labelled;
pub mod proto;
pub mod rvsctl;
