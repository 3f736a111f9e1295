//! Helpers for the unit tests.

use std::net::{IpAddr, Ipv4Addr};

use crate::{Flow, RealLoad, RealServer};

/// Real `id` at 10.0.(id/256).(id%256):80 with `weight`, available, no thresholds.
pub(crate) fn real(id: u32, weight: u32) -> RealServer {
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

/// Reals with ids 0.. and the given weights.
pub(crate) fn reals(weights: &[u32]) -> Vec<RealServer> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| real(i as u32, w))
        .collect()
}

/// A flow from client 192.168.x.y (`client` numbers it) to 10.255.0.1:80.
pub(crate) fn flow(client: u32) -> Flow {
    Flow {
        client: IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 + client)),
        client_port: 40000,
        dest: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)),
        dest_port: 80,
        now_ms: 0,
    }
}

/// Loads from `(active, inactive)` pairs.
pub(crate) fn loads(pairs: &[(u32, u32)]) -> Vec<RealLoad> {
    pairs
        .iter()
        .map(|&(active, inactive)| RealLoad {
            active,
            inactive,
            overloaded: false,
        })
        .collect()
}

/// Loads of `n` idle reals, every one flagged overloaded.
pub(crate) fn all_overloaded(n: usize) -> Vec<RealLoad> {
    vec![
        RealLoad {
            overloaded: true,
            ..RealLoad::default()
        };
        n
    ]
}
