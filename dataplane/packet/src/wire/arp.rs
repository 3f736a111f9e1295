//! ARP for Ethernet and IPv4 (RFC 826).

use std::net::Ipv4Addr;

use super::{array, be16, ethertype, put16, MacAddr};
use crate::drop::DropReason;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const LEN: usize = 28;
}

/// ARP packet length for Ethernet/IPv4.
pub const ARP_LEN: usize = field::LEN;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// ARP request opcode.
pub const REQUEST: u16 = 1;
/// ARP reply opcode.
pub const REPLY: u16 = 2;

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received packet: 28 bytes, Ethernet hardware, IPv4 protocol, lengths 6 and 4.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::LEN
            || be16(b, field::HTYPE) != 1
            || be16(b, field::PTYPE) != ethertype::IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// Operation (1 request, 2 reply).
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(array(self.buffer.as_ref(), field::SHA))
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buffer.as_ref(), field::SPA))
    }

    /// Target hardware address.
    #[inline]
    pub fn target_mac(&self) -> MacAddr {
        MacAddr(array(self.buffer.as_ref(), field::THA))
    }

    /// Target protocol address.
    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Write the fixed Ethernet/IPv4 header fields (hardware/protocol types and lengths).
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        put16(b, field::HTYPE, 1);
        put16(b, field::PTYPE, ethertype::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    /// Set the operation.
    #[inline]
    pub fn set_operation(&mut self, op: u16) {
        put16(self.buffer.as_mut(), field::OPER, op);
    }

    /// Set the sender hardware address.
    #[inline]
    pub fn set_sender_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SHA..field::SHA + 6].copy_from_slice(&mac.0);
    }

    /// Set the sender protocol address.
    #[inline]
    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA..field::SPA + 4].copy_from_slice(&ip.octets());
    }

    /// Set the target hardware address.
    #[inline]
    pub fn set_target_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::THA..field::THA + 6].copy_from_slice(&mac.0);
    }

    /// Set the target protocol address.
    #[inline]
    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA..field::TPA + 4].copy_from_slice(&ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_and_getters_match_rfc826_layout() {
        let mut b = [0u8; 28];
        let mut p = ArpPacket::new_unchecked(&mut b[..]);
        p.set_ethernet_ipv4();
        p.set_operation(REQUEST);
        p.set_sender_mac(MacAddr([2, 0, 0, 0, 0, 1]));
        p.set_sender_ip(Ipv4Addr::new(10, 0, 0, 1));
        p.set_target_mac(MacAddr::ZERO);
        p.set_target_ip(Ipv4Addr::new(10, 0, 0, 2));
        // etherparse 0.16 has no ARP: check against the layout written out by hand.
        let expected = [
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        assert_eq!(b, expected);
        let v = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(v.sender_ip(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(v.target_ip(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(v.sender_mac(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(v.target_mac(), MacAddr::ZERO);
        assert_eq!(v.operation(), 1);
        assert!(ArpPacket::new_checked(&b[..27]).is_err());
        b[5] = 16;
        assert!(ArpPacket::new_checked(&b[..]).is_err());
    }
}
