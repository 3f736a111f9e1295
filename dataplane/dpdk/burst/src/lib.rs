//! rvs-dpdk-burst: the part of the DPDK layer that the forwarding pipeline may use
//! without linking DPDK: the burst size and the prefetch hint (what DPDK's
//! `RTE_MAX_BURST`-style constants and `rte_prefetch0` are to a DPDK application).
//!
//! The pipeline (`rvs-pipeline`) stages its bursts in arrays of [`MAX_BURST`] and
//! prefetches the buckets and entries it will read next with [`prefetch`]; `rvs-dpdk`
//! receives, transmits and allocates in bursts of the same size and re-exports both, so
//! the two sides cannot disagree. It imports nothing of rvs. With `rvs-dpdk`, it is one of
//! the two crates allowed `unsafe`: one block, the prefetch instruction.

mod prefetch;

pub use prefetch::prefetch;

/// Most packets moved by one burst call (rx, tx, ring, bulk allocation) and staged by
/// the pipeline at once.
pub const MAX_BURST: usize = 64;
