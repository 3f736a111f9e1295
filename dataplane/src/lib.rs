//! The rvs forwarding core.
//!
//! - [`wire`]: zero-copy, checked packet views (Ethernet, ARP, IPv4, IPv6, TCP, UDP, ICMP).
//! - [`packet`]: the packet buffer abstraction shared by the DPDK and in-memory ports.
//! - [`drop`]: the hot-path drop reason, also a metric label.

pub mod drop;
pub mod packet;
