//! TUN: encapsulate the IP packet in an outer IP header toward the real (IPIP / IPv6-in-IP).

use std::net::IpAddr;

use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::ipv4::IPV4_HEADER_LEN;
use crate::wire::ipv6::IPV6_HEADER_LEN;
use crate::wire::{ethertype, ip_proto, FrameInfo, IpVersion, Ipv4Packet, Ipv6Packet};

/// Encapsulate the frame's IP packet toward the real: `outer_src -> outer_dst`, IPv4
/// (protocol 4 for IPv4 inside, 41 for IPv6 inside) or IPv6 (next header 4 or 41) as the
/// outer addresses say. The outer header is prepended with [`PacketBuf::prepend`]; the
/// Ethernet header (VLAN tag kept) moves in front of it and its EtherType follows the outer
/// family. Ethernet padding after the inner packet is trimmed first.
///
/// As IPVS (`ip_vs_tunnel_xmit`): the outer TTL / hop limit is the inner one (the inner
/// header is not touched), the TOS / traffic class is copied, and DF is copied from an
/// IPv4 inner header (0 for IPv6 inside). The outer IPv4 identification copies the inner
/// one (0 for IPv6 inside); the header checksum is computed.
///
/// `mtu` is the egress L3 MTU. When the result exceeds it and the inner packet may not be
/// fragmented (IPv4 DF, or IPv6) this returns [`DropReason::TooBig`] and leaves the buffer
/// untouched: the pipeline answers with ICMP "fragmentation needed" / "packet too big"
/// carrying `mtu - outer header length`. Without DF the packet is encapsulated anyway;
/// fragmenting the outer packet is left to the pipeline, as is the frame's MAC addresses.
/// [`DropReason::NoBuffer`] when the headroom is short; [`DropReason::Malformed`] for a
/// non-IP frame or outer addresses of mixed families.
pub fn tun_encap<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    outer_src: IpAddr,
    outer_dst: IpAddr,
    mtu: usize,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let (hdr_len, outer_et) = match (outer_src, outer_dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (IPV4_HEADER_LEN, ethertype::IPV4),
        (IpAddr::V6(_), IpAddr::V6(_)) => (IPV6_HEADER_LEN, ethertype::IPV6),
        _ => return Err(DropReason::Malformed),
    };
    let inner_len = ip.l3_len;
    let total = inner_len + hdr_len;
    if total > mtu && ip.dont_frag {
        return Err(DropReason::TooBig);
    }
    let payload_len = if hdr_len == IPV4_HEADER_LEN {
        total
    } else {
        inner_len
    };
    let payload_len = u16::try_from(payload_len).map_err(|_| DropReason::TooBig)?;
    let l2 = ip.l3_offset;
    let end = l2 + inner_len;
    if end > buf.len() {
        return Err(DropReason::Malformed);
    }
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
    data.copy_within(hdr_len..hdr_len + l2, 0);
    data[l2 - 2..l2].copy_from_slice(&outer_et.to_be_bytes());
    let outer = &mut data[l2..l2 + hdr_len];
    match (outer_src, outer_dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut o = Ipv4Packet::new_unchecked(outer);
            o.set_version_and_header_len(IPV4_HEADER_LEN);
            o.set_tos(ip.tos);
            o.set_total_len(payload_len);
            o.set_ident(ident);
            o.set_unfragmented(df);
            o.set_ttl(ip.ttl);
            o.set_protocol(next);
            o.set_src(s);
            o.set_dst(d);
            o.fill_checksum();
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut o = Ipv6Packet::new_unchecked(outer);
            o.set_version_tc_flow(ip.tos, 0);
            o.set_payload_len(payload_len);
            o.set_next_header(next);
            o.set_hop_limit(ip.ttl);
            o.set_src(s);
            o.set_dst(d);
        }
        _ => unreachable!("families checked above"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HeapBuf;
    use crate::wire::test_frames::Spec;
    use crate::wire::{parse_frame, parse_ip, L4Info};
    use etherparse::{NetHeaders, PacketHeaders};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn encap(spec: &Spec, src: &str, dst: &str, mtu: usize) -> Result<HeapBuf, DropReason> {
        let frame = spec.build();
        let info = parse_frame(&frame).unwrap();
        let mut b = HeapBuf::from_frame(&frame).unwrap();
        tun_encap(&mut b, &info, ip(src), ip(dst), mtu).map(|_| b)
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
}
