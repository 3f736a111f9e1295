//! Port MTU: packets through NAT, FULLNAT and TUN fit the egress port's `mtu` (less the
//! tunnel header) or are refused with ICMP fragmentation needed / packet too big carrying
//! it, whatever it is (a jumbo 9000 or a small 1400), checked byte for byte against
//! etherparse and by reading the MTU field back with etherparse.

use etherparse::{
    icmpv4, IpHeaders, IpNumber, Ipv4Header, Ipv6Header, NetSlice, PacketBuilder, SlicedPacket,
    TransportSlice,
};

use crate::frames::*;
use crate::lab::{self, Lab};
use rvs_packet::drop::DropReason;

/// The fixture with both ports at `mtu`.
fn lab_with_mtu(mtu: u16) -> Lab {
    let text = lab::config_text(lab::DEFAULT_CAPACITY);
    let mut with = String::new();
    for line in text.lines() {
        with.push_str(line);
        with.push('\n');
        if line.starts_with("addresses = ") {
            with.push_str(&format!("mtu = {mtu}\n"));
        }
    }
    assert_eq!(with.matches("mtu = ").count(), 2, "both ports");
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&with);
    lab
}

/// An IPv4 packet of `total` bytes (DF set) from `s` to `d`, with a TCP SYN or a UDP
/// datagram filling it.
fn v4_frame(
    macs: (Mac, Mac),
    s: [u8; 4],
    d: [u8; 4],
    ports: (u16, u16),
    tcp: bool,
    ttl: u8,
    total: usize,
) -> Vec<u8> {
    let l4 = if tcp { 20 } else { 8 };
    let payload = vec![0x5a; total - 20 - l4];
    let proto = if tcp { IpNumber::TCP } else { IpNumber::UDP };
    let mut h = Ipv4Header::new(0, ttl, proto, s, d).expect("ipv4");
    h.dont_fragment = true;
    let b = PacketBuilder::ethernet2(macs.0, macs.1).ip(IpHeaders::Ipv4(h, Default::default()));
    let mut out = Vec::new();
    if tcp {
        b.tcp(ports.0, ports.1, 1, 64240)
            .syn()
            .write(&mut out, &payload)
    } else {
        b.udp(ports.0, ports.1).write(&mut out, &payload)
    }
    .expect("build");
    assert_eq!(out.len(), 14 + total);
    out
}

/// An IPv6 TCP SYN of `total` bytes (IPv6 header included).
fn v6_syn(
    macs: (Mac, Mac),
    s: [u8; 16],
    d: [u8; 16],
    ports: (u16, u16),
    hl: u8,
    total: usize,
) -> Vec<u8> {
    let payload = vec![0x6b; total - 40 - 20];
    let h = Ipv6Header {
        hop_limit: hl,
        source: s,
        destination: d,
        ..Default::default()
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ip(IpHeaders::Ipv6(h, Default::default()))
        .tcp(ports.0, ports.1, 1, 64240)
        .syn()
        .write(&mut out, &payload)
        .expect("build");
    assert_eq!(out.len(), 14 + total);
    out
}

/// The MTU an ICMP fragmentation-needed or packet-too-big frame carries, read by etherparse.
fn told_mtu(frame: &[u8]) -> u32 {
    let p = SlicedPacket::from_ethernet(frame).expect("parse the ICMP error");
    match p.transport {
        Some(TransportSlice::Icmpv4(i)) => match i.icmp_type() {
            etherparse::Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu },
            ) => u32::from(next_hop_mtu),
            other => panic!("not fragmentation needed: {other:?}"),
        },
        Some(TransportSlice::Icmpv6(i)) => match i.icmp_type() {
            etherparse::Icmpv6Type::PacketTooBig { mtu } => mtu,
            other => panic!("not packet too big: {other:?}"),
        },
        other => panic!("not ICMP: {other:?}"),
    }
}

/// The length of the IP packet in `frame` and its payload, read by etherparse.
fn ip_len_and_payload(frame: &[u8]) -> (usize, Vec<u8>) {
    let p = SlicedPacket::from_ethernet(frame).expect("parse");
    let len = match &p.net {
        Some(NetSlice::Ipv4(v4)) => usize::from(v4.header().total_len()),
        Some(NetSlice::Ipv6(v6)) => 40 + usize::from(v6.header().payload_length()),
        other => panic!("not IP: {other:?}"),
    };
    let payload = match p.transport {
        Some(TransportSlice::Tcp(t)) => t.payload().to_vec(),
        Some(TransportSlice::Udp(u)) => u.payload().to_vec(),
        other => panic!("not TCP or UDP: {other:?}"),
    };
    (len, payload)
}

/// Send `frame` on wan0 and expect it refused as too big, answered on wan0 with the
/// expected ICMP error, which carries `mtu`.
fn refused(lab: &mut Lab, frame: &[u8], expect: Vec<u8>, mtu: u32) {
    let before = lab.drop_count(DropReason::TooBig);
    let out = lab.send("wan0", frame);
    assert_eq!(lab.drop_count(DropReason::TooBig), before + 1, "{out:?}");
    assert_eq!(out.len(), 1, "one ICMP error");
    assert_eq!(out[0].0, "wan0");
    check_frame(&out[0].1).expect("a valid ICMP error");
    assert_eq!(told_mtu(&out[0].1), mtu, "the MTU field");
    assert_eq!(hex(&out[0].1), hex(&expect), "the ICMP error byte for byte");
}

#[test]
fn jumbo_nat_packets_fill_a_9000_mtu_and_one_byte_more_is_refused() {
    let mut lab = lab_with_mtu(9000);
    // NAT, TCP over IPv4: a 9000-byte packet reaches the real, rewritten.
    let syn = v4_frame((GW, WAN), C1, VIP, (40000, 80), true, 64, 9000);
    let out = lab.send("wan0", &syn);
    let want = v4_frame(
        (LAN, real_mac(11)),
        C1,
        r4(11),
        (40000, 8080),
        true,
        63,
        9000,
    );
    assert_eq!(out.len(), 1, "forwarded");
    assert_eq!(out[0].0, "lan0");
    check_frame(&out[0].1).expect("valid");
    assert_eq!(
        hex(&out[0].1),
        hex(&want),
        "the NAT rewrite, 9014 bytes on the wire"
    );
    // One byte more: fragmentation needed, carrying 9000, quoting 576 bytes in all.
    let over = v4_frame((GW, WAN), C1, VIP, (40001, 80), true, 64, 9001);
    let quoted = &ip_of(&over)[..576 - 28];
    let icmp = v4_icmp_error(WAN, GW, VIP, C1, 64, frag_needed(9000), quoted);
    refused(&mut lab, &over, icmp, 9000);

    // NAT, TCP over IPv6: packet too big, carrying 9000.
    let syn6 = v6_syn((C6_MAC, WAN), C6, VIP6, (40000, 80), 64, 9000);
    let out = lab.send("wan0", &syn6);
    let want6 = v6_syn((LAN, real_mac(11)), C6, r6(11), (40000, 8080), 63, 9000);
    assert_eq!(out.len(), 1, "forwarded");
    assert_eq!(hex(&out[0].1), hex(&want6), "the NAT rewrite over IPv6");
    let over6 = v6_syn((C6_MAC, WAN), C6, VIP6, (40001, 80), 64, 9001);
    let quoted6 = &ip_of(&over6)[..1280 - 48];
    let icmp6 = v6_icmp(WAN, C6_MAC, VIP6, C6, 64, too_big(9000), quoted6);
    refused(&mut lab, &over6, icmp6, 9000);
}

#[test]
fn jumbo_fullnat_datagrams_fill_a_9000_mtu_and_one_byte_more_is_refused() {
    let mut lab = lab_with_mtu(9000);
    // FULLNAT, UDP over IPv4 (service port 54): the datagram arrives whole.
    let datagram = v4_frame((GW, WAN), C1, VIP, (40000, 54), false, 64, 9000);
    let out = lab.send("wan0", &datagram);
    assert_eq!(out.len(), 1, "forwarded");
    assert_eq!(out[0].0, "lan0");
    check_frame(&out[0].1).expect("valid");
    let (len, payload) = ip_len_and_payload(&out[0].1);
    assert_eq!(len, 9000);
    assert_eq!(
        payload,
        ip_len_and_payload(&datagram).1,
        "the payload whole"
    );
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parse");
    match p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            assert_eq!(
                (h.source(), h.destination()),
                (LADDR, r4(12)),
                "FULLNAT addresses"
            );
        }
        other => panic!("{other:?}"),
    }
    let over = v4_frame((GW, WAN), C1, VIP, (40001, 54), false, 64, 9001);
    let quoted = &ip_of(&over)[..576 - 28];
    let icmp = v4_icmp_error(WAN, GW, VIP, C1, 64, frag_needed(9000), quoted);
    refused(&mut lab, &over, icmp, 9000);
}

#[test]
fn a_1400_mtu_refuses_what_a_1500_one_would_carry() {
    let mut lab = lab_with_mtu(1400);
    let fits = v4_frame((GW, WAN), C1, VIP, (40000, 80), true, 64, 1400);
    let out = lab.send("wan0", &fits);
    assert!(matches!(out.as_slice(), [("lan0", _)]), "{out:?}");
    let over = v4_frame((GW, WAN), C1, VIP, (40001, 80), true, 64, 1401);
    let quoted = &ip_of(&over)[..576 - 28];
    let icmp = v4_icmp_error(WAN, GW, VIP, C1, 64, frag_needed(1400), quoted);
    refused(&mut lab, &over, icmp, 1400);
    // The default fixture (1500) carries the same packet.
    let mut default = Lab::new(lab::DEFAULT_CAPACITY);
    let out = default.send("wan0", &over);
    assert!(matches!(out.as_slice(), [("lan0", _)]), "{out:?}");
}

#[test]
fn a_packet_past_the_mtu_without_df_is_dropped_untold() {
    let mut lab = lab_with_mtu(1400);
    let mut over = v4_frame((GW, WAN), C1, VIP, (40002, 80), true, 64, 1401);
    // Clear DF (flags byte at IP offset 6) and fix the header checksum by rebuilding.
    let mut h = Ipv4Header::from_slice(&over[14..]).expect("ipv4").0;
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    over[14..34].copy_from_slice(&h.to_bytes());
    let before = lab.drop_count(DropReason::TooBig);
    let out = lab.send("wan0", &over);
    assert!(out.is_empty(), "no ICMP error without DF: {out:?}");
    assert_eq!(lab.drop_count(DropReason::TooBig), before + 1);
}

#[test]
fn the_tunnel_room_check_follows_the_port_mtu() {
    // TUN (service port 83): the outer IPv4 header takes 20 bytes of a 1400 MTU.
    let mut lab = lab_with_mtu(1400);
    let fits = v4_frame((GW, WAN), C1, VIP, (40000, 83), true, 64, 1380);
    let out = lab.send("wan0", &fits);
    assert!(
        matches!(out.as_slice(), [("lan0", f)] if f.len() == 14 + 1400),
        "{out:?}"
    );
    let over = v4_frame((GW, WAN), C1, VIP, (40001, 83), true, 64, 1381);
    let quoted = &ip_of(&over)[..576 - 28];
    let icmp = v4_icmp_error(WAN, GW, VIP, C1, 64, frag_needed(1380), quoted);
    refused(&mut lab, &over, icmp, 1380);
}
