//! The immutable view of the configuration that workers forward with.
//!
//! Built on the control core from a validated [`Config`]; workers hold it behind an `Arc`
//! and take up a new one between bursts.

use std::net::IpAddr;

use hashbrown::HashSet;
use rvs_conntrack::Timeouts;
use rvs_schedulers::BuildError;

use crate::laddr::PortScheme;
use crate::overlay::Overlay;
use crate::owner_class::OwnershipError;
use crate::ownership::Ownership;
use crate::route::RouteTable;
use crate::rss::Reta;
use crate::service::{IdRegistry, Services};
use rvs_config::{Behaviour, Config, IpNet, NeighborConfig, PortId};

/// A port as the pipeline sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortView {
    /// Configured name.
    pub name: String,
    /// The MAC the director uses on this port.
    pub mac: [u8; 6],
    /// The director's own addresses on this port.
    pub addresses: Vec<IpNet>,
    /// Finish L4 checksums in software on frames received or sent here (a port without
    /// checksum offload fed by a kernel that hands out partial checksums, such as veth).
    pub sw_checksum: bool,
    /// Largest IP packet the port sends (`[[port]] mtu`): what grown packets (tunnel
    /// headers, TOA, PROXY) are checked against.
    pub mtu: usize,
    /// The kernel interface mirroring this port (the exception path), as a port.
    pub kernel: Option<PortId>,
    /// For a kernel mirror: the port it mirrors (what the kernel sends leaves there).
    pub mirror_of: Option<PortId>,
}

impl PortView {
    /// The first address of the port in `addr`'s family (a tunnel's outer source).
    pub fn address_like(&self, addr: IpAddr) -> Option<IpAddr> {
        self.addresses
            .iter()
            .map(|n| n.addr())
            .find(|a| a.is_ipv4() == addr.is_ipv4())
    }
}

/// The MAC a port uses when neither the configuration nor a device gives one: locally
/// administered, unicast, numbered by port.
pub fn default_mac(port: PortId) -> [u8; 6] {
    let [hi, lo] = port.0.to_be_bytes();
    [0x02, 0x72, 0x76, 0x73, hi, lo.wrapping_add(1)]
}

/// Everything a worker reads per packet, built once per configuration change.
#[derive(Debug)]
pub struct Snapshot {
    /// Ports, indexed by [`PortId`].
    pub ports: Vec<PortView>,
    /// Virtual services.
    pub services: Services,
    /// Routes (configured and connected).
    pub routes: RouteTable,
    /// Static neighbours.
    pub neighbors: Vec<NeighborConfig>,
    /// Every next hop forwarding will need, on its port: route gateways and the next hop
    /// of each real (resolved ahead of traffic when a live director starts).
    pub next_hops: Vec<(PortId, IpAddr)>,
    /// The director's own addresses (all ports).
    pub own: HashSet<IpAddr>,
    /// `[ha] floating`: own addresses that move with mastership.
    pub floating: HashSet<IpAddr>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// IPVS's sysctls (`[behaviour]`).
    pub behaviour: Behaviour,
    /// Worker count (steering).
    pub workers: u16,
    /// Connections per worker.
    pub conn_capacity: usize,
    /// Each worker's fragment reassembly bounds (allocated when the worker is made).
    pub fragments: rvs_config::FragLimits,
    /// Who owns each flow (see [`crate::steer`]).
    pub ownership: Ownership,
}

/// The floating addresses of `[ha]` (none without it).
fn floating(config: &Config) -> HashSet<IpAddr> {
    config
        .ha
        .iter()
        .flat_map(|ha| ha.floating.iter().map(|n| n.addr()))
        .collect()
}

/// Route gateways and the next hop of every real, each once.
fn next_hops(config: &Config, services: &Services, routes: &RouteTable) -> Vec<(PortId, IpAddr)> {
    let gateways = config.routes.iter().filter_map(|r| Some((r.port, r.via?)));
    let reals = services
        .list()
        .iter()
        .flat_map(|s| s.sched.reals())
        .filter_map(|r| routes.lookup(r.addr))
        .map(|hit| (hit.port, hit.next_hop));
    let mut all: Vec<_> = gateways.chain(reals).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Why a running director refuses a new configuration's snapshot.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// A service's scheduler cannot be built.
    #[error(transparent)]
    Scheduler(#[from] BuildError),
    /// An edit would move the owner of a service's open connections.
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
}

impl Snapshot {
    /// Build from `config`. `device_macs[i]`, when given, is port `i`'s device MAC (used
    /// unless the configuration sets one); `sw_checksum[i]` says port `i` lacks offload.
    pub fn build(
        config: &Config,
        device_macs: &[Option<[u8; 6]>],
        sw_checksum: &[bool],
        ids: &mut IdRegistry,
    ) -> Result<Self, BuildError> {
        let mut ports = config
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| PortView {
                name: p.name.clone(),
                mac: p
                    .mac
                    .or(device_macs.get(i).copied().flatten())
                    .unwrap_or_else(|| default_mac(PortId(i as u16))),
                addresses: p.addresses.clone(),
                sw_checksum: sw_checksum.get(i).copied().unwrap_or(false),
                mtu: usize::from(p.mtu),
                kernel: None,
                mirror_of: None,
            })
            .collect::<Vec<_>>();
        for (main, mirror, p) in config.kernel_mirrors() {
            ports[main.index()].kernel = Some(mirror);
            ports.push(PortView {
                name: p.kernel.clone().unwrap_or_default(),
                // The kernel interface carries the port's MAC, so replies reach either.
                mac: ports[main.index()].mac,
                addresses: Vec::new(),
                sw_checksum: sw_checksum.get(mirror.index()).copied().unwrap_or(false),
                // The kernel interface is created with the port's MTU.
                mtu: usize::from(p.mtu),
                kernel: None,
                mirror_of: Some(main),
            });
        }
        let own = ports
            .iter()
            .flat_map(|p| p.addresses.iter().map(|n| n.addr()))
            .collect();
        let services = Services::rebuild(
            &config.services,
            &config.marks,
            ids,
            None,
            &Overlay::default(),
        )?;
        let routes = RouteTable::from_config(config);
        let next_hops = next_hops(config, &services, &routes);
        let ownership = Ownership::by_hash(config.dataplane.workers, &services);
        Ok(Self {
            services,
            routes,
            next_hops,
            neighbors: config.neighbors.clone(),
            own,
            floating: floating(config),
            timeouts: config.timeouts,
            behaviour: config.behaviour,
            workers: config.dataplane.workers,
            conn_capacity: config.dataplane.conn_capacity,
            fragments: config.dataplane.fragments,
            ports,
            ownership,
        })
    }

    /// This snapshot with flows owned by RSS queue, the devices' tables programmed
    /// after `reta` (round-robin over the workers' queues).
    pub fn with_rss(mut self, reta: Reta) -> Self {
        self.ownership = Ownership::by_rss(reta, self.workers, &self.services);
        self
    }

    /// How workers choose FULLNAT local ports under this snapshot's ownership.
    pub fn port_scheme(&self) -> PortScheme {
        self.ownership.port_scheme()
    }

    /// The snapshot of `config` for a director already running with `self`: ports keep
    /// their MACs and checksum needs, the worker count and table size stay, and every
    /// service whose scheduling is unchanged keeps its scheduler table (and so, on every
    /// worker, its scheduler state). Reals are scheduled as the health `overlay` says.
    /// Every service keeps the owner of its flows ([`Ownership::rebuilt`]): an edit that
    /// would move it is refused.
    pub fn rebuild(
        &self,
        config: &Config,
        overlay: &Overlay,
        ids: &mut IdRegistry,
    ) -> Result<Self, RebuildError> {
        let services = Services::rebuild(
            &config.services,
            &config.marks,
            ids,
            Some(&self.services),
            overlay,
        )?;
        let routes = RouteTable::from_config(config);
        // Every service keeps the ownership its open connections have.
        let ownership = self.ownership.rebuilt(&services)?;
        Ok(Self {
            next_hops: next_hops(config, &services, &routes),
            services,
            routes,
            neighbors: config.neighbors.clone(),
            own: self.own.clone(),
            floating: self.floating.clone(),
            timeouts: config.timeouts,
            behaviour: config.behaviour,
            workers: self.workers,
            conn_capacity: self.conn_capacity,
            fragments: self.fragments,
            ports: self.ports.clone(),
            ownership,
        })
    }

    /// The port with `id`.
    #[inline]
    pub fn port(&self, id: PortId) -> &PortView {
        &self.ports[id.index()]
    }

    /// The port named `name`.
    pub fn port_by_name(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .map(|i| PortId(i as u16))
    }

    /// True for the virtual router's addresses under `[ha]`, which only a master serves:
    /// VIPs, addresses `[[mark]]` rules name, FULLNAT local addresses and floating
    /// addresses.
    #[inline]
    pub fn moves(&self, addr: IpAddr) -> bool {
        self.services.is_vip(addr)
            || self.services.is_laddr(addr)
            || self.floating.contains(&addr)
            || self.services.marks_cover(addr)
    }

    /// True for the director's own addresses that stay with it whatever its `[ha]` state.
    #[inline]
    pub fn own_fixed(&self, addr: IpAddr) -> bool {
        self.own.contains(&addr) && !self.floating.contains(&addr)
    }

    /// True when the director answers ARP, neighbour solicitations and echo for `addr`:
    /// its own addresses, VIPs, every address a `[[mark]]` rule's destinations hold, and
    /// FULLNAT local addresses (reals reply to those).
    #[inline]
    pub fn answers_for(&self, addr: IpAddr) -> bool {
        self.own.contains(&addr)
            || self.services.is_vip(addr)
            || self.services.is_laddr(addr)
            || self.services.marks_cover(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hops_are_gateways_and_reals_once_each() {
        let text = r#"
[[port]]
name = "wan0"
device = "mem"
addresses = ["10.0.0.1/24"]
[[port]]
name = "lan0"
device = "mem"
addresses = ["10.1.0.1/24"]
[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
port = "wan0"
[[route]]
prefix = "10.2.0.0/16"
via = "10.1.0.254"
port = "lan0"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
[[service.real]]
ip = "10.1.0.11"
forward = "nat"
[[service.real]]
ip = "10.2.0.5"
forward = "nat"
[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 53
[[service.real]]
ip = "10.1.0.11"
forward = "nat"
[[service.real]]
ip = "2001:db8::5"
forward = "tun"
"#;
        let config = Config::parse(text, "t.toml").unwrap();
        let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (wan, lan) = (PortId(0), PortId(1));
        // 10.2.0.5 is behind 10.1.0.254; 10.1.0.11 is on-link (twice, listed once);
        // 2001:db8::5 has no route and is left out.
        assert_eq!(
            snap.next_hops,
            [
                (wan, ip("10.0.0.254")),
                (lan, ip("10.1.0.11")),
                (lan, ip("10.1.0.254"))
            ]
        );
    }
}
