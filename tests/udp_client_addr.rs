//! FULLNAT UDP with `client_address = "proxy-v2"` through `rvsd --replay`: the PROXY
//! protocol v2 datagram header in front of every client datagram, read back by a decoder
//! written here from the specification (HAProxy's `doc/proxy-protocol.txt`, section 2.2)
//! and every frame compared byte for byte with one etherparse builds; the real's answers
//! pass untouched; a datagram with no room for the header under the MTU is dropped.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use etherparse::{
    Icmpv4Type, Icmpv6Type, IpHeaders, IpNumber, Ipv4Header, PacketBuilder, SlicedPacket,
    TransportSlice,
};

/// The MAC the configuration gives real .11 (`testbed::real_mac`).
const REAL_MAC: &str = "02:00:00:00:01:11";
/// One FULLNAT UDP service of each family, with `client_address`.
fn config(client_address: &str) -> String {
    config_at(client_address, 1500)
}

/// [`config`] with both ports at `mtu`.
fn config_at(client_address: &str, mtu: u16) -> String {
    replay_director(1024).real(11).mtu(mtu).to_toml()
        + &format!(
            r#"
[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 53
laddrs = ["10.1.0.2"]
client_address = "{client_address}"

[[service.real]]
ip = "10.1.0.11"
port = 5353
forward = "fullnat"

[[service]]
proto = "udp"
vip = "2001:db8::100"
port = 53
laddrs = ["2001:db8:1::2"]
client_address = "{client_address}"

[[service.real]]
ip = "2001:db8:1::11"
port = 5353
forward = "fullnat"
"#
        )
}

/// The endpoints of one test flow.
#[derive(Clone, Copy)]
struct Ends {
    client: (&'static str, u16),
    vip: (&'static str, u16),
    local: &'static str,
    real: (&'static str, u16),
}

const V4: Ends = Ends {
    client: ("192.0.2.10", 40000),
    vip: ("10.0.0.100", 53),
    local: "10.1.0.2",
    real: ("10.1.0.11", 5353),
};

const V6: Ends = Ends {
    client: ("2001:db8:c::10", 40000),
    vip: ("2001:db8::100", 53),
    local: "2001:db8:1::2",
    real: ("2001:db8:1::11", 5353),
};

impl Ends {
    fn v6(&self) -> bool {
        self.client.0.contains(':')
    }

    /// The same flow from another client port.
    fn with_client_port(self, port: u16) -> Self {
        Self {
            client: (self.client.0, port),
            ..self
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A UDP frame; `df` sets IPv4's don't-fragment bit (IPv6 has none to set).
fn frame(
    macs: (&str, &str),
    src: (&str, u16),
    dst: (&str, u16),
    ttl: u8,
    payload: &[u8],
    df: bool,
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(mac(macs.0), mac(macs.1));
    let b = match (ip(src.0), ip(dst.0)) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mut h = Ipv4Header::new(0, ttl, IpNumber::UDP, a.octets(), b.octets()).unwrap();
            h.dont_fragment = df;
            eth.ip(IpHeaders::Ipv4(h, Default::default()))
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => eth.ipv6(a.octets(), b.octets(), ttl),
        _ => panic!("mixed families"),
    };
    let mut out = Vec::new();
    b.udp(src.1, dst.1).write(&mut out, payload).expect("build");
    out
}

fn from_client(e: Ends, payload: &[u8]) -> Vec<u8> {
    frame((GW_MAC, WAN_MAC), e.client, e.vip, 64, payload, true)
}
fn from_real(e: Ends, lport: u16, payload: &[u8]) -> Vec<u8> {
    frame(
        (REAL_MAC, LAN_MAC),
        e.real,
        (e.local, lport),
        64,
        payload,
        true,
    )
}
fn to_real(e: Ends, lport: u16, payload: &[u8]) -> Vec<u8> {
    frame(
        (LAN_MAC, REAL_MAC),
        (e.local, lport),
        e.real,
        63,
        payload,
        true,
    )
}
fn to_client(e: Ends, payload: &[u8]) -> Vec<u8> {
    frame((WAN_MAC, GW_MAC), e.vip, e.client, 63, payload, true)
}

/// A PROXY protocol v2 header as the specification lays it out, decoded from the start
/// of a datagram's payload.
#[derive(Debug, PartialEq, Eq)]
struct Pp2 {
    /// Command: 0 LOCAL, 1 PROXY.
    command: u8,
    /// Address family: 1 AF_INET, 2 AF_INET6.
    family: u8,
    /// Transport: 1 STREAM, 2 DGRAM.
    transport: u8,
    src: SocketAddr,
    dst: SocketAddr,
    /// Header bytes (16 + the length field).
    len: usize,
}

/// Decode a v2 header (signature, version nibble 2, the length field, the address block
/// of AF_INET or AF_INET6); panics on anything the specification does not allow.
fn decode_pp2(b: &[u8]) -> Pp2 {
    const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
    assert!(b.len() >= 16, "shorter than a v2 header: {b:?}");
    assert_eq!(&b[..12], SIG, "signature");
    assert_eq!(b[12] >> 4, 2, "version");
    let (command, family, transport) = (b[12] & 0xf, b[13] >> 4, b[13] & 0xf);
    let body = usize::from(u16::from_be_bytes([b[14], b[15]]));
    assert!(b.len() >= 16 + body, "length field past the datagram");
    let a = &b[16..16 + body];
    let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
    let (src, dst) = match family {
        1 => {
            assert!(body >= 12, "AF_INET block is 12 bytes");
            let s: [u8; 4] = a[..4].try_into().unwrap();
            let d: [u8; 4] = a[4..8].try_into().unwrap();
            (
                SocketAddr::from((s, port(8))),
                SocketAddr::from((d, port(10))),
            )
        }
        2 => {
            assert!(body >= 36, "AF_INET6 block is 36 bytes");
            let s: [u8; 16] = a[..16].try_into().unwrap();
            let d: [u8; 16] = a[16..32].try_into().unwrap();
            (
                SocketAddr::from((s, port(32))),
                SocketAddr::from((d, port(34))),
            )
        }
        f => panic!("family {f}"),
    };
    Pp2 {
        command,
        family,
        transport,
        src,
        dst,
        len: 16 + body,
    }
}

/// The header bytes for `e`, written out from the specification: signature, `0x21`
/// (v2, PROXY), `0x12` / `0x22` (UDP over IPv4 / IPv6), length, addresses, ports.
fn spec_header(e: Ends) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21);
    let octets = |s: &str| match ip(s) {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let (fam, len): (u8, u16) = if e.v6() { (0x22, 36) } else { (0x12, 12) };
    h.push(fam);
    h.extend(len.to_be_bytes());
    h.extend(octets(e.client.0));
    h.extend(octets(e.vip.0));
    h.extend(e.client.1.to_be_bytes());
    h.extend(e.vip.1.to_be_bytes());
    h
}

fn sa((a, p): (&str, u16)) -> SocketAddr {
    SocketAddr::new(ip(a), p)
}

/// Three datagrams of one flow (one of them empty) and one of a second flow of the same
/// client, then the real's answer: each datagram reaches the real as header + payload,
/// the answer reaches the client as the real sent it.
fn every_datagram_case(e: Ends, name: &str) {
    let cfg = config("proxy-v2");
    let other = e.with_client_port(40001);
    let client_in = [
        (e, b"query one".to_vec()),
        (e, Vec::new()),
        (other, b"second flow".to_vec()),
        (e, b"query three".to_vec()),
    ];
    let t = |i: usize| secs(1.0 + i as f64 * 0.01);
    let wan: Vec<Record> = client_in
        .iter()
        .enumerate()
        .map(|(i, (f, p))| (t(i), from_client(*f, p)))
        .collect();
    // The local ports the director picks (replay is deterministic): from a first run.
    let first = replay(
        &format!("{name}-ports"),
        &cfg,
        &[("wan0", wan.clone())],
        &[],
    );
    let lports: Vec<u16> = first.out["lan0"]
        .iter()
        .map(|(_, f)| verify(f).sport)
        .collect();
    assert_eq!(lports.len(), 4, "every datagram reaches the real");
    let (lport, other_lport) = (lports[0], lports[2]);
    assert!(
        lports[1] == lport && lports[3] == lport,
        "one flow, one local port"
    );

    let answer = b"answer to one".to_vec();
    let lan = vec![(t(10), from_real(e, lport, &answer))];
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);

    let got = frames(&run.out["lan0"]);
    for ((f, p), g) in client_in.iter().zip(&got) {
        let seen = verify(g);
        let h = decode_pp2(&seen.payload);
        let want = Pp2 {
            command: 1,
            family: if e.v6() { 2 } else { 1 },
            transport: 2,
            src: sa(f.client),
            dst: sa(f.vip),
            len: if e.v6() { 52 } else { 28 },
        };
        assert_eq!(h, want, "{name}: header");
        assert_eq!(
            &seen.payload[h.len..],
            &p[..],
            "{name}: payload after the header"
        );
    }
    let want_real: Vec<Vec<u8>> = client_in
        .iter()
        .map(|(f, p)| {
            let lp = if f.client.1 == e.client.1 {
                lport
            } else {
                other_lport
            };
            to_real(*f, lp, &[spec_header(*f), p.clone()].concat())
        })
        .collect();
    assert_frames(&got, &want_real, "toward the real");
    assert_frames(
        &frames(&run.out["wan0"]),
        &[to_client(e, &answer)],
        "toward the client",
    );
    assert_eq!(run.summary["proxy_headers_sent"], 4, "{}", run.summary);
    assert_eq!(
        run.summary["dropped"],
        serde_json::json!({}),
        "{}",
        run.summary
    );
}

#[test]
fn proxy_v2_header_on_every_datagram_v4_v6() {
    every_datagram_case(V4, "udp-pp2-v4");
    every_datagram_case(V6, "udp-pp2-v6");
}

/// A datagram that fills the port's MTU once the header is in passes; one byte more is
/// dropped (`too_big`) and its sender, which set DF (IPv6: always), told the MTU less the
/// header; an IPv4 sender without DF is not told.
fn mtu_case(e: Ends, name: &str, mtu: u16) {
    let cfg = config_at("proxy-v2", mtu);
    let mtu = usize::from(mtu);
    let hl = spec_header(e).len();
    let ip_hdr = if e.v6() { 40 } else { 20 };
    let fits = vec![b'f'; mtu - hl - ip_hdr - 8];
    let over = vec![b'o'; fits.len() + 1];
    let mut wan = vec![
        (secs(1.0), from_client(e, &fits)),
        (secs(1.01), from_client(e, &over)),
    ];
    if !e.v6() {
        let no_df = frame((GW_MAC, WAN_MAC), e.client, e.vip, 64, &over, false);
        wan.push((secs(1.02), no_df));
    }
    let run = replay(name, &cfg, &[("wan0", wan)], &[]);
    let lan = frames(&run.out["lan0"]);
    assert_eq!(lan.len(), 1, "only the datagram that fits");
    assert_eq!(lan[0].len(), 14 + mtu, "it fills the MTU");
    let seen = verify(&lan[0]);
    assert_eq!(&seen.payload[..hl], &spec_header(e)[..]);
    assert_eq!(&seen.payload[hl..], &fits[..]);

    let wan_out = frames(&run.out["wan0"]);
    assert_eq!(wan_out.len(), 1, "one ICMP error, to the DF sender");
    let p = SlicedPacket::from_ethernet(&wan_out[0]).expect("parse the ICMP error");
    let told = match p.transport {
        Some(TransportSlice::Icmpv4(i)) => match i.icmp_type() {
            Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu },
            ) => usize::from(next_hop_mtu),
            other => panic!("{other:?}"),
        },
        Some(TransportSlice::Icmpv6(i)) => match i.icmp_type() {
            Icmpv6Type::PacketTooBig { mtu } => mtu as usize,
            other => panic!("{other:?}"),
        },
        other => panic!("not ICMP: {other:?}"),
    };
    assert_eq!(told, mtu - hl, "the MTU less the header");
    let drops = if e.v6() { 1 } else { 2 };
    assert_eq!(run.summary["dropped"]["too_big"], drops, "{}", run.summary);
    assert_eq!(run.summary["proxy_headers_sent"], 1, "{}", run.summary);
}

#[test]
fn proxy_v2_datagram_without_room_under_the_mtu_is_dropped_v4_v6() {
    mtu_case(V4, "udp-pp2-mtu-v4", 1500);
    mtu_case(V6, "udp-pp2-mtu-v6", 1500);
}

/// The room check follows `[[port]] mtu`: at 1400 a datagram that would fit 1500 is
/// refused and its sender told 1400 less the header.
#[test]
fn proxy_v2_datagram_room_follows_the_port_mtu_v4_v6() {
    mtu_case(V4, "udp-pp2-mtu1400-v4", 1400);
    mtu_case(V6, "udp-pp2-mtu1400-v6", 1400);
}

/// Without `client_address` the same datagrams pass untouched (the test above would
/// fail on a director that never adds the header).
#[test]
fn without_client_address_datagrams_pass_untouched() {
    let cfg = config("none");
    let run = replay(
        "udp-pp-none",
        &cfg,
        &[("wan0", vec![(secs(1.0), from_client(V4, b"plain"))])],
        &[],
    );
    let lan = frames(&run.out["lan0"]);
    let lport = verify(&lan[0]).sport;
    assert_frames(&lan, &[to_real(V4, lport, b"plain")], "toward the real");
    assert!(run.summary["proxy_headers_sent"] == 0, "{}", run.summary);
}

/// `toa` and `proxy-v1` have no UDP form: rvsd refuses the file, naming the line.
#[test]
fn udp_services_refuse_tcp_only_client_addresses() {
    for how in ["toa", "proxy-v1"] {
        let cfg = config(how);
        let dir = test_dir(&format!("udp-client-addr-{how}"));
        let path = dir.join("rvs.toml");
        let line = 1 + cfg
            .lines()
            .position(|l| l.starts_with("client_address"))
            .expect("a client_address line");
        std::fs::write(&path, cfg).unwrap();
        let out = rvsd_replay(&path, "wan0=none.pcap", &dir.join("out"));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "client_address \"{how}\" is for TCP services only"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("rvs.toml:{line}:")),
            "names the line: {err}"
        );
    }
}
