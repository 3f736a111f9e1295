//! Semantic checks of `[ha]` and `[ha.sync]` (high availability between directors).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::raw::{RawHa, RawHaSync};
use super::sync_key::read_key_file;
use super::{GarpConfig, HaConfig, HaSyncConfig, PortConfig, PortId};
use toml::Spanned;

/// Default VRRP priority (keepalived's).
pub const DEFAULT_PRIORITY: u8 = 100;
/// Default advertisement interval.
pub const DEFAULT_ADVERT_INTERVAL: Duration = Duration::from_secs(1);
/// Default UDP port of connection sync.
pub const DEFAULT_SYNC_PORT: u16 = 8848;
/// Default `[ha.sync] refresh`: how often a master sends each connection again, changed
/// or not. Well under the shortest timeout that packets keep pushing back (FIN_WAIT's
/// 120 s, UDP's 300 s, ESTABLISHED's 900 s by default), so that a backup's entry never
/// ends before the master's does.
pub const DEFAULT_SYNC_REFRESH: Duration = Duration::from_secs(30);
/// Default `[ha] garp_master_repeat`: announcements sent at once on becoming master
/// (keepalived's default).
pub const DEFAULT_GARP_MASTER_REPEAT: u8 = 5;
/// Default `[ha] garp_master_delay`: when the second burst follows (keepalived's).
pub const DEFAULT_GARP_MASTER_DELAY: Duration = Duration::from_secs(5);
/// Most announcements of one address in one burst.
const MAX_GARP_REPEAT: u8 = 100;
/// Longest `[ha] garp_master_delay` and `garp_master_refresh`, in seconds.
const MAX_GARP_SECONDS: u64 = 86_400;
/// Longest `[ha.sync] refresh`, in seconds.
const MAX_SYNC_REFRESH_S: u64 = 3600;
/// Longest advertisement interval VRRPv3 can carry: 4095 centiseconds.
const MAX_ADVERT_CENTIS: f64 = 4095.0;

/// Validate `[ha]` against the ports (already validated, `names` maps their names).
pub(super) fn ha(
    raw: &RawHa,
    ports: &[PortConfig],
    names: &hashbrown::HashMap<String, PortId>,
    ck: &Checker<'_>,
) -> Result<HaConfig, ConfigError> {
    let context = "ha: ";
    let err = |span, problem| ck.err(span, context, problem);
    let port = ck.port(&raw.port, names, context)?;
    let vrid = match &raw.vrid {
        v if *v.get_ref() == 0 => return Err(err(v.span(), Problem::HaVrid)),
        v => *v.get_ref(),
    };
    let priority = match &raw.priority {
        None => DEFAULT_PRIORITY,
        Some(p) if !(1..=254).contains(p.get_ref()) => {
            return Err(err(p.span(), Problem::HaPriority(*p.get_ref())))
        }
        Some(p) => *p.get_ref(),
    };
    let advert_interval = match &raw.advert_interval {
        None => DEFAULT_ADVERT_INTERVAL,
        Some(s) => {
            let centis = s.get_ref() * 100.0;
            if !(1.0..=MAX_ADVERT_CENTIS).contains(&centis)
                || (centis - centis.round()).abs() > 1e-6
            {
                return Err(err(
                    s.span(),
                    Problem::HaAdvertInterval(s.get_ref().to_string()),
                ));
            }
            Duration::from_millis(centis.round() as u64 * 10)
        }
    };
    let mut unicast_peers = Vec::with_capacity(raw.unicast_peers.len());
    for p in &raw.unicast_peers {
        let ip = ck.addr(p, context)?;
        let IpAddr::V4(v4) = ip else {
            return Err(err(p.span(), Problem::HaPeerFamily(ip)));
        };
        if is_own(ports, ip) || unicast_peers.contains(&v4) || !usable_peer(v4) {
            return Err(err(p.span(), Problem::HaBadPeer(ip)));
        }
        unicast_peers.push(v4);
    }
    let mut floating = Vec::with_capacity(raw.floating.len());
    for f in &raw.floating {
        let net = ck.net(f, context)?;
        let on_port = ports.iter().any(|p| p.addresses.contains(&net));
        if !on_port || floating.contains(&net) {
            return Err(err(f.span(), Problem::HaFloating(f.get_ref().clone())));
        }
        floating.push(net);
    }
    // Adverts come from a port address that stays with this director.
    let source = ports[port.index()]
        .addresses
        .iter()
        .filter(|a| !floating.contains(a))
        .find_map(|a| match a.addr() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .ok_or_else(|| {
            err(
                raw.port.span(),
                Problem::HaPortWithoutIpv4(raw.port.get_ref().clone()),
            )
        })?;
    let garp = garp(raw, ck)?;
    let sync = raw
        .sync
        .as_ref()
        .map(|s| sync(s, ports, names, ck))
        .transpose()?;
    Ok(HaConfig {
        port,
        source,
        vrid,
        priority,
        advert_interval,
        preempt: raw.preempt.unwrap_or(true),
        unicast_peers,
        notify: raw.notify.clone(),
        floating,
        sync,
        garp,
    })
}

/// `[ha] garp_master_*`.
fn garp(raw: &RawHa, ck: &Checker<'_>) -> Result<GarpConfig, ConfigError> {
    let err = |span, problem| ck.err(span, "ha: ", problem);
    let repeat = |v: &Option<Spanned<u8>>, key: &'static str, default: u8| match v {
        None => Ok(default),
        Some(n) if !(1..=MAX_GARP_REPEAT).contains(n.get_ref()) => Err(err(
            n.span(),
            Problem::HaGarpRepeat(key, *n.get_ref(), MAX_GARP_REPEAT),
        )),
        Some(n) => Ok(*n.get_ref()),
    };
    let seconds = |v: &Option<Spanned<u64>>, key: &'static str, default: Duration| match v {
        None => Ok(default),
        Some(s) if *s.get_ref() > MAX_GARP_SECONDS => Err(err(
            s.span(),
            Problem::HaGarpSeconds(key, *s.get_ref(), MAX_GARP_SECONDS),
        )),
        Some(s) => Ok(Duration::from_secs(*s.get_ref())),
    };
    let defaults = GarpConfig::default();
    Ok(GarpConfig {
        master_repeat: repeat(
            &raw.garp_master_repeat,
            "garp_master_repeat",
            defaults.master_repeat,
        )?,
        master_delay: seconds(
            &raw.garp_master_delay,
            "garp_master_delay",
            defaults.master_delay,
        )?,
        master_refresh: seconds(
            &raw.garp_master_refresh,
            "garp_master_refresh",
            defaults.master_refresh,
        )?,
        master_refresh_repeat: repeat(
            &raw.garp_master_refresh_repeat,
            "garp_master_refresh_repeat",
            defaults.master_refresh_repeat,
        )?,
    })
}

fn sync(
    raw: &RawHaSync,
    ports: &[PortConfig],
    names: &hashbrown::HashMap<String, PortId>,
    ck: &Checker<'_>,
) -> Result<HaSyncConfig, ConfigError> {
    let context = "ha.sync: ";
    let err = |span, problem| ck.err(span, context, problem);
    let port = ck.port(&raw.port, names, context)?;
    let address = ck.addr(&raw.address, context)?;
    if address.is_ipv6() {
        return Err(err(raw.address.span(), Problem::HaSyncFamily(address)));
    }
    if !ports[port.index()]
        .addresses
        .iter()
        .any(|a| a.addr() == address)
    {
        return Err(err(
            raw.address.span(),
            Problem::HaSyncAddress(address, raw.port.get_ref().clone()),
        ));
    }
    if raw.peers.is_empty() {
        return Err(err(raw.port.span(), Problem::HaSyncNoPeers));
    }
    let mut seen = HashMap::new();
    let mut peers = Vec::with_capacity(raw.peers.len());
    for p in &raw.peers {
        let ip = ck.addr(p, context)?;
        if ip.is_ipv4() != address.is_ipv4() || is_own(ports, ip) || seen.insert(ip, ()).is_some() {
            return Err(err(p.span(), Problem::HaBadPeer(ip)));
        }
        peers.push(ip);
    }
    let udp_port = match &raw.udp_port {
        None => DEFAULT_SYNC_PORT,
        Some(p) if *p.get_ref() == 0 => return Err(err(p.span(), Problem::Zero("udp_port"))),
        Some(p) => *p.get_ref(),
    };
    let refresh = match &raw.refresh {
        None => DEFAULT_SYNC_REFRESH,
        Some(r) if !(1..=MAX_SYNC_REFRESH_S).contains(r.get_ref()) => {
            return Err(err(r.span(), Problem::HaSyncRefresh(*r.get_ref())));
        }
        Some(r) => Duration::from_secs(*r.get_ref()),
    };
    let insecure = raw.insecure.as_ref().is_some_and(|i| *i.get_ref());
    let (key_file, key) = match (&raw.key_file, &raw.insecure) {
        (Some(_), Some(i)) if *i.get_ref() => {
            return Err(err(i.span(), Problem::HaSyncKeyAndInsecure));
        }
        (Some(f), _) => {
            let path = key_path(ck.file, f.get_ref());
            let key = match ck.known_key {
                Some((known, key)) if known == path => key.clone(),
                _ => read_key_file(&path).map_err(|problem| {
                    let file = path.display().to_string().into();
                    err(f.span(), Problem::HaSyncKeyFile { file, problem })
                })?,
            };
            (Some(path), Some(key))
        }
        (None, _) if insecure => (None, None),
        (None, _) => {
            return Err(err(
                raw.port.span(),
                Problem::HaSyncNoKey { address, udp_port },
            ))
        }
    };
    Ok(HaSyncConfig {
        port,
        address,
        peers,
        udp_port,
        key_file,
        key,
        insecure,
        refresh,
    })
}

/// `key_file` as written, resolved against the folder of the configuration file `file`
/// when relative.
fn key_path(file: &str, key_file: &str) -> PathBuf {
    let key_file = Path::new(key_file);
    match Path::new(file).parent() {
        Some(dir) if key_file.is_relative() => dir.join(key_file),
        _ => key_file.to_path_buf(),
    }
}

/// True when `ip` is one of the director's port addresses.
fn is_own(ports: &[PortConfig], ip: IpAddr) -> bool {
    ports
        .iter()
        .any(|p| p.addresses.iter().any(|a| a.addr() == ip))
}

/// A unicast peer address: not unspecified, loopback, multicast or broadcast.
fn usable_peer(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast())
}
