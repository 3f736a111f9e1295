//! Connection sync at the worker level: a master's worker queues a record of each
//! connection and persistence template at its tick (and one for each expiry); a
//! backup's worker installs them without scheduling, with their state, timers, FULLNAT
//! local port (held out of its pool) and template. The control core's part (batching,
//! UDP, owners) is unit-tested in `control::ha_sync`; here the records cross by hand.
//! What a worker refuses is tested here too: sync datagrams from elsewhere than a
//! peer on the sync port with a good checksum (never queued), and records that do not
//! fit this director's configuration (never installed, no pool built). Frames are built
//! with etherparse.

mod common;

use std::sync::Arc;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use rvs_config::PortId;
use rvs_conntrack::{Conn, TcpState};
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::ha::refusal::SyncRefusal;
use rvs_pipeline::ha::sync_filter::SyncFilter;
use rvs_pipeline::ha::sync_wire::{RecordKind, SyncRecord};
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::worker::{CollectIo, Worker};

/// The director, with a second client (10.0.0.3) and reals 10.1.0.11 and .12, `[ha]`
/// with sync, a persistent NAT service and a FULLNAT one.
fn config() -> String {
    config_of(common::director())
}

/// [`config`] on `director`.
fn config_of(director: rvs_config::testbed::TwoPortDirector) -> String {
    director
        .neighbor("10.0.0.3", [2, 0, 0, 0, 0, 0xc2], "wan0")
        .real(11)
        .real(12)
        .to_toml()
        + r#"
[ha]
port = "wan0"
vrid = 51

[ha.sync]
port = "wan0"
address = "10.0.0.1"
peers = ["10.0.0.9"]
insecure = true

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
persistence = 300

[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.101"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.200"]

[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "10.0.0.103"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.201"]
client_address = "toa"

[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "10.0.0.104"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.202"]
client_address = "proxy-v2"

[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "10.0.0.105"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.203"]
client_address = "toa"
synproxy = true

[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"
"#
}

struct Director {
    worker: Worker<HeapBuf>,
    io: CollectIo,
    link: Arc<HaLink>,
}

impl Director {
    /// A director's only worker; both use the same seed, so they would hand out the
    /// same local ports in the same order.
    fn new(master: bool) -> Self {
        Self::with_config(master, &config())
    }

    /// A director's only worker under `text`.
    fn with_config(master: bool, text: &str) -> Self {
        Self::with_refresh(master, text, rvs_config::DEFAULT_SYNC_REFRESH)
    }

    /// A director's only worker under `text`, refreshing every `refresh`.
    fn with_refresh(master: bool, text: &str, refresh: std::time::Duration) -> Self {
        let mut worker = common::worker(text, 1);
        let peers = ["10.0.0.9".parse().unwrap()];
        let sync = SyncFilter::new(PortId(0), "10.0.0.1".parse().unwrap(), 8848, &peers);
        let link = Arc::new(HaLink::new(master, 1, Some(sync)).with_sync_refresh(refresh));
        worker.attach_ha(Arc::clone(&link));
        let mut io = CollectIo::default();
        // A master's first ticks: the bulk pass of a new master, over an empty table.
        let slots = worker.conns().capacity() + worker.conns().template_capacity();
        for _ in 0..slots.div_ceil(rvs_pipeline::worker::BULK_SLOTS_PER_TICK) {
            worker.tick(0, &mut io);
        }
        Self { worker, io, link }
    }

    /// A client segment in; what went out (port, frame).
    fn packet(&mut self, frame: &[u8], now: u64) -> Vec<(PortId, Vec<u8>)> {
        self.packet_on(PortId(0), frame, now)
    }

    /// A frame in on `port`; what went out (port, frame).
    fn packet_on(&mut self, port: PortId, frame: &[u8], now: u64) -> Vec<(PortId, Vec<u8>)> {
        self.io.sent.clear();
        let buf = HeapBuf::from_frame(frame).unwrap();
        self.worker.process(port, buf, now, &mut self.io);
        self.io
            .sent
            .iter()
            .map(|(p, b)| (*p, b.data().to_vec()))
            .collect()
    }

    fn conns(&self) -> Vec<Conn> {
        let mut v: Vec<Conn> = self.worker.conns().iter().map(|(_, c)| c).collect();
        v.sort_by_key(|c| (c.vip, c.client));
        v
    }
}

/// A TCP segment from `client` (10.0.0.2 or .3 by `host`) to `vip`:80.
fn segment(host: u8, sport: u16, vip: [u8; 4], syn: bool) -> Vec<u8> {
    let mac = [2, 0, 0, 0, 0, 0xc0 + host - 1];
    let b = PacketBuilder::ethernet2(mac, [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 0, host], vip, 64)
        .tcp(sport, 80, 1, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut out = Vec::new();
    b.write(&mut out, &[]).unwrap();
    out
}

/// The source port of a forwarded frame (a FULLNAT local port), by etherparse.
fn source_port(frame: &[u8]) -> u16 {
    match SlicedPacket::from_ethernet(frame).unwrap().transport {
        Some(TransportSlice::Tcp(t)) => t.source_port(),
        other => panic!("not TCP: {other:?}"),
    }
}

#[test]
fn a_backup_installs_what_the_master_had_and_keeps_its_local_ports() {
    const NAT_VIP: [u8; 4] = [10, 0, 0, 100];
    const FULLNAT_VIP: [u8; 4] = [10, 0, 0, 101];
    let mut master = Director::new(true);
    let mut backup = Director::new(false);
    let t0 = 1_000;
    // An established NAT connection (with its persistence template) and a FULLNAT one.
    assert_eq!(
        master.packet(&segment(2, 40000, NAT_VIP, true), t0).len(),
        1
    );
    assert_eq!(
        master.packet(&segment(2, 40000, NAT_VIP, false), t0).len(),
        1
    );
    let out = master.packet(&segment(2, 40001, FULLNAT_VIP, true), t0);
    let synced_port = source_port(&out[0].1);
    let had = master.conns();
    assert_eq!(had.len(), 2);
    assert_eq!(master.worker.conns().template_len(), 1);

    // At the next tick, each new connection (the template first).
    master.worker.tick(t0 + 1, &mut master.io);
    master.worker.tick(t0 + 2, &mut master.io);
    let mut records = Vec::new();
    while let Some(r) = master.link.take_record() {
        records.push(r);
    }
    let kinds: Vec<RecordKind> = records.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [RecordKind::Template, RecordKind::Conn, RecordKind::Conn]
    );
    // Nothing more until a refresh is due.
    master.worker.tick(t0 + 3, &mut master.io);
    assert!(master.link.take_record().is_none());

    // The backup installs them 100 ms later, timers as they were left.
    let t1 = t0 + 100;
    for r in &records {
        assert!(backup.link.push_install(0, *r));
    }
    backup.worker.tick(t1, &mut backup.io);
    assert_eq!(backup.link.installs(), (3, 0));
    let got = backup.conns();
    assert_eq!(got.len(), 2);
    for (g, h) in got.iter().zip(&had) {
        assert_eq!(
            (g.client, g.vip, g.real, g.local, g.mode, g.state),
            (h.client, h.vip, h.real, h.local, h.mode, h.state)
        );
        let left = h.expires_ms - (t0 + 1);
        assert_eq!(g.expires_ms, t1 + left, "the master's time left");
    }
    assert_eq!(got[0].state, TcpState::Established);
    assert!(got[0].template.is_some(), "linked to the synced template");
    assert_eq!(backup.worker.conns().template_len(), 1);

    // Taking over: the synced NAT connection carries on to its real, unscheduled; a
    // new FULLNAT connection does not get the synced local port.
    backup.link.set_serving(true);
    backup.worker.tick(t1 + 1, &mut backup.io);
    let out = backup.packet(&segment(2, 40000, NAT_VIP, false), t1 + 2);
    assert_eq!(out.len(), 1);
    let real = SlicedPacket::from_ethernet(&out[0].1).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = real.net else {
        panic!("not IPv4")
    };
    assert_eq!(
        std::net::IpAddr::from(ip.header().destination()),
        had[0].real.ip()
    );
    let out = backup.packet(&segment(3, 40002, FULLNAT_VIP, true), t1 + 3);
    let backup_port = source_port(&out[0].1);
    assert_ne!(backup_port, synced_port, "a synced local port was reused");
    // With the same seed the master hands out second the port the backup gave first:
    // only the hold kept the backup from giving the synced one.
    let out = master.packet(&segment(3, 40002, FULLNAT_VIP, true), t0 + 4);
    assert_eq!(source_port(&out[0].1), backup_port);
}

#[test]
fn an_expiry_on_the_master_removes_the_entry_on_the_backup() {
    const VIP: [u8; 4] = [10, 0, 0, 101];
    let mut master = Director::new(true);
    let mut backup = Director::new(false);
    master.packet(&segment(2, 40001, VIP, true), 0);
    let synced = master.conns()[0];
    master.worker.tick(1, &mut master.io);
    let r = master.link.take_record().expect("the connection");
    assert!(backup.link.push_install(0, r));
    backup.worker.tick(2, &mut backup.io);
    assert_eq!(backup.conns().len(), 1);
    // The master's SYN_RECV entry times out: an expiry record, the backup drops it.
    master
        .worker
        .tick(synced.expires_ms + rvs_conntrack::TICK_MS, &mut master.io);
    assert!(master.conns().is_empty());
    let mut last = None;
    while let Some(r) = master.link.take_record() {
        last = Some(r);
    }
    let r = last.expect("an expiry record");
    assert_eq!(r.kind, RecordKind::Expire);
    assert!(backup.link.push_install(0, r));
    backup.worker.tick(3, &mut backup.io);
    assert!(backup.conns().is_empty());
    assert_eq!(backup.link.installs(), (2, 0));
}

/// A full queue to the control core loses nothing: changes wait in the worker's
/// ring, and a bulk pass waits where it is while the queue is more than half full.
#[test]
fn a_full_queue_holds_changes_and_passes_instead_of_losing_them() {
    use rvs_pipeline::ha::{SYNC_RECORDS, SYNC_WALK_RESERVE};
    let mut master = Director::new(true);
    let filler = fullnat_record(&mut master, 40000);
    // The control core is behind: the queue is full.
    for _ in 0..SYNC_RECORDS {
        assert!(master.link.offer_record(filler));
    }
    master.packet(&segment(2, 40001, [10, 0, 0, 101], true), 10);
    master.packet(&segment(3, 40002, [10, 0, 0, 101], true), 10);
    master.worker.tick(11, &mut master.io);
    assert_eq!(master.link.records_dropped(), 0);
    let clients = |m: &Director| {
        let mut v: Vec<u16> = std::iter::from_fn(|| m.link.take_record())
            .filter(|r| r.kind == RecordKind::Conn && r.client != filler.client)
            .map(|r| r.client.port())
            .collect();
        v.sort_unstable();
        v
    };
    assert!(clients(&master).is_empty(), "no room: nothing sent");
    // Room again: the changes go.
    master.worker.tick(12, &mut master.io);
    assert_eq!(clients(&master), [40001, 40002]);

    // A backup asks for everything while the queue is more than half full: the pass
    // waits, then sends every connection once there is room.
    for _ in 0..SYNC_RECORDS - SYNC_WALK_RESERVE {
        assert!(master.link.offer_record(filler));
    }
    master.link.request_bulk();
    master.worker.tick(13, &mut master.io);
    let mut waited = Vec::new();
    for _ in 0..SYNC_RECORDS - SYNC_WALK_RESERVE {
        waited.push(master.link.take_record().unwrap());
    }
    assert!(waited.iter().all(|r| *r == filler), "the pass waited");
    master.worker.tick(14, &mut master.io);
    assert_eq!(clients(&master), [40001, 40002]);
    assert_eq!(master.link.records_dropped(), 0);
}

/// A UDP datagram from `src` to `dst`:`dport` (from port 8848), its checksum right.
fn datagram(src: [u8; 4], dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 1])
        .ipv4(src, dst, 64)
        .udp(8848, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

impl Director {
    /// Refusals of `reason` counted by the link.
    fn refused(&self, reason: SyncRefusal) -> u64 {
        self.link.refusals()[reason.index()]
    }

    /// Frames the link queued for the control core.
    fn queued(&self) -> usize {
        std::iter::from_fn(|| self.link.take_sync_message()).count()
    }

    /// Install `records` at `now` (worker 0's tick).
    fn install(&mut self, records: &[SyncRecord], now: u64) {
        for r in records {
            assert!(self.link.push_install(0, *r));
        }
        self.worker.tick(now, &mut self.io);
    }
}

/// Only a peer's datagram, on the sync port, to the sync address and UDP port, with a
/// good checksum reaches the control core; each other is refused by the worker and
/// counted by reason, and takes no place in the queue.
#[test]
fn a_worker_queues_only_a_peers_sync_datagram() {
    let mut backup = Director::new(false);
    let payload = b"RVSS, or anything: the control core reads it";
    let from_peer = datagram([10, 0, 0, 9], [10, 0, 0, 1], 8848, payload);
    backup.packet(&from_peer, 1);
    assert_eq!(backup.queued(), 1, "a peer's datagram is taken");

    // From an address that is not a peer (10.0.0.2, a client).
    backup.packet(&datagram([10, 0, 0, 2], [10, 0, 0, 1], 8848, payload), 2);
    assert_eq!(backup.queued(), 0);
    assert_eq!(backup.refused(SyncRefusal::Source), 1);
    // The peer's datagram on another dataplane port (lan0).
    backup.packet_on(PortId(1), &from_peer, 3);
    assert_eq!(backup.queued(), 0);
    assert_eq!(backup.refused(SyncRefusal::Port), 1);
    // A bit flipped on the way; no checksum at all.
    let mut flipped = from_peer.clone();
    *flipped.last_mut().unwrap() ^= 0x20;
    backup.packet(&flipped, 4);
    let mut unchecked = from_peer.clone();
    unchecked[14 + 20 + 6..14 + 20 + 8].fill(0);
    backup.packet(&unchecked, 5);
    assert_eq!(backup.queued(), 0);
    assert_eq!(backup.refused(SyncRefusal::Checksum), 2);
    let drops = backup.worker.counters().drops[DropReason::HaSyncRefused.index()];
    assert_eq!(drops, 4, "each dropped as ha_sync_refused");
    // To another UDP port, or another of the director's addresses: not sync at all.
    backup.packet(&datagram([10, 0, 0, 9], [10, 0, 0, 1], 8849, payload), 6);
    let lan = datagram([10, 0, 0, 9], [10, 1, 0, 1], 8848, payload);
    backup.packet(&lan, 7);
    assert_eq!(backup.queued(), 0);
    assert_eq!(backup.link.refusals().iter().sum::<u64>(), 4);
}

/// A genuine master at the most its worker 0 sends (64 frames a millisecond) passes
/// whole; the same source beyond its rate is refused (`rate`), counted, and takes no
/// place; the queue's own bound is counted as `queue_full`.
#[test]
fn a_sync_source_is_held_to_its_rate_and_a_full_queue_is_counted() {
    use rvs_pipeline::ha::rate_limit::{SYNC_FRAMES_PER_SECOND, SYNC_LIMIT};
    use rvs_pipeline::ha::SYNC_FRAMES;
    let mut backup = Director::new(false);
    let from_peer = datagram([10, 0, 0, 9], [10, 0, 0, 1], 8848, b"RVSS");
    let per_ms = (SYNC_FRAMES_PER_SECOND / 1000) as usize;
    // Two seconds at full rate, the control core taking what came every 20 ms.
    let mut taken = 0;
    for ms in 1..=2000 {
        for _ in 0..per_ms {
            backup.packet(&from_peer, ms);
        }
        if ms % 20 == 0 {
            taken += backup.queued();
        }
    }
    assert_eq!(taken, 2000 * per_ms, "the genuine stream passes whole");
    assert_eq!(backup.link.refusals().iter().sum::<u64>(), 0);
    // Ten times that in one millisecond: the bucket's burst passes, the rest is refused.
    let burst = SYNC_LIMIT.burst as usize;
    for _ in 0..10 * burst {
        backup.packet(&from_peer, 2200);
    }
    assert_eq!(backup.refused(SyncRefusal::Rate), (9 * burst) as u64);
    assert_eq!(backup.queued(), burst.min(SYNC_FRAMES));
    // A queue the control core does not empty fills up: counted by reason and as a drop.
    for ms in 0..4 {
        for _ in 0..SYNC_FRAMES {
            backup.packet(&from_peer, 3000 + ms * 1000);
        }
    }
    assert_eq!(backup.queued(), SYNC_FRAMES);
    let full = backup.refused(SyncRefusal::QueueFull);
    assert_eq!(full, (3 * SYNC_FRAMES) as u64);
    let drops = backup.worker.counters().drops[DropReason::HaQueueFull.index()];
    assert_eq!(drops, full);
}

/// A FULLNAT connection record of the master, for `client_port`.
fn fullnat_record(master: &mut Director, client_port: u16) -> SyncRecord {
    master.packet(&segment(2, client_port, [10, 0, 0, 101], true), 0);
    master.worker.tick(1, &mut master.io);
    let r = master.link.take_record().expect("the connection");
    while master.link.take_record().is_some() {}
    r
}

/// Records that do not fit this director's configuration are refused by reason; none
/// is installed, none builds a port pool or holds a port.
#[test]
fn a_record_is_checked_against_the_configuration_before_anything_is_installed() {
    let mut master = Director::new(true);
    let good = fullnat_record(&mut master, 40001);
    let local = good.local.expect("a FULLNAT local endpoint");
    let mut backup = Director::new(false);
    let pools = backup.worker.local_ports().pools();
    let held = backup.worker.local_ports().held(local.ip());
    assert_eq!(held, Some(0));

    let foreign_local = SyncRecord {
        local: Some("10.9.9.9:2048".parse().unwrap()),
        ..good
    };
    let low_port = SyncRecord {
        local: Some(std::net::SocketAddr::new(local.ip(), 80)),
        ..good
    };
    let unknown_real = SyncRecord {
        real: "10.1.0.13:80".parse().unwrap(),
        ..good
    };
    let other_mode = SyncRecord {
        mode: rvs_conntrack::ForwardMode::Dr,
        local: None,
        ..good
    };
    let unknown_service = SyncRecord {
        vip: "10.0.0.199:80".parse().unwrap(),
        ..good
    };
    let udp_established = SyncRecord {
        proto: rvs_conntrack::Proto::Udp,
        vip: "10.0.0.100:80".parse().unwrap(),
        ..good
    };
    let template_of_no_persistence = SyncRecord {
        kind: RecordKind::Template,
        state: TcpState::None,
        local: None,
        client: "10.0.0.2:0".parse().unwrap(),
        ..good
    };
    backup.install(
        &[
            foreign_local,
            low_port,
            unknown_real,
            other_mode,
            unknown_service,
            udp_established,
            template_of_no_persistence,
        ],
        10,
    );
    assert!(backup.conns().is_empty(), "nothing installed");
    assert_eq!(backup.worker.conns().template_len(), 0);
    assert_eq!(backup.worker.local_ports().pools(), pools, "no pool built");
    assert_eq!(backup.worker.local_ports().held(local.ip()), Some(0));
    assert_eq!(
        backup
            .worker
            .local_ports()
            .held("10.9.9.9".parse().unwrap()),
        None
    );
    for reason in [
        SyncRefusal::LocalAddress,
        SyncRefusal::LocalPort,
        SyncRefusal::Real,
        SyncRefusal::ForwardMode,
        SyncRefusal::Template,
    ] {
        assert_eq!(backup.refused(reason), 1, "{reason:?}");
    }
    // Another VIP, and UDP where the VIP has only TCP: no such service.
    assert_eq!(backup.refused(SyncRefusal::Service), 2);
    assert_eq!(backup.link.installs(), (0, 7));

    // The good record goes in, holding its local port and building no pool.
    backup.install(&[good], 20);
    assert_eq!(backup.conns().len(), 1);
    assert_eq!(backup.worker.local_ports().held(local.ip()), Some(1));
    assert_eq!(backup.worker.local_ports().pools(), pools);
}

/// The master hands out a FULLNAT local port again only once its connection ended
/// there: a backup entry still holding it (the end never arrived: the master was
/// killed, or the record was lost) is stale, and the new connection takes its place
/// instead of being refused and then lost at the next takeover.
#[test]
fn a_record_naming_a_local_port_an_older_entry_holds_takes_its_place() {
    let mut master = Director::new(true);
    let old = fullnat_record(&mut master, 40001);
    let local = old.local.expect("a FULLNAT local endpoint");
    let mut backup = Director::new(false);
    backup.install(&[old], 10);
    assert_eq!(backup.conns().len(), 1);

    let reused = SyncRecord {
        client: "10.0.0.3:40009".parse().unwrap(),
        ..old
    };
    backup.install(&[reused], 20);
    assert_eq!(backup.refused(SyncRefusal::LocalPort), 0);
    let got = backup.conns();
    assert_eq!(got.len(), 1, "the older entry is gone");
    assert_eq!(got[0].client, reused.client, "the new connection is in");
    assert_eq!(got[0].local, Some(local));
    assert_eq!(backup.worker.counters().sync_superseded, 1);
    assert_eq!(
        backup.worker.local_ports().held(local.ip()),
        Some(1),
        "the port is held once, by the new entry"
    );

    // The new entry's end gives the port back: nothing is left held.
    let ended = SyncRecord {
        kind: RecordKind::Expire,
        ..reused
    };
    backup.install(&[ended], 30);
    assert!(backup.conns().is_empty());
    assert_eq!(backup.worker.local_ports().held(local.ip()), Some(0));
}

/// A time left of 49 days is cut to the timeout of the state (`[timeouts] tcp`,
/// 900 s), and counted.
#[test]
fn an_absurd_time_left_is_cut_to_the_configured_timeout() {
    let mut master = Director::new(true);
    let r = SyncRecord {
        state: TcpState::Established,
        timeout_ms: u32::MAX,
        ..fullnat_record(&mut master, 40001)
    };
    let mut backup = Director::new(false);
    backup.install(&[r], 100);
    let got = backup.conns();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expires_ms, 100 + 900_000);
    assert_eq!(backup.link.clamped(), 1);
    assert_eq!(backup.link.installs(), (1, 0));
}

/// A client segment to `vip`:80 from 10.0.0.2:`sport`, with `seq`, `ack` and
/// `payload`.
fn client_segment(vip: [u8; 4], sport: u16, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xc1], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 0, 2], vip, 64)
        .tcp(sport, 80, seq, 64240)
        .ack(ack)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// The TCP segment in `frame`: (sequence, acknowledgement, source port).
fn tcp_of(frame: &[u8]) -> (u32, u32, u16) {
    match SlicedPacket::from_ethernet(frame).unwrap().transport {
        Some(TransportSlice::Tcp(t)) => (
            t.sequence_number(),
            t.acknowledgment_number(),
            t.source_port(),
        ),
        other => panic!("not TCP: {other:?}"),
    }
}

/// The connection records the master queues at its tick at `now`.
fn conn_records(master: &mut Director, now: u64) -> Vec<SyncRecord> {
    master.worker.tick(now, &mut master.io);
    std::iter::from_fn(|| master.link.take_record())
        .filter(|r| r.kind == RecordKind::Conn)
        .collect()
}

/// A SYN-proxied connection is not sent while it waits for its real (its sequence
/// shift is not known yet); once the real answered, its stream state (SYN proxy shifts
/// and TOA) crosses, as a PROXY v2 connection's does, and the backup holds the same.
#[test]
fn a_syn_proxied_connection_crosses_once_its_real_answered() {
    const VIP: [u8; 4] = [10, 0, 0, 105];
    let mut master = Director::new(true);
    let syn = segment(2, 40007, VIP, true);
    let out = master.packet(&syn, 0);
    let (cookie, _, _) = tcp_of(&out[0].1);
    let out = master.packet(
        &client_segment(VIP, 40007, 2, cookie.wrapping_add(1), b""),
        1,
    );
    assert_eq!(out.len(), 1, "the SYN to the real");
    assert!(
        conn_records(&mut master, 2).is_empty(),
        "half open: not sent"
    );
    assert!(
        conn_records(&mut master, 400).is_empty(),
        "not at the next pass either"
    );

    // The real answers: a SYN-ACK to the local endpoint, from the real's MAC.
    let to_real = &out[0].1;
    let (real_syn_seq, _, local_port) = tcp_of(to_real);
    let mut synack = Vec::new();
    let (dst_mac, src_mac): ([u8; 6], [u8; 6]) = (
        to_real[6..12].try_into().unwrap(),
        to_real[0..6].try_into().unwrap(),
    );
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4([10, 1, 0, 11], [10, 1, 0, 203], 64)
        .tcp(80, local_port, 7000, 64240)
        .syn()
        .ack(real_syn_seq.wrapping_add(1))
        .write(&mut synack, &[])
        .unwrap();
    assert_eq!(master.packet_on(PortId(1), &synack, 3).len(), 1, "the ACK");
    let had = master.conns()[0];
    assert_ne!(had.stream.syn_proxy, 0);
    let sent = conn_records(&mut master, 800);
    let r = sent.iter().find(|r| r.vip == had.vip).expect("sent now");
    assert_eq!(r.stream, had.stream);
    let mut backup = Director::new(false);
    backup.install(&[*r], 900);
    assert_eq!(backup.link.installs(), (1, 0));
    assert_eq!(backup.conns()[0].stream, had.stream);

    // PROXY v2: the header goes in front of the client's first bytes.
    const V2: [u8; 4] = [10, 0, 0, 104];
    master.packet(&segment(2, 40008, V2, true), 1000);
    master.packet(&client_segment(V2, 40008, 2, 1, b"GET /"), 1001);
    let had = *master
        .conns()
        .iter()
        .find(|c| c.vip.port() == 80 && c.client.port() == 40008)
        .unwrap();
    assert_ne!(had.stream.inserted, 0, "the PROXY header is in");
    let sent = conn_records(&mut master, 1400);
    let r = sent
        .iter()
        .find(|r| r.client.port() == 40008)
        .expect("sent");
    assert_eq!(r.stream, had.stream);
    backup.install(&[*r], 1500);
    let got = backup
        .conns()
        .into_iter()
        .find(|c| c.client.port() == 40008)
        .unwrap();
    assert_eq!(got.stream, had.stream);
}

/// The stream state of a connection (here TOA's) crosses with it.
#[test]
fn stream_state_crosses_with_the_connection() {
    let mut master = Director::new(true);
    master.packet(&segment(2, 40005, [10, 0, 0, 103], true), 0);
    let had = master.conns()[0];
    assert_ne!(had.stream, rvs_conntrack::StreamAdjust::default());
    master.worker.tick(1, &mut master.io);
    let r = master.link.take_record().expect("the connection");
    assert_eq!(r.stream, had.stream);
    let mut backup = Director::new(false);
    backup.install(&[r], 2);
    assert_eq!(backup.link.installs(), (1, 0));
    assert_eq!(backup.conns()[0].stream, had.stream);
}

/// A backup that holds a client's tuple and gets a connection record for it with
/// another real or local endpoint (the master expired the old connection for a new SYN
/// on the reused port, and the expiry was lost or is still on its way) replaces its
/// entry: the client goes to its new real after a takeover, and the old entry's local
/// port goes back.
#[test]
fn a_record_for_a_held_tuple_with_new_endpoints_replaces_the_entry() {
    let mut master = Director::new(true);
    let old = fullnat_record(&mut master, 40001);
    let mut backup = Director::new(false);
    backup.install(&[old], 10);
    let laddr = old.local.expect("FULLNAT").ip();
    assert_eq!(backup.worker.local_ports().held(laddr), Some(1));

    let moved = SyncRecord {
        local: Some(std::net::SocketAddr::new(
            laddr,
            old.local.unwrap().port() + 2,
        )),
        ..old
    };
    backup.install(&[moved], 20);
    assert_eq!(backup.refused(SyncRefusal::Conflict), 0);
    assert_eq!(backup.worker.counters().sync_superseded, 1);
    let got = backup.conns();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].local, moved.local, "the new local endpoint");
    assert_eq!(
        backup.worker.local_ports().held(laddr),
        Some(1),
        "the old local port went back"
    );

    // Another real of the service (NAT, persistent service 10.0.0.100).
    let nat = SyncRecord {
        vip: "10.0.0.100:80".parse().unwrap(),
        mode: rvs_conntrack::ForwardMode::Nat,
        local: None,
        ..old
    };
    let other_real = SyncRecord {
        real: "10.1.0.12:80".parse().unwrap(),
        ..nat
    };
    backup.install(&[nat, other_real], 30);
    let got: Vec<_> = backup
        .conns()
        .into_iter()
        .filter(|c| c.vip == nat.vip)
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].real, other_real.real, "the new real");
    assert_eq!(backup.link.installs(), (4, 0));

    // The new entry is checked like any record: an unknown real is refused, and the
    // entry it named stays as it was.
    let unknown = SyncRecord {
        real: "10.1.0.13:80".parse().unwrap(),
        ..nat
    };
    backup.install(&[unknown], 40);
    assert_eq!(backup.refused(SyncRefusal::Real), 1);
    assert!(backup.conns().iter().any(|c| c.real == other_real.real));
}

/// A persistence template held by a live connection crosses with the service's whole
/// persistence (not what was left of its own time, nothing once the connection idled
/// past it), and keeps that persistence as its timeout on the backup: after a takeover
/// the client's next connection still goes to its real.
#[test]
fn a_synced_template_keeps_its_persistence_and_the_client_its_real() {
    const VIP: [u8; 4] = [10, 0, 0, 100];
    let mut master = Director::new(true);
    let mut backup = Director::new(false);
    // rr: the client .3 gets real .11, the client .2 (with its template) real .12.
    master.packet(&segment(3, 40000, VIP, true), 0);
    master.packet(&segment(2, 40000, VIP, true), 0);
    master.packet(&segment(2, 40000, VIP, false), 0);
    // The connection idles past the template's own 300 s (ESTABLISHED keeps 900 s).
    let t = 400_000;
    master.worker.tick(t, &mut master.io);
    master.worker.tick(t + 1, &mut master.io);
    let records = std::iter::from_fn(|| master.link.take_record()).collect::<Vec<_>>();
    let template = records
        .iter()
        .find(|r| r.kind == RecordKind::Template && r.real.ip().to_string() == "10.1.0.12")
        .copied()
        .expect("the template of the client .2");
    assert_eq!(template.timeout_ms, 300_000, "held: the whole persistence");
    let conn = records
        .iter()
        .find(|r| r.kind == RecordKind::Conn && r.client.port() == 40000 && r.template.is_some())
        .copied()
        .expect("its connection");

    let t1 = 500_000;
    backup.install(&[template, conn], t1);
    let tpl = backup.worker.conns().templates().next().copied().unwrap();
    assert_eq!(
        tpl.timeout_s, 300,
        "the service's persistence, not a time left"
    );
    assert_eq!(tpl.expires_ms, t1 + 300_000);
    assert_eq!(tpl.conns, 1, "the connection holds it");

    // Taking over, the connection ends (a reset), and the client comes back 200 s
    // later: its template still holds, so it goes to .12 where the backup's own rr
    // would pick .11 first.
    backup.link.set_serving(true);
    backup.worker.tick(t1 + 1, &mut backup.io);
    let mut rst = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xc1], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 0, 2], VIP, 64)
        .tcp(40000, 80, 1, 64240)
        .rst()
        .write(&mut rst, &[])
        .unwrap();
    backup.packet(&rst, t1 + 2);
    backup.worker.tick(t1 + 20_000, &mut backup.io);
    assert!(backup.conns().is_empty(), "the connection is gone");
    let out = backup.packet(&segment(2, 40001, VIP, true), t1 + 200_000);
    let p = SlicedPacket::from_ethernet(&out[0].1).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    assert_eq!(ip.header().destination(), [10, 1, 0, 12], "sticky");
}

/// A template that had 10 s left on the master expires 10 s later on the backup, and a
/// use before then refreshes it by the whole persistence (300 s), not by 10 s.
#[test]
fn a_template_with_little_time_left_is_refreshed_by_the_persistence() {
    let template = SyncRecord {
        kind: RecordKind::Template,
        proto: rvs_conntrack::Proto::Tcp,
        mode: rvs_conntrack::ForwardMode::Nat,
        state: TcpState::None,
        timeout_ms: 10_000,
        client: "10.0.0.2:0".parse().unwrap(),
        vip: "10.0.0.100:80".parse().unwrap(),
        real: "10.1.0.12:80".parse().unwrap(),
        local: None,
        template: None,
        stream: rvs_conntrack::StreamAdjust::default(),
    };
    let mut backup = Director::new(false);
    backup.install(&[template], 1_000);
    let tpl = backup.worker.conns().templates().next().copied().unwrap();
    assert_eq!((tpl.timeout_s, tpl.expires_ms), (300, 11_000));
    backup.link.set_serving(true);
    backup.worker.tick(1_001, &mut backup.io);
    backup.packet(&segment(2, 40001, [10, 0, 0, 100], true), 5_000);
    let tpl = backup.worker.conns().templates().next().copied().unwrap();
    assert_eq!(tpl.expires_ms, 305_000, "refreshed by the persistence");
}

/// A SYN from the client 10.0.`x`.`y` (on the wan0 side) to `vip`:80.
fn syn_from(x: u8, y: u8, sport: u16, vip: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xc1], [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, x, y], vip, 64)
        .tcp(sport, 80, 1, 64240)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

/// A pass sends every persistence template once, also when one expires while the
/// pass is under way (the pass takes several ticks: here the queue has room for only
/// part of it at first).
#[test]
fn a_pass_sends_each_template_once_while_templates_change() {
    use rvs_pipeline::ha::{SYNC_RECORDS, SYNC_WALK_RESERVE};
    const VIP: [u8; 4] = [10, 0, 0, 100];
    let text = config_of(rvs_config::testbed::TwoPortDirector::new("mem", 4096).client());
    // Refresh passes (which send templates again, by design) out of the way.
    let hour = std::time::Duration::from_secs(3600);
    let mut master = Director::with_refresh(true, &text, hour);
    // The first client's template takes slot 0 and expires at 300 s (its SYN_RECV
    // connection goes at 60 s); 600 more clients come at 200 s.
    master.packet(&syn_from(1, 1, 1000, VIP), 0);
    for i in 0..600u16 {
        let [x, y] = (0x200 + i).to_be_bytes();
        master.packet(&syn_from(x, y, 1000, VIP), 200_000);
    }
    // Their records, then their expiries (SYN_RECV: 60 s), are sent.
    master.worker.tick(200_001, &mut master.io);
    master.worker.tick(260_200, &mut master.io);
    while master.link.take_record().is_some() {}
    assert!(master.worker.conns().is_empty());
    assert_eq!(master.worker.conns().template_len(), 601);
    // A backup asks for everything just before the first template expires; the queue
    // has room for 300 templates of the pass before it waits.
    let filler = SyncRecord {
        kind: RecordKind::Expire,
        ..fullnat_record(&mut Director::new(true), 40000)
    };
    for _ in 0..SYNC_RECORDS - SYNC_WALK_RESERVE - 300 {
        assert!(master.link.offer_record(filler));
    }
    master.link.request_bulk();
    master.worker.tick(299_950, &mut master.io);
    let mut sent = taken_templates(&master);
    assert_eq!(sent.len(), 300);
    for t in 1..=20 {
        master.worker.tick(300_100 + t, &mut master.io);
        sent.extend(taken_templates(&master));
    }
    assert_eq!(master.worker.conns().template_len(), 600, "one expired");
    let distinct: std::collections::HashSet<_> = sent.iter().copied().collect();
    assert_eq!(distinct.len(), sent.len(), "none twice");
    let kept: std::collections::HashSet<_> = master
        .worker
        .conns()
        .templates()
        .map(|t| t.key.client)
        .collect();
    assert!(
        kept.is_subset(&distinct),
        "every template still there was sent"
    );
}

/// The clients of the template records the master queued since the last take.
fn taken_templates(master: &Director) -> Vec<std::net::IpAddr> {
    std::iter::from_fn(|| master.link.take_record())
        .filter(|r| r.kind == RecordKind::Template)
        .map(|r| r.client.ip())
        .collect()
}

/// The connection records `master` queues at its tick at `now`, by client port.
fn conn_ports(master: &mut Director, now: u64) -> Vec<u16> {
    conn_records(master, now)
        .iter()
        .map(|r| r.client.port())
        .collect()
}

/// A master sends a connection when it is made and when its TCP state changes, at the
/// next tick, and otherwise only once per `refresh` (here 1 s): no pass resends the
/// table every 250 ms any more.
#[test]
fn changes_go_at_the_next_tick_and_each_entry_again_once_per_refresh() {
    const VIP: [u8; 4] = [10, 0, 0, 101];
    let second = std::time::Duration::from_secs(1);
    let mut master = Director::with_refresh(true, &config(), second);
    master.packet(&segment(2, 40001, VIP, true), 10);
    let made = conn_records(&mut master, 11);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].state, TcpState::SynRecv);
    master.packet(&segment(2, 40001, VIP, false), 12);
    let established = conn_records(&mut master, 13);
    assert_eq!(established.len(), 1);
    assert_eq!(established[0].state, TcpState::Established);
    // Packets that change no state send nothing.
    master.packet(&segment(2, 40001, VIP, false), 14);
    assert!(conn_ports(&mut master, 15).is_empty());
    // Then once a second: ten times in ten seconds of millisecond ticks.
    let mut refreshed = 0;
    for now in 16..10_016 {
        refreshed += conn_ports(&mut master, now).len();
    }
    assert!((9..=11).contains(&refreshed), "{refreshed} refreshes");
}

/// A tick sends at most `CHANGES_PER_TICK` changes; the rest go at the next ticks.
#[test]
fn a_tick_sends_a_bounded_number_of_changes() {
    use rvs_pipeline::worker::CHANGES_PER_TICK;
    const VIP: [u8; 4] = [10, 0, 0, 101];
    let text = config_of(rvs_config::testbed::TwoPortDirector::new("mem", 4096).client());
    let mut master = Director::with_config(true, &text);
    for sport in 0..3000 {
        master.packet(&segment(2, 10_000 + sport, VIP, true), 10);
    }
    assert_eq!(master.worker.conns().len(), 3000);
    assert_eq!(conn_ports(&mut master, 11).len(), CHANGES_PER_TICK);
    assert_eq!(conn_ports(&mut master, 12).len(), 3000 - CHANGES_PER_TICK);
    assert!(conn_ports(&mut master, 13).is_empty());
}

/// Nothing noted as master is sent after the director became backup; becoming master
/// again starts a bulk pass that sends every connection once.
#[test]
fn a_role_change_drops_the_changes_and_a_new_master_sends_everything() {
    const VIP: [u8; 4] = [10, 0, 0, 101];
    let mut master = Director::new(true);
    master.packet(&segment(2, 40001, VIP, true), 10);
    master.packet(&segment(3, 40002, VIP, true), 10);
    master.link.set_serving(false);
    assert!(
        conn_ports(&mut master, 11).is_empty(),
        "backup: nothing sent"
    );
    master.link.set_serving(true);
    let mut sent = conn_ports(&mut master, 12);
    sent.sort_unstable();
    assert_eq!(sent, [40001, 40002], "the bulk pass, each once");
    assert!(conn_ports(&mut master, 13).is_empty());
}

/// [`config`] with a TCP service on 10.0.0.106:80 whose real 10.1.0.12 is reached by
/// GUE (port 6080, with its checksum) and one on 10.0.0.107:80 whose real 10.1.0.11 is
/// reached by GRE.
fn tunnel_config() -> String {
    config()
        + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.106"
port = 80
scheduler = "rr"

[[service.real]]
ip = "10.1.0.12"
forward = "tun"
tun_type = "gue"
tun_port = 6080
tun_csum = "csum"

[[service]]
proto = "tcp"
vip = "10.0.0.107"
port = 80
scheduler = "rr"

[[service.real]]
ip = "10.1.0.11"
forward = "tun"
tun_type = "gre"
"#
}

#[test]
fn a_synced_connection_to_a_tunnel_real_is_encapsulated_alike_on_the_backup() {
    let text = tunnel_config();
    let mut master = Director::with_config(true, &text);
    let mut backup = Director::with_config(false, &text);
    let t0 = 1_000;
    for vip in [[10, 0, 0, 106], [10, 0, 0, 107]] {
        assert_eq!(master.packet(&segment(2, 40000, vip, true), t0).len(), 1);
    }
    master.worker.tick(t0 + 1, &mut master.io);
    let mut records = Vec::new();
    while let Some(r) = master.link.take_record() {
        records.push(r);
    }
    assert_eq!(records.len(), 2);
    for r in &records {
        assert!(backup.link.push_install(0, *r));
    }
    backup.worker.tick(t0 + 2, &mut backup.io);
    assert_eq!(backup.link.installs(), (2, 0));
    backup.link.set_serving(true);
    backup.worker.tick(t0 + 3, &mut backup.io);
    // The client's next segment: the backup sends what the master sends, byte for
    // byte: the same real, encapsulation, port and checksum (the tunnel comes from the
    // backup's own configuration of the real, the source port from the connection).
    for (vip, outer_proto) in [([10, 0, 0, 106], 17), ([10, 0, 0, 107], 47)] {
        let ack = segment(2, 40000, vip, false);
        let from_master = master.packet(&ack, t0 + 4);
        let from_backup = backup.packet(&ack, t0 + 4);
        assert_eq!(from_backup.len(), 1, "forwarded, not scheduled afresh");
        assert_eq!(from_backup, from_master);
        let p = SlicedPacket::from_ethernet(&from_backup[0].1).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().protocol().0, outer_proto);
    }
    assert_eq!(
        backup.worker.counters().conns_created,
        0,
        "nothing scheduled"
    );
}

/// [`config`] with a SYN-proxied TCP service on 10.0.0.108:80 whose real 10.1.0.12 is
/// NAT (it sees the client's own address; its replies come back through the director).
fn nat_synproxy_config() -> String {
    config()
        + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.108"
port = 80
synproxy = true

[[service.real]]
ip = "10.1.0.12"
forward = "nat"
"#
}

/// The TCP segment in `frame` with its checksum checked by etherparse: (source,
/// destination, sequence, acknowledgement, payload).
fn checked_tcp(
    frame: &[u8],
) -> (
    std::net::SocketAddr,
    std::net::SocketAddr,
    u32,
    u32,
    Vec<u8>,
) {
    let p = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    let h = ip.header();
    assert_eq!(
        h.to_header().calc_header_checksum(),
        h.header_checksum(),
        "IPv4 checksum"
    );
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let (src, dst) = (h.source(), h.destination());
    assert_eq!(
        t.calc_checksum_ipv4(src, dst).unwrap(),
        t.checksum(),
        "TCP checksum"
    );
    (
        (std::net::Ipv4Addr::from(src), t.source_port()).into(),
        (std::net::Ipv4Addr::from(dst), t.destination_port()).into(),
        t.sequence_number(),
        t.acknowledgment_number(),
        t.payload().to_vec(),
    )
}

/// A SYN-proxied connection to a NAT real: the SYN goes to the real from the client's
/// own address, the real's SYN-ACK (to the client's address) becomes the ACK that
/// completes its handshake, and the connection with its sequence shift crosses to the
/// backup, which then forwards both ways exactly as the master does: the client's
/// acknowledgments moved into the real's numbers, the real's sequence numbers into the
/// cookie's, only the destination (toward the real) or source (toward the client)
/// rewritten.
#[test]
fn a_syn_proxied_nat_connection_continues_on_the_backup() {
    const VIP: [u8; 4] = [10, 0, 0, 108];
    let text = nat_synproxy_config();
    let mut master = Director::with_config(true, &text);
    let mut backup = Director::with_config(false, &text);
    let client: std::net::SocketAddr = "10.0.0.2:40010".parse().unwrap();
    let (vip, real): (std::net::SocketAddr, std::net::SocketAddr) = (
        "10.0.0.108:80".parse().unwrap(),
        "10.1.0.12:80".parse().unwrap(),
    );
    let out = master.packet(&segment(2, 40010, VIP, true), 0);
    assert_eq!(out.len(), 1, "the cookie SYN-ACK");
    let (_, _, cookie, _, _) = checked_tcp(&out[0].1);
    let out = master.packet(
        &client_segment(VIP, 40010, 2, cookie.wrapping_add(1), b""),
        1,
    );
    assert_eq!(out.len(), 1, "the SYN to the real");
    assert_eq!(out[0].0, PortId(1));
    let to_real = out[0].1.clone();
    assert_eq!(checked_tcp(&to_real), (client, real, 1, 0, Vec::new()));

    // The real's SYN-ACK, to the client's address through its default gateway.
    let real_isn = 0x8000_0000u32;
    let (dst_mac, src_mac): ([u8; 6], [u8; 6]) = (
        to_real[6..12].try_into().unwrap(),
        to_real[0..6].try_into().unwrap(),
    );
    let from_real = |seq: u32, ack: u32, syn: bool, payload: &[u8]| {
        let b = PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4([10, 1, 0, 12], [10, 0, 0, 2], 64)
            .tcp(80, 40010, seq, 64240);
        let b = if syn { b.syn() } else { b };
        let mut f = Vec::new();
        b.ack(ack).write(&mut f, payload).unwrap();
        f
    };
    let out = master.packet_on(PortId(1), &from_real(real_isn, 2, true, b""), 3);
    assert_eq!(
        out.len(),
        1,
        "the handshake-completing ACK, nothing to the client"
    );
    assert_eq!(out[0].0, PortId(1));
    assert_eq!(
        checked_tcp(&out[0].1),
        (client, real, 2, real_isn.wrapping_add(1), Vec::new())
    );
    let had = master.conns()[0];
    assert_ne!(had.stream.syn_proxy, 0);
    assert_eq!(had.stream.server_shift, real_isn.wrapping_sub(cookie));

    let sent = conn_records(&mut master, 800);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].stream, had.stream, "the shift crosses");
    backup.install(&sent, 900);
    assert_eq!(backup.link.installs(), (1, 0));
    backup.link.set_serving(true);
    backup.worker.tick(901, &mut backup.io);

    // Data both ways on the backup, byte for byte what the master sends.
    let get = client_segment(VIP, 40010, 2, cookie.wrapping_add(1), b"GET /");
    let from_master = master.packet(&get, 1000);
    let from_backup = backup.packet(&get, 1000);
    assert_eq!(from_backup, from_master);
    assert_eq!(from_backup.len(), 1);
    assert_eq!(
        checked_tcp(&from_backup[0].1),
        (client, real, 2, real_isn.wrapping_add(1), b"GET /".to_vec())
    );
    let reply = from_real(real_isn.wrapping_add(1), 7, false, b"HTTP/1.0 200");
    let from_master = master.packet_on(PortId(1), &reply, 1001);
    let from_backup = backup.packet_on(PortId(1), &reply, 1001);
    assert_eq!(from_backup, from_master);
    assert_eq!(from_backup.len(), 1);
    assert_eq!(from_backup[0].0, PortId(0), "toward the client");
    assert_eq!(
        checked_tcp(&from_backup[0].1),
        (
            vip,
            client,
            cookie.wrapping_add(1),
            7,
            b"HTTP/1.0 200".to_vec()
        )
    );
    assert_eq!(
        backup.worker.counters().conns_created,
        0,
        "nothing scheduled"
    );
}
