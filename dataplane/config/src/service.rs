//! Semantic checks of `[[service]]` and `[[service.real]]`.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use hashbrown::HashMap;
use rvs_conntrack::{ForwardMode, Proto};
use rvs_schedulers::{SchedFlags, SchedKind};

use super::check::check;
use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::forward::{forward_name, parse_forward};
use super::mark::{mark_vip, vip_mark, MAX_MARK};
use super::net::{max_len, parse_persistence_mask};
use super::raw::{RawReal, RawService, SStr};
use super::{ClientAddress, GuardConfig, RealConfig, ServiceConfig};

/// The most times a service's route may repeat the director's AS (`announce_prepend`).
const MAX_PREPEND: u8 = 16;
/// The SYN proxy's window scale unless configured (`synproxy_wscale`): Linux's usual.
pub const DEFAULT_SYNPROXY_WSCALE: u8 = 7;
/// The largest window scale (RFC 7323).
const MAX_WSCALE: u8 = 14;

/// ipvsadm's weight limit (`-w 0..65535`).
const MAX_WEIGHT: u32 = 65535;

/// Validate every service; (proto, vip, port) is unique, and so is a mark of one family.
pub(super) fn services(
    raw: &[RawService],
    ck: &Checker<'_>,
) -> Result<Vec<ServiceConfig>, ConfigError> {
    let mut seen = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let svc = service(s, ck)?;
        let key = (svc.proto, svc.vip, svc.port);
        let span = service_span(s);
        if let Some(&first) = seen.get(&key) {
            let first_line = ck.line_at(first);
            let context = service_context(&svc);
            return Err(ck.err(span, &context, Problem::DuplicateService { first_line }));
        }
        seen.insert(key, span.start);
        out.push(svc);
    }
    Ok(out)
}

/// Where a service's errors about its identity point: its `fwmark`, else its `vip`,
/// `port` or `proto`.
fn service_span(s: &RawService) -> Range<usize> {
    s.fwmark
        .as_ref()
        .map(|m| m.span())
        .or_else(|| s.vip.as_ref().map(|v| v.span()))
        .or_else(|| s.port.as_ref().map(|p| p.span()))
        .or_else(|| s.proto.as_ref().map(|p| p.span()))
        .or_else(|| s.scheduler.as_ref().map(|p| p.span()))
        .unwrap_or(0..0)
}

/// Why `vip` cannot be a service's address (no client can reach it through a port),
/// or `None` when it can.
fn unusable_vip(vip: IpAddr) -> Option<&'static str> {
    match vip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("the unspecified address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("the unspecified address"),
        ip if ip.is_multicast() => Some("a multicast address"),
        ip if ip.is_loopback() => Some("a loopback address"),
        _ => None,
    }
}

fn service_context(s: &ServiceConfig) -> String {
    if let Some(mark) = s.fwmark() {
        return format!("service fwmark {mark}: ");
    }
    let proto = vip_proto(s.proto);
    format!("service {}/{proto}: ", SocketAddr::new(s.vip, s.port))
}

/// The protocol, VIP and port of a service: its own, or its mark's key ([`mark_vip`]).
fn addressing(s: &RawService, ck: &Checker<'_>) -> Result<(Proto, IpAddr, u16), ConfigError> {
    let span = service_span(s);
    if let Some(m) = &s.fwmark {
        if s.proto.is_some() || s.vip.is_some() || s.port.is_some() {
            let problem = Problem::ServiceAddressing(", not both");
            return Err(ck.err(span, "service: ", problem));
        }
        let mark = *m.get_ref();
        if mark == 0 || mark > MAX_MARK {
            return Err(ck.err(m.span(), "service: ", Problem::BadMark(mark)));
        }
        let ipv6 = s.ipv6.as_ref().is_some_and(|v| *v.get_ref());
        return Ok((Proto::Tcp, mark_vip(mark, ipv6), 0));
    }
    if let Some(v) = &s.ipv6 {
        return Err(ck.err(v.span(), "service: ", Problem::Ipv6WithoutFwmark));
    }
    let (Some(proto), Some(vip), Some(port)) = (&s.proto, &s.vip, &s.port) else {
        let problem = Problem::ServiceAddressing(" (one is missing)");
        return Err(ck.err(span, "service: ", problem));
    };
    let proto = match proto.get_ref().as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => {
            return Err(ck.err(
                proto.span(),
                "service: ",
                Problem::UnknownProto(other.to_owned()),
            ))
        }
    };
    let addr = ck.addr(vip, "service: ")?;
    let context = format!(
        "service {}/{}: ",
        SocketAddr::new(addr, *port.get_ref()),
        vip_proto(proto)
    );
    if let Some(what) = unusable_vip(addr) {
        return Err(ck.err(vip.span(), &context, Problem::BadVip { vip: addr, what }));
    }
    if vip_mark(addr).is_some() {
        return Err(ck.err(vip.span(), &context, Problem::ReservedVip(addr)));
    }
    Ok((proto, addr, *port.get_ref()))
}

fn vip_proto(p: Proto) -> &'static str {
    if p == Proto::Udp {
        "udp"
    } else {
        "tcp"
    }
}

fn service(s: &RawService, ck: &Checker<'_>) -> Result<ServiceConfig, ConfigError> {
    let (proto, vip, port) = addressing(s, ck)?;
    let mut svc = ServiceConfig {
        proto,
        vip,
        port,
        scheduler: SchedKind::Wlc,
        flags: SchedFlags::default(),
        persistence: s.persistence.unwrap_or(0),
        persistence_prefix: max_len(vip),
        laddrs: Vec::with_capacity(s.laddrs.len()),
        reals: Vec::with_capacity(s.real.len()),
        announce: s.announce.unwrap_or(true),
        announce_med: s.announce_med,
        announce_prepend: 0,
        announce_communities: Vec::with_capacity(s.announce_communities.len()),
        check: None,
        client_address: ClientAddress::None,
        synproxy: false,
        synproxy_wscale: DEFAULT_SYNPROXY_WSCALE,
        guard: GuardConfig::default(),
        one_packet: false,
        l7: None,
    };
    let context = service_context(&svc);
    if let Some(n) = &s.scheduler {
        svc.scheduler = n.get_ref().parse().map_err(|_| {
            ck.err(
                n.span(),
                &context,
                Problem::UnknownScheduler(n.get_ref().clone()),
            )
        })?;
    }
    for f in &s.flags {
        flag(&mut svc.flags, f, svc.scheduler, &context, ck)?;
    }
    if let Some(m) = &s.persistence_mask {
        svc.persistence_prefix =
            parse_persistence_mask(m.get_ref(), vip.is_ipv4()).map_err(|reason| {
                let value = m.get_ref().clone();
                ck.err(
                    m.span(),
                    &context,
                    Problem::BadPersistenceMask { value, reason },
                )
            })?;
    }
    for l in &s.laddrs {
        let laddr = ck.addr(l, &context)?;
        if laddr.is_ipv4() != vip.is_ipv4() {
            return Err(ck.err(l.span(), &context, Problem::LaddrFamily(laddr)));
        }
        if svc.laddrs.contains(&laddr) {
            return Err(ck.err(l.span(), &context, Problem::DuplicateLaddr(laddr)));
        }
        if laddr == vip {
            return Err(ck.err(l.span(), &context, Problem::LaddrIsVip(laddr)));
        }
        svc.laddrs.push(laddr);
    }
    if let Some(p) = &s.announce_prepend {
        if *p.get_ref() > MAX_PREPEND {
            return Err(ck.err(p.span(), &context, Problem::PrependTooLong(MAX_PREPEND)));
        }
        svc.announce_prepend = *p.get_ref();
    }
    for c in &s.announce_communities {
        let community = parse_community(c.get_ref()).ok_or_else(|| {
            ck.err(
                c.span(),
                &context,
                Problem::BadCommunity(c.get_ref().clone()),
            )
        })?;
        svc.announce_communities.push(community);
    }
    let mut seen = HashMap::new();
    for r in &s.real {
        let real = real(r, &svc, &context, ck)?;
        if let Some(&first) = seen.get(&(real.ip, real.port)) {
            let first_line = ck.line_at(first);
            let context = format!("{context}real {}: ", SocketAddr::new(real.ip, real.port));
            return Err(ck.err(r.ip.span(), &context, Problem::DuplicateReal { first_line }));
        }
        seen.insert((real.ip, real.port), r.ip.span().start);
        svc.reals.push(real);
    }
    if let Some(c) = &s.check {
        svc.check = Some(check(c, &svc, &context, ck)?);
    }
    if let Some(c) = &s.client_address {
        svc.client_address = client_address(c, &svc, &context, ck)?;
    }
    if let Some(on) = &s.synproxy {
        if *on.get_ref() {
            if let Some(problem) = super::l7::synproxy_refusal(&svc, "synproxy") {
                return Err(ck.err(on.span(), &context, problem));
            }
        }
        svc.synproxy = *on.get_ref();
    }
    if let Some(on) = &s.one_packet {
        if *on.get_ref() && !svc.one_packet_allowed() {
            return Err(ck.err(on.span(), &context, Problem::OnePacketNeedsUdpDirect));
        }
        svc.one_packet = *on.get_ref();
    }
    if let Some(w) = &s.synproxy_wscale {
        if *w.get_ref() > MAX_WSCALE {
            return Err(ck.err(
                w.span(),
                &context,
                Problem::SynproxyWscaleTooLarge(MAX_WSCALE),
            ));
        }
        svc.synproxy_wscale = *w.get_ref();
    }
    svc.guard = super::guard::guard(s, &context, ck)?;
    super::l7::l7(s, &mut svc, &context, ck)?;
    Ok(svc)
}

/// `client_address`: a known name; anything but `none` only on a service whose reals are
/// all FULLNAT, and on a UDP service only `proxy-v2`.
fn client_address(
    c: &SStr,
    svc: &ServiceConfig,
    context: &str,
    ck: &Checker<'_>,
) -> Result<ClientAddress, ConfigError> {
    let value = ClientAddress::NAMES
        .iter()
        .find(|(name, _)| name == c.get_ref())
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            ck.err(
                c.span(),
                context,
                Problem::UnknownClientAddress(c.get_ref().clone()),
            )
        })?;
    if svc.proto == Proto::Udp && !value.fits_udp() {
        let problem = Problem::ClientAddressTcpOnly(value.name());
        return Err(ck.err(c.span(), context, problem));
    }
    if value != ClientAddress::None && !svc.reals_all_fullnat() {
        let problem = Problem::ClientAddressNeedsFullnat(value.name());
        return Err(ck.err(c.span(), context, problem));
    }
    Ok(value)
}

/// A BGP community `AS:VALUE`.
fn parse_community(s: &str) -> Option<(u16, u16)> {
    let (a, v) = s.split_once(':')?;
    Some((a.parse().ok()?, v.parse().ok()?))
}

/// Apply one scheduler flag; a flag of another scheduler is refused.
fn flag(
    flags: &mut SchedFlags,
    f: &SStr,
    kind: SchedKind,
    context: &str,
    ck: &Checker<'_>,
) -> Result<(), ConfigError> {
    let (slot, for_kind) = match f.get_ref().as_str() {
        "sh-port" => (&mut flags.sh_port, SchedKind::Sh),
        "sh-fallback" => (&mut flags.sh_fallback, SchedKind::Sh),
        "mh-port" => (&mut flags.mh_port, SchedKind::Mh),
        "mh-fallback" => (&mut flags.mh_fallback, SchedKind::Mh),
        other => return Err(ck.err(f.span(), context, Problem::UnknownFlag(other.to_owned()))),
    };
    if kind != for_kind {
        let problem = Problem::FlagNotForScheduler {
            flag: f.get_ref().clone(),
            scheduler: kind.name(),
        };
        return Err(ck.err(f.span(), context, problem));
    }
    *slot = true;
    Ok(())
}

fn real(
    r: &RawReal,
    svc: &ServiceConfig,
    svc_context: &str,
    ck: &Checker<'_>,
) -> Result<RealConfig, ConfigError> {
    let ip = ck.addr(&r.ip, svc_context)?;
    let port = r.port.as_ref().map_or(svc.port, |p| *p.get_ref());
    let context = format!("{svc_context}real {}: ", SocketAddr::new(ip, port));
    let forward = match &r.forward {
        None => ForwardMode::Dr,
        Some(f) => parse_forward(f.get_ref()).ok_or_else(|| {
            ck.err(
                f.span(),
                &context,
                Problem::UnknownForward(f.get_ref().clone()),
            )
        })?,
    };
    // Errors about the mode point at `forward` when written, else at the real's address.
    let forward_span = r.forward.as_ref().map_or(r.ip.span(), |f| f.span());
    if forward != ForwardMode::Tun && ip.is_ipv4() != svc.vip.is_ipv4() {
        return Err(ck.err(
            forward_span,
            &context,
            Problem::RealFamily(forward_name(forward)),
        ));
    }
    if forward == ForwardMode::FullNat && svc.laddrs.is_empty() {
        return Err(ck.err(forward_span, &context, Problem::FullnatNeedsLaddrs));
    }
    if matches!(forward, ForwardMode::Dr | ForwardMode::Tun) && port != svc.port {
        let span = r.port.as_ref().map_or(r.ip.span(), |p| p.span());
        let problem = Problem::PortChangeNotPossible {
            forward: forward_name(forward),
            real_port: port,
            service_port: svc.port,
        };
        return Err(ck.err(span, &context, problem));
    }
    let weight = match &r.weight {
        None => 1,
        Some(w) if *w.get_ref() > MAX_WEIGHT => {
            return Err(ck.err(w.span(), &context, Problem::WeightTooLarge(*w.get_ref())))
        }
        Some(w) => *w.get_ref(),
    };
    let upper = r.upper.as_ref().map_or(0, |u| *u.get_ref());
    let lower = r.lower.as_ref().map_or(0, |l| *l.get_ref());
    if upper != 0 && lower != 0 && upper < lower {
        let span = r.upper.as_ref().map_or(r.ip.span(), |u| u.span());
        return Err(ck.err(span, &context, Problem::UpperBelowLower { upper, lower }));
    }
    let tunnel = super::tunnel::tunnel(r, forward, &context, ck)?;
    Ok(RealConfig {
        ip,
        port,
        weight,
        forward,
        upper,
        lower,
        check: r.check.unwrap_or(true),
        tunnel,
        group: match &r.group {
            None => None,
            Some(g) => Some(super::l7::group_name(g, &context, ck)?),
        },
    })
}
