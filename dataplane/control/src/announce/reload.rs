//! The routing daemon's reload command, run without blocking: started, then polled until
//! it ends or its time is up (it is killed then).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One run of the reload command.
#[derive(Debug)]
pub struct Reload {
    child: Child,
    deadline: Instant,
    what: String,
    timeout: Duration,
}

impl Reload {
    /// Start `argv` (not empty) at `now`; it may run for `timeout`.
    pub fn start(argv: &[String], now: Instant, timeout: Duration) -> Result<Self, String> {
        let what = argv.join(" ");
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| "no reload command".to_owned())?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("running {what}: {e}"))?;
        Ok(Self {
            child,
            deadline: now + timeout,
            what,
            timeout,
        })
    }

    /// `None` while it runs; once it ended (or was killed at its deadline), whether it
    /// succeeded.
    pub fn poll(&mut self, now: Instant) -> Option<Result<(), String>> {
        match self.child.try_wait() {
            Ok(Some(status)) if status.success() => Some(Ok(())),
            Ok(Some(status)) => Some(Err(format!("{} exited with {status}", self.what))),
            Ok(None) if now < self.deadline => None,
            Ok(None) => {
                self.kill();
                Some(Err(format!(
                    "{} did not finish in {:?} (killed)",
                    self.what, self.timeout
                )))
            }
            Err(e) => {
                self.kill();
                Some(Err(format!("waiting for {}: {e}", self.what)))
            }
        }
    }

    /// Kill it and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Reload {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
