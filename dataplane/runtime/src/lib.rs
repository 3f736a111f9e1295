//! rvs-runtime: the live director and the `rvsd` command line.
//!
//! [`live`] starts DPDK (the EAL, the packet buffer pool, the ports and their queues),
//! launches one `rvs-pipeline` worker per lcore with its steering rings, starts the
//! control core of `rvs-control` and polls it until SIGINT or SIGTERM; [`rvsd`] is the
//! command line, a live director or `--replay` over captures (`rvs-replay`).
//!
//! It is, with `rvs-dpdk`, the only crate of rvs that links DPDK; it may import every
//! layer below it, and only the `rvsd` binary and the packets-per-second harness import it.

pub mod live;
pub mod rvsd;
