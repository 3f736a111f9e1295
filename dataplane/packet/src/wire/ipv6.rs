//! IPv6 headers (RFC 8200) and the walk over extension headers to the upper layer.

use std::net::Ipv6Addr;

use super::{array, be16, ip_proto, put16};
use crate::drop::DropReason;

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const HEADER_LEN: usize = 40;
}

/// IPv6 fixed header length.
pub const IPV6_HEADER_LEN: usize = field::HEADER_LEN;

/// Most extension headers the walk follows before giving up (a bounded loop).
pub const MAX_EXT_HEADERS: usize = 8;

/// Where the upper-layer protocol starts, found by [`Ipv6Packet::upper_layer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer {
    /// Upper-layer protocol (the last next-header value).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// A fragment header was present.
    pub fragmented: bool,
    /// Fragment offset in bytes (0 for the first fragment or no fragment header).
    pub frag_offset: u16,
    /// The fragment header's M flag.
    pub more_frags: bool,
    /// The fragment header's identification (0 without one).
    pub frag_ident: u32,
}

/// Walk extension headers in `b[start..end]` beginning with next header `next`.
/// Hop-by-hop, routing, destination options and fragment headers are skipped; anything
/// else is the upper layer. More than [`MAX_EXT_HEADERS`] headers is refused.
pub(crate) fn walk_ext(
    b: &[u8],
    mut next: u8,
    start: usize,
    end: usize,
) -> Result<UpperLayer, DropReason> {
    let end = end.min(b.len());
    let mut off = start;
    let mut up = UpperLayer {
        protocol: next,
        offset: start,
        fragmented: false,
        frag_offset: 0,
        more_frags: false,
        frag_ident: 0,
    };
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            ip_proto::HOP_BY_HOP | ip_proto::ROUTING | ip_proto::DST_OPTS => {
                if off + 2 > end {
                    return Err(DropReason::Malformed);
                }
                let len = (usize::from(b[off + 1]) + 1) * 8;
                next = b[off];
                off += len;
            }
            ip_proto::FRAGMENT => {
                if off + 8 > end {
                    return Err(DropReason::Malformed);
                }
                let fo = be16(b, off + 2);
                up.fragmented = true;
                up.frag_offset = fo & 0xfff8;
                up.more_frags = fo & 1 == 1;
                up.frag_ident = u32::from_be_bytes(array(b, off + 4));
                next = b[off];
                off += 8;
            }
            _ => {
                up.protocol = next;
                up.offset = off;
                return Ok(up);
            }
        }
        if off > end {
            return Err(DropReason::Malformed);
        }
    }
    Err(DropReason::UnsupportedProtocol)
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Fixed header length.
    pub const HEADER_LEN: usize = IPV6_HEADER_LEN;

    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received packet: version 6 and `40 + payload_len <= buffer length`
    /// (a jumbogram's zero payload length is accepted as an empty payload).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::HEADER_LEN
            || b[field::VER_TC_FLOW] >> 4 != 6
            || field::HEADER_LEN + usize::from(be16(b, field::PAYLOAD_LEN)) > b.len()
        {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// Version field (6 once checked).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]])
    }

    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// The first next-header value.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buffer.as_ref(), field::SRC))
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buffer.as_ref(), field::DST))
    }

    /// Everything after the fixed header up to `payload_len` (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()
            [field::HEADER_LEN..field::HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Skip extension headers to the upper-layer protocol (bounded, see [`MAX_EXT_HEADERS`]).
    #[inline]
    pub fn upper_layer(&self) -> Result<UpperLayer, DropReason> {
        let end = field::HEADER_LEN + usize::from(self.payload_len());
        walk_ext(
            self.buffer.as_ref(),
            self.next_header(),
            field::HEADER_LEN,
            end,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Set version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        self.buffer.as_mut()[0..4].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PAYLOAD_LEN, v);
    }

    /// Set the first next-header value.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Set the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Set the source address.
    #[inline]
    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv6Header};

    fn with_exts(exts: &[u8], first: u8, payload: &[u8]) -> Vec<u8> {
        let h = Ipv6Header {
            traffic_class: 0x2e,
            flow_label: 0x12345.try_into().unwrap(),
            payload_length: (exts.len() + payload.len()) as u16,
            next_header: IpNumber(first),
            hop_limit: 33,
            source: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            destination: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        };
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(exts);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn fixed_fields() {
        let b = with_exts(&[], 6, &[0; 20]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.traffic_class(), p.flow_label(), p.hop_limit()),
            (0x2e, 0x12345, 33)
        );
        assert_eq!(p.src(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        let up = p.upper_layer().unwrap();
        assert_eq!((up.protocol, up.offset, up.fragmented), (6, 40, false));
        assert!(Ipv6Packet::new_checked(&b[..59]).is_err());
        let mut out = [0u8; 40];
        let mut w = Ipv6Packet::new_unchecked(&mut out[..]);
        w.set_version_tc_flow(0x2e, 0x12345);
        w.set_payload_len(20);
        w.set_next_header(6);
        w.set_hop_limit(33);
        w.set_src(p.src());
        w.set_dst(p.dst());
        assert_eq!(&out[..], &b[..40]);
    }

    #[test]
    fn extension_headers_are_skipped() {
        // hop-by-hop (8) -> routing (16) -> destination options (8) -> fragment (8) -> UDP
        let mut e = vec![ip_proto::ROUTING, 0, 1, 4, 0, 0, 0, 0];
        e.extend_from_slice(&[
            ip_proto::DST_OPTS,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        e.extend_from_slice(&[ip_proto::FRAGMENT, 0, 1, 4, 0, 0, 0, 0]);
        e.extend_from_slice(&[ip_proto::UDP, 0, 0x00, 0x01, 0, 0, 0, 9]); // offset 0, M=1
        let b = with_exts(&e, ip_proto::HOP_BY_HOP, &[0; 8]);
        let up = Ipv6Packet::new_checked(&b[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!(up.protocol, ip_proto::UDP);
        assert_eq!(up.offset, 40 + 40);
        assert!(up.fragmented && up.more_frags && up.frag_offset == 0);
        // non-first fragment
        let mut e2 = e.clone();
        let n = e2.len();
        e2[n - 6..n - 4].copy_from_slice(&[0x00, 0xb8]); // offset 23*8 = 184
        let b2 = with_exts(&e2, ip_proto::HOP_BY_HOP, &[0; 8]);
        let up2 = Ipv6Packet::new_checked(&b2[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!((up2.frag_offset, up2.more_frags), (184, false));
    }

    #[test]
    fn runaway_or_truncated_chains_are_refused() {
        let e: Vec<u8> = (0..10)
            .flat_map(|_| [ip_proto::DST_OPTS, 0, 0, 0, 0, 0, 0, 0])
            .collect();
        let b = with_exts(&e, ip_proto::DST_OPTS, &[]);
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(DropReason::UnsupportedProtocol));
        let b = with_exts(
            &[ip_proto::TCP, 3, 0, 0, 0, 0, 0, 0],
            ip_proto::HOP_BY_HOP,
            &[],
        );
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(DropReason::Malformed));
    }
}
