//! The control core's connection sync (`[ha.sync]`): a master batches the records its
//! workers queue into UDP messages to each peer (sent by worker 0), signed with the
//! shared key; a backup reads the messages its workers took (from a peer, on the sync
//! port, checksum checked: [`rvs_pipeline::ha::sync_filter`]), checks each one's format,
//! tag, sender and freshness ([`replay`]), and queues each record for the worker that
//! owns the connection ([`rvs_pipeline::steer`]). Bounded per poll, counted by reason;
//! over IPv4 (the records carry IPv6 connections too). `docs/sync.md` describes the
//! protocol.

pub mod replay;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};

use rvs_config::HaSyncConfig;
use rvs_ctl::proto::{HaSyncPeer, HaSyncStatus};
use rvs_packet::checksum::{fold, pseudo_header_v4, sum};
use rvs_packet::wire::{ethertype, parse_frame, EthernetFrame, Ipv4Packet, L4Info, MacAddr};
use rvs_pipeline::ha::refusal::SyncRefusal;
use rvs_pipeline::ha::sync_wire::{
    self, Expect, MessageAuth, SchemeTag, Stamp, SyncRecord, MAX_RECORDS,
};
use rvs_pipeline::ha::{HaFrame, HaLink, MAX_FRAME};
use rvs_pipeline::ownership::Ownership;
use rvs_pipeline::service::Services;

use replay::PeerWindow;

/// IP protocol number of UDP.
const UDP: u8 = 17;
/// Most batches a master sends per control poll (20 ms): up to 280 000 records a
/// second, each batch one message per peer.
pub const MESSAGES_PER_POLL: usize = 512;
/// Places in the queue of frames to send that sync leaves to VRRP (adverts,
/// announcements): a batch waits for the next poll rather than take them.
const VRRP_ROOM: usize = 64;
/// Ethernet, IPv4 and UDP headers before a message.
const HEADERS: usize = 14 + 20 + 8;

/// Connection sync's counters kept by the control core (the workers' refusals and
/// installs are in the [`HaLink`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCounters {
    /// Messages sent (one per peer and batch).
    pub messages_sent: u64,
    /// Records sent (counted once per batch).
    pub records_sent: u64,
    /// Messages that reached the control core (the workers refuse some before).
    pub messages_received: u64,
    /// Records received and queued for their worker.
    pub records_received: u64,
    /// Requests for every connection sent (as a new backup).
    pub requests_sent: u64,
    /// Requests for every connection taken (as master): each starts a full pass.
    pub requests_received: u64,
}

/// One director's connection sync.
#[derive(Debug)]
pub struct SyncRunner {
    config: HaSyncConfig,
    source: Option<Ipv4Addr>,
    mac: MacAddr,
    workers: u16,
    /// Signs and checks messages (`key_file`); `None` under `insecure = true`.
    auth: Option<MessageAuth>,
    /// This start's epoch, and the last message number sent in it.
    epoch: u32,
    sequence: u32,
    ident: u16,
    batch: Vec<SyncRecord>,
    /// What was taken from each peer, in `config.peers` order.
    peers: Vec<(IpAddr, PeerWindow)>,
    /// The last refusal logged, logged once until another kind comes.
    last_refusal: Option<SyncRefusal>,
    counters: SyncCounters,
    /// A request for every connection waits to be sent (this director just became
    /// backup).
    request_due: bool,
}

impl SyncRunner {
    /// Sync per `config` for `workers` workers, sending with `mac` (the sync port's), in
    /// an epoch drawn at random.
    pub fn new(config: &HaSyncConfig, workers: u16, mac: [u8; 6]) -> Self {
        // The configuration refuses IPv6 sync addresses.
        let source = match config.address {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        };
        Self {
            config: config.clone(),
            source,
            mac: MacAddr(mac),
            workers,
            auth: config.key.as_ref().map(|k| MessageAuth::new(k.bytes())),
            epoch: random_epoch(),
            sequence: 0,
            ident: 0,
            batch: Vec::with_capacity(MAX_RECORDS),
            peers: config
                .peers
                .iter()
                .map(|p| (*p, PeerWindow::default()))
                .collect(),
            last_refusal: None,
            counters: SyncCounters::default(),
            request_due: false,
        }
    }

    /// The same runner in epoch `epoch` (tests: a known epoch, a restart).
    pub fn with_epoch(mut self, epoch: u32) -> Self {
        self.epoch = epoch;
        self.sequence = 0;
        self
    }

    /// The counters.
    pub fn counters(&self) -> SyncCounters {
        self.counters
    }

    /// The status for `rvsctl status` and the metrics, with the counters `link` holds.
    pub fn status(&self, link: &HaLink) -> HaSyncStatus {
        let c = self.counters;
        let refusals = link.refusals();
        let (installed, install_refused) = link.installs();
        let messages_refused = SyncRefusal::ALL
            .iter()
            .filter(|r| r.is_message())
            .map(|r| refusals[r.index()])
            .sum();
        HaSyncStatus {
            messages_sent: c.messages_sent,
            records_sent: c.records_sent,
            messages_received: c.messages_received,
            records_received: c.records_received,
            messages_refused,
            messages_lost: self.peers.iter().map(|(_, w)| w.lost()).sum(),
            records_dropped: link.records_dropped(),
            installed,
            install_refused,
            refused: SyncRefusal::ALL
                .iter()
                .map(|r| (r.label().to_owned(), refusals[r.index()]))
                .collect(),
            timeouts_clamped: link.clamped(),
            authenticated: self.auth.is_some(),
            peers: self
                .peers
                .iter()
                .map(|(addr, w)| HaSyncPeer {
                    address: addr.to_string(),
                    epoch: w.epoch(),
                    sequence: w.highest(),
                    messages_accepted: w.accepted(),
                    messages_lost: w.lost(),
                })
                .collect(),
        }
    }

    /// Master: send what the workers queued, at most [`MESSAGES_PER_POLL`] batches and
    /// while the frame queue keeps room for VRRP, stamped with `scheme` (this
    /// director's, [`SchemeTag::of_ownership`]) and `now_ms` (the Unix clock, in
    /// milliseconds).
    pub fn send(&mut self, link: &HaLink, scheme: SchemeTag, now_ms: u64) {
        for _ in 0..MESSAGES_PER_POLL {
            if link.outbound_room() < self.config.peers.len() + VRRP_ROOM {
                return;
            }
            self.batch.clear();
            while self.batch.len() < MAX_RECORDS {
                match link.take_record() {
                    Some(r) => self.batch.push(r),
                    None => break,
                }
            }
            if self.batch.is_empty() || !self.send_message(link, scheme, now_ms, false) {
                return;
            }
            self.counters.records_sent += self.batch.len() as u64;
        }
    }

    /// This director just became backup: ask the peers for every connection at the
    /// next [`send_request`](Self::send_request).
    pub fn request_everything(&mut self) {
        self.request_due = true;
    }

    /// Backup: send the request [`request_everything`](Self::request_everything) made
    /// due, if any: a message without records, flagged, to each peer. A master that
    /// takes it starts a full pass; one that is lost leaves this backup to learn the
    /// rest with the master's refresh passes.
    pub fn send_request(&mut self, link: &HaLink, scheme: SchemeTag, now_ms: u64) {
        if std::mem::take(&mut self.request_due) {
            self.batch.clear();
            if self.send_message(link, scheme, now_ms, true) {
                self.counters.requests_sent += 1;
            }
        }
    }

    /// Sends `self.batch` as one message (`request`: flagged as a request) to each
    /// peer; false when it could not be made.
    fn send_message(
        &mut self,
        link: &HaLink,
        scheme: SchemeTag,
        now_ms: u64,
        request: bool,
    ) -> bool {
        let Some(src) = self.source else {
            return false;
        };
        self.sequence = self.sequence.wrapping_add(1);
        let stamp = Stamp {
            workers: self.workers,
            scheme,
            epoch: self.epoch,
            sequence: self.sequence,
            sent_ms: now_ms,
            request,
        };
        let mut payload = [0u8; MAX_FRAME - HEADERS];
        let auth = self.auth.as_ref();
        let Some(len) = sync_wire::encode(&stamp, &self.batch, auth, &mut payload) else {
            return false;
        };
        for peer in &self.config.peers {
            let IpAddr::V4(dst) = *peer else { continue };
            self.ident = self.ident.wrapping_add(1);
            let frame = self.frame(src, dst, &payload[..len]);
            if frame.is_some_and(|f| link.queue_send(f)) {
                self.counters.messages_sent += 1;
            }
        }
        true
    }

    /// A UDP datagram carrying `payload` from `src` to `dst` (routed by the worker).
    fn frame(&self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Option<HaFrame> {
        let mut f = [0u8; MAX_FRAME];
        let frame = f.get_mut(..HEADERS + payload.len())?;
        frame[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        EthernetFrame::new_unchecked(&mut frame[..]).set_src(self.mac);
        let udp_len = (8 + payload.len()) as u16;
        let port = self.config.udp_port.to_be_bytes();
        let udp = &mut frame[34..];
        udp[0..2].copy_from_slice(&port);
        udp[2..4].copy_from_slice(&port);
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[8..].copy_from_slice(payload);
        let c = !fold(pseudo_header_v4(src, dst, UDP, udp_len) + sum(udp));
        udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_version_and_header_len(20);
        ip.set_total_len(20 + udp_len);
        ip.set_ident(self.ident);
        ip.set_unfragmented(true);
        ip.set_ttl(64);
        ip.set_protocol(UDP);
        ip.set_src(src);
        ip.set_dst(dst);
        ip.fill_checksum();
        HaFrame::new(self.config.port, true, frame)
    }

    /// True when `frame` is a sync message (UDP to our sync address and port).
    pub fn is_sync(&self, frame: &HaFrame) -> bool {
        parse_frame(frame.data())
            .ok()
            .and_then(|i| i.ip)
            .is_some_and(|ip| {
                matches!(ip.l4, L4Info::Udp { dport, .. } if dport == self.config.udp_port)
                    && ip.dst == self.config.address
            })
    }

    /// Backup: check a received message and queue its records for the workers that own
    /// them under `ownership` (the running snapshot's, as steering uses it, with its
    /// `services`: templates land where their clients' frames go). `now_ms` is the Unix clock in milliseconds.
    /// A master refuses every message but a backup's request for everything, which
    /// starts a full pass on its workers (after the same checks); each refusal is
    /// counted in `link` by reason, and logged once until another reason comes.
    pub fn receive(
        &mut self,
        frame: &HaFrame,
        master: bool,
        link: &HaLink,
        ownership: &Ownership,
        services: &Services,
        now_ms: u64,
    ) {
        let Some(ip) = parse_frame(frame.data()).ok().and_then(|i| i.ip) else {
            return;
        };
        self.counters.messages_received += 1;
        let msg = udp_payload(frame.data(), ip.l4_offset).unwrap_or_default();
        let expect = Expect {
            workers: self.workers,
            scheme: SchemeTag::of_ownership(ownership),
        };
        let header = match sync_wire::open(msg, self.auth.as_ref(), expect) {
            Ok(h) => h,
            Err(e) => return self.refuse(link, e.refusal(), ip.src, &e),
        };
        if master && !header.stamp.request {
            link.refuse(SyncRefusal::Master);
            return;
        }
        let Some((_, window)) = self.peers.iter_mut().find(|(p, _)| *p == ip.src) else {
            let e = "not from one of [ha.sync] peers";
            return self.refuse(link, SyncRefusal::Source, ip.src, &e);
        };
        if let Err(e) = window.accept(&header.stamp, now_ms) {
            let reason = match e {
                replay::ReplayError::Clock { .. } => SyncRefusal::Clock,
                replay::ReplayError::Replay { .. } => SyncRefusal::Replay,
                replay::ReplayError::Epoch { .. } => SyncRefusal::Epoch,
            };
            return self.refuse(link, reason, ip.src, &e);
        }
        if header.stamp.request {
            // A backup that just took that role: a master sends it everything.
            if master {
                link.request_bulk();
                self.counters.requests_received += 1;
            }
            return;
        }
        for r in sync_wire::records(msg, header) {
            match r {
                Ok(r) => {
                    if link.push_install(owner(&r, ownership, services), r) {
                        self.counters.records_received += 1;
                    }
                }
                Err(e) => link.refuse(e.refusal()),
            }
        }
    }

    /// Count a refused message, and log it unless the last one logged had this reason.
    fn refuse(
        &mut self,
        link: &HaLink,
        reason: SyncRefusal,
        from: IpAddr,
        why: &dyn std::fmt::Display,
    ) {
        link.refuse(reason);
        if self.last_refusal != Some(reason) {
            crate::warn!("ha.sync: message from {from}: {why}");
            self.last_refusal = Some(reason);
        }
    }
}

/// The payload of the UDP datagram at `l4_offset` of `frame`, as long as its header
/// says (the worker checked that it fits).
fn udp_payload(frame: &[u8], l4_offset: usize) -> Option<&[u8]> {
    let udp = frame.get(l4_offset..)?;
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    udp.get(8..len)
}

/// The worker that owns a synced connection or template.
fn owner(r: &SyncRecord, ownership: &Ownership, services: &Services) -> u16 {
    ownership.of_connection(services, r.proto, r.client, r.vip, r.real, r.local)
}

/// A random epoch for this start, from the kernel's random source; should that fail,
/// from the clock and the process id (an epoch needs to differ between starts, not to
/// be secret).
fn random_epoch() -> u32 {
    let mut bytes = [0u8; 4];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_ok() {
        return u32::from_be_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = rvs_pipeline::flow_hash::mix64(nanos ^ u64::from(std::process::id()));
    (mixed >> 32) as u32
}

/// Milliseconds since the Unix epoch by the system clock: the clock sync messages are
/// stamped with and checked against.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
