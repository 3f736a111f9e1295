//! The bounded stop sequence: whatever hangs on the way (a routing daemon's reload, a
//! control request holding the lock, a device), a director told to stop is gone within
//! `[ctl] shutdown_timeout`.
//!
//! The control core stops first, on its own thread (it withdraws the announced routes,
//! which leave through the still running workers), and gets the bound less
//! [`RESERVE_PART`] of it; whatever of it is still running then is abandoned, each step
//! logged on its own line, and the workers and ports are stopped in order. A
//! [`Watchdog`] holds the whole bound: if the workers or a port do not stop either, it
//! names what is still running and ends the process with [`EXIT_STOP_TIMEOUT`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rvs_control::daemon::ControlCore;
use rvs_control::stopping::StopLog;

/// The exit status of a director that did not finish its stop sequence within the bound,
/// or abandoned part of it (`docs/config.md`, "Exit status of rvsd").
pub const EXIT_STOP_TIMEOUT: u8 = 3;

/// The part of the bound (1/`RESERVE_PART`) kept for the workers and the ports once the
/// control core had its time.
const RESERVE_PART: u32 = 4;

/// How often the watchdog looks at the stop flag before it is raised.
const FLAG_POLL: Duration = Duration::from_millis(10);

/// Ends the process if the stop sequence overruns its bound, counted from the moment the
/// stop flag went up (a control tick under way then is part of the stop).
pub struct Watchdog {
    disarm: Sender<()>,
    began: Arc<OnceLock<Instant>>,
}

impl Watchdog {
    /// Wait for `stop`, then watch `log` until `bound` from then: at the bound, log each
    /// step still running and exit with [`EXIT_STOP_TIMEOUT`].
    pub fn arm(log: &StopLog, stop: &Arc<AtomicBool>, bound: Duration) -> Self {
        let (disarm, disarmed) = mpsc::channel::<()>();
        let (log, stop) = (log.clone(), Arc::clone(stop));
        let began = Arc::new(OnceLock::new());
        let seen = Arc::clone(&began);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if !matches!(
                    disarmed.recv_timeout(FLAG_POLL),
                    Err(RecvTimeoutError::Timeout)
                ) {
                    return;
                }
            }
            let began = *seen.get_or_init(Instant::now);
            let left = bound.saturating_sub(began.elapsed());
            if let Err(RecvTimeoutError::Timeout) = disarmed.recv_timeout(left) {
                let unfinished = log.unfinished();
                if log.is_empty() {
                    // The stop never began: the control core was busy when the signal
                    // came (a reload, a VRRP or health tick).
                    abandon(&[(
                        "the control core's work under way when the stop was asked for".to_owned(),
                        began.elapsed(),
                    )]);
                }
                abandon(&unfinished);
                rvs_control::error!(
                    "stop: not done within shutdown_timeout ({:.1} s): exiting with status {EXIT_STOP_TIMEOUT}",
                    bound.as_secs_f64()
                );
                std::process::exit(i32::from(EXIT_STOP_TIMEOUT));
            }
        });
        Self { disarm, began }
    }

    /// When the stop began: when the watchdog saw the flag, or now.
    pub fn began(&self) -> Instant {
        *self.began.get_or_init(Instant::now)
    }

    /// The stop sequence finished: stand down.
    pub fn disarm(self) {
        let _ = self.disarm.send(());
    }
}

/// Stop `core` on its own thread and wait for it until its share of `bound` (counted
/// from `began`) has passed; what of it still runs then is logged as abandoned, one line
/// each (and stays in `log` as unfinished). Returns the failures: a stop that panicked,
/// or what the control core could not do (a withdrawal not confirmed), each logged.
pub fn stop_core(core: ControlCore, log: &StopLog, began: Instant, bound: Duration) -> Vec<String> {
    let share = bound - bound / RESERVE_PART;
    let (done, finished) = mpsc::channel::<Vec<String>>();
    let steps = log.clone();
    let deadline = began + share;
    std::thread::spawn(move || {
        let failed = core.stop(&steps, deadline);
        let _ = done.send(failed);
    });
    let left = share.saturating_sub(began.elapsed());
    match finished.recv_timeout(left) {
        Ok(failed) => {
            for what in &failed {
                rvs_control::warn!("stop: failed: {what}");
            }
            failed
        }
        Err(RecvTimeoutError::Disconnected) => {
            let what = "stopping the control core (it panicked)".to_owned();
            rvs_control::warn!("stop: failed: {what}");
            vec![what]
        }
        Err(RecvTimeoutError::Timeout) => {
            abandon(&log.unfinished());
            Vec::new()
        }
    }
}

/// One line per step given up.
fn abandon(steps: &[(String, Duration)]) {
    for (what, ran) in steps {
        rvs_control::warn!("stop: abandoned after {:.1} s: {what}", ran.as_secs_f64());
    }
}
