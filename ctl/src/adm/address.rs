//! Addresses as ipvsadm writes and reads them: `host:port` for IPv4, `[addr]:port` for IPv6,
//! persistence netmasks, and the numeric ordering ipvsadm sorts listings by.
//!
//! Names are resolved as ipvsadm resolves them ([`Names`]): a host name to its first IPv4
//! address (ipvsadm's `gethostbyname`), a port name to its port in `/etc/services` for the
//! service's protocol (`getservbyname`). IPv6 addresses must be numeric, as in ipvsadm.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use crate::proto::Protocol;

/// Resolves the names an address argument may hold.
pub trait Names {
    /// The first IPv4 address of host `name`, or why there is none.
    fn host(&self, name: &str) -> Result<Ipv4Addr, String>;
    /// The port of service `name` for `proto`, or why there is none.
    fn port(&self, name: &str, proto: Protocol) -> Result<u16, String>;
}

/// The system's names: hosts through the resolver (`/etc/hosts`, DNS, as configured in
/// `/etc/nsswitch.conf`), ports from `/etc/services`.
pub struct SystemNames;

/// The services file read for port names.
pub const SERVICES_FILE: &str = "/etc/services";

impl Names for SystemNames {
    fn host(&self, name: &str) -> Result<Ipv4Addr, String> {
        let addrs = (name, 0)
            .to_socket_addrs()
            .map_err(|e| format!("host {name:?} is unknown ({e})"))?;
        let mut v6 = false;
        for a in addrs {
            match a.ip() {
                IpAddr::V4(v4) => return Ok(v4),
                IpAddr::V6(_) => v6 = true,
            }
        }
        Err(if v6 {
            format!(
                "host {name:?} has only IPv6 addresses, and names resolve to IPv4 as in \
                 ipvsadm (write the IPv6 address in brackets)"
            )
        } else {
            format!("host {name:?} has no address")
        })
    }

    fn port(&self, name: &str, proto: Protocol) -> Result<u16, String> {
        let text = std::fs::read_to_string(SERVICES_FILE)
            .map_err(|e| format!("port {name:?}: cannot read {SERVICES_FILE} ({e})"))?;
        services_port(&text, name, proto).ok_or_else(|| {
            format!(
                "port {name:?} is not a {} service in {SERVICES_FILE}",
                proto_name(proto)
            )
        })
    }
}

/// Names refused: for callers that must not consult the resolver (the fuzz target).
pub struct NumericOnly;

impl Names for NumericOnly {
    fn host(&self, name: &str) -> Result<Ipv4Addr, String> {
        Err(format!("host {name:?}: names are not resolved here"))
    }

    fn port(&self, name: &str, _: Protocol) -> Result<u16, String> {
        Err(format!("port {name:?}: names are not resolved here"))
    }
}

fn proto_name(proto: Protocol) -> &'static str {
    match proto {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The port of `name` (a service name or one of its aliases) for `proto` in the text of
/// a services file: lines `name port/proto [aliases...]`, `#` starting a comment.
pub fn services_port(text: &str, name: &str, proto: Protocol) -> Option<u16> {
    let want = proto_name(proto);
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let service = words.next()?;
        let (port, p) = words.next()?.split_once('/')?;
        let named = service == name || words.any(|alias| alias == name);
        (named && p == want).then(|| port.parse().ok()).flatten()
    })
}

/// Why an address argument was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrError {
    /// Not an address ipvsadm would take, numeric or named.
    Malformed,
    /// A name that did not resolve, with why.
    Unresolved(String),
}

/// An address argument (`-t`, `-u`, `-r`) as ipvsadm accepts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// The address.
    pub ip: IpAddr,
    /// The port, when one was given.
    pub port: Option<u16>,
}

/// Parse `host[:port]`, `[v6]:port` or a bare IPv6 address, as ipvsadm does: the host an
/// IPv4 address or a name (resolved by `names` to IPv4), the port a number or a service
/// name of `proto` (a name needs the protocol: `-t` or `-u` before it).
pub fn parse_host_port(
    text: &str,
    proto: Option<Protocol>,
    names: &dyn Names,
) -> Result<HostPort, AddrError> {
    if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::Malformed);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or(AddrError::Malformed)?;
        let ip = host.parse::<std::net::Ipv6Addr>().map_err(|_| {
            if is_host_name(host) {
                AddrError::Unresolved(format!(
                    "{host:?}: an IPv6 address must be numeric (as in ipvsadm)"
                ))
            } else {
                AddrError::Malformed
            }
        })?;
        return Ok(HostPort {
            ip: IpAddr::V6(ip),
            port: Some(parse_port(port, proto, names)?),
        });
    }
    if let Ok(ip) = text.parse::<std::net::Ipv6Addr>() {
        return Ok(HostPort {
            ip: IpAddr::V6(ip),
            port: None,
        });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(parse_port(port, proto, names)?)),
        None => (text, None),
    };
    let ip = match host.parse::<Ipv4Addr>() {
        Ok(ip) => ip,
        Err(_) if is_host_name(host) => names.host(host).map_err(AddrError::Unresolved)?,
        Err(_) => return Err(AddrError::Malformed),
    };
    Ok(HostPort {
        ip: IpAddr::V4(ip),
        port,
    })
}

/// True for text that may be a host name: letters, digits, `-`, `.` and `_`, with a
/// letter somewhere (all digits and dots is a malformed address, not a name).
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && text.chars().any(|c| c.is_ascii_alphabetic())
}

fn parse_port(text: &str, proto: Option<Protocol>, names: &dyn Names) -> Result<u16, AddrError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| AddrError::Malformed);
    }
    if !is_host_name(text) {
        return Err(AddrError::Malformed);
    }
    match proto {
        Some(proto) => names.port(text, proto).map_err(AddrError::Unresolved),
        None => Err(AddrError::Unresolved(format!(
            "port {text:?}: a port name needs the service's protocol (-t or -u) before it"
        ))),
    }
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

    /// `web1` is 10.1.0.11, `v6only` has only IPv6 addresses, `http` is 80/tcp and
    /// `domain` 53/udp; nothing else resolves.
    struct Fake;

    impl Names for Fake {
        fn host(&self, name: &str) -> Result<Ipv4Addr, String> {
            match name {
                "web1" => Ok(Ipv4Addr::new(10, 1, 0, 11)),
                _ => Err(format!("host {name:?} is unknown")),
            }
        }
        fn port(&self, name: &str, proto: Protocol) -> Result<u16, String> {
            services_port(SERVICES, name, proto).ok_or_else(|| format!("no {name}"))
        }
    }

    const SERVICES: &str = "\
# Network services
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
domain\t\t53/tcp
domain\t\t53/udp
http-alt\t8080/tcp\twebcache
";

    fn parse(text: &str) -> Result<HostPort, AddrError> {
        parse_host_port(text, Some(Protocol::Tcp), &Fake)
    }

    #[test]
    fn host_port_forms() {
        let v4 = parse("10.0.0.1:80").unwrap();
        assert_eq!(v4.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(v4.port, Some(80));
        assert_eq!(parse("10.0.0.1").unwrap().port, None);
        assert_eq!(parse("[2001:db8::1]:443").unwrap().port, Some(443));
        assert_eq!(parse("2001:db8::1").unwrap().port, None);
        for bad in [
            "",
            "80",
            "[::1]",
            "10.0.0.1:",
            "1.2.3.4:70000",
            "10.0.0.1:ht tp",
            "1.2.3.4.5:80",
        ] {
            assert_eq!(parse(bad), Err(AddrError::Malformed), "{bad}");
        }
    }

    #[test]
    fn names_resolve_as_ipvsadm_resolves_them() {
        assert_eq!(
            parse("web1:http").unwrap(),
            HostPort {
                ip: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 11)),
                port: Some(80)
            }
        );
        assert_eq!(parse("10.0.0.1:www").unwrap().port, Some(80), "an alias");
        assert_eq!(parse("10.0.0.1:webcache").unwrap().port, Some(8080));
        let udp = parse_host_port("10.0.0.1:domain", Some(Protocol::Udp), &Fake).unwrap();
        assert_eq!(udp.port, Some(53));
        let refused = |text: &str, proto| match parse_host_port(text, proto, &Fake) {
            Err(AddrError::Unresolved(why)) => why,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            refused("nohost:80", Some(Protocol::Tcp)),
            "host \"nohost\" is unknown"
        );
        assert_eq!(refused("10.0.0.1:http", Some(Protocol::Udp)), "no http");
        assert!(refused("10.0.0.1:http", None).contains("needs the service's protocol"));
        assert!(refused("[web1]:80", Some(Protocol::Tcp)).contains("must be numeric"));
    }

    #[test]
    fn the_services_file_is_read_by_name_alias_and_protocol() {
        assert_eq!(services_port(SERVICES, "http", Protocol::Tcp), Some(80));
        assert_eq!(services_port(SERVICES, "http", Protocol::Udp), None);
        assert_eq!(services_port(SERVICES, "domain", Protocol::Udp), Some(53));
        assert_eq!(
            services_port(SERVICES, "WorldWideWeb", Protocol::Tcp),
            None,
            "a comment"
        );
        assert_eq!(services_port(SERVICES, "Network", Protocol::Tcp), None);
    }

    #[test]
    fn the_system_resolves_localhost() {
        assert_eq!(SystemNames.host("localhost"), Ok(Ipv4Addr::LOCALHOST));
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
