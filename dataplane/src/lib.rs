//! The rvs forwarding core and the `rvsd` daemon.
//!
//! Packets: [`wire`] (checked zero-copy views and the one-pass [`wire::parse_frame`]),
//! [`checksum`] (full and RFC 1624 incremental), [`rewrite`] (NAT, FULLNAT, DR, TUN, ICMP
//! error translation), [`duties`] (ARP, echo, neighbour discovery), [`packet`] (buffers).
//!
//! The worker: [`worker`] (the pipeline), [`connect`] (lookup or schedule and insert),
//! [`steer`] (which worker owns a packet), [`laddr`] (FULLNAT local ports), [`neigh`],
//! [`route`], [`counters`], and [`drop::DropReason`], the hot-path drop reason that is also
//! a metric label.
//!
//! High availability: [`ha`] (VRRPv3 and the link between workers and control core).
//!
//! Configuration: [`config`] (the validated TOML file), [`service`] and [`snapshot`] (what
//! workers forward with). Running: [`replay`] with [`replay_io`] (captures in and out, no
//! DPDK), [`live`] (DPDK ports and worker lcores), [`rvsd`] (the command line).

pub mod checksum;
pub mod config;
pub mod connect;
pub mod control;
pub mod counters;
pub mod draining;
pub mod drop;
pub mod duties;
pub mod ha;
pub mod health;
pub mod laddr;
pub mod live;
pub mod neigh;
pub mod owner_class;
pub mod packet;
pub mod replay;
pub mod replay_io;
pub mod rewrite;
pub mod route;
pub mod rss;
pub mod rvsd;
pub mod service;
pub mod snapshot;
pub mod steer;
pub mod synproxy;
pub mod traffic;
pub mod update;
pub mod wire;
pub mod worker;
