//! Worker lcores: run a Rust closure on one, wait for it.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::eal::Eal;
use crate::error::{strerror, Error, Result};
use crate::ffi;

/// What a worker lcore runs.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Returned by the trampoline when the closure panicked.
const PANICKED: c_int = -0x7276;

/// The lcore id of the calling thread, `None` on a thread the EAL does not know.
pub fn current() -> Option<u32> {
    // SAFETY: reads a thread-local integer; no preconditions.
    let id = unsafe { ffi::rvs_lcore_id() };
    (id != ffi::LCORE_ID_ANY).then_some(id)
}

/// Entry point handed to `rte_eal_remote_launch`.
unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the pointer `launch` made with Box::into_raw from a
    // Box<Job>; the EAL passes it to exactly one call of this function, so the box
    // is reclaimed exactly once.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // A panic must not unwind into C: catch it and report it through the return value.
    match catch_unwind(AssertUnwindSafe(move || (*job)())) {
        Ok(()) => 0,
        Err(_) => PANICKED,
    }
}

impl Eal {
    /// Refuse anything but an enabled worker lcore, called from the main lcore: DPDK
    /// indexes its lcore table with the id unchecked, and waits forever on the main
    /// lcore or on one the EAL never started.
    fn check_worker(&self, lcore: u32, call: &'static str) -> Result<()> {
        if current() != Some(self.main_lcore()) {
            return Err(Error::NotMainLcore(call));
        }
        if !self.worker_lcores().contains(&lcore) {
            return Err(Error::NotWorkerLcore(lcore));
        }
        Ok(())
    }

    /// Run `job` on the worker `lcore` (`rte_eal_remote_launch`). Call on the main lcore;
    /// `lcore` must be one of [`Eal::worker_lcores`] and idle (launched jobs finished
    /// and waited for).
    pub fn launch<F>(&self, lcore: u32, job: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.check_worker(lcore, "Eal::launch")?;
        let raw = Box::into_raw(Box::new(Box::new(job) as Job)).cast::<c_void>();
        // SAFETY: `trampoline` matches lcore_function_t and takes ownership of `raw`,
        // a leaked Box<Job> whose closure is Send + 'static, so running it on another
        // thread at any later time is sound. Called on the main lcore as required, for
        // an enabled worker lcore (checked).
        let rc = unsafe { ffi::rte_eal_remote_launch(Some(trampoline), raw, lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so the EAL never handed `raw` to the
            // trampoline; it is still ours, and is reclaimed once here.
            drop(unsafe { Box::from_raw(raw.cast::<Job>()) });
            return Err(Error::Launch {
                lcore,
                code: rc,
                reason: strerror(rc),
            });
        }
        Ok(())
    }

    /// Wait until the job on worker `lcore` has finished (`rte_eal_wait_lcore`).
    /// Returns at once when the worker is idle. Call on the main lcore, with one of
    /// [`Eal::worker_lcores`].
    pub fn wait(&self, lcore: u32) -> Result<()> {
        self.check_worker(lcore, "Eal::wait")?;
        // SAFETY: called on the main lcore of an initialised EAL, for an enabled
        // worker lcore (checked), whose table entry exists and whose thread runs.
        let rc = unsafe { ffi::rte_eal_wait_lcore(lcore) };
        if rc == PANICKED {
            return Err(Error::WorkerPanicked(lcore));
        }
        Ok(())
    }

    /// Wait for every worker lcore; the first panic found is reported after all
    /// have finished.
    pub fn wait_all(&self) -> Result<()> {
        let mut first = Ok(());
        for lcore in self.worker_lcores() {
            let r = self.wait(lcore);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}
