//! Content switching's per-rule match counts through one worker: HTTP requests whose
//! first bytes match each rule, or none, are counted against that rule (or the
//! service's default); the counts reach what the worker publishes, carry over a
//! configuration that keeps the rules and start again when the rules change. Frames
//! are built and read back with etherparse.

mod common;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use rvs_config::testbed::{CLIENT_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::update::Published;
use rvs_pipeline::worker::{Io, Worker};

const CLIENT: [u8; 4] = [10, 0, 0, 2];
const VIP: [u8; 4] = [10, 0, 0, 100];
const WAN: PortId = PortId(0);
const LAN: PortId = PortId(1);

/// An HTTP service: rule 0 sends `img.example.com` to group `img` (real .12), rule 1
/// sends `/api/` to group `api` (real .13); the rest goes to real .11. `first_rule`
/// replaces rule 0's host (a changed rule).
fn config(first_rule: &str) -> String {
    common::director().real(11).real(12).real(13).to_toml()
        + &format!(
            r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.2"]
l7 = "http"
[[service.rule]]
host = "{first_rule}"
group = "img"
[[service.rule]]
path_prefix = "/api/"
group = "api"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"
[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "fullnat"
group = "img"
[[service.real]]
ip = "10.1.0.13"
port = 8080
forward = "fullnat"
group = "api"
"#
        )
}

/// Keeps what the worker sent.
#[derive(Default)]
struct Sent(Vec<(PortId, HeapBuf)>);

impl Io for Sent {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(HeapBuf::new())
    }

    fn send(&mut self, port: PortId, buf: HeapBuf) {
        self.0.push((port, buf));
    }
}

/// A client segment to the VIP: SYN when `ack` is `None`, else an ACK with `data`.
fn segment(sport: u16, seq: u32, ack: Option<u32>, data: &[u8]) -> HeapBuf {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
        .ipv4(CLIENT, VIP, 64)
        .tcp(sport, 80, seq, 64240);
    let b = match ack {
        None => b.syn(),
        Some(n) => b.ack(n).psh(),
    };
    let mut out = Vec::new();
    b.write(&mut out, data).expect("segment");
    HeapBuf::from_frame(&out).expect("fits")
}

/// The first TCP segment sent on `port`: (destination address, sequence number, SYN).
fn tcp_out(sent: &Sent, port: PortId) -> Option<([u8; 4], u32, bool)> {
    sent.0.iter().find_map(|(p, buf)| {
        if *p != port {
            return None;
        }
        let p = SlicedPacket::from_ethernet(buf.data()).ok()?;
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            return None;
        };
        match p.transport? {
            TransportSlice::Tcp(t) => {
                Some((ip.header().destination(), t.sequence_number(), t.syn()))
            }
            _ => None,
        }
    })
}

/// One client connection through the SYN proxy with `request` as its first bytes;
/// the real its SYN went to.
fn connect(w: &mut Worker<HeapBuf>, sport: u16, request: &[u8], now: u64) -> [u8; 4] {
    let isn = 1000 * u32::from(sport);
    let mut io = Sent::default();
    w.process(WAN, segment(sport, isn, None, b""), now, &mut io);
    let (to, cookie, syn) = tcp_out(&io, WAN).expect("the SYN proxy's SYN-ACK");
    assert_eq!((to, syn), (CLIENT, true));
    io.0.clear();
    w.process(
        WAN,
        segment(sport, isn + 1, Some(cookie + 1), b""),
        now,
        &mut io,
    );
    assert!(tcp_out(&io, LAN).is_none(), "nothing decided yet");
    w.process(
        WAN,
        segment(sport, isn + 1, Some(cookie + 1), request),
        now,
        &mut io,
    );
    let (real, _, syn) = tcp_out(&io, LAN).expect("a SYN to a real");
    assert!(syn);
    real
}

fn request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

#[test]
fn matches_are_counted_per_rule_published_and_kept_while_the_rules_are() {
    let mut ids = IdRegistry::default();
    let mut w = Worker::new(0, common::snapshot(&config("img.example.com"), &mut ids), 1);
    let sends = [
        (request("img.example.com", "/"), [10, 1, 0, 12]),
        (request("IMG.example.com:80", "/api/x"), [10, 1, 0, 12]),
        (request("www.example.com", "/api/v1"), [10, 1, 0, 13]),
        (request("www.example.com", "/"), [10, 1, 0, 11]),
        (request("www.example.com", "/index"), [10, 1, 0, 11]),
        (b"GET / HTTP/1.0\r\n\r\n".to_vec(), [10, 1, 0, 11]),
    ];
    for (i, (req, real)) in sends.iter().enumerate() {
        let got = connect(&mut w, 40000 + i as u16, req, 1000);
        assert_eq!(got, *real, "request {i}");
    }
    // Rule 0, rule 1, then the default.
    assert_eq!(w.rule_matches(), [2, 1, 3]);
    let mut published = Published::default();
    w.publish_to(&mut published);
    assert_eq!(published.rule_matches, [2, 1, 3]);
    assert_eq!(published.generation, w.generation());

    // The same rules again (a reload that changes nothing of them): the counts stay.
    w.take_snapshot(common::snapshot(&config("img.example.com"), &mut ids));
    assert_eq!(w.rule_matches(), [2, 1, 3]);
    connect(&mut w, 41000, &request("x", "/api/"), 2000);
    assert_eq!(w.rule_matches(), [2, 2, 3]);

    // A changed rule: the service's counts start again.
    w.take_snapshot(common::snapshot(&config("*.example.com"), &mut ids));
    assert_eq!(w.rule_matches(), [0, 0, 0]);
    let got = connect(&mut w, 42000, &request("img.example.com", "/"), 3000);
    assert_eq!(got, [10, 1, 0, 12]);
    assert_eq!(w.rule_matches(), [1, 0, 0]);
}
