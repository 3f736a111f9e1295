//! NAT and FULLNAT: rewrite source and/or destination address and port in place.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use crate::checksum::{apply_delta, delta_bytes, delta_u16};
use crate::drop::DropReason;
use crate::wire::bytes::{be16, put16};
use crate::wire::tcp::TCP_CHECKSUM_OFFSET;
use crate::wire::udp::UDP_CHECKSUM_OFFSET;
use crate::wire::{FrameInfo, IpInfo, IpVersion, L4Info};

/// IPv4 header offsets used here (the view types hold the same layout).
const V4_TTL: usize = 8;
const V4_CHECKSUM: usize = 10;
const V4_SRC: usize = 12;
const V4_DST: usize = 16;
const V6_HOP_LIMIT: usize = 7;
const V6_SRC: usize = 8;
const V6_DST: usize = 24;
/// Checksum and identifier offsets in an ICMP / ICMPv6 echo header.
const ECHO_CHECKSUM: usize = 2;
const ECHO_IDENT: usize = 4;

/// True when `addr` is of the packet's family.
#[inline]
pub(super) fn same_family(version: IpVersion, addr: IpAddr) -> bool {
    matches!(
        (version, addr),
        (IpVersion::V4, IpAddr::V4(_)) | (IpVersion::V6, IpAddr::V6(_))
    )
}

/// Write `addr` at `at` and return the checksum difference term of the change.
#[inline]
pub(super) fn write_addr(b: &mut [u8], at: usize, addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => {
            let new = a.octets();
            let d = delta_bytes(&b[at..at + 4], &new);
            b[at..at + 4].copy_from_slice(&new);
            d
        }
        IpAddr::V6(a) => {
            let new = a.octets();
            let d = delta_bytes(&b[at..at + 16], &new);
            b[at..at + 16].copy_from_slice(&new);
            d
        }
    }
}

/// Write a port (or echo identifier) at `at` and return the difference term.
#[inline]
pub(super) fn write_port(b: &mut [u8], at: usize, port: u16) -> u64 {
    let d = delta_u16(be16(b, at), port);
    put16(b, at, port);
    d
}

/// Apply `delta` to the 16-bit checksum at `at`. `udp`: a result of 0 is sent as 0xffff.
#[inline]
pub(super) fn fix_checksum(b: &mut [u8], at: usize, delta: u64, udp: bool) {
    let mut c = apply_delta(be16(b, at), delta);
    if udp && c == 0 {
        c = 0xffff;
    }
    put16(b, at, c);
}

/// Offsets of the source and destination address in an IP header of `version`.
#[inline]
pub(super) const fn addr_offsets(version: IpVersion) -> (usize, usize) {
    match version {
        IpVersion::V4 => (V4_SRC, V4_DST),
        IpVersion::V6 => (V6_SRC, V6_DST),
    }
}

/// Write the new source and/or destination address into the IP header at `l3` (of
/// `version`), fix the IPv4 header checksum for them, and return the difference term of
/// the change (what an upper-layer pseudo-header checksum needs).
#[inline]
pub(super) fn rewrite_addrs(
    frame: &mut [u8],
    l3: usize,
    version: IpVersion,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
) -> u64 {
    let (src_at, dst_at) = addr_offsets(version);
    let mut delta = 0;
    if let Some(a) = src {
        delta += write_addr(frame, l3 + src_at, a);
    }
    if let Some(a) = dst {
        delta += write_addr(frame, l3 + dst_at, a);
    }
    if version == IpVersion::V4 {
        fix_checksum(frame, l3 + V4_CHECKSUM, delta, false);
    }
    delta
}

/// The upper-layer header whose endpoints a rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoints {
    /// TCP: ports, checksum at [`TCP_CHECKSUM_OFFSET`].
    Tcp,
    /// UDP: ports, checksum at [`UDP_CHECKSUM_OFFSET`] (0 over IPv4 means "none").
    Udp,
    /// ICMP / ICMPv6 echo: the identifier is the requester's "port".
    Echo {
        /// True for a request (the identifier follows the source), false for a reply.
        request: bool,
    },
}

/// Rewrite the ports (TCP, UDP) or echo identifier of the upper-layer header whose bytes
/// present in `frame` are `l4` (the header starts at `l4.start`), and fix its checksum incrementally with `addr_delta`
/// (the pseudo-header change from [`rewrite_addrs`]; ICMPv4 has no pseudo-header and
/// ignores it). An echo takes `new_src`'s port as identifier for a request, `new_dst`'s
/// for a reply. A checksum past `l4.end` (a truncated quote) is left alone; UDP over IPv4
/// with checksum 0 stays 0, and a UDP result of 0 is sent as 0xffff.
#[inline]
pub(super) fn rewrite_l4(
    frame: &mut [u8],
    version: IpVersion,
    l4: Range<usize>,
    kind: Endpoints,
    addr_delta: u64,
    new_src: Option<SocketAddr>,
    new_dst: Option<SocketAddr>,
) {
    let (l4_len, l4) = (l4.len(), l4.start);
    let (ck, udp, mut delta) = match kind {
        Endpoints::Tcp | Endpoints::Udp => {
            let mut delta = addr_delta;
            if let Some(s) = new_src {
                delta += write_port(frame, l4, s.port());
            }
            if let Some(d) = new_dst {
                delta += write_port(frame, l4 + 2, d.port());
            }
            match kind {
                Endpoints::Udp => (UDP_CHECKSUM_OFFSET, true, delta),
                _ => (TCP_CHECKSUM_OFFSET, false, delta),
            }
        }
        Endpoints::Echo { .. } if version == IpVersion::V4 => (ECHO_CHECKSUM, false, 0),
        Endpoints::Echo { .. } => (ECHO_CHECKSUM, false, addr_delta),
    };
    if let Endpoints::Echo { request } = kind {
        if let Some(e) = if request { new_src } else { new_dst } {
            delta += write_port(frame, l4 + ECHO_IDENT, e.port());
        }
    }
    if l4_len < ck + 2 || (udp && version == IpVersion::V4 && be16(frame, l4 + ck) == 0) {
        return;
    }
    fix_checksum(frame, l4 + ck, delta, udp);
}

/// Check and decrement the TTL / hop limit of the IP header at `l3`, fixing the IPv4
/// header checksum for it. Returns [`DropReason::TtlExceeded`] (frame untouched) when the
/// packet arrived with TTL 0 or 1.
#[inline]
pub(super) fn decrement_ttl(frame: &mut [u8], ip: &IpInfo) -> Result<(), DropReason> {
    if ip.ttl <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    let l3 = ip.l3_offset;
    match ip.version {
        IpVersion::V4 => {
            let old = be16(frame, l3 + V4_TTL);
            frame[l3 + V4_TTL] = ip.ttl - 1;
            let d = delta_u16(old, be16(frame, l3 + V4_TTL));
            fix_checksum(frame, l3 + V4_CHECKSUM, d, false);
        }
        IpVersion::V6 => frame[l3 + V6_HOP_LIMIT] = ip.ttl - 1,
    }
    Ok(())
}

/// Rewrite the source and/or destination endpoint of a TCP, UDP or ICMP echo packet in
/// place, decrement TTL / hop limit, and fix the IPv4 header checksum and the L4 checksum
/// incrementally (pseudo-header included). The shared primitive of NAT and FULLNAT.
///
/// - Ports: TCP and UDP ports are set from the endpoints. For an echo the identifier is the
///   requester's "port": a request takes `new_src`'s port, a reply `new_dst`'s port (the
///   other endpoint's port is ignored), matching [`IpInfo::conn_key`].
/// - UDP over IPv4 with checksum 0 ("none") stays 0; a result of 0 is sent as 0xffff.
/// - A non-first fragment has no L4 header: only the IP header changes (the first
///   fragment's L4 checksum already covers the new addresses).
/// - Errors, all leaving the frame untouched: [`DropReason::TtlExceeded`] when the TTL /
///   hop limit is 0 or 1; [`DropReason::Malformed`] for a non-IP frame or an endpoint of
///   the other family; [`DropReason::UnsupportedProtocol`] for anything else (ICMP errors
///   go through [`super::icmp_error`]).
pub fn nat_l3l4(
    frame: &mut [u8],
    info: &FrameInfo,
    new_src: Option<SocketAddr>,
    new_dst: Option<SocketAddr>,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let family_ok = |e: Option<SocketAddr>| e.map_or(true, |e| same_family(ip.version, e.ip()));
    if !family_ok(new_src) || !family_ok(new_dst) {
        return Err(DropReason::Malformed);
    }
    let kind = match ip.l4 {
        _ if ip.non_first_fragment => None,
        L4Info::Tcp { .. } => Some(Endpoints::Tcp),
        L4Info::Udp { .. } => Some(Endpoints::Udp),
        L4Info::IcmpEcho { request, .. } => Some(Endpoints::Echo { request }),
        _ => return Err(DropReason::UnsupportedProtocol),
    };
    decrement_ttl(frame, ip)?;
    let addr_delta = rewrite_addrs(
        frame,
        ip.l3_offset,
        ip.version,
        new_src.map(|e| e.ip()),
        new_dst.map(|e| e.ip()),
    );
    if let Some(kind) = kind {
        rewrite_l4(
            frame,
            ip.version,
            ip.l4_offset..ip.l4_offset + ip.payload_len,
            kind,
            addr_delta,
            new_src,
            new_dst,
        );
    }
    Ok(())
}

/// NAT, client -> real: destination becomes the real server.
#[inline]
pub fn nat_in(frame: &mut [u8], info: &FrameInfo, real: SocketAddr) -> Result<(), DropReason> {
    nat_l3l4(frame, info, None, Some(real))
}

/// NAT, real -> client: source becomes the VIP.
#[inline]
pub fn nat_out(frame: &mut [u8], info: &FrameInfo, vip: SocketAddr) -> Result<(), DropReason> {
    nat_l3l4(frame, info, Some(vip), None)
}

/// FULLNAT, client -> real: source becomes the local address, destination the real.
#[inline]
pub fn fullnat_in(
    frame: &mut [u8],
    info: &FrameInfo,
    local: SocketAddr,
    real: SocketAddr,
) -> Result<(), DropReason> {
    nat_l3l4(frame, info, Some(local), Some(real))
}

/// FULLNAT, real -> client: source becomes the VIP, destination the client.
#[inline]
pub fn fullnat_out(
    frame: &mut [u8],
    info: &FrameInfo,
    vip: SocketAddr,
    client: SocketAddr,
) -> Result<(), DropReason> {
    nat_l3l4(frame, info, Some(vip), Some(client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_frame;
    use crate::wire::test_frames::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Run `f` on the frame of `spec`, then verify the result with etherparse.
    fn run(
        spec: &Spec,
        f: impl FnOnce(&mut [u8], &FrameInfo) -> Result<(), DropReason>,
    ) -> (Vec<u8>, Seen) {
        let mut frame = spec.build();
        let info = parse_frame(&frame).unwrap();
        f(&mut frame, &info).unwrap();
        let seen = verify(&frame);
        (frame, seen)
    }

    #[test]
    fn every_mode_and_direction_v4_v6_tcp_udp() {
        let specs = [
            Spec::v4_tcp(),
            Spec::v4_udp(),
            Spec::v4_tcp().vlan(),
            Spec::v6_tcp(),
            Spec::v6_udp(),
            Spec::v6_udp().vlan(),
        ];
        for spec in specs {
            let v4 = spec.src.is_ipv4();
            let (client, vip) = (spec.src, spec.dst);
            let (real, local) = if v4 {
                (sa("10.1.0.11:8080"), sa("10.1.0.2:5001"))
            } else {
                (sa("[2001:db8:1::11]:8080"), sa("[2001:db8:1::2]:5001"))
            };
            // NAT in: dst -> real.
            let (_, s) = run(&spec, |f, i| nat_in(f, i, real));
            assert_eq!(
                (s.src, s.sport, s.dst, s.dport),
                (client.ip(), client.port(), real.ip(), real.port())
            );
            assert_eq!(s.ttl, 63);
            assert_eq!(s.payload, spec.payload);
            // FULLNAT in: src -> local, dst -> real.
            let (_, s) = run(&spec, |f, i| fullnat_in(f, i, local, real));
            assert_eq!(
                (s.src, s.sport, s.dst, s.dport),
                (local.ip(), local.port(), real.ip(), real.port())
            );
            // Replies: real -> client (NAT) and real -> local (FULLNAT).
            let mut nat_reply = spec.clone();
            (nat_reply.src, nat_reply.dst) = (real, client);
            let (_, s) = run(&nat_reply, |f, i| nat_out(f, i, vip));
            assert_eq!(
                (s.src, s.sport, s.dst, s.dport),
                (vip.ip(), vip.port(), client.ip(), client.port())
            );
            let mut fnat_reply = spec.clone();
            (fnat_reply.src, fnat_reply.dst) = (real, local);
            let (_, s) = run(&fnat_reply, |f, i| fullnat_out(f, i, vip, client));
            assert_eq!(
                (s.src, s.sport, s.dst, s.dport),
                (vip.ip(), vip.port(), client.ip(), client.port())
            );
        }
    }

    #[test]
    fn ipv4_options_and_ipv6_extension_headers() {
        let mut s4 = Spec::v4_tcp();
        s4.v4_options = vec![1, 1, 7, 7, 4, 0, 0, 0]; // NOP NOP + record-route-ish bytes
        let (f, s) = run(&s4, |f, i| {
            fullnat_in(f, i, sa("10.1.0.2:5001"), sa("10.1.0.11:8080"))
        });
        assert_eq!(s.dport, 8080);
        assert_eq!(
            &f[14 + 20..14 + 28],
            &[1, 1, 7, 7, 4, 0, 0, 0],
            "options untouched"
        );
        let mut s6 = Spec::v6_udp();
        s6.v6_exts = vec![
            (0, vec![0, 0, 1, 4, 0, 0, 0, 0]),
            (60, vec![0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ];
        let (_, s) = run(&s6, |f, i| {
            fullnat_in(
                f,
                i,
                sa("[2001:db8:1::2]:5001"),
                sa("[2001:db8:1::11]:8080"),
            )
        });
        assert_eq!((s.sport, s.dport), (5001, 8080));
        assert_eq!(s.src, "2001:db8:1::2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn udp_v4_zero_checksum_stays_zero() {
        let mut spec = Spec::v4_udp();
        spec.l4 = L4::Udp {
            zero_checksum: true,
        };
        let (f, s) = run(&spec, |f, i| {
            fullnat_in(f, i, sa("10.1.0.2:5001"), sa("10.1.0.11:8080"))
        });
        assert_eq!(s.dport, 8080);
        assert_eq!(&f[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
    }

    #[test]
    fn udp_result_zero_is_sent_as_ffff() {
        // Search a payload word that makes the rewritten checksum exactly 0.
        let spec = Spec::v4_udp().payload(&[0, 0]);
        let mut frame = spec.build();
        let info = parse_frame(&frame).unwrap();
        let mut probe = frame.clone();
        nat_in(&mut probe, &info, sa("10.1.0.11:8080")).unwrap();
        // With payload word w the rewritten sum is S + w, where ~S = c is the probe's
        // checksum: w = c makes the sum 0xffff, i.e. a computed checksum of 0.
        let w = be16(&probe, 14 + 20 + 6);
        let mut spec2 = spec.clone();
        spec2.payload = w.to_be_bytes().to_vec();
        frame = spec2.build();
        let info = parse_frame(&frame).unwrap();
        nat_in(&mut frame, &info, sa("10.1.0.11:8080")).unwrap();
        verify(&frame);
        assert_eq!(be16(&frame, 14 + 20 + 6), 0xffff);
    }

    #[test]
    fn ttl_exhausted_is_refused_untouched() {
        for spec in [Spec::v4_tcp().ttl(1), Spec::v6_udp().ttl(0)] {
            let mut f = spec.build();
            let info = parse_frame(&f).unwrap();
            let before = f.clone();
            assert_eq!(
                nat_in(&mut f, &info, spec.dst),
                Err(DropReason::TtlExceeded)
            );
            assert_eq!(f, before);
        }
        let spec = Spec::v4_tcp().ttl(2);
        let (_, s) = run(&spec, |f, i| nat_in(f, i, sa("10.1.0.11:80")));
        assert_eq!(s.ttl, 1);
    }

    #[test]
    fn wrong_family_and_unsupported_protocols_are_refused() {
        let spec = Spec::v4_tcp();
        let mut f = spec.build();
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            nat_in(&mut f, &info, sa("[::1]:80")),
            Err(DropReason::Malformed)
        );
        let spec = Spec::new(
            "192.0.2.1:0",
            "10.0.0.100:0",
            L4::Raw {
                protocol: 47,
                bytes: vec![0; 8],
            },
        );
        let mut f = spec.build();
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            nat_in(&mut f, &info, sa("10.1.0.1:0")),
            Err(DropReason::UnsupportedProtocol)
        );
    }

    #[test]
    fn echo_identifier_follows_the_requester() {
        for (client, vip, local, real) in [
            (
                "192.0.2.10:0",
                "10.0.0.100:0",
                "10.1.0.2:777",
                "10.1.0.11:0",
            ),
            (
                "[2001:db8:c::10]:0",
                "[2001:db8::100]:0",
                "[2001:db8:1::2]:777",
                "[2001:db8:1::11]:0",
            ),
        ] {
            let spec = Spec::new(client, vip, L4::EchoRequest { ident: 0x1234 });
            let (f, s) = run(&spec, |f, i| fullnat_in(f, i, sa(local), sa(real)));
            assert_eq!((s.src, s.dst), (sa(local).ip(), sa(real).ip()));
            let info = parse_frame(&f).unwrap();
            assert_eq!(
                info.ip.unwrap().l4,
                L4Info::IcmpEcho {
                    request: true,
                    ident: 777
                }
            );
        }
    }

    #[test]
    fn non_first_fragment_rewrites_only_l3() {
        let mut spec = Spec::v4_udp();
        spec.l4 = L4::Raw {
            protocol: 17,
            bytes: vec![9; 16],
        };
        let mut f = spec.build();
        f[14 + 6..14 + 8].copy_from_slice(&[0x00, 0x10]); // offset 128, MF clear
        let mut ip = etherparse::Ipv4Header::from_slice(&f[14..]).unwrap().0;
        ip.header_checksum = ip.calc_header_checksum();
        f[14..34].copy_from_slice(&ip.to_bytes());
        let info = parse_frame(&f).unwrap();
        assert!(info.ip.unwrap().non_first_fragment);
        nat_in(&mut f, &info, sa("10.1.0.11:8080")).unwrap();
        let (ip2, rest) = etherparse::Ipv4Header::from_slice(&f[14..]).unwrap();
        assert_eq!(ip2.header_checksum, ip2.calc_header_checksum());
        assert_eq!(ip2.destination, [10, 1, 0, 11]);
        assert_eq!(rest, &[9; 16][..], "payload untouched");
    }
}
