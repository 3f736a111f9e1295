//! Fixtures shared by the rvsadm tests: a table of services in the daemon's (unsorted) order,
//! with counters large enough to reach print_largenum's K, M, G and T suffixes.

#![allow(dead_code)] // each test file uses a part of the fixtures

use rvs_ctl::proto::{
    ConnInfo, Forward, Protocol, Rates, RealInfo, RealSpec, ServiceInfo, ServiceKey, ServiceSpec,
    Stats,
};

pub fn key(proto: Protocol, addr: &str) -> ServiceKey {
    ServiceKey {
        proto,
        addr: addr.parse().unwrap(),
    }
}

pub fn stats(v: [u64; 5]) -> Stats {
    Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
    }
}

pub fn rates(v: [u64; 5]) -> Rates {
    Rates {
        cps: v[0],
        inpps: v[1],
        outpps: v[2],
        inbps: v[3],
        outbps: v[4],
    }
}

pub struct R {
    pub addr: &'static str,
    pub forward: Forward,
    pub weight: u32,
    pub active: u64,
    pub inactive: u64,
    pub upper: u32,
    pub lower: u32,
    pub persistent: u64,
    pub stats: [u64; 5],
    pub rates: [u64; 5],
}

impl R {
    pub fn new(addr: &'static str, forward: Forward, weight: u32) -> Self {
        R {
            addr,
            forward,
            weight,
            active: 0,
            inactive: 0,
            upper: 0,
            lower: 0,
            persistent: 0,
            stats: [0; 5],
            rates: [0; 5],
        }
    }

    pub fn info(&self) -> RealInfo {
        RealInfo {
            spec: RealSpec {
                addr: self.addr.parse().unwrap(),
                forward: self.forward,
                weight: self.weight,
                upper: self.upper,
                lower: self.lower,
                tunnel: Default::default(),
            },
            active: self.active,
            inactive: self.inactive,
            persistent: self.persistent,
            overloaded: false,
            stats: stats(self.stats),
            rates: rates(self.rates),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn service(
    key: ServiceKey,
    scheduler: &str,
    flags: &[&str],
    persistence: u32,
    netmask: u8,
    laddrs: &[&str],
    s: [u64; 5],
    r: [u64; 5],
    reals: &[R],
) -> ServiceInfo {
    ServiceInfo {
        spec: ServiceSpec {
            key,
            scheduler: scheduler.to_string(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            persistence,
            netmask,
            one_packet: false,
        },
        laddrs: laddrs.iter().map(|a| a.parse().unwrap()).collect(),
        stats: stats(s),
        rates: rates(r),
        reals: reals.iter().map(R::info).collect(),
    }
}

/// The table, in an order the listing must sort: IPv6 first, UDP before TCP, 10.0.0.100
/// before 10.0.0.5, and a service's reals out of order.
pub fn table() -> Vec<ServiceInfo> {
    let v6 = service(
        key(Protocol::Tcp, "[2001:db8::100]:443"),
        "sh",
        &["sh-port", "sh-fallback"],
        1800,
        64,
        &[],
        [1, 2, 3, 4, 5],
        [0; 5],
        &[
            R::new("[2001:db8::12]:443", Forward::Tun, 3),
            R {
                active: 5,
                inactive: 6,
                stats: [1; 5],
                ..R::new("[2001:db8::11]:443", Forward::Dr, 2)
            },
        ],
    );
    let udp = service(
        key(Protocol::Udp, "10.0.0.100:53"),
        "rr",
        &[],
        0,
        32,
        &[],
        [0; 5],
        [0; 5],
        &[R {
            inactive: 7,
            ..R::new("192.168.1.3:53", Forward::Dr, 0)
        }],
    );
    let web = service(
        key(Protocol::Tcp, "10.0.0.100:80"),
        "wlc",
        &[],
        360,
        24,
        &["10.1.0.2", "10.1.0.3"],
        [
            123,
            123_456_789,
            99_999_999,
            12_345_678_901,
            123_456_789_012_345,
        ],
        [7, 100_000_000, 42, 999_999_999, 1_000_000_000],
        &[
            R {
                active: 1_234_567,
                upper: 5000,
                lower: 4000,
                stats: [5_000_000_000_000, 0, 1, 100_000_000, 0],
                rates: [123_456_789, 0, 0, 100_000_000_000_000, 0],
                ..R::new("192.168.1.10:8080", Forward::FullNat, 100)
            },
            R {
                active: 12,
                inactive: 34,
                persistent: 3,
                stats: [100, 200, 300, 400, 500],
                rates: [1, 2, 3, 4, 5],
                ..R::new("192.168.1.2:80", Forward::Nat, 1)
            },
        ],
    );
    let mh = service(
        key(Protocol::Tcp, "10.0.0.5:443"),
        "mh",
        &["mh-port", "mh-fallback"],
        0,
        32,
        &["10.1.0.9"],
        [0; 5],
        [0; 5],
        &[R::new("192.168.1.20:443", Forward::FullNat, 1)],
    );
    vec![v6, udp, web, mh]
}

#[allow(clippy::too_many_arguments)]
pub fn conn(
    proto: Protocol,
    expire_ms: u64,
    state: &str,
    client: &str,
    vip: &str,
    local: Option<&str>,
    real: &str,
    forward: Forward,
) -> ConnInfo {
    ConnInfo {
        proto,
        expire_ms,
        state: state.to_string(),
        client: client.parse().unwrap(),
        vip: vip.parse().unwrap(),
        local: local.map(|l| l.parse().unwrap()),
        real: real.parse().unwrap(),
        forward,
        worker: 0,
    }
}

/// Connections without FULLNAT local addresses, IPv4 and IPv6.
pub fn conns_plain() -> Vec<ConnInfo> {
    vec![
        conn(
            Protocol::Tcp,
            899_500,
            "ESTABLISHED",
            "203.0.113.7:51000",
            "10.0.0.100:80",
            None,
            "192.168.1.2:80",
            Forward::Nat,
        ),
        conn(
            Protocol::Udp,
            5_000,
            "UDP",
            "203.0.113.8:5353",
            "10.0.0.100:53",
            None,
            "192.168.1.3:53",
            Forward::Dr,
        ),
        conn(
            Protocol::Tcp,
            60_000,
            "SYN_RECV",
            "[2001:db8:ff::1]:40000",
            "[2001:db8::100]:443",
            None,
            "[2001:db8::11]:443",
            Forward::Dr,
        ),
    ]
}

/// The same plus a FULLNAT connection with a local address (expiring in 100 minutes).
pub fn conns_fullnat() -> Vec<ConnInfo> {
    let mut out = conns_plain();
    out.push(conn(
        Protocol::Tcp,
        6_000_000,
        "ESTABLISHED",
        "203.0.113.9:1234",
        "10.0.0.100:80",
        Some("10.1.0.2:1025"),
        "192.168.1.10:8080",
        Forward::FullNat,
    ));
    out
}
