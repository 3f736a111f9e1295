//! The rvs control plane as clients see it: the versioned wire protocol ([`proto`]),
//! its framing over a Unix stream socket ([`frame`]), and the client side ([`client`]).
//!
//! Nothing here links DPDK: `rvsadm` and `rvsctl` build and run on any machine.

pub mod client;
pub mod frame;
pub mod proto;
