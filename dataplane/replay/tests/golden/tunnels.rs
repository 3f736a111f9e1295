//! Tunnel reals beyond IPIP: GUE (without checksum, with it, with remote checksum
//! offload) and GRE (with and without checksum), IPv4 and IPv6 outer headers, through the
//! whole pipeline. Expected frames are built with etherparse (outer IP, UDP and their
//! checksums), the GUE and GRE headers laid out here from their specifications
//! (draft-ietf-intarea-gue variant 0 with Linux's private flags; RFC 2784), and the
//! inner packet is the client's, byte for byte (or, with remote checksum offload, with
//! its checksum field holding the pseudo-header sum, which a receiver finishing it as
//! Linux does turns back into the client's checksum).

use etherparse::checksum::Sum16BitWords;
use etherparse::{IpNumber, PacketBuilder, SlicedPacket, TransportSlice};

use crate::frames::*;
use crate::lab::{self, Lab};
use rvs_packet::drop::DropReason;

/// The fixture with tunnel services added: TCP to 10.0.0.100 ports 87..=91 (GUE
/// nocsum, csum, remcsum; GRE nocsum, csum), UDP 10.0.0.100:89 (GUE remcsum), 92 (GUE to
/// an IPv6 real), and TCP to 2001:db8::100 ports 87 (GUE csum) and 90 (GRE csum).
fn tunnel_lab() -> Lab {
    let mut text = lab::config_text(lab::DEFAULT_CAPACITY);
    let svc = |proto: &str, vip: &str, port: u16, real: &str, tunnel: &str| {
        format!(
            "\n[[service]]\nproto = \"{proto}\"\nvip = \"{vip}\"\nport = {port}\n\
             scheduler = \"rr\"\n[[service.real]]\nip = \"{real}\"\nforward = \"tun\"\n{tunnel}\n"
        )
    };
    for (proto, vip, port, real, tunnel) in [
        (
            "tcp",
            "10.0.0.100",
            87,
            "10.1.0.11",
            "tun_type = \"gue\"\ntun_port = 6080",
        ),
        (
            "tcp",
            "10.0.0.100",
            88,
            "10.1.0.12",
            "tun_type = \"gue\"\ntun_port = 6081\ntun_csum = \"csum\"",
        ),
        (
            "tcp",
            "10.0.0.100",
            89,
            "10.1.0.13",
            "tun_type = \"gue\"\ntun_port = 6082\ntun_csum = \"remcsum\"",
        ),
        (
            "udp",
            "10.0.0.100",
            89,
            "10.1.0.13",
            "tun_type = \"gue\"\ntun_port = 6082\ntun_csum = \"remcsum\"",
        ),
        ("tcp", "10.0.0.100", 90, "10.1.0.14", "tun_type = \"gre\""),
        (
            "tcp",
            "10.0.0.100",
            91,
            "10.1.0.11",
            "tun_type = \"gre\"\ntun_csum = \"csum\"",
        ),
        (
            "tcp",
            "10.0.0.100",
            92,
            "2001:db8:1::11",
            "tun_type = \"gue\"\ntun_port = 6080",
        ),
        (
            "tcp",
            "2001:db8::100",
            87,
            "2001:db8:1::12",
            "tun_type = \"gue\"\ntun_port = 6080\ntun_csum = \"csum\"",
        ),
        (
            "tcp",
            "2001:db8::100",
            90,
            "2001:db8:1::13",
            "tun_type = \"gre\"\ntun_csum = \"csum\"",
        ),
    ] {
        text.push_str(&svc(proto, vip, port, real, tunnel));
    }
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&text);
    lab
}

/// GUE's header (variant 0): version 0, control 0, `hlen` words of options, the inner
/// protocol, flags; with remote checksum offload, Linux's private-flags option (flag bit
/// 0, private flag bit 31) and the offload field (start, field).
fn gue_header(inner_proto: u8, offload: Option<(u16, u16)>) -> Vec<u8> {
    match offload {
        None => vec![0, inner_proto, 0, 0],
        Some((start, field)) => {
            let mut h = vec![2, inner_proto, 0, 1, 0x80, 0, 0, 0];
            h.extend_from_slice(&start.to_be_bytes());
            h.extend_from_slice(&field.to_be_bytes());
            h
        }
    }
}

/// A GUE frame from the director's LAN address to real `h`, built by etherparse with
/// its UDP checksum (zeroed afterwards when `csum` is false).
fn gue_v4(h: u8, sport: u16, dport: u16, gue_and_inner: &[u8], csum: bool) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(LAN, real_mac(h))
        .ipv4(LAN_IP, r4(h), 64)
        .udp(sport, dport)
        .write(&mut out, gue_and_inner)
        .expect("gue");
    if !csum {
        out[14 + 20 + 6..14 + 20 + 8].fill(0);
    }
    out
}

/// The same over IPv6 to real `h`.
fn gue_v6(h: u8, sport: u16, dport: u16, gue_and_inner: &[u8], csum: bool) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(LAN, real_mac(h))
        .ipv6(LAN6, r6(h), 64)
        .udp(sport, dport)
        .write(&mut out, gue_and_inner)
        .expect("gue");
    if !csum {
        out[14 + 40 + 6..14 + 40 + 8].fill(0);
    }
    out
}

/// GRE (RFC 2784) around `inner` of EtherType `proto`, with the checksum over the GRE
/// header and payload when `csum`.
fn gre(proto: u16, inner: &[u8], csum: bool) -> Vec<u8> {
    let mut g = Vec::new();
    g.extend_from_slice(&(if csum { 0x8000u16 } else { 0 }).to_be_bytes());
    g.extend_from_slice(&proto.to_be_bytes());
    if csum {
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    g.extend_from_slice(inner);
    if csum {
        let c = Sum16BitWords::new().add_slice(&g).ones_complement().to_be();
        g[4..6].copy_from_slice(&c.to_be_bytes());
    }
    g
}

/// The UDP source port of a GUE frame, by etherparse.
fn udp_source(frame: &[u8]) -> u16 {
    match SlicedPacket::from_ethernet(frame).expect("parse").transport {
        Some(TransportSlice::Udp(u)) => u.source_port(),
        other => panic!("not UDP: {other:?}"),
    }
}

/// Send `frame` on wan0: one frame out on lan0, no drop.
fn forwarded(lab: &mut Lab, frame: &[u8]) -> Vec<u8> {
    let before = lab.drops();
    let out = lab.send("wan0", frame);
    assert_eq!(lab.drops(), before, "no drop");
    assert_eq!(out.len(), 1, "one frame out");
    assert_eq!(out[0].0, "lan0");
    out[0].1.clone()
}

fn same(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(hex(got), hex(want), "{what}: byte for byte");
}

#[test]
fn gue_without_and_with_checksum_ipv4_and_ipv6() {
    let mut lab = tunnel_lab();
    // nocsum, IPv4 in IPv4: UDP checksum 0.
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 87, SYN, 64);
    let got = forwarded(&mut lab, &syn);
    let sport = udp_source(&got);
    assert!(
        (32768..61000).contains(&sport),
        "the kernel's range: {sport}"
    );
    let mut payload = gue_header(4, None);
    payload.extend_from_slice(&ip_of(&syn));
    same(
        &got,
        &gue_v4(11, sport, 6080, &payload, false),
        "gue nocsum",
    );
    // The connection's next packet goes from the same source port.
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 87, ACK, 64);
    assert_eq!(udp_source(&forwarded(&mut lab, &ack)), sport);

    // csum, IPv4 in IPv4: the UDP checksum etherparse computes.
    let syn = v4_tcp(GW, WAN, C1, VIP, 40001, 88, SYN, 64);
    let got = forwarded(&mut lab, &syn);
    let mut payload = gue_header(4, None);
    payload.extend_from_slice(&ip_of(&syn));
    same(
        &got,
        &gue_v4(12, udp_source(&got), 6081, &payload, true),
        "gue csum",
    );
    check_frame(&got).expect("a right UDP checksum");

    // csum, IPv6 in IPv6.
    let syn = v6_tcp(C6_MAC, WAN, C6, VIP6, 40002, 87, SYN, 64);
    let got = forwarded(&mut lab, &syn);
    let mut payload = gue_header(41, None);
    payload.extend_from_slice(&ip_of(&syn));
    same(
        &got,
        &gue_v6(12, udp_source(&got), 6080, &payload, true),
        "gue v6 csum",
    );
    check_frame(&got).expect("a right UDP checksum");

    // nocsum, IPv4 inside IPv6 (a tunnel real of the other family).
    let syn = v4_tcp(GW, WAN, C1, VIP, 40003, 92, SYN, 64);
    let got = forwarded(&mut lab, &syn);
    let mut payload = gue_header(4, None);
    payload.extend_from_slice(&ip_of(&syn));
    same(
        &got,
        &gue_v6(11, udp_source(&got), 6080, &payload, false),
        "gue 4in6",
    );
}

/// The folded pseudo-header sum (not complemented) of a TCP or UDP packet: what its
/// checksum field holds while a NIC or a remote receiver is to finish it.
fn partial(src: &[u8], dst: &[u8], proto: u8, len: usize) -> [u8; 2] {
    let mut s = Sum16BitWords::new().add_slice(src).add_slice(dst);
    s = s
        .add_2bytes([0, proto])
        .add_2bytes((len as u16).to_be_bytes());
    (!s.ones_complement().to_be()).to_be_bytes()
}

/// What a receiver doing remote checksum offload computes (Linux's `remcsum_adjust`):
/// the checksum of the inner packet from `start` on, stored at `field`.
fn finish_remotely(inner: &mut [u8], start: usize, field: usize) {
    let c = Sum16BitWords::new()
        .add_slice(&inner[start..])
        .ones_complement()
        .to_be();
    inner[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn gue_remote_checksum_offload_tcp_and_udp() {
    let mut lab = tunnel_lab();
    for (frame, field_at, proto) in [
        (v4_tcp(GW, WAN, C1, VIP, 40000, 89, SYN, 64), 20 + 16, 6),
        (v4_udp(GW, WAN, C1, VIP, 40001, 89, 64), 20 + 6, 17),
    ] {
        let got = forwarded(&mut lab, &frame);
        let client = ip_of(&frame);
        let mut inner = client.clone();
        inner[field_at..field_at + 2].copy_from_slice(&partial(
            &C1,
            &VIP,
            proto,
            client.len() - 20,
        ));
        let mut payload = gue_header(4, Some((20, field_at as u16)));
        payload.extend_from_slice(&inner);
        same(
            &got,
            &gue_v4(13, udp_source(&got), 6082, &payload, true),
            "gue remcsum",
        );
        check_frame(&got).expect("a right outer UDP checksum");
        finish_remotely(&mut inner, 20, field_at);
        assert_eq!(inner, client, "the real finishes the client's checksum");
    }
}

#[test]
fn gre_with_and_without_checksum_ipv4_and_ipv6() {
    let mut lab = tunnel_lab();
    for (port, h, csum) in [(90, 14, false), (91, 11, true)] {
        let syn = v4_tcp(GW, WAN, C1, VIP, 40000 + port, port, SYN, 64);
        let got = forwarded(&mut lab, &syn);
        let mut want = Vec::new();
        PacketBuilder::ethernet2(LAN, real_mac(h))
            .ipv4(LAN_IP, r4(h), 64)
            .write(&mut want, IpNumber::GRE, &gre(0x0800, &ip_of(&syn), csum))
            .expect("gre");
        same(&got, &want, "gre over IPv4");
        check_frame(&got).expect("a right IPv4 header");
    }
    let syn = v6_tcp(C6_MAC, WAN, C6, VIP6, 40000, 90, SYN, 64);
    let got = forwarded(&mut lab, &syn);
    let mut want = Vec::new();
    PacketBuilder::ethernet2(LAN, real_mac(13))
        .ipv6(LAN6, r6(13), 64)
        .write(&mut want, IpNumber::GRE, &gre(0x86dd, &ip_of(&syn), true))
        .expect("gre");
    same(&got, &want, "gre over IPv6");
}

#[test]
fn a_packet_the_tunnel_headers_push_over_the_mtu_is_refused_with_the_room_left() {
    // 1500-byte packets with DF: each tunnel's headers leave less room than IPIP's 1480.
    for (port, room) in [
        (87, 1500 - 20 - 12),
        (89, 1500 - 20 - 20),
        (91, 1500 - 20 - 8),
    ] {
        let mut lab = tunnel_lab();
        let big = crate::cases::tcp4_big(port);
        let before = lab.drop_count(DropReason::TooBig);
        let out = lab.send("wan0", &big);
        assert_eq!(
            lab.drop_count(DropReason::TooBig),
            before + 1,
            "port {port}"
        );
        let quoted = &ip_of(&big)[..576 - 28];
        let want = v4_icmp_error(WAN, GW, VIP, C1, 64, frag_needed(room), quoted);
        assert_eq!(out.len(), 1, "port {port}");
        same(&out[0].1, &want, "fragmentation needed");
    }
    // IPv6 (GUE with checksum): packet too big, 1500 - 40 - 12.
    let mut lab = tunnel_lab();
    let mut big = Vec::new();
    PacketBuilder::ethernet2(C6_MAC, WAN)
        .ipv6(C6, VIP6, 64)
        .tcp(40000, 87, 1, 64240)
        .syn()
        .write(&mut big, &[0u8; 1440])
        .expect("big tcp");
    let out = lab.send("wan0", &big);
    assert_eq!(lab.drop_count(DropReason::TooBig), 1);
    let quoted = &ip_of(&big)[..1280 - 48];
    let want = v6_icmp(WAN, C6_MAC, VIP6, C6, 64, too_big(1448), quoted);
    assert_eq!(out.len(), 1);
    same(&out[0].1, &want, "packet too big");
    // One that fits the room told goes through.
    let mut fits = Vec::new();
    PacketBuilder::ethernet2(C6_MAC, WAN)
        .ipv6(C6, VIP6, 64)
        .tcp(40001, 87, 1, 64240)
        .syn()
        .write(&mut fits, &vec![0u8; 1448 - 60])
        .expect("tcp");
    let got = forwarded(&mut lab, &fits);
    assert_eq!(got.len(), 14 + 1500);
}
