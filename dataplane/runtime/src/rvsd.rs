//! The `rvsd` command line: a live director, or `--replay` over captures.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use crate::live::{self, LiveOptions};
use rvs_config::{Config, IdlePolicy};
use rvs_replay::pcap::ReplayInput;
use rvs_replay::ReplayPlan;

/// What `rvsd --help` says before the options.
const ABOUT: &str = "rvsd: the rvs director, a layer-4 load balancer (IPVS's \
services, reals and schedulers) on DPDK ports.";

/// The rest of `rvsd --help`: how a running director is operated.
const LONG_ABOUT: &str = "\
rvsd: the rvs director, a layer-4 load balancer (IPVS's services, reals and schedulers)
on DPDK ports.

It reads the configuration file (docs/config.md), refuses it whole with FILE:LINE:COLUMN
when anything is wrong, opens the [[port]] devices, and forwards on one worker lcore per
[dataplane] workers until it is stopped. With --replay it runs the same pipeline over
packet captures instead, without DPDK.";

/// After the options in `rvsd --help`.
const AFTER_HELP: &str = "\
Signals:
  SIGTERM, SIGINT  stop: the workers finish their burst, the ports stop, the counters are
                   printed; a second signal exits at once (status 1)
  SIGHUP           reload the configuration file (as `rvsctl config reload`); a refused
                   file changes nothing and is logged

Control: rvsadm (ipvsadm's commands) and rvsctl talk to rvsd on the Unix socket
[ctl] socket (default /run/rvs/rvsd.sock); Prometheus metrics are served on
[ctl] metrics (default 127.0.0.1:9779/metrics).

Logs: one line per event on stderr, each starting with `rvsd: `. At the end the counters
go to stdout as JSON.

Exit status: 0 stopped as asked; 1 the configuration or the start failed, or a worker
died; 2 a usage error; 3 stopped as asked but the final report could not be written.";

/// Exit status when rvsd stopped as asked but could not write its final report.
pub const EXIT_REPORT_UNWRITTEN: u8 = 3;

/// rvsd: the rvs load-balancer daemon.
#[derive(Debug, Parser)]
#[command(
    name = "rvsd",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Args {
    /// The configuration file (TOML).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Replay a capture as received on a port: `PORT=FILE.pcap` (repeatable). No DPDK.
    #[arg(long, value_name = "PORT=FILE")]
    pub replay: Vec<ReplayInput>,
    /// Replay: the directory that receives one capture per port.
    #[arg(long, value_name = "DIR", requires = "replay")]
    pub out: Option<PathBuf>,
    /// The seed for everything random on a live director (replay: default 0; live:
    /// default from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Live: run without hugepages (adds `--no-huge --no-shconf` to the EAL arguments).
    /// For development and tests, not for a director.
    #[arg(long, conflicts_with = "replay")]
    pub no_huge: bool,
    /// Live: stop after this many seconds instead of waiting for SIGINT/SIGTERM.
    #[arg(long, value_name = "SECONDS", conflicts_with = "replay")]
    pub duration: Option<f64>,
    /// Live: idle workers back off, sleeping up to this many microseconds between
    /// polls, whatever `[dataplane] idle` says (development machines shared with other
    /// work; 0 = as configured).
    #[arg(
        long,
        value_name = "MICROS",
        default_value_t = 0,
        conflicts_with = "replay"
    )]
    pub idle_sleep_us: u32,
}

/// Run rvsd with `args` (the program name first); the exit code says how it went.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            // 0 for --help and --version, 2 for a usage error.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if args.replay.is_empty() {
        return run_live(&args);
    }
    let plan = ReplayPlan {
        config: args.config,
        inputs: args.replay,
        out: args.out.unwrap_or_else(|| PathBuf::from(".")),
        seed: args.seed.unwrap_or(0),
    };
    match rvs_replay::run(&plan) {
        Ok(summary) => print_json(&summary),
        Err(e) => {
            eprintln!("rvsd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A live director until SIGINT/SIGTERM; prints the counters as JSON at the end.
fn run_live(args: &Args) -> ExitCode {
    let config = match Config::from_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rvsd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run_for = match args.duration.map(Duration::try_from_secs_f64) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            eprintln!("rvsd: --duration must be a non-negative number of seconds");
            return ExitCode::from(2);
        }
    };
    let options = LiveOptions {
        no_huge: args.no_huge,
        run_for,
        seed: args.seed,
        stop: None,
        control_file: Some(args.config.clone()),
        idle: (args.idle_sleep_us > 0).then_some(IdlePolicy::Backoff {
            max_sleep_us: args.idle_sleep_us,
        }),
    };
    match live::run(&config, &options) {
        // Printed either way; the status says the stop was not clean (each step given
        // up was logged).
        Ok(report) if !report.stop_abandoned.is_empty() => {
            let _ = print_json(&report);
            ExitCode::from(live::EXIT_STOP_TIMEOUT)
        }
        Ok(report) => print_json(&report),
        Err(e) => {
            eprintln!("rvsd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Print `value` as pretty JSON on stdout. A stdout that cannot take it (a closed pipe,
/// a full disk) is said on stderr and gives [`EXIT_REPORT_UNWRITTEN`].
fn print_json(value: &impl Serialize) -> ExitCode {
    match write_json(&mut std::io::stdout().lock(), value) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvsd: writing the final report to stdout: {e}");
            ExitCode::from(EXIT_REPORT_UNWRITTEN)
        }
    }
}

/// Write `value` to `out` as pretty JSON and a newline, flushed.
fn write_json(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails as a closed pipe does.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_report_that_cannot_be_written_is_an_error_not_a_panic() {
        let err = write_json(&mut Closed, &[1, 2, 3]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        let mut out = Vec::new();
        write_json(&mut out, &[1, 2]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[\n  1,\n  2\n]\n");
    }

    #[test]
    fn help_and_version_are_not_errors() {
        for flag in ["--help", "-h", "--version", "-V"] {
            let e = Args::try_parse_from(["rvsd", flag]).unwrap_err();
            assert_eq!(e.exit_code(), 0, "{flag}");
        }
        let e = Args::try_parse_from(["rvsd", "--bogus"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let help = Args::try_parse_from(["rvsd", "--help"])
            .unwrap_err()
            .to_string();
        for needle in [
            "SIGHUP",
            "SIGTERM",
            "/run/rvs/rvsd.sock",
            "stderr",
            "Exit status",
        ] {
            assert!(help.contains(needle), "{needle} missing from:\n{help}");
        }
    }
}
