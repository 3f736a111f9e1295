//! TCP headers (RFC 9293): ports, data offset, flags, checksum.

use super::{be16, put16};
use crate::drop::DropReason;

pub(crate) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// Offset of the checksum field in the TCP header.
pub(crate) const TCP_CHECKSUM_OFFSET: usize = field::CHECKSUM;

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// FIN flag bit.
pub const FIN: u8 = 0x01;
/// SYN flag bit.
pub const SYN: u8 = 0x02;
/// RST flag bit.
pub const RST: u8 = 0x04;
/// PSH flag bit.
pub const PSH: u8 = 0x08;
/// ACK flag bit.
pub const ACK: u8 = 0x10;
/// URG flag bit.
pub const URG: u8 = 0x20;

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Option-less header length.
    pub const MIN_HEADER_LEN: usize = field::MIN_HEADER_LEN;

    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received segment: `20 <= data offset * 4 <= buffer length`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::MIN_HEADER_LEN {
            return Err(DropReason::Malformed);
        }
        let hl = usize::from(b[field::DATA_OFF] >> 4) * 4;
        if hl < field::MIN_HEADER_LEN || hl > b.len() {
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

    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([
            b[field::SEQ],
            b[field::SEQ + 1],
            b[field::SEQ + 2],
            b[field::SEQ + 3],
        ])
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([
            b[field::ACK],
            b[field::ACK + 1],
            b[field::ACK + 2],
            b[field::ACK + 3],
        ])
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The segment's data (after the header).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Set the flags byte.
    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
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
        let mut h = etherparse::TcpHeader::new(1234, 80, 0xdead_beef, 4096);
        h.syn = true;
        h.ack = true;
        h.acknowledgment_number = 77;
        h.set_options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
            .unwrap();
        let mut b = h.to_bytes().to_vec();
        b.extend_from_slice(b"hi");
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.seq(), p.ack()),
            (1234, 80, 0xdead_beef, 77)
        );
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), SYN | ACK);
        assert_eq!((p.window(), p.payload()), (4096, &b"hi"[..]));
        assert!(TcpPacket::new_checked(&b[..23]).is_err());
        let mut bad = b.clone();
        bad[12] = 0x40; // data offset 16 bytes
        assert!(TcpPacket::new_checked(&bad[..]).is_err());
        let mut w = TcpPacket::new_unchecked(&mut b[..]);
        w.set_src_port(1);
        w.set_dst_port(2);
        w.set_flags(FIN);
        w.set_checksum(0xabcd);
        let (h2, _) = etherparse::TcpHeader::from_slice(&b).unwrap();
        assert_eq!(
            (h2.source_port, h2.destination_port, h2.checksum),
            (1, 2, 0xabcd)
        );
        assert!(h2.fin && !h2.syn);
    }
}
