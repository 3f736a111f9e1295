//! Ethernet II frames with at most one 802.1Q tag.

use std::fmt;

use super::{array, be16, ethertype, put16};
use crate::drop::DropReason;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The multicast MAC of an IPv6 multicast address (33:33 + its low 32 bits, RFC 2464).
    #[inline]
    pub fn ipv6_multicast(addr: std::net::Ipv6Addr) -> MacAddr {
        let o = addr.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }

    /// The multicast MAC of an IPv4 multicast address (01:00:5e + its low 23 bits,
    /// RFC 1112).
    #[inline]
    pub fn ipv4_multicast(addr: std::net::Ipv4Addr) -> MacAddr {
        let o = addr.octets();
        MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    /// True for group (multicast or broadcast) addresses.
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const VLAN_TCI: usize = 14;
    pub const INNER_ETHERTYPE: usize = 16;
    pub const HEADER_LEN: usize = 14;
    pub const VLAN_HEADER_LEN: usize = 18;
}

/// A view of an Ethernet II frame, optionally 802.1Q tagged.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wrap without checks (for buffers built by the caller).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received frame: the header (with its tag, if any) must be present.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let f = Self::new_unchecked(buffer);
        let len = f.buffer.as_ref().len();
        if len < field::HEADER_LEN || len < f.header_len() {
            return Err(DropReason::Malformed);
        }
        Ok(f)
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> MacAddr {
        MacAddr(array(self.buffer.as_ref(), field::DST.start))
    }

    /// Source MAC.
    #[inline]
    pub fn src(&self) -> MacAddr {
        MacAddr(array(self.buffer.as_ref(), field::SRC.start))
    }

    /// The EtherType right after the addresses (0x8100 when tagged).
    #[inline]
    pub fn outer_ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// True when an 802.1Q tag follows the addresses.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        self.outer_ethertype() == ethertype::VLAN
    }

    /// The 802.1Q tag control information (priority, DEI, VLAN id), when tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        self.is_tagged()
            .then(|| be16(self.buffer.as_ref(), field::VLAN_TCI))
    }

    /// The EtherType of the payload (past the tag, if any).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        if self.is_tagged() {
            be16(self.buffer.as_ref(), field::INNER_ETHERTYPE)
        } else {
            self.outer_ethertype()
        }
    }

    /// Header length: 14, or 18 with a tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::VLAN_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// The payload (the L3 packet and any padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Set the destination MAC.
    #[inline]
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac.0);
    }

    /// Set the source MAC.
    #[inline]
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac.0);
    }

    /// Set the payload EtherType (past the tag, if any).
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        put16(self.buffer.as_mut(), at, value);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_and_tagged_headers() {
        let mut f = [0u8; 20];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(
            (e.header_len(), e.ethertype(), e.vlan_tci()),
            (14, 0x0800, None)
        );
        f[12..18].copy_from_slice(&[0x81, 0x00, 0x20, 0x0a, 0x86, 0xdd]);
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(
            (e.header_len(), e.ethertype(), e.vlan_tci()),
            (18, 0x86dd, Some(0x200a))
        );
        assert_eq!(e.payload().len(), 2);
        assert!(EthernetFrame::new_checked(&f[..17]).is_err());
        assert!(EthernetFrame::new_checked(&f[..13]).is_err());
    }

    #[test]
    fn setters_write_the_right_bytes() {
        let mut f = [0u8; 18];
        f[12..18].copy_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        let mut e = EthernetFrame::new_checked(&mut f[..]).unwrap();
        e.set_dst(MacAddr([1, 2, 3, 4, 5, 6]));
        e.set_src(MacAddr([7, 8, 9, 10, 11, 12]));
        e.set_ethertype(0x86dd);
        assert_eq!(e.dst().to_string(), "01:02:03:04:05:06");
        assert_eq!(
            &f[..18],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0, 0, 5, 0x86, 0xdd]
        );
    }
}
