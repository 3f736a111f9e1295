//! rvsctl: what ipvsadm has no word for (daemon status, workers and every worker counter,
//! ports, neighbours, routes, drops, health checks, guarded services, connections, the
//! configuration file).
//!
//! Exit status: 0 done; 1 the daemon refused (its reason on stderr) or a file could not be
//! written (for `import`: the file is malformed, or items were not carried over without
//! `--allow-partial`); 2 the daemon cannot be reached or understood, or a usage error.

pub mod counters;
pub mod import;
pub mod table;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::client::{self, ClientError};
use crate::proto::{Request, Response};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "rvsctl",
    version,
    about = "Inspect and configure a running rvsd"
)]
pub struct Cli {
    /// The daemon's socket (default: $RVS_SOCKET, else /run/rvs/rvsd.sock).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print the daemon's data as JSON instead of a table (before or after the command).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// rvsctl's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon's state in a few numbers.
    Status,
    /// Per-worker counters, the main ones (all of them: `counters`).
    Workers,
    /// Every worker counter, per worker and in total (drops by each reason counted).
    Counters,
    /// Ports with their device counters.
    Ports,
    /// Neighbour entries.
    Neighbors,
    /// The route table.
    Routes,
    /// Drops by reason.
    Drops,
    /// The health state of every checked real.
    Health,
    /// Each service's allow and deny lists, limits, refusals and most limited clients.
    Guards,
    /// The `[[mark]]` rules, in the order they are tried, with the mark services they
    /// lead to.
    Marks,
    /// Each content-switching service's rules in the order they are tried, with their
    /// groups and match counts, and the count of what no rule matched.
    Rules,
    /// Connection entries.
    Conns {
        /// Most entries to list.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print an rvsd configuration for a keepalived or ldirectord file (no daemon needed).
    #[command(subcommand)]
    Import(import::ImportCommand),
}

/// `rvsctl config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the running state as a configuration file (to FILE, else stdout).
    Save {
        /// Where to write it.
        file: Option<PathBuf>,
    },
    /// Apply a changed configuration file (FILE, else the one the daemon loaded last)
    /// without dropping connections; prints what changed. Refused when it would undo
    /// changes made at runtime (rvsadm) that the file does not carry.
    Reload {
        /// The file to read; it becomes the one SIGHUP and later reloads read.
        file: Option<PathBuf>,
        /// Only print what the reload would change.
        #[arg(long)]
        dry_run: bool,
        /// Apply the file even where it undoes runtime changes (they are listed).
        #[arg(long)]
        discard_runtime: bool,
    },
}

/// Why an rvsctl command failed, with its exit status.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("rvsd gave an unexpected answer to `{0}'")]
    Unexpected(&'static str),
    #[error("{0}")]
    Local(String),
}

impl Failure {
    fn status(&self) -> u8 {
        match self {
            Failure::Client(e) => e.exit_status(),
            Failure::Local(_) => 1,
            Failure::Unexpected(_) => 2,
        }
    }
}

/// Run `cli`, printing to `out` and `err`; returns the exit status.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    if let Command::Import(command) = cli.command {
        return import::run(command, out, err);
    }
    let path = client::socket_path(cli.socket.as_deref());
    match execute(&path, cli.command, cli.json) {
        Ok(report) => {
            let _ = out.write_all(report.text.as_bytes());
            if let Some(note) = report.note {
                let _ = writeln!(err, "{note}");
            }
            0
        }
        Err(failure) => {
            let _ = writeln!(err, "rvsctl: {failure}");
            failure.status()
        }
    }
}

/// What a successful command prints: stdout text and an optional note for stderr.
struct Report {
    text: String,
    note: Option<String>,
}

impl From<String> for Report {
    fn from(text: String) -> Self {
        Report { text, note: None }
    }
}

/// Counts by label, shown in JSON as one object (as the daemon sends them).
#[derive(Serialize)]
struct Labelled(#[serde(with = "crate::labelled")] Vec<(String, u64)>);

/// The data as pretty JSON, or the table.
fn show<T: Serialize + ?Sized>(json: bool, data: &T, table: impl FnOnce(&T) -> String) -> String {
    if json {
        // Serializing the protocol's own types cannot fail: they are plain data.
        let mut text = serde_json::to_string_pretty(data).unwrap_or_default();
        text.push('\n');
        text
    } else {
        table(data)
    }
}

fn execute(path: &Path, command: Command, json: bool) -> Result<Report, Failure> {
    let text = match command {
        Command::Status => match client::call(path, Request::Status)? {
            Response::Status(s) => show(json, &s, table::status),
            _ => return Err(Failure::Unexpected("status")),
        },
        Command::Workers => match client::call(path, Request::Workers)? {
            Response::Workers(list) => show(json, &list, |l| table::workers(l)),
            _ => return Err(Failure::Unexpected("workers")),
        },
        Command::Counters => match client::call(path, Request::Workers)? {
            Response::Workers(list) => show(json, &counters::view(&list), counters::table),
            _ => return Err(Failure::Unexpected("counters")),
        },
        Command::Ports => match client::call(path, Request::Ports)? {
            Response::Ports(list) => show(json, &list, |l| table::ports(l)),
            _ => return Err(Failure::Unexpected("ports")),
        },
        Command::Neighbors => match client::call(path, Request::Neighbors)? {
            Response::Neighbors(list) => show(json, &list, |l| table::neighbors(l)),
            _ => return Err(Failure::Unexpected("neighbors")),
        },
        Command::Routes => match client::call(path, Request::Routes)? {
            Response::Routes(list) => show(json, &list, |l| table::routes(l)),
            _ => return Err(Failure::Unexpected("routes")),
        },
        Command::Drops => match client::call(path, Request::Drops)? {
            Response::Drops(list) => show(json, &Labelled(list), |l| table::drops(&l.0)),
            _ => return Err(Failure::Unexpected("drops")),
        },
        Command::Health => match client::call(path, Request::Health)? {
            Response::Health(list) => show(json, &list, |l| table::health(l)),
            _ => return Err(Failure::Unexpected("health")),
        },
        Command::Guards => match client::call(path, Request::Guards)? {
            Response::Guards(list) => show(json, &list, |l| table::guards(l)),
            _ => return Err(Failure::Unexpected("guards")),
        },
        Command::Marks => match client::call(path, Request::Marks)? {
            Response::Marks(list) => show(json, &list, |l| table::marks(l)),
            _ => return Err(Failure::Unexpected("marks")),
        },
        Command::Rules => match client::call(path, Request::Rules)? {
            Response::Rules(list) => show(json, &list, |l| table::rules(l)),
            _ => return Err(Failure::Unexpected("rules")),
        },
        Command::Conns { limit } => match client::call(path, Request::Conns { limit })? {
            Response::Conns { conns, truncated } => {
                return Ok(Report {
                    text: show(json, &conns, |c| table::conns(c)),
                    note: truncated
                        .then(|| format!("rvsctl: more than {limit} entries; raise --limit")),
                });
            }
            _ => return Err(Failure::Unexpected("conns")),
        },
        Command::Config(ConfigCommand::Save { file }) => {
            match client::call(path, Request::ConfigSave)? {
                Response::Config(text) => match file {
                    Some(file) => {
                        std::fs::write(&file, text).map_err(|e| {
                            Failure::Local(format!("writing {}: {e}", file.display()))
                        })?;
                        String::new()
                    }
                    None => text,
                },
                _ => return Err(Failure::Unexpected("config save")),
            }
        }
        Command::Config(ConfigCommand::Reload {
            file,
            dry_run,
            discard_runtime,
        }) => {
            let path_text = file.map(|f| absolute_text(&f)).transpose()?;
            let request = Request::ConfigReload {
                path: path_text,
                dry_run,
                discard_runtime,
            };
            match client::call(path, request)? {
                Response::Reloaded(report) => table::reload(&report),
                _ => return Err(Failure::Unexpected("config reload")),
            }
        }
        Command::Import(_) => {
            return Err(Failure::Local("import runs without the daemon".to_string()))
        }
    };
    Ok(text.into())
}

/// `file` made absolute (the daemon has another working directory), as UTF-8 text.
fn absolute_text(file: &Path) -> Result<String, Failure> {
    let abs = std::path::absolute(file)
        .map_err(|e| Failure::Local(format!("{}: {e}", file.display())))?;
    abs.to_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::Local(format!("{}: path is not UTF-8", abs.display())))
}
