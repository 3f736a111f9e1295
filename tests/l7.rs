//! Content switching through `rvsd --replay`: connections whose first bytes (an HTTP
//! request, a TLS ClientHello) come split every way, each sent to the real of the
//! group its rule names, or reset; every frame built and read back with etherparse.

mod common;

use std::collections::BTreeMap;

use common::*;
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

const CLIENT: [u8; 4] = [192, 0, 2, 10];
const VIP: [u8; 4] = [10, 0, 0, 100];
/// The real without a group (what no rule matches).
const DEFAULT_REAL: &str = "10.1.0.11";
/// The real of group `img` (HTTP) and `api` (TLS).
const GROUP_REAL: &str = "10.1.0.12";

fn config(extra_http: &str) -> String {
    replay_director(1024).real(11).real(12).to_toml()
        + &format!(
            r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.2"]
l7 = "http"
{extra_http}
[[service.rule]]
host = "img.example.com"
group = "img"
[[service.rule]]
path_prefix = "/img/"
group = "img"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"
[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "fullnat"
group = "img"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 443
laddrs = ["10.1.0.2"]
l7 = "tls"
[[service.rule]]
sni = "*.api.example.com"
group = "api"
[[service.real]]
ip = "10.1.0.11"
port = 8443
forward = "fullnat"
[[service.real]]
ip = "10.1.0.12"
port = 8443
forward = "fullnat"
group = "api"
"#
        )
}

/// A client segment to the VIP.
fn client_seg(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(mac(GW_MAC), mac(WAN_MAC))
        .ipv4(CLIENT, VIP, 64)
        .tcp(sport, dport, seq, 64240);
    let b = if syn {
        b.syn().options_raw(&[2, 4, 5, 180]).unwrap()
    } else {
        b
    };
    let b = match ack {
        Some(a) => b.ack(a),
        None => b,
    };
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// One client connection: its source port and what it sends after its handshake, in
/// segments (consecutive in sequence).
struct Conn {
    sport: u16,
    dport: u16,
    segments: Vec<Vec<u8>>,
}

impl Conn {
    fn new(sport: u16, dport: u16, segments: Vec<Vec<u8>>) -> Self {
        Self {
            sport,
            dport,
            segments,
        }
    }

    /// The client's ISN: names the connection in what reaches the reals.
    fn isn(&self) -> u32 {
        u32::from(self.sport) * 1000
    }
}

/// What became of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Its SYN went to this real.
    Real(String),
    /// Its client was reset.
    Reset,
    /// Neither.
    Nothing,
}

/// When connection `i`'s frames go: its SYN, then one frame each millisecond.
fn at(i: usize, step: usize) -> std::time::Duration {
    secs(1.0 + i as f64 * 0.02 + step as f64 * 0.001)
}

/// The cookie the director answers each connection's SYN with (replay is
/// deterministic, and all the SYNs come within one cookie period).
fn cookies(name: &str, cfg: &str, conns: &[Conn]) -> BTreeMap<u16, u32> {
    let syns = conns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                at(i, 0),
                client_seg(c.sport, c.dport, c.isn(), None, true, b""),
            )
        })
        .collect();
    let run = replay(name, cfg, &[("wan0", syns)], &[]);
    run.out["wan0"]
        .iter()
        .map(|(_, f)| {
            let p = SlicedPacket::from_ethernet(f).unwrap();
            match p.transport {
                Some(TransportSlice::Tcp(t)) => {
                    assert!(t.syn() && t.ack());
                    (t.destination_port(), t.sequence_number())
                }
                _ => panic!("not TCP"),
            }
        })
        .collect()
}

/// Run every connection (SYN, the bare handshake ACK, its segments; `later`: frames
/// after them) and say what became of each, with the run's counters.
fn run(
    name: &str,
    cfg: &str,
    conns: &[Conn],
    later: Vec<Record>,
) -> (Vec<Outcome>, serde_json::Value) {
    let cookie = cookies(&format!("{name}-cookies"), cfg, conns);
    let mut wan = Vec::new();
    for (i, c) in conns.iter().enumerate() {
        let ack = Some(cookie[&c.sport] + 1);
        wan.push((
            at(i, 0),
            client_seg(c.sport, c.dport, c.isn(), None, true, b""),
        ));
        wan.push((
            at(i, 1),
            client_seg(c.sport, c.dport, c.isn() + 1, ack, false, b""),
        ));
        let mut seq = c.isn() + 1;
        for (j, s) in c.segments.iter().enumerate() {
            wan.push((
                at(i, 2 + j),
                client_seg(c.sport, c.dport, seq, ack, false, s),
            ));
            seq = seq.wrapping_add(s.len() as u32);
        }
    }
    wan.extend(later);
    let run = replay(name, cfg, &[("wan0", wan)], &[]);
    let mut outcomes = vec![Outcome::Nothing; conns.len()];
    for (_, f) in run.out.get("lan0").into_iter().flatten() {
        let seen = verify(f);
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            continue;
        };
        if t.syn() {
            let i = conns
                .iter()
                .position(|c| c.isn() == t.sequence_number())
                .expect("a SYN of ours");
            assert_eq!(outcomes[i], Outcome::Nothing, "one SYN per connection");
            outcomes[i] = Outcome::Real(seen.dst.to_string());
        }
    }
    for (_, f) in run.out.get("wan0").into_iter().flatten() {
        verify(f);
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            continue;
        };
        if t.rst() {
            let i = conns
                .iter()
                .position(|c| c.sport == t.destination_port())
                .expect("ours");
            assert_eq!(
                outcomes[i],
                Outcome::Nothing,
                "reset once, never after a SYN went"
            );
            assert_eq!(
                t.sequence_number(),
                cookie[&conns[i].sport] + 1,
                "in the client's window"
            );
            outcomes[i] = Outcome::Reset;
        }
    }
    (outcomes, run.summary)
}

fn real(ip: &str) -> Outcome {
    Outcome::Real(ip.to_owned())
}

fn dropped(summary: &serde_json::Value, reason: &str) -> u64 {
    summary["dropped"]
        .get(reason)
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

#[test]
fn a_request_split_at_every_byte_reaches_its_group() {
    let req = b"GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: img.example.com\r\n\r\n";
    let conns: Vec<Conn> = (1..req.len())
        .map(|k| {
            Conn::new(
                20000 + k as u16,
                80,
                vec![req[..k].to_vec(), req[k..].to_vec()],
            )
        })
        .collect();
    let (outcomes, summary) = run("l7-split", &config(""), &conns, Vec::new());
    for (k, o) in outcomes.iter().enumerate() {
        assert_eq!(*o, real(GROUP_REAL), "split at {}", k + 1);
    }
    let n = conns.len() as u64;
    assert_eq!(summary["l7_by_rule"], n, "{summary}");
    assert_eq!(summary["connections_created"], n, "{summary}");
}

/// The held segments of a connection that decided reach the real after its handshake,
/// the request whole, wherever it was split.
#[test]
fn the_held_request_follows_the_reals_handshake() {
    held_request_case("", b"");
}

/// With a PROXY header, it goes in front of the held request, as on any SYN-proxied
/// connection.
#[test]
fn the_proxy_header_goes_in_front_of_the_held_request() {
    held_request_case(
        "client_address = \"proxy-v1\"",
        b"PROXY TCP4 192.0.2.10 10.0.0.100 24000 80\r\n",
    );
}

fn held_request_case(extra: &str, header: &[u8]) {
    let req = b"GET /img/1 HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    let cfg = config(extra);
    for k in [1, 17, req.len() - 1] {
        let name = format!("l7-release-{}-{k}", header.len());
        let conns = [Conn::new(
            24000,
            80,
            vec![req[..k].to_vec(), req[k..].to_vec()],
        )];
        let cookie = cookies(&format!("{name}-cookies"), &cfg, &conns)[&24000];
        let c = &conns[0];
        let ack = Some(cookie + 1);
        let wan = vec![
            (at(0, 0), client_seg(c.sport, 80, c.isn(), None, true, b"")),
            (
                at(0, 1),
                client_seg(c.sport, 80, c.isn() + 1, ack, false, b""),
            ),
            (
                at(0, 2),
                client_seg(c.sport, 80, c.isn() + 1, ack, false, &req[..k]),
            ),
            (
                at(0, 3),
                client_seg(c.sport, 80, c.isn() + 1 + k as u32, ack, false, &req[k..]),
            ),
        ];
        let first = replay(&format!("{name}-a"), &cfg, &[("wan0", wan.clone())], &[]);
        let syn = verify(&first.out["lan0"][0].1);
        assert_eq!(syn.dst.to_string(), GROUP_REAL, "by path_prefix");
        let synack = {
            let b = PacketBuilder::ethernet2(rvs_config::testbed::real_mac(12), mac(LAN_MAC))
                .ipv4([10, 1, 0, 12], [10, 1, 0, 2], 64)
                .tcp(8080, syn.sport, 5000, 65535)
                .syn()
                .ack(c.isn() + 1)
                .options_raw(&[2, 4, 5, 180])
                .unwrap();
            let mut out = Vec::new();
            b.write(&mut out, b"").unwrap();
            out
        };
        let run = replay(
            &format!("{name}-b"),
            &cfg,
            &[("wan0", wan), ("lan0", vec![(at(0, 10), synack)])],
            &[],
        );
        // The stream the real receives, by sequence number: a segment sent again (the
        // PROXY header rides in the handshake-completing ACK and again in front of the
        // first data) must say the same.
        let mut stream: Vec<Option<u8>> = Vec::new();
        for (_, f) in &run.out["lan0"] {
            let seen = verify(f);
            let p = SlicedPacket::from_ethernet(f).unwrap();
            let Some(TransportSlice::Tcp(t)) = p.transport else {
                panic!("not TCP");
            };
            if t.syn() {
                continue;
            }
            let at = t.sequence_number().wrapping_sub(c.isn() + 1) as usize;
            for (i, &b) in seen.payload.iter().enumerate() {
                if stream.len() <= at + i {
                    stream.resize(at + i + 1, None);
                }
                assert!(
                    stream[at + i].map_or(true, |old| old == b),
                    "split at {k}: byte {} sent twice, differently",
                    at + i
                );
                stream[at + i] = Some(b);
            }
        }
        let sent: Vec<u8> = stream.iter().map(|b| b.expect("no hole")).collect();
        let want = [header, req.as_slice()].concat();
        assert_eq!(sent, want, "split at {k}");
        assert_eq!(run.summary["synproxy_released"], 2, "{}", run.summary);
        assert_eq!(
            run.summary["dropped"],
            serde_json::json!({}),
            "{}",
            run.summary
        );
    }
}

#[test]
fn host_port_case_absolute_uri_missing_host_and_pipelining() {
    let one = |i: u16, req: &[u8]| Conn::new(21000 + i, 80, vec![req.to_vec()]);
    let conns = [
        one(0, b"GET / HTTP/1.1\r\nHOST: IMG.Example.COM:8080\r\n\r\n"),
        one(1, b"GET http://img.example.com/a HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
        one(2, b"GET / HTTP/1.0\r\n\r\n"),
        one(3, b"GET /img/a.png HTTP/1.0\r\n\r\n"),
        one(4, b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\nGET / HTTP/1.1\r\nHost: img.example.com\r\n\r\n"),
        one(5, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ];
    let (outcomes, summary) = run("l7-forms", &config(""), &conns, Vec::new());
    assert_eq!(
        outcomes,
        [
            real(GROUP_REAL),
            real(GROUP_REAL),
            real(DEFAULT_REAL),
            real(GROUP_REAL),
            real(DEFAULT_REAL),
            real(DEFAULT_REAL),
        ]
    );
    assert_eq!(summary["l7_by_rule"], 3, "{summary}");
    assert_eq!(summary["l7_by_default"], 3, "{summary}");
}

#[test]
fn garbage_oversized_and_slow_clients_are_reset_and_counted() {
    let cookie_line = |n: usize| {
        let mut v = b"Cookie: ".to_vec();
        v.resize(n, b'c');
        v
    };
    let conns = [
        Conn::new(22000, 80, vec![b"\x00\x01\x02 binary".to_vec()]),
        Conn::new(22001, 80, vec![b"GET / HTTP/1.1\r\nHost: a b\r\n".to_vec()]),
        // Over the 4096 bytes read, no Host yet.
        Conn::new(
            22002,
            80,
            vec![
                b"GET / HTTP/1.1\r\n".to_vec(),
                cookie_line(1400),
                cookie_line(1400),
                cookie_line(1400),
            ],
        ),
        // More segments than a waiting connection holds.
        Conn::new(
            22003,
            80,
            vec![
                b"GE".to_vec(),
                b"T ".to_vec(),
                b"/ ".to_vec(),
                b"HT".to_vec(),
                b"TP".to_vec(),
            ],
        ),
        // Slow: part of a request line, then nothing.
        Conn::new(22004, 80, vec![b"GET / HT".to_vec()]),
        // Garbage to the TLS service.
        Conn::new(22005, 443, vec![b"GET / HTTP/1.1\r\n".to_vec()]),
        // A fine request, to show the others held nobody up.
        Conn::new(
            22006,
            80,
            vec![b"GET / HTTP/1.1\r\nHost: img.example.com\r\n\r\n".to_vec()],
        ),
        // Slow, then gone: its RST frees its place, and no reset follows.
        Conn::new(22007, 80, vec![b"GET / HT".to_vec()]),
    ];
    let gone = &conns[7];
    let rst = {
        let b = PacketBuilder::ethernet2(mac(GW_MAC), mac(WAN_MAC))
            .ipv4(CLIENT, VIP, 64)
            .tcp(gone.sport, 80, gone.isn() + 9, 0)
            .rst();
        let mut out = Vec::new();
        b.write(&mut out, b"").unwrap();
        out
    };
    // SYNs of other clients, past the slow one's l7_timeout (2 s here): the clock moves
    // on and the worker's ticks sweep the waiting table.
    let later = std::iter::once((secs(2.5), rst))
        .chain((0..80).map(|i| {
            let syn = client_seg(30000 + i, 80, 1, None, true, b"");
            (secs(4.0 + f64::from(i) * 0.01), syn)
        }))
        .collect();
    let (outcomes, summary) = run("l7-refused", &config("l7_timeout = 2.0"), &conns, later);
    assert_eq!(
        outcomes,
        [
            Outcome::Reset,
            Outcome::Reset,
            Outcome::Reset,
            Outcome::Reset,
            Outcome::Reset,
            Outcome::Reset,
            real(GROUP_REAL),
            Outcome::Nothing,
        ]
    );
    assert_eq!(dropped(&summary, "no_connection"), 1, "the RST: {summary}");
    assert_eq!(dropped(&summary, "l7_malformed"), 3, "{summary}");
    assert_eq!(dropped(&summary, "l7_oversized"), 2, "{summary}");
    assert_eq!(dropped(&summary, "l7_timeout"), 1, "{summary}");
    assert_eq!(summary["l7_resets"], 6, "{summary}");
    assert_eq!(summary["connections_created"], 1, "{summary}");
}

/// A ClientHello handshake message with these extensions, as RFC 8446 lays it out.
fn client_hello(sni: Option<&str>) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let n = name.len() as u16;
        ext.extend([0, 0]);
        ext.extend((n + 5).to_be_bytes());
        ext.extend((n + 3).to_be_bytes());
        ext.push(0);
        ext.extend(n.to_be_bytes());
        ext.extend(name.as_bytes());
    }
    ext.extend([0, 43, 0, 3, 2, 3, 4]); // supported_versions
    ext.extend([0, 51, 0x01, 0x00]); // a key share of 256 bytes
    ext.extend([0x5a; 256]);
    let mut body = vec![3, 3];
    body.extend([1u8; 32]);
    body.push(0);
    body.extend([0, 2, 0x13, 0x01, 1, 0]);
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut msg = vec![1];
    msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend(body);
    msg
}

/// `msg` in two handshake records, cut at `cut`.
fn two_records(msg: &[u8], cut: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [&msg[..cut], &msg[cut..]] {
        out.extend([22, 3, 1]);
        out.extend((part.len() as u16).to_be_bytes());
        out.extend(part);
    }
    out
}

#[test]
fn tls_server_name_across_records_and_segments() {
    let hello = client_hello(Some("v1.API.example.com"));
    let stream = two_records(&hello, 30);
    let conns = [
        Conn::new(23000, 443, vec![stream.clone()]),
        Conn::new(
            23001,
            443,
            vec![stream[..20].to_vec(), stream[20..].to_vec()],
        ),
        Conn::new(
            23002,
            443,
            vec![stream[..60].to_vec(), stream[60..].to_vec()],
        ),
        Conn::new(23003, 443, vec![two_records(&client_hello(None), 10)]),
        Conn::new(
            23004,
            443,
            vec![two_records(&client_hello(Some("api.example.com")), 10)],
        ),
    ];
    let (outcomes, summary) = run("l7-tls", &config(""), &conns, Vec::new());
    assert_eq!(
        outcomes,
        [
            real(GROUP_REAL),
            real(GROUP_REAL),
            real(GROUP_REAL),
            real(DEFAULT_REAL),
            real(DEFAULT_REAL),
        ]
    );
    assert_eq!(summary["l7_by_rule"], 3, "{summary}");
    assert_eq!(summary["l7_by_default"], 2, "{summary}");
}
