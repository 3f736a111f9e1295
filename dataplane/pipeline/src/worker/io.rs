//! The worker's I/O glue: the [`Io`] it sends through, and the last steps of every frame
//! it sends (next-hop resolution, MAC addresses, transmit counts).

use crate::neigh::Resolution;
use crate::route::RouteHit;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite;
use rvs_packet::wire::MacAddr;

use super::{next_hop, Worker};

/// Where a worker sends frames and takes fresh buffers from.
pub trait Io {
    /// The buffer type of this I/O.
    type Buf: PacketBuf;
    /// A fresh, empty buffer (headroom reserved), or `None` when the pool is dry.
    fn alloc(&mut self) -> Option<Self::Buf>;
    /// Queue `buf` for transmission on `port`.
    fn send(&mut self, port: PortId, buf: Self::Buf);
    /// Hand `buf`, received on `port`, to worker `to`, which processes it as received
    /// (a fragment of a datagram whose flow that worker owns). An I/O of one worker
    /// never has to: the default drops the frame.
    fn hand_over(&mut self, to: u16, port: PortId, buf: Self::Buf) {
        let _ = (to, port, buf);
    }
}

/// An [`Io`] that keeps every frame the worker sends, with fresh heap buffers: tests
/// drive a worker with it and look at what came out.
#[derive(Debug, Default)]
pub struct CollectIo {
    /// The frames sent, in order, with their port.
    pub sent: Vec<(PortId, rvs_packet::packet::HeapBuf)>,
    /// The frames handed to other workers, in order: (worker, port received on, frame).
    pub handed: Vec<(u16, PortId, rvs_packet::packet::HeapBuf)>,
}

impl Io for CollectIo {
    type Buf = rvs_packet::packet::HeapBuf;

    fn alloc(&mut self) -> Option<Self::Buf> {
        Some(rvs_packet::packet::HeapBuf::new())
    }

    fn send(&mut self, port: PortId, buf: Self::Buf) {
        self.sent.push((port, buf));
    }

    fn hand_over(&mut self, to: u16, port: PortId, buf: Self::Buf) {
        self.handed.push((to, port, buf));
    }
}

impl<B: PacketBuf> Worker<B> {
    /// Send a finished frame to a known next hop.
    pub(super) fn send_to<I: Io<Buf = B>>(&mut self, hop: next_hop::Hop, mut buf: B, io: &mut I) {
        let src_mac = self.snap.port(hop.port).mac;
        rewrite::set_macs(buf.data_mut(), MacAddr(src_mac), MacAddr(hop.mac));
        self.send(hop.port, buf, io);
    }

    /// Resolve the next hop and send (returning the neighbour's MAC), or park the frame
    /// until the neighbour answers (`None`).
    pub(super) fn transmit<I: Io<Buf = B>>(
        &mut self,
        hit: RouteHit,
        buf: B,
        now_ms: u64,
        io: &mut I,
    ) -> Result<Option<[u8; 6]>, DropReason> {
        match self.neigh.resolve(hit.port, hit.next_hop, buf, now_ms) {
            Resolution::Ready(mac, buf) => {
                self.send_to(
                    next_hop::Hop {
                        port: hit.port,
                        mac,
                    },
                    buf,
                    io,
                );
                Ok(Some(mac))
            }
            Resolution::Queued { request } => {
                if request {
                    self.solicit(hit.port, hit.next_hop, io);
                }
                Ok(None)
            }
            Resolution::Full(_) => Err(DropReason::NeighborQueueFull),
            Resolution::Unresolved(_) => Err(DropReason::NeighborUnresolved),
        }
    }

    /// Count and hand a finished frame to the I/O.
    pub(super) fn send<I: Io<Buf = B>>(&mut self, port: PortId, buf: B, io: &mut I) {
        self.counters.tx.count(buf.len());
        io.send(port, buf);
    }

    /// Count a received frame too large for any buffer (dropped as malformed).
    pub fn count_oversize(&mut self, len: usize) {
        self.counters.rx.count(len);
        self.counters.drop(DropReason::Malformed);
    }
}
