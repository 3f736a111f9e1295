//! High availability between directors, the workers' side: the VRRPv3 frames the
//! control core sends ([`frames`]; its state machine is `rvs_control::vrrp`), and the
//! [`HaLink`] between the workers and the control core.
//!
//! The control core runs the state machine (`rvs_control::ha`). Workers never block on it:
//! a worker that receives a VRRP frame checks it ([`vrrp_filter`]), limits its source's
//! rate ([`rate_limit`]) and copies it into a bounded lock-free queue of its own
//! ([`HaLink::queue_advert`]), so that neither junk nor sync traffic can take an
//! advert's place; the control core queues the frames it sends (adverts,
//! gratuitous ARP, unsolicited NA) in another, which worker 0 drains at its millisecond
//! tick. Whether this director serves the virtual router's addresses is one atomic flag
//! that each worker reads at its tick: while it is down the worker answers no ARP/ND
//! and forwards nothing for the VIPs, FULLNAT local addresses and floating addresses
//! (a counted drop, `ha_backup`). Frames are fixed-size values: nothing is allocated
//! on either side of the queues.
//!
//! Connection sync (`[ha.sync]`) rides the same link: a master's workers queue
//! [`SyncRecord`]s of what changed ([`change_log`]) and of their passes over the table
//! for the control core, which batches them into UDP
//! messages ([`sync_wire`]) that worker 0 sends; a backup's worker hands the messages it
//! receives to the control core ([`sync_filter`] says which, [`rate_limit`] how many
//! from each source, through a queue of their own), which checks and queues
//! each record for the worker that owns the connection; that worker checks it against
//! its configuration ([`sync_check`]) and installs it at its tick. Every refusal on the
//! way is counted here by reason ([`SyncRefusal`], [`VrrpRefusal`]).

pub mod change_log;
pub mod frames;
pub mod rate_limit;
pub mod refusal;
pub mod sync_check;
pub mod sync_filter;
pub mod sync_wire;
pub mod vrrp_filter;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use rate_limit::Limit;
use refusal::{SyncRefusal, VrrpRefusal};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::wire::IpInfo;
use sync_filter::SyncFilter;
use sync_wire::SyncRecord;
use vrrp_filter::VrrpFilter;

/// Largest frame the link carries: a full-size Ethernet frame (sync messages).
pub const MAX_FRAME: usize = 1514;
/// VRRP adverts waiting for the control core (it takes them every 20 ms): a peer sends
/// one an advert interval (10 ms at the least), each source is held to its rate
/// ([`Limit::adverts`]), and the filter lets only this virtual router's through.
pub const ADVERT_FRAMES: usize = 256;
/// Sync datagrams waiting for the control core (it takes them every 20 ms): what a
/// master's worker 0 sends meanwhile (64 frames a millisecond at most), and more.
pub const SYNC_FRAMES: usize = 2048;
/// Sync records waiting for the control core (master), and for each worker (backup):
/// at a 20 ms control poll, room for 800 000 records a second.
pub const SYNC_RECORDS: usize = 16384;
/// Room a master's workers leave in the record queue for changes when they walk their
/// tables (refresh and bulk passes wait while the queue has less).
pub const SYNC_WALK_RESERVE: usize = SYNC_RECORDS / 2;
/// Frames waiting for worker 0 (a takeover queues an advert and one per address).
pub const OUTBOUND_FRAMES: usize = 1024;

/// A frame between the workers and the control core, by value.
#[derive(Clone, Copy)]
pub struct HaFrame {
    port: PortId,
    /// Send through the routing table (unicast IP, resolved by the worker), or as it is.
    routed: bool,
    len: u16,
    bytes: [u8; MAX_FRAME],
}

impl std::fmt::Debug for HaFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaFrame")
            .field("port", &self.port)
            .field("routed", &self.routed)
            .field("len", &self.len)
            .finish()
    }
}

impl HaFrame {
    /// A copy of `data` for `port`; `None` when longer than [`MAX_FRAME`]. `routed`
    /// frames have their Ethernet addresses set by the worker from its route and
    /// neighbour tables (unicast adverts).
    pub fn new(port: PortId, routed: bool, data: &[u8]) -> Option<Self> {
        let mut bytes = [0; MAX_FRAME];
        bytes.get_mut(..data.len())?.copy_from_slice(data);
        Some(Self {
            port,
            routed,
            len: data.len() as u16,
            bytes,
        })
    }

    /// The port it came in on or leaves by.
    pub fn port(&self) -> PortId {
        self.port
    }

    /// True when the worker routes it (see [`HaFrame::new`]).
    pub fn routed(&self) -> bool {
        self.routed
    }

    /// The frame's bytes.
    pub fn data(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What the workers and the control core share for high availability.
#[derive(Debug)]
pub struct HaLink {
    serving: AtomicBool,
    /// Received adverts, checked by `vrrp`.
    adverts: ArrayQueue<HaFrame>,
    /// Received sync datagrams, checked by `sync`.
    sync_in: ArrayQueue<HaFrame>,
    outbound: ArrayQueue<HaFrame>,
    outbound_dropped: AtomicU64,
    /// `[ha]`: the adverts VRRP takes (none without it).
    vrrp: Option<VrrpFilter>,
    /// Each source's advert rate, in each worker.
    advert_limit: Limit,
    /// VRRP frames refused, by [`VrrpRefusal::index`].
    vrrp_refused: [AtomicU64; VrrpRefusal::ALL.len()],
    /// Sources the workers' rate limits had no place for (see [`rate_limit`]).
    rate_table_full: AtomicU64,
    /// `[ha.sync]`: the datagrams sync takes.
    sync: Option<SyncFilter>,
    /// Master: records from the workers to the control core.
    records: ArrayQueue<SyncRecord>,
    /// Backup: records for each worker to install, by worker id.
    installs: Box<[ArrayQueue<SyncRecord>]>,
    /// Records that found a full queue (either way).
    records_dropped: AtomicU64,
    /// Backup: records the workers installed.
    installed: AtomicU64,
    /// Messages and records refused, by [`SyncRefusal::index`].
    refused: [AtomicU64; SyncRefusal::ALL.len()],
    /// Backup: records whose time left was cut to this director's timeout.
    clamped: AtomicU64,
    /// `[ha.sync] refresh`: how often a master's workers send each entry again.
    refresh: Duration,
    /// Master: full passes the backups asked for (a count; a worker that sees it move
    /// starts one).
    bulk_requests: AtomicU64,
}

impl HaLink {
    /// A link; `serving` is where the workers start (false for a director under `[ha]`:
    /// it starts as backup). With `sync` (from `[ha.sync]`), the link carries
    /// connection sync for `workers` workers. It takes no VRRP frame until it has a
    /// filter ([`with_vrrp`](Self::with_vrrp)).
    pub fn new(serving: bool, workers: u16, sync: Option<SyncFilter>) -> Self {
        let queues = if sync.is_some() { workers } else { 0 };
        Self {
            serving: AtomicBool::new(serving),
            adverts: ArrayQueue::new(ADVERT_FRAMES),
            sync_in: ArrayQueue::new(if sync.is_some() { SYNC_FRAMES } else { 1 }),
            outbound: ArrayQueue::new(OUTBOUND_FRAMES),
            outbound_dropped: AtomicU64::new(0),
            vrrp: None,
            advert_limit: Limit::adverts(rvs_config::DEFAULT_ADVERT_INTERVAL),
            vrrp_refused: std::array::from_fn(|_| AtomicU64::new(0)),
            rate_table_full: AtomicU64::new(0),
            sync,
            records: ArrayQueue::new(if queues > 0 { SYNC_RECORDS } else { 1 }),
            installs: (0..queues).map(|_| ArrayQueue::new(SYNC_RECORDS)).collect(),
            records_dropped: AtomicU64::new(0),
            installed: AtomicU64::new(0),
            refused: std::array::from_fn(|_| AtomicU64::new(0)),
            clamped: AtomicU64::new(0),
            refresh: rvs_config::DEFAULT_SYNC_REFRESH,
            bulk_requests: AtomicU64::new(0),
        }
    }

    /// The link of a director under `ha` with `workers` workers, as it starts: backup,
    /// with `[ha]`'s advert filter and rate, and `[ha.sync]`'s filter and refresh period
    /// when sync is on.
    pub fn of_config(ha: &rvs_config::HaConfig, workers: u16) -> Self {
        let link = Self::new(false, workers, ha.sync.as_ref().map(SyncFilter::of))
            .with_vrrp(VrrpFilter::of(ha))
            .with_advert_limit(Limit::adverts(ha.advert_interval));
        match &ha.sync {
            Some(s) => link.with_sync_refresh(s.refresh),
            None => link,
        }
    }

    /// The same link taking the adverts `filter` takes.
    pub fn with_vrrp(mut self, filter: VrrpFilter) -> Self {
        self.vrrp = Some(filter);
        self
    }

    /// The same link with `limit` as each source's advert rate in each worker.
    pub fn with_advert_limit(mut self, limit: Limit) -> Self {
        self.advert_limit = limit;
        self
    }

    /// The adverts VRRP takes (`[ha]`), when the link has a filter.
    pub fn vrrp_filter(&self) -> Option<&VrrpFilter> {
        self.vrrp.as_ref()
    }

    /// Each source's advert rate in each worker.
    pub fn advert_limit(&self) -> Limit {
        self.advert_limit
    }

    /// The same link with `refresh` (`[ha.sync] refresh`) as the period of the
    /// workers' refresh passes.
    pub fn with_sync_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// How often a master's workers send each connection and template again.
    pub fn sync_refresh(&self) -> Duration {
        self.refresh
    }

    /// Control side (master): a backup asked for everything: each worker starts a full
    /// pass over its tables, after the one it is in (a worker also starts one when the
    /// director becomes master).
    pub fn request_bulk(&self) {
        self.bulk_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Full passes asked for so far (see [`request_bulk`](Self::request_bulk)).
    pub fn bulk_requests(&self) -> u64 {
        self.bulk_requests.load(Ordering::Relaxed)
    }

    /// Free places in the record queue to the control core.
    pub fn record_room(&self) -> usize {
        self.records.capacity() - self.records.len()
    }

    /// Worker side (master): count `n` records lost before they reached the queue (a
    /// worker's full change ring).
    pub fn count_records_dropped(&self, n: u64) {
        if n > 0 {
            self.records_dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `[ha.sync]`'s address and UDP port, when the link carries sync.
    pub fn sync_target(&self) -> Option<(IpAddr, u16)> {
        self.sync.as_ref().map(SyncFilter::target)
    }

    /// Worker side: whether a datagram to the sync target passes
    /// [`SyncFilter::admit`] (a refusal is counted by reason).
    pub fn admit_sync(&self, port: PortId, frame: &[u8], ip: &IpInfo) -> Result<(), DropReason> {
        let Some(filter) = &self.sync else {
            return Err(DropReason::NotForUs);
        };
        filter.admit(port, frame, ip).map_err(|reason| {
            self.refuse(reason);
            DropReason::HaSyncRefused
        })
    }

    /// Worker side: queue a sync datagram for the control core (a full queue is counted,
    /// as a refusal of reason [`SyncRefusal::QueueFull`] too).
    pub fn queue_sync_message(&self, port: PortId, frame: &[u8]) -> Result<(), DropReason> {
        let f = HaFrame::new(port, false, frame).ok_or(DropReason::Malformed)?;
        self.sync_in.push(f).map_err(|_| {
            self.refuse(SyncRefusal::QueueFull);
            DropReason::HaQueueFull
        })
    }

    /// Control side: the next sync datagram received.
    pub fn take_sync_message(&self) -> Option<HaFrame> {
        self.sync_in.pop()
    }

    /// Count a VRRP frame refused for `reason`.
    pub fn refuse_advert(&self, reason: VrrpRefusal) {
        self.vrrp_refused[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// VRRP frames refused, by [`VrrpRefusal::index`].
    pub fn advert_refusals(&self) -> [u64; VrrpRefusal::ALL.len()] {
        std::array::from_fn(|i| self.vrrp_refused[i].load(Ordering::Relaxed))
    }

    /// Worker side: count a source that found no place in a rate limit's table.
    pub fn count_rate_table_full(&self) {
        self.rate_table_full.fetch_add(1, Ordering::Relaxed);
    }

    /// Sources the workers' rate limits had no place for (both queues).
    pub fn rate_table_full(&self) -> u64 {
        self.rate_table_full.load(Ordering::Relaxed)
    }

    /// Count a sync message or record refused for `reason`.
    pub fn refuse(&self, reason: SyncRefusal) {
        self.refused[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Sync messages and records refused, by [`SyncRefusal::index`].
    pub fn refusals(&self) -> [u64; SyncRefusal::ALL.len()] {
        std::array::from_fn(|i| self.refused[i].load(Ordering::Relaxed))
    }

    /// Worker side (backup): count a record whose time left was cut to this director's
    /// timeout.
    pub fn count_clamped(&self) {
        self.clamped.fetch_add(1, Ordering::Relaxed);
    }

    /// Records whose time left was cut to this director's timeout.
    pub fn clamped(&self) -> u64 {
        self.clamped.load(Ordering::Relaxed)
    }

    /// Worker side (master): queue a record for the control core; false (counted) when
    /// the queue is full.
    pub fn push_record(&self, record: SyncRecord) -> bool {
        let queued = self.records.push(record).is_ok();
        if !queued {
            self.records_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Worker side (master): tell the backups that connection `c` is gone, whatever
    /// removed it (bounded: a full queue drops it, counted; the backup's entry then
    /// ends with its own timer).
    pub fn push_expiry(&self, c: &rvs_conntrack::Conn) {
        self.push_record(SyncRecord::expiry_of(c));
    }

    /// Worker side (master): queue a record if there is room (false: try it again
    /// later; nothing is counted).
    pub fn offer_record(&self, record: SyncRecord) -> bool {
        self.records.push(record).is_ok()
    }

    /// Control side (master): the next record to send.
    pub fn take_record(&self) -> Option<SyncRecord> {
        self.records.pop()
    }

    /// Control side: drop every record the workers queued for sending; returns how
    /// many. A director that is not master sends nothing, and what a worker queued just
    /// before it saw the transition would otherwise be sent at the next mastership,
    /// with times left counted from when it was made.
    pub fn discard_records(&self) -> usize {
        std::iter::from_fn(|| self.records.pop()).count()
    }

    /// Control side, at each VRRP transition: drop the records queued for sending and
    /// those queued for the workers to install; returns how many. Neither may be
    /// replayed in the new role: their times left are relative to when they were made.
    pub fn flush_sync(&self) -> usize {
        let installs: usize = self
            .installs
            .iter()
            .map(|q| std::iter::from_fn(|| q.pop()).count())
            .sum();
        self.discard_records() + installs
    }

    /// Control side (backup): queue a record for worker `owner`; false (counted) when its
    /// queue is full or there is no such worker.
    pub fn push_install(&self, owner: u16, record: SyncRecord) -> bool {
        let queued = self
            .installs
            .get(usize::from(owner))
            .is_some_and(|q| q.push(record).is_ok());
        if !queued {
            self.records_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Worker side (backup): the next record worker `id` installs.
    pub fn take_install(&self, id: u16) -> Option<SyncRecord> {
        self.installs.get(usize::from(id))?.pop()
    }

    /// Worker side (backup): count a record installed, or refused for `reason`.
    pub fn count_install(&self, result: Result<(), SyncRefusal>) {
        match result {
            Ok(()) => {
                self.installed.fetch_add(1, Ordering::Relaxed);
            }
            Err(reason) => self.refuse(reason),
        }
    }

    /// Records the workers installed, and records refused (by the control core, which
    /// could not read them, and by the workers).
    pub fn installs(&self) -> (u64, u64) {
        let refused = SyncRefusal::ALL
            .iter()
            .filter(|r| !r.is_message())
            .map(|r| self.refused[r.index()].load(Ordering::Relaxed))
            .sum();
        (self.installed.load(Ordering::Relaxed), refused)
    }

    /// Sync records that found a full queue.
    pub fn records_dropped(&self) -> u64 {
        self.records_dropped.load(Ordering::Relaxed)
    }

    /// Whether this director serves the virtual router's addresses (master).
    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }

    /// Set by the control core on each transition.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Relaxed);
    }

    /// Worker side: queue a received advert for the control core (a full queue is
    /// counted, as a refusal of reason [`VrrpRefusal::QueueFull`] too).
    pub fn queue_advert(&self, port: PortId, frame: &[u8]) -> Result<(), DropReason> {
        let f = HaFrame::new(port, false, frame).ok_or(DropReason::Malformed)?;
        self.adverts.push(f).map_err(|_| {
            self.refuse_advert(VrrpRefusal::QueueFull);
            DropReason::HaQueueFull
        })
    }

    /// Control side: the next advert received.
    pub fn take_advert(&self) -> Option<HaFrame> {
        self.adverts.pop()
    }

    /// Control side: queue a frame for worker 0 to send; counted and false when full.
    pub fn queue_send(&self, frame: HaFrame) -> bool {
        let queued = self.outbound.push(frame).is_ok();
        if !queued {
            self.outbound_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Worker side: the next frame to send.
    pub fn next_to_send(&self) -> Option<HaFrame> {
        self.outbound.pop()
    }

    /// Free places in the queue of frames for worker 0 to send.
    pub fn outbound_room(&self) -> usize {
        self.outbound.capacity() - self.outbound.len()
    }

    /// Frames the control core could not queue (the queue was full).
    pub fn outbound_dropped(&self) -> u64 {
        self.outbound_dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_empties_every_sync_queue() {
        let peers = ["10.0.0.9".parse().unwrap()];
        let filter = SyncFilter::new(PortId(0), "10.0.0.1".parse().unwrap(), 8848, &peers);
        let link = HaLink::new(true, 2, Some(filter));
        let r = SyncRecord {
            kind: sync_wire::RecordKind::Conn,
            proto: rvs_conntrack::Proto::Udp,
            mode: rvs_conntrack::ForwardMode::Nat,
            state: rvs_conntrack::TcpState::None,
            timeout_ms: 1000,
            client: "10.0.0.2:1000".parse().unwrap(),
            vip: "10.0.0.100:53".parse().unwrap(),
            real: "10.1.0.11:53".parse().unwrap(),
            local: None,
            template: None,
            stream: rvs_conntrack::StreamAdjust::default(),
        };
        assert!(link.push_record(r) && link.push_record(r));
        assert!(link.push_install(0, r) && link.push_install(1, r));
        assert_eq!(link.flush_sync(), 4);
        assert!(link.take_record().is_none());
        assert!(link.take_install(0).is_none() && link.take_install(1).is_none());
    }

    #[test]
    fn frames_cross_in_order_and_a_full_queue_is_counted() {
        let peers = ["10.0.0.9".parse().unwrap()];
        let filter = SyncFilter::new(PortId(0), "10.0.0.1".parse().unwrap(), 8848, &peers);
        let link = HaLink::new(false, 1, Some(filter));
        assert!(!link.serving());
        link.set_serving(true);
        assert!(link.serving());
        // Each queue has its own room: a full one takes nothing from the other.
        for i in 0..ADVERT_FRAMES {
            link.queue_advert(PortId(1), &[i as u8; 60]).unwrap();
        }
        assert_eq!(
            link.queue_advert(PortId(1), &[0; 60]),
            Err(DropReason::HaQueueFull)
        );
        for i in 0..SYNC_FRAMES {
            link.queue_sync_message(PortId(0), &[i as u8; 80]).unwrap();
        }
        assert_eq!(
            link.queue_sync_message(PortId(0), &[0; 80]),
            Err(DropReason::HaQueueFull)
        );
        assert_eq!(
            link.queue_advert(PortId(1), &[0; MAX_FRAME + 1]),
            Err(DropReason::Malformed)
        );
        assert_eq!(link.advert_refusals()[VrrpRefusal::QueueFull.index()], 1);
        assert_eq!(link.refusals()[SyncRefusal::QueueFull.index()], 1);
        let first = link.take_advert().unwrap();
        assert_eq!((first.port(), first.data()), (PortId(1), &[0u8; 60][..]));
        assert_eq!(link.take_advert().unwrap().data()[0], 1);
        let sync = link.take_sync_message().unwrap();
        assert_eq!((sync.port(), sync.data()), (PortId(0), &[0u8; 80][..]));
        assert_eq!(link.take_sync_message().unwrap().data()[0], 1);

        let f = HaFrame::new(PortId(0), true, &[7; 42]).unwrap();
        for _ in 0..OUTBOUND_FRAMES {
            assert!(link.queue_send(f));
        }
        assert!(!link.queue_send(f));
        assert_eq!(link.outbound_dropped(), 1);
        let out = link.next_to_send().unwrap();
        assert!(out.routed());
        assert_eq!(out.data(), &[7; 42]);
    }
}
