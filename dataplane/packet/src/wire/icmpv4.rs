//! ICMP for IPv4 (RFC 792): echo and the error messages that quote a packet.

use super::{be16, put16};
use crate::checksum;
use crate::drop::DropReason;

/// Echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const DEST_UNREACH: u8 = 3;
/// Source quench (deprecated, still quotes a packet).
pub const SOURCE_QUENCH: u8 = 4;
/// Echo request.
pub const ECHO_REQUEST: u8 = 8;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter problem.
pub const PARAM_PROBLEM: u8 = 12;
/// Destination unreachable code: fragmentation needed and DF set.
pub const CODE_FRAG_NEEDED: u8 = 4;

/// True for the error types that quote the offending packet.
pub const fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        DEST_UNREACH | SOURCE_QUENCH | TIME_EXCEEDED | PARAM_PROBLEM
    )
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const MTU: usize = 6;
    pub const HEADER_LEN: usize = 8;
}

/// A view of an ICMP message (the slice must end where the message ends).
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
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

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MTU)
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

    /// True when the checksum over the whole message verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::internet_checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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

    /// Compute and store the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::internet_checksum(self.buffer.as_ref());
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
    use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type};

    #[test]
    fn echo_fields_and_checksum_match_etherparse() {
        let t = Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 0x4242, seq: 9 });
        let h = Icmpv4Header::with_checksum(t, b"ping");
        let mut b = h.to_bytes().to_vec();
        b.extend_from_slice(b"ping");
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.msg_type(), p.code(), p.echo_ident(), p.echo_seq()),
            (8, 0, 0x4242, 9)
        );
        assert!(p.verify_checksum() && !p.is_error());
        assert_eq!(p.data(), b"ping");
        let mut w = Icmpv4Packet::new_unchecked(&mut b[..]);
        w.set_msg_type(ECHO_REPLY);
        w.set_echo_ident(7);
        w.fill_checksum();
        let (h2, rest) = Icmpv4Header::from_slice(&b).unwrap();
        assert_eq!(h2.checksum, h2.icmp_type.calc_checksum(rest));
        assert!(matches!(h2.icmp_type, Icmpv4Type::EchoReply(e) if e.id == 7));
        assert!(Icmpv4Packet::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn frag_needed_mtu() {
        let b = [3, 4, 0, 0, 0, 0, 0x05, 0xdc, 0x45];
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_error());
        assert_eq!(
            (p.code(), p.next_hop_mtu(), p.data()),
            (CODE_FRAG_NEEDED, 1500, &[0x45][..])
        );
    }
}
