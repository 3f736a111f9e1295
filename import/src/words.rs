//! Value forms both importers read: numbers, address ranges, schedulers, netmasks, and
//! a command line split as keepalived splits a script.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most addresses one range may stand for (a larger one is refused, not expanded).
pub(crate) const MAX_RANGE: u128 = 256;

/// The schedulers rvs has, by ipvsadm's names.
pub(crate) const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

/// An unsigned number in decimal.
pub(crate) fn uint(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A duration in seconds, fractions allowed (keepalived's `<TIMER>`).
pub(crate) fn seconds(text: &str) -> Option<f64> {
    let v: f64 = text.parse().ok()?;
    (v.is_finite() && v >= 0.0 && text.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .then_some(v)
}

/// Every address of `text`: one address, `A.B.C.D-E` (the last byte up to E),
/// `FIRST-LAST`, or `ADDR/LEN`, at most [`MAX_RANGE`] of them.
pub(crate) fn addresses(text: &str) -> Result<Vec<IpAddr>, String> {
    let bad = || format!("{text:?} is not an address or address range");
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(vec![addr]);
    }
    let (first, last): (IpAddr, IpAddr) = if let Some((a, len)) = text.split_once('/') {
        let a: IpAddr = a.parse().map_err(|_| bad())?;
        let len = uint(len).ok_or_else(bad)?;
        let bits: u32 = if a.is_ipv4() { 32 } else { 128 };
        if len > u64::from(bits) {
            return Err(bad());
        }
        let host_bits = bits - len as u32;
        let n = to_int(a);
        let mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        (from_int(a, n & !mask), from_int(a, n | mask))
    } else if let Some((a, b)) = text.split_once('-') {
        let first: IpAddr = a.parse().map_err(|_| bad())?;
        let last = match b.parse::<IpAddr>() {
            Ok(last) => last,
            Err(_) => {
                // The last part of the address replaced: 10.0.0.1-10, 2001:db8::1-a.
                let (head, sep) = match first {
                    IpAddr::V4(_) => (a.rsplit_once('.').map(|p| p.0), '.'),
                    IpAddr::V6(_) => (a.rsplit_once(':').map(|p| p.0), ':'),
                };
                let head = head.ok_or_else(bad)?;
                format!("{head}{sep}{b}").parse().map_err(|_| bad())?
            }
        };
        (first, last)
    } else {
        return Err(bad());
    };
    if first.is_ipv4() != last.is_ipv4() || to_int(first) > to_int(last) {
        return Err(bad());
    }
    let span = to_int(last) - to_int(first);
    if span >= MAX_RANGE {
        return Err(format!(
            "{text:?} holds more than {MAX_RANGE} addresses; at most {MAX_RANGE} are expanded"
        ));
    }
    let count = span + 1;
    Ok((0..count)
        .map(|i| from_int(first, to_int(first) + i))
        .collect())
}

fn to_int(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_int(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// A script string split into its program and arguments as keepalived does: at blanks,
/// except inside single quotes.
pub(crate) fn split_script(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// A persistence netmask rvs takes (`"255.255.255.0"`, `"24"`): checked here so that a
/// wrong one is reported with its source line.
pub(crate) fn netmask(text: &str, v4: bool) -> bool {
    rvs_config::parse_persistence_mask(text, v4).is_ok()
}
