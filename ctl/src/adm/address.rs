//! Addresses as ipvsadm writes and reads them: `host:port` for IPv4, `[addr]:port` for IPv6,
//! persistence netmasks, and the numeric ordering ipvsadm sorts listings by.
//!
//! rvs does no name resolution: hosts and ports must be numeric.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// An address argument (`-t`, `-u`, `-r`) as ipvsadm accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// The address.
    pub ip: IpAddr,
    /// The port, when one was given.
    pub port: Option<u16>,
}

/// Parse `a.b.c.d[:port]`, `[v6]:port` or a bare IPv6 address, numeric only.
/// `None` when the text is none of these (ipvsadm then says "illegal ... `address[:port]`").
pub fn parse_host_port(text: &str) -> Option<HostPort> {
    if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        let ip = host.parse::<std::net::Ipv6Addr>().ok()?;
        return Some(HostPort {
            ip: IpAddr::V6(ip),
            port: Some(parse_port(port)?),
        });
    }
    if let Ok(ip) = text.parse::<std::net::Ipv6Addr>() {
        return Some(HostPort {
            ip: IpAddr::V6(ip),
            port: None,
        });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (text, None),
    };
    let ip = host.parse::<Ipv4Addr>().ok()?;
    Some(HostPort {
        ip: IpAddr::V4(ip),
        port,
    })
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parse a local address (`-z`): a bare address, or an IPv6 one in brackets.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner.parse().ok()
}

/// `ip:port` for IPv4 and `[ip]:port` for IPv6, as ipvsadm's numeric listings print them.
pub fn format_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// The full-address prefix length of `ip`'s family (32 or 128).
pub fn full_prefix(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// An IPv4 dotted netmask as a prefix length; `None` unless its ones are contiguous.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// A prefix length as an IPv4 dotted netmask (lengths over 32 count as 32).
pub fn prefix_to_mask(prefix: u8) -> Ipv4Addr {
    let prefix = u32::from(prefix.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0))
}

/// ipvsadm's sort order for addresses: IPv4 before IPv6, then numerically, then by port.
pub fn cmp_addr(a: &SocketAddr, b: &SocketAddr) -> Ordering {
    let family = |s: &SocketAddr| u8::from(s.is_ipv6());
    family(a)
        .cmp(&family(b))
        .then_with(|| a.ip().cmp(&b.ip()))
        .then_with(|| a.port().cmp(&b.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let v4 = parse_host_port("10.0.0.1:80").unwrap();
        assert_eq!(v4.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(v4.port, Some(80));
        assert_eq!(parse_host_port("10.0.0.1").unwrap().port, None);
        assert_eq!(
            parse_host_port("[2001:db8::1]:443").unwrap().port,
            Some(443)
        );
        assert_eq!(parse_host_port("2001:db8::1").unwrap().port, None);
        for bad in [
            "",
            "80",
            "[::1]",
            "10.0.0.1:",
            "10.0.0.1:http",
            "host:80",
            "1.2.3.4:70000",
        ] {
            assert_eq!(parse_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask_to_prefix("255.255.255.0".parse().unwrap()), Some(24));
        assert_eq!(mask_to_prefix("255.255.255.255".parse().unwrap()), Some(32));
        assert_eq!(mask_to_prefix("0.0.0.0".parse().unwrap()), Some(0));
        assert_eq!(mask_to_prefix("255.0.255.0".parse().unwrap()), None);
        assert_eq!(
            prefix_to_mask(24),
            "255.255.255.0".parse::<Ipv4Addr>().unwrap()
        );
        assert_eq!(prefix_to_mask(0), Ipv4Addr::UNSPECIFIED);
    }
}
