//! Pools of packet mbufs.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::{Eal, EalGuard};
use crate::error::{errno, strerror, Error, Result};
use crate::ffi;
use crate::mbuf::{Mbuf, MAX_BURST};

/// Headroom DPDK keeps in front of received data (`RTE_PKTMBUF_HEADROOM`).
pub const HEADROOM: u16 = ffi::RTE_PKTMBUF_HEADROOM as u16;

/// Default data room per mbuf (`RTE_MBUF_DEFAULT_BUF_SIZE`: 2048 bytes plus headroom).
pub const DEFAULT_DATA_ROOM: u16 = ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// Largest per-lcore cache DPDK accepts, and the one we use for big pools.
const CACHE_MAX: u32 = 256;

/// The mempool handler every pool is created with: a ring safe for many producers and
/// many consumers, which the `Sync` of [`Mempool`] and the `Send` of [`Mbuf`] rely on.
/// Named explicitly so that `--mbuf-pool-ops-name` in the EAL arguments (say
/// `ring_sp_sc`) cannot swap in a handler that is unsafe to share between threads.
pub const POOL_OPS: &str = "ring_mp_mc";

/// A pool of packet mbufs (`rte_pktmbuf_pool_create_by_ops` with [`POOL_OPS`]). Clones
/// share the pool. Allocation and freeing are thread-safe.
///
/// A pool lives as long as the process (with the EAL under it): pools are made once at
/// start-up, and no moment is safe to free one, since a free of its last mbuf may still
/// be running on another thread when its count says every mbuf is back.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    ptr: NonNull<ffi::rte_mempool>,
    name: String,
    size: u32,
    eal: Arc<EalGuard>,
}

// SAFETY: the pool is created with the multi-producer, multi-consumer handler
// POOL_OPS (never the EAL's configurable default), so it may be used from any thread at
// once; PoolInner only holds its pointer, and the pool is never freed.
unsafe impl Send for PoolInner {}
// SAFETY: as above; every method takes &self and DPDK synchronises internally.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // Keep the pool, and the EAL under it, for the rest of the process: an mbuf
        // may be out, or be being freed right now on another thread (see `Mempool`).
        std::mem::forget(Arc::clone(&self.eal));
    }
}

impl Mempool {
    /// A pool of `count` mbufs with the default data room ([`DEFAULT_DATA_ROOM`]) on
    /// the calling thread's NUMA socket. `name` must be unique in the process.
    pub fn new(eal: &Eal, name: &str, count: u32) -> Result<Self> {
        Self::with_data_room(eal, name, count, DEFAULT_DATA_ROOM)
    }

    /// A pool of `count` mbufs of `data_room` bytes each (headroom included).
    pub fn with_data_room(eal: &Eal, name: &str, count: u32, data_room: u16) -> Result<Self> {
        let cname = CString::new(name).map_err(|_| Error::NulByte(name.to_owned()))?;
        let ops = CString::new(POOL_OPS).expect("no NUL in POOL_OPS");
        // DPDK refuses a cache larger than count / 1.5.
        let cache = CACHE_MAX.min(count / 2);
        // SAFETY: the EAL is initialised (`eal` exists); the name and the ops name are
        // valid C strings, which DPDK copies.
        let ptr = unsafe {
            ffi::rte_pktmbuf_pool_create_by_ops(
                cname.as_ptr(),
                count,
                cache,
                0,
                data_room,
                eal.socket_id() as i32,
                ops.as_ptr(),
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            let code = errno();
            Error::Mempool {
                name: name.to_owned(),
                code,
                reason: strerror(code),
            }
        })?;
        Ok(Self {
            inner: Arc::new(PoolInner {
                ptr,
                name: name.to_owned(),
                size: count,
                eal: Arc::clone(&eal.guard),
            }),
        })
    }

    /// One mbuf, empty, with the default headroom; `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is alive while self exists.
        let m = unsafe { ffi::rvs_pktmbuf_alloc(self.inner.ptr.as_ptr()) };
        // SAFETY: a non-null result is a fresh single-segment mbuf that nobody else
        // refers to; its pool outlives it (see PoolInner::drop).
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Append `n` fresh mbufs to `out`, all or none.
    pub fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> Result<()> {
        let start = out.len();
        out.reserve(n);
        let mut raw = [std::ptr::null_mut::<ffi::rte_mbuf>(); MAX_BURST];
        let mut left = n;
        while left > 0 {
            let chunk = left.min(MAX_BURST);
            // SAFETY: `raw` has room for `chunk` (<= MAX_BURST) pointers; the pool is alive.
            let rc = unsafe {
                ffi::rvs_pktmbuf_alloc_bulk(self.inner.ptr.as_ptr(), raw.as_mut_ptr(), chunk as u32)
            };
            if rc != 0 {
                out.truncate(start);
                return Err(Error::OutOfMbufs(self.inner.name.clone()));
            }
            for &m in &raw[..chunk] {
                // SAFETY: on success the first `chunk` entries are fresh, non-null
                // mbufs owned by nobody else; their pool outlives them.
                out.push(unsafe { Mbuf::from_raw(NonNull::new_unchecked(m)) });
            }
            left -= chunk;
        }
        Ok(())
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Mbufs in the pool.
    pub fn capacity(&self) -> u32 {
        self.inner.size
    }

    /// Mbufs free (in the pool or in a per-lcore cache).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive; this reads counters.
        unsafe { ffi::rte_mempool_avail_count(self.inner.ptr.as_ptr()) }
    }

    /// Mbufs allocated and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as in `available`.
        unsafe { ffi::rte_mempool_in_use_count(self.inner.ptr.as_ptr()) }
    }

    /// The name of the handler the pool was created with (always [`POOL_OPS`]).
    pub fn ops_name(&self) -> String {
        // SAFETY: the pool is alive; DPDK returns the NUL-terminated name held in its
        // static table of handlers.
        let name = unsafe { std::ffi::CStr::from_ptr(ffi::rvs_mempool_ops_name(self.as_ptr())) };
        name.to_string_lossy().into_owned()
    }

    /// The raw pool, for queue setup.
    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.size)
            .finish()
    }
}
