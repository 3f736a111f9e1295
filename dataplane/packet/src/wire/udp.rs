//! UDP headers (RFC 768).

use super::{be16, put16};
use crate::drop::DropReason;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const HEADER_LEN: usize = 8;
}

/// Offset of the checksum field in the UDP header.
pub(crate) const UDP_CHECKSUM_OFFSET: usize = field::CHECKSUM;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Header length.
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received datagram: `8 <= length field <= buffer length`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(DropReason::Malformed);
        }
        let l = usize::from(be16(b, field::LENGTH));
        if l < field::HEADER_LEN || l > b.len() {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header included).
    #[inline]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// True when the length field says there is no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= field::HEADER_LEN
    }

    /// Checksum field (0 over IPv4 means "none").
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram's data, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Set the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Set the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Set the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_etherparse() {
        let h = etherparse::UdpHeader {
            source_port: 53,
            destination_port: 3333,
            length: 11,
            checksum: 0x1111,
        };
        let mut b = h.to_bytes().to_vec();
        b.extend_from_slice(b"abc\0"); // one byte of padding past the length
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (53, 3333, 11, 0x1111)
        );
        assert_eq!(p.payload(), b"abc");
        assert!(!p.is_empty());
        assert!(UdpPacket::new_checked(&b[..10]).is_err());
        let mut bad = b.clone();
        bad[5] = 7;
        assert!(UdpPacket::new_checked(&bad[..]).is_err());
        let mut w = UdpPacket::new_unchecked(&mut b[..]);
        w.set_src_port(1);
        w.set_dst_port(2);
        w.set_len(12);
        w.set_checksum(3);
        let (h2, _) = etherparse::UdpHeader::from_slice(&b).unwrap();
        assert_eq!(
            (h2.source_port, h2.destination_port, h2.length, h2.checksum),
            (1, 2, 12, 3)
        );
    }
}
