//! What health checking does to forwarding, at the worker level: the control core turns
//! the health overlay into a new snapshot of the configured services, and the worker
//! takes it up between packets. A removed real is never picked, an inhibited one gets
//! weight 0, a sorry server takes new connections only while no real is up, connections
//! already on a failed real keep flowing, and services the change does not touch keep
//! their scheduler tables.

use std::net::SocketAddr;
use std::sync::Arc;

use etherparse::{PacketBuilder, SlicedPacket};
use rvs_config::testbed::{TwoPortDirector, CLIENT_MAC, WAN_MAC};
use rvs_config::{Config, PortId};
use rvs_conntrack::Proto;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::overlay::{Overlay, RealEffect};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{CollectIo, Worker};

const VIP: [u8; 4] = [10, 0, 0, 100];

/// Client 10.0.0.2; reals 10.1.0.11 and .12 (NAT, port 80); sorry server 10.1.0.99:80;
/// the checked service on 10.0.0.100:80 (`scheduler`, `on_fail`; `sh` hashes the client
/// port too) and an unchecked
/// one on port 81.
fn config(scheduler: &str, on_fail: &str) -> Config {
    // One client address: sh hashes its port too, so connections spread.
    let flags = if scheduler == "sh" {
        "[\"sh-port\"]"
    } else {
        "[]"
    };
    let mut director = TwoPortDirector::new("mem", 256);
    for host in ["10.0.0.2", "10.1.0.11", "10.1.0.12", "10.1.0.99"] {
        let port = if host.starts_with("10.0.") {
            "wan0"
        } else {
            "lan0"
        };
        let last: u8 = host.rsplit('.').next().unwrap().parse().unwrap();
        director = director.neighbor(host, [2, 0, 0, 0, 1, last], port);
    }
    let text = director.to_toml()
        + &format!(
            r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "{scheduler}"
flags = {flags}

[service.check]
kind = "tcp"
on_fail = "{on_fail}"
sorry = "10.1.0.99:80"

[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 81
scheduler = "rr"

[[service.real]]
ip = "10.1.0.11"
forward = "nat"
"#
        );
    Config::parse(&text, "health.toml").expect("config")
}

struct Bench {
    config: Config,
    worker: Worker<HeapBuf>,
    snap: Arc<Snapshot>,
    io: CollectIo,
    ids: IdRegistry,
    now_ms: u64,
}

impl Bench {
    fn new(config: Config) -> Self {
        let mut ids = IdRegistry::default();
        let snap = Arc::new(Snapshot::build(&config, &[], &[], &mut ids).expect("snapshot"));
        Self {
            config,
            worker: Worker::new(0, Arc::clone(&snap), 0),
            snap,
            io: CollectIo::default(),
            ids,
            now_ms: 1_000_000,
        }
    }

    /// The control core publishes the configuration under `overlay`.
    fn publish(&mut self, overlay: &Overlay) {
        let snap = self
            .snap
            .rebuild(&self.config, overlay, &mut self.ids)
            .expect("rebuild");
        self.snap = Arc::new(snap);
        self.worker.take_snapshot(Arc::clone(&self.snap));
    }

    /// A segment from client port `sport` to the VIP's `vport`: the last octet of the
    /// address it was forwarded to.
    fn client(&mut self, sport: u16, vport: u16, syn: bool) -> Option<u8> {
        let mut frame = Vec::new();
        let tcp = PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
            .ipv4([10, 0, 0, 2], VIP, 64)
            .tcp(sport, vport, 1, 64240);
        let tcp = if syn { tcp.syn() } else { tcp.ack(1) };
        tcp.write(&mut frame, &[]).expect("frame");
        self.now_ms += 10;
        self.worker.tick(self.now_ms, &mut self.io);
        let buf = HeapBuf::from_frame(&frame).expect("fits");
        self.worker
            .process(PortId(0), buf, self.now_ms, &mut self.io);
        // Toward a real on lan0 (a service with no real left answers the client on wan0).
        let (_, buf) = self
            .io
            .sent
            .drain(..)
            .find(|(port, _)| *port == PortId(1))?;
        match SlicedPacket::from_ethernet(buf.data()).expect("parses").net {
            Some(etherparse::NetSlice::Ipv4(v4)) => Some(v4.header().destination()[3]),
            other => panic!("not IPv4: {other:?}"),
        }
    }

    /// Where `n` new connections from ports `first..` go.
    fn spread(&mut self, first: u16, n: u16) -> Vec<u8> {
        let mut hosts: Vec<u8> = (first..first + n)
            .filter_map(|p| self.client(p, 80, true))
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }
}

fn effect(overlay: &mut Overlay, host: u8, e: RealEffect) {
    let vip: SocketAddr = "10.0.0.100:80".parse().unwrap();
    let real = SocketAddr::new([10, 1, 0, host].into(), 80);
    overlay.set(Proto::Tcp, vip, real, e);
}

#[test]
fn a_removed_real_is_never_picked_and_its_connections_continue_until_restored() {
    let mut b = Bench::new(config("rr", "remove"));
    assert_eq!(b.client(1000, 80, true), Some(11));
    assert_eq!(b.client(1001, 80, true), Some(12));
    let other = Arc::clone(&b.snap.services.list()[1].sched);

    let mut down = Overlay::default();
    effect(&mut down, 11, RealEffect::Removed);
    b.publish(&down);
    assert_eq!(b.spread(2000, 20), [12], "11 is out of rotation");
    assert_eq!(b.client(1000, 80, false), Some(11), "its connection flows");
    let reals = b.snap.services.list()[0].sched.reals();
    assert!(!reals[0].available && reals[0].weight == 1, "{reals:?}");
    assert!(
        Arc::ptr_eq(&other, &b.snap.services.list()[1].sched),
        "the untouched service keeps its scheduler table"
    );

    b.publish(&Overlay::default());
    assert_eq!(b.spread(3000, 20), [11, 12], "restored");
}

#[test]
fn an_inhibited_real_gets_weight_0() {
    let mut b = Bench::new(config("wrr", "inhibit"));
    let mut down = Overlay::default();
    effect(&mut down, 12, RealEffect::Inhibited);
    b.publish(&down);
    let reals = b.snap.services.list()[0].sched.reals();
    assert_eq!((reals[1].weight, reals[1].available), (0, true));
    assert_eq!(b.spread(1000, 20), [11]);
    b.publish(&Overlay::default());
    assert_eq!(b.spread(2000, 20), [11, 12]);
}

#[test]
fn a_dynamic_weight_is_scheduled_with() {
    let mut b = Bench::new(config("wrr", "remove"));
    let mut dynamic = Overlay::default();
    effect(&mut dynamic, 11, RealEffect::Weight(0));
    effect(&mut dynamic, 12, RealEffect::Weight(5));
    b.publish(&dynamic);
    let weights: Vec<u32> = b.snap.services.list()[0]
        .sched
        .reals()
        .iter()
        .map(|r| r.weight)
        .collect();
    assert_eq!(weights, [0, 5]);
    assert_eq!(b.spread(1000, 20), [12]);
}

#[test]
fn the_sorry_server_serves_only_while_no_real_is_up() {
    for (scheduler, on_fail) in [("rr", "remove"), ("wrr", "inhibit"), ("sh", "remove")] {
        let mut b = Bench::new(config(scheduler, on_fail));
        let e = if on_fail == "remove" {
            RealEffect::Removed
        } else {
            RealEffect::Inhibited
        };
        let mut one = Overlay::default();
        effect(&mut one, 11, e);
        b.publish(&one);
        assert_eq!(b.spread(1000, 30), [12], "{scheduler}: one real still up");
        assert_eq!(b.snap.services.list()[0].sched.reals().len(), 2);

        let mut none = one.clone();
        effect(&mut none, 12, e);
        b.publish(&none);
        assert_eq!(b.spread(2000, 30), [99], "{scheduler}: the sorry server");
        assert_eq!(b.client(1000, 80, false), Some(12), "old connections stay");

        b.publish(&one);
        assert_eq!(b.spread(3000, 30), [12], "{scheduler}: sorry out of use");
        assert_eq!(
            b.client(2000, 80, false),
            Some(99),
            "its connections finish"
        );
        b.publish(&Overlay::default());
        assert_eq!(b.spread(4000, 30), [11, 12], "{scheduler}: all back");
    }
}
