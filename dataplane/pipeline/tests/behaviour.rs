//! `[behaviour]` (IPVS's sysctls) at the worker level, where the test can hand the worker
//! a new snapshot mid-run as the control plane does: `expire_nodest_conn` and
//! `expire_quiescent_template` each on and off, and port reuse releasing a FULLNAT
//! local port; a master under `[ha.sync]` reports each connection these remove. Frames are built with etherparse; the real a frame reached is read back
//! from its destination address.

mod common;

use std::net::IpAddr;

use etherparse::{PacketBuilder, SlicedPacket};
use rvs_config::testbed::{CLIENT_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::counters::WorkerCounters;
use rvs_pipeline::ha::sync_filter::SyncFilter;
use rvs_pipeline::ha::sync_wire::RecordKind;
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::worker::{CollectIo, Worker};

const VIP: [u8; 4] = [10, 0, 0, 100];
const LADDR: &str = "10.1.0.2";

/// One worker, its I/O, its clock and the id registry that keeps ids across snapshots.
struct Bench {
    worker: Worker<HeapBuf>,
    io: CollectIo,
    ids: IdRegistry,
    now_ms: u64,
}

/// The configuration: client 10.0.0.2 on wan0, reals 10.1.0.11 and .12 on lan0, one
/// TCP service on the VIP's port 80 with `service` lines and `reals` (each
/// `(last octet, weight)`), forwarding with `forward`, under `behaviour`.
fn config(behaviour: &str, service: &str, forward: &str, reals: &[(u8, u32)]) -> String {
    let mut text = common::director().real(11).real(12).to_toml();
    text.push_str(&format!(
        r#"
[behaviour]
{behaviour}

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["{LADDR}"]
{service}
"#
    ));
    for (host, weight) in reals {
        text.push_str(&format!(
            "[[service.real]]\nip = \"10.1.0.{host}\"\nweight = {weight}\nforward = \"{forward}\"\n"
        ));
    }
    text
}

impl Bench {
    fn new(text: &str) -> Self {
        let mut ids = IdRegistry::default();
        let snap = common::snapshot(text, &mut ids);
        Self {
            worker: Worker::new(0, snap, 0),
            io: CollectIo::default(),
            ids,
            now_ms: 1_000_000,
        }
    }

    /// The control plane publishes a changed configuration.
    fn reconfigure(&mut self, text: &str) {
        let snap = common::snapshot(text, &mut self.ids);
        self.worker.take_snapshot(snap);
    }

    /// A segment from the client's port `sport` to the VIP: the last octet of the real
    /// it was forwarded to, `None` when nothing was sent.
    fn client(&mut self, sport: u16, syn: bool) -> Option<u8> {
        let mut frame = Vec::new();
        let tcp = PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
            .ipv4([10, 0, 0, 2], VIP, 64)
            .tcp(sport, 80, 1, 64240);
        let tcp = if syn { tcp.syn() } else { tcp.ack(1) };
        tcp.write(&mut frame, &[]).expect("frame");
        self.now_ms += 10;
        self.worker.tick(self.now_ms, &mut self.io);
        let buf = HeapBuf::from_frame(&frame).expect("fits");
        self.worker
            .process(PortId(0), buf, self.now_ms, &mut self.io);
        let sent: Vec<_> = self.io.sent.drain(..).collect();
        assert!(sent.len() <= 1, "one frame out at most");
        let (port, buf) = sent.into_iter().next()?;
        assert_eq!(port, PortId(1), "toward the reals");
        let p = SlicedPacket::from_ethernet(buf.data()).expect("parses");
        match p.net {
            Some(etherparse::NetSlice::Ipv4(v4)) => Some(v4.header().destination()[3]),
            other => panic!("not IPv4: {other:?}"),
        }
    }

    fn counters(&self) -> WorkerCounters {
        self.worker.counters()
    }

    fn drops(&self, reason: DropReason) -> u64 {
        self.counters().drops[reason.index()]
    }
}

#[test]
fn expire_nodest_conn_drops_and_expires_connections_of_a_removed_real_only_when_set() {
    for on in [false, true] {
        let behaviour = format!("expire_nodest_conn = {on}");
        let both = config(&behaviour, "", "nat", &[(11, 1), (12, 1)]);
        let mut b = Bench::new(&both);
        assert_eq!(b.client(1000, true), Some(11), "rr: real 11 first");
        assert_eq!(b.client(1001, true), Some(12));
        b.reconfigure(&config(&behaviour, "", "nat", &[(12, 1)]));
        let to_removed = b.client(1000, false);
        let to_kept = b.client(1001, false);
        assert_eq!(to_kept, Some(12), "on={on}: a kept real's connection flows");
        if on {
            assert_eq!(to_removed, None, "dropped with its connection");
            assert_eq!(b.drops(DropReason::RealRemoved), 1);
            let c = b.counters();
            assert_eq!((c.nodest_expired, c.conns_expired), (1, 1));
            assert_eq!(b.worker.conns().len(), 1);
            // The client's next SYN on the port opens a connection to a real still there.
            assert_eq!(b.client(1000, true), Some(12));
        } else {
            assert_eq!(to_removed, Some(11), "off: the connection keeps its real");
            assert_eq!(b.drops(DropReason::RealRemoved), 0);
            assert_eq!(b.counters().nodest_expired, 0);
            assert_eq!(b.worker.conns().len(), 2);
        }
    }
}

#[test]
fn expire_quiescent_template_moves_a_persistent_client_off_a_weight_0_real_only_when_set() {
    for on in [false, true] {
        let behaviour = format!("expire_quiescent_template = {on}");
        let persistent = "persistence = 300";
        let mut b = Bench::new(&config(&behaviour, persistent, "nat", &[(11, 1), (12, 1)]));
        assert_eq!(b.client(2000, true), Some(11), "the template points at 11");
        assert_eq!(b.client(2001, true), Some(11), "persistence");
        b.reconfigure(&config(&behaviour, persistent, "nat", &[(11, 0), (12, 1)]));
        let next = b.client(2002, true);
        let after = b.client(2003, true);
        assert_eq!(
            b.client(2000, false),
            Some(11),
            "on={on}: connections continue"
        );
        if on {
            assert_eq!(
                (next, after),
                (Some(12), Some(12)),
                "re-scheduled, then kept"
            );
            assert_eq!(b.counters().quiescent_templates_expired, 1);
        } else {
            assert_eq!(
                (next, after),
                (Some(11), Some(11)),
                "IPVS: quiesced, still sticky"
            );
            assert_eq!(b.counters().quiescent_templates_expired, 0);
        }
    }
}

#[test]
fn a_reused_port_gives_the_old_fullnat_local_port_back() {
    let laddr: IpAddr = LADDR.parse().unwrap();
    let mut b = Bench::new(&config(
        "conn_reuse_mode = 1",
        "",
        "fullnat",
        &[(11, 1), (12, 1)],
    ));
    let free = b.worker.local_ports_free(laddr).unwrap();
    assert_eq!(b.client(3000, true), Some(11));
    // A client reset from ESTABLISHED closes the entry.
    let mut rst = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
        .ipv4([10, 0, 0, 2], VIP, 64)
        .tcp(3000, 80, 1, 64240)
        .rst()
        .write(&mut rst, &[])
        .unwrap();
    assert_eq!(b.client(3000, false), Some(11), "ESTABLISHED");
    b.worker.process(
        PortId(0),
        HeapBuf::from_frame(&rst).unwrap(),
        b.now_ms,
        &mut b.io,
    );
    b.io.sent.clear();
    assert_eq!(b.worker.local_ports_free(laddr), Some(free - 1));
    assert_eq!(b.client(3000, true), Some(12), "scheduled afresh");
    assert_eq!(
        b.worker.local_ports_free(laddr),
        Some(free - 1),
        "the old local port came back; the new connection holds one"
    );
    let c = b.counters();
    assert_eq!(
        (c.conns_created, c.conns_expired, c.conns_reused),
        (2, 1, 1)
    );
    assert_eq!(b.worker.conns().len(), 1);
}

#[test]
fn sloppy_tcp_lets_a_second_director_take_over_a_flow_on_the_real_mh_gave_it() {
    // Two directors with the same configuration (different local-port seeds): the
    // first saw the flow's SYN; routers then send the flow to the second.
    let reals = [(11, 1), (12, 1)];
    for sloppy in [false, true] {
        let behaviour = format!("sloppy_tcp = {sloppy}");
        let text = config(&behaviour, "", "dr", &reals).replace(
            "scheduler = \"rr\"",
            "scheduler = \"mh\"\nflags = [\"mh-port\"]",
        );
        let mut first = Bench::new(&text);
        let mut second = Bench::new(&text);
        second.worker =
            rvs_pipeline::worker::Worker::new(0, common::snapshot(&text, &mut second.ids), 99);
        for sport in 2000..2032 {
            let real = first.client(sport, true).expect("the SYN is forwarded");
            let taken_over = second.client(sport, false);
            if sloppy {
                assert_eq!(
                    taken_over,
                    Some(real),
                    "port {sport}: the same real on the second director"
                );
            } else {
                assert_eq!(taken_over, None, "port {sport}: no SYN, no connection");
            }
        }
        let c = second.counters();
        assert_eq!(c.conns_created, if sloppy { 32 } else { 0 });
        assert_eq!(
            second.drops(DropReason::NoConnection),
            if sloppy { 0 } else { 32 }
        );
        assert_eq!(second.worker.conns().len(), if sloppy { 32 } else { 0 });
    }
}

impl Bench {
    /// Make this worker a master under `[ha.sync]`: the link its records go to.
    fn syncing(&mut self) -> std::sync::Arc<HaLink> {
        let peers = ["10.0.0.9".parse().unwrap()];
        let filter = SyncFilter::new(PortId(0), "10.0.0.1".parse().unwrap(), 8848, &peers);
        let link = std::sync::Arc::new(HaLink::new(true, 1, Some(filter)));
        self.worker.attach_ha(std::sync::Arc::clone(&link));
        link
    }

    /// A client reset on port `sport`.
    fn client_reset(&mut self, sport: u16) {
        let mut rst = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
            .ipv4([10, 0, 0, 2], VIP, 64)
            .tcp(sport, 80, 1, 64240)
            .rst()
            .write(&mut rst, &[])
            .unwrap();
        let buf = HeapBuf::from_frame(&rst).unwrap();
        self.worker
            .process(PortId(0), buf, self.now_ms, &mut self.io);
        self.io.sent.clear();
    }
}

/// The expiry records `link` holds, as (client port, real's last octet).
fn expiries(link: &HaLink) -> Vec<(u16, u8)> {
    std::iter::from_fn(|| link.take_record())
        .filter(|r| r.kind == RecordKind::Expire)
        .map(|r| match r.real.ip() {
            IpAddr::V4(a) => (r.client.port(), a.octets()[3]),
            IpAddr::V6(_) => panic!("IPv4 reals only"),
        })
        .collect()
}

/// A master that expires a connection for a new SYN on its closed tuple
/// (`conn_reuse_mode`) tells the backups, as a timer expiry does.
#[test]
fn a_reused_port_sends_the_old_connections_expiry() {
    let mut b = Bench::new(&config(
        "conn_reuse_mode = 1",
        "",
        "nat",
        &[(11, 1), (12, 1)],
    ));
    let link = b.syncing();
    assert_eq!(b.client(3000, true), Some(11));
    assert_eq!(b.client(3000, false), Some(11), "ESTABLISHED");
    b.client_reset(3000);
    while link.take_record().is_some() {}
    assert_eq!(b.client(3000, true), Some(12), "scheduled afresh");
    assert_eq!(b.counters().conns_reused, 1);
    assert_eq!(expiries(&link), [(3000, 11)], "the old connection's expiry");
}

/// A master that expires a connection whose real was removed (`expire_nodest_conn`)
/// tells the backups.
#[test]
fn a_connection_expired_with_its_real_sends_its_expiry() {
    let behaviour = "expire_nodest_conn = true";
    let mut b = Bench::new(&config(behaviour, "", "nat", &[(11, 1), (12, 1)]));
    let link = b.syncing();
    assert_eq!(b.client(1000, true), Some(11));
    b.reconfigure(&config(behaviour, "", "nat", &[(12, 1)]));
    while link.take_record().is_some() {}
    assert_eq!(b.client(1000, false), None, "dropped with its connection");
    assert_eq!(expiries(&link), [(1000, 11)]);
}

/// A master that evicts an embryonic connection from its full table
/// (`table_full_evict`) tells the backups.
#[test]
fn an_evicted_connection_sends_its_expiry() {
    let mut b = Bench::new(&config("table_full_evict = true", "", "nat", &[(11, 1)]));
    let link = b.syncing();
    let capacity = b.worker.conns().capacity() as u16;
    for sport in 0..capacity {
        assert_eq!(b.client(5000 + sport, true), Some(11));
    }
    while link.take_record().is_some() {}
    assert_eq!(b.client(6000, true), Some(11), "room made");
    assert_eq!(b.counters().embryonic_evicted, 1);
    assert_eq!(expiries(&link).len(), 1);
}

/// A connection taken back within the packet that made it (here: TTL 1, nothing
/// forwarded) never reached the backups, so nothing at all is sent for it.
#[test]
fn a_connection_taken_back_at_once_sends_nothing() {
    let mut b = Bench::new(&config("", "", "nat", &[(11, 1)]));
    let link = b.syncing();
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
        .ipv4([10, 0, 0, 2], VIP, 1)
        .tcp(7000, 80, 1, 64240)
        .syn()
        .write(&mut frame, &[])
        .unwrap();
    let buf = HeapBuf::from_frame(&frame).unwrap();
    b.worker.process(PortId(0), buf, b.now_ms, &mut b.io);
    assert_eq!(b.drops(DropReason::TtlExceeded), 1);
    assert!(b.worker.conns().is_empty(), "taken back");
    for t in 1..=1000 {
        b.worker.tick(b.now_ms + t, &mut b.io);
    }
    assert!(link.take_record().is_none(), "no record of it");
}
