//! IPv4 headers (RFC 791): options skipped through IHL, lengths validated, fragments
//! recognised.

use std::net::Ipv4Addr;

use super::{array, be16, put16};
use crate::checksum;
use crate::drop::DropReason;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// Minimum (option-less) IPv4 header length.
pub const IPV4_HEADER_LEN: usize = field::MIN_HEADER_LEN;

const DF: u16 = 0x4000;
const MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Option-less header length.
    pub const MIN_HEADER_LEN: usize = IPV4_HEADER_LEN;

    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received packet: version 4, `20 <= header_len <= total_len <= buffer length`.
    /// Bytes past `total_len` (Ethernet padding) are allowed and ignored by [`Self::payload`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::MIN_HEADER_LEN || b[field::VER_IHL] >> 4 != 4 {
            return Err(DropReason::Malformed);
        }
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        let tl = usize::from(be16(b, field::TOTAL_LEN));
        if hl < field::MIN_HEADER_LEN || tl < hl || tl > b.len() {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// Version field (4 once checked).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service byte (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length field.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & DF != 0
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG) & MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), field::FLAGS_FRAG) & OFFSET_MASK) * 8
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buffer.as_ref(), field::SRC))
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buffer.as_ref(), field::DST))
    }

    /// True when the header checksum verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::internet_checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    /// The options (between the fixed header and the payload).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload: from the end of the header to `total_len` (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Set version 4 and the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Set the type of service byte.
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::TOTAL_LEN, v);
    }

    /// Set the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Set flags and fragment offset: DF as given, MF clear, offset 0 (an unfragmented packet).
    #[inline]
    pub fn set_unfragmented(&mut self, dont_frag: bool) {
        put16(
            self.buffer.as_mut(),
            field::FLAGS_FRAG,
            if dont_frag { DF } else { 0 },
        );
    }

    /// Set the time to live.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Set the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Set the source address.
    #[inline]
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&a.octets());
    }

    /// Compute and store the header checksum (options included).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::internet_checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    /// The payload, writable (padding excluded).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header, Ipv4Options};

    fn header_with_options() -> Vec<u8> {
        let mut h = Ipv4Header::new(8, 64, IpNumber::UDP, [10, 0, 0, 1], [10, 0, 0, 2]).unwrap();
        h.options = Ipv4Options::try_from(&[1u8, 1, 1, 0][..]).unwrap();
        h.dont_fragment = true;
        h.identification = 0x1234;
        h.total_len = (h.header_len() + 8) as u16;
        h.header_checksum = h.calc_header_checksum();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 0]); // 8 payload + 2 padding
        v
    }

    #[test]
    fn options_skipped_and_lengths_checked() {
        let b = header_with_options();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0);
        assert_eq!((p.ttl(), p.protocol(), p.ident()), (64, 17, 0x1234));
        assert!(p.verify_checksum());
        assert!(
            Ipv4Packet::new_checked(&b[..31]).is_err(),
            "total length beyond buffer"
        );
        let mut bad = b.clone();
        bad[0] = 0x44; // IHL 16 bytes
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        let mut bad = b.clone();
        bad[3] = 20; // total length below header length
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
    }

    #[test]
    fn setters_produce_a_header_etherparse_accepts() {
        let mut b = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version_and_header_len(20);
        p.set_tos(0xb8);
        p.set_total_len(28);
        p.set_ident(7);
        p.set_unfragmented(true);
        p.set_ttl(9);
        p.set_protocol(4);
        p.set_src(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst(Ipv4Addr::new(5, 6, 7, 8));
        p.fill_checksum();
        let (h, _) = Ipv4Header::from_slice(&b).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(
            (h.time_to_live, h.protocol, h.identification),
            (9, IpNumber(4), 7)
        );
        assert!(h.dont_fragment && !h.more_fragments);
        assert_eq!((h.source, h.destination), ([1, 2, 3, 4], [5, 6, 7, 8]));
    }
}
