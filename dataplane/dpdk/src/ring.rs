//! Single-producer single-consumer rings of mbufs, for steering packets between workers,
//! and ethernet devices over such rings (for tests and benchmarks without a NIC).

use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::{Eal, EalGuard};
use crate::error::{errno, strerror, Error, Result};
use crate::ffi;
use crate::mbuf::{Mbuf, MAX_BURST};

struct RingInner {
    ptr: NonNull<ffi::rte_ring>,
    name: String,
    _eal: Arc<EalGuard>,
}

// SAFETY: the ring is used through exactly one Producer and one Consumer, each of
// which needs &mut for its operation; the remaining functions (count, free) are safe
// from any thread alongside them.
unsafe impl Send for RingInner {}
// SAFETY: as above.
unsafe impl Sync for RingInner {}

impl Drop for RingInner {
    fn drop(&mut self) {
        let mut raw = [std::ptr::null_mut::<c_void>(); MAX_BURST];
        loop {
            // SAFETY: both ends are gone (this is the last Arc), so this thread is the
            // only consumer; `raw` has room for MAX_BURST pointers.
            let n = unsafe {
                ffi::rvs_ring_sc_dequeue_burst(
                    self.ptr.as_ptr(),
                    raw.as_mut_ptr(),
                    MAX_BURST as u32,
                )
            } as usize;
            if n == 0 {
                break;
            }
            for &m in &raw[..n] {
                // SAFETY: only Producer puts pointers in the ring, each from an owned
                // Mbuf it gave up; taking them back frees each once.
                drop(unsafe { Mbuf::from_raw(NonNull::new_unchecked(m.cast())) });
            }
        }
        // SAFETY: the ring is empty and nothing refers to it any more.
        unsafe { ffi::rte_ring_free(self.ptr.as_ptr()) };
    }
}

/// The sending end of an SPSC mbuf ring.
pub struct Producer {
    ring: Arc<RingInner>,
}

/// The receiving end of an SPSC mbuf ring.
pub struct Consumer {
    ring: Arc<RingInner>,
}

/// Create an SPSC ring holding up to `capacity` mbufs; `name` must be unique in the
/// process (DPDK keeps at most 29 bytes of it).
pub fn spsc(eal: &Eal, name: &str, capacity: u32) -> Result<(Producer, Consumer)> {
    let cname = CString::new(name).map_err(|_| Error::NulByte(name.to_owned()))?;
    let flags = ffi::RING_F_SP_ENQ | ffi::RING_F_SC_DEQ | ffi::RING_F_EXACT_SZ;
    // SAFETY: the EAL is initialised (`eal` exists); the name is a valid C string that
    // DPDK copies.
    let ptr =
        unsafe { ffi::rte_ring_create(cname.as_ptr(), capacity, eal.socket_id() as i32, flags) };
    let ptr = NonNull::new(ptr).ok_or_else(|| {
        let code = errno();
        Error::Ring {
            name: name.to_owned(),
            code,
            reason: strerror(code),
        }
    })?;
    let ring = Arc::new(RingInner {
        ptr,
        name: name.to_owned(),
        _eal: Arc::clone(&eal.guard),
    });
    Ok((
        Producer {
            ring: Arc::clone(&ring),
        },
        Consumer { ring },
    ))
}

impl Producer {
    /// Move mbufs from the front of `pkts` into the ring, as many as fit (at most
    /// [`MAX_BURST`]); returns how many moved. The rest stay in `pkts`.
    pub fn enqueue_burst(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let n = pkts.len().min(MAX_BURST);
        let mut raw = [std::ptr::null_mut::<c_void>(); MAX_BURST];
        for (slot, m) in raw.iter_mut().zip(pkts.iter()) {
            *slot = m.as_ptr().cast();
        }
        // SAFETY: `raw` holds n valid mbuf pointers; &mut self makes this the only
        // producer. The ring takes the first `sent` of them.
        let sent = unsafe {
            ffi::rvs_ring_sp_enqueue_burst(self.ring.ptr.as_ptr(), raw.as_ptr(), n as u32)
        } as usize;
        for m in pkts.drain(..sent) {
            // Ownership went into the ring.
            m.into_raw();
        }
        sent
    }
}

impl Consumer {
    /// Move up to `max` (at most [`MAX_BURST`]) mbufs from the ring to the end of
    /// `out`; returns how many moved.
    pub fn dequeue_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let mut raw = [std::ptr::null_mut::<c_void>(); MAX_BURST];
        let max = max.min(MAX_BURST);
        // SAFETY: `raw` has room for `max` pointers; &mut self makes this the only consumer.
        let n = unsafe {
            ffi::rvs_ring_sc_dequeue_burst(self.ring.ptr.as_ptr(), raw.as_mut_ptr(), max as u32)
        } as usize;
        out.reserve(n);
        for &m in &raw[..n] {
            // SAFETY: the producer put only pointers of owned mbufs it gave up; each is
            // dequeued once, so ownership passes to exactly one Mbuf.
            out.push(unsafe { Mbuf::from_raw(NonNull::new_unchecked(m.cast())) });
        }
        n
    }
}

/// What both ends of a ring answer alike.
macro_rules! ring_end {
    ($($end:ident),+) => {$(
        impl $end {
            /// Mbufs waiting in the ring.
            pub fn len(&self) -> usize {
                // SAFETY: the ring is alive (this end holds it); rte_ring_count only
                // reads its head and tail indices.
                unsafe { ffi::rvs_ring_count(self.ring.ptr.as_ptr()) as usize }
            }

            /// True when the ring is empty.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The ring's name.
            pub fn name(&self) -> &str {
                &self.ring.name
            }
        }
    )+};
}

ring_end!(Producer, Consumer);

/// The ends of a ring device's queue that the program holds: what it puts in `rx` the
/// device receives on that queue; what the device transmits on that queue arrives in `tx`.
pub struct DeviceQueue {
    /// Frames put here are received on the queue.
    pub rx: Producer,
    /// Frames transmitted on the queue arrive here.
    pub tx: Consumer,
}

/// Create an ethernet device named `net_ring_{name}` (the driver adds the prefix) with
/// `queues` receive and transmit queues, each over its own SPSC ring of `capacity`
/// mbufs, and return the device's name and the program's end of each queue. Unlike a
/// `net_ring` vdev, whose queues loop back, the program sits between transmit and
/// receive.
///
/// The device exists until the process ends (DPDK has no call that destroys it while
/// leaving the rings to their owner), so its ends of the rings are kept as long.
pub fn device(
    eal: &Eal,
    name: &str,
    queues: u16,
    capacity: u32,
) -> Result<(String, Vec<DeviceQueue>)> {
    let cname = CString::new(name).map_err(|_| Error::NulByte(name.to_owned()))?;
    let mut ours = Vec::with_capacity(usize::from(queues));
    let (mut rx_ptrs, mut tx_ptrs) = (Vec::new(), Vec::new());
    for q in 0..queues {
        let (rx, device_rx) = spsc(eal, &format!("{name}_rx{q}"), capacity)?;
        let (device_tx, tx) = spsc(eal, &format!("{name}_tx{q}"), capacity)?;
        rx_ptrs.push(device_rx.ring.ptr.as_ptr());
        tx_ptrs.push(device_tx.ring.ptr.as_ptr());
        // The device's ends: never dropped, so the rings outlive the device.
        std::mem::forget(device_rx);
        std::mem::forget(device_tx);
        ours.push(DeviceQueue { rx, tx });
    }
    let n = u32::from(queues);
    // SAFETY: the EAL is initialised; the name is a valid C string DPDK copies; the two
    // arrays hold `n` valid rings each, which stay allocated for the rest of the process
    // (their device-side ends were forgotten above). The device receives from each rx
    // ring (its only consumer) and transmits into each tx ring (its only producer).
    let id = unsafe {
        ffi::rte_eth_from_rings(
            cname.as_ptr(),
            rx_ptrs.as_ptr(),
            n,
            tx_ptrs.as_ptr(),
            n,
            eal.socket_id(),
        )
    };
    if id < 0 {
        let code = errno();
        return Err(Error::Ring {
            name: name.to_owned(),
            code,
            reason: strerror(code),
        });
    }
    Ok((format!("net_ring_{name}"), ours))
}
