//! rvsadm: ipvsadm's command line and listings over the rvs control protocol.
//!
//! [`options`] knows ipvsadm's commands and options, [`args`] parses its command lines,
//! [`usage`] is the refusal both give a bad command line, [`address`] and [`sched_flags`]
//! read and write the values they carry, [`list`] and [`save`] print ipvsadm's formats,
//! [`restore`] reads `-R` input, [`errors`] words refusals as libipvs does, and [`run`]
//! ties them to the daemon.
//!
//! # Where rvsadm differs from ipvsadm 1.31, and why
//!
//! - Names are resolved as ipvsadm resolves them (hosts to IPv4, ports from `/etc/services`),
//!   so `ipvsadm -S` output without `-n` restores; `-M` masks must be numeric, and listings
//!   and `-S` are numeric with or without `-n`.
//! - `-S` writes the configured reals with their configured weights, those a health check
//!   took out included (ipvsadm under keepalived would show only the reals in the kernel);
//!   health checks and the file's other settings are in `rvsctl config save` only.
//! - `-M` takes contiguous masks only (rvs keeps a prefix length); ipvsadm passes any mask.
//! - `-f`/`-6` (fwmark), `-o`, `--pe`, SCTP, `--tun-*` and the sync-daemon options are
//!   refused with a message (exit 2): rvs does not do them or configures them in its file.
//! - `-b` on a real-server command means FULLNAT (DPVS); `-P`/`-Q -z` and `-G` manage FULLNAT
//!   local addresses; `-F` is accepted and ignored.
//! - An unknown option where the command should be is named before ipvsadm's "Try" line;
//!   a refused `-R` line is reported with its line number, whether rvsadm or the daemon
//!   refused it.
//! - `-S` writes thresholds (`-x -y`, which ipvsadm drops) and `-P` lines; `-R` applies the
//!   whole input as one all-or-nothing batch and refuses lines that are not changes.
//! - A refused request exits 1 (ipvsadm exits 255); an unreachable daemon exits 2.
//! - `-L -c` adds a `local` column when FULLNAT connections are listed; `-G` leaves out
//!   DPVS's CONFLICTS and CONNS columns, which rvs has no counters for.
//! - Listings sort addresses numerically; ipvsadm's comparison wraps for addresses more than
//!   2^31 apart. IPv4-compatible IPv6 addresses (`::a.b.c.d`) print in hex.

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
