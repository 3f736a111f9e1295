//! rvs-packet: the packet layer of rvs.
//!
//! It owns everything that reads or writes one frame without knowing the running
//! configuration or any table: checked zero-copy views of every header rvs parses
//! ([`wire`], with the one-pass [`wire::parse_frame`]), full and RFC 1624 incremental
//! checksums ([`checksum`]), the hot-path drop reason that is also a metric label
//! ([`drop::DropReason`]), the buffer abstraction the pipeline runs on ([`packet`]), the
//! director's own answers (ARP, ICMP echo, neighbour discovery, packet too big:
//! [`duties`]) and the stateless rewrites of NAT, FULLNAT, DR and TUN with ICMP error
//! translation ([`rewrite`]).
//!
//! It may import only `rvs-conntrack`'s key types (protocol, forward mode, addresses of
//! a connection); everything of rvs above it (configuration, pipeline, control, runtime)
//! imports it. No DPDK, no `unsafe`.

pub mod checksum;
pub mod drop;
pub mod duties;
pub mod fragment;
pub mod packet;
pub mod rewrite;
pub mod wire;
