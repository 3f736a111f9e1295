//! A connection remembers its next hop (port and MAC) per direction; these tests check
//! that what it remembers never outlives the neighbour or configuration it came from:
//! a neighbour answering with a new MAC, and a new configuration routing the real
//! through a gateway, both show in the very next packet. Frames are built with etherparse, and
//! the MACs of what leaves are read back with it.

mod common;

use etherparse::{PacketBuilder, SlicedPacket};
use rvs_config::testbed::{CLIENT_MAC, LAN_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::worker::{CollectIo, Worker};

const REAL_MAC_A: [u8; 6] = [2, 0, 0, 0, 1, 0xa];
const REAL_MAC_B: [u8; 6] = [2, 0, 0, 0, 1, 0xb];
const REAL: [u8; 4] = [10, 1, 0, 11];
const LAN_ADDR: [u8; 4] = [10, 1, 0, 1];

/// A NAT service on 10.0.0.100:80 with one real, 10.1.0.11 on lan0, whose MAC is not
/// configured: the worker has to ask for it; `route` is more of the configuration.
fn config(route: &str) -> String {
    common::director().to_toml()
        + route
        + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"

[[service.real]]
ip = "10.1.0.11"
weight = 1
forward = "nat"
"#
}

struct Bench {
    worker: Worker<HeapBuf>,
    io: CollectIo,
    ids: IdRegistry,
    now_ms: u64,
}

impl Bench {
    fn new(text: &str) -> Self {
        let mut ids = IdRegistry::default();
        let snap = common::snapshot(text, &mut ids);
        Self {
            worker: Worker::new(0, snap, 0),
            io: CollectIo::default(),
            ids,
            now_ms: 1_000,
        }
    }

    /// Hand `frame` to the worker on `port`; the frames that left, as (port, source MAC,
    /// destination MAC, ethertype).
    fn send(&mut self, port: u16, frame: &[u8]) -> Vec<(u16, [u8; 6], [u8; 6], u16)> {
        self.now_ms += 1;
        let buf = HeapBuf::from_frame(frame).expect("fits");
        self.worker
            .process(PortId(port), buf, self.now_ms, &mut self.io);
        self.io
            .sent
            .drain(..)
            .map(|(port, buf)| {
                let p = SlicedPacket::from_ethernet(buf.data()).expect("parses");
                let Some(etherparse::LinkSlice::Ethernet2(eth)) = p.link else {
                    panic!("not Ethernet II");
                };
                (port.0, eth.source(), eth.destination(), eth.ether_type().0)
            })
            .collect()
    }

    /// A segment from the client to the VIP.
    fn client(&mut self, syn: bool) -> Vec<(u16, [u8; 6], [u8; 6], u16)> {
        let mut frame = Vec::new();
        let tcp = PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
            .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
            .tcp(40000, 80, 1, 64240);
        let tcp = if syn { tcp.syn() } else { tcp.ack(1) };
        tcp.write(&mut frame, &[]).expect("frame");
        self.send(0, &frame)
    }

    /// `ip` on lan0 answers an ARP request with `mac`.
    fn answers(&mut self, ip: [u8; 4], mac: [u8; 6]) {
        let mut frame = Vec::new();
        frame.extend_from_slice(&LAN_MAC);
        frame.extend_from_slice(&mac);
        frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        frame.extend_from_slice(&mac);
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&LAN_MAC);
        frame.extend_from_slice(&LAN_ADDR);
        self.send(1, &frame);
    }
}

const IPV4: u16 = 0x0800;
const ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];

#[test]
fn a_neighbour_answering_with_a_new_mac_redirects_the_next_packet() {
    let mut b = Bench::new(&config(""));
    assert_eq!(
        b.client(true),
        [(1, LAN_MAC, BROADCAST, ARP)],
        "the SYN waits"
    );
    b.answers(REAL, REAL_MAC_A);
    for _ in 0..3 {
        assert_eq!(b.client(false), [(1, LAN_MAC, REAL_MAC_A, IPV4)]);
    }
    b.answers(REAL, REAL_MAC_B);
    assert_eq!(b.client(false), [(1, LAN_MAC, REAL_MAC_B, IPV4)]);
    assert_eq!(b.client(false), [(1, LAN_MAC, REAL_MAC_B, IPV4)]);
}

#[test]
fn a_new_route_toward_the_real_shows_in_the_next_packet() {
    let mut b = Bench::new(&config(""));
    b.client(true);
    b.answers(REAL, REAL_MAC_A);
    for _ in 0..3 {
        assert_eq!(b.client(false), [(1, LAN_MAC, REAL_MAC_A, IPV4)]);
    }
    let via_gateway = "[[route]]\nprefix = \"10.1.0.11/32\"\nvia = \"10.1.0.254\"\nport = \"lan0\"";
    let snap = common::snapshot(&config(via_gateway), &mut b.ids);
    b.worker.take_snapshot(snap);
    assert_eq!(
        b.client(false),
        [(1, LAN_MAC, BROADCAST, ARP)],
        "asks for the gateway"
    );
    let gateway_mac = [2, 0, 0, 0, 0, 0xfe];
    b.answers([10, 1, 0, 254], gateway_mac);
    assert_eq!(b.client(false), [(1, LAN_MAC, gateway_mac, IPV4)]);
}
