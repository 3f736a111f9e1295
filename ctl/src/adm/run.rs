//! Running an rvsadm command line: parse it, ask the daemon, print what ipvsadm prints.
//!
//! Exit status: 0 done; 1 the daemon refused (ipvsadm's message on stderr); 2 the daemon
//! cannot be reached or understood, or a usage error; 255 an unknown option or no command.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::adm::address::SystemNames;
use crate::adm::args::{self, Action, Cmd, Invocation, Parsed};
use crate::adm::errors::ipvsadm_message;
use crate::adm::restore::parse_restore;
use crate::adm::usage::{UsageError, EXIT_TRY_HELP};
use crate::adm::{list, save};
use crate::client::{self, ClientError};
use crate::proto::{Request, Response, ServiceInfo, ServiceKey, StatusInfo};

/// Most connection entries `-L -c` asks for; the daemon says when there were more.
pub const CONN_LIMIT: usize = 100_000;

/// The `-h` text.
pub const USAGE: &str = "\
rvsadm: ipvsadm for rvs (ipvsadm 1.31 syntax and listings, DPVS's FULLNAT local addresses)

Usage:
  rvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-o]
  rvsadm -D virtual-service
  rvsadm -C
  rvsadm -R
  rvsadm -S [-n]
  rvsadm -a|e virtual-service -r server-address [-g|-i|-m|-b] [-w weight] [-x upper] [-y lower]
  rvsadm -d virtual-service -r server-address
  rvsadm -L|l [virtual-service] [-n] [-c] [--timeout] [--stats] [--rate] [--exact]
              [--thresholds] [--persistent-conn] [--nosort]
  rvsadm -Z [virtual-service]
  rvsadm --set tcp tcpfin udp
  rvsadm -P|Q virtual-service -z local-address
  rvsadm -G [virtual-service]
  rvsadm -h | -v

Commands (long or short):
  --add-service     -A   add a virtual service
  --edit-service    -E   change a virtual service's scheduler, flags and persistence
  --delete-service  -D   delete a virtual service
  --clear           -C   delete every virtual service
  --restore         -R   read commands (as -S writes them) from stdin; applied all or nothing
  --save            -S   write the table as commands to stdout
  --add-server      -a   add a real server
  --edit-server     -e   change a real server
  --delete-server   -d   delete a real server
  --list            -L|-l  list the table
  --zero            -Z   zero the counters of one service or of all
  --set tcp tcpfin udp   set connection timeouts in seconds (0 keeps a value)
  --add-laddr       -P   add a FULLNAT local address to a service
  --del-laddr       -Q   delete a FULLNAT local address from a service
  --get-laddr       -G   list FULLNAT local addresses
  --help            -h   this text
  --version         -v   the version

virtual-service:
  --tcp-service|-t address:port    IPv4 as a.b.c.d:port, IPv6 as [addr]:port
  --udp-service|-u address:port

Options:
  --scheduler      -s name      rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh conhash twos
                                (default wlc; the daemon checks the name)
  --persistent     -p [timeout] persistent service (default timeout 360 s)
  --netmask        -M netmask   persistence granularity: a.b.c.d for IPv4, 1-128 for IPv6
  --sched-flags    -b flags     on a service: sh-fallback,sh-port,mh-fallback,mh-port
  --ops            -o           one-packet scheduling: each UDP datagram scheduled afresh
  --real-server    -r address[:port]  the real server (port: the service's when absent)
  --gatewaying     -g           direct routing (default)
  --ipip           -i           tunnel (IPIP unless --tun-type says otherwise)
  --tun-type       type         with -i: ipip (default), gue or gre
  --tun-port       port         with --tun-type gue: the real's GUE UDP port
  --tun-nocsum                  with gue or gre: no tunnel checksum (default)
  --tun-csum                    with gue or gre: the UDP or GRE checksum
  --tun-remcsum                 with gue: remote checksum offload
  --masquerading   -m           NAT
  --fullnat        -b           on a real server: FULLNAT
  --weight         -w weight    0-65535 (default 1; 0 quiesces)
  --u-threshold    -x number    upper connection threshold (0: none)
  --l-threshold    -y number    lower connection threshold (0: none)
  --local-address  -z address   FULLNAT local address for -P and -Q
  --ifname         -F name      accepted for DPVS scripts and ignored
  --numeric        -n           accepted; output is always numeric
  --connection     -c           list connection entries
  --timeout                     list timeouts
  --stats                       list counters
  --rate                        list rates
  --exact                       print numbers whole
  --thresholds                  list thresholds
  --persistent-conn             list persistence templates per real
  --tun-info                    list each real's tunnel
  --nosort                      keep the daemon's order
  --socket PATH                 the daemon's socket (else $RVS_SOCKET, else /run/rvs/rvsd.sock)

Host and port names are resolved as ipvsadm resolves them (a host to its first IPv4
address, a port from /etc/services for the service's protocol); IPv6 addresses must be
numeric. Listings and -S are numeric with or without -n. -S writes every configured real
with its configured weight (those a health check took out too); it cannot carry health
checks or the other settings ipvsadm has no option for: `rvsctl config save` writes them
all. Not supported: firewall-mark services (-f, -6), persistence engines (--pe), SCTP
and the sync daemon options (rvs configures sync in its configuration file). The size in the first line of -L is the director's connection
capacity (all workers' tables).

Where rvsadm differs from ipvsadm, and why: docs/rvsadm.md in the rvs sources.
";

/// Why a command failed after parsing, with its exit status.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The daemon refused, or could not be reached.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The daemon answered with something this request does not get.
    #[error("rvsd gave an unexpected answer to {0}")]
    Unexpected(&'static str),
    /// A named service the daemon does not have (ipvsadm's wording).
    #[error("{0}")]
    Missing(&'static str),
    /// Reading or parsing `-R` input.
    #[error("{0}")]
    Input(String),
    /// The daemon refused the change of `-R` input line `line`.
    #[error("line {line}: {}", reply.message)]
    RestoreLine {
        /// The input line.
        line: usize,
        /// The daemon's refusal.
        reply: crate::proto::ErrorReply,
    },
}

impl Failure {
    fn status(&self) -> u8 {
        match self {
            Failure::Client(e) => e.exit_status(),
            Failure::Missing(_) | Failure::RestoreLine { .. } => 1,
            Failure::Unexpected(_) | Failure::Input(_) => 2,
        }
    }
}

/// Take `--socket PATH` (or `--socket=PATH`) out of `args`.
fn take_socket(args: &mut Vec<String>) -> Result<Option<PathBuf>, UsageError> {
    let Some(pos) = args
        .iter()
        .position(|a| a == "--socket" || a.starts_with("--socket="))
    else {
        return Ok(None);
    };
    let word = args.remove(pos);
    if let Some(path) = word.strip_prefix("--socket=") {
        return Ok(Some(PathBuf::from(path)));
    }
    if pos < args.len() {
        return Ok(Some(PathBuf::from(args.remove(pos))));
    }
    Err(UsageError {
        message: "--socket: missing argument".to_string(),
        status: EXIT_TRY_HELP,
    })
}

/// Run rvsadm with `args` (without the program name); returns the exit status.
pub fn run(
    mut args: Vec<String>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let parsed =
        take_socket(&mut args).and_then(|socket| Ok((socket, args::parse(&args, &SystemNames)?)));
    let (socket, invocation) = match parsed {
        Ok((_, Parsed::Help)) => {
            let _ = out.write_all(USAGE.as_bytes());
            return 0;
        }
        Ok((_, Parsed::Version)) => {
            let _ = writeln!(
                out,
                "rvsadm {} (ipvsadm 1.31 syntax, control protocol {})",
                env!("CARGO_PKG_VERSION"),
                crate::proto::VERSION
            );
            return 0;
        }
        Ok((socket, Parsed::Run(invocation))) => (socket, invocation),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return e.status;
        }
    };
    let path = client::socket_path(socket.as_deref());
    match execute(&path, &invocation, stdin) {
        Ok(output) => {
            let _ = out.write_all(output.text.as_bytes());
            if let Some(note) = output.note {
                let _ = writeln!(err, "{note}");
            }
            0
        }
        Err(failure) => {
            let message = match &failure {
                Failure::Client(ClientError::Refused(reply)) => {
                    let cmd = (invocation.cmd != Cmd::Restore).then_some(invocation.cmd);
                    ipvsadm_message(cmd, reply)
                }
                other => other.to_string(),
            };
            let _ = writeln!(err, "{message}");
            failure.status()
        }
    }
}

/// What a successful command prints: its listing on stdout, and a note on stderr.
struct Output {
    text: String,
    note: Option<String>,
}

impl From<String> for Output {
    fn from(text: String) -> Self {
        Output { text, note: None }
    }
}

fn services(path: &Path, service: Option<ServiceKey>) -> Result<Vec<ServiceInfo>, Failure> {
    match client::call(path, Request::Services { service })? {
        Response::Services(list) => Ok(list),
        _ => Err(Failure::Unexpected("a service listing")),
    }
}

fn status(path: &Path) -> Result<StatusInfo, Failure> {
    match client::call(path, Request::Status)? {
        Response::Status(info) => Ok(info),
        _ => Err(Failure::Unexpected("the status")),
    }
}

fn done(path: &Path, request: Request) -> Result<String, Failure> {
    match client::call(path, request)? {
        Response::Done => Ok(String::new()),
        _ => Err(Failure::Unexpected("a change")),
    }
}

fn execute(path: &Path, inv: &Invocation, stdin: &mut dyn Read) -> Result<Output, Failure> {
    let format = &inv.format;
    let text = match &inv.action {
        Action::Apply(change) => done(
            path,
            Request::Apply {
                changes: vec![change.clone()],
            },
        )?,
        Action::ListServices(None) => {
            let capacity = status(path)?.conn_capacity;
            list::services(&services(path, None)?, format, Some(capacity))
        }
        Action::ListServices(Some(key)) => {
            let found = services(path, Some(*key))?;
            if found.is_empty() {
                return Err(Failure::Missing("No such service"));
            }
            list::services(&found, format, None)
        }
        Action::ListConns => match client::call(path, Request::Conns { limit: CONN_LIMIT })? {
            Response::Conns { conns, truncated } => {
                return Ok(Output {
                    text: list::conns(&conns, format),
                    note: truncated.then(|| {
                        format!("rvsadm: only the first {CONN_LIMIT} connection entries are listed")
                    }),
                })
            }
            _ => return Err(Failure::Unexpected("a connection listing")),
        },
        Action::ListTimeouts => match client::call(path, Request::Timeouts)? {
            Response::Timeouts(t) => list::timeouts(&t),
            _ => return Err(Failure::Unexpected("a timeout listing")),
        },
        Action::Save => match client::call(path, Request::ConfiguredServices)? {
            Response::Services(list) => save::save(&list),
            _ => return Err(Failure::Unexpected("a service listing")),
        },
        Action::Restore => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| Failure::Input(format!("reading stdin: {e}")))?;
            let restore =
                parse_restore(&text, &SystemNames).map_err(|e| Failure::Input(e.to_string()))?;
            if restore.changes.is_empty() {
                String::new()
            } else {
                let changes = restore.changes;
                done(path, Request::Apply { changes }).map_err(|f| match f {
                    Failure::Client(ClientError::Refused(reply)) => {
                        match reply.change.and_then(|i| restore.lines.get(i)) {
                            Some(&line) => Failure::RestoreLine { line, reply },
                            None => Failure::Client(ClientError::Refused(reply)),
                        }
                    }
                    other => other,
                })?
            }
        }
        Action::Zero(service) => done(path, Request::Zero { service: *service })?,
        Action::ListLaddrs(service) => {
            let found = services(path, *service)?;
            if service.is_some() && found.is_empty() {
                return Err(Failure::Missing("No such service"));
            }
            list::laddrs(&found, format.nosort)
        }
    };
    Ok(text.into())
}
