//! Per-mode packet transformations, in place, with incremental checksums.
//!
//! | mode, direction | call |
//! |---|---|
//! | every mode | [`set_macs`] once the next hop is resolved |
//! | NAT in (client -> VIP) | [`nat_in`]: destination -> real |
//! | NAT out (real -> client) | [`nat_out`]: source -> VIP |
//! | FULLNAT in | [`fullnat_in`]: source -> local, destination -> real |
//! | FULLNAT out | [`fullnat_out`]: source -> VIP, destination -> client |
//! | DR | nothing but [`set_macs`] |
//! | TUN (IPIP, GUE, GRE: [`Tunnel`]) | [`tun_encap`], then [`set_macs`] |
//! | ICMP error quoting a connection | [`icmp_error`] |
//! | FULLNAT TCP, after the above, client address (TOA, PROXY) | `rvs_pipeline::client_addr::on_segment` (it keeps per-connection state) |
//! | FULLNAT UDP, after the above, client address (PROXY v2) | `rvs_pipeline::client_addr::on_datagram` ([`udp_edit::prepend_payload`]) |
//!
//! All of them take the [`FrameInfo`](crate::wire::FrameInfo) that
//! [`parse_frame`](crate::wire::parse_frame) returned for the same bytes; the info is stale
//! afterwards (addresses, and offsets after [`tun_encap`]).
//!
//! # TTL
//! NAT and FULLNAT forward like a router: TTL / hop limit is decremented in both directions
//! and a packet arriving with 1 or 0 is refused with
//! [`DropReason::TtlExceeded`](crate::drop::DropReason::TtlExceeded) (the pipeline may
//! answer with ICMP time exceeded). Kernel IPVS decrements only on the NAT reply path (it
//! passes the kernel's FORWARD hook; inbound packets are taken at LOCAL_IN, which does
//! not); DPVS can decrement on FULLNAT transmit. Decrementing both ways keeps traceroute
//! honest and loops bounded. DR leaves the IP header alone (as IPVS does), and TUN copies
//! the inner TTL into the outer header without touching the inner one (see [`tun_encap`]).

mod icmp_error;
mod l2;
mod nat;
pub mod proxy_protocol;
pub mod seq_shift;
pub mod tcp_edit;
pub mod toa;
mod tun;
mod tunnel;
pub mod udp_edit;

pub use icmp_error::icmp_error;
pub use l2::set_macs;
pub use nat::{fullnat_in, fullnat_out, nat_in, nat_l3l4, nat_out};
pub use tun::tun_encap;
pub use tunnel::{Tunnel, TunnelCsum, TunnelKind, IPPROTO_GRE};
