//! Neighbour solicitation and advertisement bodies (RFC 4861 sections 4.3, 4.4) with the
//! source / target link-layer address options.

use std::net::Ipv6Addr;

use super::{array, icmpv6, MacAddr};
use crate::drop::DropReason;

/// Source link-layer address option type.
pub const OPT_SOURCE_LL: u8 = 1;
/// Target link-layer address option type.
pub const OPT_TARGET_LL: u8 = 2;
/// Router flag of an advertisement.
pub const FLAG_ROUTER: u8 = 0x80;
/// Solicited flag of an advertisement.
pub const FLAG_SOLICITED: u8 = 0x40;
/// Override flag of an advertisement.
pub const FLAG_OVERRIDE: u8 = 0x20;
/// Length of an NS/NA without options.
pub const NDISC_LEN: usize = field::OPTIONS;
/// Length of an Ethernet link-layer address option.
pub const LL_OPTION_LEN: usize = 8;

mod field {
    pub const TYPE: usize = 0;
    pub const FLAGS: usize = 4;
    pub const TARGET: usize = 8;
    pub const OPTIONS: usize = 24;
}

/// A view of a neighbour solicitation or advertisement (the whole ICMPv6 message).
#[derive(Debug, Clone)]
pub struct NdiscPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdiscPacket<T> {
    /// Wrap without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap a received NS or NA: type 135 or 136 and at least 24 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::OPTIONS
            || !matches!(
                b[field::TYPE],
                icmpv6::NEIGHBOR_SOLICIT | icmpv6::NEIGHBOR_ADVERT
            )
        {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// ICMPv6 type (135 NS, 136 NA).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Advertisement flags byte (R, S, O in the high bits).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Target address.
    #[inline]
    pub fn target(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.buffer.as_ref(), field::TARGET))
    }

    /// The Ethernet address of the first link-layer option of `kind` (1 source, 2 target).
    /// A zero-length option (invalid per RFC 4861) ends the walk.
    #[inline]
    pub fn link_layer_option(&self, kind: u8) -> Option<MacAddr> {
        let b = self.buffer.as_ref();
        let mut off = field::OPTIONS;
        while off + 2 <= b.len() {
            let len = usize::from(b[off + 1]) * 8;
            if len == 0 || off + len > b.len() {
                return None;
            }
            if b[off] == kind && len >= LL_OPTION_LEN {
                return Some(MacAddr(array(b, off + 2)));
            }
            off += len;
        }
        None
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdiscPacket<T> {
    /// Set the flags byte and clear the reserved bytes after it.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS..field::TARGET].copy_from_slice(&[flags, 0, 0, 0]);
    }

    /// Set the target address.
    #[inline]
    pub fn set_target(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET..field::OPTIONS].copy_from_slice(&a.octets());
    }

    /// Write one Ethernet link-layer option of `kind` as the first option (the buffer
    /// must hold 32 bytes).
    #[inline]
    pub fn set_link_layer_option(&mut self, kind: u8, mac: MacAddr) {
        let o = &mut self.buffer.as_mut()[field::OPTIONS..field::OPTIONS + LL_OPTION_LEN];
        o[0] = kind;
        o[1] = 1;
        o[2..8].copy_from_slice(&mac.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_found_and_bad_ones_stop_the_walk() {
        let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&[14, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // nonce option
        b.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 9]);
        let p = NdiscPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.target(), "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            p.link_layer_option(OPT_SOURCE_LL),
            Some(MacAddr([2, 0, 0, 0, 0, 9]))
        );
        assert_eq!(p.link_layer_option(OPT_TARGET_LL), None);
        let mut z = b.clone();
        z[25] = 0;
        assert_eq!(
            NdiscPacket::new_checked(&z[..])
                .unwrap()
                .link_layer_option(1),
            None
        );
        assert!(NdiscPacket::new_checked(&b[..23]).is_err());
        let mut w = NdiscPacket::new_unchecked(&mut b[..]);
        w.set_flags(FLAG_SOLICITED | FLAG_OVERRIDE);
        w.set_link_layer_option(OPT_TARGET_LL, MacAddr([1; 6]));
        let p = NdiscPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.flags(), p.link_layer_option(2)),
            (0x60, Some(MacAddr([1; 6])))
        );
    }
}
