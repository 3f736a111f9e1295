//! ICMPv6 (RFC 4443): echo, the error messages that quote a packet, and the checksum with
//! its pseudo-header. Neighbour discovery bodies are in [`super::ndisc`].

use std::net::Ipv6Addr;

use super::{be16, ip_proto, put16};
use crate::checksum;
use crate::drop::DropReason;

/// Destination unreachable.
pub const DEST_UNREACH: u8 = 1;
/// Packet too big.
pub const PACKET_TOO_BIG: u8 = 2;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 3;
/// Parameter problem.
pub const PARAM_PROBLEM: u8 = 4;
/// Echo request.
pub const ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Neighbour solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbour advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;

/// True for the error types that quote the offending packet (types below 128).
pub const fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        DEST_UNREACH | PACKET_TOO_BIG | TIME_EXCEEDED | PARAM_PROBLEM
    )
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const MTU: usize = 4;
    pub const HEADER_LEN: usize = 8;
}

/// Unfolded checksum sum of an ICMPv6 message between `src` and `dst` (pseudo-header
/// included). Finish with `!checksum::fold(..)`.
pub(crate) fn icmpv6_sum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u64 {
    checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, msg.len() as u32) + checksum::sum(msg)
}

/// A view of an ICMPv6 message (the slice must end where the message ends).
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Header length (type, code, checksum and the 4-byte rest of header).
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received message: at least the 8-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        if buffer.as_ref().len() < field::HEADER_LEN {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (meaningful for echo messages).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number (meaningful for echo messages).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SEQ)
    }

    /// MTU of a "packet too big" message.
    #[inline]
    pub fn mtu(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([
            b[field::MTU],
            b[field::MTU + 1],
            b[field::MTU + 2],
            b[field::MTU + 3],
        ])
    }

    /// True when this is an error message quoting a packet.
    #[inline]
    pub fn is_error(&self) -> bool {
        is_error(self.msg_type())
    }

    /// Everything after the 8-byte header: echo data, or an error's quoted packet.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }

    /// True when the checksum (with the pseudo-header of `src`, `dst`) verifies.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::fold(icmpv6_sum(src, dst, self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Set the message type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set the message code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Set the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Compute and store the checksum (pseudo-header of `src`, `dst` included).
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = !checksum::fold(icmpv6_sum(src, dst, self.buffer.as_ref()));
        self.set_checksum(c);
    }

    /// The data after the header, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IcmpEchoHeader, Icmpv6Header, Icmpv6Type};

    #[test]
    fn echo_and_checksum_match_etherparse() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let t = Icmpv6Type::EchoRequest(IcmpEchoHeader { id: 5, seq: 6 });
        let h = Icmpv6Header::with_checksum(t, s.octets(), d.octets(), b"abc").unwrap();
        let mut b = h.to_bytes().to_vec();
        b.extend_from_slice(b"abc");
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.msg_type(), p.echo_ident(), p.echo_seq()),
            (ECHO_REQUEST, 5, 6)
        );
        assert!(p.verify_checksum(s, d));
        assert!(!p.verify_checksum(d, "::1".parse().unwrap()));
        let mut w = Icmpv6Packet::new_unchecked(&mut b[..]);
        w.set_msg_type(ECHO_REPLY);
        w.fill_checksum(d, s);
        let (h2, rest) = Icmpv6Header::from_slice(&b).unwrap();
        assert_eq!(
            h2.checksum,
            h2.icmp_type
                .calc_checksum(d.octets(), s.octets(), rest)
                .unwrap()
        );
    }

    #[test]
    fn packet_too_big_mtu() {
        let b = [2, 0, 0, 0, 0, 0, 0x05, 0x00];
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_error());
        assert_eq!(p.mtu(), 1280);
    }
}
