//! ICMP / ICMPv6 errors that quote a tracked connection, translated in place.

use std::net::{IpAddr, SocketAddr};

use super::nat::{decrement_ttl, rewrite_addrs, rewrite_l4, same_family, Endpoints};
use crate::checksum;
use crate::drop::DropReason;
use crate::wire::icmpv6::icmpv6_sum;
use crate::wire::{icmpv4, icmpv6, ip_proto, FrameInfo, IpVersion, Ipv6Packet, L4Info};

/// Offset of the checksum in an ICMP / ICMPv6 header.
const ICMP_CHECKSUM: usize = 2;

/// Translate an ICMP / ICMPv6 error that quotes a packet of a tracked connection.
///
/// The error travels opposite to the packet it quotes, so the pipeline passes:
/// - `outer_src` / `outer_dst`: the outer header's new addresses, as it would rewrite a
///   packet of the connection travelling the error's way (FULLNAT, error from the real
///   side: `vip`, `client`; NAT: `vip`, none. Error from the client side: FULLNAT `local`,
///   `real`; NAT: none, `real`). The outer source may be a router: IPVS too replaces it.
/// - `quoted_src` / `quoted_dst`: the quoted packet's new endpoints, i.e. that packet as it
///   looked on the other side of the director (from the real side, FULLNAT: `client`,
///   `vip`; NAT: none, `vip`. From the client side, FULLNAT: `real`, `local`; NAT: `real`,
///   none). Ports apply to quoted TCP/UDP; a quoted echo takes the requester's port as its
///   identifier, as in [`super::nat_l3l4`].
///
/// The outer TTL is decremented as for forwarded packets ([`DropReason::TtlExceeded`]).
/// The outer IPv4 checksum and the quoted IPv4 header checksum are fixed incrementally.
/// The quoted L4 checksum is fixed incrementally when the quote holds it (TCP: 18 bytes of
/// the segment, UDP: always, since 8 are required; UDP/IPv4 checksum 0 stays 0), so the
/// quote is exactly the packet the receiver sent; kernel IPVS leaves it alone, receivers
/// do not check it. The ICMP checksum is recomputed over the whole message (ICMPv6 with
/// its pseudo-header): errors are rare. DR and TUN connections need no translation.
pub fn icmp_error(
    frame: &mut [u8],
    info: &FrameInfo,
    outer_src: Option<IpAddr>,
    outer_dst: Option<IpAddr>,
    quoted_src: Option<SocketAddr>,
    quoted_dst: Option<SocketAddr>,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let L4Info::IcmpError { quoted: q, .. } = ip.l4 else {
        return Err(DropReason::UnsupportedProtocol);
    };
    let v = ip.version;
    let ok = [
        outer_src,
        outer_dst,
        quoted_src.map(|e| e.ip()),
        quoted_dst.map(|e| e.ip()),
    ]
    .iter()
    .all(|a| a.map_or(true, |a| same_family(v, a)));
    if !ok {
        return Err(DropReason::Malformed);
    }
    decrement_ttl(frame, ip)?;

    // Outer addresses, then the quoted IP header.
    let l3 = ip.l3_offset;
    rewrite_addrs(frame, l3, v, outer_src, outer_dst);
    let qd = rewrite_addrs(
        frame,
        q.l3_offset,
        v,
        quoted_src.map(|e| e.ip()),
        quoted_dst.map(|e| e.ip()),
    );

    // Quoted upper layer (parse_frame accepts TCP, UDP and echo quotes only).
    let ql4 = q.l4_offset;
    let kind = match q.protocol {
        ip_proto::TCP => Endpoints::Tcp,
        ip_proto::UDP => Endpoints::Udp,
        _ => Endpoints::Echo {
            request: matches!(frame[ql4], icmpv4::ECHO_REQUEST | icmpv6::ECHO_REQUEST),
        },
    };
    rewrite_l4(
        frame,
        v,
        ql4..ql4 + q.l4_len,
        kind,
        qd,
        quoted_src,
        quoted_dst,
    );

    // The ICMP message checksum, recomputed.
    let (l4, end) = (ip.l4_offset, ip.l3_offset + ip.l3_len);
    frame[l4 + ICMP_CHECKSUM..l4 + ICMP_CHECKSUM + 2].fill(0);
    let c = match v {
        IpVersion::V4 => checksum::internet_checksum(&frame[l4..end]),
        IpVersion::V6 => {
            let outer = Ipv6Packet::new_unchecked(&frame[l3..]);
            !checksum::fold(icmpv6_sum(outer.src(), outer.dst(), &frame[l4..end]))
        }
    };
    frame[l4 + ICMP_CHECKSUM..l4 + ICMP_CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_frame;
    use crate::wire::test_frames::*;
    use etherparse::{Ipv4Header, Ipv6Header, TcpHeader, UdpHeader};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// An error from `from` to `to` quoting `quoted` (the packet spec), cut to `quote_len`.
    fn error_frame(
        from: &str,
        to: &str,
        msg: (u8, u8, [u8; 4]),
        quoted: &Spec,
        quote_len: usize,
    ) -> Vec<u8> {
        let mut q = quoted.ip_packet();
        q.truncate(quote_len);
        let mut s = Spec::new(
            from,
            to,
            L4::Error {
                msg_type: msg.0,
                code: msg.1,
                rest: msg.2,
                quoted: q,
            },
        );
        s.payload.clear();
        s.build()
    }

    /// The quoted packet of a translated frame: (src, sport, dst, dport), with the quoted IP
    /// header checksum and, when the whole segment is quoted, the L4 checksum verified.
    fn quoted_fields(frame: &[u8], whole: bool) -> (IpAddr, u16, IpAddr, u16) {
        let info = parse_frame(frame).unwrap();
        let L4Info::IcmpError { quoted: q, .. } = info.ip.unwrap().l4 else {
            panic!("error")
        };
        let b = &frame[q.l3_offset..];
        let (src, dst): (IpAddr, IpAddr) = if q.src.is_ipv4() {
            let h = Ipv4Header::from_slice(b).unwrap().0;
            assert_eq!(
                h.header_checksum,
                h.calc_header_checksum(),
                "quoted IPv4 checksum"
            );
            (h.source.into(), h.destination.into())
        } else {
            let h = Ipv6Header::from_slice(b).unwrap().0;
            (h.source.into(), h.destination.into())
        };
        let l4 = &frame[q.l4_offset..];
        if whole {
            let ok = match (q.protocol, src, dst) {
                (6, IpAddr::V4(s), IpAddr::V4(d)) => {
                    let (t, p) = TcpHeader::from_slice(l4).unwrap();
                    t.checksum == t.calc_checksum_ipv4_raw(s.octets(), d.octets(), p).unwrap()
                }
                (6, IpAddr::V6(s), IpAddr::V6(d)) => {
                    let (t, p) = TcpHeader::from_slice(l4).unwrap();
                    t.checksum == t.calc_checksum_ipv6_raw(s.octets(), d.octets(), p).unwrap()
                }
                (17, IpAddr::V4(s), IpAddr::V4(d)) => {
                    let (u, p) = UdpHeader::from_slice(l4).unwrap();
                    u.checksum == u.calc_checksum_ipv4_raw(s.octets(), d.octets(), p).unwrap()
                }
                (17, IpAddr::V6(s), IpAddr::V6(d)) => {
                    let (u, p) = UdpHeader::from_slice(l4).unwrap();
                    u.checksum == u.calc_checksum_ipv6_raw(s.octets(), d.octets(), p).unwrap()
                }
                _ => true,
            };
            assert!(ok, "quoted L4 checksum");
        }
        (
            src,
            u16::from_be_bytes([l4[0], l4[1]]),
            dst,
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    }

    fn translate(
        frame: &mut [u8],
        o: (Option<&str>, Option<&str>),
        q: (Option<&str>, Option<&str>),
    ) {
        let info = parse_frame(frame).unwrap();
        let ip = |s: Option<&str>| s.map(|s| s.parse::<IpAddr>().unwrap());
        icmp_error(frame, &info, ip(o.0), ip(o.1), q.0.map(sa), q.1.map(sa)).unwrap();
    }

    const FRAG_NEEDED: (u8, u8, [u8; 4]) = (3, 4, [0, 0, 0x05, 0xc8]);
    const TIME_EXCEEDED: (u8, u8, [u8; 4]) = (11, 0, [0; 4]);
    const TOO_BIG6: (u8, u8, [u8; 4]) = (2, 0, [0, 0, 0x05, 0x00]);
    const UNREACH6: (u8, u8, [u8; 4]) = (1, 4, [0; 4]);

    #[test]
    fn fullnat_v4_error_from_real_side() {
        // The real-side packet local:5001 -> real:8080; a router on the real side answers
        // "fragmentation needed" to the local address.
        let out = Spec::new(
            "10.1.0.2:5001",
            "10.1.0.11:8080",
            L4::Tcp { flags_syn: false },
        );
        let whole = out.ip_packet().len();
        let mut f = error_frame("10.1.0.254:0", "10.1.0.2:0", FRAG_NEEDED, &out, whole);
        translate(
            &mut f,
            (Some("10.0.0.100"), Some("192.0.2.10")),
            (Some("192.0.2.10:40000"), Some("10.0.0.100:80")),
        );
        let s = verify(&f);
        assert_eq!(
            (s.src, s.dst, s.ttl),
            (
                "10.0.0.100".parse().unwrap(),
                "192.0.2.10".parse().unwrap(),
                63
            )
        );
        assert_eq!(&f[14 + 20 + 4..14 + 20 + 8], &FRAG_NEEDED.2, "MTU kept");
        let q = quoted_fields(&f, true);
        assert_eq!(
            q,
            (
                "192.0.2.10".parse().unwrap(),
                40000,
                "10.0.0.100".parse().unwrap(),
                80
            )
        );
    }

    #[test]
    fn fullnat_v4_error_from_client_side_truncated_quote() {
        // The client-side packet vip:80 -> client:40000; the client's router says time
        // exceeded, quoting only 28 bytes (IP header + 8).
        let back = Spec::new(
            "10.0.0.100:80",
            "192.0.2.10:40000",
            L4::Udp {
                zero_checksum: false,
            },
        );
        let mut f = error_frame("198.51.100.1:0", "10.0.0.100:0", TIME_EXCEEDED, &back, 28);
        translate(
            &mut f,
            (Some("10.1.0.2"), Some("10.1.0.11")),
            (Some("10.1.0.11:8080"), Some("10.1.0.2:5001")),
        );
        let s = verify(&f);
        assert_eq!(
            (s.src, s.dst),
            ("10.1.0.2".parse().unwrap(), "10.1.0.11".parse().unwrap())
        );
        let q = quoted_fields(&f, false);
        assert_eq!(
            q,
            (
                "10.1.0.11".parse().unwrap(),
                8080,
                "10.1.0.2".parse().unwrap(),
                5001
            )
        );
        // The quoted UDP checksum was in the quote and was adjusted: check it against a
        // full recompute over the original datagram with the new endpoints.
        let want = Spec::new(
            "10.1.0.11:8080",
            "10.1.0.2:5001",
            L4::Udp {
                zero_checksum: false,
            },
        )
        .ip_packet();
        assert_eq!(&f[14 + 28 + 20..14 + 28 + 28], &want[20..28]);
    }

    #[test]
    fn nat_v4_both_directions() {
        // From the real side: quoted client:40000 -> real:8080 becomes client -> vip:80.
        let out = Spec::new(
            "192.0.2.10:40000",
            "10.1.0.11:8080",
            L4::Tcp { flags_syn: true },
        );
        let mut f = error_frame("10.1.0.11:0", "192.0.2.10:0", (3, 3, [0; 4]), &out, 28 + 12);
        translate(
            &mut f,
            (Some("10.0.0.100"), None),
            (None, Some("10.0.0.100:80")),
        );
        assert_eq!(verify(&f).src, "10.0.0.100".parse::<IpAddr>().unwrap());
        assert_eq!(
            quoted_fields(&f, false),
            (
                "192.0.2.10".parse().unwrap(),
                40000,
                "10.0.0.100".parse().unwrap(),
                80
            )
        );
        // From the client side: quoted vip:80 -> client becomes real:8080 -> client.
        let back = Spec::new(
            "10.0.0.100:80",
            "192.0.2.10:40000",
            L4::Tcp { flags_syn: false },
        );
        let whole = back.ip_packet().len();
        let mut f = error_frame("192.0.2.10:0", "10.0.0.100:0", (3, 3, [0; 4]), &back, whole);
        translate(
            &mut f,
            (None, Some("10.1.0.11")),
            (Some("10.1.0.11:8080"), None),
        );
        assert_eq!(verify(&f).dst, "10.1.0.11".parse::<IpAddr>().unwrap());
        assert_eq!(
            quoted_fields(&f, true),
            (
                "10.1.0.11".parse().unwrap(),
                8080,
                "192.0.2.10".parse().unwrap(),
                40000
            )
        );
    }

    #[test]
    fn fullnat_v6_both_directions() {
        let out = Spec::new(
            "[2001:db8:1::2]:5001",
            "[2001:db8:1::11]:8080",
            L4::Tcp { flags_syn: false },
        );
        let whole = out.ip_packet().len();
        let mut f = error_frame(
            "[2001:db8:1::fe]:0",
            "[2001:db8:1::2]:0",
            TOO_BIG6,
            &out,
            whole,
        );
        translate(
            &mut f,
            (Some("2001:db8::100"), Some("2001:db8:c::10")),
            (Some("[2001:db8:c::10]:40000"), Some("[2001:db8::100]:80")),
        );
        let s = verify(&f);
        assert_eq!(s.dst, "2001:db8:c::10".parse::<IpAddr>().unwrap());
        assert_eq!(
            quoted_fields(&f, true),
            (
                "2001:db8:c::10".parse().unwrap(),
                40000,
                "2001:db8::100".parse().unwrap(),
                80
            )
        );
        let back = Spec::new(
            "[2001:db8::100]:80",
            "[2001:db8:c::10]:40000",
            L4::Udp {
                zero_checksum: false,
            },
        );
        let whole = back.ip_packet().len();
        let mut f = error_frame(
            "[2001:db8:c::10]:0",
            "[2001:db8::100]:0",
            UNREACH6,
            &back,
            whole,
        );
        translate(
            &mut f,
            (Some("2001:db8:1::2"), Some("2001:db8:1::11")),
            (Some("[2001:db8:1::11]:8080"), Some("[2001:db8:1::2]:5001")),
        );
        verify(&f);
        assert_eq!(
            quoted_fields(&f, true),
            (
                "2001:db8:1::11".parse().unwrap(),
                8080,
                "2001:db8:1::2".parse().unwrap(),
                5001
            )
        );
    }

    #[test]
    fn quoted_echo_identifier_is_translated() {
        let req = Spec::new(
            "10.1.0.2:777",
            "10.1.0.11:0",
            L4::EchoRequest { ident: 777 },
        );
        let whole = req.ip_packet().len();
        let mut f = error_frame("10.1.0.254:0", "10.1.0.2:0", TIME_EXCEEDED, &req, whole);
        translate(
            &mut f,
            (Some("10.0.0.100"), Some("192.0.2.10")),
            (Some("192.0.2.10:4242"), Some("10.0.0.100:0")),
        );
        verify(&f);
        let info = parse_frame(&f).unwrap();
        let L4Info::IcmpError { quoted: q, .. } = info.ip.unwrap().l4 else {
            panic!()
        };
        assert_eq!((q.src, q.sport), ("192.0.2.10".parse().unwrap(), 4242));
        let inner = &f[q.l4_offset..];
        assert_eq!(
            checksum::internet_checksum(inner),
            0,
            "quoted echo checksum"
        );
    }

    #[test]
    fn non_errors_and_exhausted_ttl_are_refused() {
        let mut f = Spec::v4_tcp().build();
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            icmp_error(&mut f, &info, None, None, None, None),
            Err(DropReason::UnsupportedProtocol)
        );
        let out = Spec::v4_tcp();
        let mut f = error_frame("10.1.0.254:0", "10.1.0.2:0", TIME_EXCEEDED, &out, 28);
        f[14 + 8] = 1; // outer TTL 1
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            icmp_error(&mut f, &info, None, None, None, None),
            Err(DropReason::TtlExceeded)
        );
    }
}
