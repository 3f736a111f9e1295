//! The rvs forwarding core.
//!
//! - [`wire`]: zero-copy, checked packet views (Ethernet, ARP, IPv4, IPv6, TCP, UDP, ICMP).
//! - [`packet`]: the packet buffer abstraction shared by the DPDK and in-memory ports.
//! - [`drop`]: the hot-path drop reason, also a metric label.

pub mod checksum;
pub mod config;
pub mod connect;
pub mod counters;
pub mod drop;
pub mod duties;
pub mod laddr;
pub mod live;
pub mod neigh;
pub mod packet;
pub mod replay;
pub mod replay_io;
pub mod rewrite;
pub mod route;
pub mod rvsd;
pub mod service;
pub mod snapshot;
pub mod steer;
pub mod wire;
pub mod worker;
