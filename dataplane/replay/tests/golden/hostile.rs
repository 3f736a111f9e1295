//! Malformed and awkward packets: each is a counted drop, never a wrong forward, and an
//! established connection keeps flowing around it.
//!
//! Each test opens a NAT connection (client `C1:40000` to `VIP:80`, real `10.1.0.11:8080`),
//! sends the awkward frames, checks the reason counted for each and that nothing left,
//! then checks that the connection's next packet is forwarded exactly as before.

use etherparse::{IpNumber, Ipv4Header, PacketBuilder};
use rvs_packet::drop::DropReason;

use super::frames::*;
use super::lab::{Lab, DEFAULT_CAPACITY};

/// A lab with the NAT connection open.
fn lab_with_flow() -> Lab {
    let mut lab = Lab::new(DEFAULT_CAPACITY);
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    assert_eq!(
        lab.send("wan0", &syn).len(),
        1,
        "the SYN opens the connection"
    );
    lab
}

/// The connection's next client packet is forwarded to its real, byte for byte.
fn assert_flows(lab: &mut Lab) {
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64);
    let want = v4_tcp(LAN, real_mac(11), C1, r4(11), 40000, 8080, ACK, 63);
    assert_eq!(
        lab.send("wan0", &ack),
        vec![("lan0", want)],
        "the connection flows"
    );
}

/// `frame` on `port` is dropped for `reason`, sending nothing and opening nothing.
fn assert_dropped(lab: &mut Lab, port: &'static str, frame: &[u8], reason: DropReason, what: &str) {
    let (before, conns) = (lab.drop_count(reason), lab.conns_len());
    let out = lab.send(port, frame);
    assert!(out.is_empty(), "{what}: sent {out:?}");
    assert_eq!(
        lab.drop_count(reason),
        before + 1,
        "{what}: counters {:?}",
        lab.drops()
    );
    assert_eq!(lab.conns_len(), conns, "{what}: no connection made");
}

/// Recompute the IPv4 header checksum of `frame` (header at 14) after an edit.
fn fix_ipv4_checksum(frame: &mut [u8]) {
    let ihl = usize::from(frame[14] & 0xf) * 4;
    frame[24..26].copy_from_slice(&[0, 0]);
    let sum = frame[14..14 + ihl.min(frame.len() - 14)]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    frame[24..26].copy_from_slice(&(!(folded as u16)).to_be_bytes());
}

#[test]
fn truncation_at_every_layer_is_malformed() {
    let mut lab = lab_with_flow();
    let frames = [
        v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64),
        v4_udp(GW, WAN, C1, VIP, 5000, 53, 64),
        v6_tcp(C6_MAC, WAN, C6, VIP6, 40000, 80, ACK, 64),
        v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 53, 64),
    ];
    for f in &frames {
        // Inside the Ethernet header, the IP header, the L4 header and the payload.
        for len in 0..f.len() {
            let what = format!("{} of {} bytes", len, f.len());
            assert_dropped(&mut lab, "wan0", &f[..len], DropReason::Malformed, &what);
        }
    }
    assert_flows(&mut lab);
}

#[test]
fn bad_lengths_are_malformed() {
    let mut lab = lab_with_flow();
    let tcp = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64);
    let udp = v4_udp(GW, WAN, C1, VIP, 5000, 53, 64);
    let edit = |base: &[u8], at: usize, bytes: &[u8]| {
        let mut f = base.to_vec();
        f[at..at + bytes.len()].copy_from_slice(bytes);
        fix_ipv4_checksum(&mut f);
        f
    };
    let total = (tcp.len() - 14) as u16;
    let cases = [
        (
            "IPv4 total length past the frame",
            edit(&tcp, 16, &(total + 1).to_be_bytes()),
        ),
        (
            "IPv4 total length under the header",
            edit(&tcp, 16, &19u16.to_be_bytes()),
        ),
        ("IPv4 header length 4 words", edit(&tcp, 14, &[0x44])),
        (
            "IPv4 header length past the packet",
            edit(&tcp, 14, &[0x4f]),
        ),
        ("IPv4 version 6 in an IPv4 frame", edit(&tcp, 14, &[0x65])),
        ("TCP data offset 4 words", edit(&tcp, 14 + 20 + 12, &[0x40])),
        (
            "TCP data offset past the segment",
            edit(&tcp, 14 + 20 + 12, &[0xf0]),
        ),
        (
            "UDP length past the packet",
            edit(&udp, 14 + 20 + 4, &[0x00, 0xff]),
        ),
        (
            "UDP length under its header",
            edit(&udp, 14 + 20 + 4, &[0x00, 0x07]),
        ),
    ];
    for (what, f) in &cases {
        assert_dropped(&mut lab, "wan0", f, DropReason::Malformed, what);
    }
    let mut v6 = v6_tcp(C6_MAC, WAN, C6, VIP6, 40000, 80, ACK, 64);
    v6[18..20].copy_from_slice(&0x0400u16.to_be_bytes());
    assert_dropped(
        &mut lab,
        "wan0",
        &v6,
        DropReason::Malformed,
        "IPv6 payload length past the frame",
    );
    assert_flows(&mut lab);
}

#[test]
fn ipv4_options_are_carried_through_unchanged() {
    // Policy: options are neither interpreted nor removed; the packet is forwarded with
    // them, its header checksum updated for the rewrite.
    let mut lab = lab_with_flow();
    let build = |s: [u8; 4], d: [u8; 4], ttl: u8, sm: Mac, dm: Mac, sp: u16, dp: u16| {
        let mut ip = Ipv4Header::new(0, ttl, IpNumber::TCP, s, d).expect("header");
        ip.options = [1, 1, 1, 0][..].try_into().expect("options");
        let mut out = Vec::new();
        PacketBuilder::ethernet2(sm, dm)
            .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
            .tcp(sp, dp, 1, 64240)
            .ack(1)
            .write(&mut out, b"hello")
            .expect("tcp with options");
        out
    };
    let input = build(C1, VIP, 64, GW, WAN, 40000, 80);
    let want = build(C1, r4(11), 63, LAN, real_mac(11), 40000, 8080);
    assert_eq!(lab.send("wan0", &input), vec![("lan0", want)]);
    assert_flows(&mut lab);
}

/// An IPv6 TCP ACK toward the VIP behind `n` destination-options headers.
fn v6_with_ext_headers(n: usize) -> Vec<u8> {
    let tcp = v6_tcp(C6_MAC, WAN, C6, VIP6, 40000, 80, ACK, 64);
    let (head, upper) = tcp.split_at(14 + 40);
    let mut f = head.to_vec();
    f[14 + 6] = 60; // destination options
    for i in 0..n {
        let next = if i + 1 == n { 6 } else { 60 };
        f.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN, 8 bytes
    }
    f.extend_from_slice(upper);
    let payload = (f.len() - 14 - 40) as u16;
    f[18..20].copy_from_slice(&payload.to_be_bytes());
    f
}

#[test]
fn long_ipv6_extension_chains_are_refused() {
    let mut lab = lab_with_flow();
    let long = v6_with_ext_headers(rvs_packet::wire::ipv6::MAX_EXT_HEADERS + 1);
    assert_dropped(
        &mut lab,
        "wan0",
        &long,
        DropReason::UnsupportedProtocol,
        "9 headers",
    );
    // A truncated chain is malformed.
    let short = v6_with_ext_headers(3);
    assert_dropped(
        &mut lab,
        "wan0",
        &short[..14 + 40 + 12],
        DropReason::Malformed,
        "cut chain",
    );
    assert_flows(&mut lab);
}

#[test]
fn fragments_of_a_tracked_flow_reach_only_its_real() {
    // Policy: fragments are reassembled. One that cannot be part of a datagram (data not
    // a multiple of 8 bytes before the last) is malformed; a whole datagram goes through
    // its connection, to its real and nowhere else.
    let mut lab = lab_with_flow();
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64);
    let with_frag = |flags_offset: u16| {
        let mut f = ack.clone();
        f[20..22].copy_from_slice(&flags_offset.to_be_bytes());
        fix_ipv4_checksum(&mut f);
        f
    };
    assert_dropped(
        &mut lab,
        "wan0",
        &with_frag(0x2000),
        DropReason::Malformed,
        "first (MF) of 25 bytes",
    );
    assert_dropped(
        &mut lab,
        "wan0",
        &with_frag(0x2001),
        DropReason::Malformed,
        "middle of 25 bytes",
    );
    // IPv6: a fragment header in front of the TCP header.
    let v6 = v6_tcp(C6_MAC, WAN, C6, VIP6, 40000, 80, ACK, 64);
    let mut f = v6[..14 + 40].to_vec();
    f[14 + 6] = 44;
    f.extend_from_slice(&[6, 0, 0, 0x01, 0, 0, 0, 7]); // offset 0, more fragments
    f.extend_from_slice(&v6[14 + 40..]);
    let payload = (f.len() - 54) as u16;
    f[18..20].copy_from_slice(&payload.to_be_bytes());
    assert_dropped(
        &mut lab,
        "wan0",
        &f,
        DropReason::Malformed,
        "IPv6 first fragment of 25 bytes",
    );
    // The ACK in two fragments: 24 bytes (MF), then its last byte at offset 24.
    let mut first = ack[..14 + 20 + 24].to_vec();
    first[16..18].copy_from_slice(&44u16.to_be_bytes());
    first[20..22].copy_from_slice(&0x2000u16.to_be_bytes());
    fix_ipv4_checksum(&mut first);
    let mut last = ack[..14 + 20].to_vec();
    last.push(ack[14 + 20 + 24]);
    last[16..18].copy_from_slice(&21u16.to_be_bytes());
    last[20..22].copy_from_slice(&0x0003u16.to_be_bytes());
    fix_ipv4_checksum(&mut last);
    assert!(lab.send("wan0", &last).is_empty(), "held");
    let out = lab.send("wan0", &first);
    assert_eq!(out.len(), 2, "cut again no larger than it came: {out:?}");
    for (port, frame) in &out {
        assert_eq!(*port, "lan0");
        assert_eq!(frame[..6], real_mac(11), "to the connection's real");
        assert_eq!(frame[14 + 16..14 + 20], r4(11));
        check_frame(frame).expect("valid fragments");
    }
    assert_flows(&mut lab);
}

#[test]
fn ttl_1_is_dropped_and_opens_no_connection() {
    let mut lab = lab_with_flow();
    let syn = v4_tcp(GW, WAN, C2, VIP, 40001, 80, SYN, 1);
    assert_dropped(
        &mut lab,
        "wan0",
        &syn,
        DropReason::TtlExceeded,
        "SYN with TTL 1",
    );
    let syn6 = v6_tcp(C6_MAC, WAN, C6, VIP6, 40001, 80, SYN, 1);
    assert_dropped(
        &mut lab,
        "wan0",
        &syn6,
        DropReason::TtlExceeded,
        "SYN with hop limit 1",
    );
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 1);
    let (before, conns) = (lab.drop_count(DropReason::TtlExceeded), lab.conns_len());
    assert!(lab.send("wan0", &ack).is_empty());
    assert_eq!(lab.drop_count(DropReason::TtlExceeded), before + 1);
    assert_eq!(lab.conns_len(), conns, "the connection stays");
    assert_flows(&mut lab);
}

#[test]
fn udp_zero_checksum_is_kept_on_ipv4_and_refused_on_ipv6() {
    let mut lab = lab_with_flow();
    let mut v4 = v4_udp(GW, WAN, C1, VIP, 5000, 53, 64);
    v4[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    let mut want = v4_udp(LAN, real_mac(11), C1, r4(11), 5000, 5353, 63);
    want[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    assert_eq!(
        lab.send("wan0", &v4),
        vec![("lan0", want)],
        "no checksum stays none"
    );
    let mut v6 = v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 53, 64);
    v6[14 + 40 + 6..14 + 40 + 8].copy_from_slice(&[0, 0]);
    assert_dropped(
        &mut lab,
        "wan0",
        &v6,
        DropReason::Malformed,
        "IPv6 UDP without checksum",
    );
    assert_flows(&mut lab);
}

#[test]
fn broadcast_and_multicast_sources_are_martian() {
    let mut lab = lab_with_flow();
    for (i, src) in [
        [255, 255, 255, 255],
        [224, 0, 0, 1],
        [0, 0, 0, 0],
        [127, 0, 0, 1],
        [240, 0, 0, 9],
    ]
    .into_iter()
    .enumerate()
    {
        let syn = v4_tcp(GW, WAN, src, VIP, 41000 + i as u16, 80, SYN, 64);
        assert_dropped(
            &mut lab,
            "wan0",
            &syn,
            DropReason::MartianSource,
            &format!("{src:?}"),
        );
    }
    let mut ff02 = [0u8; 16];
    ff02[..2].copy_from_slice(&[0xff, 0x02]);
    ff02[15] = 1;
    let syn6 = v6_tcp(C6_MAC, WAN, ff02, VIP6, 41000, 80, SYN, 64);
    assert_dropped(
        &mut lab,
        "wan0",
        &syn6,
        DropReason::MartianSource,
        "ff02::1",
    );
    // A group MAC as the Ethernet source.
    let syn = v4_tcp([0x01, 0, 0x5e, 0, 0, 1], WAN, C2, VIP, 41000, 80, SYN, 64);
    assert_dropped(
        &mut lab,
        "wan0",
        &syn,
        DropReason::MartianSource,
        "multicast MAC",
    );
    // No echo reply toward a broadcast address (smurf).
    let ping = v4_echo(GW, WAN, [255; 4], VIP, 64, true);
    assert_dropped(
        &mut lab,
        "wan0",
        &ping,
        DropReason::MartianSource,
        "broadcast ping",
    );
    assert_flows(&mut lab);
}

#[test]
fn land_and_the_directors_own_addresses_as_source_are_refused() {
    let mut lab = lab_with_flow();
    let sources: [(&str, [u8; 4]); 4] = [
        ("LAND: the VIP itself", VIP),
        ("a FULLNAT local address", LADDR),
        ("the wan0 address", [10, 0, 0, 1]),
        ("the lan0 address", LAN_IP),
    ];
    for (what, src) in sources {
        let syn = v4_tcp(GW, WAN, src, VIP, 80, 80, SYN, 64);
        assert_dropped(&mut lab, "wan0", &syn, DropReason::OwnSource, what);
    }
    let land6 = v6_tcp(C6_MAC, WAN, VIP6, VIP6, 80, 80, SYN, 64);
    assert_dropped(&mut lab, "wan0", &land6, DropReason::OwnSource, "LAND v6");
    assert_flows(&mut lab);
}
