//! Arbitrary bytes never panic a parser, and parsed offsets always lie inside the frame.

use proptest::prelude::*;

use super::test_frames::{Spec, L4};
use super::*;

/// Parse `frame` and, on success, touch every offset the info reports.
fn parse_and_check(frame: &[u8]) {
    if let Ok(info) = parse_frame(frame) {
        if let Some(ip) = info.ip {
            assert!(ip.l3_offset == info.l2_len);
            assert!(ip.l4_offset <= frame.len() && ip.l4_offset + ip.payload_len <= frame.len());
            assert!(ip.l3_offset + ip.l3_len <= frame.len());
            if let L4Info::IcmpError { quoted, .. } = ip.l4 {
                assert!(quoted.l4_offset + quoted.l4_len <= ip.l3_offset + ip.l3_len);
                assert!(quoted.l4_len >= 8);
            }
            if ip.l4 == L4Info::Tunnel {
                let _ = parse_ip(frame, ip.l4_offset);
            }
        }
    }
}

/// Wrap `b` in every view and call every getter.
fn views(b: &[u8]) {
    if let Ok(p) = EthernetFrame::new_checked(b) {
        let _ = (
            p.dst(),
            p.src(),
            p.ethertype(),
            p.vlan_tci(),
            p.payload().len(),
        );
    }
    if let Ok(p) = ArpPacket::new_checked(b) {
        let _ = (
            p.operation(),
            p.sender_mac(),
            p.sender_ip(),
            p.target_mac(),
            p.target_ip(),
        );
    }
    if let Ok(p) = Ipv4Packet::new_checked(b) {
        let _ = (
            p.tos(),
            p.ident(),
            p.frag_offset(),
            p.src(),
            p.dst(),
            p.verify_checksum(),
        );
        let _ = (p.options().len(), p.payload().len());
    }
    if let Ok(p) = Ipv6Packet::new_checked(b) {
        let _ = (
            p.traffic_class(),
            p.flow_label(),
            p.src(),
            p.dst(),
            p.payload().len(),
            p.upper_layer(),
        );
    }
    if let Ok(p) = TcpPacket::new_checked(b) {
        let _ = (
            p.src_port(),
            p.seq(),
            p.ack(),
            p.flags(),
            p.window(),
            p.checksum(),
            p.payload().len(),
        );
    }
    if let Ok(p) = UdpPacket::new_checked(b) {
        let _ = (p.src_port(), p.dst_port(), p.checksum(), p.payload().len());
    }
    if let Ok(p) = Icmpv4Packet::new_checked(b) {
        let _ = (
            p.echo_ident(),
            p.echo_seq(),
            p.next_hop_mtu(),
            p.data().len(),
            p.verify_checksum(),
        );
    }
    if let Ok(p) = Icmpv6Packet::new_checked(b) {
        let _ = (p.echo_ident(), p.mtu(), p.data().len());
    }
    if let Ok(p) = NdiscPacket::new_checked(b) {
        let _ = (
            p.flags(),
            p.target(),
            p.link_layer_option(1),
            p.link_layer_option(2),
        );
    }
}

fn valid_frames() -> Vec<Vec<u8>> {
    let mut q = Spec::v4_tcp().ip_packet();
    q.truncate(40);
    let mut ext6 = Spec::v6_udp();
    ext6.v6_exts = vec![
        (ip_proto::HOP_BY_HOP, vec![0, 0, 1, 4, 0, 0, 0, 0]),
        (ip_proto::FRAGMENT, vec![0, 0, 0, 1, 0, 0, 0, 1]),
    ];
    let mut opts = Spec::v4_udp().vlan();
    opts.v4_options = vec![1, 1, 1, 0];
    vec![
        Spec::v4_tcp().build(),
        opts.build(),
        ext6.build(),
        Spec::v6_tcp().vlan().build(),
        Spec::new(
            "192.0.2.1:0",
            "10.0.0.100:0",
            L4::Error {
                msg_type: 3,
                code: 4,
                rest: [0; 4],
                quoted: q,
            },
        )
        .build(),
        Spec::new(
            "[2001:db8::1]:0",
            "[2001:db8::2]:0",
            L4::Error {
                msg_type: 1,
                code: 0,
                rest: [0; 4],
                quoted: Spec::v6_udp().ip_packet(),
            },
        )
        .build(),
        Spec::new(
            "[2001:db8::1]:0",
            "[2001:db8::2]:0",
            L4::EchoRequest { ident: 1 },
        )
        .build(),
        Spec::new(
            "10.1.0.2:0",
            "10.1.0.11:0",
            L4::Raw {
                protocol: 4,
                bytes: Spec::v4_udp().ip_packet(),
            },
        )
        .build(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        parse_and_check(&b);
        views(&b);
    }

    #[test]
    fn random_bytes_behind_an_ip_ethertype_never_panic(
        et in prop_oneof![Just([0x08u8, 0x00]), Just([0x86, 0xdd])],
        version in prop_oneof![Just(0x45u8), Just(0x60)],
        b in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&et);
        f.push(version);
        f.extend_from_slice(&b);
        parse_and_check(&f);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let frames = valid_frames();
        let mut f = frames[which.index(frames.len())].clone();
        for (at, v) in edits {
            let i = at.index(f.len());
            f[i] = v;
        }
        let keep = cut.index(f.len() + 1);
        let f = if keep > f.len() / 2 { &f[..keep] } else { &f[..] };
        parse_and_check(f);
        views(f);
        for at in 0..f.len().min(80) {
            views(&f[at..]);
        }
    }
}
