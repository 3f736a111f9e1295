//! The two-port director that rvs's own tests, benches and fuzz targets configure, written
//! as TOML by [`TwoPortDirector`]. Not meant for operators: `examples/rvs.toml` is.
//!
//! The director has one worker, `wan0` (MAC [`WAN_MAC`], 10.0.0.1/24, and 2001:db8::1/64
//! when dual-stack) toward the clients, and `lan0` (MAC [`LAN_MAC`], 10.1.0.1/24, and
//! 2001:db8:1::1/64) toward the reals. The builder writes `[dataplane]`, the ports, the
//! routes and the static neighbours; callers append the sections their test is about
//! (services, `[ha]`, `[behaviour]`, `[timeouts]`), which TOML accepts in any order.
//!
//! ```
//! use rvs_config::testbed::TwoPortDirector;
//! use rvs_config::Config;
//!
//! let text = TwoPortDirector::new("mem", 64).client().real(11).to_toml()
//!     + "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n\
//!        [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n";
//! let config = Config::parse(&text, "test.toml").unwrap();
//! assert_eq!(config.neighbors.len(), 2);
//! ```

use std::fmt::Write;

use rvs_packet::wire::MacAddr;

/// `wan0`'s MAC.
pub const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// `lan0`'s MAC.
pub const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// The IPv4 gateway on `wan0` behind which clients are, when routes are written.
pub const GATEWAY: &str = "10.0.0.254";
/// The IPv6 gateway on `wan0`.
pub const GATEWAY6: &str = "2001:db8::fe";
/// The gateways' MAC.
pub const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
/// The client on `wan0`'s own subnet written by [`TwoPortDirector::client`].
pub const CLIENT: &str = "10.0.0.2";
/// That client's MAC.
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc1];

/// The MAC of real `10.1.0.{host}` as [`TwoPortDirector::real`] writes it: the host
/// number's decimal digits read as hex, so that `.11` has `02:00:00:00:01:11`. `host`
/// is below 100.
pub const fn real_mac(host: u8) -> [u8; 6] {
    assert!(host < 100, "real hosts are numbered below 100");
    [2, 0, 0, 0, 1, (host / 10) * 16 + host % 10]
}

/// A static neighbour: address, MAC, port name.
#[derive(Clone, Debug)]
struct Neighbor {
    ip: String,
    mac: [u8; 6],
    port: String,
}

/// Builds the TOML of the two-port director: see the [module](self) documentation.
#[derive(Clone, Debug)]
pub struct TwoPortDirector {
    device: String,
    conn_capacity: usize,
    dual_stack: bool,
    lan_extra: Vec<String>,
    default_routes: bool,
    neighbors: Vec<Neighbor>,
    mtu: Option<u16>,
}

impl TwoPortDirector {
    /// IPv4 only, no routes, no neighbours; both ports open `device` (not opened in
    /// replay or by in-memory tests) and the worker holds `conn_capacity` connections.
    pub fn new(device: &str, conn_capacity: usize) -> Self {
        Self {
            device: device.to_owned(),
            conn_capacity,
            dual_stack: false,
            lan_extra: Vec::new(),
            default_routes: false,
            neighbors: Vec::new(),
            mtu: None,
        }
    }

    /// Give each port its IPv6 address too; [`real`](Self::real), the routes and the
    /// gateway then cover both families.
    pub fn dual_stack(mut self) -> Self {
        self.dual_stack = true;
        self
    }

    /// One more address (`ip/len`) on `lan0`.
    pub fn lan_address(mut self, net: &str) -> Self {
        self.lan_extra.push(net.to_owned());
        self
    }

    /// Default routes through [`GATEWAY`] (and [`GATEWAY6`] when dual-stack) on `wan0`,
    /// without the gateways' neighbour entries.
    pub fn default_routes(mut self) -> Self {
        self.default_routes = true;
        self
    }

    /// [`default_routes`](Self::default_routes) with the gateways as static neighbours
    /// ([`GATEWAY_MAC`]).
    pub fn gateway(self) -> Self {
        let dual_stack = self.dual_stack;
        let with_v4 = self.default_routes().neighbor(GATEWAY, GATEWAY_MAC, "wan0");
        if dual_stack {
            with_v4.neighbor(GATEWAY6, GATEWAY_MAC, "wan0")
        } else {
            with_v4
        }
    }

    /// [`CLIENT`] as a static neighbour on `wan0`.
    pub fn client(self) -> Self {
        self.neighbor(CLIENT, CLIENT_MAC, "wan0")
    }

    /// Real `10.1.0.{host}` (and `2001:db8:1::{host}` when dual-stack) as a static
    /// neighbour on `lan0` with [`real_mac`]`(host)`.
    pub fn real(self, host: u8) -> Self {
        let mac = real_mac(host);
        let dual_stack = self.dual_stack;
        let with_v4 = self.neighbor(&format!("10.1.0.{host}"), mac, "lan0");
        if dual_stack {
            with_v4.neighbor(&format!("2001:db8:1::{host}"), mac, "lan0")
        } else {
            with_v4
        }
    }

    /// Both ports at `mtu` (`[[port]] mtu`; unset, the default).
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Any static neighbour.
    pub fn neighbor(mut self, ip: &str, mac: [u8; 6], port: &str) -> Self {
        self.neighbors.push(Neighbor {
            ip: ip.to_owned(),
            mac,
            port: port.to_owned(),
        });
        self
    }

    /// The configuration so far, ending with a newline.
    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        // Writing to a String cannot fail; `let _` keeps the code free of unwraps.
        let _ = write!(
            t,
            "[dataplane]\nworkers = 1\nconn_capacity = {}\n",
            self.conn_capacity
        );
        let (wan6, lan6) = if self.dual_stack {
            (&["2001:db8::1/64"][..], &["2001:db8:1::1/64"][..])
        } else {
            (&[][..], &[][..])
        };
        let wan = ["10.0.0.1/24"].iter().chain(wan6).copied();
        let lan = ["10.1.0.1/24"].iter().chain(lan6).copied();
        let lan = lan.chain(self.lan_extra.iter().map(String::as_str));
        self.write_port(&mut t, "wan0", WAN_MAC, wan);
        self.write_port(&mut t, "lan0", LAN_MAC, lan);
        if self.default_routes {
            write_route(&mut t, "0.0.0.0/0", GATEWAY);
            if self.dual_stack {
                write_route(&mut t, "::/0", GATEWAY6);
            }
        }
        for n in &self.neighbors {
            let _ = write!(
                t,
                "\n[[neighbor]]\nip = \"{}\"\nmac = \"{}\"\nport = \"{}\"\n",
                n.ip,
                MacAddr(n.mac),
                n.port
            );
        }
        t
    }

    fn write_port<'a>(
        &self,
        t: &mut String,
        name: &str,
        mac: [u8; 6],
        addresses: impl Iterator<Item = &'a str>,
    ) {
        let addresses: Vec<String> = addresses.map(|a| format!("\"{a}\"")).collect();
        let _ = write!(
            t,
            "\n[[port]]\nname = \"{name}\"\ndevice = \"{}\"\nmac = \"{}\"\naddresses = [{}]\n",
            self.device,
            MacAddr(mac),
            addresses.join(", ")
        );
        if let Some(mtu) = self.mtu {
            let _ = writeln!(t, "mtu = {mtu}");
        }
    }
}

fn write_route(t: &mut String, prefix: &str, via: &str) {
    let _ = write!(
        t,
        "\n[[route]]\nprefix = \"{prefix}\"\nvia = \"{via}\"\nport = \"wan0\"\n"
    );
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::Config;

    fn parse(d: &TwoPortDirector) -> Config {
        Config::parse(&d.to_toml(), "testbed.toml").expect("the testbed parses")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_bare_director_has_two_ipv4_ports_and_nothing_else() {
        let c = parse(&TwoPortDirector::new("mem", 64));
        assert_eq!((c.dataplane.workers, c.dataplane.conn_capacity), (1, 64));
        let ports: Vec<_> = c
            .ports
            .iter()
            .map(|p| (p.name.as_str(), p.device.as_str(), p.mac, p.addresses.len()))
            .collect();
        assert_eq!(
            ports,
            [
                ("wan0", "mem", Some(WAN_MAC), 1),
                ("lan0", "mem", Some(LAN_MAC), 1)
            ]
        );
        assert!(c.routes.is_empty() && c.neighbors.is_empty());
    }

    #[test]
    fn mtu_sets_both_ports() {
        let mtus = |d: &TwoPortDirector| parse(d).ports.iter().map(|p| p.mtu).collect::<Vec<_>>();
        assert_eq!(mtus(&TwoPortDirector::new("mem", 8)), [1500, 1500]);
        assert_eq!(
            mtus(&TwoPortDirector::new("mem", 8).mtu(1400)),
            [1400, 1400]
        );
    }

    #[test]
    fn a_dual_stack_gateway_and_reals_cover_both_families() {
        let d = TwoPortDirector::new("replay", 8)
            .dual_stack()
            .lan_address("10.1.0.254/24")
            .gateway()
            .client()
            .real(11);
        let c = parse(&d);
        assert_eq!(c.ports[0].addresses.len(), 2);
        assert_eq!(c.ports[1].addresses.len(), 3);
        let vias: Vec<_> = c.routes.iter().map(|r| r.via).collect();
        assert_eq!(vias, [Some(ip(GATEWAY)), Some(ip(GATEWAY6))]);
        let neighbors: Vec<_> = c.neighbors.iter().map(|n| (n.ip, n.mac)).collect();
        assert_eq!(
            neighbors,
            [
                (ip(GATEWAY), GATEWAY_MAC),
                (ip(GATEWAY6), GATEWAY_MAC),
                (ip(CLIENT), CLIENT_MAC),
                (ip("10.1.0.11"), [2, 0, 0, 0, 1, 0x11]),
                (ip("2001:db8:1::11"), [2, 0, 0, 0, 1, 0x11]),
            ]
        );
    }

    #[test]
    fn default_routes_alone_leave_the_gateway_to_be_resolved() {
        let c = parse(&TwoPortDirector::new("mem", 8).default_routes());
        assert_eq!(c.routes.len(), 1);
        assert!(c.neighbors.is_empty());
    }
}
