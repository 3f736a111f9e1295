//! Semantic checks of `[service.check]`.

use std::net::SocketAddr;
use std::time::Duration;

use rvs_conntrack::ForwardMode;
use toml::Spanned;

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::forward::forward_name;
use super::raw::RawCheck;
use super::{CheckConfig, CheckKind, OnFail, ServiceConfig};

/// Default seconds between probes of one real.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Default probe timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default `rise` and `fall`.
pub const DEFAULT_RISE_FALL: u32 = 2;
/// Default HTTP status range.
pub const DEFAULT_EXPECT: (u16, u16) = (200, 399);

/// Shortest interval or timeout accepted, in seconds.
const MIN_SECONDS: f64 = 0.01;
/// Longest interval or timeout accepted, in seconds (a day).
const MAX_SECONDS: f64 = 86_400.0;

/// Validate the check of `svc` (whose reals are already validated).
pub(super) fn check(
    c: &RawCheck,
    svc: &ServiceConfig,
    svc_context: &str,
    ck: &Checker<'_>,
) -> Result<CheckConfig, ConfigError> {
    let context = format!("{svc_context}check: ");
    let err = |span, problem| ck.err(span, &context, problem);
    let kind = match c.kind.get_ref().as_str() {
        "tcp" => CheckKind::Tcp,
        "http" => CheckKind::Http,
        "udp" => CheckKind::Udp,
        "misc" => CheckKind::Misc,
        other => {
            return Err(err(
                c.kind.span(),
                Problem::UnknownCheckKind(other.to_owned()),
            ))
        }
    };
    // Keys of another kind are refused rather than silently ignored.
    let foreign: [(&'static str, Option<std::ops::Range<usize>>, CheckKind); 6] = [
        ("path", c.path.as_ref().map(Spanned::span), CheckKind::Http),
        (
            "expect",
            c.expect.as_ref().map(Spanned::span),
            CheckKind::Http,
        ),
        ("body", c.body.as_ref().map(Spanned::span), CheckKind::Http),
        ("send", c.send.as_ref().map(Spanned::span), CheckKind::Udp),
        (
            "command",
            c.command.as_ref().map(Spanned::span),
            CheckKind::Misc,
        ),
        (
            "dynamic",
            c.dynamic.as_ref().map(Spanned::span),
            CheckKind::Misc,
        ),
    ];
    for (key, span, of) in foreign {
        if let Some(span) = span.filter(|_| of != kind) {
            let kind = kind.name();
            return Err(err(span, Problem::KeyNotForKind { key, kind }));
        }
    }
    let interval = seconds(&c.interval, DEFAULT_INTERVAL, "interval", &context, ck)?;
    let timeout = seconds(&c.timeout, DEFAULT_TIMEOUT, "timeout", &context, ck)?;
    if timeout > interval {
        let span = c
            .timeout
            .as_ref()
            .or(c.interval.as_ref())
            .map_or(c.kind.span(), Spanned::span);
        return Err(err(span, Problem::TimeoutAboveInterval));
    }
    let count = |v: &Option<Spanned<u32>>, name| match v {
        Some(n) if *n.get_ref() == 0 => Err(err(n.span(), Problem::Zero(name))),
        Some(n) => Ok(*n.get_ref()),
        None => Ok(DEFAULT_RISE_FALL),
    };
    let rise = count(&c.rise, "rise")?;
    let fall = count(&c.fall, "fall")?;
    if let Some(p) = c.port.as_ref().filter(|p| *p.get_ref() == 0) {
        return Err(err(p.span(), Problem::Zero("port")));
    }
    // A mark service's reals on port 0 take many ports: the probe needs one. (An
    // addressed port-0 service's keepalived import probes the real's port 0, as before.)
    let many_ports = svc.fwmark().is_some() && svc.reals.iter().any(|r| r.port == 0);
    if c.port.is_none() && kind != CheckKind::Misc && many_ports {
        return Err(err(c.kind.span(), Problem::CheckNeedsPort));
    }
    let on_fail = match c.on_fail.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
        None | Some(("remove", _)) => OnFail::Remove,
        Some(("inhibit", _)) => OnFail::Inhibit,
        Some((other, span)) => return Err(err(span, Problem::UnknownOnFail(other.to_owned()))),
    };
    let path = c.path.as_ref().map_or("/", |p| p.get_ref().as_str());
    if !path.starts_with('/') || path.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        let span = c.path.as_ref().map_or(c.kind.span(), Spanned::span);
        return Err(err(span, Problem::BadPath(path.to_owned())));
    }
    let expect = match &c.expect {
        None => DEFAULT_EXPECT,
        Some(e) => match e.get_ref().as_slice() {
            &[low, high] if (100..=599).contains(&low) && low <= high && high <= 599 => (low, high),
            _ => return Err(err(e.span(), Problem::BadExpect)),
        },
    };
    let command = c.command.as_ref().map(|v| v.get_ref().clone());
    if kind == CheckKind::Misc && command.as_ref().map_or(true, Vec::is_empty) {
        let span = c.command.as_ref().map_or(c.kind.span(), Spanned::span);
        return Err(err(span, Problem::MissingCommand));
    }
    let sorry = match &c.sorry {
        None => None,
        Some(s) if s.get_ref().is_empty() => None,
        Some(s) => Some(sorry(s, svc, &context, ck)?),
    };
    Ok(CheckConfig {
        kind,
        interval,
        timeout,
        rise,
        fall,
        port: c.port.as_ref().map(|p| *p.get_ref()),
        on_fail,
        path: path.to_owned(),
        expect,
        body: c
            .body
            .as_ref()
            .map(|b| b.get_ref().clone())
            .unwrap_or_default(),
        send: c
            .send
            .as_ref()
            .map(|b| b.get_ref().clone())
            .unwrap_or_default(),
        command: command.unwrap_or_default(),
        dynamic: c.dynamic.as_ref().is_some_and(|d| *d.get_ref()),
        sorry,
    })
}

/// A duration in seconds within [`MIN_SECONDS`]..=[`MAX_SECONDS`], or its default.
fn seconds(
    v: &Option<Spanned<f64>>,
    default: Duration,
    key: &'static str,
    context: &str,
    ck: &Checker<'_>,
) -> Result<Duration, ConfigError> {
    let Some(v) = v else { return Ok(default) };
    let value = *v.get_ref();
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&value) {
        return Err(ck.err(v.span(), context, Problem::BadSeconds(key)));
    }
    Ok(Duration::from_secs_f64(value))
}

/// The sorry server: `ip:port` in the VIP's family, not a real, the service port under
/// dr and tun.
fn sorry(
    s: &Spanned<String>,
    svc: &ServiceConfig,
    context: &str,
    ck: &Checker<'_>,
) -> Result<SocketAddr, ConfigError> {
    let err = |problem| ck.err(s.span(), context, problem);
    let addr: SocketAddr = s
        .get_ref()
        .parse()
        .map_err(|_| err(Problem::BadSorry(s.get_ref().clone())))?;
    if addr.port() == 0 {
        return Err(err(Problem::BadSorry(s.get_ref().clone())));
    }
    if addr.is_ipv4() != svc.vip.is_ipv4() {
        return Err(err(Problem::SorryFamily(addr.to_string())));
    }
    if svc
        .reals
        .iter()
        .any(|r| SocketAddr::new(r.ip, r.port) == addr)
    {
        return Err(err(Problem::SorryIsReal(addr.to_string())));
    }
    let forward = svc.sorry_forward();
    if matches!(forward, ForwardMode::Dr | ForwardMode::Tun) && addr.port() != svc.port {
        return Err(err(Problem::SorryPort {
            forward: forward_name(forward),
            service_port: svc.port,
        }));
    }
    Ok(addr)
}
