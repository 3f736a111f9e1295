//! Longest-prefix-match routing for IPv4 and IPv6.
//!
//! The table holds the configured routes (`[[route]]`) and a connected route for the
//! prefix of every port address (no next hop: the destination itself is the next hop).
//! It is built on the control core and immutable afterwards; [`RouteTable::lookup`]
//! never allocates.
//!
//! Layout: per address family, one hash map per prefix length in use, probed from the
//! longest length down, so a lookup costs one masked probe per distinct length (a handful
//! for the tens of routes a director has).
//!
//! Precedence for one exact prefix: a configured route replaces a connected one (the
//! operator asked for it); when two ports have addresses in one prefix the first port
//! in configuration order keeps the connected route.

use std::net::IpAddr;

use hashbrown::HashMap;

use rvs_config::{mask_addr, Config, IpNet, PortConfig, PortId, RouteConfig};

/// Where a lookup says to send a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteHit {
    /// Egress port.
    pub port: PortId,
    /// The address to resolve to a MAC: the route's gateway, or the destination itself.
    pub next_hop: IpAddr,
}

/// How a route entered the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Derived from a port address.
    Connected,
    /// A `[[route]]` of the configuration.
    Static,
}

/// One route of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix (host bits clear).
    pub prefix: IpNet,
    /// Gateway; `None` when the destination is on link.
    pub via: Option<IpAddr>,
    /// Egress port.
    pub port: PortId,
    /// Connected or static.
    pub kind: RouteKind,
}

/// The routes of one family: a map per prefix length, longest first.
#[derive(Clone, Debug, Default)]
struct Family {
    /// (prefix length, network bits -> index into `RouteTable::routes`), by length descending.
    levels: Vec<(u8, HashMap<u128, usize>)>,
}

impl Family {
    fn get(&self, len: u8, key: u128) -> Option<usize> {
        let (_, map) = self.levels.iter().find(|(l, _)| *l == len)?;
        map.get(&key).copied()
    }

    fn insert(&mut self, len: u8, key: u128, index: usize) {
        let pos = match self.levels.iter().position(|(l, _)| *l <= len) {
            Some(p) if self.levels[p].0 == len => p,
            Some(p) => {
                self.levels.insert(p, (len, HashMap::new()));
                p
            }
            None => {
                self.levels.push((len, HashMap::new()));
                self.levels.len() - 1
            }
        };
        self.levels[pos].1.insert(key, index);
    }

    fn lookup(&self, dst: IpAddr) -> Option<usize> {
        self.levels
            .iter()
            .find_map(|(len, map)| map.get(&key(dst, *len)).copied())
    }
}

/// `ip` masked to `len` bits, as a map key.
fn key(ip: IpAddr, len: u8) -> u128 {
    match mask_addr(ip, len) {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// An immutable longest-prefix-match table over IPv4 and IPv6.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    v4: Family,
    v6: Family,
}

impl RouteTable {
    /// The table of a validated configuration: connected routes of its ports, then its routes.
    pub fn from_config(config: &Config) -> Self {
        Self::build(&config.ports, &config.routes)
    }

    /// Connected routes from `ports` (whose index is their [`PortId`]), then `routes`.
    /// Ports past `u16::MAX` are ignored (a validated configuration has none).
    pub fn build(ports: &[PortConfig], routes: &[RouteConfig]) -> Self {
        let mut table = Self::default();
        for (i, port) in ports.iter().enumerate() {
            let Ok(id) = u16::try_from(i) else { break };
            for addr in &port.addresses {
                table.add(
                    Route {
                        prefix: addr.network(),
                        via: None,
                        port: PortId(id),
                        kind: RouteKind::Connected,
                    },
                    false,
                );
            }
        }
        for r in routes {
            table.add(
                Route {
                    prefix: r.prefix.network(),
                    via: r.via,
                    port: r.port,
                    kind: RouteKind::Static,
                },
                true,
            );
        }
        table
    }

    /// Add `route`; on an exact prefix already present, replace it only when `replace`.
    fn add(&mut self, route: Route, replace: bool) {
        let len = route.prefix.prefix_len();
        let k = key(route.prefix.addr(), len);
        let family = if route.prefix.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        match family.get(len, k) {
            Some(old) if replace => self.routes[old] = route,
            Some(_) => {}
            None => {
                family.insert(len, k, self.routes.len());
                self.routes.push(route);
            }
        }
    }

    /// The longest-prefix match for `dst`, or `None` when no route covers it. Never allocates.
    pub fn lookup(&self, dst: IpAddr) -> Option<RouteHit> {
        let family = if dst.is_ipv4() { &self.v4 } else { &self.v6 };
        let route = &self.routes[family.lookup(dst)?];
        Some(RouteHit {
            port: route.port,
            next_hop: route.via.unwrap_or(dst),
        })
    }

    /// Every route, connected ones first, in the order they were added.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn port(name: &str, addrs: &[&str]) -> PortConfig {
        PortConfig {
            name: name.into(),
            device: String::new(),
            mac: None,
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            kernel: None,
            rss: Default::default(),
            mtu: rvs_config::DEFAULT_MTU,
        }
    }

    fn route(prefix: &str, via: Option<&str>, port: u16) -> RouteConfig {
        RouteConfig {
            prefix: prefix.parse().unwrap(),
            via: via.map(ip),
            port: PortId(port),
        }
    }

    fn hit(port: u16, next_hop: &str) -> Option<RouteHit> {
        Some(RouteHit {
            port: PortId(port),
            next_hop: ip(next_hop),
        })
    }

    #[test]
    fn longest_prefix_wins_among_overlapping_routes() {
        let t = RouteTable::build(
            &[],
            &[
                route("10.0.0.0/8", Some("192.0.2.1"), 0),
                route("10.1.0.0/16", Some("192.0.2.2"), 1),
                route("10.1.2.0/24", Some("192.0.2.3"), 2),
                route("10.1.2.3/32", Some("192.0.2.4"), 3),
            ],
        );
        assert_eq!(t.lookup(ip("10.9.9.9")), hit(0, "192.0.2.1"));
        assert_eq!(t.lookup(ip("10.1.9.9")), hit(1, "192.0.2.2"));
        assert_eq!(t.lookup(ip("10.1.2.9")), hit(2, "192.0.2.3"));
        assert_eq!(t.lookup(ip("10.1.2.3")), hit(3, "192.0.2.4"));
        assert_eq!(t.lookup(ip("11.0.0.1")), None);
        assert_eq!(t.lookup(ip("::1")), None);
    }

    #[test]
    fn default_routes_are_per_family() {
        let t = RouteTable::build(
            &[],
            &[
                route("0.0.0.0/0", Some("10.0.0.254"), 0),
                route("::/0", Some("2001:db8::fffe"), 1),
                route("2001:db8:1::/48", None, 2),
                route("2001:db8:1::5/128", Some("2001:db8::9"), 3),
            ],
        );
        assert_eq!(t.lookup(ip("198.51.100.7")), hit(0, "10.0.0.254"));
        assert_eq!(t.lookup(ip("2001:db9::1")), hit(1, "2001:db8::fffe"));
        assert_eq!(
            t.lookup(ip("2001:db8:1:ffff::1")),
            hit(2, "2001:db8:1:ffff::1")
        );
        assert_eq!(t.lookup(ip("2001:db8:1::5")), hit(3, "2001:db8::9"));
        assert_eq!(t.lookup(ip("2001:db8:1::6")), hit(2, "2001:db8:1::6"));
    }

    #[test]
    fn connected_routes_come_from_port_addresses() {
        let ports = [
            port("wan0", &["10.0.0.1/24", "2001:db8::1/64"]),
            port("lan0", &["10.1.0.1/24", "10.0.0.9/24", "192.0.2.5/32"]),
        ];
        let t = RouteTable::build(&ports, &[route("0.0.0.0/0", Some("10.0.0.254"), 0)]);
        // On link: the destination is its own next hop.
        assert_eq!(t.lookup(ip("10.1.0.11")), hit(1, "10.1.0.11"));
        assert_eq!(t.lookup(ip("2001:db8::77")), hit(0, "2001:db8::77"));
        assert_eq!(t.lookup(ip("192.0.2.5")), hit(1, "192.0.2.5"));
        // Same prefix on two ports: the first port keeps it.
        assert_eq!(t.lookup(ip("10.0.0.77")), hit(0, "10.0.0.77"));
        // Elsewhere: the default route.
        assert_eq!(t.lookup(ip("10.2.0.1")), hit(0, "10.0.0.254"));
        assert_eq!(t.lookup(ip("2001:db9::1")), None);
        let connected = t
            .routes()
            .iter()
            .filter(|r| r.kind == RouteKind::Connected)
            .count();
        assert_eq!(connected, 4);
        assert_eq!(t.routes()[0].prefix.to_string(), "10.0.0.0/24");
    }

    #[test]
    fn a_configured_route_replaces_the_connected_one_for_its_prefix() {
        let ports = [
            port("wan0", &["10.0.0.1/24"]),
            port("lan0", &["10.1.0.1/24"]),
        ];
        let t = RouteTable::build(&ports, &[route("10.0.0.0/24", Some("10.1.0.254"), 1)]);
        assert_eq!(t.lookup(ip("10.0.0.5")), hit(1, "10.1.0.254"));
        assert_eq!(t.routes().len(), 2);
        assert_eq!(t.routes()[0].kind, RouteKind::Static);
    }

    #[test]
    fn the_example_configuration_routes() {
        let text = include_str!("../../../examples/rvs.toml");
        let c = Config::parse(text, "rvs.toml").unwrap();
        let t = RouteTable::from_config(&c);
        assert_eq!(t.lookup(ip("10.1.0.12")), hit(1, "10.1.0.12"));
        assert_eq!(t.lookup(ip("203.0.113.1")), hit(0, "10.0.0.254"));
        assert_eq!(t.lookup(ip("fd00:1::11")), hit(1, "fd00:1::11"));
        assert_eq!(t.lookup(ip("2001:db8:5::1")), hit(0, "2001:db8::fffe"));
    }

    #[test]
    fn empty_table_routes_nothing() {
        let t = RouteTable::default();
        assert_eq!(t.lookup(ip("10.0.0.1")), None);
        assert!(t.routes().is_empty());
    }
}
