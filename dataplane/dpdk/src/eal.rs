//! The Environment Abstraction Layer: init once per process, cleanup when the last
//! handle goes.

use std::ffi::{c_char, c_int, CString};
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{errno, strerror, Error, Result};
use crate::ffi;

/// Program name handed to the EAL as `argv[0]`.
const PROGRAM: &str = "rvs";

/// Set by the first `Eal::init` that reaches `rte_eal_init`.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// A handle on the initialised EAL. Clones share it; mempools, ports and rings keep
/// it alive, and the EAL is cleaned up when the last of them is dropped.
#[derive(Clone)]
pub struct Eal {
    pub(crate) guard: Arc<EalGuard>,
}

/// Runs `rte_eal_cleanup` on drop.
pub(crate) struct EalGuard {
    /// The argument strings: the EAL may keep pointers into them until cleanup.
    _args: Vec<CString>,
    main_lcore: u32,
}

impl Drop for EalGuard {
    fn drop(&mut self) {
        // Cleanup must run on the main lcore with every worker idle. When the last
        // handle goes elsewhere (a worker lcore, a foreign thread), the EAL is left
        // as it is, which is harmless at process exit.
        if crate::lcore::current() != Some(self.main_lcore) {
            return;
        }
        // SAFETY: called on the main lcore of an initialised EAL; waiting returns once
        // every worker is idle, and nothing refers to EAL memory any more: every
        // mempool, ring and port holds a clone of the Arc owning this guard, and a
        // mempool that still had mbufs out leaked its clone instead of dropping it.
        unsafe {
            ffi::rte_eal_mp_wait_lcore();
            ffi::rte_eal_cleanup();
        }
    }
}

impl Eal {
    /// Initialise the EAL with `args` (the EAL options, without a program name), on the
    /// calling thread, which becomes the main lcore.
    ///
    /// Fails when the EAL was initialised before in this process, when hugepages are
    /// needed (no `--no-huge`) but none are free, when `rte_eal_init` fails, or when
    /// fewer ethernet devices came up than `--vdev`/`-a` arguments name (a failed
    /// vdev probe does not fail `rte_eal_init`).
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let mut cstrings = Vec::with_capacity(args.len() + 1);
        for arg in std::iter::once(PROGRAM.to_owned()).chain(args.iter().cloned()) {
            cstrings.push(CString::new(arg.clone()).map_err(|_| Error::NulByte(arg))?);
        }
        if !args.iter().any(|a| a == "--no-huge") && free_hugepages() == 0 {
            return Err(Error::NoHugepages);
        }
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialised);
        }

        let mut argv: Vec<*mut c_char> = cstrings.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(argv.len()).map_err(|_| Error::EalInit {
            code: 0,
            reason: "too many arguments".to_owned(),
            args: args.join(" "),
        })?;
        // SAFETY: argv holds argc pointers to NUL-terminated strings owned by
        // `cstrings`, which the guard keeps until cleanup; the EAL may reorder the
        // pointer array (our own copy) but does not write through the pointers. The
        // INITIALISED flag makes this the only call in the process.
        let rc = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let code = errno();
            return Err(Error::EalInit {
                code,
                reason: strerror(code),
                args: args.join(" "),
            });
        }

        // Tables built from now on may take hugepages from the pool the EAL uses.
        crate::table_memory::prefer_hugetlb(!args.iter().any(|a| a == "--no-huge"));

        // SAFETY: the EAL is initialised; this reads its configuration.
        let main_lcore = unsafe { ffi::rte_get_main_lcore() };
        let eal = Eal {
            guard: Arc::new(EalGuard {
                _args: cstrings,
                main_lcore,
            }),
        };
        let expected = named_devices(&args);
        let found = eal.port_count();
        if usize::from(found) < expected {
            return Err(Error::DevicesMissing { expected, found });
        }
        Ok(eal)
    }

    /// Ethernet devices available (`rte_eth_dev_count_avail`).
    pub fn port_count(&self) -> u16 {
        // SAFETY: the EAL is initialised (self exists); reads ethdev state.
        unsafe { ffi::rte_eth_dev_count_avail() }
    }

    /// The main lcore: the thread that called [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        self.guard.main_lcore
    }

    /// The worker lcores enabled by `-l`/`--lcores`, in order, main lcore excluded.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        // SAFETY: the EAL is initialised; rte_get_next_lcore only reads its lcore table.
        let mut next = unsafe { ffi::rte_get_next_lcore(u32::MAX, 1, 0) };
        while next < ffi::RTE_MAX_LCORE {
            lcores.push(next);
            // SAFETY: as above.
            next = unsafe { ffi::rte_get_next_lcore(next, 1, 0) };
        }
        lcores
    }

    /// The NUMA socket of the calling thread (`rte_socket_id`).
    pub fn socket_id(&self) -> u32 {
        // SAFETY: the EAL is initialised; reads a thread-local value.
        unsafe { ffi::rte_socket_id() }
    }

    /// Timestamp counter ticks per second (`rte_get_tsc_hz`).
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised, so the TSC frequency has been measured.
        unsafe { ffi::rte_get_tsc_hz() }
    }
}

impl std::fmt::Debug for Eal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eal")
            .field("main_lcore", &self.guard.main_lcore)
            .finish()
    }
}

/// The timestamp counter now (`rte_rdtsc`); needs no EAL. Inline on x86-64 (the
/// workers read it every poll), through the shim elsewhere.
#[inline]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC exists on every x86-64 CPU; it reads the timestamp counter and
        // touches no memory.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: reads the CPU's timestamp counter; no memory is touched.
        unsafe { ffi::rvs_rdtsc() }
    }
}

/// Free hugepages of every size, from sysfs (0 when unreadable).
fn free_hugepages() -> u64 {
    let Ok(dir) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("free_hugepages")).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok())
        .sum()
}

/// Devices the EAL command line names explicitly (`--vdev`, `-a`, `--allow`).
fn named_devices(args: &[String]) -> usize {
    let mut count = 0;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--vdev" | "-a" | "--allow" if iter.next().is_some() => count += 1,
            a if a.starts_with("--vdev=") || a.starts_with("--allow=") => count += 1,
            a if a.starts_with("-a") && a.len() > 2 => count += 1,
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_named_devices() {
        let args: Vec<String> = [
            "-l",
            "0",
            "--vdev",
            "net_null0",
            "--vdev=net_ring0",
            "-a",
            "0000:03:00.0",
            "-a0000:04:00.0",
            "--no-huge",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(named_devices(&args), 4);
    }
}
