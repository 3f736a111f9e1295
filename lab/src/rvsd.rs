//! rvsd running in the lab's director namespace.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::cmd::must;
use crate::topology::Lab;

/// How long rvsd may take to start, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long rvsd may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running rvsd; killed on drop if still running.
pub struct Rvsd {
    child: Child,
    stderr: Receiver<String>,
    /// Everything rvsd printed on stdout, once it closed it (read all along, so that a
    /// report bigger than the pipe cannot block its exit).
    stdout: Receiver<String>,
    log: Vec<String>,
}

impl Rvsd {
    /// Starts the rvsd binary `bin` in the director's namespace with `config`, without
    /// hugepages, and waits for its "running" line.
    pub fn start(lab: &Lab, bin: &Path, config: &Path) -> Rvsd {
        Rvsd::start_in(&lab.ns("d"), bin, config)
    }

    /// [`Rvsd::start`] in namespace `ns`. Several may run at once (`--no-huge` implies
    /// `--no-shconf`: no shared DPDK runtime files).
    pub fn start_in(ns: &str, bin: &Path, config: &Path) -> Rvsd {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(bin)
            .arg("--config")
            .arg(config)
            .args(["--no-huge", "--idle-sleep-us", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (out_tx, out_rx) = mpsc::channel();
        let mut out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            let _ = out_tx.send(text);
        });
        let mut rvsd = Rvsd {
            child,
            stderr: rx,
            stdout: out_rx,
            log: Vec::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rvsd.stderr.recv_timeout(left) {
                Ok(line) => {
                    let ready = log_message(&line).is_some_and(|m| m.starts_with("running"));
                    rvsd.log.push(line);
                    if ready {
                        return rvsd;
                    }
                }
                Err(_) => panic!("rvsd did not start:\n{}", rvsd.log()),
            }
        }
    }

    /// rvsd's process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// rvsd's resident memory (`VmRSS` of `/proc/PID/status`) in KiB; `None` once it has
    /// exited.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    }

    /// Everything rvsd logged so far.
    pub fn log(&mut self) -> String {
        self.log.extend(self.stderr.try_iter());
        self.log.join("\n")
    }

    /// SIGKILL: the director dies without withdrawing anything; its kernel mirror goes
    /// with it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `limit` for rvsd to exit: its exit status (`None`: still
    /// running at the limit, then killed), how long it took, and its log.
    pub fn terminate(mut self, limit: Duration) -> (Option<ExitStatus>, Duration, String) {
        let pid = self.child.id().to_string();
        let sent = Instant::now();
        must(&["sh", "-c", "kill -TERM \"$1\"", "sh", &pid]);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait rvsd") {
                break Some(s);
            }
            if sent.elapsed() >= limit {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = sent.elapsed();
        if status.is_some() {
            // Its stderr closes with it (unless a child of it holds it): read to the end.
            while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
                self.log.push(line);
            }
        }
        (status, took, self.log())
    }

    /// SIGTERM, then the JSON report it prints.
    pub fn stop(mut self) -> serde_json::Value {
        // The shell's builtin `kill`: a minimal CI image may have no kill binary.
        let pid = self.child.id().to_string();
        must(&["sh", "-c", "kill -TERM \"$1\"", "sh", &pid]);
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait rvsd") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "rvsd did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = self
            .stdout
            .recv_timeout(STOP_TIMEOUT)
            .unwrap_or_else(|_| panic!("rvsd's stdout did not close:\n{}", self.log()));
        assert!(
            status.success(),
            "rvsd exited with {status}:\n{}",
            self.log()
        );
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rvsd printed no JSON report ({e}):\n{out}\n{}", self.log()))
    }
}

/// The message of one rvsd log line (`2026-12-07T15:40:00.123Z rvsd INFO message`): what
/// follows the timestamp, the program and the level; `None` for a line of another form.
pub fn log_message(line: &str) -> Option<&str> {
    log_parts(line).map(|(_, message)| message)
}

/// The level (`INFO`, `WARN`, `ERROR`) and the message of one rvsd log line.
pub fn log_parts(line: &str) -> Option<(&str, &str)> {
    let (stamp, rest) = line.split_once(' ')?;
    let b = stamp.as_bytes();
    let stamped = b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && stamp[..4].bytes().all(|c| c.is_ascii_digit());
    let (level, message) = rest.strip_prefix("rvsd ")?.split_once(' ')?;
    (stamped && ["INFO", "WARN", "ERROR"].contains(&level)).then_some((level, message))
}

impl Drop for Rvsd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
