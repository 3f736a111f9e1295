//! The `[ha] notify` command: run on each transition, bounded. At most one runs at a
//! time; a transition while one runs queues the newest state only (an older queued one
//! is dropped and logged), so a flapping virtual router never piles up processes. A
//! command still running after [`NOTIFY_TIMEOUT`] is killed (SIGKILL) and reaped; every
//! failure is logged. The command of the last transition (to `init` when rvsd stops)
//! is left to finish on its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a notify command may run.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The notify command and the one run of it in flight.
#[derive(Debug)]
pub struct Notifier {
    argv: Vec<String>,
    timeout: Duration,
    running: Option<(Child, Instant, &'static str)>,
    queued: Option<&'static str>,
}

impl Notifier {
    /// Runs `argv` (`{state}` substituted in every word); empty: nothing is run.
    pub fn new(argv: Vec<String>) -> Self {
        Self {
            argv,
            timeout: NOTIFY_TIMEOUT,
            running: None,
            queued: None,
        }
    }

    /// The same with commands allowed `timeout` (tests).
    #[cfg(test)]
    fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The director entered `state` at `now`.
    pub fn notify(&mut self, state: &'static str, now: Instant) {
        if self.argv.is_empty() {
            return;
        }
        if self.running.is_some() {
            if let Some(old) = self.queued.replace(state) {
                crate::warn!("ha: notify for {old} skipped: {state} came before it could run");
            }
            return;
        }
        self.spawn(state, now);
    }

    /// Reap a finished command, kill one past its time, start the queued one.
    pub fn poll(&mut self, now: Instant) {
        if let Some((child, deadline, state)) = self.running.as_mut() {
            match child.try_wait() {
                Ok(None) if now < *deadline => return,
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    crate::warn!("ha: notify for {state} killed after {:?}", self.timeout);
                }
                Ok(Some(status)) if !status.success() => {
                    crate::warn!("ha: notify for {state} exited with {status}");
                }
                Ok(Some(_)) => {}
                Err(e) => crate::warn!("ha: notify for {state}: {e}"),
            }
            self.running = None;
        }
        if let Some(state) = self.queued.take() {
            self.spawn(state, now);
        }
    }

    /// True while a command runs.
    #[cfg(test)]
    fn busy(&self) -> bool {
        self.running.is_some()
    }

    fn spawn(&mut self, state: &'static str, now: Instant) {
        let Some((program, args)) = self.argv.split_first() else {
            return;
        };
        let args = args.iter().map(|a| a.replace("{state}", state));
        match Command::new(program.replace("{state}", state))
            .args(args)
            .stdin(Stdio::null())
            .spawn()
        {
            Ok(child) => self.running = Some((child, now + self.timeout, state)),
            Err(e) => crate::warn!("ha: notify {program}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rvs-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn poll_until(n: &mut Notifier, limit: Duration, done: impl Fn(&Notifier) -> bool) {
        let start = Instant::now();
        while !done(n) && start.elapsed() < limit {
            n.poll(Instant::now());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A command that outlives its time is killed and reaped; the next state still runs.
    #[test]
    fn a_command_past_its_time_is_killed() {
        let dir = scratch("kill");
        let log = dir.join("states");
        let script = format!("echo {{state}} >> {}; sleep 30", log.display());
        let mut n = Notifier::new(vec!["sh".into(), "-c".into(), script])
            .with_timeout(Duration::from_millis(200));
        let start = Instant::now();
        n.notify("master", start);
        assert!(n.busy());
        poll_until(&mut n, Duration::from_secs(10), |n| !n.busy());
        assert!(!n.busy(), "killed");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        n.notify("backup", Instant::now());
        poll_until(&mut n, Duration::from_secs(10), |n| !n.busy());
        let states = std::fs::read_to_string(&log).unwrap();
        assert_eq!(states, "master\nbackup\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Transitions while a command runs queue only the newest state: one process at a
    /// time, and the last state is always run.
    #[test]
    fn flapping_never_piles_up_commands() {
        let dir = scratch("flap");
        let log = dir.join("states");
        let script = format!(
            "echo start {{state}} >> {0}; sleep 0.3; echo end {{state}} >> {0}",
            log.display()
        );
        let mut n = Notifier::new(vec!["sh".into(), "-c".into(), script]);
        for state in ["master", "backup", "master", "backup"] {
            n.notify(state, Instant::now());
        }
        poll_until(&mut n, Duration::from_secs(10), |n| {
            !n.busy() && n.queued.is_none()
        });
        let states = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            states, "start master\nend master\nstart backup\nend backup\n",
            "one at a time, the newest queued"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
