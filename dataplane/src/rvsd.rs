//! The `rvsd` command line: a live director, or `--replay` over captures.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::replay::{self, ReplayPlan};
use crate::replay_io::ReplayInput;

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
    /// Replay: the seed for everything random on a live director.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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
        eprintln!("rvsd: live mode (DPDK workers) is not available yet; use --replay");
        return ExitCode::from(1);
    }
    let plan = ReplayPlan {
        config: args.config,
        inputs: args.replay,
        out: args.out.unwrap_or_else(|| PathBuf::from(".")),
        seed: args.seed,
    };
    match replay::run(&plan) {
        Ok(summary) => match serde_json::to_string_pretty(&summary) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rvsd: printing the summary: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("rvsd: {e}");
            ExitCode::FAILURE
        }
    }
}
