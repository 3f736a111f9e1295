//! The `rvsd` command line: a live director, or `--replay` over captures.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use crate::live::{self, LiveOptions};
use rvs_config::{Config, IdlePolicy};
use rvs_replay::pcap::ReplayInput;
use rvs_replay::ReplayPlan;

/// rvsd: the rvs load-balancer daemon.
#[derive(Debug, Parser)]
#[command(name = "rvsd", version, about)]
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
            return ExitCode::from(2);
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

/// Print `value` as pretty JSON on stdout.
fn print_json(value: &impl Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rvsd: printing the summary: {e}");
            ExitCode::FAILURE
        }
    }
}
