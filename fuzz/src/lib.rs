//! Fuzz harnesses for rvs: each target's body lives here so that seeds and targets share
//! one definition of the configured director and the input format.

pub mod config;
pub mod import;
pub mod l7;
pub mod pipeline;
pub mod rvsadm;
