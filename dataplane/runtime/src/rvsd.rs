//! The `rvsd` command line: a live director, or `--replay` over captures.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use crate::live::{self, LiveOptions, LiveReport};
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
[dataplane] workers until it is stopped. With --check it only checks the file (no DPDK,
no hugepages). With --replay it runs the same pipeline over packet captures instead,
without DPDK.";

/// After the options in `rvsd --help`.
const AFTER_HELP: &str = "\
Signals:
  SIGTERM, SIGINT  stop: the workers finish their burst, the ports stop, one log line sums
                   up the run and the counters are written as JSON; a second signal exits
                   at once (status 1)
  SIGHUP           reload the configuration file (as `rvsctl config reload`); a refused
                   file changes nothing and is logged

Control: rvsadm (ipvsadm's commands) and rvsctl talk to rvsd on the Unix socket
[ctl] socket (default /run/rvs/rvsd.sock); Prometheus metrics are served on
[ctl] metrics (default 127.0.0.1:9779/metrics).

Logs: one line per event on stderr: `2026-12-07T15:40:00.123Z rvsd INFO message` (UTC,
levels INFO, WARN, ERROR); under systemd, whose journal stamps lines itself, `<6>rvsd:
message` (the level as a syslog priority). On stop, one line sums up the run and the
counters go to stdout (or --report FILE) as one line of JSON.

Exit status: 0 stopped as asked; 1 the configuration or the start failed, or a worker
died, or --check refused the file; 2 a usage error; 3 stopped as asked but part of the stop
was given up, or the final report could not be written.";

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
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        required_unless_present = "check"
    )]
    pub config: Option<PathBuf>,
    /// Check FILE as rvsd would before starting (syntax, every rule, the interfaces its
    /// ports attach to), print `FILE: ok` or what is wrong, and exit (0 ok, 1 refused).
    /// Starts no DPDK and needs no hugepages.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "replay", "report"])]
    pub check: Option<PathBuf>,
    /// Write the final report (the counters as one line of JSON) to FILE instead of
    /// stdout.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
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
    if let Some(file) = &args.check {
        return check(file);
    }
    let Some(config) = args.config.clone() else {
        // clap requires --config unless --check is given.
        return ExitCode::from(2);
    };
    if args.replay.is_empty() {
        return run_live(&args, config);
    }
    let plan = ReplayPlan {
        config,
        inputs: args.replay.clone(),
        out: args.out.clone().unwrap_or_else(|| PathBuf::from(".")),
        seed: args.seed.unwrap_or(0),
    };
    match rvs_replay::run(&plan) {
        Ok(summary) => write_report(args.report.as_deref(), &summary),
        Err(e) => {
            rvs_control::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `rvsd --check FILE`: validate `file` as a live director would before DPDK starts;
/// `FILE: ok` on stdout (after any warnings on stderr) and 0, or the error on stderr and
/// 1.
fn check(file: &Path) -> ExitCode {
    let shown = file.display();
    let checked = Config::from_file(file)
        .map_err(live::LiveError::from)
        .and_then(|config| live::check_file(&config));
    match checked {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("{shown}: warning: {w}");
            }
            println!("{shown}: ok");
            ExitCode::SUCCESS
        }
        // A configuration error names the file and its line already.
        Err(e @ live::LiveError::Config(_)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{shown}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A live director until SIGINT/SIGTERM; writes the counters as JSON at the end.
fn run_live(args: &Args, file: PathBuf) -> ExitCode {
    let config = match Config::from_file(&file) {
        Ok(c) => c,
        Err(e) => {
            rvs_control::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let run_for = match args.duration.map(Duration::try_from_secs_f64) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            rvs_control::error!("--duration must be a non-negative number of seconds");
            return ExitCode::from(2);
        }
    };
    let options = LiveOptions {
        no_huge: args.no_huge,
        run_for,
        seed: args.seed,
        stop: None,
        control_file: Some(file),
        idle: (args.idle_sleep_us > 0).then_some(IdlePolicy::Backoff {
            max_sleep_us: args.idle_sleep_us,
        }),
    };
    match live::run(&config, &options) {
        Ok(report) => {
            let summary = summary(&report);
            let written = write_report(args.report.as_deref(), &report);
            if report.stop_abandoned.is_empty() {
                rvs_control::info!("{summary}");
                written
            } else {
                // Written either way; the status says the stop was not clean (each step
                // given up was logged).
                rvs_control::warn!(
                    "{summary}; {} stop step(s) given up",
                    report.stop_abandoned.len()
                );
                ExitCode::from(live::EXIT_STOP_TIMEOUT)
            }
        }
        Err(e) => {
            rvs_control::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The one log line that sums up a live run when it stops.
fn summary(report: &LiveReport) -> String {
    let t = &report.total;
    let drops: u64 = t.dropped.values().sum();
    let reasons = t
        .dropped
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "stopped after {:.1} s: {} packets in, {} out, {} connections, drops {drops}{}",
        report.elapsed_seconds,
        t.received.packets,
        t.transmitted.packets,
        t.connections_created,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({reasons})")
        }
    )
}

/// Write `value` as one line of JSON to `file`, or to stdout without one. A report that
/// cannot be written (a closed pipe, a full disk, a file that cannot be created) is
/// logged and gives [`EXIT_REPORT_UNWRITTEN`].
fn write_report(file: Option<&Path>, value: &impl Serialize) -> ExitCode {
    let written = match file {
        Some(path) => std::fs::File::create(path)
            .and_then(|f| write_json(&mut std::io::BufWriter::new(f), value))
            .map_err(|e| format!("writing the final report to {}: {e}", path.display())),
        None => write_json(&mut std::io::stdout().lock(), value)
            .map_err(|e| format!("writing the final report to stdout: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rvs_control::error!("{e}");
            ExitCode::from(EXIT_REPORT_UNWRITTEN)
        }
    }
}

/// Write `value` to `out` as one line of JSON, flushed.
fn write_json(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
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
        assert_eq!(String::from_utf8(out).unwrap(), "[1,2]\n");
    }

    #[test]
    fn the_stop_is_summed_up_in_one_line() {
        let mut report = LiveReport::new(&[], Vec::new(), 12.34);
        report.total.received.packets = 1000;
        report.total.transmitted.packets = 990;
        report.total.connections_created = 40;
        assert_eq!(
            summary(&report),
            "stopped after 12.3 s: 1000 packets in, 990 out, 40 connections, drops 0"
        );
        report.total.dropped.insert("not_for_us", 2);
        report.total.dropped.insert("neighbor_unresolved", 8);
        assert_eq!(
            summary(&report),
            "stopped after 12.3 s: 1000 packets in, 990 out, 40 connections, drops 10 \
             (neighbor_unresolved 8, not_for_us 2)"
        );
    }

    #[test]
    fn check_needs_no_config_and_excludes_running() {
        let args = Args::try_parse_from(["rvsd", "--check", "rvs.toml"]).unwrap();
        assert_eq!(args.check.as_deref(), Some(Path::new("rvs.toml")));
        for bad in [
            &["rvsd"][..],
            &["rvsd", "--check", "a.toml", "--config", "b.toml"],
        ] {
            let e = Args::try_parse_from(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
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
