//! A packet that would open a connection to a service with no usable real
//! (`[behaviour] no_real`): answered as IPVS's `ip_vs_leave` answers it, ICMP port
//! unreachable (ICMPv6 for IPv6) quoting the packet, or with a TCP RST, or dropped;
//! rate-limited per worker, never toward a martian source, and the packet itself always
//! counted as a `no_real` drop. Every answer is read back with etherparse, its checksums
//! recomputed there.

mod common;

use etherparse::{
    icmpv4, icmpv6, Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
};
use rvs_config::testbed::{TwoPortDirector, GATEWAY_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::update::Published;
use rvs_pipeline::worker::{CollectIo, Worker, NO_REAL_ANSWER_BURST};

const VIP: [u8; 4] = [10, 0, 0, 100];
const VIP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64,
];
const CLIENT: [u8; 4] = [198, 51, 100, 7];
const CLIENT6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
];

/// TCP and UDP services on port 80 of a v4 and a v6 VIP whose only real is quiesced
/// (weight 0), the TCP one SYN-proxied on port 81; `behaviour` goes in `[behaviour]`.
fn config(behaviour: &str) -> String {
    let service = |proto: &str, vip: &str, port: u16, real: &str, extra: &str| {
        format!(
            "\n[[service]]\nproto = \"{proto}\"\nvip = \"{vip}\"\nport = {port}\nscheduler = \"rr\"\n{extra}\
             [[service.real]]\nip = \"{real}\"\nport = 8080\nweight = 0\nforward = \"{fwd}\"\n",
            fwd = if extra.is_empty() { "nat" } else { "fullnat" }
        )
    };
    TwoPortDirector::new("mem", 64)
        .dual_stack()
        .gateway()
        .real(11)
        .to_toml()
        + &format!("\n[behaviour]\n{behaviour}\n")
        + &service("tcp", "10.0.0.100", 80, "10.1.0.11", "")
        + &service("udp", "10.0.0.100", 80, "10.1.0.11", "")
        + &service("tcp", "2001:db8::64", 80, "2001:db8:1::11", "")
        + &service(
            "tcp",
            "10.0.0.100",
            81,
            "10.1.0.11",
            "laddrs = [\"10.1.0.200\"]\nsynproxy = true\n",
        )
}

fn syn(src: [u8; 4], dport: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4(src, VIP, 64)
        .tcp(40000, dport, 1000, 64240)
        .syn()
        .write(&mut out, &[])
        .expect("syn");
    out
}

fn syn6() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv6(CLIENT6, VIP6, 64)
        .tcp(40000, 80, 1000, 64240)
        .syn()
        .write(&mut out, &[])
        .expect("syn");
    out
}

fn udp() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4(CLIENT, VIP, 64)
        .udp(40000, 80)
        .write(&mut out, b"query")
        .expect("udp");
    out
}

/// Send `frame` in on wan0 at `now`; what went out.
fn send(w: &mut Worker<HeapBuf>, frame: &[u8], now: u64) -> Vec<(PortId, Vec<u8>)> {
    let mut io = CollectIo::default();
    w.process(
        PortId(0),
        HeapBuf::from_frame(frame).expect("fits"),
        now,
        &mut io,
    );
    io.sent
        .iter()
        .map(|(p, b)| (*p, b.data().to_vec()))
        .collect()
}

fn no_real_drops(w: &Worker<HeapBuf>) -> u64 {
    w.counters().drops[DropReason::NoReal.index()]
}

/// The IP packet of `frame` (past the Ethernet header).
fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

#[test]
fn a_tcp_syn_and_a_udp_datagram_get_port_unreachable_quoting_them() {
    let mut w = common::worker(&config(""), 0);
    for (frame, proto) in [(syn(CLIENT, 80), "tcp"), (udp(), "udp")] {
        let out = send(&mut w, &frame, 1_000);
        assert_eq!(out.len(), 1, "{proto}: one answer");
        let (port, answer) = &out[0];
        assert_eq!(*port, PortId(0), "{proto}: back out of wan0");
        let p = SlicedPacket::from_ethernet(answer).expect("parses");
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
            panic!("{proto}: not Ethernet")
        };
        assert_eq!((eth.source(), eth.destination()), (WAN_MAC, GATEWAY_MAC));
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("{proto}: not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!((h.source, h.destination), (VIP, CLIENT), "{proto}");
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "{proto}: IP checksum"
        );
        let Some(TransportSlice::Icmpv4(icmp)) = &p.transport else {
            panic!("{proto}: not ICMP")
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port),
            "{proto}: type 3 code 3"
        );
        assert_eq!(
            icmp.checksum(),
            icmp.icmp_type().calc_checksum(icmp.payload()),
            "{proto}: ICMP checksum"
        );
        // The whole offending packet is quoted (it is short), unchanged.
        assert_eq!(icmp.payload(), ip_of(&frame), "{proto}: quote");
    }
    assert_eq!(no_real_drops(&w), 2, "the packets are still no_real drops");
    assert_eq!(w.counters().no_real_answered, 2);
    assert_eq!(w.conns().len(), 0);
}

#[test]
fn an_ipv6_syn_gets_icmpv6_port_unreachable() {
    let mut w = common::worker(&config(""), 0);
    let frame = syn6();
    let out = send(&mut w, &frame, 1_000);
    assert_eq!(out.len(), 1);
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    assert_eq!((h.source, h.destination), (VIP6, CLIENT6));
    let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
        panic!("not ICMPv6")
    };
    assert_eq!(
        icmp.icmp_type(),
        Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port),
        "type 1 code 4"
    );
    let sum = icmp
        .icmp_type()
        .calc_checksum(h.source, h.destination, icmp.payload())
        .expect("checksum");
    assert_eq!(icmp.checksum(), sum, "ICMPv6 checksum");
    assert_eq!(icmp.payload(), ip_of(&frame), "quote");
    assert_eq!(no_real_drops(&w), 1);
}

#[test]
fn with_rst_a_syn_is_refused_by_a_reset_and_udp_still_by_icmp() {
    let mut w = common::worker(&config("no_real = \"rst\""), 0);
    let out = send(&mut w, &syn(CLIENT, 80), 1_000);
    assert_eq!(out.len(), 1);
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!((h.source, h.destination), (VIP, CLIENT));
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        panic!("not TCP")
    };
    let t = tcp.to_header();
    assert_eq!((t.source_port, t.destination_port), (80, 40000));
    assert!(t.rst && t.ack && !t.syn, "RST+ACK: {t:?}");
    assert_eq!((t.sequence_number, t.acknowledgment_number), (0, 1001));
    assert!(tcp.payload().is_empty());
    let sum = t.calc_checksum_ipv4(&h, tcp.payload()).expect("checksum");
    assert_eq!(t.checksum, sum, "TCP checksum");
    // UDP has no RST: ICMP as IPVS.
    let out = send(&mut w, &udp(), 1_001);
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    assert!(matches!(p.transport, Some(TransportSlice::Icmpv4(_))));
    assert_eq!(no_real_drops(&w), 2);
    assert_eq!(w.counters().no_real_answered, 2);
}

#[test]
fn with_drop_nothing_answers() {
    let mut w = common::worker(&config("no_real = \"drop\""), 0);
    assert!(send(&mut w, &syn(CLIENT, 80), 1_000).is_empty());
    assert!(send(&mut w, &udp(), 1_000).is_empty());
    assert_eq!(no_real_drops(&w), 2);
    assert_eq!(w.counters().no_real_answered, 0);
}

#[test]
fn nothing_answers_toward_a_broadcast_multicast_or_loopback_source() {
    let mut w = common::worker(&config(""), 0);
    for src in [
        [255, 255, 255, 255],
        [224, 0, 0, 1],
        [127, 0, 0, 1],
        [0, 0, 0, 0],
    ] {
        assert!(send(&mut w, &syn(src, 80), 1_000).is_empty(), "{src:?}");
    }
    assert_eq!(w.counters().no_real_answered, 0);
}

#[test]
fn answers_are_rate_limited_per_worker_and_what_is_withheld_is_counted() {
    let mut w = common::worker(&config(""), 0);
    let frame = syn(CLIENT, 80);
    let answered = (0..200)
        .map(|_| send(&mut w, &frame, 1_000).len() as u64)
        .sum::<u64>();
    assert_eq!(answered, NO_REAL_ANSWER_BURST, "the burst, then nothing");
    let c = w.counters();
    assert_eq!(c.no_real_answered, NO_REAL_ANSWER_BURST);
    assert_eq!(c.no_real_limited, 200 - NO_REAL_ANSWER_BURST);
    assert_eq!(no_real_drops(&w), 200, "every packet counted as a drop");
    // And against its service, for the control core's "no destination available".
    let mut published = Published::default();
    w.publish_to(&mut published);
    let per_service: u64 = published.traffic.services.iter().map(|t| t.no_real).sum();
    assert_eq!(per_service, 200);
    // 10 ms later: 10 more at 1000 a second.
    let later = (0..50)
        .map(|_| send(&mut w, &frame, 1_010).len() as u64)
        .sum::<u64>();
    assert_eq!(later, 10);
}

#[test]
fn a_syn_proxied_service_with_no_real_answers_the_syn_instead_of_a_cookie() {
    let mut w = common::worker(&config(""), 0);
    let out = send(&mut w, &syn(CLIENT, 81), 1_000);
    assert_eq!(out.len(), 1);
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    assert!(
        matches!(p.transport, Some(TransportSlice::Icmpv4(_))),
        "port unreachable, not a SYN-ACK: {:?}",
        p.transport
    );
    assert_eq!(w.counters().syn_cookies_sent, 0);
    assert_eq!(no_real_drops(&w), 1);
}

#[test]
fn a_good_cookie_ack_when_no_real_is_left_is_reset() {
    // Two workers with one seed make the same cookies: the first, whose real is up,
    // answers the SYN; the second, whose real is quiesced, gets the ACK.
    let text = config("");
    let mut up = common::worker(&text.replace("weight = 0", "weight = 1"), 3);
    let mut gone = common::worker(&text, 3);
    let out = send(&mut up, &syn(CLIENT, 81), 1_000);
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    let Some(TransportSlice::Tcp(synack)) = &p.transport else {
        panic!("no SYN-ACK: {:?}", p.transport)
    };
    assert!(synack.syn() && synack.ack());
    let cookie = synack.sequence_number();
    let mut ack = Vec::new();
    PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4(CLIENT, VIP, 64)
        .tcp(40000, 81, 1001, 64240)
        .ack(cookie.wrapping_add(1))
        .write(&mut ack, &[])
        .expect("ack");
    let out = send(&mut gone, &ack, 1_001);
    assert_eq!(out.len(), 1, "one answer");
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) = (&p.net, &p.transport) else {
        panic!("not TCP over IPv4: {p:?}")
    };
    let (h, t) = (ip.header().to_header(), tcp.to_header());
    assert_eq!((h.source, h.destination), (VIP, CLIENT));
    assert!(t.rst && !t.ack && !t.syn, "a bare RST: {t:?}");
    assert_eq!(
        t.sequence_number,
        cookie.wrapping_add(1),
        "the ACK's number"
    );
    assert_eq!(t.checksum, t.calc_checksum_ipv4(&h, &[]).expect("checksum"));
    assert_eq!(gone.counters().syn_cookies_accepted, 0);
    assert_eq!(no_real_drops(&gone), 1);
    assert_eq!(gone.conns().len(), 0);
}
