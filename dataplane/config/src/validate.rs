//! Semantic checks of the whole file: the top-level sections (dataplane, ports, routes,
//! neighbours, timeouts, behaviour, ctl, announce) here, `[ha]` in `ha.rs` and services
//! in `service.rs`. Nothing else in the configuration code imports this module.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hashbrown::HashMap;
use rvs_conntrack::{ForwardMode, Timeouts};
use toml::Spanned;

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::net::IpNet;
use super::raw::{
    RawAnnounce, RawBehaviour, RawConfig, RawCtl, RawDataplane, RawNeighbor, RawPort, RawRoute,
    RawService, RawTimeouts, SStr,
};
use super::{
    device, ha, service, AnnounceConfig, Behaviour, Config, CtlConfig, DataplaneConfig, DpdkConfig,
    FragLimits, IdlePolicy, NeighborConfig, NoRealAnswer, PortConfig, PortId, RouteConfig, RssMode,
    ServiceConfig, DEFAULT_CONN_CAPACITY, DEFAULT_IDLE_MAX_US, DEFAULT_METRICS, DEFAULT_MTU,
    DEFAULT_SOCKET, DEFAULT_WORKERS, MAX_FRAG_DATAGRAMS, MAX_FRAG_FRAGMENTS, MAX_FRAG_MEMORY,
    MAX_FRAG_TIMEOUT, MAX_MTU, MIN_MTU_V4, MIN_MTU_V6,
};

/// A positive count: the value or its default; 0 is refused.
fn positive<T: Copy + Default + PartialEq>(
    ck: &Checker<'_>,
    v: &Option<Spanned<T>>,
    default: T,
    context: &str,
    name: &'static str,
) -> Result<T, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) if *s.get_ref() == T::default() => {
            Err(ck.err(s.span(), context, Problem::Zero(name)))
        }
        Some(s) => Ok(*s.get_ref()),
    }
}

/// Validate the whole file.
pub(super) fn build(raw: RawConfig, ck: &Checker<'_>) -> Result<Config, ConfigError> {
    let dataplane = dataplane(&raw.dataplane, ck)?;
    let (ports, names) = ports(&raw.port, ck)?;
    let routes = routes(&raw.route, &names, &ports, ck)?;
    let neighbors = neighbors(&raw.neighbor, &names, ck)?;
    let announce = raw.announce.as_ref().map(|a| announce(a, ck)).transpose()?;
    if announce.as_ref().and_then(|a| a.asn).is_none() {
        let prepending = raw
            .service
            .iter()
            .filter_map(|s| s.announce_prepend.as_ref());
        if let Some(p) = prepending.into_iter().find(|p| *p.get_ref() > 0) {
            return Err(ck.err(p.span(), "service: ", Problem::PrependWithoutAsn));
        }
    }
    let ha = raw
        .ha
        .as_ref()
        .map(|h| ha::ha(h, &ports, &names, ck))
        .transpose()?;
    let marks = super::mark::marks(&raw.mark, ck)?;
    let services = service::services(&raw.service, ck)?;
    if dataplane.workers > 1 {
        nat_persistence_per_address(&raw.service, &services, ck)?;
    }
    Ok(Config {
        dataplane,
        dpdk: DpdkConfig {
            eal_args: raw.dpdk.eal_args,
        },
        ports,
        routes,
        neighbors,
        timeouts: timeouts(&raw.timeouts, ck)?,
        behaviour: behaviour(&raw.behaviour, ck)?,
        ctl: ctl(&raw.ctl, ck)?,
        announce,
        ha,
        marks,
        services,
    })
}

/// With several workers, refuse a NAT service persistent per netmask wider than one
/// address (see [`Problem::NatPersistenceMask`] and `rvs_pipeline::owner_class`).
fn nat_persistence_per_address(
    raw: &[RawService],
    services: &[ServiceConfig],
    ck: &Checker<'_>,
) -> Result<(), ConfigError> {
    for (r, s) in raw.iter().zip(services) {
        let host = if s.vip.is_ipv4() { 32 } else { 128 };
        let sorry = s.check.as_ref().and_then(|c| c.sorry).is_some();
        let nat = s.reals.iter().any(|r| r.forward == ForwardMode::Nat)
            || (sorry && s.sorry_forward() == ForwardMode::Nat);
        if nat && s.persistence > 0 && s.persistence_prefix < host {
            let span = r.persistence_mask.as_ref().map_or(0..0, |m| m.span());
            return Err(ck.err(span, "service: ", Problem::NatPersistenceMask));
        }
    }
    Ok(())
}

fn dataplane(raw: &RawDataplane, ck: &Checker<'_>) -> Result<DataplaneConfig, ConfigError> {
    let context = "dataplane: ";
    let capacity = positive(
        ck,
        &raw.conn_capacity,
        DEFAULT_CONN_CAPACITY,
        context,
        "conn_capacity",
    )?;
    let max_sleep_us = positive(
        ck,
        &raw.idle_max_us,
        DEFAULT_IDLE_MAX_US,
        context,
        "idle_max_us",
    )?;
    let idle = match raw.idle.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("busy", _)) => IdlePolicy::Busy,
        Some(("backoff", _)) => IdlePolicy::Backoff { max_sleep_us },
        Some((other, span)) => {
            return Err(ck.err(span, context, Problem::UnknownIdle(other.to_owned())))
        }
    };
    Ok(DataplaneConfig {
        workers: positive(ck, &raw.workers, DEFAULT_WORKERS, context, "workers")?,
        // u32 always fits in usize on the 32- and 64-bit targets rvs supports.
        conn_capacity: capacity as usize,
        idle,
        fragments: frag_limits(raw, ck)?,
    })
}

/// `[dataplane] frag_*`, each within its range.
fn frag_limits(raw: &RawDataplane, ck: &Checker<'_>) -> Result<FragLimits, ConfigError> {
    let d = FragLimits::default();
    let within =
        |v: &Option<Spanned<u64>>, key: &'static str, default: usize, min: u64, max: u64| {
            let Some(s) = v else {
                return Ok(default);
            };
            let value = *s.get_ref();
            if !(min..=max).contains(&value) {
                let problem = Problem::FragOutOfRange {
                    key,
                    value,
                    min,
                    max,
                };
                return Err(ck.err(s.span(), "dataplane: ", problem));
            }
            Ok(value as usize)
        };
    Ok(FragLimits {
        memory: within(
            &raw.frag_memory,
            "frag_memory",
            d.memory,
            0,
            MAX_FRAG_MEMORY as u64,
        )?,
        datagrams: within(
            &raw.frag_datagrams,
            "frag_datagrams",
            d.datagrams,
            1,
            MAX_FRAG_DATAGRAMS as u64,
        )?,
        fragments: within(
            &raw.frag_fragments,
            "frag_fragments",
            d.fragments,
            2,
            MAX_FRAG_FRAGMENTS as u64,
        )?,
        timeout_s: within(
            &raw.frag_timeout,
            "frag_timeout",
            d.timeout_s as usize,
            1,
            u64::from(MAX_FRAG_TIMEOUT),
        )? as u32,
    })
}

/// A port name usable as a file name and in `--replay NAME=FILE`.
fn valid_port_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Ports, and a name -> id map for routes and neighbours.
fn ports(
    raw: &[RawPort],
    ck: &Checker<'_>,
) -> Result<(Vec<PortConfig>, HashMap<String, PortId>), ConfigError> {
    let mut names = HashMap::new();
    let mut first_seen = HashMap::new();
    let mut addrs = HashMap::new();
    let mut kernels = HashMap::new();
    let mut devices = DeviceClaims::default();
    let mut connected: HashMap<IpNet, &str> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        let name = p.name.get_ref();
        let context = format!("port {name}: ");
        if !valid_port_name(name) {
            return Err(ck.err(p.name.span(), "", Problem::BadPortName(name.clone())));
        }
        if let Some(&first) = first_seen.get(name) {
            let first_line = ck.line_at(first);
            let problem = Problem::DuplicatePort {
                name: name.clone(),
                first_line,
            };
            return Err(ck.err(p.name.span(), "", problem));
        }
        let id = u16::try_from(i)
            .map(PortId)
            .map_err(|_| ck.err(p.name.span(), &context, Problem::TooManyPorts))?;
        first_seen.insert(name.clone(), p.name.span().start);
        names.insert(name.clone(), id);
        let mac = p.mac.as_ref().map(|m| ck.mac(m, &context)).transpose()?;
        let mut addresses = Vec::with_capacity(p.addresses.len());
        devices.claim(&p.device, &context, ck)?;
        for a in &p.addresses {
            let net = ck.net(a, &context)?;
            if !a.get_ref().contains('/') {
                let problem = Problem::AddressWithoutPrefix(net.addr());
                return Err(ck.err(a.span(), &context, problem));
            }
            if addrs.insert(net.addr(), ()).is_some() {
                return Err(ck.err(
                    a.span(),
                    &context,
                    Problem::DuplicatePortAddress(net.addr()),
                ));
            }
            // IPv6 link-local prefixes are on every link: ports may share them.
            if !is_link_local(net.addr()) {
                match connected.get(&net.network()) {
                    Some(&other) if other != name.as_str() => {
                        let problem = Problem::PrefixOnTwoPorts {
                            prefix: net.network(),
                            other: other.to_owned(),
                        };
                        return Err(ck.err(a.span(), &context, problem));
                    }
                    _ => {
                        connected.insert(net.network(), name.as_str());
                    }
                }
            }
            addresses.push(net);
        }
        let kernel = match &p.kernel {
            None => None,
            Some(k) if !valid_interface_name(k.get_ref()) => {
                let problem = Problem::BadKernelInterface(k.get_ref().clone());
                return Err(ck.err(k.span(), &context, problem));
            }
            Some(k) if kernels.insert(k.get_ref().clone(), ()).is_some() => {
                let problem = Problem::DuplicateKernelInterface(k.get_ref().clone());
                return Err(ck.err(k.span(), &context, problem));
            }
            Some(k) => Some(k.get_ref().clone()),
        };
        let rss = match p.rss.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("auto", _)) => RssMode::Auto,
            Some(("off", _)) => RssMode::Off,
            Some((other, span)) => {
                return Err(ck.err(span, &context, Problem::UnknownRss(other.to_owned())))
            }
        };
        let mtu = port_mtu(p.mtu.as_ref(), &addresses, &context, ck)?;
        out.push(PortConfig {
            name: name.clone(),
            device: p.device.get_ref().clone(),
            mac,
            addresses,
            kernel,
            rss,
            mtu,
        });
    }
    Ok((out, names))
}

/// A port's `mtu`: [`DEFAULT_MTU`] when not set; from [`MIN_MTU_V4`] (or [`MIN_MTU_V6`]
/// when the port has an IPv6 address) to [`MAX_MTU`].
fn port_mtu(
    raw: Option<&Spanned<u32>>,
    addresses: &[IpNet],
    context: &str,
    ck: &Checker<'_>,
) -> Result<u16, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_MTU);
    };
    let v6 = addresses.iter().any(|a| a.addr().is_ipv6());
    let (min, why) = if v6 {
        (MIN_MTU_V6, " (the port has IPv6 addresses)")
    } else {
        (MIN_MTU_V4, "")
    };
    match u16::try_from(*raw.get_ref()) {
        Ok(mtu) if (min..=MAX_MTU).contains(&mtu) => Ok(mtu),
        _ => {
            let problem = Problem::BadMtu {
                mtu: *raw.get_ref(),
                min,
                max: MAX_MTU,
                why,
            };
            Err(ck.err(raw.span(), context, problem))
        }
    }
}

/// True for an IPv6 link-local address (fe80::/10), on-link on every port.
fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// The devices and kernel interfaces the ports seen so far open, with where each was
/// first named: two ports may not open one device, nor attach to one interface (each
/// would receive a copy of every frame).
#[derive(Default)]
struct DeviceClaims {
    names: HashMap<String, usize>,
    interfaces: HashMap<String, usize>,
}

impl DeviceClaims {
    fn claim(&mut self, device: &SStr, context: &str, ck: &Checker<'_>) -> Result<(), ConfigError> {
        let text = device.get_ref();
        let at = device.span().start;
        let name = device::device_name(text);
        if device::is_pci_address(text) || device::needs_no_pci(text) {
            if let Some(&first) = self.names.get(name) {
                let problem = Problem::DuplicateDevice {
                    name: name.to_owned(),
                    first_line: ck.line_at(first),
                };
                return Err(ck.err(device.span(), context, problem));
            }
            self.names.insert(name.to_owned(), at);
        }
        for iface in device::kernel_interfaces(text) {
            if let Some(&first) = self.interfaces.get(iface) {
                let problem = Problem::SharedInterface {
                    iface: iface.to_owned(),
                    first_line: ck.line_at(first),
                };
                return Err(ck.err(device.span(), context, problem));
            }
            self.interfaces.insert(iface.to_owned(), at);
        }
        Ok(())
    }
}

/// A Linux interface name: 1 to 15 bytes of letters, digits, `-`, `_` and `.`.
fn valid_interface_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn routes(
    raw: &[RawRoute],
    names: &HashMap<String, PortId>,
    ports: &[PortConfig],
    ck: &Checker<'_>,
) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut seen = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    // On-link prefixes per port: the ports' own (connected) and the on-link routes'.
    let mut on_link: Vec<Vec<IpNet>> = ports
        .iter()
        .map(|p| p.addresses.iter().map(IpNet::network).collect())
        .collect();
    for r in raw {
        if let (None, Ok(prefix), Some(port)) = (
            &r.via,
            r.prefix.get_ref().parse::<IpNet>(),
            names.get(r.port.get_ref()),
        ) {
            on_link[port.index()].push(prefix);
        }
    }
    for r in raw {
        let context = format!("route {}: ", r.prefix.get_ref());
        let prefix = ck.net(&r.prefix, &context)?;
        if prefix.network() != prefix {
            let problem = Problem::HostBitsSet {
                value: r.prefix.get_ref().clone(),
                network: prefix.network(),
            };
            return Err(ck.err(r.prefix.span(), &context, problem));
        }
        let via = match &r.via {
            None => None,
            Some(v) => {
                let via = ck.addr(v, &context)?;
                if via.is_ipv4() != prefix.is_ipv4() {
                    let problem = Problem::RouteFamily { prefix, via };
                    return Err(ck.err(v.span(), &context, problem));
                }
                Some((via, v.span()))
            }
        };
        let port = ck.port(&r.port, names, &context)?;
        let via = match via {
            None => None,
            Some((via, span)) => {
                let reachable =
                    is_link_local(via) || on_link[port.index()].iter().any(|n| n.contains(via));
                if !reachable {
                    let problem = Problem::ViaNotOnLink {
                        via,
                        port: r.port.get_ref().clone(),
                    };
                    return Err(ck.err(span, &context, problem));
                }
                Some(via)
            }
        };
        if let Some(&first) = seen.get(&prefix) {
            let first_line = ck.line_at(first);
            return Err(ck.err(
                r.prefix.span(),
                &context,
                Problem::DuplicateRoute { first_line },
            ));
        }
        seen.insert(prefix, r.prefix.span().start);
        out.push(RouteConfig { prefix, via, port });
    }
    Ok(out)
}

fn neighbors(
    raw: &[RawNeighbor],
    names: &HashMap<String, PortId>,
    ck: &Checker<'_>,
) -> Result<Vec<NeighborConfig>, ConfigError> {
    let mut seen = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for n in raw {
        let context = format!("neighbor {}: ", n.ip.get_ref());
        let ip = ck.addr(&n.ip, &context)?;
        let mac = ck.mac(&n.mac, &context)?;
        let port = ck.port(&n.port, names, &context)?;
        if let Some(&first) = seen.get(&(port, ip)) {
            let first_line = ck.line_at(first);
            return Err(ck.err(
                n.ip.span(),
                &context,
                Problem::DuplicateNeighbor { first_line },
            ));
        }
        seen.insert((port, ip), n.ip.span().start);
        out.push(NeighborConfig { ip, mac, port });
    }
    Ok(out)
}

fn timeouts(raw: &RawTimeouts, ck: &Checker<'_>) -> Result<Timeouts, ConfigError> {
    let d = Timeouts::default();
    let context = "timeouts: ";
    Ok(Timeouts {
        tcp: positive(ck, &raw.tcp, d.tcp, context, "tcp")?,
        tcpfin: positive(ck, &raw.tcpfin, d.tcpfin, context, "tcpfin")?,
        udp: positive(ck, &raw.udp, d.udp, context, "udp")?,
    })
}

fn behaviour(raw: &RawBehaviour, ck: &Checker<'_>) -> Result<Behaviour, ConfigError> {
    let d = Behaviour::default();
    let conn_reuse_mode = match &raw.conn_reuse_mode {
        None => d.conn_reuse_mode,
        Some(m) if *m.get_ref() & !Behaviour::REUSE_ALL != 0 => {
            let problem = Problem::BadConnReuseMode(*m.get_ref());
            return Err(ck.err(m.span(), "behaviour: ", problem));
        }
        Some(m) => *m.get_ref(),
    };
    let no_real = match raw
        .no_real
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None => d.no_real,
        Some(("icmp", _)) => NoRealAnswer::Icmp,
        Some(("rst", _)) => NoRealAnswer::Rst,
        Some(("drop", _)) => NoRealAnswer::Drop,
        Some((other, span)) => {
            let problem = Problem::UnknownNoReal(other.to_owned());
            return Err(ck.err(span, "behaviour: ", problem));
        }
    };
    Ok(Behaviour {
        conn_reuse_mode,
        expire_nodest_conn: raw.expire_nodest_conn.unwrap_or(d.expire_nodest_conn),
        expire_quiescent_template: raw
            .expire_quiescent_template
            .unwrap_or(d.expire_quiescent_template),
        sloppy_tcp: raw.sloppy_tcp.unwrap_or(d.sloppy_tcp),
        table_full_evict: raw.table_full_evict.unwrap_or(d.table_full_evict),
        no_real,
    })
}

fn announce(raw: &RawAnnounce, ck: &Checker<'_>) -> Result<AnnounceConfig, ConfigError> {
    if raw.file.get_ref().is_empty() {
        return Err(ck.err(raw.file.span(), "announce: ", Problem::EmptyAnnounceFile));
    }
    Ok(AnnounceConfig {
        file: PathBuf::from(raw.file.get_ref()),
        reload: raw.reload.clone(),
        asn: raw.asn,
    })
}

fn ctl(raw: &RawCtl, ck: &Checker<'_>) -> Result<CtlConfig, ConfigError> {
    let context = "ctl: ";
    let socket = match &raw.socket {
        None => PathBuf::from(DEFAULT_SOCKET),
        Some(s) if s.get_ref().is_empty() => {
            return Err(ck.err(s.span(), context, Problem::EmptySocketPath))
        }
        Some(s) => PathBuf::from(s.get_ref()),
    };
    let metrics = match &raw.metrics {
        None => DEFAULT_METRICS,
        Some(m) => m.get_ref().parse::<SocketAddr>().map_err(|_| {
            ck.err(
                m.span(),
                context,
                Problem::BadSocketAddr(m.get_ref().clone()),
            )
        })?,
    };
    let shutdown_timeout = match &raw.shutdown_timeout {
        None => crate::DEFAULT_SHUTDOWN_TIMEOUT,
        Some(t) if crate::SHUTDOWN_TIMEOUT_RANGE.contains(t.get_ref()) => {
            Duration::from_secs_f64(*t.get_ref())
        }
        Some(t) => return Err(ck.err(t.span(), context, Problem::BadShutdownTimeout)),
    };
    Ok(CtlConfig {
        socket,
        metrics,
        shutdown_timeout,
    })
}
