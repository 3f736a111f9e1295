//! `[[mark]]`: the rules that give a packet a firewall mark without netfilter, and the
//! way a mark service (`fwmark = N`) is keyed like an addressed one.
//!
//! A mark service has no address of its own. Every table that keys services by
//! protocol, VIP and port (ids, health, ownership, the control protocol) keys it by a
//! reserved address that holds its mark and family ([`mark_vip`]), port 0 and TCP: an
//! IPv4 mark service by `0.0.0.0/8` plus the mark (RFC 1122's "this network", never a
//! destination), an IPv6 one by `100::/64` plus the mark (RFC 6666's discard-only
//! prefix). No service may have such an address as its VIP, and the packet path never
//! looks a packet's destination up among them: a packet reaches a mark service only
//! through the rules. Marks are 1..=[`MAX_MARK`] (IPVS takes any 32-bit mark; 24 bits
//! are what the reserved IPv4 range holds).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::net::IpNet;
use super::raw::{RawMark, SStr};

/// The largest mark (24 bits).
pub const MAX_MARK: u32 = 0x00FF_FFFF;

/// The first 64 bits of an IPv6 mark service's key address (`100::/64`).
const V6_MARK_PREFIX: u128 = 0x0100_u128 << 112;

/// The key address of the mark service `mark` of one family (`mark` within
/// 1..=[`MAX_MARK`]).
pub fn mark_vip(mark: u32, ipv6: bool) -> IpAddr {
    let mark = mark & MAX_MARK;
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(V6_MARK_PREFIX | u128::from(mark)))
    } else {
        IpAddr::V4(Ipv4Addr::from(mark))
    }
}

/// The mark a service key address holds, `None` for an ordinary VIP.
pub fn vip_mark(addr: IpAddr) -> Option<u32> {
    let mark = match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            (bits >> 24 == 0).then_some(bits)?
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            (bits & !u128::from(MAX_MARK) == V6_MARK_PREFIX).then_some(bits as u32)?
        }
    };
    (mark != 0).then_some(mark)
}

/// The protocols a rule marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarkProto {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// TCP and UDP.
    Any,
}

impl MarkProto {
    /// The spelling in the file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Any => "any",
        }
    }
}

/// A `[[mark]]` rule: packets of `proto` to an address of `dst` and a port of `ports`,
/// from an address of `src`, get `mark`. The first rule in file order that matches a
/// packet gives its mark.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MarkRule {
    /// The mark, 1..=[`MAX_MARK`].
    pub mark: u32,
    /// The protocols marked.
    pub proto: MarkProto,
    /// Destination prefixes (at least one; host bits clear).
    pub dst: Vec<IpNet>,
    /// Destination port ranges, inclusive; empty: every port.
    pub ports: Vec<(u16, u16)>,
    /// Source prefixes (host bits clear); empty: every source.
    pub src: Vec<IpNet>,
}

impl MarkRule {
    /// Its ports as the file writes them (`"80"`, `"8000-8099"`).
    pub fn port_names(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect()
    }
}

/// Validate every `[[mark]]`.
pub(super) fn marks(raw: &[RawMark], ck: &Checker<'_>) -> Result<Vec<MarkRule>, ConfigError> {
    let mut seen = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let rule = mark(r, ck)?;
        if let Some(&first) = seen.get(&rule) {
            let first_line = ck.line_at(first);
            let context = format!("mark {}: ", rule.mark);
            return Err(ck.err(
                r.mark.span(),
                &context,
                Problem::DuplicateMarkRule { first_line },
            ));
        }
        seen.insert(rule.clone(), r.mark.span().start);
        out.push(rule);
    }
    Ok(out)
}

fn mark(r: &RawMark, ck: &Checker<'_>) -> Result<MarkRule, ConfigError> {
    let value = *r.mark.get_ref();
    let context = format!("mark {value}: ");
    if value == 0 || value > MAX_MARK {
        return Err(ck.err(r.mark.span(), &context, Problem::BadMark(value)));
    }
    let proto = match r.proto.as_ref().map(|p| p.get_ref().as_str()) {
        None | Some("any") => MarkProto::Any,
        Some("tcp") => MarkProto::Tcp,
        Some("udp") => MarkProto::Udp,
        Some(other) => {
            let span = r.proto.as_ref().map_or(r.mark.span(), |p| p.span());
            return Err(ck.err(span, &context, Problem::UnknownMarkProto(other.to_owned())));
        }
    };
    if r.dst.get_ref().is_empty() {
        return Err(ck.err(r.dst.span(), &context, Problem::MarkWithoutDst));
    }
    let dst = prefixes(r.dst.get_ref(), &context, ck)?;
    let src = prefixes(&r.src, &context, ck)?;
    let mut ports = Vec::with_capacity(r.ports.len());
    for p in &r.ports {
        let range = parse_port_range(p.get_ref()).ok_or_else(|| {
            ck.err(
                p.span(),
                &context,
                Problem::BadPortRange(p.get_ref().clone()),
            )
        })?;
        ports.push(range);
    }
    Ok(MarkRule {
        mark: value,
        proto,
        dst,
        ports,
        src,
    })
}

/// Prefixes without host bits.
fn prefixes(list: &[SStr], context: &str, ck: &Checker<'_>) -> Result<Vec<IpNet>, ConfigError> {
    list.iter()
        .map(|s| {
            let net = ck.net(s, context)?;
            if net.network() != net {
                let problem = Problem::HostBitsSet {
                    value: s.get_ref().clone(),
                    network: net.network(),
                };
                return Err(ck.err(s.span(), context, problem));
            }
            Ok(net)
        })
        .collect()
}

/// `"80"` or `"8000-8099"` (low not above high).
pub fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match s.split_once('-') {
        Some((lo, hi)) => (lo.trim().parse().ok()?, hi.trim().parse().ok()?),
        None => {
            let p = s.trim().parse().ok()?;
            (p, p)
        }
    };
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_key_holds_its_mark_and_family_and_no_vip_is_one() {
        for v6 in [false, true] {
            for m in [1, 80, MAX_MARK] {
                let vip = mark_vip(m, v6);
                assert_eq!(vip.is_ipv6(), v6);
                assert_eq!(vip_mark(vip), Some(m));
            }
        }
        for vip in [
            "10.0.0.1",
            "1.0.0.0",
            "0.0.0.0",
            "::",
            "::1",
            "2001:db8::1",
            "100:0:0:1::5",
        ] {
            assert_eq!(vip_mark(vip.parse().unwrap()), None, "{vip}");
        }
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("80"), Some((80, 80)));
        assert_eq!(parse_port_range("8000-8099"), Some((8000, 8099)));
        assert_eq!(parse_port_range("0-65535"), Some((0, 65535)));
        assert_eq!(parse_port_range("90-80"), None);
        assert_eq!(parse_port_range("http"), None);
        assert_eq!(parse_port_range("70000"), None);
    }
}
