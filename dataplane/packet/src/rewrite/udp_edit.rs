//! Bytes put in front of a UDP datagram's payload (the PROXY protocol's datagram form):
//! the frame grows, the UDP and IP lengths follow, and both checksums stay right.

use std::net::IpAddr;

use super::nat::fix_checksum;
use crate::checksum::{delta_u16, fold, pseudo_header, sum};
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::bytes::{be16, put16};
use crate::wire::udp::{UdpPacket, UDP_CHECKSUM_OFFSET};
use crate::wire::{FrameInfo, IpVersion, L4Info};

/// The UDP length field's offset in the header.
const UDP_LENGTH_OFFSET: usize = 4;
/// The UDP header's length.
const UDP_HEADER_LEN: usize = UdpPacket::<&[u8]>::HEADER_LEN;

/// Insert `bytes` at the start of the payload of the UDP datagram in `buf` (parsed as
/// `info`, whose offsets still hold: a rewrite that changed addresses and ports only),
/// whose addresses are now `src` and `dst` (and whose checksum is whole: finished
/// beforehand where the port left it partial). Ethernet padding is dropped first. The
/// UDP checksum is updated for the inserted bytes and the new length (computed afresh
/// for an odd count of bytes); an IPv4 datagram sent without one stays without.
/// [`DropReason::Malformed`] for a frame that is not one whole UDP datagram,
/// [`DropReason::TooBig`] when the lengths or the buffer have no room (frame untouched
/// but for padding).
pub fn prepend_payload<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    bytes: &[u8],
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    if !matches!(ip.l4, L4Info::Udp { .. }) || ip.is_fragment {
        return Err(DropReason::Malformed);
    }
    let (l3, l4) = (ip.l3_offset, ip.l4_offset);
    let end = l4 + ip.payload_len;
    if ip.payload_len < UDP_HEADER_LEN || end > buf.len() {
        return Err(DropReason::Malformed);
    }
    let n = bytes.len();
    let udp_len = ip.payload_len + n;
    if udp_len > usize::from(u16::MAX) || ip.l3_len + n > usize::from(u16::MAX) {
        return Err(DropReason::TooBig);
    }
    if buf.len() > end {
        buf.trim(buf.len() - end);
    }
    buf.append(n).map_err(|_| DropReason::TooBig)?;
    let f = buf.data_mut();
    let at = l4 + UDP_HEADER_LEN;
    f.copy_within(at..end, at + n);
    f[at..at + n].copy_from_slice(bytes);
    let grown = n as u16;
    match ip.version {
        IpVersion::V4 => {
            let old = be16(f, l3 + 2);
            put16(f, l3 + 2, old + grown);
            fix_checksum(f, l3 + 10, delta_u16(old, old + grown), false);
        }
        IpVersion::V6 => {
            let old = be16(f, l3 + 4);
            put16(f, l3 + 4, old + grown);
        }
    }
    let old_len = be16(f, l4 + UDP_LENGTH_OFFSET);
    put16(f, l4 + UDP_LENGTH_OFFSET, udp_len as u16);
    let old_sum = be16(f, l4 + UDP_CHECKSUM_OFFSET);
    if old_sum == 0 && ip.version == IpVersion::V4 {
        // No checksum (RFC 768, IPv4 only): none after either.
    } else if n % 2 == 0 {
        // The inserted words, and the length in the pseudo-header and the header. The
        // payload moved by an even count: its words, and the odd tail's padding, are
        // the same words (RFC 1624).
        let delta = sum(bytes) + 2 * delta_u16(old_len, udp_len as u16);
        fix_checksum(f, l4 + UDP_CHECKSUM_OFFSET, delta, true);
    } else {
        let dgram = &mut f[l4..end + n];
        put16(dgram, UDP_CHECKSUM_OFFSET, 0);
        let mut c = !fold(pseudo_header(src, dst, 17, udp_len as u32) + sum(dgram));
        if c == 0 {
            c = 0xffff;
        }
        put16(dgram, UDP_CHECKSUM_OFFSET, c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HeapBuf;
    use crate::wire::parse_frame;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    fn v4_frame(payload: &[u8], pad: usize) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
            .udp(40000, 53);
        let mut f = Vec::new();
        b.write(&mut f, payload).unwrap();
        f.resize(f.len() + pad, 0);
        f
    }

    #[test]
    fn bytes_go_before_the_payload_and_checksums_hold() {
        for (pad, insert) in [(0, &b"HEAD"[..]), (6, b"HEAD"), (0, b"ODD"), (6, b"ODD")] {
            let f = v4_frame(b"query", pad);
            let info = parse_frame(&f).unwrap();
            let mut buf = HeapBuf::from_frame(&f).unwrap();
            let src = "10.0.0.2".parse().unwrap();
            let dst = "10.0.0.100".parse().unwrap();
            prepend_payload(&mut buf, &info, insert, src, dst).unwrap();
            let p = SlicedPacket::from_ethernet(buf.data()).unwrap();
            let Some(TransportSlice::Udp(udp)) = p.transport else {
                panic!("not UDP")
            };
            assert_eq!(udp.payload(), [insert, b"query"].concat());
            let grown = 5 + insert.len();
            assert_eq!(usize::from(udp.length()), 8 + grown);
            let h = udp.to_header();
            let Some(etherparse::InternetSlice::Ipv4(ip)) = &p.net else {
                panic!("not IPv4")
            };
            let iph = ip.header().to_header();
            assert_eq!(usize::from(iph.total_len), 20 + 8 + grown);
            assert_eq!(iph.header_checksum, iph.calc_header_checksum());
            assert_eq!(
                h.checksum,
                h.calc_checksum_ipv4(&iph, udp.payload()).unwrap()
            );
        }
    }

    /// Checks the UDP checksum of an IPv6 frame against etherparse's.
    fn v6_checksum_ok(f: &[u8]) -> bool {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let (Some(etherparse::InternetSlice::Ipv6(ip)), Some(TransportSlice::Udp(udp))) =
            (&p.net, &p.transport)
        else {
            panic!("not UDP over IPv6")
        };
        let h = udp.to_header();
        h.checksum
            == h.calc_checksum_ipv6(&ip.header().to_header(), udp.payload())
                .unwrap()
    }

    #[test]
    fn ipv6_odd_payloads_and_odd_inserts_keep_the_checksum() {
        let (s6, d6) = (
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            [0xfd; 16],
        );
        for payload in [&b""[..], b"q", b"odd", b"even"] {
            for insert in [&b"HEAD"[..], b"ODD", b"x"] {
                let b = PacketBuilder::ethernet2([2; 6], [4; 6])
                    .ipv6(s6, d6, 64)
                    .udp(40000, 53);
                let mut f = Vec::new();
                b.write(&mut f, payload).unwrap();
                let info = parse_frame(&f).unwrap();
                let mut buf = HeapBuf::from_frame(&f).unwrap();
                let (src, dst) = (IpAddr::from(s6), IpAddr::from(d6));
                prepend_payload(&mut buf, &info, insert, src, dst).unwrap();
                assert!(v6_checksum_ok(buf.data()), "{payload:?} after {insert:?}");
                let p = SlicedPacket::from_ethernet(buf.data()).unwrap();
                let Some(TransportSlice::Udp(udp)) = p.transport else {
                    panic!("not UDP")
                };
                assert_eq!(udp.payload(), [insert, payload].concat());
            }
        }
    }

    #[test]
    fn an_ipv4_datagram_without_checksum_stays_without() {
        let mut f = v4_frame(b"odd", 0);
        f[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
        let info = parse_frame(&f).unwrap();
        let mut buf = HeapBuf::from_frame(&f).unwrap();
        let a = "10.0.0.2".parse().unwrap();
        prepend_payload(&mut buf, &info, b"HEAD", a, a).unwrap();
        assert_eq!(&buf.data()[14 + 20 + 4..14 + 20 + 8], &[0, 8 + 7, 0, 0]);
    }

    #[test]
    fn a_tcp_frame_is_refused() {
        let b = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
            .tcp(1, 2, 3, 100);
        let mut f = Vec::new();
        b.write(&mut f, b"x").unwrap();
        let info = parse_frame(&f).unwrap();
        let mut buf = HeapBuf::from_frame(&f).unwrap();
        let a = "10.0.0.2".parse().unwrap();
        let r = prepend_payload(&mut buf, &info, b"HEAD", a, a);
        assert_eq!(r, Err(DropReason::Malformed));
        assert_eq!(buf.data(), &f[..]);
    }
}
