//! rvs-pipeline: the forwarding pipeline of one worker, and what it forwards with.
//!
//! The worker ([`worker`]) takes bursts of frames through steering ([`steer`]: which
//! worker owns a frame, with [`rss`], [`owner_class`] and [`draining`]), connection
//! lookup or scheduling and insertion ([`connect`]; [`mark`] for the `[[mark]]` rules), FULLNAT local ports from [`laddr`]),
//! the rewrites of `rvs-packet`, the client's address for FULLNAT reals
//! ([`client_addr`]), the SYN proxy ([`synproxy`]), next hops ([`route`], [`neigh`]) and
//! its counters ([`counters`], [`traffic`]). It forwards with an immutable [`snapshot`]
//! of the [`service`]s, built by the control core with the health [`overlay`] applied,
//! and takes changes as [`update`]s between bursts; [`ha`] is its side of the link to
//! the control core's VRRP and connection sync.
//!
//! It may import `rvs-packet`, `rvs-config`, `rvs-conntrack`, `rvs-schedulers`,
//! `rvs-ctl` (for the one list of the worker counters) and, of the DPDK layer, only
//! `rvs-dpdk-burst` (the burst size and the prefetch hint): it builds and its tests run
//! without libdpdk. The control core and the runtime import it.

pub mod client_addr;
pub mod connect;
pub mod counters;
pub mod draining;
pub mod flow_hash;
pub mod guard;
pub mod ha;
pub mod l7;
pub mod laddr;
pub mod mark;
pub mod neigh;
pub mod overlay;
pub mod owner_class;
pub mod ownership;
pub mod reassembly;
pub mod route;
pub mod rss;
pub mod service;
pub mod share;
pub mod snapshot;
pub mod steer;
pub mod synproxy;
pub mod traffic;
pub mod update;
pub mod worker;
