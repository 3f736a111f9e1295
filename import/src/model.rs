//! What an importer makes of a source file, before it is written as TOML: the part of
//! rvs's configuration that keepalived and ldirectord files can describe.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A whole imported configuration.
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// `[[port]]` tables for the kernel interfaces the source names.
    pub ports: Vec<Port>,
    /// `[timeouts]`, when the source sets them.
    pub timeouts: Option<Timeouts>,
    /// `[ha]`.
    pub ha: Option<Ha>,
    /// `[[service]]`, in source order.
    pub services: Vec<Service>,
}

/// `[[port]]`.
#[derive(Debug)]
pub(crate) struct Port {
    pub name: String,
    pub device: String,
    /// The kernel interface it stands for.
    pub iface: String,
    /// The director's own addresses (from `--address`) then floating ones, as prefixes.
    pub addresses: Vec<String>,
}

/// `[timeouts]`; a key left `None` keeps rvs's default.
#[derive(Debug, Default)]
pub(crate) struct Timeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

/// `[ha]`.
#[derive(Debug)]
pub(crate) struct Ha {
    /// Where the source describes it (a comment in the output).
    pub source: String,
    pub port: String,
    pub vrid: u8,
    pub priority: u8,
    pub advert_interval: f64,
    pub preempt: bool,
    pub unicast_peers: Vec<Ipv4Addr>,
    pub notify: Vec<String>,
    pub garp: Vec<(&'static str, u32)>,
    pub floating: Vec<String>,
}

/// `[[service]]`.
#[derive(Debug)]
pub(crate) struct Service {
    /// Where the source describes it (a comment in the output).
    pub source: String,
    pub proto: &'static str,
    pub vip: IpAddr,
    pub port: u16,
    pub scheduler: String,
    pub persistence: u32,
    pub persistence_mask: Option<String>,
    pub flags: Vec<&'static str>,
    pub laddrs: Vec<IpAddr>,
    pub synproxy: bool,
    pub reals: Vec<Real>,
    pub check: Option<Check>,
}

/// `[[service.real]]`.
#[derive(Debug, Clone)]
pub(crate) struct Real {
    pub ip: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub forward: Forward,
    pub upper: u32,
    pub lower: u32,
    pub check: bool,
}

/// A forwarding method, as rvs spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forward {
    Nat,
    FullNat,
    Dr,
    Tun(Tunnel),
}

/// A tunnel real's `tun_type`, `tun_port` and `tun_csum`, as the file spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tunnel {
    pub kind: &'static str,
    pub port: u16,
    pub csum: &'static str,
}

impl Tunnel {
    /// IPIP, what a tunnel real gets when nothing else is said.
    pub const IPIP: Tunnel = Tunnel {
        kind: "ipip",
        port: 0,
        csum: "nocsum",
    };
}

impl Forward {
    /// The spelling of `forward`.
    pub fn name(self) -> &'static str {
        match self {
            Forward::Nat => "nat",
            Forward::FullNat => "fullnat",
            Forward::Dr => "dr",
            Forward::Tun(_) => "tun",
        }
    }

    /// Whether the real's port must be the service's.
    pub fn keeps_port(self) -> bool {
        matches!(self, Forward::Dr | Forward::Tun(_))
    }
}

/// The kind of a `[service.check]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CheckKind {
    Tcp,
    Http {
        path: String,
        expect: (u16, u16),
        body: String,
    },
    Udp {
        send: String,
    },
    Misc {
        command: Vec<String>,
        dynamic: bool,
    },
}

/// `[service.check]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub kind: CheckKind,
    pub interval: f64,
    pub timeout: f64,
    pub rise: u32,
    pub fall: u32,
    pub port: Option<u16>,
    pub inhibit: bool,
    pub sorry: Option<SocketAddr>,
}

/// A prefix written for rvs: an address without its length gets the host length.
pub(crate) fn host_prefix(text: &str) -> Option<String> {
    match text.split_once('/') {
        Some((addr, len)) => {
            let addr: IpAddr = addr.parse().ok()?;
            let len: u8 = len.parse().ok()?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            (len <= max).then(|| format!("{addr}/{len}"))
        }
        None => {
            let addr: IpAddr = text.parse().ok()?;
            Some(format!("{addr}/{}", if addr.is_ipv4() { 32 } else { 128 }))
        }
    }
}
