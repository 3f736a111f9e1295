//! Address types of the configuration: prefixes, MAC addresses, persistence masks.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP address with a prefix length, IPv4 or IPv6 (`10.0.0.1/24`, `2001:db8::/32`).
///
/// Port addresses keep their host bits (`10.0.0.1/24` is "10.0.0.1 on 10.0.0.0/24");
/// route prefixes are validated to have none. Written without `/len`, an address is a
/// host prefix (/32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpNetError {
    /// The part before `/` is not an IP address.
    #[error("not an IP address")]
    BadAddress,
    /// The part after `/` is not a decimal number.
    #[error("the prefix length is not a number")]
    BadLength,
    /// The prefix length is longer than the address.
    #[error("the prefix length is longer than the address (32 for IPv4, 128 for IPv6)")]
    LengthTooLarge,
}

impl IpNet {
    /// `addr/len`, or `None` when `len` is longer than the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        (len <= max_len(addr)).then_some(Self { addr, len })
    }

    /// The address as written (host bits kept).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The prefix with the host bits cleared.
    pub fn network(&self) -> IpNet {
        Self {
            addr: mask_addr(self.addr, self.len),
            len: self.len,
        }
    }

    /// True when `ip` is in this prefix (same family, same network bits).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && mask_addr(ip, self.len) == mask_addr(self.addr, self.len)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| IpNetError::BadAddress)?;
        let len = match len {
            Some(l) => parse_len(l).ok_or(IpNetError::BadLength)?,
            None => max_len(addr),
        };
        IpNet::new(addr, len).ok_or(IpNetError::LengthTooLarge)
    }
}

/// 32 for IPv4, 128 for IPv6.
pub fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip` with all bits past the first `len` cleared (`len` past the address keeps it all).
pub fn mask_addr(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// A decimal prefix length: 1 to 3 ASCII digits, nothing else (no sign, no spaces).
fn parse_len(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse `xx:xx:xx:xx:xx:xx` (hex, either case).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for octet in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// True for a station (unicast, non-zero) MAC address.
pub fn is_unicast_mac(mac: [u8; 6]) -> bool {
    mac[0] & 1 == 0 && mac != [0; 6]
}

/// Why a persistence mask was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// A dotted IPv4 netmask with a hole in it.
    #[error("not a contiguous netmask")]
    NotContiguous,
    /// A dotted IPv4 netmask on an IPv6 service.
    #[error("an IPv6 service takes a prefix length such as \"128\" or \"/64\"")]
    DottedForIpv6,
    /// Neither a netmask nor a prefix length.
    #[error("expected a netmask such as \"255.255.255.0\" or a prefix length such as \"/24\"")]
    Malformed,
    /// A prefix length longer than the VIP's address.
    #[error("the prefix length is longer than the address (32 for IPv4, 128 for IPv6)")]
    TooLong,
}

/// Parse a persistence mask for a service whose VIP is IPv4 (`v4`) or IPv6, as a prefix
/// length. IPv4 takes a contiguous dotted netmask (`255.255.255.0`, ipvsadm's `-M`) or a
/// prefix length; IPv6 takes a prefix length only (`128` or `/64`), as ipvsadm does.
pub fn parse_persistence_mask(s: &str, v4: bool) -> Result<u8, MaskError> {
    if s.contains('.') {
        if !v4 {
            return Err(MaskError::DottedForIpv6);
        }
        let m = u32::from(s.parse::<Ipv4Addr>().map_err(|_| MaskError::Malformed)?);
        if m.leading_ones() + m.trailing_zeros() != 32 {
            return Err(MaskError::NotContiguous);
        }
        // leading_ones() is at most 32, so this never truncates.
        return Ok(m.leading_ones() as u8);
    }
    let len = parse_len(s.strip_prefix('/').unwrap_or(s)).ok_or(MaskError::Malformed)?;
    if len > if v4 { 32 } else { 128 } {
        return Err(MaskError::TooLong);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_parse_with_and_without_length() {
        let n: IpNet = "10.0.0.1/24".parse().unwrap();
        assert_eq!((n.addr(), n.prefix_len()), (ip("10.0.0.1"), 24));
        assert_eq!(n.network().to_string(), "10.0.0.0/24");
        assert_eq!("2001:db8::1".parse::<IpNet>().unwrap().prefix_len(), 128);
        assert_eq!("10.0.0.1".parse::<IpNet>().unwrap().prefix_len(), 32);
        assert_eq!(
            "::/0".parse::<IpNet>().unwrap().network().to_string(),
            "::/0"
        );
        assert_eq!(
            "10.0.0.0/33".parse::<IpNet>(),
            Err(IpNetError::LengthTooLarge)
        );
        assert_eq!("10.0.0.0/+8".parse::<IpNet>(), Err(IpNetError::BadLength));
        assert_eq!("10.0.0.0/".parse::<IpNet>(), Err(IpNetError::BadLength));
        assert_eq!("10.0.0/8".parse::<IpNet>(), Err(IpNetError::BadAddress));
        assert_eq!("::1/129".parse::<IpNet>(), Err(IpNetError::LengthTooLarge));
    }

    #[test]
    fn contains_respects_family_and_bits() {
        let n: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains(ip("10.1.255.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(!n.contains(ip("::ffff:10.1.0.1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("192.0.2.1")));
        assert!(!all.contains(ip("::1")));
        let v6: IpNet = "2001:db8::/33".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:7fff::1")));
        assert!(!v6.contains(ip("2001:db8:8000::1")));
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(parse_mac("02:00:00:00:0A:ff"), Some([2, 0, 0, 0, 10, 255]));
        assert_eq!(parse_mac("02:00:00:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:00:00"), None);
        assert_eq!(parse_mac("2:00:00:00:00:00:0"), None);
        assert_eq!(parse_mac("02-00-00-00-00-00"), None);
        assert_eq!(parse_mac("+2:00:00:00:00:00"), None);
        assert!(is_unicast_mac([2, 0, 0, 0, 0, 1]));
        assert!(!is_unicast_mac([0xff; 6]));
        assert!(!is_unicast_mac([1, 0, 0x5e, 0, 0, 1]));
        assert!(!is_unicast_mac([0; 6]));
    }

    #[test]
    fn persistence_masks() {
        assert_eq!(parse_persistence_mask("255.255.255.255", true), Ok(32));
        assert_eq!(parse_persistence_mask("255.255.255.0", true), Ok(24));
        assert_eq!(parse_persistence_mask("0.0.0.0", true), Ok(0));
        assert_eq!(parse_persistence_mask("/16", true), Ok(16));
        assert_eq!(
            parse_persistence_mask("255.0.255.0", true),
            Err(MaskError::NotContiguous)
        );
        assert_eq!(parse_persistence_mask("33", true), Err(MaskError::TooLong));
        assert_eq!(parse_persistence_mask("128", false), Ok(128));
        assert_eq!(parse_persistence_mask("/64", false), Ok(64));
        assert_eq!(
            parse_persistence_mask("129", false),
            Err(MaskError::TooLong)
        );
        assert_eq!(
            parse_persistence_mask("255.255.255.0", false),
            Err(MaskError::DottedForIpv6)
        );
        assert_eq!(
            parse_persistence_mask("ffff::", false),
            Err(MaskError::Malformed)
        );
        assert_eq!(parse_persistence_mask("", true), Err(MaskError::Malformed));
    }

    #[test]
    fn mask_addr_clears_host_bits() {
        assert_eq!(mask_addr(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(mask_addr(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(mask_addr(ip("10.1.2.3"), 20), ip("10.1.0.0"));
        assert_eq!(mask_addr(ip("2001:db8::1"), 64), ip("2001:db8::"));
        assert_eq!(mask_addr(ip("2001:db8::1"), 0), ip("::"));
    }
}
