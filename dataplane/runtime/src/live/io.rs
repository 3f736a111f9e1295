//! A worker's I/O: buffers from the pool, transmit buffers per port, and outboxes to the
//! other workers' steering rings. Nothing here allocates after construction.
//!
//! A steering ring carries two kinds of frames, told apart by a 3-byte tag the sender
//! puts in the mbuf's headroom (in front of the frame) and the receiver strips:
//! - `RX`: a frame received on a port that the receiving worker owns (or a copy of an
//!   ARP reply / neighbour advertisement every worker must see): process it as received
//!   on that port;
//! - `TX`: a finished frame for a port whose transmit queue the receiving worker holds
//!   (the port has fewer transmit queues than there are workers): send it.

use rvs_dpdk::ring::Producer;
use rvs_dpdk::{Mbuf, Mempool, TxQueue};

use super::buf::MbufBuf;
use super::plan::BURST;
use rvs_config::PortId;
use rvs_pipeline::counters::IoCounters;
use rvs_pipeline::worker::Io;

/// Bytes of the steering tag.
const TAG_LEN: usize = 3;
const KIND_RX: u8 = 0x52;
const KIND_TX: u8 = 0x54;

/// What a frame in a steering ring is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Process it as received on this port.
    Rx(PortId),
    /// Transmit it on this port.
    Tx(PortId),
}

impl Tag {
    /// Put the tag in front of the frame; `false` when the headroom is too small.
    fn push(self, m: &mut Mbuf) -> bool {
        let (kind, port) = match self {
            Tag::Rx(p) => (KIND_RX, p),
            Tag::Tx(p) => (KIND_TX, p),
        };
        if m.prepend(TAG_LEN).is_err() {
            return false;
        }
        let [hi, lo] = port.0.to_be_bytes();
        m.data_mut()[..TAG_LEN].copy_from_slice(&[kind, hi, lo]);
        true
    }

    /// Take the tag off the front of a frame from a steering ring.
    pub fn pop(m: &mut Mbuf) -> Option<Tag> {
        let &[kind, hi, lo] = m.data().get(..TAG_LEN)? else {
            return None;
        };
        let port = PortId(u16::from_be_bytes([hi, lo]));
        let tag = match kind {
            KIND_RX => Tag::Rx(port),
            KIND_TX => Tag::Tx(port),
            _ => return None,
        };
        m.adj(TAG_LEN);
        Some(tag)
    }
}

/// How a worker transmits on one port.
pub enum PortTx {
    /// Through its own transmit queue, buffered until the end of the burst.
    Queue {
        /// The queue.
        queue: TxQueue,
        /// Frames waiting for the next flush.
        pending: Vec<Mbuf>,
    },
    /// Through the worker holding the port's queue.
    Handoff {
        /// That worker.
        holder: u16,
    },
}

impl PortTx {
    /// Transmit through `queue`.
    pub fn queue(queue: TxQueue) -> Self {
        PortTx::Queue {
            queue,
            pending: Vec::with_capacity(2 * BURST),
        }
    }
}

/// The sending end of the steering ring toward one other worker.
pub struct Outbox {
    ring: Producer,
    pending: Vec<Mbuf>,
}

impl Outbox {
    /// An outbox over `ring`.
    pub fn new(ring: Producer) -> Self {
        Self {
            ring,
            pending: Vec::with_capacity(2 * BURST),
        }
    }
}

/// One worker's [`Io`].
pub struct LiveIo {
    pool: Mempool,
    /// Indexed by [`PortId`].
    ports: Vec<PortTx>,
    /// Indexed by worker id; `None` for this worker itself.
    outboxes: Vec<Option<Outbox>>,
    /// What this layer counted.
    pub counters: IoCounters,
}

impl LiveIo {
    /// The I/O of a worker: `ports[p]` says how it transmits on port `p`, `outboxes[w]`
    /// leads to worker `w` (`None` for itself).
    pub fn new(pool: Mempool, ports: Vec<PortTx>, outboxes: Vec<Option<Outbox>>) -> Self {
        Self {
            pool,
            ports,
            outboxes,
            counters: IoCounters::default(),
        }
    }

    /// Hand `m` to worker `to` with `tag`.
    pub fn steer(&mut self, to: u16, tag: Tag, mut m: Mbuf) {
        let Some(Some(outbox)) = self.outboxes.get_mut(usize::from(to)) else {
            // No ring to that worker (it is this one): nothing sensible to do but drop.
            self.counters.ring_full += 1;
            return;
        };
        if !tag.push(&mut m) {
            self.counters.no_buffer += 1;
            return;
        }
        outbox.pending.push(m);
        if outbox.pending.len() >= BURST {
            self.counters.ring_full += flush_outbox(outbox);
        }
    }

    /// Send a copy of `frame`, received on `port`, to every other worker.
    pub fn copy_to_all(&mut self, port: PortId, frame: &[u8]) {
        for to in 0..self.outboxes.len() {
            if self.outboxes[to].is_none() {
                continue;
            }
            let Some(mut m) = self.pool.alloc() else {
                self.counters.no_buffer += 1;
                continue;
            };
            if m.set_frame(frame).is_err() {
                self.counters.no_buffer += 1;
                continue;
            }
            self.counters.neighbor_copies += 1;
            self.steer(to as u16, Tag::Rx(port), m);
        }
    }

    /// Queue a finished frame on `port`'s transmit queue, which this worker holds.
    pub fn transmit(&mut self, port: PortId, m: Mbuf) {
        match self.ports.get_mut(port.index()) {
            Some(PortTx::Queue { queue, pending }) => {
                pending.push(m);
                if pending.len() >= BURST {
                    self.counters.tx_refused += flush_queue(queue, pending);
                }
            }
            Some(&mut PortTx::Handoff { holder }) => {
                self.counters.tx_handoffs += 1;
                self.steer(holder, Tag::Tx(port), m);
            }
            None => self.counters.tx_refused += 1,
        }
    }

    /// Send everything buffered: the transmit queues and the outboxes.
    pub fn flush(&mut self) {
        for outbox in self.outboxes.iter_mut().flatten() {
            self.counters.ring_full += flush_outbox(outbox);
        }
        for port in &mut self.ports {
            if let PortTx::Queue { queue, pending } = port {
                self.counters.tx_refused += flush_queue(queue, pending);
            }
        }
    }
}

/// Transmit `pending`; returns how many the device refused (they are freed).
fn flush_queue(queue: &mut TxQueue, pending: &mut Vec<Mbuf>) -> u64 {
    while !pending.is_empty() {
        if queue.tx_burst(pending) == 0 {
            let refused = pending.len() as u64;
            pending.clear();
            return refused;
        }
    }
    0
}

/// Move `outbox`'s frames into its ring; returns how many did not fit (they are freed).
fn flush_outbox(outbox: &mut Outbox) -> u64 {
    while !outbox.pending.is_empty() {
        if outbox.ring.enqueue_burst(&mut outbox.pending) == 0 {
            let full = outbox.pending.len() as u64;
            outbox.pending.clear();
            return full;
        }
    }
    0
}

impl Io for LiveIo {
    type Buf = MbufBuf;

    #[inline]
    fn alloc(&mut self) -> Option<MbufBuf> {
        self.pool.alloc().map(MbufBuf)
    }

    #[inline]
    fn send(&mut self, port: PortId, buf: MbufBuf) {
        self.transmit(port, buf.0);
    }

    fn hand_over(&mut self, to: u16, port: PortId, buf: MbufBuf) {
        self.steer(to, Tag::Rx(port), buf.0);
    }
}

#[cfg(test)]
mod tests {
    use rvs_dpdk::{Eal, Port, PortConfig};

    use super::*;

    /// The only EAL of this test binary (DPDK initialises once per process). Needs DPDK's
    /// PMD plugins and root, as the DPDK layer's own tests do.
    #[test]
    fn a_full_transmit_queue_is_counted_and_recovered_from() {
        let args = [
            "-l",
            "0",
            "--no-huge",
            "--no-shconf",
            "--no-pci",
            "--no-telemetry",
            "-m",
            "128",
            "--vdev",
            "net_ring0",
        ];
        let eal = Eal::init(args).expect("DPDK EAL (run as root, with DPDK 22.11)");
        let pool = Mempool::new(&eal, "tx_full", 4095).expect("mempool");
        let port = Port::open(&eal, "net_ring0", &pool, &PortConfig::default()).expect("port");
        port.start().expect("start");
        // net_ring from --vdev uses one ring for rx and tx: what is sent waits to be read.
        let (mut rx, tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
        let mut io = LiveIo::new(pool.clone(), vec![PortTx::queue(tx)], vec![None]);
        let send = |io: &mut LiveIo, n: usize, first: u8| {
            for i in 0..n {
                let mut m = pool.alloc().expect("mbuf");
                m.set_frame(&[first.wrapping_add(i as u8); 60]).unwrap();
                io.transmit(PortId(0), m);
            }
            io.flush();
        };
        // Nobody reads the ring: it fills, and what does not fit is counted and freed.
        send(&mut io, 3000, 0);
        let refused = io.counters.tx_refused;
        let mut got = Vec::new();
        while rx.rx_burst(&mut got, 64) > 0 {}
        assert!(refused > 0, "the ring filled");
        assert_eq!(
            got.len() as u64 + refused,
            3000,
            "every frame sent or counted"
        );
        got.clear();
        assert_eq!(pool.in_use(), 0, "refused frames were freed");
        // Recovery: the ring drained, frames flow again, nothing more refused.
        send(&mut io, 32, 7);
        rx.rx_burst(&mut got, 64);
        assert_eq!(got.len(), 32);
        assert_eq!(got[0].data(), &[7; 60]);
        assert_eq!(io.counters.tx_refused, refused);
    }
}
