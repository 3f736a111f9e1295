//! rvsadm: ipvsadm's command line and listings over the rvs control protocol.
//!
//! [`args`] parses ipvsadm's syntax, [`list`] and [`save`] print ipvsadm's formats,
//! [`restore`] reads `-R` input, [`errors`] words refusals as libipvs does, and [`run`] ties
//! them to the daemon.

pub mod address;
pub mod args;
pub mod errors;
pub mod list;
pub mod restore;
pub mod run;
pub mod save;
pub mod sched_flags;
