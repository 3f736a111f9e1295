//! The crate's error type.

use std::ffi::CStr;

use crate::ffi;

/// What went wrong in the DPDK layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `Eal::init` was called a second time; DPDK initialises once per process.
    #[error(
        "the DPDK EAL was already initialised in this process (it can be initialised only once)"
    )]
    AlreadyInitialised,
    /// A string handed to DPDK contains a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    NulByte(String),
    /// The EAL needs hugepages and none are free.
    #[error(
        "no free hugepages: reserve some with `hugepage-setup` (or `echo 256 > /proc/sys/vm/nr_hugepages`), \
         or run without them by passing --no-huge --no-shconf to the EAL"
    )]
    NoHugepages,
    /// `rte_eal_init` failed.
    #[error("DPDK EAL init failed: {reason} (rte_errno {code}); EAL arguments: {args}")]
    EalInit {
        /// `rte_errno`.
        code: i32,
        /// `rte_strerror(rte_errno)`.
        reason: String,
        /// The EAL command line, for the operator.
        args: String,
    },
    /// The EAL started but some devices named on its command line were not probed.
    #[error(
        "DPDK probed {found} ethernet device(s) but the EAL arguments name {expected} \
         (--vdev/-a); see the EAL log for the device that failed"
    )]
    DevicesMissing {
        /// Devices named by `--vdev`, `-a` or `--allow`.
        expected: usize,
        /// `rte_eth_dev_count_avail()` after init.
        found: u16,
    },
    /// A call that must run on the main lcore ran on another thread.
    #[error("{0} must be called on the main lcore (the thread that initialised the EAL)")]
    NotMainLcore(&'static str),
    /// The lcore is not one of the EAL's enabled worker lcores (the main lcore, a
    /// disabled one, or past `RTE_MAX_LCORE`).
    #[error("lcore {0} is not an enabled worker lcore")]
    NotWorkerLcore(u32),
    /// Creating a mempool failed.
    #[error("creating mempool {name:?} failed: {reason} ({code})")]
    Mempool {
        /// The pool's name.
        name: String,
        /// `rte_errno`.
        code: i32,
        /// `rte_strerror(rte_errno)`.
        reason: String,
    },
    /// The mempool has no free mbufs.
    #[error("mempool {0:?} is out of mbufs")]
    OutOfMbufs(String),
    /// No ethernet device matches the name, and probing the device string failed.
    #[error("no DPDK ethernet device {device:?}: {reason} ({code})")]
    PortNotFound {
        /// The device string (vdev string or PCI address).
        device: String,
        /// The error code of the probe.
        code: i32,
        /// Its description.
        reason: String,
    },
    /// The device cannot take the MTU asked for.
    #[error("port {port:?}: the device takes an MTU from {min} to {max}, not {mtu}")]
    Mtu {
        /// The port's device name.
        port: String,
        /// The MTU asked for.
        mtu: u16,
        /// The device's smallest MTU.
        min: u16,
        /// The device's largest MTU.
        max: u16,
    },
    /// The device is already open through another `Port`.
    #[error("DPDK device {0:?} is already open")]
    PortInUse(String),
    /// An ethdev call failed.
    #[error("{op} on port {port:?} failed: {reason} ({code})")]
    Port {
        /// The port's device name.
        port: String,
        /// The DPDK call.
        op: &'static str,
        /// The negative return value or `rte_errno`.
        code: i32,
        /// Its description.
        reason: String,
    },
    /// An RSS key whose length is not the device's key size (a PMD may read its own
    /// size from the key, whatever length it is given).
    #[error("port {port:?}: an RSS key of {given} bytes, the device takes {device}")]
    RssKeyLength {
        /// The port's device name.
        port: String,
        /// The key's length.
        given: usize,
        /// The device's key size (`hash_key_size`; 0: it does not say, so no key fits).
        device: u8,
    },
    /// The queue index is beyond the port's configured queues.
    #[error("port {port:?} has no {dir} queue {queue}")]
    NoSuchQueue {
        /// The port's device name.
        port: String,
        /// "rx" or "tx".
        dir: &'static str,
        /// The queue asked for.
        queue: u16,
    },
    /// The queue's handle is already held elsewhere.
    #[error("{dir} queue {queue} of port {port:?} is already taken")]
    QueueTaken {
        /// The port's device name.
        port: String,
        /// "rx" or "tx".
        dir: &'static str,
        /// The queue asked for.
        queue: u16,
    },
    /// The port cannot start or stop while queue handles are held (a worker may be
    /// polling them).
    #[error(
        "port {0:?} cannot start or stop while its queue handles are held (take the queues \
         after starting; drop them before stopping)"
    )]
    QueuesInUse(String),
    /// Creating a ring failed.
    #[error("creating ring {name:?} failed: {reason} ({code})")]
    Ring {
        /// The ring's name.
        name: String,
        /// `rte_errno`.
        code: i32,
        /// Its description.
        reason: String,
    },
    /// Launching a function on a worker lcore failed.
    #[error("launching on lcore {lcore} failed: {reason} ({code})")]
    Launch {
        /// The worker lcore.
        lcore: u32,
        /// The negative return value.
        code: i32,
        /// Its description.
        reason: String,
    },
    /// The function run on a worker lcore panicked.
    #[error("the function on lcore {0} panicked")]
    WorkerPanicked(u32),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `rte_strerror(code)` for a positive or negative error code.
pub(crate) fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a pointer to a NUL-terminated
    // string, either static or in thread-local storage, valid until the next call on
    // this thread; it is copied out at once.
    unsafe { CStr::from_ptr(ffi::rte_strerror(code.abs())) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's `rte_errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { ffi::rvs_errno() }
}
