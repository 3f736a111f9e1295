//! Changes (ipvsadm commands) applied to a configuration, and the check that the result
//! is one rvsd would accept from a file.
//!
//! [`apply`] edits a copy; the caller publishes it only when every change of the batch
//! applied and [`validate`] accepted the whole, so a refused batch changes nothing.

use std::net::SocketAddr;

use rvs_conntrack::{ForwardMode, Proto, Timeouts};
use rvs_ctl::proto::{
    Change, ErrorKind, ErrorReply, Forward, Protocol, RealSpec, ServiceKey, ServiceSpec, TunCsum,
    TunType, TunnelSpec,
};
use rvs_schedulers::{SchedFlags, SchedKind};

use rvs_config::{
    ClientAddress, Config, ConfigError, Problem, RealConfig, ServiceConfig, Tunnel, TunnelCsum,
    TunnelKind,
};

/// Apply `changes` to `config` in order; the first refusal stops, naming its change's
/// index (the caller discards `config` then).
pub fn apply(config: &mut Config, changes: &[Change]) -> Result<(), ErrorReply> {
    for (i, change) in changes.iter().enumerate() {
        apply_one(config, change).map_err(|e| e.at_change(i))?;
    }
    Ok(())
}

/// Check `config`, the result of `changes`, as if it were read from a file: every rule of
/// the file format holds. A refusal names the change it comes from, when one of
/// `changes` touched the service (and real) the problem is in: the last such change.
pub fn validate(config: &Config, changes: &[Change]) -> Result<Config, ErrorReply> {
    config
        .revalidate("running configuration")
        .map_err(|e| match e {
            ConfigError::Invalid {
                context, problem, ..
            } => {
                let culprit = culprit(changes, &context);
                let mut message = format!("{context}{problem}");
                if let (Problem::FullnatNeedsLaddrs, Some(i)) = (&problem, culprit) {
                    if let Some(service) = changed_service(&changes[i]) {
                        message += &format!(
                            ": add one with rvsadm -P {} -z ADDRESS",
                            service_arg(service)
                        );
                    }
                }
                let reply = ErrorReply::new(ErrorKind::Invalid, message);
                match culprit {
                    Some(i) => reply.at_change(i),
                    None => reply,
                }
            }
            other => ErrorReply::new(ErrorKind::Internal, other.to_string()),
        })
}

/// The service a change names, if any.
fn changed_service(change: &Change) -> Option<&ServiceKey> {
    match change {
        Change::AddService(spec) | Change::EditService(spec) => Some(&spec.key),
        Change::DeleteService(key) => Some(key),
        Change::AddReal { service, .. }
        | Change::EditReal { service, .. }
        | Change::DeleteReal { service, .. }
        | Change::AddLaddr { service, .. }
        | Change::DeleteLaddr { service, .. } => Some(service),
        Change::Clear | Change::SetTimeouts(_) => None,
    }
}

/// The real a change names, if any.
fn changed_real(change: &Change) -> Option<SocketAddr> {
    match change {
        Change::AddReal { real, .. } | Change::EditReal { real, .. } => Some(real.addr),
        Change::DeleteReal { addr, .. } => Some(*addr),
        _ => None,
    }
}

/// `-t VIP:PORT` (`-u` for UDP) as rvsadm takes it.
fn service_arg(key: &ServiceKey) -> String {
    if let Some(mark) = key.mark() {
        return format!("-f {mark}");
    }
    let opt = match key.proto {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
    };
    format!("{opt} {}", key.addr)
}

/// The change a validation problem in `context` comes from: the last change of the
/// service it names, preferring the last one of the real it names. `context` is the
/// configuration's object description (`service 10.0.0.100:80/tcp: real 10.1.0.11:8080: `).
fn culprit(changes: &[Change], context: &str) -> Option<usize> {
    let service_of = |key: &ServiceKey| {
        if let Some(mark) = key.mark() {
            return format!("service fwmark {mark}: ");
        }
        let proto = match key.proto {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        format!("service {}/{proto}: ", key.addr)
    };
    let touches_service =
        |c: &Change| changed_service(c).is_some_and(|key| context.starts_with(&service_of(key)));
    let touches_real = |c: &Change| {
        touches_service(c)
            && changed_real(c).is_some_and(|addr| context.contains(&format!("real {addr}: ")))
    };
    changes
        .iter()
        .rposition(touches_real)
        .or_else(|| changes.iter().rposition(touches_service))
}

fn apply_one(config: &mut Config, change: &Change) -> Result<(), ErrorReply> {
    match change {
        Change::AddService(spec) => {
            if find(config, &spec.key).is_ok() {
                return Err(ErrorReply::new(
                    ErrorKind::ServiceExists,
                    format!("service {} already exists", key_text(&spec.key)),
                ));
            }
            let mut svc = ServiceConfig {
                proto: proto(spec.key.proto),
                vip: spec.key.addr.ip(),
                port: spec.key.addr.port(),
                scheduler: SchedKind::Wlc,
                flags: SchedFlags::default(),
                persistence: 0,
                persistence_prefix: 0,
                laddrs: Vec::new(),
                reals: Vec::new(),
                announce: true,
                announce_med: None,
                announce_prepend: 0,
                announce_communities: Vec::new(),
                check: None,
                client_address: ClientAddress::None,
                synproxy: false,
                synproxy_wscale: rvs_config::DEFAULT_SYNPROXY_WSCALE,
                guard: rvs_config::GuardConfig::default(),
                one_packet: false,
                l7: None,
            };
            set_scheduling(&mut svc, spec)?;
            config.services.push(svc);
        }
        Change::EditService(spec) => {
            let i = find(config, &spec.key)?;
            set_scheduling(&mut config.services[i], spec)?;
        }
        Change::DeleteService(key) => {
            let i = find(config, key)?;
            config.services.remove(i);
        }
        Change::Clear => config.services.clear(),
        Change::AddReal { service, real } => {
            let i = find(config, service)?;
            let svc = &mut config.services[i];
            if real_index(svc, real.addr).is_some() {
                return Err(ErrorReply::new(
                    ErrorKind::RealExists,
                    format!("real {} already exists in {}", real.addr, key_text(service)),
                ));
            }
            svc.reals.push(real_config(real));
        }
        Change::EditReal { service, real } => {
            let i = find(config, service)?;
            let svc = &mut config.services[i];
            let j = real_index(svc, real.addr).ok_or_else(|| no_real(service, real.addr))?;
            // `-e` changes what ipvsadm knows of; whether the real is probed and the
            // content-switching group it serves stay.
            let (check, group) = (svc.reals[j].check, svc.reals[j].group.take());
            svc.reals[j] = RealConfig {
                check,
                group,
                ..real_config(real)
            };
        }
        Change::DeleteReal { service, addr } => {
            let i = find(config, service)?;
            let svc = &mut config.services[i];
            let j = real_index(svc, *addr).ok_or_else(|| no_real(service, *addr))?;
            svc.reals.remove(j);
        }
        Change::AddLaddr { service, addr } => {
            let i = find(config, service)?;
            let svc = &mut config.services[i];
            if svc.laddrs.contains(addr) {
                return Err(ErrorReply::new(
                    ErrorKind::LaddrExists,
                    format!(
                        "local address {addr} already exists in {}",
                        key_text(service)
                    ),
                ));
            }
            svc.laddrs.push(*addr);
        }
        Change::DeleteLaddr { service, addr } => {
            let i = find(config, service)?;
            let svc = &mut config.services[i];
            let j = svc.laddrs.iter().position(|a| a == addr).ok_or_else(|| {
                ErrorReply::new(
                    ErrorKind::NoLaddr,
                    format!("no local address {addr} in {}", key_text(service)),
                )
            })?;
            svc.laddrs.remove(j);
        }
        Change::SetTimeouts(t) => {
            let keep = |new: u32, old: u32| if new == 0 { old } else { new };
            let old = config.timeouts;
            config.timeouts = Timeouts {
                tcp: keep(t.tcp, old.tcp),
                tcpfin: keep(t.tcpfin, old.tcpfin),
                udp: keep(t.udp, old.udp),
            };
        }
    }
    Ok(())
}

/// Scheduler, flags and persistence of `spec` onto `svc`.
fn set_scheduling(svc: &mut ServiceConfig, spec: &ServiceSpec) -> Result<(), ErrorReply> {
    let kind: SchedKind = spec.scheduler.parse().map_err(|_| {
        ErrorReply::new(
            ErrorKind::Invalid,
            format!("unknown scheduler {:?}", spec.scheduler),
        )
    })?;
    // Which scheduler a flag belongs to, and the netmask's length, are checked with the
    // rest of the configuration (`validate`), by the same rules as a file.
    let flags = SchedFlags::parse(&spec.flags.join(","))
        .map_err(|e| ErrorReply::new(ErrorKind::Invalid, e.to_string()))?;
    svc.scheduler = kind;
    svc.flags = flags;
    svc.persistence = spec.persistence;
    svc.persistence_prefix = spec.netmask;
    svc.one_packet = spec.one_packet;
    Ok(())
}

fn find(config: &Config, key: &ServiceKey) -> Result<usize, ErrorReply> {
    let p = proto(key.proto);
    config
        .services
        .iter()
        .position(|s| s.proto == p && s.vip == key.addr.ip() && s.port == key.addr.port())
        .ok_or_else(|| {
            ErrorReply::new(
                ErrorKind::NoService,
                format!("no service {}", key_text(key)),
            )
        })
}

fn real_index(svc: &ServiceConfig, addr: SocketAddr) -> Option<usize> {
    svc.reals
        .iter()
        .position(|r| r.ip == addr.ip() && r.port == addr.port())
}

fn no_real(service: &ServiceKey, addr: SocketAddr) -> ErrorReply {
    ErrorReply::new(
        ErrorKind::NoReal,
        format!("no real {addr} in {}", key_text(service)),
    )
}

fn real_config(r: &RealSpec) -> RealConfig {
    RealConfig {
        ip: r.addr.ip(),
        port: r.addr.port(),
        weight: r.weight,
        forward: forward_mode(r.forward),
        upper: r.upper,
        lower: r.lower,
        check: true,
        group: None,
        tunnel: tunnel_config(&r.tunnel),
    }
}

/// The configuration's tunnel for a protocol's tunnel spec.
fn tunnel_config(t: &TunnelSpec) -> Tunnel {
    Tunnel {
        kind: match t.kind {
            TunType::Ipip => TunnelKind::Ipip,
            TunType::Gue => TunnelKind::Gue,
            TunType::Gre => TunnelKind::Gre,
        },
        port: t.port,
        csum: match t.csum {
            TunCsum::Nocsum => TunnelCsum::NoCsum,
            TunCsum::Csum => TunnelCsum::Csum,
            TunCsum::Remcsum => TunnelCsum::RemCsum,
        },
    }
}

/// The protocol's tunnel spec for a configured tunnel.
pub fn tunnel_spec(t: &Tunnel) -> TunnelSpec {
    TunnelSpec {
        kind: match t.kind {
            TunnelKind::Ipip => TunType::Ipip,
            TunnelKind::Gue => TunType::Gue,
            TunnelKind::Gre => TunType::Gre,
        },
        port: t.port,
        csum: match t.csum {
            TunnelCsum::NoCsum => TunCsum::Nocsum,
            TunnelCsum::Csum => TunCsum::Csum,
            TunnelCsum::RemCsum => TunCsum::Remcsum,
        },
    }
}

/// `tcp 10.0.0.100:80` for messages.
pub fn key_text(key: &ServiceKey) -> String {
    if let Some(mark) = key.mark() {
        return format!("fwmark {mark}");
    }
    let p = match key.proto {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    format!("{p} {}", key.addr)
}

/// The conntrack protocol of a service protocol.
pub fn proto(p: Protocol) -> Proto {
    match p {
        Protocol::Tcp => Proto::Tcp,
        Protocol::Udp => Proto::Udp,
    }
}

/// The protocol's name for a forwarding mode.
pub fn forward(mode: ForwardMode) -> Forward {
    match mode {
        ForwardMode::Nat => Forward::Nat,
        ForwardMode::FullNat => Forward::FullNat,
        ForwardMode::Dr => Forward::Dr,
        ForwardMode::Tun => Forward::Tun,
    }
}

fn forward_mode(f: Forward) -> ForwardMode {
    match f {
        Forward::Nat => ForwardMode::Nat,
        Forward::FullNat => ForwardMode::FullNat,
        Forward::Dr => ForwardMode::Dr,
        Forward::Tun => ForwardMode::Tun,
    }
}
