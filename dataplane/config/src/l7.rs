//! Semantic checks of content switching: `l7`, `l7_timeout`, `[[service.rule]]` and the
//! reals' `group`.

use std::net::SocketAddr;
use std::time::Duration;

use rvs_conntrack::Proto;
use rvs_l7::{HostPattern, Protocol, Rule};

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::raw::{RawRule, RawService, SStr};
use super::{L7Config, L7Rule, ServiceConfig, DEFAULT_L7_TIMEOUT, MAX_L7_RULES};

/// The shortest and longest `l7_timeout`, in seconds.
const TIMEOUT_RANGE: std::ops::RangeInclusive<f64> = 0.1..=60.0;
/// The longest group name.
const MAX_GROUP_NAME: usize = 32;

/// `l7` and what goes with it on service `svc` (its reals already read).
pub(super) fn l7(
    s: &RawService,
    svc: &mut ServiceConfig,
    context: &str,
    ck: &Checker<'_>,
) -> Result<(), ConfigError> {
    let Some(name) = &s.l7 else {
        if let Some(t) = &s.l7_timeout {
            return Err(ck.err(t.span(), context, Problem::NeedsL7("l7_timeout")));
        }
        if let Some(r) = s.rule.first() {
            return Err(ck.err(
                r.group.span(),
                context,
                Problem::NeedsL7("[[service.rule]]"),
            ));
        }
        if let Some(g) = s.real.iter().find_map(|r| r.group.as_ref()) {
            return Err(ck.err(g.span(), context, Problem::NeedsL7("a real's group")));
        }
        return Ok(());
    };
    let protocol = match name.get_ref().as_str() {
        "http" => Protocol::Http,
        "tls" => Protocol::Tls,
        other => {
            let problem = Problem::UnknownL7(other.to_owned());
            return Err(ck.err(name.span(), context, problem));
        }
    };
    if let Some(problem) = synproxy_refusal(svc, "l7") {
        return Err(ck.err(name.span(), context, problem));
    }
    if let Some(off) = s.synproxy.as_ref().filter(|on| !*on.get_ref()) {
        return Err(ck.err(off.span(), context, Problem::L7WithoutSynproxy));
    }
    svc.synproxy = true;
    let timeout = match &s.l7_timeout {
        None => DEFAULT_L7_TIMEOUT,
        Some(t) if TIMEOUT_RANGE.contains(t.get_ref()) => Duration::from_secs_f64(*t.get_ref()),
        Some(t) => return Err(ck.err(t.span(), context, Problem::BadL7Timeout)),
    };
    if s.rule.len() > MAX_L7_RULES {
        let span = s.rule[MAX_L7_RULES].group.span();
        return Err(ck.err(span, context, Problem::TooManyRules(MAX_L7_RULES)));
    }
    let mut rules = Vec::with_capacity(s.rule.len());
    for r in &s.rule {
        let rule = rule(r, protocol, context, ck)?;
        if !svc
            .reals
            .iter()
            .any(|real| real.group == Some(rule.group.clone()))
        {
            let problem = Problem::EmptyGroup(rule.group.clone());
            return Err(ck.err(r.group.span(), context, problem));
        }
        rules.push(rule);
    }
    svc.l7 = Some(L7Config {
        protocol,
        timeout,
        rules,
    });
    Ok(())
}

/// One `[[service.rule]]` of a service switching on `protocol`.
fn rule(
    r: &RawRule,
    protocol: Protocol,
    context: &str,
    ck: &Checker<'_>,
) -> Result<L7Rule, ConfigError> {
    let group = group_name(&r.group, context, ck)?;
    let pattern = |v: &Option<SStr>| -> Result<Option<HostPattern>, ConfigError> {
        v.as_ref()
            .map(|p| {
                p.get_ref().parse().map_err(|e: rvs_l7::rule::BadPattern| {
                    ck.err(p.span(), context, Problem::BadHostPattern(e.to_string()))
                })
            })
            .transpose()
    };
    let wrong = |v: &Option<SStr>, why: &'static str| match v {
        Some(v) => Err(ck.err(v.span(), context, Problem::BadRule(why))),
        None => Ok(()),
    };
    let rule = match protocol {
        Protocol::Http => {
            wrong(
                &r.sni,
                "sni is for l7 = \"tls\"; an http rule has host, path_prefix or both",
            )?;
            if r.host.is_none() && r.path_prefix.is_none() {
                let problem = Problem::BadRule("an http rule needs host, path_prefix or both");
                return Err(ck.err(r.group.span(), context, problem));
            }
            if let Some(p) = &r.path_prefix {
                let v = p.get_ref();
                if !(v.starts_with('/') || v == "*") || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    let problem = Problem::BadPathPrefix(p.get_ref().clone());
                    return Err(ck.err(p.span(), context, problem));
                }
            }
            Rule {
                host: pattern(&r.host)?,
                path_prefix: r.path_prefix.as_ref().map(|p| p.get_ref().clone()),
                sni: None,
            }
        }
        Protocol::Tls => {
            let why = "a tls rule matches the server name only (sni)";
            wrong(&r.host, why)?;
            wrong(&r.path_prefix, why)?;
            if r.sni.is_none() {
                let problem = Problem::BadRule("a tls rule needs sni");
                return Err(ck.err(r.group.span(), context, problem));
            }
            Rule {
                sni: pattern(&r.sni)?,
                ..Rule::default()
            }
        }
    };
    Ok(L7Rule { rule, group })
}

/// A group name: 1 to [`MAX_GROUP_NAME`] letters, digits, `-`, `_` or `.`.
pub(super) fn group_name(g: &SStr, context: &str, ck: &Checker<'_>) -> Result<String, ConfigError> {
    let name = g.get_ref();
    let ok = !name.is_empty()
        && name.len() <= MAX_GROUP_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(ck.err(g.span(), context, Problem::BadGroupName(name.clone())));
    }
    Ok(name.clone())
}

/// Why the SYN proxy (turned on by `key`: `synproxy` or `l7`) cannot hold `svc`: not
/// TCP, or a real that answers clients directly (the director never sees its replies,
/// whose sequence numbers it would shift). `None`: it can (reals NAT or FULLNAT, mixed
/// or not, or none yet).
pub(super) fn synproxy_refusal(svc: &ServiceConfig, key: &'static str) -> Option<Problem> {
    if svc.proto != Proto::Tcp {
        return Some(Problem::SynproxyTcpOnly(key));
    }
    svc.direct_real().map(|r| Problem::SynproxyDirectReal {
        key,
        real: SocketAddr::new(r.ip, r.port).to_string(),
        forward: r.forward,
    })
}
