//! Flow ownership: which worker owns a packet, as a pure function of the packet.
//!
//! Both directions of a connection must meet on the worker that holds it, without a
//! shared table:
//! - toward a VIP: `hash(client address, client port)`;
//! - a NAT reply (destination = the client): the same hash of its destination;
//! - a FULLNAT reply (destination = a local address): the low bits of the local port,
//!   which the owner allocated (see [`crate::laddr`]).

use std::net::IpAddr;

use crate::laddr::{addr_bits, worker_mask};
use crate::snapshot::Snapshot;
use crate::wire::{FrameInfo, L4Info};

/// The worker that owns a parsed frame, or `None` when any worker may handle it (ARP,
/// neighbour discovery, echo: the director's own traffic, answered where received).
pub fn owner(snap: &Snapshot, info: &FrameInfo) -> Option<u16> {
    let ip = info.ip.as_ref()?;
    let workers = snap.workers;
    let services = &snap.services;
    match ip.l4 {
        L4Info::Tcp { sport, dport, .. } | L4Info::Udp { sport, dport } => {
            Some(if services.is_laddr(ip.dst) {
                owner_by_local_port(dport, workers)
            } else if services.is_vip(ip.dst) {
                owner_by_client(ip.src, sport, workers)
            } else {
                owner_by_client(ip.dst, dport, workers)
            })
        }
        // The quoted packet is one the director sent: toward a real from a local address
        // (FULLNAT) or from the client (NAT), or toward the client from the VIP.
        L4Info::IcmpError { quoted: q, .. } => Some(if services.is_laddr(q.src) {
            owner_by_local_port(q.sport, workers)
        } else if services.is_vip(q.src) {
            owner_by_client(q.dst, q.dport, workers)
        } else {
            owner_by_client(q.src, q.sport, workers)
        }),
        _ => None,
    }
}

/// Owner of a packet from the client (or of a NAT reply, hashed on its destination).
pub fn owner_by_client(addr: IpAddr, port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let folded = addr_bits(addr);
    let h = mix64(folded ^ (u64::from(port) << 32 | u64::from(port)));
    ((h >> 32) % u64::from(workers)) as u16
}

/// Owner of a FULLNAT reply: the worker whose id sits in the local port's low bits.
/// With a worker count that is not a power of two, bits naming no worker fold back.
pub fn owner_by_local_port(port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    (port & worker_mask(workers)) % workers
}

/// A 64-bit finaliser (splitmix64): cheap, stable across builds and platforms.
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laddr::LocalPorts;

    #[test]
    fn one_worker_owns_everything() {
        assert_eq!(owner_by_client("10.0.0.1".parse().unwrap(), 5, 1), 0);
        assert_eq!(owner_by_local_port(4097, 1), 0);
    }

    #[test]
    fn clients_spread_over_workers_and_stay_put() {
        let mut per = [0u32; 3];
        for i in 0..3000u32 {
            let a = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let w = owner_by_client(a, 40000 + (i % 7) as u16, 3);
            assert_eq!(w, owner_by_client(a, 40000 + (i % 7) as u16, 3));
            per[w as usize] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }

    #[test]
    fn a_local_port_steers_back_to_the_worker_that_allocated_it() {
        let laddr: IpAddr = "10.1.0.2".parse().unwrap();
        for workers in [2u16, 3, 4] {
            for w in 0..workers {
                let mut lp = LocalPorts::new(w, workers, 3);
                lp.ensure(laddr);
                for _ in 0..50 {
                    let (_, port) = lp.alloc(&[laddr], 0).unwrap();
                    assert_eq!(owner_by_local_port(port, workers), w);
                }
            }
        }
    }
}
