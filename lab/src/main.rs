//! `rvs-lab demo`: builds the namespace lab, starts rvsd (next to this binary) with a
//! FULLNAT service over three reals, sends a bounded burst of HTTP requests through the
//! VIP and shows what the director did; then one real fails and leaves rotation. Exits
//! non-zero when anything did not work; the lab is removed in every case.
//!
//! `rvs-lab soak --minutes N [--seed S]`: everything at once on the HA lab
//! (`rvs_lab::soak`); prints its summary, exits non-zero on a lost connection or any
//! other failure.
//!
//! `rvs-lab compare`: rvsd side by side with nftables DNAT, HAProxy and the client
//! straight to the reals, under wrk (`rvs_lab::compare`); prints Markdown tables.
//! `--scenarios content-switching` runs rvsd's content switching by `Host` against its
//! plain FULLNAT service and HAProxy in HTTP mode instead.

mod demo;

use std::path::Path;
use std::process::ExitCode;

use rvs_lab::compare::{self, Load, Options, Scenario, Wrk};
use rvs_lab::soak;

const USAGE: &str = "usage (as root; rvsd and rvsadm next to rvs-lab):
  rvs-lab --help | --version
  rvs-lab demo
  rvs-lab soak --minutes N [--seed S]
  rvs-lab compare [--rounds N] [--seconds S] [--connections C] [--threads T]
                  [--scenarios direct,rvsd-af_xdp,rvsd-af_packet,nftables,haproxy,
                               rvsd-l7,rvsd-fullnat,haproxy-http | content-switching]
                  [--loads keep-alive,close]
  (default: the L4 scenarios; content-switching = rvsd-l7,rvsd-fullnat,haproxy-http)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("rvs-lab {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("demo") if args.len() == 1 => match demo::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo: FAILED: {e}");
                ExitCode::FAILURE
            }
        },
        Some("soak") => match soak_options(&args[1..]) {
            Ok(options) => {
                let summary = soak::run(&options);
                println!("{}", summary.render());
                if summary.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("rvs-lab soak: {e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("compare") => match compare_options(&args[1..]) {
            Ok(options) => {
                println!("{}", compare_header(&options));
                let samples = compare::run(&options, |s| {
                    eprintln!("compare: {}", compare::run_line(s));
                });
                println!("{}", compare::render(&samples));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rvs-lab compare: {e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The soak's options from the command line (`--minutes` required, fractions allowed;
/// `--seed` 1 by default).
fn soak_options(args: &[String]) -> Result<soak::Options, String> {
    let rvsd = next_to_me("rvsd")?;
    let (mut minutes, mut seed) = (None, 1u64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--minutes" => {
                minutes = Some(
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|m| *m > 0.0 && *m <= 24.0 * 60.0)
                        .ok_or_else(|| format!("--minutes: {value:?} is not 0 < N <= 1440"))?,
                )
            }
            "--seed" => {
                seed = value
                    .parse()
                    .map_err(|_| format!("--seed: {value:?} is not a number"))?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let minutes = minutes.ok_or("--minutes is required")?;
    Ok(soak::Options {
        duration: std::time::Duration::from_secs_f64(minutes * 60.0),
        seed,
        rvsd,
    })
}

/// The binary `name` next to this one (built with the workspace).
fn next_to_me(name: &str) -> Result<std::path::PathBuf, String> {
    let path = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: cargo build --release",
            path.display()
        ))
    }
}

/// The comparison's options from the command line (defaults: 3 rounds of 10 s, 3 wrk
/// threads with 48 connections, the L4 scenarios, both loads).
fn compare_options(args: &[String]) -> Result<Options, String> {
    let rvsd = next_to_me("rvsd")?;
    let mut o = Options {
        rounds: 3,
        scenarios: Scenario::L4.to_vec(),
        loads: vec![Load::KeepAlive, Load::Close],
        wrk: Wrk {
            threads: 3,
            connections: 48,
            seconds: 10,
        },
        rvsd,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: {value:?} is not a positive number"))
        };
        match flag.as_str() {
            "--rounds" => o.rounds = number()?,
            "--seconds" => {
                o.wrk.seconds = u32::try_from(number()?).map_err(|e| format!("{flag}: {e}"))?
            }
            "--connections" => o.wrk.connections = number()?,
            "--threads" => o.wrk.threads = number()?,
            "--scenarios" => {
                o.scenarios = Vec::new();
                for n in value.split(',') {
                    if n == "content-switching" {
                        o.scenarios.extend(Scenario::CONTENT_SWITCHING);
                    } else {
                        o.scenarios.push(
                            Scenario::from_name(n).ok_or_else(|| format!("no scenario {n:?}"))?,
                        );
                    }
                }
            }
            "--loads" => {
                o.loads = value
                    .split(',')
                    .map(|n| match n {
                        "keep-alive" => Ok(Load::KeepAlive),
                        "close" => Ok(Load::Close),
                        _ => Err(format!("no load {n:?}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.wrk.connections < o.wrk.threads {
        return Err("--connections must be at least --threads".into());
    }
    Ok(o)
}

/// What the run is, for the top of its output.
fn compare_header(o: &Options) -> String {
    format!(
        "## rvs-lab compare: {} rounds, wrk {} threads / {} connections / {} s per run, {} on {}\n\n\
         Ceiling = the client straight to the reals. Ratios are medians of same-round ratios.",
        o.rounds,
        o.wrk.threads,
        o.wrk.connections,
        o.wrk.seconds,
        Path::new(&o.rvsd)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|t| format!("{} CPUs", t.matches("processor\t:").count()))
            .unwrap_or_default()
    )
}
