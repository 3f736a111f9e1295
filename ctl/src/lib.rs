//! The rvs control plane as clients see it: the versioned wire protocol ([`proto`]),
//! its framing over a Unix stream socket ([`frame`]), the client side ([`client`]), the
//! logic of the two clients, `rvsadm` ([`adm`]) and `rvsctl` ([`rvsctl`]), and the
//! Prometheus exposition the daemon serves ([`metrics`]).
//!
//! Nothing here links DPDK: `rvsadm` and `rvsctl` build and run on any machine.

pub mod adm;
pub mod client;
mod counters;
pub mod frame;
pub mod metrics;
pub mod proto;
pub mod rvsctl;
