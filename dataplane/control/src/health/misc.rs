//! MISC_CHECK: run a command with `{ip}` and `{port}` substituted in its arguments; exit
//! 0 is up. With `dynamic` (keepalived's misc_dynamic), exit 2..=255 is up with weight
//! `code - 2`, and exit 0 keeps the weight the last dynamic result set. A command still
//! running at the timeout is killed (its whole process group) and counts as down.

use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ProbeFailure;

/// How often a running command is looked at.
const POLL: Duration = Duration::from_millis(5);

/// What a misc check reports when up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MiscUp {
    /// Exit 0.
    Plain,
    /// A dynamic exit code 2..=255: the weight it sets.
    Weight(u32),
}

/// Run `argv` for the real at `addr` within `timeout`.
pub fn probe(
    addr: SocketAddr,
    argv: &[String],
    dynamic: bool,
    timeout: Duration,
) -> Result<MiscUp, ProbeFailure> {
    let ip = addr.ip().to_string();
    let port = addr.port().to_string();
    let args: Vec<String> = argv
        .iter()
        .map(|a| a.replace("{ip}", &ip).replace("{port}", &port))
        .collect();
    let (program, rest) = args.split_first().ok_or(ProbeFailure::NoCommand)?;
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| ProbeFailure::Spawn(e.kind()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProbeFailure::TimedOut);
            }
            Err(e) => return Err(ProbeFailure::Io(e.kind())),
        }
    };
    match status.code() {
        Some(0) => Ok(MiscUp::Plain),
        Some(code @ 2..=255) if dynamic => Ok(MiscUp::Weight(code as u32 - 2)),
        Some(code) => Err(ProbeFailure::Exit(code)),
        None => Err(ProbeFailure::Signal(status.signal().unwrap_or(0))),
    }
}

/// Kill the process group `pgid` (the command and whatever it started), with the
/// system's `kill` so that no unsafe call is needed.
fn kill_group(pgid: u32) {
    let spawned = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = spawned {
        crate::warn!("health: cannot kill timed-out check command group {pgid}: {e}");
    }
}
