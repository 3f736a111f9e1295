//! The per-worker neighbour table (ARP for IPv4, ND for IPv6): (port, address) -> MAC.
//!
//! Entries are static (from the configuration; never changed by learning), learned (an
//! answer arrived), pending (requests are going out; packets may be waiting) or failed
//! (a pending neighbour that did not answer in time, as Linux's FAILED). Packets
//! for a pending neighbour wait in one preallocated pool shared by all neighbours, with a
//! per-neighbour and a total limit; past either the packet is refused and counts as
//! [`DropReason::NeighborQueueFull`]. A pending neighbour is asked again every
//! [`NeighLimits::request_interval_ms`] from the periodic [`NeighTable::poll`], whether
//! or not more packets come for it, until it answers or
//! [`NeighLimits::pending_timeout_ms`] has passed: then it fails and its packets are
//! dropped. A request or an answer lost (say, in the moments after the director
//! started) thus costs one interval, not the waiting packets.
//!
//! A failed neighbour's packets are dropped at once ([`Resolution::Unresolved`], counted
//! as unresolved) until a request interval has passed since it failed: then the next
//! packet, request or watch makes it pending again; one left alone for
//! [`NeighLimits::failed_keep_ms`] is forgotten. Failed entries count in
//! [`NeighLimits::max_entries`]; when the table is full the oldest failed entry makes
//! room for a new neighbour. Each failure and each answer from a neighbour that had
//! failed goes into a small ring of recent events ([`NeighEvents`]) that the worker
//! publishes for the control core to log (workers never log).
//!
//! Learning only completes or refreshes entries the table already has: an unsolicited
//! answer creates nothing (as Linux with `arp_accept = 0`), so a flood of forged
//! answers cannot fill the table. Learned entries do not age; a new answer replaces the MAC.
//! [`NeighTable::needs_request`] and [`NeighTable::watch`] make a pending entry without a
//! packet: workers use them to resolve the next hops they will need before traffic comes.
//!
//! Nothing allocates after [`NeighTable::new`]: the entry map and the packet pool are
//! sized there, and packets leave through caller-supplied closures.

use std::net::IpAddr;

use hashbrown::HashMap;

use rvs_config::{NeighborConfig, PortId};
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;

/// Sizes and timers of a neighbour table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighLimits {
    /// Learned and pending entries (static ones come on top).
    pub max_entries: usize,
    /// Packets waiting for resolution, all neighbours together.
    pub queue_total: usize,
    /// Packets waiting for one neighbour.
    pub queue_per_neighbor: usize,
    /// Time between two requests for one unanswered neighbour.
    pub request_interval_ms: u64,
    /// A pending neighbour unanswered this long fails, its packets dropped.
    pub pending_timeout_ms: u64,
    /// A failed neighbour nothing made pending again for this long is forgotten.
    pub failed_keep_ms: u64,
}

impl Default for NeighLimits {
    /// 4096 entries; 1024 waiting packets, 16 per neighbour (Linux's `unres_qlen` order
    /// of magnitude); a request every 200 ms until answered, 3 s to answer (Linux: 3
    /// probes 1 s apart; more often here, so that one lost request or answer costs a
    /// waiting SYN 200 ms instead of a TCP retransmission); a failed neighbour is
    /// forgotten after a minute (Linux's `gc_stale_time` order of magnitude).
    fn default() -> Self {
        Self {
            max_entries: 4096,
            queue_total: 1024,
            queue_per_neighbor: 16,
            request_interval_ms: 200,
            pending_timeout_ms: 3000,
            failed_keep_ms: 60_000,
        }
    }
}

/// What the table knows about one neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighState {
    /// From the configuration.
    Static([u8; 6]),
    /// From an answer.
    Learned([u8; 6]),
    /// Waiting for an answer, with this many packets queued.
    Pending {
        /// Packets waiting.
        queued: usize,
    },
    /// Did not answer in time: packets for it are dropped until it is asked again.
    Failed,
}

impl NeighState {
    /// The MAC, when resolved.
    pub fn mac(self) -> Option<[u8; 6]> {
        match self {
            NeighState::Static(m) | NeighState::Learned(m) => Some(m),
            NeighState::Pending { .. } | NeighState::Failed => None,
        }
    }
}

/// Counters of a neighbour table (the pipeline exports them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighCounters {
    /// Packets refused because a queue was full or no entry was free.
    pub queue_full: u64,
    /// Packets dropped because their neighbour never answered (waiting at its
    /// deadline, or sent to it while it was failed).
    pub unresolved: u64,
    /// Pending entries that expired (became failed).
    pub expired: u64,
    /// Requests the caller was told to send.
    pub requests: u64,
}

/// The outcome of [`NeighTable::resolve`].
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution<B> {
    /// The MAC is known: send the packet now.
    Ready([u8; 6], B),
    /// The packet waits for the neighbour; send a request when `request` is true.
    Queued {
        /// True when a request is due (at most one per interval per neighbour).
        request: bool,
    },
    /// No room: drop the packet as [`DropReason::NeighborQueueFull`].
    Full(B),
    /// The neighbour failed less than a request interval ago: drop the packet as
    /// [`DropReason::NeighborUnresolved`].
    Unresolved(B),
}

impl<B> Resolution<B> {
    /// The drop reason of [`Resolution::Full`].
    pub const FULL_REASON: DropReason = DropReason::NeighborQueueFull;
    /// The drop reason of [`Resolution::Unresolved`].
    pub const UNRESOLVED_REASON: DropReason = DropReason::NeighborUnresolved;
}

/// Events a worker keeps for the control core's log.
pub const NEIGH_EVENTS: usize = 8;

/// One change of a neighbour worth a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEvent {
    /// The port the neighbour is on.
    pub port: PortId,
    /// Its address.
    pub ip: IpAddr,
    /// True when it failed (did not answer in time); false when it answered after failing.
    pub failed: bool,
}

/// The most recent [`NeighEvent`]s of one table, in a fixed ring (no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighEvents {
    ring: [Option<NeighEvent>; NEIGH_EVENTS],
    /// Events ever recorded; the newest is at `(total - 1) % NEIGH_EVENTS`.
    total: u64,
}

impl NeighEvents {
    /// Record `event`, overwriting the oldest when the ring is full.
    pub fn push(&mut self, event: NeighEvent) {
        self.ring[(self.total % NEIGH_EVENTS as u64) as usize] = Some(event);
        self.total += 1;
    }

    /// Events ever recorded (a reader remembers it to see only newer ones).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The events recorded after the first `seen`, oldest first: at most the last
    /// [`NEIGH_EVENTS`] (older ones were overwritten).
    pub fn since(&self, seen: u64) -> impl Iterator<Item = NeighEvent> + '_ {
        let first = seen.max(self.total.saturating_sub(NEIGH_EVENTS as u64));
        (first..self.total).filter_map(|i| self.ring[(i % NEIGH_EVENTS as u64) as usize])
    }
}

/// "No slot" in the packet pool's links.
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Static([u8; 6]),
    Learned([u8; 6]),
    Pending,
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    kind: Kind,
    /// When the entry became pending, or failed.
    since_ms: u64,
    /// True once it failed, until it answers (its answer is then an event).
    failed_before: bool,
    /// When the last request was due, if any.
    last_request_ms: Option<u64>,
    /// FIFO of waiting packets: first and last pool slot, and length.
    head: u32,
    tail: u32,
    queued: u32,
}

impl Entry {
    fn pending(now_ms: u64) -> Self {
        Self {
            kind: Kind::Pending,
            since_ms: now_ms,
            failed_before: false,
            last_request_ms: None,
            head: NIL,
            tail: NIL,
            queued: 0,
        }
    }
}

/// The pool of waiting packets: slots linked into per-neighbour FIFOs and a free list.
#[derive(Debug)]
struct Pool<B> {
    slots: Vec<Option<B>>,
    next: Vec<u32>,
    free: u32,
}

impl<B> Pool<B> {
    fn new(capacity: usize) -> Self {
        // The pool is indexed by u32 with NIL reserved.
        let capacity = capacity.min(NIL as usize);
        Self {
            slots: (0..capacity).map(|_| None).collect(),
            next: (1..=capacity)
                .map(|i| if i == capacity { NIL } else { i as u32 })
                .collect(),
            free: if capacity == 0 { NIL } else { 0 },
        }
    }

    /// Append `pkt` to `e`'s FIFO, or give it back when the pool is empty.
    fn push(&mut self, e: &mut Entry, pkt: B) -> Result<(), B> {
        let slot = self.free;
        if slot == NIL {
            return Err(pkt);
        }
        self.free = self.next[slot as usize];
        self.slots[slot as usize] = Some(pkt);
        self.next[slot as usize] = NIL;
        if e.tail == NIL {
            e.head = slot;
        } else {
            self.next[e.tail as usize] = slot;
        }
        e.tail = slot;
        e.queued += 1;
        Ok(())
    }

    /// Hand `e`'s packets to `out` in arrival order; returns how many.
    fn drain(&mut self, e: &mut Entry, mut out: impl FnMut(B)) -> usize {
        let mut n = 0;
        let mut slot = e.head;
        while slot != NIL {
            let i = slot as usize;
            slot = self.next[i];
            if let Some(pkt) = self.slots[i].take() {
                out(pkt);
                n += 1;
            }
            self.next[i] = self.free;
            self.free = i as u32;
        }
        (e.head, e.tail, e.queued) = (NIL, NIL, 0);
        n
    }
}

/// One worker's neighbour table, generic over the packet buffer.
#[derive(Debug)]
pub struct NeighTable<B: PacketBuf> {
    limits: NeighLimits,
    entries: HashMap<(PortId, IpAddr), Entry>,
    statics: usize,
    pool: Pool<B>,
    counters: NeighCounters,
    /// The earliest time [`poll`](Self::poll) has anything to do (a pending entry's
    /// request or deadline comes due, a failed entry is to be forgotten); `u64::MAX` with
    /// nothing pending or failed. Lets the periodic poll skip its scan of the table.
    next_poll_ms: u64,
    /// How many times a resolved neighbour's MAC changed (see [`changes`](Self::changes)).
    changes: u64,
    /// Failed entries in `entries`.
    failed: usize,
    /// Recent failures and recoveries, for the control core's log.
    events: NeighEvents,
}

impl<B: PacketBuf> NeighTable<B> {
    /// A table with the static entries `statics` and room for `limits`. Allocates here only.
    pub fn new(limits: NeighLimits, statics: &[NeighborConfig]) -> Self {
        let mut entries = HashMap::with_capacity(limits.max_entries.saturating_add(statics.len()));
        for s in statics {
            let mut e = Entry::pending(0);
            e.kind = Kind::Static(s.mac);
            entries.insert((s.port, s.ip), e);
        }
        Self {
            limits,
            statics: entries.len(),
            entries,
            pool: Pool::new(limits.queue_total),
            counters: NeighCounters::default(),
            next_poll_ms: u64::MAX,
            changes: 0,
            failed: 0,
            events: NeighEvents::default(),
        }
    }

    /// The MAC of `ip` on `port`, when resolved.
    pub fn lookup(&self, port: PortId, ip: IpAddr) -> Option<[u8; 6]> {
        match self.entries.get(&(port, ip))?.kind {
            Kind::Static(m) | Kind::Learned(m) => Some(m),
            Kind::Pending | Kind::Failed => None,
        }
    }

    /// Make sure `key` has a pending entry: created when there is room (the oldest failed entry
    /// gives way when the table is full), or made pending again from failed once a
    /// request interval has passed since it failed (the next poll then scans); the
    /// entry itself is [`pending_mut`](Self::pending_mut). `Err` with whether the
    /// neighbour failed too recently, when there is no pending entry: resolved, failed
    /// within the interval (`true`), or the table full (`false`).
    fn make_pending(&mut self, key: (PortId, IpAddr), now_ms: u64) -> Result<(), bool> {
        let max = self.max_entries();
        if self.entries.len() >= max && !self.entries.contains_key(&key) && !self.evict_failed() {
            return Err(false);
        }
        let interval = self.limits.request_interval_ms;
        let next_poll_ms = &mut self.next_poll_ms;
        let e = self.entries.entry(key).or_insert_with(|| {
            *next_poll_ms = 0;
            Entry::pending(now_ms)
        });
        match e.kind {
            Kind::Pending => Ok(()),
            Kind::Failed if now_ms >= e.since_ms.saturating_add(interval) => {
                self.failed -= 1;
                *next_poll_ms = 0;
                *e = Entry {
                    failed_before: true,
                    ..Entry::pending(now_ms)
                };
                Ok(())
            }
            Kind::Failed => Err(true),
            Kind::Static(_) | Kind::Learned(_) => Err(false),
        }
    }

    /// The pending entry [`make_pending`](Self::make_pending) made sure of.
    fn pending_mut(&mut self, key: (PortId, IpAddr)) -> Option<&mut Entry> {
        self.entries
            .get_mut(&key)
            .filter(|e| matches!(e.kind, Kind::Pending))
    }

    /// Remove the failed entry that failed first, if any, to make room: a scan of the
    /// table, only when it is full. True when one was removed.
    fn evict_failed(&mut self) -> bool {
        if self.failed == 0 {
            return false;
        }
        let oldest = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.kind, Kind::Failed))
            .min_by_key(|(_, e)| e.since_ms)
            .map(|(&k, _)| k);
        match oldest {
            Some(key) => {
                self.entries.remove(&key);
                self.failed -= 1;
                true
            }
            None => false,
        }
    }

    /// Most entries of every kind the table holds.
    fn max_entries(&self) -> usize {
        self.limits.max_entries.saturating_add(self.statics)
    }

    /// Whether to send a request for `ip` on `port` now: true for an unresolved neighbour
    /// at most once per [`NeighLimits::request_interval_ms`] (the first call is true).
    /// Creates the pending entry when there is room (or makes a failed one pending again
    /// after an interval); false when there is none.
    pub fn needs_request(&mut self, port: PortId, ip: IpAddr, now_ms: u64) -> bool {
        let interval = self.limits.request_interval_ms;
        if self.make_pending((port, ip), now_ms).is_err() {
            return false;
        }
        let Some(e) = self.pending_mut((port, ip)) else {
            return false;
        };
        let due = match e.last_request_ms {
            None => true,
            Some(last) => now_ms >= last.saturating_add(interval),
        };
        if due {
            e.last_request_ms = Some(now_ms);
            self.counters.requests += 1;
        }
        due
    }

    /// Wait for an answer about `ip` on `port` without asking now: a pending entry (made
    /// when there is room) as if asked at `now_ms`, so that an answer another worker
    /// asked for completes it and, without one, [`poll`](Self::poll) asks after an
    /// interval. Does nothing for a resolved or already pending neighbour, nor for one
    /// that failed less than an interval ago.
    pub fn watch(&mut self, port: PortId, ip: IpAddr, now_ms: u64) {
        if self.make_pending((port, ip), now_ms).is_ok() {
            if let Some(e) = self.pending_mut((port, ip)) {
                e.last_request_ms.get_or_insert(now_ms);
            }
        }
    }

    /// Send `pkt` toward `ip` on `port`: ready with the MAC, queued (with whether a request
    /// is due), refused when the neighbour's queue, the pool or the table is full, or
    /// dropped when the neighbour failed less than a request interval ago.
    pub fn resolve(&mut self, port: PortId, ip: IpAddr, pkt: B, now_ms: u64) -> Resolution<B> {
        if let Some(mac) = self.lookup(port, ip) {
            return Resolution::Ready(mac, pkt);
        }
        let per_neighbor = self.limits.queue_per_neighbor;
        match self.make_pending((port, ip), now_ms) {
            Ok(()) => {}
            Err(true) => {
                self.counters.unresolved += 1;
                return Resolution::Unresolved(pkt);
            }
            Err(false) => {
                self.counters.queue_full += 1;
                return Resolution::Full(pkt);
            }
        }
        let (pool, entries) = (&mut self.pool, &mut self.entries);
        let Some(e) = entries.get_mut(&(port, ip)) else {
            self.counters.queue_full += 1;
            return Resolution::Full(pkt);
        };
        if e.queued as usize >= per_neighbor {
            self.counters.queue_full += 1;
            return Resolution::Full(pkt);
        }
        if let Err(pkt) = pool.push(e, pkt) {
            self.counters.queue_full += 1;
            return Resolution::Full(pkt);
        }
        Resolution::Queued {
            request: self.needs_request(port, ip, now_ms),
        }
    }

    /// An answer says `ip` on `port` is at `mac`: a pending entry becomes learned and its
    /// waiting packets go to `out` in arrival order; a learned entry takes the new MAC; a
    /// failed entry becomes learned (nothing waits for it). An answer from a neighbour
    /// that had failed is an event. Static entries and unknown neighbours are left alone.
    /// Returns the packets handed out.
    pub fn learn(&mut self, port: PortId, ip: IpAddr, mac: [u8; 6], out: impl FnMut(B)) -> usize {
        let Some(e) = self.entries.get_mut(&(port, ip)) else {
            return 0;
        };
        match e.kind {
            Kind::Static(_) => 0,
            Kind::Learned(old) => {
                self.changes += u64::from(old != mac);
                e.kind = Kind::Learned(mac);
                0
            }
            Kind::Pending | Kind::Failed => {
                if matches!(e.kind, Kind::Failed) {
                    self.failed -= 1;
                }
                if e.failed_before || matches!(e.kind, Kind::Failed) {
                    e.failed_before = false;
                    self.events.push(NeighEvent {
                        port,
                        ip,
                        failed: false,
                    });
                }
                e.kind = Kind::Learned(mac);
                self.pool.drain(e, out)
            }
        }
    }

    /// The periodic work: fail pending neighbours unanswered for
    /// [`NeighLimits::pending_timeout_ms`] (an event each), their packets going to
    /// `dropped` (counted as unresolved); for every other pending neighbour whose last
    /// request is [`NeighLimits::request_interval_ms`] old, call `ask`, which sends a
    /// request now and says so (counted), or returns false to be asked at the next call;
    /// forget failed neighbours left alone for [`NeighLimits::failed_keep_ms`]. Scans the
    /// table only when one of these comes due (so a call every millisecond costs nothing
    /// meanwhile); never call it per packet. Returns the entries that failed.
    pub fn poll(
        &mut self,
        now_ms: u64,
        mut dropped: impl FnMut(B),
        mut ask: impl FnMut(PortId, IpAddr) -> bool,
    ) -> usize {
        let (timeout, interval, keep) = (
            self.limits.pending_timeout_ms,
            self.limits.request_interval_ms,
            self.limits.failed_keep_ms,
        );
        if now_ms < self.next_poll_ms {
            return 0;
        }
        let (pool, counters, events) = (&mut self.pool, &mut self.counters, &mut self.events);
        let mut next = u64::MAX;
        let (mut failed, mut forgotten) = (0, 0);
        self.entries.retain(|&(port, ip), e| {
            match e.kind {
                Kind::Pending => {}
                Kind::Failed => {
                    let until = e.since_ms.saturating_add(keep);
                    if now_ms >= until {
                        forgotten += 1;
                        return false;
                    }
                    next = next.min(until);
                    return true;
                }
                Kind::Static(_) | Kind::Learned(_) => return true,
            }
            let deadline = e.since_ms.saturating_add(timeout);
            if now_ms >= deadline {
                counters.unresolved += pool.drain(e, &mut dropped) as u64;
                (e.kind, e.since_ms, e.failed_before) = (Kind::Failed, now_ms, true);
                events.push(NeighEvent {
                    port,
                    ip,
                    failed: true,
                });
                failed += 1;
                next = next.min(now_ms.saturating_add(keep));
                return true;
            }
            let due = match e.last_request_ms {
                None => true,
                Some(last) => now_ms >= last.saturating_add(interval),
            };
            let asked = due && ask(port, ip);
            if asked {
                e.last_request_ms = Some(now_ms);
                counters.requests += 1;
            }
            let next_request = match e.last_request_ms {
                // Due but not asked (no room): at the next call.
                _ if due && !asked => now_ms,
                Some(last) => last.saturating_add(interval),
                None => now_ms,
            };
            next = next.min(deadline).min(next_request);
            true
        });
        self.next_poll_ms = next;
        self.failed = self.failed + failed - forgotten;
        counters.expired += failed as u64;
        failed
    }

    /// The most recent failures and recoveries (see [`NeighEvents`]).
    pub fn events(&self) -> &NeighEvents {
        &self.events
    }

    /// A count that moves whenever a MAC [`lookup`](Self::lookup) gave may no longer be
    /// right (a learned neighbour answered with another MAC; resolved entries are never
    /// removed): a MAC remembered with the count it was looked up at is still valid
    /// while the count has not moved.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Every entry with its state, in no particular order (for listings).
    pub fn iter(&self) -> impl Iterator<Item = (PortId, IpAddr, NeighState)> + '_ {
        self.entries.iter().map(|(&(port, ip), e)| {
            let state = match e.kind {
                Kind::Static(m) => NeighState::Static(m),
                Kind::Learned(m) => NeighState::Learned(m),
                Kind::Pending => NeighState::Pending {
                    queued: e.queued as usize,
                },
                Kind::Failed => NeighState::Failed,
            };
            (port, ip, state)
        })
    }

    /// Entries of every kind.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Packets waiting, all neighbours together.
    pub fn queued(&self) -> usize {
        self.entries.values().map(|e| e.queued as usize).sum()
    }

    /// The counters.
    pub fn counters(&self) -> NeighCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_packet::packet::HeapBuf;

    const P0: PortId = PortId(0);
    const P1: PortId = PortId(1);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pkt(tag: u8) -> HeapBuf {
        HeapBuf::from_frame(&[tag; 20]).unwrap()
    }

    fn limits(total: usize, per: usize, entries: usize) -> NeighLimits {
        NeighLimits {
            max_entries: entries,
            queue_total: total,
            queue_per_neighbor: per,
            ..NeighLimits::default()
        }
    }

    fn table(l: NeighLimits) -> NeighTable<HeapBuf> {
        let statics = [NeighborConfig {
            ip: ip("10.1.0.11"),
            mac: [2, 0, 0, 0, 1, 0x11],
            port: P1,
        }];
        NeighTable::new(l, &statics)
    }

    fn is_queued(r: &Resolution<HeapBuf>, request: bool) -> bool {
        matches!(r, Resolution::Queued { request: q } if *q == request)
    }

    #[test]
    fn static_entries_resolve_at_once_and_ignore_learning() {
        let mut t = table(NeighLimits::default());
        let target = ip("10.1.0.11");
        assert_eq!(t.lookup(P1, target), Some([2, 0, 0, 0, 1, 0x11]));
        assert_eq!(t.lookup(P0, target), None, "entries are per port");
        assert!(!t.needs_request(P1, target, 0));
        assert_eq!(t.learn(P1, target, MAC, |_| panic!()), 0);
        assert_eq!(t.lookup(P1, target), Some([2, 0, 0, 0, 1, 0x11]));
        match t.resolve(P1, target, pkt(1), 0) {
            Resolution::Ready(mac, p) => assert_eq!((mac, p.data()[0]), ([2, 0, 0, 0, 1, 0x11], 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn changes_move_only_when_a_resolved_mac_changes() {
        let mut t = table(NeighLimits::default());
        let (static_ip, gw) = (ip("10.1.0.11"), ip("10.0.0.254"));
        t.learn(P1, static_ip, MAC, |_| panic!());
        assert!(t.needs_request(P0, gw, 0));
        t.learn(P0, gw, MAC, |_| {});
        assert_eq!(t.changes(), 0, "pending to learned, statics untouched");
        t.learn(P0, gw, MAC, |_| {});
        assert_eq!(t.changes(), 0, "the same answer again");
        t.learn(P0, gw, [2, 0, 0, 0, 0, 0x77], |_| {});
        assert_eq!(t.changes(), 1);
        assert_eq!(t.lookup(P0, gw), Some([2, 0, 0, 0, 0, 0x77]));
    }

    #[test]
    fn waiting_packets_leave_in_order_when_the_neighbour_answers() {
        let mut t = table(NeighLimits::default());
        let n = ip("10.1.0.20");
        assert!(is_queued(&t.resolve(P1, n, pkt(1), 100), true));
        assert!(is_queued(&t.resolve(P1, n, pkt(2), 150), false));
        assert!(is_queued(&t.resolve(P1, n, pkt(3), 200), false));
        assert_eq!(t.queued(), 3);
        let mut out = Vec::with_capacity(16);
        assert_eq!(t.learn(P1, n, MAC, |p| out.push(p)), 3);
        let tags: Vec<u8> = out.iter().map(|p| p.data()[0]).collect();
        assert_eq!(tags, [1, 2, 3]);
        assert_eq!(t.lookup(P1, n), Some(MAC));
        assert_eq!(t.queued(), 0);
        // A learned entry takes a new MAC from a later answer.
        assert_eq!(t.learn(P1, n, [2, 0, 0, 0, 0, 0x43], |_| panic!()), 0);
        assert_eq!(t.lookup(P1, n), Some([2, 0, 0, 0, 0, 0x43]));
    }

    #[test]
    fn requests_are_rate_limited_per_neighbour() {
        let mut t = table(NeighLimits::default());
        let (a, b) = (ip("10.1.0.20"), ip("2001:db8::20"));
        assert!(t.needs_request(P0, a, 1000));
        assert!(!t.needs_request(P0, a, 1199));
        assert!(
            t.needs_request(P0, b, 1199),
            "another neighbour has its own budget"
        );
        assert!(t.needs_request(P0, a, 1200));
        assert!(!t.needs_request(P0, a, 1300));
        assert_eq!(t.counters().requests, 3);
        t.learn(P0, a, MAC, |_| {});
        assert!(
            !t.needs_request(P0, a, 9000),
            "resolved neighbours need no request"
        );
    }

    #[test]
    fn per_neighbour_and_total_limits_refuse_packets() {
        let mut t = table(limits(3, 2, 16));
        let (a, b) = (ip("10.1.0.20"), ip("10.1.0.21"));
        assert!(is_queued(&t.resolve(P0, a, pkt(1), 0), true));
        assert!(is_queued(&t.resolve(P0, a, pkt(2), 0), false));
        assert!(matches!(t.resolve(P0, a, pkt(3), 0), Resolution::Full(p) if p.data()[0] == 3));
        assert!(is_queued(&t.resolve(P0, b, pkt(4), 0), true));
        assert!(
            matches!(t.resolve(P0, b, pkt(5), 0), Resolution::Full(_)),
            "pool exhausted"
        );
        assert_eq!(t.counters().queue_full, 2);
        assert_eq!(
            Resolution::<HeapBuf>::FULL_REASON,
            DropReason::NeighborQueueFull
        );
        // Answering frees slots for others.
        assert_eq!(t.learn(P0, a, MAC, |_| {}), 2);
        assert!(is_queued(&t.resolve(P0, b, pkt(6), 0), false));
        let mut tags = Vec::new();
        assert_eq!(t.learn(P0, b, MAC, |p| tags.push(p.data()[0])), 2);
        assert_eq!(tags, [4, 6]);
    }

    #[test]
    fn a_full_table_refuses_new_neighbours_but_keeps_statics() {
        let mut t = table(limits(8, 4, 1));
        assert!(is_queued(&t.resolve(P0, ip("10.0.0.1"), pkt(1), 0), true));
        assert!(matches!(
            t.resolve(P0, ip("10.0.0.2"), pkt(2), 0),
            Resolution::Full(_)
        ));
        assert!(!t.needs_request(P0, ip("10.0.0.2"), 0));
        assert!(matches!(
            t.resolve(P1, ip("10.1.0.11"), pkt(3), 0),
            Resolution::Ready(..)
        ));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn unanswered_neighbours_expire_with_their_packets() {
        let mut t = table(limits(4, 4, 16));
        let (a, b) = (ip("10.1.0.20"), ip("10.1.0.21"));
        t.resolve(P0, a, pkt(1), 0);
        t.resolve(P0, a, pkt(2), 10);
        t.resolve(P0, b, pkt(3), 2000);
        let mut dropped = Vec::new();
        let no_ask = |_: PortId, _: IpAddr| true;
        assert_eq!(t.poll(2999, |p| dropped.push(p.data()[0]), no_ask), 0);
        assert_eq!(t.poll(3000, |p| dropped.push(p.data()[0]), no_ask), 1);
        assert_eq!(dropped, [1, 2]);
        assert_eq!(t.counters().unresolved, 2);
        assert_eq!(t.counters().expired, 1);
        // The static entry and b survive, a stays as failed; one interval later it
        // starts over (a new request is due).
        assert_eq!(t.len(), 3);
        assert!(t
            .iter()
            .any(|(p, i, s)| p == P0 && i == b && s == NeighState::Pending { queued: 1 }));
        assert!(t
            .iter()
            .any(|(p, i, s)| p == P0 && i == a && s == NeighState::Failed));
        assert!(t.needs_request(P0, a, 3200));
        // The pool slots came back: four packets fit again.
        for tag in 10..13 {
            assert!(is_queued(&t.resolve(P0, a, pkt(tag), 3202), false));
        }
        assert_eq!(t.queued(), 4);
    }

    fn state(t: &NeighTable<HeapBuf>, port: PortId, who: IpAddr) -> Option<NeighState> {
        t.iter()
            .find(|&(p, i, _)| p == port && i == who)
            .map(|(_, _, s)| s)
    }

    #[test]
    fn a_failed_neighbour_drops_packets_for_an_interval_then_is_asked_again() {
        let mut t = table(NeighLimits::default());
        let a = ip("10.1.0.99");
        assert!(is_queued(&t.resolve(P0, a, pkt(1), 0), true));
        let mut dropped = 0;
        assert_eq!(t.poll(3000, |_| dropped += 1, |_, _| true), 1);
        assert_eq!((dropped, state(&t, P0, a)), (1, Some(NeighState::Failed)));
        assert_eq!(NeighState::Failed.mac(), None);
        assert_eq!(t.lookup(P0, a), None);
        // Within the interval: dropped at once, no request, the watch leaves it failed.
        for now in [3000, 3100, 3199] {
            assert!(matches!(
                t.resolve(P0, a, pkt(2), now),
                Resolution::Unresolved(p) if p.data()[0] == 2
            ));
            assert!(!t.needs_request(P0, a, now));
            t.watch(P0, a, now);
            assert_eq!(state(&t, P0, a), Some(NeighState::Failed));
        }
        assert_eq!(t.counters().unresolved, 1 + 3);
        assert_eq!(t.queued(), 0);
        assert_eq!(
            Resolution::<HeapBuf>::UNRESOLVED_REASON,
            DropReason::NeighborUnresolved
        );
        // One interval after the failure a packet makes it pending again, with a request.
        let requests = t.counters().requests;
        assert!(is_queued(&t.resolve(P0, a, pkt(3), 3200), true));
        assert_eq!(t.counters().requests, requests + 1);
        assert_eq!(state(&t, P0, a), Some(NeighState::Pending { queued: 1 }));
        // Unanswered again: failed again, a second event.
        assert_eq!(t.poll(6200, |_| {}, |_, _| true), 1);
        assert_eq!(t.events().total(), 2);
        // The next-hop watch also makes it pending again, after the interval only.
        t.watch(P0, a, 6300);
        assert_eq!(state(&t, P0, a), Some(NeighState::Failed));
        t.watch(P0, a, 6400);
        assert_eq!(state(&t, P0, a), Some(NeighState::Pending { queued: 0 }));
        // An answer resolves it, and says so once.
        assert_eq!(t.learn(P0, a, MAC, |_| {}), 0);
        assert_eq!(t.lookup(P0, a), Some(MAC));
        let events: Vec<_> = t.events().since(0).collect();
        let event = |failed| NeighEvent {
            port: P0,
            ip: a,
            failed,
        };
        assert_eq!(events, [event(true), event(true), event(false)]);
        assert_eq!(t.events().since(2).collect::<Vec<_>>(), [event(false)]);
        t.learn(P0, a, MAC, |_| {});
        assert_eq!(
            t.events().total(),
            3,
            "a learned neighbour answering is no event"
        );
    }

    #[test]
    fn an_answer_to_a_failed_neighbour_resolves_it() {
        let mut t = table(NeighLimits::default());
        let a = ip("10.1.0.99");
        t.watch(P0, a, 0);
        t.poll(3000, |_| {}, |_, _| true);
        assert_eq!(state(&t, P0, a), Some(NeighState::Failed));
        t.learn(P0, a, MAC, |_| panic!("nothing waits"));
        assert!(matches!(
            t.resolve(P0, a, pkt(1), 3001),
            Resolution::Ready(MAC, _)
        ));
        assert_eq!(
            t.events().since(0).map(|e| e.failed).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn a_full_table_makes_room_from_its_oldest_failed_entry_first() {
        let mut t = table(limits(8, 4, 3));
        let [a, b, c, d, e, f] = [
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6",
        ]
        .map(ip);
        t.watch(P0, a, 0);
        t.watch(P0, b, 1000);
        t.watch(P0, c, 2000);
        t.poll(3000, |_| {}, |_, _| true);
        t.poll(4000, |_| {}, |_, _| true);
        assert_eq!(state(&t, P0, a), Some(NeighState::Failed));
        assert_eq!(state(&t, P0, b), Some(NeighState::Failed));
        assert_eq!(t.len(), 4, "three entries and the static one");
        // Full: d takes a's place (failed first), e takes b's, c (pending) stays.
        assert!(is_queued(&t.resolve(P0, d, pkt(1), 4001), true));
        assert_eq!((state(&t, P0, a), state(&t, P0, b).is_some()), (None, true));
        assert!(t.needs_request(P0, e, 4002));
        assert_eq!(state(&t, P0, b), None);
        assert!(state(&t, P0, c).is_some());
        // No failed entry left: a new neighbour is refused, statics still resolve.
        assert!(matches!(
            t.resolve(P0, f, pkt(2), 4003),
            Resolution::Full(_)
        ));
        assert!(matches!(
            t.resolve(P1, ip("10.1.0.11"), pkt(3), 4003),
            Resolution::Ready(..)
        ));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn a_failed_neighbour_left_alone_is_forgotten_after_a_while() {
        let mut t = table(NeighLimits::default());
        let (a, b) = (ip("10.1.0.98"), ip("10.1.0.99"));
        t.watch(P0, a, 0);
        t.watch(P0, b, 30_000);
        t.poll(3000, |_| {}, |_, _| true);
        t.poll(33_000, |_| {}, |_, _| true);
        assert_eq!(state(&t, P0, a), Some(NeighState::Failed));
        assert_eq!(state(&t, P0, b), Some(NeighState::Failed));
        t.poll(62_999, |_| {}, |_, _| panic!("nothing to ask"));
        assert_eq!(t.len(), 3);
        t.poll(63_000, |_| {}, |_, _| panic!("nothing to ask"));
        assert_eq!(
            (state(&t, P0, a), t.len()),
            (None, 2),
            "a forgotten, b kept"
        );
        t.poll(93_000, |_| {}, |_, _| panic!("nothing to ask"));
        assert_eq!(t.len(), 1, "the static entry");
        // Forgotten is new again: the next packet asks at once.
        assert!(is_queued(&t.resolve(P0, a, pkt(1), 93_001), true));
    }

    #[test]
    fn the_event_ring_keeps_the_most_recent() {
        let mut events = NeighEvents::default();
        for k in 0..20u8 {
            events.push(NeighEvent {
                port: P0,
                ip: IpAddr::from([10, 0, 0, k]),
                failed: true,
            });
        }
        let last: Vec<_> = events.since(3).map(|e| e.ip).collect();
        let want: Vec<_> = (12..20u8).map(|k| IpAddr::from([10, 0, 0, k])).collect();
        assert_eq!(last, want, "overwritten events are gone");
        assert_eq!(events.since(18).count(), 2);
        assert_eq!(events.since(20).count(), 0);
    }

    #[test]
    fn unsolicited_answers_create_nothing() {
        let mut t = table(NeighLimits::default());
        assert_eq!(t.learn(P0, ip("10.9.9.9"), MAC, |_| panic!()), 0);
        assert_eq!(t.lookup(P0, ip("10.9.9.9")), None);
        assert_eq!(t.len(), 1);
        let states: Vec<_> = t.iter().map(|(_, _, s)| s.mac()).collect();
        assert_eq!(states, [Some([2, 0, 0, 0, 1, 0x11])]);
    }

    #[test]
    fn a_zero_sized_pool_refuses_everything_without_panicking() {
        let mut t = table(limits(0, 4, 4));
        assert!(matches!(
            t.resolve(P0, ip("10.0.0.1"), pkt(1), 0),
            Resolution::Full(_)
        ));
        assert_eq!(t.poll(u64::MAX, |_| {}, |_, _| true), 1);
    }

    #[test]
    fn unanswered_neighbours_are_asked_again_every_interval_until_the_deadline() {
        let mut t = table(NeighLimits::default());
        let (a, b) = (ip("10.1.0.20"), ip("10.1.0.21"));
        assert!(is_queued(&t.resolve(P0, a, pkt(1), 0), true));
        // b has no packet: a worker resolving a next hop before traffic comes.
        assert!(t.needs_request(P1, b, 50));
        let mut asked = Vec::new();
        for now in (0..3000).step_by(10) {
            t.poll(
                now,
                |_| panic!("nothing is due yet"),
                |p, i| {
                    asked.push((now, p, i));
                    true
                },
            );
        }
        let times = |who| -> Vec<u64> {
            asked
                .iter()
                .filter(|(_, _, i)| *i == who)
                .map(|(t, _, _)| *t)
                .collect()
        };
        let want: Vec<u64> = (1..15).map(|k| k * 200).collect();
        assert_eq!(times(a), want, "every 200 ms after the first");
        assert_eq!(
            times(b),
            want.iter()
                .map(|t| t + 50)
                .filter(|&t| t < 3000)
                .collect::<Vec<_>>()
        );
        assert!(asked
            .iter()
            .all(|(_, p, i)| *p == if *i == a { P0 } else { P1 }));
        assert_eq!(t.counters().requests, 2 + asked.len() as u64);
        // An answer stops the requests; the deadline drops what still waits.
        t.learn(P1, b, MAC, |_| {});
        let mut dropped = Vec::new();
        let mut more = 0;
        t.poll(
            3000,
            |p| dropped.push(p.data()[0]),
            |_, _| {
                more += 1;
                true
            },
        );
        assert_eq!((dropped, more), (vec![1], 0));
        assert_eq!(t.lookup(P1, b), Some(MAC));
    }

    #[test]
    fn a_watched_neighbour_learns_without_asking_and_asks_after_an_interval() {
        let mut t = table(NeighLimits::default());
        let (a, b) = (ip("10.1.0.20"), ip("10.1.0.21"));
        t.watch(P0, a, 0);
        t.watch(P0, b, 0);
        t.watch(P1, ip("10.1.0.11"), 0); // static: nothing to wait for
        assert_eq!(t.len(), 3);
        assert_eq!(t.counters().requests, 0);
        assert_eq!(t.learn(P0, a, MAC, |_| panic!("nothing waits")), 0);
        assert_eq!(t.lookup(P0, a), Some(MAC));
        let mut asked = Vec::new();
        for now in [100, 199, 200, 300] {
            t.poll(
                now,
                |_| {},
                |_, i| {
                    asked.push((now, i));
                    true
                },
            );
        }
        assert_eq!(asked, [(200, b)], "b unanswered: asked one interval later");
        assert_eq!(t.counters().requests, 1);
    }
}
