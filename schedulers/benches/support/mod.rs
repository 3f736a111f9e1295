//! Setup shared by the benches and `examples/mh_stats.rs`: reals and flows.
//!
//! Each user takes part of it, hence `dead_code` is allowed.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use rvs_schedulers::{Flow, RealLoad, RealServer};

/// Real `id` at 10.0.(id/256).(id%256):80 with `weight`, available, no thresholds.
pub fn real(id: u32, weight: u32) -> RealServer {
    RealServer {
        id,
        addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + id)),
        port: 80,
        weight,
        upper: 0,
        lower: 0,
        available: true,
    }
}

/// `n` reals with weights 1..=4.
pub fn reals(n: u32) -> Vec<RealServer> {
    (0..n).map(|i| real(i, 1 + i % 4)).collect()
}

/// `n` reals of weight 1.
pub fn equal_reals(n: u32) -> Vec<RealServer> {
    (0..n).map(|i| real(i, 1)).collect()
}

/// `n` reals with weights 1..=4 and a spread of connection counts.
pub fn cluster(n: u32) -> (Vec<RealServer>, Vec<RealLoad>) {
    let loads = (0..n)
        .map(|i| RealLoad {
            active: (i * 7) % 13,
            inactive: (i * 11) % 17,
            overloaded: false,
        })
        .collect();
    (reals(n), loads)
}

/// A flow from the `k`th of many spread-out client addresses (100.0.0.0 onwards, scattered
/// by a multiplicative hash) to 10.255.0.1:80.
pub fn client_flow(k: u32) -> Flow {
    Flow {
        client: IpAddr::V4(Ipv4Addr::from(
            k.wrapping_mul(2_654_435_761).wrapping_add(0x6400_0000),
        )),
        client_port: 0,
        dest: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)),
        dest_port: 80,
        now_ms: 0,
    }
}
