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
/// whose addresses are now `src` and `dst`. Ethernet padding is dropped first; the UDP
/// checksum is computed afresh over the grown datagram (a datagram that had none gets
/// one). [`DropReason::Malformed`] for a frame that is not one whole UDP datagram,
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
    let dgram = &mut f[l4..end + n];
    put16(dgram, UDP_LENGTH_OFFSET, udp_len as u16);
    put16(dgram, UDP_CHECKSUM_OFFSET, 0);
    let mut c = !fold(pseudo_header(src, dst, 17, udp_len as u32) + sum(dgram));
    if c == 0 {
        c = 0xffff;
    }
    put16(dgram, UDP_CHECKSUM_OFFSET, c);
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
        for pad in [0, 6] {
            let f = v4_frame(b"query", pad);
            let info = parse_frame(&f).unwrap();
            let mut buf = HeapBuf::from_frame(&f).unwrap();
            let src = "10.0.0.2".parse().unwrap();
            let dst = "10.0.0.100".parse().unwrap();
            prepend_payload(&mut buf, &info, b"HEAD", src, dst).unwrap();
            let p = SlicedPacket::from_ethernet(buf.data()).unwrap();
            let Some(TransportSlice::Udp(udp)) = p.transport else {
                panic!("not UDP")
            };
            assert_eq!(udp.payload(), b"HEADquery");
            assert_eq!(udp.length(), 8 + 9);
            let h = udp.to_header();
            let Some(etherparse::InternetSlice::Ipv4(ip)) = &p.net else {
                panic!("not IPv4")
            };
            let iph = ip.header().to_header();
            assert_eq!(iph.total_len, 20 + 17);
            assert_eq!(iph.header_checksum, iph.calc_header_checksum());
            assert_eq!(
                h.checksum,
                h.calc_checksum_ipv4(&iph, udp.payload()).unwrap()
            );
        }
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
