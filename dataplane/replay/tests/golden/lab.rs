//! The software lab: one worker, an in-memory port pair and a fixed configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use rvs_config::{Config, PortId};
use rvs_conntrack::Conn;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::counters::WorkerCounters;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{Io, Worker};

/// A transmitted frame: port name and bytes.
pub type Out = (&'static str, Vec<u8>);

/// Connections per worker in most fixtures.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Test I/O: records what is sent; can run dry of buffers.
#[derive(Default)]
struct TestIo {
    sent: Vec<(PortId, HeapBuf)>,
    dry: bool,
}

impl Io for TestIo {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        (!self.dry).then(HeapBuf::new)
    }

    fn send(&mut self, port: PortId, buf: HeapBuf) {
        self.sent.push((port, buf));
    }
}

/// One worker over the fixture configuration.
pub struct Lab {
    worker: Worker<HeapBuf>,
    io: TestIo,
    now_ms: u64,
    /// Kept so that a new configuration keeps the ids of services and reals.
    ids: IdRegistry,
}

/// The fixture port named `name`.
fn port_id(name: &str) -> PortId {
    match name {
        "wan0" => PortId(0),
        "lan0" => PortId(1),
        KERNEL => PortId(2),
        other => panic!("no port {other}"),
    }
}

/// The kernel mirror of `wan0` when a fixture configures one (it is port 2).
pub const KERNEL: &str = "rvs-wan0";

fn port_name(id: PortId) -> &'static str {
    match id.0 {
        0 => "wan0",
        1 => "lan0",
        _ => KERNEL,
    }
}

/// The fixture configuration: every mode on its own virtual port, IPv4 and IPv6.
pub fn config_text(capacity: usize) -> String {
    format!(
        r#"
[dataplane]
workers = 1
conn_capacity = {capacity}

[[port]]
name = "wan0"
device = "mem"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]

[[port]]
name = "lan0"
device = "mem"
mac = "02:00:00:00:00:02"
addresses = ["10.1.0.1/24", "2001:db8:1::1/64"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
port = "wan0"

[[neighbor]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:fe"
port = "wan0"

[[neighbor]]
ip = "2001:db8::c1"
mac = "02:00:00:00:00:c1"
port = "wan0"
{neighbors}
{services}
"#,
        neighbors = (11..=14)
            .flat_map(|h| {
                [
                    format!("[[neighbor]]\nip = \"10.1.0.{h}\"\nmac = \"02:00:00:00:01:{h}\"\nport = \"lan0\"\n"),
                    format!("[[neighbor]]\nip = \"2001:db8:1::{h}\"\nmac = \"02:00:00:00:01:{h}\"\nport = \"lan0\"\n"),
                ]
            })
            .collect::<String>(),
        services = SERVICES,
    )
}

const SERVICES: &str = r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "nat"

[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 53
scheduler = "rr"
[[service.real]]
ip = "10.1.0.11"
port = 5353
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 81
scheduler = "rr"
laddrs = ["10.1.0.2"]
[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "fullnat"

[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 54
scheduler = "rr"
laddrs = ["10.1.0.2"]
[[service.real]]
ip = "10.1.0.12"
port = 53
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 82
scheduler = "rr"
[[service.real]]
ip = "10.1.0.13"
forward = "dr"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 83
scheduler = "rr"
[[service.real]]
ip = "10.1.0.14"
forward = "tun"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 84
scheduler = "wlc"
[[service.real]]
ip = "10.1.0.11"
weight = 0
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 86
scheduler = "rr"
[[service.real]]
ip = "10.1.0.20"
forward = "nat"

[[service]]
proto = "tcp"
vip = "2001:db8::100"
port = 80
scheduler = "rr"
[[service.real]]
ip = "2001:db8:1::11"
port = 8080
forward = "nat"

[[service]]
proto = "udp"
vip = "2001:db8::100"
port = 53
scheduler = "rr"
[[service.real]]
ip = "2001:db8:1::11"
port = 5353
forward = "nat"

[[service]]
proto = "tcp"
vip = "2001:db8::100"
port = 81
scheduler = "rr"
laddrs = ["2001:db8:1::2"]
[[service.real]]
ip = "2001:db8:1::12"
port = 8080
forward = "fullnat"

[[service]]
proto = "udp"
vip = "2001:db8::100"
port = 54
scheduler = "rr"
laddrs = ["2001:db8:1::2"]
[[service.real]]
ip = "2001:db8:1::12"
port = 53
forward = "fullnat"

[[service]]
proto = "udp"
vip = "2001:db8::100"
port = 82
scheduler = "rr"
[[service.real]]
ip = "2001:db8:1::13"
forward = "dr"

[[service]]
proto = "tcp"
vip = "2001:db8::100"
port = 83
scheduler = "rr"
[[service.real]]
ip = "2001:db8:1::14"
forward = "tun"

[[service]]
proto = "tcp"
vip = "2001:db8::100"
port = 85
scheduler = "rr"
[[service.real]]
ip = "2001:db8:99::1"
forward = "nat"
"#;

impl Lab {
    /// A lab whose worker holds `capacity` connections, its clock at 1000 s.
    pub fn new(capacity: usize) -> Self {
        Self::with_sw_checksum(capacity, false)
    }

    /// A lab whose ports, when `sw_checksum`, lack checksum offload (as af_packet on veth).
    pub fn with_sw_checksum(capacity: usize, sw_checksum: bool) -> Self {
        let config = Config::parse(&config_text(capacity), "golden.toml").expect("fixture config");
        let mut ids = IdRegistry::default();
        let sw = [sw_checksum; 2];
        let snap = Snapshot::build(&config, &[], &sw, &mut ids).expect("snapshot");
        Self {
            worker: Worker::new(0, Arc::new(snap), 0),
            io: TestIo::default(),
            now_ms: 1_000_000,
            ids,
        }
    }

    /// A lab whose worker is made from the configuration `text` (what is fixed when a
    /// worker is made, as its fragment reassembly, is taken from it).
    pub fn from_text(text: &str) -> Self {
        let config = Config::parse(text, "golden.toml").expect("fixture config");
        let mut ids = IdRegistry::default();
        let snap = Snapshot::build(&config, &[], &[false; 2], &mut ids).expect("snapshot");
        Self {
            worker: Worker::new(0, Arc::new(snap), 0),
            io: TestIo::default(),
            now_ms: 1_000_000,
            ids,
        }
    }

    /// Hand the worker a new snapshot of `text` (the fixture configuration changed), as
    /// the control plane will between bursts.
    pub fn reconfigure(&mut self, text: &str) {
        let config = Config::parse(text, "golden.toml").expect("fixture config");
        let snap = Snapshot::build(&config, &[], &[false; 2], &mut self.ids).expect("snapshot");
        self.worker.take_snapshot(Arc::new(snap));
    }

    /// Receive `frame` on `port` and return what the pipeline sent.
    pub fn send(&mut self, port: &str, frame: &[u8]) -> Vec<Out> {
        let id = port_id(port);
        self.now_ms += 1;
        self.worker.tick(self.now_ms, &mut self.io);
        let buf = HeapBuf::from_frame(frame).expect("frame fits");
        self.worker.process(id, buf, self.now_ms, &mut self.io);
        self.io
            .sent
            .drain(..)
            .map(|(p, b)| (port_name(p), b.data().to_vec()))
            .collect()
    }

    /// Receive `n` copies of `frame` on `port` in one burst (one clock reading, through
    /// the staged burst path as the live poll loop runs them); returns how many frames
    /// the pipeline sent.
    pub fn send_burst(&mut self, port: &str, frame: &[u8], n: usize) -> usize {
        let id = port_id(port);
        self.now_ms += 1;
        self.worker.tick(self.now_ms, &mut self.io);
        for _ in 0..n {
            let buf = HeapBuf::from_frame(frame).expect("frame fits");
            self.worker.stage(id, buf, self.now_ms, &mut self.io);
        }
        self.worker.run_staged(self.now_ms, &mut self.io);
        self.io.sent.drain(..).count()
    }

    /// Receive `frames` (port, frame) at one clock reading, one at a time (`staged`
    /// false) or as one staged burst; returns what the pipeline sent.
    pub fn send_all(&mut self, frames: &[(&str, Vec<u8>)], staged: bool) -> Vec<Out> {
        self.now_ms += 1;
        self.worker.tick(self.now_ms, &mut self.io);
        for (port, frame) in frames {
            let buf = HeapBuf::from_frame(frame).expect("frame fits");
            if staged {
                self.worker
                    .stage(port_id(port), buf, self.now_ms, &mut self.io);
            } else {
                self.worker
                    .process(port_id(port), buf, self.now_ms, &mut self.io);
            }
        }
        self.worker.run_staged(self.now_ms, &mut self.io);
        self.io
            .sent
            .drain(..)
            .map(|(p, b)| (port_name(p), b.data().to_vec()))
            .collect()
    }

    /// Take part in `[ha]` through `link` (what rvsd does when the configuration has it).
    pub fn attach_ha(&mut self, link: Arc<rvs_pipeline::ha::HaLink>) {
        self.worker.attach_ha(link);
    }

    /// Move the clock forward.
    pub fn advance_ms(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Make buffer allocation fail (or succeed again).
    pub fn set_dry(&mut self, dry: bool) {
        self.io.dry = dry;
    }

    /// Drops by reason, zero reasons left out.
    pub fn drops(&self) -> BTreeMap<DropReason, u64> {
        let c = self.worker.counters();
        DropReason::ALL
            .iter()
            .filter(|r| c.drops[r.index()] > 0)
            .map(|&r| (r, c.drops[r.index()]))
            .collect()
    }

    /// The worker's counters.
    pub fn counters(&self) -> WorkerCounters {
        self.worker.counters()
    }

    /// The per-service counters, indexed by service id.
    pub fn service_traffic(&self) -> Vec<rvs_pipeline::traffic::Traffic> {
        let mut p = rvs_pipeline::update::Published::default();
        self.worker.publish_to(&mut p);
        p.traffic.services
    }

    /// Live connections.
    pub fn conns_len(&self) -> usize {
        self.worker.conns().len()
    }

    /// Drops for one reason.
    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.worker.counters().drops[reason.index()]
    }

    /// The one connection whose client port is `cport` (FULLNAT fixtures read its local
    /// endpoint from the table, independently of the frame that carried it).
    pub fn conn_by_client_port(&self, cport: u16) -> Conn {
        let mut it = self
            .worker
            .conns()
            .iter()
            .filter(|(_, c)| c.client.port() == cport)
            .map(|(_, c)| c);
        let c = it.next().expect("a connection for that client port");
        assert!(it.next().is_none(), "one connection per client port");
        c
    }
}
