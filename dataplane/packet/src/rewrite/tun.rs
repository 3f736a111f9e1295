//! TUN: encapsulate the IP packet toward the real: in an outer IP header (IPIP /
//! IPv6-in-IP), or in UDP and GUE, or in GRE, as the real's [`Tunnel`] says.

use std::net::IpAddr;

use super::tunnel::{
    finish_gre, finish_udp, write_header, Offload, Tunnel, TunnelCsum, TunnelKind,
};
use crate::checksum::{fold, pseudo_header};
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::ipv4::IPV4_HEADER_LEN;
use crate::wire::ipv6::IPV6_HEADER_LEN;
use crate::wire::{
    ethertype, ip_proto, l4_checksum_ok, FrameInfo, IpInfo, IpVersion, Ipv4Packet, Ipv6Packet,
    L4Info,
};

/// Encapsulate the frame's IP packet toward the real: `outer_src -> outer_dst`, IPv4 or
/// IPv6 as the outer addresses say, with `tunnel`'s header between the outer IP header
/// and the inner packet (IPIP: none, protocol 4 for IPv4 inside and 41 for IPv6 inside;
/// GUE: UDP from `sport` to the tunnel's port, then the GUE header; GRE: protocol 47 and
/// the GRE header). The headers are prepended with [`PacketBuf::prepend`]; the Ethernet
/// header (VLAN tag kept) moves in front of them and its EtherType follows the outer
/// family. Ethernet padding after the inner packet is trimmed first.
///
/// As IPVS (`ip_vs_tunnel_xmit`): the outer TTL / hop limit is the inner one (the inner
/// header is not touched), the TOS / traffic class is copied, and DF is copied from an
/// IPv4 inner header (0 for IPv6 inside). The outer IPv4 identification copies the inner
/// one (0 for IPv6 inside); the header checksum is computed. GUE's UDP checksum is 0
/// with [`TunnelCsum::NoCsum`] (over IPv6 too, as the kernel sends it), else computed in
/// software over the whole datagram; the GRE checksum likewise with
/// [`TunnelCsum::Csum`]. With [`TunnelCsum::RemCsum`], a TCP or UDP inner packet whose
/// checksum is right gets the remote checksum offload option and its checksum field
/// turned into the pseudo-header sum (the state the kernel sends an unfinished checksum
/// in), which the real finishes from the outer checksum; any other inner packet (ICMP,
/// UDP without checksum, a wrong checksum the real must see) goes without the option,
/// its bytes untouched.
///
/// `mtu` is the egress L3 MTU. When the result exceeds it and the inner packet may not be
/// fragmented (IPv4 DF, or IPv6) this returns [`DropReason::TooBig`] and leaves the buffer
/// untouched: the pipeline answers with ICMP "fragmentation needed" / "packet too big"
/// carrying `mtu` less the outer IP header and [`Tunnel::max_header_len`]. Without DF the
/// packet is encapsulated anyway; fragmenting the outer packet is left to the pipeline,
/// as is the frame's MAC addresses. [`DropReason::NoBuffer`] when the headroom is short;
/// [`DropReason::Malformed`] for a non-IP frame or outer addresses of mixed families.
pub fn tun_encap<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    outer_src: IpAddr,
    outer_dst: IpAddr,
    tunnel: &Tunnel,
    sport: u16,
    mtu: usize,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let (ip_len, outer_et) = match (outer_src, outer_dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (IPV4_HEADER_LEN, ethertype::IPV4),
        (IpAddr::V6(_), IpAddr::V6(_)) => (IPV6_HEADER_LEN, ethertype::IPV6),
        _ => return Err(DropReason::Malformed),
    };
    let inner_len = ip.l3_len;
    let l2 = ip.l3_offset;
    let end = l2 + inner_len;
    if end > buf.len() {
        return Err(DropReason::Malformed);
    }
    let rco = match (tunnel.kind, tunnel.csum) {
        (TunnelKind::Gue, TunnelCsum::RemCsum) => offload(buf.data(), ip)?,
        _ => None,
    };
    let tun_len = tunnel.header_len(rco.is_some());
    let hdr_len = ip_len + tun_len;
    let total = inner_len + hdr_len;
    if total > mtu && ip.dont_frag {
        return Err(DropReason::TooBig);
    }
    let payload_len = if ip_len == IPV4_HEADER_LEN {
        total
    } else {
        inner_len + tun_len
    };
    let payload_len = u16::try_from(payload_len).map_err(|_| DropReason::TooBig)?;
    let (next, df, ident) = match ip.version {
        IpVersion::V4 => {
            let inner = Ipv4Packet::new_unchecked(&buf.data()[l2..]);
            (ip_proto::IPIP, inner.dont_frag(), inner.ident())
        }
        IpVersion::V6 => (ip_proto::IPV6, false, 0),
    };
    buf.prepend(hdr_len).map_err(|_| DropReason::NoBuffer)?;
    buf.trim(buf.len() - (end + hdr_len));
    let data = buf.data_mut();
    if let Some((o, partial)) = rco {
        let at = hdr_len + l2 + usize::from(o.field);
        data[at..at + 2].copy_from_slice(&partial.to_be_bytes());
    }
    data.copy_within(hdr_len..hdr_len + l2, 0);
    data[l2 - 2..l2].copy_from_slice(&outer_et.to_be_bytes());
    let protocol = tunnel.outer_protocol(next);
    let outer = &mut data[l2..l2 + ip_len];
    match (outer_src, outer_dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut o = Ipv4Packet::new_unchecked(outer);
            o.set_version_and_header_len(IPV4_HEADER_LEN);
            o.set_tos(ip.tos);
            o.set_total_len(payload_len);
            o.set_ident(ident);
            o.set_unfragmented(df);
            o.set_ttl(ip.ttl);
            o.set_protocol(protocol);
            o.set_src(s);
            o.set_dst(d);
            o.fill_checksum();
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut o = Ipv6Packet::new_unchecked(outer);
            o.set_version_tc_flow(ip.tos, 0);
            o.set_payload_len(payload_len);
            o.set_next_header(protocol);
            o.set_hop_limit(ip.ttl);
            o.set_src(s);
            o.set_dst(d);
        }
        _ => unreachable!("families checked above"),
    }
    let tun = l2 + ip_len;
    let rco = rco.map(|(o, _)| o);
    write_header(
        tunnel,
        &mut data[tun..l2 + hdr_len],
        next,
        inner_len,
        sport,
        rco,
    );
    match (tunnel.kind, tunnel.csum) {
        (TunnelKind::Gue, TunnelCsum::Csum | TunnelCsum::RemCsum) => {
            let udp_len = (tun_len + inner_len) as u32;
            let pseudo = pseudo_header(outer_src, outer_dst, ip_proto::UDP, udp_len);
            finish_udp(&mut data[tun..end + hdr_len], pseudo);
        }
        (TunnelKind::Gre, TunnelCsum::Csum) => finish_gre(&mut data[tun..end + hdr_len]),
        _ => {}
    }
    Ok(())
}

/// Where GUE's remote checksum offload points for the inner packet `ip` (in `frame`, not
/// yet encapsulated), and the pseudo-header sum its checksum field is to hold; `None`
/// when it has no checksum the real could finish: not TCP or UDP, a fragment, UDP over
/// IPv4 without checksum or with octets past its length, or a checksum that is wrong
/// now (the real must see it wrong, not finish it right over damaged bytes).
fn offload(frame: &[u8], ip: &IpInfo) -> Result<Option<(Offload, u16)>, DropReason> {
    let (field, proto) = match ip.l4 {
        L4Info::Tcp { .. } => (16, ip_proto::TCP),
        L4Info::Udp { .. } => (6, ip_proto::UDP),
        _ => return Ok(None),
    };
    if ip.is_fragment {
        return Ok(None);
    }
    let l4 = ip.l4_offset;
    let seg = frame
        .get(l4..l4 + ip.payload_len)
        .ok_or(DropReason::Malformed)?;
    if seg.len() < field + 2 {
        return Err(DropReason::Malformed);
    }
    if proto == ip_proto::UDP && usize::from(u16::from_be_bytes([seg[4], seg[5]])) != seg.len() {
        return Ok(None);
    }
    if !l4_checksum_ok(frame, ip) {
        return Ok(None);
    }
    let partial = fold(pseudo_header(ip.src, ip.dst, proto, seg.len() as u32));
    let start = (l4 - ip.l3_offset) as u16;
    let o = Offload {
        start,
        field: start + field as u16,
    };
    Ok(Some((o, partial)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HeapBuf;
    use crate::rewrite::{TunnelCsum, TunnelKind};
    use crate::wire::test_frames::{Spec, L4};
    use crate::wire::{parse_frame, parse_ip, L4Info};
    use etherparse::{NetHeaders, PacketHeaders};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn encap(spec: &Spec, src: &str, dst: &str, mtu: usize) -> Result<HeapBuf, DropReason> {
        let frame = spec.build();
        let info = parse_frame(&frame).unwrap();
        let mut b = HeapBuf::from_frame(&frame).unwrap();
        tun_encap(&mut b, &info, ip(src), ip(dst), &Tunnel::IPIP, 0, mtu).map(|_| b)
    }

    #[test]
    fn ipip_v4_outer_header_follows_ipvs() {
        let mut spec = Spec::v4_tcp().vlan().ttl(17);
        spec.padding = 6;
        let inner = spec.ip_packet();
        let b = encap(&spec, "10.1.0.2", "10.1.0.11", 1500).unwrap();
        let f = b.data();
        assert_eq!(
            f.len(),
            18 + 20 + inner.len(),
            "padding trimmed, 20 bytes added"
        );
        assert_eq!(&f[..12], &spec.build()[..12], "MACs moved along");
        assert_eq!(&f[12..18], &[0x81, 0, 0, 0x64, 0x08, 0x00], "VLAN tag kept");
        let h = PacketHeaders::from_ethernet_slice(f).unwrap();
        let Some(NetHeaders::Ipv4(o, _)) = h.net else {
            panic!("outer IPv4")
        };
        assert_eq!(o.header_checksum, o.calc_header_checksum());
        assert_eq!(
            (o.protocol.0, o.time_to_live, o.dont_fragment),
            (4, 17, true)
        );
        assert_eq!((o.source, o.destination), ([10, 1, 0, 2], [10, 1, 0, 11]));
        assert_eq!(usize::from(o.total_len), 20 + inner.len());
        assert_eq!(o.identification, 0x5151);
        assert_eq!(&f[38..], &inner[..], "inner packet byte for byte");
        let info = parse_frame(f).unwrap();
        assert_eq!(info.ip.unwrap().l4, L4Info::Tunnel);
        let inner_info = parse_ip(f, info.ip.unwrap().l4_offset).unwrap();
        assert_eq!(inner_info.dst, ip("10.0.0.100"));
        assert_eq!(
            inner_info.l4,
            L4Info::Tcp {
                sport: 40000,
                dport: 80,
                flags: 0x02
            }
        );
    }

    #[test]
    fn ipv6_in_ipv6_and_mixed_families() {
        let spec = Spec::v6_udp().ttl(9);
        let inner = spec.ip_packet();
        let b = encap(&spec, "2001:db8:1::2", "2001:db8:1::11", 1500).unwrap();
        let f = b.data();
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let (o, _) = etherparse::Ipv6Header::from_slice(&f[14..]).unwrap();
        assert_eq!(
            (o.next_header.0, o.hop_limit, usize::from(o.payload_length)),
            (41, 9, inner.len())
        );
        assert_eq!(&f[54..], &inner[..]);
        // IPv6 inside IPv4: protocol 41, DF 0 (IPVS).
        let b = encap(&spec, "10.1.0.2", "10.1.0.11", 1500).unwrap();
        let (o, _) = etherparse::Ipv4Header::from_slice(&b.data()[14..]).unwrap();
        assert_eq!(
            (o.protocol.0, o.dont_fragment, o.header_checksum),
            (41, false, o.calc_header_checksum())
        );
        // IPv4 inside IPv6: next header 4.
        let b = encap(&Spec::v4_udp(), "2001:db8:1::2", "2001:db8:1::11", 1500).unwrap();
        assert_eq!(b.data()[14 + 6], 4);
        assert_eq!(
            encap(&spec, "10.1.0.2", "2001:db8::1", 1500).err(),
            Some(DropReason::Malformed)
        );
    }

    #[test]
    fn too_big_only_when_df_or_ipv6() {
        let spec = Spec::v4_tcp().payload(&[7; 1460]); // inner 1500 bytes, DF set
        assert_eq!(
            encap(&spec, "10.1.0.2", "10.1.0.11", 1500).err(),
            Some(DropReason::TooBig)
        );
        assert!(encap(&spec, "10.1.0.2", "10.1.0.11", 1520).is_ok());
        let mut no_df = spec.clone();
        no_df.dont_frag = false;
        let b = encap(&no_df, "10.1.0.2", "10.1.0.11", 1500).unwrap();
        assert_eq!(
            b.len(),
            14 + 1520,
            "encapsulated, fragmenting left to the pipeline"
        );
        let v6 = Spec::v6_tcp().payload(&[7; 1440]);
        assert_eq!(
            encap(&v6, "2001:db8:1::2", "2001:db8:1::11", 1500).err(),
            Some(DropReason::TooBig)
        );
    }

    /// A GUE or GRE tunnel.
    fn tunnel(kind: TunnelKind, csum: TunnelCsum) -> Tunnel {
        let port = if kind == TunnelKind::Gue { 6080 } else { 0 };
        Tunnel { kind, port, csum }
    }

    fn encap_with(
        spec: &Spec,
        src: &str,
        dst: &str,
        t: &Tunnel,
        mtu: usize,
    ) -> Result<HeapBuf, DropReason> {
        let frame = spec.build();
        let info = parse_frame(&frame).unwrap();
        let mut b = HeapBuf::from_frame(&frame).unwrap();
        tun_encap(&mut b, &info, ip(src), ip(dst), t, 40123, mtu).map(|_| b)
    }

    /// The outer IP header (etherparse), its payload, and the outer protocol.
    fn outer(f: &[u8]) -> (etherparse::NetHeaders, Vec<u8>, u8) {
        let h = etherparse::SlicedPacket::from_ethernet(f).unwrap();
        let (proto, payload) = match &h.net {
            Some(etherparse::NetSlice::Ipv4(v4)) => {
                let p = v4.payload();
                (p.ip_number.0, p.payload.to_vec())
            }
            Some(etherparse::NetSlice::Ipv6(v6)) => {
                let p = v6.payload();
                (p.ip_number.0, p.payload.to_vec())
            }
            _ => panic!("outer IP"),
        };
        let headers = PacketHeaders::from_ethernet_slice(f).unwrap();
        (headers.net.unwrap(), payload, proto)
    }

    /// GUE's header as draft-ietf-intarea-gue lays it out (variant 0) and Linux's
    /// private flags: (version, control, hlen, proto, flags, options).
    fn gue(p: &[u8]) -> (u8, u8, u8, u8, u16, Vec<u8>) {
        let hlen = p[0] & 0x1f;
        let opts = p[4..4 + usize::from(hlen) * 4].to_vec();
        let flags = u16::from_be_bytes([p[2], p[3]]);
        (p[0] >> 6, (p[0] >> 5) & 1, hlen, p[1], flags, opts)
    }

    /// What a receiver doing remote checksum offload computes (Linux's `remcsum_adjust`):
    /// the checksum over the inner packet from `start` to its end, stored at `field`.
    fn finish_remotely(inner: &mut [u8], start: usize, field: usize) {
        let c = !crate::checksum::fold(crate::checksum::sum(&inner[start..]));
        inner[field..field + 2].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn gue_without_checksum_ipv4_and_ipv6() {
        for (spec, src, dst, inner_proto) in [
            (Spec::v4_tcp(), "10.1.0.2", "10.1.0.11", 4),
            (Spec::v6_udp(), "10.1.0.2", "10.1.0.11", 41),
            (Spec::v4_udp(), "2001:db8:1::2", "2001:db8:1::11", 4),
            (Spec::v6_tcp(), "2001:db8:1::2", "2001:db8:1::11", 41),
        ] {
            let inner = spec.ip_packet();
            let t = tunnel(TunnelKind::Gue, TunnelCsum::NoCsum);
            let b = encap_with(&spec, src, dst, &t, 1500).unwrap();
            let (net, payload, proto) = outer(b.data());
            assert_eq!(proto, 17, "UDP");
            match net {
                NetHeaders::Ipv4(o, _) => {
                    assert_eq!(usize::from(o.total_len), 20 + 8 + 4 + inner.len());
                    assert_eq!(o.header_checksum, o.calc_header_checksum());
                    assert_eq!(o.time_to_live, spec.ttl);
                }
                NetHeaders::Ipv6(o, _) => {
                    assert_eq!(usize::from(o.payload_length), 8 + 4 + inner.len());
                    assert_eq!(o.hop_limit, spec.ttl);
                }
            }
            let (udp, rest) = etherparse::UdpHeader::from_slice(&payload).unwrap();
            assert_eq!((udp.source_port, udp.destination_port), (40123, 6080));
            assert_eq!(usize::from(udp.length), 8 + 4 + inner.len());
            assert_eq!(udp.checksum, 0, "nocsum: no UDP checksum, IPv6 outer too");
            assert_eq!(gue(rest), (0, 0, 0, inner_proto, 0, vec![]));
            assert_eq!(&rest[4..], &inner[..], "inner packet byte for byte");
        }
    }

    #[test]
    fn gue_with_checksum_is_a_right_udp_checksum() {
        for (spec, src, dst) in [
            (Spec::v4_tcp(), "10.1.0.2", "10.1.0.11"),
            (Spec::v6_udp(), "2001:db8:1::2", "2001:db8:1::11"),
        ] {
            let inner = spec.ip_packet();
            let t = tunnel(TunnelKind::Gue, TunnelCsum::Csum);
            let b = encap_with(&spec, src, dst, &t, 1500).unwrap();
            let (net, payload, _) = outer(b.data());
            let (udp, rest) = etherparse::UdpHeader::from_slice(&payload).unwrap();
            let want = match net {
                NetHeaders::Ipv4(o, _) => udp.calc_checksum_ipv4(&o, rest).unwrap(),
                NetHeaders::Ipv6(o, _) => udp.calc_checksum_ipv6(&o, rest).unwrap(),
            };
            assert_ne!(udp.checksum, 0);
            assert_eq!(udp.checksum, want);
            assert_eq!(gue(rest).2, 0, "no options: the inner checksum stays whole");
            assert_eq!(&rest[4..], &inner[..]);
        }
    }

    #[test]
    fn gue_remote_checksum_offload_leaves_the_inner_checksum_to_the_real() {
        for (spec, src, dst, start, field) in [
            (Spec::v4_tcp(), "10.1.0.2", "10.1.0.11", 20, 36),
            (Spec::v4_udp(), "10.1.0.2", "10.1.0.11", 20, 26),
            (Spec::v6_tcp(), "2001:db8:1::2", "2001:db8:1::11", 40, 56),
            (Spec::v6_udp(), "10.1.0.2", "10.1.0.11", 40, 46),
        ] {
            let inner = spec.ip_packet();
            let t = tunnel(TunnelKind::Gue, TunnelCsum::RemCsum);
            let b = encap_with(&spec, src, dst, &t, 1500).unwrap();
            let (net, payload, _) = outer(b.data());
            let (udp, rest) = etherparse::UdpHeader::from_slice(&payload).unwrap();
            let want = match net {
                NetHeaders::Ipv4(o, _) => udp.calc_checksum_ipv4(&o, rest).unwrap(),
                NetHeaders::Ipv6(o, _) => udp.calc_checksum_ipv6(&o, rest).unwrap(),
            };
            assert_eq!(udp.checksum, want, "the outer checksum covers what is sent");
            assert_eq!(usize::from(udp.length), 8 + 12 + inner.len());
            let (version, control, hlen, _, flags, opts) = gue(rest);
            assert_eq!((version, control, hlen, flags), (0, 0, 2, 0x0001));
            assert_eq!(&opts[..4], &[0x80, 0, 0, 0], "private flag REMCSUM");
            assert_eq!(u16::from_be_bytes([opts[4], opts[5]]), start);
            assert_eq!(u16::from_be_bytes([opts[6], opts[7]]), field);
            let mut sent = rest[12..].to_vec();
            assert_eq!(sent.len(), inner.len());
            let (start, field) = (usize::from(start), usize::from(field));
            assert_ne!(sent[field..field + 2], inner[field..field + 2]);
            assert_eq!(sent[..field], inner[..field]);
            assert_eq!(sent[field + 2..], inner[field + 2..]);
            finish_remotely(&mut sent, start, field);
            assert_eq!(sent, inner, "the real's finished checksum is the client's");
        }
    }

    #[test]
    fn remote_checksum_offload_only_for_a_checksum_the_real_can_finish() {
        let t = tunnel(TunnelKind::Gue, TunnelCsum::RemCsum);
        let mut no_sum = Spec::v4_udp();
        no_sum.l4 = L4::Udp {
            zero_checksum: true,
        };
        let echo = Spec::new("192.0.2.7:0", "10.0.0.100:0", L4::EchoRequest { ident: 9 });
        let mut damaged = Spec::v4_tcp().build();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x40;
        for frame in [no_sum.build(), echo.build(), damaged] {
            let info = parse_frame(&frame).unwrap();
            let inner = frame[14..].to_vec();
            let mut b = HeapBuf::from_frame(&frame).unwrap();
            tun_encap(&mut b, &info, ip("10.1.0.2"), ip("10.1.0.11"), &t, 1, 1500).unwrap();
            let (_, payload, _) = outer(b.data());
            let rest = &payload[8..];
            assert_eq!(gue(rest).2, 0, "no option");
            assert_eq!(&rest[4..], &inner[..], "inner bytes untouched");
        }
    }

    /// GRE as RFC 2784 lays it out: (flags and version, protocol, checksum field).
    fn gre(p: &[u8]) -> (u16, u16, Option<u16>) {
        let flags = u16::from_be_bytes([p[0], p[1]]);
        let proto = u16::from_be_bytes([p[2], p[3]]);
        let csum = (flags & 0x8000 != 0).then(|| u16::from_be_bytes([p[4], p[5]]));
        (flags, proto, csum)
    }

    #[test]
    fn gre_with_and_without_checksum() {
        for (spec, src, dst, proto) in [
            (Spec::v4_tcp(), "10.1.0.2", "10.1.0.11", 0x0800),
            (Spec::v6_udp(), "10.1.0.2", "10.1.0.11", 0x86dd),
            (Spec::v4_udp(), "2001:db8:1::2", "2001:db8:1::11", 0x0800),
            (Spec::v6_tcp(), "2001:db8:1::2", "2001:db8:1::11", 0x86dd),
        ] {
            let inner = spec.ip_packet();
            let plain = encap_with(
                &spec,
                src,
                dst,
                &tunnel(TunnelKind::Gre, TunnelCsum::NoCsum),
                1500,
            )
            .unwrap();
            let (_, payload, outer_proto) = outer(plain.data());
            assert_eq!(outer_proto, 47);
            assert_eq!(gre(&payload), (0, proto, None));
            assert_eq!(&payload[4..], &inner[..]);
            let summed = encap_with(
                &spec,
                src,
                dst,
                &tunnel(TunnelKind::Gre, TunnelCsum::Csum),
                1500,
            )
            .unwrap();
            let (net, payload, _) = outer(summed.data());
            if let NetHeaders::Ipv4(o, _) = net {
                assert_eq!(usize::from(o.total_len), 20 + 8 + inner.len());
            }
            let (flags, p, csum) = gre(&payload);
            assert_eq!((flags, p), (0x8000, proto));
            assert_eq!(&payload[6..8], &[0, 0], "reserved");
            let mut zeroed = payload.clone();
            zeroed[4..6].fill(0);
            let want = etherparse::checksum::Sum16BitWords::new()
                .add_slice(&zeroed)
                .ones_complement()
                .to_be();
            assert_eq!(
                csum,
                Some(want),
                "the checksum over the GRE header and payload"
            );
            assert_eq!(&payload[8..], &inner[..]);
        }
    }

    #[test]
    fn tunnel_headers_count_against_the_mtu() {
        // Inner 1476 bytes with DF: 1496 with IPIP fits 1500; GUE (+12) and GRE with
        // its checksum (+8) do not.
        let spec = Spec::v4_tcp().payload(&[7; 1436]);
        assert_eq!(spec.ip_packet().len(), 1476);
        assert!(encap(&spec, "10.1.0.2", "10.1.0.11", 1500).is_ok());
        for t in [
            tunnel(TunnelKind::Gue, TunnelCsum::NoCsum),
            tunnel(TunnelKind::Gue, TunnelCsum::RemCsum),
            tunnel(TunnelKind::Gre, TunnelCsum::Csum),
        ] {
            assert_eq!(
                encap_with(&spec, "10.1.0.2", "10.1.0.11", &t, 1500).err(),
                Some(DropReason::TooBig),
                "{t:?}"
            );
            let room = 1500 - 20 - t.max_header_len();
            assert!(room < 1476, "the size told fits: {room}");
            let fitting = Spec::v4_tcp().payload(&vec![7; room - 40]);
            assert!(encap_with(&fitting, "10.1.0.2", "10.1.0.11", &t, 1500).is_ok());
        }
        // GRE without checksum adds 4: 1500 fits.
        let gre = tunnel(TunnelKind::Gre, TunnelCsum::NoCsum);
        assert!(encap_with(&spec, "10.1.0.2", "10.1.0.11", &gre, 1500).is_ok());
        let v6 = Spec::v6_tcp().payload(&[7; 1400]);
        let t = tunnel(TunnelKind::Gue, TunnelCsum::Csum);
        assert_eq!(
            encap_with(&v6, "2001:db8:1::2", "2001:db8:1::11", &t, 1500).err(),
            Some(DropReason::TooBig),
            "1440 + 40 + 12 > 1500"
        );
    }
}
