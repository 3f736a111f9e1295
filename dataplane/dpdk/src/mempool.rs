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

/// A pool of packet mbufs (`rte_pktmbuf_pool_create`). Clones share the pool; it is
/// freed when the last clone goes and every mbuf is back. Allocation is thread-safe.
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

// SAFETY: an rte_mempool created with the default (multi-producer, multi-consumer)
// handler may be used from any thread at once; PoolInner only holds its pointer.
unsafe impl Send for PoolInner {}
// SAFETY: as above; every method takes &self and DPDK synchronises internally.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool is alive (only this drop frees it); avail_count reads it.
        let available = unsafe { ffi::rte_mempool_avail_count(self.ptr.as_ptr()) };
        if available < self.size {
            // Mbufs are still out (held by an Mbuf, a ring or a device queue) and will
            // be returned to this pool: keep the pool, and the EAL under it, for the
            // rest of the process.
            std::mem::forget(Arc::clone(&self.eal));
            return;
        }
        // SAFETY: every object is back in the pool, no Mbuf refers to it, and no
        // other handle exists (this is the last Arc): nothing can touch it again.
        unsafe { ffi::rte_mempool_free(self.ptr.as_ptr()) };
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
        // DPDK refuses a cache larger than count / 1.5.
        let cache = CACHE_MAX.min(count / 2);
        // SAFETY: the EAL is initialised (`eal` exists) and the name is a valid C
        // string; DPDK copies it.
        let ptr = unsafe {
            ffi::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                count,
                cache,
                0,
                data_room,
                eal.socket_id() as i32,
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
