//! Persistence (`ipvsadm -p`) holds on a director with several workers: every
//! connection of a client (of its persistence netmask, `-M`) reaches the real its first
//! one reached while the template lives, even when the workers' schedulers stand at
//! different places because other clients connected first. Each frame is handed to the
//! worker steering names (`steer::owner`), which must also be the worker that holds
//! its connection in the other direction. Frames are built and read with etherparse.

mod common;

use std::net::Ipv4Addr;

use common::multi::{
    mac_of_client, mac_of_real, ports_and_neighbours, segment, sent_tcp, Director, Owned, LAN, WAN,
};
use rvs_config::testbed::{LAN_MAC, WAN_MAC};
use rvs_config::Config;
use rvs_packet::packet::PacketBuf;

/// The persistent client, and another in its /24.
const CLIENT: [u8; 4] = [10, 0, 0, 2];
const NEIGHBOUR: [u8; 4] = [10, 0, 0, 3];
/// Connections each test client opens, from consecutive ports.
const PORTS: std::ops::Range<u16> = 20000..20016;

/// How a service reaches its reals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Nat,
    FullNat,
    Dr,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Nat, Mode::FullNat, Mode::Dr];

    fn forward(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
            Mode::Dr => "dr",
        }
    }

    /// The last octets of its three reals (10.1.0.x).
    fn reals(self) -> [u8; 3] {
        let base = 10 * (self as u8 + 1);
        [base + 1, base + 2, base + 3]
    }

    fn real_port(self) -> u16 {
        if self == Mode::Dr {
            80
        } else {
            8080
        }
    }
}

/// A persistent service under test.
#[derive(Clone, Copy, Debug)]
struct Svc {
    mode: Mode,
    scheduler: &'static str,
    /// Persistence per /24 of clients (`-M 255.255.255.0`) rather than per address.
    per_24: bool,
    vip: [u8; 4],
}

fn services() -> Vec<Svc> {
    let mut list = Vec::new();
    let mut last = 100;
    for mode in Mode::ALL {
        for scheduler in ["rr", "wlc"] {
            list.push(Svc {
                mode,
                scheduler,
                per_24: false,
                vip: [10, 0, 0, last],
            });
            last += 1;
        }
        // A NAT service's replies name only the client's address: persistence per
        // netmask needs one worker there (refused with more, see below).
        if mode != Mode::Nat {
            list.push(Svc {
                mode,
                scheduler: "rr",
                per_24: true,
                vip: [10, 0, 0, last],
            });
            last += 1;
        }
    }
    list
}

fn config(workers: u16) -> String {
    let reals = Mode::ALL.iter().flat_map(|m| m.reals());
    let mut text = ports_and_neighbours(workers, [CLIENT[3], NEIGHBOUR[3]], reals);
    for svc in services() {
        let [a, b, c, d] = svc.vip;
        text += &format!(
            "[[service]]\nproto = \"tcp\"\nvip = \"{a}.{b}.{c}.{d}\"\nport = 80\n\
             scheduler = \"{}\"\npersistence = 300\n",
            svc.scheduler
        );
        if svc.per_24 {
            text += "persistence_mask = \"255.255.255.0\"\n";
        }
        if svc.mode == Mode::FullNat {
            text += "laddrs = [\"10.1.0.2\"]\n";
        }
        for host in svc.mode.reals() {
            text += &format!(
                "[[service.real]]\nip = \"10.1.0.{host}\"\nport = {}\nforward = \"{}\"\n",
                svc.mode.real_port(),
                svc.mode.forward()
            );
        }
    }
    text
}

/// Open a connection from `client` to `svc`, its handshake forwarded both ways (the
/// real's SYN-ACK owned by the worker that made it): the real it reached, and that
/// worker.
fn connect(d: &mut Director, svc: Svc, client: ([u8; 4], u16)) -> (u8, u16) {
    let mac = mac_of_client(client.0[3]);
    let syn = segment((mac, WAN_MAC), client, (svc.vip, 80), true, false, &[]);
    let (holder, out) = d.receive(WAN, &syn);
    assert_eq!(out.len(), 1, "{svc:?} {client:?}: the SYN is forwarded");
    assert_eq!(out[0].0, LAN);
    let got = sent_tcp(out[0].1.data());
    let real = *svc
        .mode
        .reals()
        .iter()
        .find(|&&r| mac_of_real(r) == got.dst_mac)
        .expect("sent to one of the service's reals");
    if svc.mode == Mode::Dr {
        assert_eq!((got.src, got.dst), (client, (svc.vip, 80)));
        return (real, holder);
    }
    let real_addr = ([10, 1, 0, real], svc.mode.real_port());
    assert_eq!(got.dst, real_addr, "{svc:?}");
    let syn_ack = segment(
        (mac_of_real(real), LAN_MAC),
        real_addr,
        got.src,
        true,
        true,
        &[],
    );
    let (owner, out) = d.receive(LAN, &syn_ack);
    assert_eq!(owner, holder, "{svc:?} {client:?}: the reply's owner");
    assert_eq!(out.len(), 1, "{svc:?} {client:?}: the SYN-ACK is forwarded");
    let back = sent_tcp(out[0].1.data());
    assert_eq!(
        (back.dst_mac, back.src, back.dst),
        (mac, (svc.vip, 80), client),
        "{svc:?}"
    );
    (real, holder)
}

/// Set the workers' schedulers apart: worker `w` makes `w` connections to `svc` from
/// other clients (each in a /24 of its own, so each makes its own template).
fn skew(d: &mut Director, svc: Svc) {
    let workers = d.worker_count();
    let mut need: Vec<usize> = (0..workers).collect();
    for k in 0..=255u8 {
        // Ports of this service's own: NAT services share reals, and a NAT connection's
        // reply tuple (real -> client) must be unique.
        for port in [41000u16, 42000, 43000].map(|p| p + u16::from(svc.vip[3])) {
            let client = (Ipv4Addr::new(10, 100, k, 7).octets(), port);
            let syn = segment(
                (mac_of_client(254), WAN_MAC),
                client,
                (svc.vip, 80),
                true,
                false,
                &[],
            );
            let w = usize::from(d.owner(&syn));
            if need[w] > 0 {
                let (_, out) = d.receive(WAN, &syn);
                assert_eq!(out.len(), 1, "{svc:?} {client:?}: forwarded");
                need[w] -= 1;
            }
        }
    }
    assert!(
        need.iter().all(|&n| n == 0),
        "skewed every worker: {need:?}"
    );
}

/// Every connection of the persistent client (and of its /24 where the service is
/// persistent per /24) reaches one real.
fn every_connection_reaches_one_real(workers: u16, owned: Owned) {
    let mut d = Director::new(&config(workers), workers, owned);
    for svc in services() {
        skew(&mut d, svc);
        let mut clients = vec![CLIENT];
        if svc.per_24 {
            clients.push(NEIGHBOUR);
        }
        let mut reached = Vec::new();
        for &host in &clients {
            for port in PORTS.map(|p| p + 100 * u16::from(svc.vip[3] - 100)) {
                reached.push(connect(&mut d, svc, (host, port)));
            }
        }
        let first = reached[0].0;
        assert!(
            reached.iter().all(|&(real, _)| real == first),
            "{workers} workers {owned:?}, {svc:?}: reals and workers {reached:?}"
        );
    }
}

#[test]
fn persistence_holds_across_two_workers_by_hash() {
    every_connection_reaches_one_real(2, Owned::ByHash);
}

#[test]
fn persistence_holds_across_four_workers_by_hash() {
    every_connection_reaches_one_real(4, Owned::ByHash);
}

#[test]
fn persistence_holds_across_two_workers_by_rss() {
    every_connection_reaches_one_real(2, Owned::ByRss);
}

#[test]
fn persistence_holds_across_four_workers_by_rss() {
    every_connection_reaches_one_real(4, Owned::ByRss);
}

/// A NAT service persistent per netmask wider than one address: its replies are owned
/// by the client's address alone, so with several workers the configuration refuses it.
#[test]
fn nat_persistence_per_netmask_needs_one_worker() {
    let text = |workers: u16| {
        format!(
            "[dataplane]\nworkers = {workers}\n[[service]]\nproto = \"tcp\"\n\
             vip = \"10.0.0.100\"\nport = 80\npersistence = 300\n\
             persistence_mask = \"255.255.255.0\"\n\
             [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n"
        )
    };
    assert!(Config::parse(&text(1), "one.toml").is_ok());
    let refused = Config::parse(&text(2), "two.toml").unwrap_err();
    assert!(
        refused.to_string().contains("persistence_mask"),
        "{refused}"
    );
}

/// What a backup's connection sync installs lands on the worker its client's frames
/// will reach: a persistence template (masked client, port 0) on the worker of every
/// connection of its clients, a connection on the worker of its frames.
#[test]
fn synced_templates_and_connections_land_where_their_clients_go() {
    for owned in [Owned::ByHash, Owned::ByRss] {
        for workers in [2u16, 4] {
            let d = Director::new(&config(workers), workers, owned);
            let own = &d.snap.ownership;
            for svc in services() {
                let vip = std::net::SocketAddr::from((svc.vip, 80));
                let real = std::net::SocketAddr::from(([10, 1, 0, svc.mode.reals()[0]], 8080));
                for host in 2..40u8 {
                    let masked = if svc.per_24 {
                        [10, 0, 0, 0]
                    } else {
                        [10, 0, 0, host]
                    };
                    let template = std::net::SocketAddr::from((masked, 0));
                    let at = own.of_connection(
                        &d.snap.services,
                        rvs_conntrack::Proto::Tcp,
                        template,
                        vip,
                        real,
                        None,
                    );
                    for port in [20000u16, 20001, 33333] {
                        let client = ([10, 0, 0, host], port);
                        let syn = segment(
                            (mac_of_client(host), WAN_MAC),
                            client,
                            (svc.vip, 80),
                            true,
                            false,
                            &[],
                        );
                        assert_eq!(d.owner(&syn), at, "{svc:?} {client:?}");
                        let synced = own.of_connection(
                            &d.snap.services,
                            rvs_conntrack::Proto::Tcp,
                            client.into(),
                            vip,
                            real,
                            None,
                        );
                        assert_eq!(synced, at, "{svc:?} {client:?}: a synced connection");
                    }
                }
            }
        }
    }
}
