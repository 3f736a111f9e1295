//! rvsadm: ipvsadm's command line and listings over the rvs control protocol.
//!
//! [`options`] knows ipvsadm's commands and options, [`args`] parses its command lines,
//! [`usage`] is the refusal both give a bad command line, [`address`] and [`sched_flags`]
//! read and write the values they carry, [`list`] and [`save`] print ipvsadm's formats,
//! [`restore`] reads `-R` input, [`errors`] words refusals as libipvs does, and [`run`]
//! ties them to the daemon.
//!
//! Where rvsadm differs from ipvsadm, and why, is in `docs/rvsadm.md` (`rvsadm -h` points
//! there).

pub mod address;
pub mod args;
pub mod errors;
pub mod list;
pub mod options;
pub mod restore;
pub mod run;
pub mod save;
pub mod sched_flags;
pub mod usage;
