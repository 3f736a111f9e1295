//! IP fragments to a VIP: reassembled (in every order), forwarded whole through NAT and
//! FULLNAT cut to the egress port's MTU, and every refusal counted (overlaps, duplicates,
//! too many fragments, timeouts, the memory and datagram caps, a flood that must not keep
//! other traffic out).
//!
//! The fragments sent are cut by this file with etherparse's IPv4 header (and by hand
//! for IPv6, as RFC 8200 lays the fragment header out: etherparse 0.16 misplaces its M
//! flag and the offset's low bits); what the director sends is glued back by this file
//! and compared byte for byte with the whole datagram etherparse builds.

use etherparse::{IpFragOffset, IpNumber, Ipv4Header, Ipv6Header, PacketBuilder};

use std::collections::BTreeSet;

use crate::frames::*;
use crate::lab::{self, Lab, Out};
use crate::scenarios::Scenario;
use rvs_packet::drop::DropReason;

/// The scenarios of fragment refusals, by name (each also a test below).
pub const ALL: [(&str, Scenario); 5] = [
    ("overlaps and duplicates", overlaps_and_duplicates),
    ("fragment timeout", timeout),
    ("too many fragments", too_many),
    ("fragment flood", flood),
    ("reassembly off", off),
];

#[test]
fn fragment_scenarios() {
    for (name, scenario) in ALL {
        let counted = scenario();
        assert!(!counted.is_empty(), "{name} counts its refusals");
    }
}

/// A fresh lab with the given `[dataplane]` keys: fragment limits are taken when the
/// worker is made, so it is made from this configuration.
fn fresh_lab(extra: &str, lan_mtu: u16) -> Lab {
    let text = lab::config_text(lab::DEFAULT_CAPACITY);
    let mut with = String::new();
    for line in text.lines() {
        with.push_str(line);
        with.push('\n');
        if line.starts_with("conn_capacity = ") {
            with.push_str(extra);
            with.push('\n');
        }
        if line.starts_with("addresses = [\"10.1.0.1/24\"") {
            with.push_str(&format!("mtu = {lan_mtu}\n"));
        }
    }
    Lab::from_text(&with)
}

/// A UDP datagram of `ip_len` bytes of IP (patterned data) in an Ethernet frame.
fn udp4(
    macs: (Mac, Mac),
    s: [u8; 4],
    d: [u8; 4],
    ports: (u16, u16),
    ttl: u8,
    ip_len: usize,
) -> Vec<u8> {
    let data: Vec<u8> = (0..ip_len - 28).map(|i| (i * 7 + 3) as u8).collect();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(s, d, ttl)
        .udp(ports.0, ports.1)
        .write(&mut out, &data)
        .expect("build");
    out
}

/// The IPv6 twin of [`udp4`].
fn udp6(
    macs: (Mac, Mac),
    s: [u8; 16],
    d: [u8; 16],
    ports: (u16, u16),
    hl: u8,
    ip_len: usize,
) -> Vec<u8> {
    let data: Vec<u8> = (0..ip_len - 48).map(|i| (i * 5 + 1) as u8).collect();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(s, d, hl)
        .udp(ports.0, ports.1)
        .write(&mut out, &data)
        .expect("build");
    out
}

/// Cut the IPv4 datagram in `frame` into fragments of `chunk` data bytes (a multiple of
/// 8), identified by `id`, with etherparse's header.
fn frags4(frame: &[u8], chunk: usize, id: u16) -> Vec<Vec<u8>> {
    let (h, _) = Ipv4Header::from_slice(&frame[14..]).expect("ipv4");
    let payload = &frame[14 + h.header_len()..];
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, data)| {
            let mut f = h.clone();
            f.identification = id;
            // A sender that fragments allows fragmentation (etherparse's builder sets DF).
            f.dont_fragment = false;
            f.fragment_offset = IpFragOffset::try_new((i * chunk / 8) as u16).expect("offset");
            f.more_fragments = (i + 1) * chunk < payload.len();
            f.total_len = (f.header_len() + data.len()) as u16;
            f.header_checksum = f.calc_header_checksum();
            let mut out = frame[..14].to_vec();
            f.write(&mut out).expect("header");
            out.extend_from_slice(data);
            out
        })
        .collect()
}

/// Cut the IPv6 datagram in `frame` (no extension headers) into fragments of `chunk` data
/// bytes, identified by `id`; the fragment header written as RFC 8200 section 4.5 lays it
/// out.
fn frags6(frame: &[u8], chunk: usize, id: u32) -> Vec<Vec<u8>> {
    let next = frame[14 + 6];
    let payload = &frame[54..];
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, data)| {
            let mut out = frame[..54].to_vec();
            out[14 + 6] = 44;
            let len = (8 + data.len()) as u16;
            out[18..20].copy_from_slice(&len.to_be_bytes());
            let more = u16::from((i + 1) * chunk < payload.len());
            let fo = ((i * chunk) as u16) | more;
            out.extend_from_slice(&[next, 0]);
            out.extend_from_slice(&fo.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(data);
            out
        })
        .collect()
}

/// Glue the IPv4 fragments the director sent on `port` back together, checking each
/// with etherparse (header checksum, size within `mtu`, one identification, offsets
/// that tile the datagram): the first fragment's header and the whole payload.
fn glue4(out: &[Out], port: &str, mtu: usize) -> (Ipv4Header, Vec<u8>) {
    let mut pieces = Vec::new();
    let mut first = None;
    let mut ids = Vec::new();
    for (p, frame) in out {
        assert_eq!(*p, port, "every fragment leaves by {port}");
        assert!(
            frame.len() - 14 <= mtu,
            "a fragment of {} bytes within {mtu}",
            frame.len() - 14
        );
        let (h, rest) = Ipv4Header::from_slice(&frame[14..]).expect("ipv4");
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "header checksum"
        );
        let data = rest[..usize::from(h.total_len) - h.header_len()].to_vec();
        let off = usize::from(h.fragment_offset.value()) * 8;
        ids.push(h.identification);
        if off == 0 {
            first = Some(h.clone());
        }
        pieces.push((off, h.more_fragments, data));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one identification");
    pieces.sort_by_key(|p| p.0);
    let mut whole = Vec::new();
    for (i, (off, more, data)) in pieces.iter().enumerate() {
        assert_eq!(*off, whole.len(), "fragments tile the datagram");
        assert_eq!(*more, i + 1 < pieces.len(), "MF on all but the last");
        whole.extend_from_slice(data);
    }
    (first.expect("a first fragment"), whole)
}

/// Glue the IPv6 fragments the director sent on `port`, reading the fragment header by
/// hand (RFC 8200): the fixed header of the first and the whole payload.
fn glue6(out: &[Out], port: &str, mtu: usize) -> (Ipv6Header, u8, Vec<u8>) {
    let mut pieces = Vec::new();
    let mut first = None;
    for (p, frame) in out {
        assert_eq!(*p, port);
        assert!(frame.len() - 14 <= mtu, "within {mtu}");
        let (h, rest) = Ipv6Header::from_slice(&frame[14..]).expect("ipv6");
        assert_eq!(h.next_header, IpNumber::IPV6_FRAGMENTATION_HEADER);
        let next = rest[0];
        let fo = u16::from_be_bytes([rest[2], rest[3]]);
        let data = rest[8..usize::from(h.payload_length)].to_vec();
        if fo & 0xfff8 == 0 {
            first = Some((h.clone(), next));
        }
        pieces.push((usize::from(fo & 0xfff8), fo & 1 == 1, data));
    }
    pieces.sort_by_key(|p| p.0);
    let mut whole = Vec::new();
    for (i, (off, more, data)) in pieces.iter().enumerate() {
        assert_eq!(*off, whole.len(), "fragments tile the datagram");
        assert_eq!(*more, i + 1 < pieces.len());
        whole.extend_from_slice(data);
    }
    let (h, next) = first.expect("a first fragment");
    (h, next, whole)
}

/// Every order of `n` things (n small).
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 1 {
        return vec![vec![0]];
    }
    let mut all = Vec::new();
    for o in orders(n - 1) {
        for at in 0..n {
            let mut v = o.clone();
            v.insert(at, n - 1);
            all.push(v);
        }
    }
    all
}

/// Send `frags` in `order`; what the director sent after the last one.
fn send_in(lab: &mut Lab, frags: &[Vec<u8>], order: &[usize]) -> Vec<Out> {
    let mut out = Vec::new();
    for (i, &k) in order.iter().enumerate() {
        let sent = lab.send("wan0", &frags[k]);
        if i + 1 < order.len() {
            assert!(
                sent.is_empty(),
                "nothing leaves before the datagram is whole"
            );
        }
        out = sent;
    }
    out
}

#[test]
fn a_4000_byte_udp_datagram_through_nat_arrives_whole_in_every_order() {
    let mut lab = fresh_lab("", 1280);
    for (n, order) in orders(3).iter().enumerate() {
        let cport = 5000 + n as u16;
        let dgram = udp4((GW, WAN), C1, VIP, (cport, 53), 64, 4000);
        let frags = frags4(&dgram, 1480, 100 + n as u16);
        assert_eq!(frags.len(), 3);
        let out = send_in(&mut lab, &frags, order);
        // Cut again at lan0's 1280: 4 fragments.
        assert_eq!(out.len(), 4, "order {order:?}: {:?}", lab.drops());
        for (_, f) in &out {
            assert_eq!(&f[..12], &[real_mac(11), LAN].concat()[..], "MACs");
        }
        let (h, payload) = glue4(&out, "lan0", 1280);
        let want = udp4((LAN, real_mac(11)), C1, r4(11), (cport, 5353), 63, 4000);
        assert_eq!((h.source, h.destination, h.time_to_live), (C1, r4(11), 63));
        assert_eq!(h.protocol, IpNumber::UDP);
        assert_eq!(
            payload,
            want[34..],
            "the datagram, its UDP checksum included"
        );
    }
    assert_eq!(lab.counters().datagrams_reassembled, 6);
    assert_eq!(lab.counters().fragments_made, 24);
    assert!(lab.drops().is_empty(), "{:?}", lab.drops());
}

#[test]
fn a_4000_byte_udp_datagram_through_fullnat_arrives_whole() {
    let mut lab = fresh_lab("", 1280);
    let dgram = udp4((GW, WAN), C1, VIP, (6000, 54), 64, 4000);
    let frags = frags4(&dgram, 1480, 7);
    let out = send_in(&mut lab, &frags, &[2, 0, 1]);
    let local = lab
        .conn_by_client_port(6000)
        .local
        .expect("a local endpoint");
    let (h, payload) = glue4(&out, "lan0", 1280);
    let want = udp4(
        (LAN, real_mac(12)),
        LADDR,
        r4(12),
        (local.port(), 53),
        63,
        4000,
    );
    assert_eq!((h.source, h.destination), (LADDR, r4(12)));
    assert_eq!(payload, want[34..]);

    // The real's 4000-byte answer, fragmented by its kernel at lan0's MTU, reaches the
    // client whole (wan0's 1500) from the VIP.
    let answer = udp4(
        (real_mac(12), LAN),
        r4(12),
        LADDR,
        (53, local.port()),
        64,
        4000,
    );
    let out = send_in(&mut lab, &frags4(&answer, 1256, 9), &[0, 1, 2, 3]);
    let (h, payload) = glue4(&out, "wan0", 1500);
    let want = udp4((WAN, GW), VIP, C1, (54, 6000), 63, 4000);
    assert_eq!((h.source, h.destination), (VIP, C1));
    assert_eq!(payload, want[34..]);
    assert!(lab.drops().is_empty(), "{:?}", lab.drops());
}

#[test]
fn an_ipv6_datagram_through_nat_arrives_whole_and_one_too_big_is_refused_with_its_mtu() {
    let mut lab = fresh_lab("", 1280);
    for (n, order) in orders(4).iter().enumerate() {
        let cport = 7100 + n as u16;
        let dgram = udp6((C6_MAC, WAN), C6, VIP6, (cport, 53), 64, 4000);
        let frags = frags6(&dgram, 1232, 0x0102_0000 + n as u32);
        assert_eq!(frags.len(), 4);
        let out = send_in(&mut lab, &frags, order);
        let (h, next, payload) = glue6(&out, "lan0", 1280);
        let want = udp6((LAN, real_mac(11)), C6, r6(11), (cport, 5353), 63, 4000);
        assert_eq!(
            (h.source, h.destination, h.hop_limit, next),
            (C6, r6(11), 63, 17)
        );
        assert_eq!(payload, want[54..], "order {order:?}");
    }
    assert_eq!(lab.counters().datagrams_reassembled, 24);

    // Fragments of 1448 bytes do not fit lan0's 1280: only the source may fragment, so
    // it is told lan0's MTU.
    let big = udp6((C6_MAC, WAN), C6, VIP6, (7001, 53), 64, 4000);
    let frags = frags6(&big, 1400, 5);
    let out = send_in(&mut lab, &frags, &[0, 1, 2]);
    assert_eq!(lab.drop_count(DropReason::TooBig), 1);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, "wan0");
    check_frame(&out[0].1).expect("a valid ICMPv6 error");
    let p = etherparse::SlicedPacket::from_ethernet(&out[0].1).expect("parse");
    match p.transport {
        Some(etherparse::TransportSlice::Icmpv6(i)) => {
            assert_eq!(i.icmp_type(), too_big(1280));
        }
        other => panic!("not ICMPv6: {other:?}"),
    }
}

/// Overlapping fragments discard the datagram and duplicates are dropped alone.
pub fn overlaps_and_duplicates() -> BTreeSet<DropReason> {
    let mut lab = fresh_lab("", 1500);
    let dgram = udp4((GW, WAN), C1, VIP, (5100, 53), 64, 4000);
    let frags = frags4(&dgram, 1480, 1);
    // The same datagram cut at 1000 overlaps the cut at 1480 (offset 1000 in 0..1480).
    let other = frags4(&dgram, 1000, 1);
    assert!(lab.send("wan0", &frags[0]).is_empty());
    assert!(lab.send("wan0", &other[1]).is_empty());
    assert_eq!(
        lab.drop_count(DropReason::FragmentOverlap),
        2,
        "both fragments"
    );
    // Nothing of it is left: the rest of the cut does not complete anything.
    assert!(lab.send("wan0", &frags[1]).is_empty());
    assert!(lab.send("wan0", &frags[2]).is_empty());
    // An overlap at the end: a last fragment shorter than what was held.
    let d2 = udp4((GW, WAN), C1, VIP, (5101, 53), 64, 4000);
    let f2 = frags4(&d2, 1480, 2);
    assert!(lab.send("wan0", &f2[1]).is_empty());
    let mut short_last = frags4(&udp4((GW, WAN), C1, VIP, (5101, 53), 64, 2000), 1480, 2);
    assert!(lab.send("wan0", &short_last.remove(1)).is_empty());
    assert_eq!(lab.drop_count(DropReason::FragmentOverlap), 4);

    // Duplicates: each dropped alone; the datagram still arrives whole.
    let d3 = udp4((GW, WAN), C1, VIP, (5102, 53), 64, 4000);
    let f3 = frags4(&d3, 1480, 3);
    assert!(lab.send("wan0", &f3[1]).is_empty());
    assert!(lab.send("wan0", &f3[1]).is_empty());
    assert!(lab.send("wan0", &f3[0]).is_empty());
    assert!(lab.send("wan0", &f3[0]).is_empty());
    let out = lab.send("wan0", &f3[2]);
    assert_eq!(lab.drop_count(DropReason::FragmentDuplicate), 2);
    let (_, payload) = glue4(&out, "lan0", 1500);
    let want = udp4((LAN, real_mac(11)), C1, r4(11), (5102, 5353), 63, 4000);
    assert_eq!(payload, want[34..]);
    lab.drops().into_keys().collect()
}

/// A datagram not whole within frag timeout is given up.
pub fn timeout() -> BTreeSet<DropReason> {
    let mut lab = fresh_lab("frag_timeout = 5", 1500);
    let dgram = udp4((GW, WAN), C1, VIP, (5200, 53), 64, 4000);
    let frags = frags4(&dgram, 1480, 11);
    assert!(lab.send("wan0", &frags[0]).is_empty());
    assert!(lab.send("wan0", &frags[1]).is_empty());
    lab.advance_ms(4_000);
    lab.send("wan0", &udp4((GW, WAN), C2, VIP, (1, 53), 64, 100));
    assert_eq!(lab.drop_count(DropReason::FragmentTimeout), 0, "within 5 s");
    lab.advance_ms(1_100);
    lab.send("wan0", &udp4((GW, WAN), C2, VIP, (2, 53), 64, 100));
    assert_eq!(
        lab.drop_count(DropReason::FragmentTimeout),
        2,
        "both fragments"
    );
    // The last fragment now starts a datagram of its own, which never completes.
    assert!(lab.send("wan0", &frags[2]).is_empty());
    assert_eq!(lab.counters().datagrams_reassembled, 0);
    lab.drops().into_keys().collect()
}

/// More fragments than frag fragments discard the datagram.
pub fn too_many() -> BTreeSet<DropReason> {
    let mut lab = fresh_lab("frag_fragments = 4", 1500);
    let dgram = udp4((GW, WAN), C1, VIP, (5300, 53), 64, 4000);
    let frags = frags4(&dgram, 800, 12);
    assert_eq!(frags.len(), 5);
    for f in &frags {
        assert!(lab.send("wan0", f).is_empty());
    }
    assert_eq!(lab.drop_count(DropReason::FragmentTooMany), 5);
    // Four fragments are fine.
    let frags = frags4(&dgram, 1000, 13);
    assert_eq!(frags.len(), 4);
    let out = send_in(&mut lab, &frags, &[0, 1, 2, 3]);
    assert!(!out.is_empty());
    lab.drops().into_keys().collect()
}

/// A flood of unfinished datagrams stays within its caps and other traffic passes.
pub fn flood() -> BTreeSet<DropReason> {
    // 8 datagrams at once and 16 KiB of fragment data per worker.
    let mut lab = fresh_lab("frag_datagrams = 8\nfrag_memory = 16384", 1500);
    let flood = 5_000u16;
    for i in 0..flood {
        let d = udp4((GW, WAN), C2, VIP, (9, 53), 64, 4000);
        let f = frags4(&d, 1480, i);
        assert!(lab.send("wan0", &f[usize::from(i % 2)]).is_empty());
    }
    let evicted = lab.drop_count(DropReason::FragmentEvicted);
    assert!(
        (u64::from(flood) - 8..=u64::from(flood)).contains(&evicted),
        "{evicted} evicted"
    );
    // Unfragmented traffic passes meanwhile...
    let syn = v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 64);
    let out = lab.send("wan0", &syn);
    assert_eq!(out.len(), 1, "a SYN still reaches its real");
    // ... and so does a datagram whose fragments arrive together.
    let d = udp4((GW, WAN), C1, VIP, (5400, 53), 64, 4000);
    let out = send_in(&mut lab, &frags4(&d, 1480, 60_000), &[0, 1, 2]);
    let (_, payload) = glue4(&out, "lan0", 1500);
    let want = udp4((LAN, real_mac(11)), C1, r4(11), (5400, 5353), 63, 4000);
    assert_eq!(payload, want[34..]);
    // A datagram larger than the whole memory is refused, counted, and harms nothing.
    let mut tiny = fresh_lab("frag_memory = 2048", 1500);
    let d = udp4((GW, WAN), C1, VIP, (5500, 53), 64, 4000);
    let f = frags4(&d, 1480, 1);
    assert!(tiny.send("wan0", &f[0]).is_empty());
    assert!(tiny.send("wan0", &f[1]).is_empty());
    assert!(tiny.send("wan0", &f[2]).is_empty());
    assert!(tiny.drop_count(DropReason::FragmentEvicted) >= 1);
    [&lab, &tiny]
        .iter()
        .flat_map(|l| l.drops().into_keys())
        .collect()
}

/// With reassembly off fragments are dropped.
pub fn off() -> BTreeSet<DropReason> {
    let mut lab = fresh_lab("frag_memory = 0", 1500);
    let d = udp4((GW, WAN), C1, VIP, (5600, 53), 64, 4000);
    for f in frags4(&d, 1480, 1) {
        assert!(lab.send("wan0", &f).is_empty());
    }
    assert_eq!(lab.drop_count(DropReason::Fragment), 3);
    lab.drops().into_keys().collect()
}

/// A TCP SYN of `ip_len` bytes of IP (patterned data) in an Ethernet frame.
fn syn4(s: [u8; 4], d: [u8; 4], ports: (u16, u16), ip_len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..ip_len - 40).map(|i| (i * 11) as u8).collect();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GW, WAN)
        .ipv4(s, d, 64)
        .tcp(ports.0, ports.1, 1, 64240)
        .syn()
        .write(&mut out, &data)
        .expect("build");
    out
}

#[test]
fn dr_and_tun_reals_get_the_whole_segment() {
    let mut lab = fresh_lab("", 1280);
    // DR: the segment as it came (addresses and ports kept), to the real's MAC.
    let syn = syn4(C1, VIP, (41000, 82), 4000);
    let out = send_in(&mut lab, &frags4(&syn, 1480, 21), &[1, 2, 0]);
    for (_, f) in &out {
        assert_eq!(f[..6], real_mac(13));
    }
    let (h, payload) = glue4(&out, "lan0", 1280);
    assert_eq!((h.source, h.destination), (C1, VIP));
    assert_eq!(payload, syn[34..], "the segment, byte for byte");

    // TUN: each fragment of the segment inside its own IPIP packet to the real, the
    // whole within lan0's MTU.
    let syn = syn4(C1, VIP, (41001, 83), 4000);
    let out = send_in(&mut lab, &frags4(&syn, 1480, 22), &[0, 2, 1]);
    let mut inner = Vec::new();
    for (port, f) in &out {
        assert!(f.len() - 14 <= 1280, "the IPIP packet fits lan0");
        let (outer, _) = Ipv4Header::from_slice(&f[14..]).expect("outer");
        assert_eq!(outer.protocol, IpNumber::IPV4);
        assert_eq!((outer.source, outer.destination), (LAN_IP, r4(14)));
        let mut frame = f[..14].to_vec();
        frame.extend_from_slice(&f[34..]);
        inner.push((*port, frame));
    }
    let (h, payload) = glue4(&inner, "lan0", 1260);
    assert_eq!((h.source, h.destination), (C1, VIP));
    assert_eq!(payload, syn[34..]);
    assert!(lab.drops().is_empty(), "{:?}", lab.drops());
}

#[test]
fn ipv4_fragments_sent_with_df_and_larger_than_the_egress_mtu_get_fragmentation_needed() {
    let mut lab = fresh_lab("", 1280);
    let dgram = udp4((GW, WAN), C1, VIP, (5700, 53), 64, 4000);
    let mut frags = frags4(&dgram, 1480, 31);
    for f in &mut frags {
        // DF on each fragment (a sender probing its path), header checksum made again.
        let (mut h, _) = Ipv4Header::from_slice(&f[14..]).expect("ipv4");
        h.dont_fragment = true;
        h.header_checksum = h.calc_header_checksum();
        let mut bytes = Vec::new();
        h.write(&mut bytes).expect("header");
        f[14..34].copy_from_slice(&bytes);
    }
    let out = send_in(&mut lab, &frags, &[0, 1, 2]);
    assert_eq!(lab.drop_count(DropReason::TooBig), 1);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, "wan0");
    check_frame(&out[0].1).expect("a valid ICMP error");
    let p = etherparse::SlicedPacket::from_ethernet(&out[0].1).expect("parse");
    match p.transport {
        Some(etherparse::TransportSlice::Icmpv4(i)) => assert_eq!(i.icmp_type(), frag_needed(1280)),
        other => panic!("not ICMP: {other:?}"),
    }
    // Without DF the same fragments are cut again at 1280.
    let out = send_in(&mut lab, &frags4(&dgram, 1480, 32), &[0, 1, 2]);
    assert_eq!(out.len(), 4);
}

/// An IPv4 or IPv6 UDP fragment toward the VIP's port 53 by hand: datagram `id`, data at
/// `off` (bytes), `len` bytes, M flag `more`.
fn raw_fragment(v6: bool, id: u16, off: usize, len: usize, more: bool) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| (i + off) as u8).collect();
    if v6 {
        let mut out = Vec::new();
        let h = Ipv6Header {
            next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
            payload_length: (8 + len) as u16,
            hop_limit: 64,
            source: C6,
            destination: VIP6,
            ..Default::default()
        };
        out.extend_from_slice(&[C6_MAC, WAN].concat());
        out.extend_from_slice(&[0x86, 0xdd]);
        h.write(&mut out).expect("ipv6");
        let fo = ((off as u16) & 0xfff8) | u16::from(more);
        out.extend_from_slice(&[17, 0]);
        out.extend_from_slice(&fo.to_be_bytes());
        out.extend_from_slice(&u32::from(id).to_be_bytes());
        out.extend_from_slice(&data);
        out
    } else {
        let mut h = Ipv4Header::new(len as u16, 64, IpNumber::UDP, C1, VIP).expect("ipv4");
        h.identification = id;
        h.dont_fragment = false;
        h.more_fragments = more;
        h.fragment_offset = IpFragOffset::try_new((off / 8) as u16).expect("offset");
        h.header_checksum = h.calc_header_checksum();
        let mut out = [GW, WAN].concat();
        out.extend_from_slice(&[0x08, 0x00]);
        h.write(&mut out).expect("ipv4");
        out.extend_from_slice(&data);
        out
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any mix of fragments (overlapping, duplicated, out of range, of few datagrams so
    /// that they meet) under small caps: never a panic, and whatever leaves is valid.
    #[test]
    fn any_fragments_never_panic_and_what_leaves_is_valid(
        frags in proptest::collection::vec(
            (proptest::bool::ANY, 0u16..4, 0usize..8192, 0usize..200, proptest::bool::ANY),
            1..120,
        )
    ) {
        let mut lab = fresh_lab("frag_datagrams = 3\nfrag_memory = 8192\nfrag_fragments = 6", 1280);
        for (v6, id, off8, len8, more) in frags {
            // Offsets and lengths in 8-byte steps, sometimes ragged.
            let off = off8 * 8;
            let len = if len8 % 7 == 0 { len8 * 8 + 3 } else { len8 * 8 };
            let len = len.min(1400);
            for (_, out) in lab.send("wan0", &raw_fragment(v6, id, off, len, more)) {
                check_frame(&out).expect("a valid frame");
            }
        }
    }
}
