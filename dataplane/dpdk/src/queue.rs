//! Per-queue handles for the workers: burst receive and transmit.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::ffi;
use crate::mbuf::{Mbuf, MAX_BURST};
use crate::port::PortInner;

/// The receive side of one queue of a port. Exclusive (one per queue) and `Send`:
/// give it to the worker that polls it.
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
    chained: u64,
}

/// The transmit side of one queue of a port. Exclusive (one per queue) and `Send`.
pub struct TxQueue {
    port: Arc<PortInner>,
    queue: u16,
}

impl RxQueue {
    pub(crate) fn new(port: Arc<PortInner>, queue: u16) -> Self {
        Self {
            port,
            queue,
            chained: 0,
        }
    }

    /// Receive up to `max` (at most [`MAX_BURST`]) packets, appended to `out`;
    /// returns how many were appended. Multi-segment packets are dropped and counted
    /// in [`RxQueue::chained_drops`]. A stopped port receives nothing.
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let mut raw = [std::ptr::null_mut::<ffi::rte_mbuf>(); MAX_BURST];
        let max = max.min(MAX_BURST) as u16;
        // SAFETY: the port is configured with this queue, `raw` has room for `max`
        // pointers, and this handle is the only one polling the queue (&mut self,
        // one handle per queue).
        let n = usize::from(unsafe {
            ffi::rvs_eth_rx_burst(self.port.id, self.queue, raw.as_mut_ptr(), max)
        });
        out.reserve(n);
        let before = out.len();
        for &m in &raw[..n] {
            // SAFETY: rx_burst hands over n valid mbufs, each owned by us alone; the
            // receive pool outlives them (see PoolInner::drop).
            let m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(m)) };
            // SAFETY: reads the segment count of a valid mbuf.
            if unsafe { ffi::rvs_pktmbuf_is_contiguous(m.as_ptr()) } == 0 {
                self.chained += 1;
                continue;
            }
            out.push(m);
        }
        out.len() - before
    }

    /// Multi-segment packets received and dropped so far.
    pub fn chained_drops(&self) -> u64 {
        self.chained
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.port
            .rx_taken
            .fetch_and(!(1u64 << self.queue), Ordering::SeqCst);
    }
}

impl TxQueue {
    pub(crate) fn new(port: Arc<PortInner>, queue: u16) -> Self {
        Self { port, queue }
    }

    /// Send mbufs from the front of `pkts` (at most [`MAX_BURST`]); returns how many
    /// the device took. Those not taken stay in `pkts`, in order, to retry or drop.
    pub fn tx_burst(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let n = pkts.len().min(MAX_BURST);
        let mut raw = [std::ptr::null_mut::<ffi::rte_mbuf>(); MAX_BURST];
        for (slot, m) in raw.iter_mut().zip(pkts.iter()) {
            *slot = m.as_ptr();
        }
        // SAFETY: the port is configured with this queue, `raw` holds n valid owned
        // mbufs, and this handle is the only one using the queue. The device takes
        // ownership of the first `sent`.
        let sent = usize::from(unsafe {
            ffi::rvs_eth_tx_burst(self.port.id, self.queue, raw.as_mut_ptr(), n as u16)
        });
        for m in pkts.drain(..sent) {
            // Ownership went to the device, which frees the mbuf after sending.
            m.into_raw();
        }
        sent
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.port
            .tx_taken
            .fetch_and(!(1u64 << self.queue), Ordering::SeqCst);
    }
}
