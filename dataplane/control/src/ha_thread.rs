//! VRRP on a thread of its own: it ticks the [`HaRunner`] every [`HA_POLL`] with the
//! running snapshot the control core publishes, and never takes the control core's
//! lock, so nothing the control core waits for (workers taking a change, listings, a
//! slow routing daemon) delays an advert. The runner sits behind a mutex of its own,
//! held only for one tick, so `rvsctl status` and the metrics read its state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use rvs_pipeline::snapshot::Snapshot;

use crate::ha::HaRunner;

/// How often the VRRP thread runs the machine and empties the received queue.
pub const HA_POLL: Duration = Duration::from_millis(5);

/// The VRRP runner, shared by its thread and the status readers.
pub type SharedRunner = Arc<Mutex<HaRunner>>;

/// The snapshot the workers run, as the control core publishes it.
pub type RunningSnapshot = Arc<ArcSwap<Snapshot>>;

/// The running VRRP thread.
pub struct HaThread {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl HaThread {
    /// Start ticking `runner` with the snapshot `running` holds.
    pub fn spawn(runner: SharedRunner, running: RunningSnapshot) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("rvs-vrrp".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    tick(&runner, &running);
                    std::thread::sleep(HA_POLL);
                }
                // A master's priority-0 advert: a backup takes over at once.
                lock(&runner).shutdown();
            })?;
        Ok(Self { stop, handle })
    }

    /// Stop: the thread sends a master's priority-0 advert (queued for the workers) and
    /// ends.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.handle.join().is_err() {
            crate::error!("ha: the VRRP thread panicked");
        }
    }
}

/// One tick of `runner` with the snapshot `running` holds.
pub fn tick(runner: &Mutex<HaRunner>, running: &ArcSwap<Snapshot>) {
    let snap = running.load_full();
    lock(runner).tick(&snap);
}

/// Lock the runner (a poisoned lock still holds a usable runner).
pub fn lock(runner: &Mutex<HaRunner>) -> std::sync::MutexGuard<'_, HaRunner> {
    runner.lock().unwrap_or_else(PoisonError::into_inner)
}
