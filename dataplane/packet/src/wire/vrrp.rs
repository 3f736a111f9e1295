//! VRRP version 3 advertisements (RFC 5798, section 5.1) over IPv4.
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! |                       IPvX Address(es)                        |
//! ```
//! The checksum covers the IPv4 pseudo-header (source, destination, protocol 112, VRRP
//! length) and the VRRP message, as for TCP and UDP (RFC 5798 section 5.2.8).

use std::net::Ipv4Addr;

use super::be16;
use crate::checksum::{fold, pseudo_header_v4, sum};
use crate::drop::DropReason;

mod field {
    pub const VERSION_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const MAX_ADVER_INT: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const HEADER_LEN: usize = 8;
}

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group of VRRP (224.0.0.18).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Version 3, type 1 (advertisement): the first byte of every advert.
const VERSION3_ADVERT: u8 = 0x31;
/// The TTL every VRRP packet is sent with and must arrive with.
pub const TTL: u8 = 255;

/// A view of a VRRPv3 message (IPv4 addresses).
#[derive(Debug, Clone)]
pub struct VrrpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VrrpPacket<T> {
    /// Header length, before the addresses.
    pub const HEADER_LEN: usize = field::HEADER_LEN;

    /// Wrap a received message: version 3, type advertisement, and room for the
    /// addresses the count announces. The checksum is checked by [`Self::verify_checksum`].
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let b = buffer.as_ref();
        if b.len() < field::HEADER_LEN || b[field::VERSION_TYPE] != VERSION3_ADVERT {
            return Err(DropReason::Malformed);
        }
        if b.len() < field::HEADER_LEN + 4 * usize::from(b[field::COUNT]) {
            return Err(DropReason::Malformed);
        }
        Ok(Self { buffer })
    }

    /// Virtual router id.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// Priority of the sender (0: the master is stopping).
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// Number of addresses.
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// The sender's advertisement interval in centiseconds (12 bits).
    pub fn max_adver_int(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MAX_ADVER_INT) & 0x0fff
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The message's length (header and addresses; anything after is ignored).
    pub fn len(&self) -> usize {
        field::HEADER_LEN + 4 * usize::from(self.count())
    }

    /// Never true: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The addresses, in order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.buffer.as_ref()[field::HEADER_LEN..self.len()]
            .chunks_exact(4)
            .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    }

    /// True when the checksum over the pseudo-header of `src -> dst` and the message is right.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let msg = &self.buffer.as_ref()[..self.len()];
        !fold(pseudo_header_v4(src, dst, PROTOCOL, msg.len() as u16) + sum(msg)) == 0
    }
}

/// An advertisement's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VrrpRepr<'a> {
    /// Virtual router id.
    pub vrid: u8,
    /// Priority (0: stopping).
    pub priority: u8,
    /// Advertisement interval in centiseconds (at most 4095).
    pub max_adver_int: u16,
    /// The virtual addresses (at most 255).
    pub addresses: &'a [Ipv4Addr],
}

impl VrrpRepr<'_> {
    /// The message's length.
    pub fn len(&self) -> usize {
        field::HEADER_LEN + 4 * self.addresses.len().min(255)
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Write the message into `out` (at least [`Self::len`] bytes) with its checksum for
    /// `src -> dst`; returns the length written. `None` when `out` is too short.
    pub fn emit(&self, out: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Option<usize> {
        let len = self.len();
        let out = out.get_mut(..len)?;
        let count = self.addresses.len().min(255);
        out[field::VERSION_TYPE] = VERSION3_ADVERT;
        out[field::VRID] = self.vrid;
        out[field::PRIORITY] = self.priority;
        out[field::COUNT] = count as u8;
        out[field::MAX_ADVER_INT..field::MAX_ADVER_INT + 2]
            .copy_from_slice(&(self.max_adver_int & 0x0fff).to_be_bytes());
        out[field::CHECKSUM..field::CHECKSUM + 2].fill(0);
        for (slot, a) in out[field::HEADER_LEN..]
            .chunks_exact_mut(4)
            .zip(&self.addresses[..count])
        {
            slot.copy_from_slice(&a.octets());
        }
        let c = !fold(pseudo_header_v4(src, dst, PROTOCOL, len as u16) + sum(out));
        out[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `IP(src="10.0.0.1", dst="224.0.0.18", ttl=255) / VRRPv3(vrid=51, priority=150,
    /// adv=100, addrlist=["10.0.0.100", "10.0.0.101"])`, as bytes from scapy 2.5.
    const SCAPY: &str = "4500002400010000ff70d1550a000001e000001231339602006439090a0000640a000065";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const VIPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 101)];

    #[test]
    fn parses_scapys_advert() {
        let ip = hex(SCAPY);
        let p = VrrpPacket::new_checked(&ip[20..]).unwrap();
        assert_eq!((p.vrid(), p.priority(), p.count()), (51, 150, 2));
        assert_eq!(p.max_adver_int(), 100);
        assert_eq!(p.checksum(), 0x3909);
        assert_eq!(p.addresses().collect::<Vec<_>>(), VIPS);
        assert!(p.verify_checksum(SRC, GROUP_V4));
        // The pseudo-header counts: another destination fails.
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn emits_scapys_bytes() {
        let ip = hex(SCAPY);
        let repr = VrrpRepr {
            vrid: 51,
            priority: 150,
            max_adver_int: 100,
            addresses: &VIPS,
        };
        let mut out = [0u8; 64];
        let n = repr.emit(&mut out, SRC, GROUP_V4).unwrap();
        assert_eq!(&out[..n], &ip[20..]);
        assert_eq!(repr.emit(&mut out[..10], SRC, GROUP_V4), None);
    }

    #[test]
    fn refuses_other_versions_and_short_messages() {
        let ip = hex(SCAPY);
        let mut v2 = ip[20..].to_vec();
        v2[0] = 0x21;
        assert!(VrrpPacket::new_checked(&v2).is_err());
        assert!(VrrpPacket::new_checked(&ip[20..27]).is_err());
        // The count announces more addresses than there are.
        let mut more = ip[20..].to_vec();
        more[3] = 3;
        assert!(VrrpPacket::new_checked(&more).is_err());
    }

    /// Whatever the bytes, a view never panics.
    #[test]
    fn arbitrary_bytes_never_panic() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..64))| {
            if let Ok(p) = VrrpPacket::new_checked(&bytes[..]) {
                let _ = (p.vrid(), p.priority(), p.max_adver_int(), p.addresses().count());
                let _ = p.verify_checksum(SRC, GROUP_V4);
            }
        });
    }
}
