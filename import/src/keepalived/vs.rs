//! `virtual_server` blocks (by address, or by `virtual_server_group`) made into
//! `[[service]]` tables.

use std::net::{IpAddr, SocketAddr};

use super::check::{Timers, CHECKERS};
use super::tree::Node;
use super::{arg_bool, arg_uint, Cx};
use crate::error::{ImportError, Loc};
use crate::model::{Check, CheckKind, Forward, Real, Service, Tunnel};
use crate::words::{self, SCHEDULERS};

/// The tunnel of `lvs_method TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`,
/// refused where keepalived refuses it (a port exactly with gue, no checksum choice with
/// ipip, no remote checksum offload with gre).
fn tunnel(node: &Node, args: &[String]) -> Result<Tunnel, ImportError> {
    let err = |m: String| ImportError::at(&node.loc, format!("`{}` TUN: {m}", node.key()));
    let mut t = Tunnel::IPIP;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "type" => {
                t.kind = match words.next().map(String::as_str) {
                    Some("ipip") => "ipip",
                    Some("gue") => "gue",
                    Some("gre") => "gre",
                    Some(other) => return Err(err(format!("unknown tunnel type {other:?}"))),
                    None => return Err(err("a tunnel type after `type`".into())),
                }
            }
            "port" => {
                t.port = match words.next().map(|p| p.parse::<u16>()) {
                    Some(Ok(p)) if p > 0 => p,
                    _ => return Err(err("a port 1..65535 after `port`".into())),
                }
            }
            "nocsum" => t.csum = "nocsum",
            "csum" => t.csum = "csum",
            "remcsum" => t.csum = "remcsum",
            other => return Err(err(format!("invalid tunnel option {other:?}"))),
        }
    }
    if (t.kind == "gue") != (t.port != 0) {
        return Err(err(
            "a gue tunnel needs a port, and only a gue tunnel takes one".into(),
        ));
    }
    if t.kind == "ipip" && t.csum != "nocsum" {
        return Err(err("an ipip tunnel takes no checksum option".into()));
    }
    if t.kind == "gre" && t.csum == "remcsum" {
        return Err(err("a gre tunnel takes no remote checksum offload".into()));
    }
    Ok(t)
}

/// One `real_server` as read.
struct RealServer {
    loc: Loc,
    ip: IpAddr,
    port: Option<u16>,
    weight: u32,
    forward: Option<Forward>,
    upper: u32,
    lower: u32,
    inhibit: Option<bool>,
    check: Option<(Loc, Check)>,
}

/// What a `virtual_server` block says, before it is made into one service per address.
struct Settings {
    scheduler: String,
    forward: Forward,
    proto: &'static str,
    persistence: u32,
    mask: Option<(Loc, String)>,
    flags: Vec<&'static str>,
    laddrs: Vec<IpAddr>,
    synproxy: bool,
    inhibit: bool,
    sorry: Option<(Loc, IpAddr, Option<u16>)>,
    reals: Vec<RealServer>,
    timers: Timers,
}

impl Cx<'_> {
    pub(super) fn virtual_server(&mut self, node: &Node) -> Result<(), ImportError> {
        if node.block.is_none() {
            return Err(ImportError::at(&node.loc, "`virtual_server` needs a block"));
        }
        let addresses: Vec<(Loc, IpAddr, u16)> = match node.args() {
            [kw, _] if kw == "fwmark" => {
                self.drop(node, "`virtual_server fwmark`: rvs marks packets with its own [[mark]] rules, which this file does not hold; this virtual server is left out".to_string());
                return Ok(());
            }
            [kw, name] if kw == "group" => self.group_members(node, name)?,
            [ip] => vec![(node.loc.clone(), parse_ip(node, ip)?, 0)],
            [ip, port] => vec![(
                node.loc.clone(),
                parse_ip(node, ip)?,
                parse_port(node, port)?,
            )],
            _ => {
                return Err(ImportError::at(
                    &node.loc,
                    "`virtual_server` takes an address and port, `fwmark N` or `group NAME`",
                ))
            }
        };
        let v4 = addresses.first().map_or(true, |(_, ip, _)| ip.is_ipv4());
        let Some(settings) = self.settings(node, v4)? else {
            return Ok(());
        };
        for (loc, vip, port) in addresses {
            let service = self.service(node, &loc, &settings, vip, port);
            self.model.services.push(service);
        }
        Ok(())
    }

    /// The addresses and ports of `virtual_server_group NAME`.
    fn group_members(
        &mut self,
        node: &Node,
        name: &str,
    ) -> Result<Vec<(Loc, IpAddr, u16)>, ImportError> {
        let Some(group) = self.vs_groups.get(name).copied() else {
            return Err(ImportError::at(
                &node.loc,
                format!("`virtual_server group {name}`: no virtual_server_group {name}"),
            ));
        };
        let mut out = Vec::new();
        for entry in group.children() {
            let (range, port) = match entry.words.as_slice() {
                [kw, ..] if kw == "fwmark" => {
                    self.drop(
                        entry,
                        "`fwmark` in virtual_server_group: rvs marks packets with its own [[mark]] rules, which this file does not hold"
                            .to_string(),
                    );
                    continue;
                }
                [range] => (range, 0),
                [range, port] => (range, parse_port(entry, port)?),
                _ => {
                    return Err(ImportError::at(
                        &entry.loc,
                        "a virtual_server_group entry is an address or range and a port",
                    ))
                }
            };
            for ip in words::addresses(range).map_err(|e| ImportError::at(&entry.loc, e))? {
                out.push((entry.loc.clone(), ip, port));
            }
        }
        Ok(out)
    }

    fn settings(&mut self, node: &Node, v4: bool) -> Result<Option<Settings>, ImportError> {
        let mut s = Settings {
            scheduler: "wlc".to_string(),
            forward: Forward::Nat,
            proto: "tcp",
            persistence: 0,
            mask: None,
            flags: Vec::new(),
            laddrs: Vec::new(),
            synproxy: false,
            inhibit: false,
            sorry: None,
            reals: Vec::new(),
            timers: Timers::default(),
        };
        let mut flag_nodes = Vec::new();
        let mut real_nodes = Vec::new();
        for child in node.children() {
            if s.timers.take(child)? {
                continue;
            }
            let args = child.args();
            match child.key() {
                "lb_algo" | "lvs_sched" => match args {
                    [name] if SCHEDULERS.contains(&name.as_str()) => s.scheduler = name.clone(),
                    [name] => self.drop(
                        child,
                        format!("scheduler {name:?}: rvs has no such scheduler; wlc is used"),
                    ),
                    _ => {
                        return Err(ImportError::at(
                            &child.loc,
                            format!("`{}` takes a scheduler name", child.key()),
                        ))
                    }
                },
                "lb_kind" | "lvs_method" => s.forward = self.method(child)?,
                "persistence_timeout" => {
                    s.persistence = match args {
                        [] => 360,
                        _ => arg_uint(child, 0, u64::from(u32::MAX))? as u32,
                    }
                }
                "persistence_granularity" => match args {
                    [mask] => s.mask = Some((child.loc.clone(), mask.clone())),
                    _ => {
                        return Err(ImportError::at(
                            &child.loc,
                            "`persistence_granularity` takes a netmask",
                        ))
                    }
                },
                "protocol" => match args.first().map(|p| p.to_ascii_uppercase()).as_deref() {
                    Some("TCP") if args.len() == 1 => s.proto = "tcp",
                    Some("UDP") if args.len() == 1 => s.proto = "udp",
                    Some("SCTP") if args.len() == 1 => {
                        self.drop(child, "`protocol SCTP`: rvs balances TCP and UDP; this virtual server is left out".to_string());
                        return Ok(None);
                    }
                    _ => {
                        return Err(ImportError::at(
                            &child.loc,
                            "`protocol` takes TCP, UDP or SCTP",
                        ))
                    }
                },
                "sorry_server" => {
                    let loc = child.loc.clone();
                    s.sorry = Some(match args {
                        [ip] => (loc, parse_ip(child, ip)?, None),
                        [ip, port] => (loc, parse_ip(child, ip)?, Some(parse_port(child, port)?)),
                        _ => {
                            return Err(ImportError::at(
                                &child.loc,
                                "`sorry_server` takes an address and a port",
                            ))
                        }
                    })
                }
                "inhibit_on_failure" => s.inhibit = arg_bool(child)?,
                "quorum" => {
                    if arg_uint(child, 0, u64::from(u32::MAX))? != 1 {
                        self.drop(child, "`quorum`: rvs uses the sorry server when no real is up (keepalived's quorum 1); another total weight cannot be said".to_string());
                    }
                }
                "hysteresis" => {
                    if arg_uint(child, 0, u64::from(u32::MAX))? != 0 {
                        self.drop(
                            child,
                            "`hysteresis`: rvs has no quorum to dampen".to_string(),
                        );
                    }
                }
                "laddr_group_name" => match args {
                    [name] => s.laddrs = self.laddrs(child, name)?,
                    _ => {
                        return Err(ImportError::at(
                            &child.loc,
                            "`laddr_group_name` takes a name",
                        ))
                    }
                },
                "syn_proxy" => s.synproxy = true,
                "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
                | "mh-fallback" => flag_nodes.push(child),
                "real_server" => real_nodes.push(child),
                _ => self.unknown(child, "virtual_server"),
            }
        }
        for child in flag_nodes {
            self.flag(child, &mut s);
        }
        if let Some((loc, mask)) = &s.mask {
            if s.persistence == 0 {
                self.drop_at(loc, "`persistence_granularity` without `persistence_timeout`: nothing is persistent".to_string());
                s.mask = None;
            } else if !words::netmask(mask, v4) {
                return Err(ImportError::at(
                    loc,
                    format!("`persistence_granularity` {mask:?} is not a netmask"),
                ));
            }
        }
        for child in real_nodes {
            let real = self.real_server(child, s.timers)?;
            s.reals.push(real);
        }
        Ok(Some(s))
    }

    /// `lb_kind` / `lvs_method`.
    fn method(&mut self, node: &Node) -> Result<Forward, ImportError> {
        let args = node.args();
        let forward = match args.first().map(|m| m.to_ascii_uppercase()).as_deref() {
            Some("NAT") => Forward::Nat,
            Some("DR") => Forward::Dr,
            Some("TUN") => Forward::Tun(tunnel(node, &args[1..])?),
            Some("FNAT") => Forward::FullNat,
            _ => {
                return Err(ImportError::at(
                    &node.loc,
                    format!("`{}` takes NAT, DR, TUN or FNAT", node.key()),
                ))
            }
        };
        if args.len() > 1 && !matches!(forward, Forward::Tun(_)) {
            self.drop(
                node,
                format!(
                    "`{}` options {:?}: only TUN takes options (its tunnel)",
                    node.key(),
                    args[1..].join(" ")
                ),
            );
        }
        Ok(forward)
    }

    fn flag(&mut self, node: &Node, s: &mut Settings) {
        let sched = s.scheduler.as_str();
        let flag = match (node.key(), sched) {
            ("flag-1", "sh") | ("sh-fallback", "sh") => Some("sh-fallback"),
            ("flag-2", "sh") | ("sh-port", "sh") => Some("sh-port"),
            ("flag-1", "mh") | ("mh-fallback", "mh") => Some("mh-fallback"),
            ("flag-2", "mh") | ("mh-port", "mh") => Some("mh-port"),
            _ => None,
        };
        match flag {
            Some(f) if !s.flags.contains(&f) => s.flags.push(f),
            Some(_) => {}
            None => self.drop(
                node,
                format!(
                    "`{}`: rvs has no such flag for scheduler {sched}",
                    node.key()
                ),
            ),
        }
    }

    /// The addresses of `local_address_group NAME` (DPVS), for FULLNAT.
    fn laddrs(&mut self, node: &Node, name: &str) -> Result<Vec<IpAddr>, ImportError> {
        let Some(group) = self.laddr_groups.get(name).copied() else {
            return Err(ImportError::at(
                &node.loc,
                format!("`laddr_group_name {name}`: no local_address_group {name}"),
            ));
        };
        let mut out = Vec::new();
        for entry in group.children() {
            // DPVS writes `ADDRESS-RANGE DEVICE`; rvs takes the device from its routes.
            for ip in words::addresses(entry.key()).map_err(|e| ImportError::at(&entry.loc, e))? {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        Ok(out)
    }

    fn real_server(&mut self, node: &Node, vs_timers: Timers) -> Result<RealServer, ImportError> {
        let (ip, port) = match node.args() {
            [ip] => (parse_ip(node, ip)?, None),
            [ip, port] => (parse_ip(node, ip)?, Some(parse_port(node, port)?)),
            _ => {
                return Err(ImportError::at(
                    &node.loc,
                    "`real_server` takes an address and a port",
                ))
            }
        };
        let mut real = RealServer {
            loc: node.loc.clone(),
            ip,
            port,
            weight: 1,
            forward: None,
            upper: 0,
            lower: 0,
            inhibit: None,
            check: None,
        };
        let mut timers = Timers::default();
        let mut checkers = Vec::new();
        for child in node.children() {
            if timers.take(child)? {
                continue;
            }
            match child.key() {
                "weight" => {
                    let w = arg_uint(child, 0, u64::from(u32::MAX))?;
                    real.weight = if w > 65535 {
                        self.drop(child, format!("`weight` {w}: rvs weights go to 65535, which is used"));
                        65535
                    } else {
                        w as u32
                    };
                }
                "lb_kind" | "lvs_method" => real.forward = Some(self.method(child)?),
                "uthreshold" => real.upper = arg_uint(child, 0, u64::from(u32::MAX))? as u32,
                "lthreshold" => real.lower = arg_uint(child, 0, u64::from(u32::MAX))? as u32,
                "inhibit_on_failure" => real.inhibit = Some(arg_bool(child)?),
                "notify_up" | "notify_down" => self.drop(child, format!("`{}`: rvs runs no command when a real changes state (`rvsctl health` and the metrics show it)", child.key())),
                k if CHECKERS.contains(&k) => checkers.push(child),
                _ => self.unknown(child, "real_server"),
            }
        }
        let timers = timers.over(vs_timers);
        for checker in checkers {
            let made = self.checker(checker, timers)?;
            match (made, &real.check) {
                (Some(check), None) => real.check = Some((checker.loc.clone(), check)),
                (Some(_), Some(_)) => self.drop(
                    checker,
                    format!(
                        "a further checker `{}`: rvs checks a real one way",
                        checker.key()
                    ),
                ),
                (None, _) => {}
            }
        }
        Ok(real)
    }

    /// The service for one address of a virtual server.
    fn service(&mut self, node: &Node, loc: &Loc, s: &Settings, vip: IpAddr, port: u16) -> Service {
        let mut reals = Vec::new();
        let mut check: Option<Check> = None;
        let mut check_loc: Option<Loc> = None;
        let single = loc == &node.loc;
        for r in &s.reals {
            let forward = r.forward.unwrap_or(s.forward);
            let mut real_port = r.port.unwrap_or(port);
            if forward.keeps_port() && real_port != port {
                if single {
                    self.drop_at(&r.loc, format!("real port {real_port}: {} keeps the service port {port}, which is used", forward.name().to_uppercase()));
                }
                real_port = port;
            }
            let inhibit = r.inhibit.unwrap_or(s.inhibit);
            let checked = match &r.check {
                Some((cloc, c)) => {
                    let c = Check {
                        inhibit,
                        ..c.clone()
                    };
                    match &check {
                        None => {
                            check = Some(c);
                            check_loc = Some(cloc.clone());
                        }
                        Some(first) if *first != c && single => {
                            let at = check_loc
                                .as_ref()
                                .map(|l| l.to_string())
                                .unwrap_or_default();
                            self.drop_at(cloc, format!("this real's check differs from the one at {at}: an rvs service checks its reals one way, that one"));
                        }
                        Some(_) => {}
                    }
                    true
                }
                None => false,
            };
            reals.push(Real {
                ip: r.ip,
                port: real_port,
                weight: r.weight,
                forward,
                upper: r.upper,
                lower: r.lower,
                check: checked,
            });
        }
        if let Some((sorry_loc, ip, sorry_port)) = &s.sorry {
            let ip = *ip;
            // rvs reaches the sorry server like the first real; DR and TUN keep the port.
            let via = reals.first().map_or(s.forward, |r| r.forward);
            let mut sorry_port = sorry_port.unwrap_or(port);
            let sorry_loc = sorry_loc.clone();
            if via.keeps_port() && sorry_port != port {
                if single {
                    self.drop_at(&sorry_loc, format!("sorry_server port {sorry_port}: reached by {} like the first real, it keeps the service port {port}, which is used", via.name().to_uppercase()));
                }
                sorry_port = port;
            }
            let sorry = SocketAddr::new(ip, sorry_port);
            match &mut check {
                Some(c) => c.sorry = Some(sorry),
                None => {
                    // No real is checked: the sorry server is used when the service has no
                    // real, as keepalived's is.
                    let mut timers = s.timers;
                    timers.delay_loop =
                        Some(timers.delay_loop.unwrap_or(60.0).clamp(0.01, 86400.0));
                    let interval = timers.delay_loop.unwrap_or(60.0);
                    check = Some(Check {
                        kind: CheckKind::Tcp,
                        interval,
                        timeout: timers.connect_timeout.unwrap_or(5.0).clamp(0.01, interval),
                        rise: 1,
                        fall: (timers.retry.unwrap_or(1) + 1) as u32,
                        port: None,
                        inhibit: s.inhibit,
                        sorry: Some(sorry),
                    });
                }
            }
        }
        let mask = s.mask.as_ref().map(|(_, m)| m.clone());
        Service {
            source: format!("{loc}: virtual_server {}", node.args().join(" ")),
            proto: s.proto,
            vip,
            port,
            scheduler: s.scheduler.clone(),
            persistence: s.persistence,
            persistence_mask: mask,
            flags: s.flags.clone(),
            laddrs: s.laddrs.clone(),
            synproxy: s.synproxy,
            reals,
            check,
        }
    }
}

fn parse_ip(node: &Node, text: &str) -> Result<IpAddr, ImportError> {
    text.parse().map_err(|_| {
        ImportError::at(
            &node.loc,
            format!("{text:?} is not an IP address (names are not resolved)"),
        )
    })
}

fn parse_port(node: &Node, text: &str) -> Result<u16, ImportError> {
    words::uint(text)
        .filter(|p| *p <= 65535)
        .map(|p| p as u16)
        .ok_or_else(|| ImportError::at(&node.loc, format!("{text:?} is not a port number")))
}
