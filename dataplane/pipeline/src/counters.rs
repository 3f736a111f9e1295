//! Per-worker counters: plain integers owned by one worker, summed on read.

use serde::Serialize;

use rvs_packet::drop::DropReason;

/// Packet and byte counts of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PacketBytes {
    /// Packets.
    pub packets: u64,
    /// Bytes (whole frames).
    pub bytes: u64,
}

impl PacketBytes {
    /// Count one frame of `len` bytes.
    #[inline]
    pub fn count(&mut self, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
    }

    fn add(&mut self, other: &PacketBytes) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Everything one worker counts. Aligned to a cache line so workers never share one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[repr(align(64))]
pub struct WorkerCounters {
    /// Frames received, all ports.
    pub rx: PacketBytes,
    /// Frames transmitted, all ports.
    pub tx: PacketBytes,
    /// Drops, indexed by [`DropReason::index`].
    pub drops: [u64; DropReason::ALL.len()],
    /// Connections created.
    pub conns_created: u64,
    /// Connections expired (timed out, or taken out by the three below).
    pub conns_expired: u64,
    /// Closing connections a new SYN on their tuple expired to be scheduled afresh
    /// (`conn_reuse_mode`).
    pub conns_reused: u64,
    /// Connections expired because their real was removed (`expire_nodest_conn`).
    pub nodest_expired: u64,
    /// Persistence templates given up because their real has weight 0
    /// (`expire_quiescent_template`).
    pub quiescent_templates_expired: u64,
    /// Embryonic connections evicted for new ones from a full table (`table_full_evict`).
    pub embryonic_evicted: u64,
    /// Packets handed to another worker because this one does not own them.
    pub redirected: u64,
    /// ARP replies and ICMP echo replies and neighbour advertisements sent.
    pub duties_answered: u64,
    /// ARP requests and neighbour solicitations sent.
    pub neighbor_requests: u64,
    /// Neighbours learned from replies.
    pub neighbors_learned: u64,
    /// ICMP errors the director sent itself (fragmentation needed / packet too big).
    pub icmp_sent: u64,
    /// Frames handed to the kernel exception path.
    pub kernel_sent: u64,
    /// Frames the kernel sent out through a port.
    pub kernel_received: u64,
    /// PROXY protocol headers sent toward reals (retransmissions included).
    pub proxy_headers_sent: u64,
    /// Client segments that carried the TOA option to a real.
    pub toa_added: u64,
    /// Client segments that went without the TOA option: no room in the options or MTU.
    pub toa_skipped: u64,
    /// SYN-ACKs with a cookie the SYN proxy made (answers to client SYNs).
    pub syn_cookies_sent: u64,
    /// ACKs with a valid cookie: connections the SYN proxy opened.
    pub syn_cookies_accepted: u64,
    /// Client segments the SYN proxy held until the real answered.
    pub synproxy_held: u64,
    /// Held client segments sent on after the real's handshake.
    pub synproxy_released: u64,
}

impl WorkerCounters {
    /// Count what giving a FULLNAT real the client's address did to a segment.
    #[inline]
    pub fn count_client_addr(&mut self, edit: crate::client_addr::Edit) {
        use crate::client_addr::Edit;
        match edit {
            Edit::Nothing => {}
            Edit::HeaderSent => self.proxy_headers_sent += 1,
            Edit::ToaAdded => self.toa_added += 1,
            Edit::ToaSkipped => self.toa_skipped += 1,
        }
    }

    /// Count a drop.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }

    /// Add `other` into `self` (summing workers on read).
    pub fn add(&mut self, other: &WorkerCounters) {
        self.rx.add(&other.rx);
        self.tx.add(&other.tx);
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
        self.conns_created += other.conns_created;
        self.conns_expired += other.conns_expired;
        self.conns_reused += other.conns_reused;
        self.nodest_expired += other.nodest_expired;
        self.quiescent_templates_expired += other.quiescent_templates_expired;
        self.embryonic_evicted += other.embryonic_evicted;
        self.redirected += other.redirected;
        self.duties_answered += other.duties_answered;
        self.neighbor_requests += other.neighbor_requests;
        self.neighbors_learned += other.neighbors_learned;
        self.icmp_sent += other.icmp_sent;
        self.kernel_sent += other.kernel_sent;
        self.kernel_received += other.kernel_received;
        self.proxy_headers_sent += other.proxy_headers_sent;
        self.toa_added += other.toa_added;
        self.toa_skipped += other.toa_skipped;
        self.syn_cookies_sent += other.syn_cookies_sent;
        self.syn_cookies_accepted += other.syn_cookies_accepted;
        self.synproxy_held += other.synproxy_held;
        self.synproxy_released += other.synproxy_released;
    }

    /// Total drops over all reasons.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// A JSON-friendly summary (drops by label, zero reasons left out).
    pub fn summary(&self) -> CounterSummary {
        CounterSummary {
            received: self.rx,
            transmitted: self.tx,
            dropped: DropReason::ALL
                .iter()
                .filter(|r| self.drops[r.index()] > 0)
                .map(|r| (r.label(), self.drops[r.index()]))
                .collect(),
            connections_created: self.conns_created,
            connections_expired: self.conns_expired,
            connections_reused: self.conns_reused,
            nodest_expired: self.nodest_expired,
            quiescent_templates_expired: self.quiescent_templates_expired,
            embryonic_evicted: self.embryonic_evicted,
            redirected: self.redirected,
            duties_answered: self.duties_answered,
            neighbor_requests: self.neighbor_requests,
            neighbors_learned: self.neighbors_learned,
            icmp_sent: self.icmp_sent,
            kernel_sent: self.kernel_sent,
            kernel_received: self.kernel_received,
            proxy_headers_sent: self.proxy_headers_sent,
            toa_added: self.toa_added,
            toa_skipped: self.toa_skipped,
            syn_cookies_sent: self.syn_cookies_sent,
            syn_cookies_accepted: self.syn_cookies_accepted,
            synproxy_held: self.synproxy_held,
            synproxy_released: self.synproxy_released,
        }
    }
}

/// The counters as printed at the end of a replay and served to the control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterSummary {
    /// Frames received.
    pub received: PacketBytes,
    /// Frames transmitted.
    pub transmitted: PacketBytes,
    /// Drops by reason label.
    pub dropped: std::collections::BTreeMap<&'static str, u64>,
    /// Connections created.
    pub connections_created: u64,
    /// Connections expired.
    pub connections_expired: u64,
    /// Closing connections replaced by a new SYN on their tuple (`conn_reuse_mode`).
    pub connections_reused: u64,
    /// Connections expired because their real was removed (`expire_nodest_conn`).
    pub nodest_expired: u64,
    /// Templates given up because their real has weight 0 (`expire_quiescent_template`).
    pub quiescent_templates_expired: u64,
    /// Embryonic connections evicted for new ones from a full table (`table_full_evict`).
    pub embryonic_evicted: u64,
    /// Packets handed between workers.
    pub redirected: u64,
    /// ARP/ND/echo answers sent.
    pub duties_answered: u64,
    /// ARP requests / neighbour solicitations sent.
    pub neighbor_requests: u64,
    /// Neighbours learned.
    pub neighbors_learned: u64,
    /// ICMP errors sent by the director itself.
    pub icmp_sent: u64,
    /// Frames handed to the kernel exception path.
    pub kernel_sent: u64,
    /// Frames the kernel sent out through a port.
    pub kernel_received: u64,
    /// PROXY protocol headers sent toward reals.
    pub proxy_headers_sent: u64,
    /// Client segments that carried the TOA option.
    pub toa_added: u64,
    /// Client segments that went without the TOA option (no room).
    pub toa_skipped: u64,
    /// SYN-ACKs with a cookie the SYN proxy made (answers to client SYNs).
    pub syn_cookies_sent: u64,
    /// Connections the SYN proxy opened on a valid cookie.
    pub syn_cookies_accepted: u64,
    /// Client segments the SYN proxy held until the real answered.
    pub synproxy_held: u64,
    /// Held client segments sent on after the real's handshake.
    pub synproxy_released: u64,
}

/// Counts of the live I/O layer (the pipeline counts the rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoCounters {
    /// Frames handed to their owner through a steering ring.
    pub redirected: u64,
    /// Copies of ARP replies / neighbour advertisements sent to the other workers.
    pub neighbor_copies: u64,
    /// Frames handed to the worker holding a port's transmit queue.
    pub tx_handoffs: u64,
    /// Frames the device refused to transmit (freed).
    pub tx_refused: u64,
    /// Frames dropped because a steering ring was full.
    pub ring_full: u64,
    /// Frames dropped because no mbuf was free (copies) or the headroom had no room for
    /// the steering tag.
    pub no_buffer: u64,
    /// Multi-segment frames the receive queues dropped.
    pub rx_chained: u64,
}

impl IoCounters {
    /// Add `other` into `self`.
    pub fn add(&mut self, other: &IoCounters) {
        self.redirected += other.redirected;
        self.neighbor_copies += other.neighbor_copies;
        self.tx_handoffs += other.tx_handoffs;
        self.tx_refused += other.tx_refused;
        self.ring_full += other.ring_full;
        self.no_buffer += other.no_buffer;
        self.rx_chained += other.rx_chained;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_sum_on_read() {
        let mut a = WorkerCounters::default();
        let mut b = WorkerCounters::default();
        a.rx.count(60);
        b.rx.count(100);
        a.drop(DropReason::NoService);
        b.drop(DropReason::NoService);
        b.drop(DropReason::Malformed);
        b.conns_created = 3;
        let mut total = WorkerCounters::default();
        total.add(&a);
        total.add(&b);
        assert_eq!(
            total.rx,
            PacketBytes {
                packets: 2,
                bytes: 160
            }
        );
        assert_eq!(total.dropped(), 3);
        let s = total.summary();
        assert_eq!(s.dropped.get("no_service"), Some(&2));
        assert_eq!(s.dropped.get("table_full"), None);
        assert_eq!(s.connections_created, 3);
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
    }
}
