//! RSS-aligned flow ownership: a software model of a NIC's receive-side scaling, and
//! the ownership that makes a flow arrive on its owner's queue without a steering ring.
//!
//! A NIC with RSS hashes each frame's addresses and ports with the Toeplitz function
//! and a key, and the low bits of the hash index a redirection table (RETA) naming the
//! receive queue. With the symmetric key (`0x6d5a` repeated, [`SYMMETRIC_KEY`]) the
//! hash of a tuple and of its reverse are equal: the key repeats every 16 bits and the
//! source and destination fields sit 32 bits apart, so swapping them does not change
//! which key bits meet which input bits. Toeplitz is also linear over XOR of inputs
//! ([`toeplitz`]`(a ^ b) = toeplitz(a) ^ toeplitz(b)`), which the FULLNAT case uses.
//!
//! What RSS can align, with worker `w` polling queue `w` and the RETA spreading its
//! entries round-robin (`entry i -> queue i mod queues`, DPDK's default):
//! - traffic toward a VIP, both directions of the client <-> VIP tuple (DR and TUN see
//!   only the first, FULLNAT sends the second): the owner is [`forward_owner`], the RSS
//!   queue of the client -> VIP tuple, which the symmetric key makes the queue of the
//!   VIP -> client tuple as well;
//! - FULLNAT replies (real -> local address), when the owner picks the local port so
//!   that the reply hashes to its own queue: by linearity the reply's queue is
//!   `class(real, laddr, rport) ^ class(lport)` ([`reply_base_class`],
//!   [`port_class`]) for a power-of-two worker count, so the owner keeps its free
//!   ports bucketed by class and takes one from bucket `w ^ class(real, laddr, rport)`.
//!   The reply's owner is then its RSS queue, computable from the reply alone. Today's
//!   local-port allocation (`laddr`: low bits name the owner) does not do this, so
//!   FULLNAT replies keep crossing a steering ring when they arrive elsewhere; a NIC
//!   flow rule per worker (destination port & mask == w -> queue w) is the other way.
//! - NAT replies (real -> client) cannot be aligned: their hash mixes the real's address
//!   and port where the forward hash has the VIP's, and neither end of the connection
//!   is chosen by the director. They keep the steering rings, as does every device
//!   without RSS (af_packet, af_xdp and ring vdevs).
//!
//! The live path is not switched to this ownership yet: [`crate::steer`] still owns
//! flows by its own hash, and steering rings carry what RSS delivers elsewhere. This
//! module is the model, tested against a software RETA, for that switch.

use std::net::IpAddr;

/// The symmetric Toeplitz key: `0x6d5a` repeated over 40 bytes (enough for IPv6 with
/// ports: 36 bytes of input need 36 + 4 bytes of key).
pub const SYMMETRIC_KEY: [u8; 40] = {
    let mut k = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// The Toeplitz hash of `input` with `key` (at least `input.len() + 4` bytes; missing
/// key bits count as 0).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let mut window = u32::from_be_bytes([
        key.first().copied().unwrap_or(0),
        key.get(1).copied().unwrap_or(0),
        key.get(2).copied().unwrap_or(0),
        key.get(3).copied().unwrap_or(0),
    ]);
    let mut hash = 0;
    for (i, &byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    hash
}

/// The hash input of an IP + TCP/UDP tuple, as NICs lay it out: source address,
/// destination address, source port, destination port (12 bytes for IPv4, 36 for IPv6).
/// `None` when the two addresses are of different families.
fn tuple(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Option<([u8; 36], usize)> {
    let mut b = [0u8; 36];
    let len = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            b[..4].copy_from_slice(&s.octets());
            b[4..8].copy_from_slice(&d.octets());
            8
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            b[..16].copy_from_slice(&s.octets());
            b[16..32].copy_from_slice(&d.octets());
            32
        }
        _ => return None,
    };
    b[len..len + 2].copy_from_slice(&sport.to_be_bytes());
    b[len + 2..len + 4].copy_from_slice(&dport.to_be_bytes());
    Some((b, len + 4))
}

/// The symmetric RSS hash of a tuple (0 for mixed families).
pub fn symmetric_hash(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u32 {
    tuple(src, dst, sport, dport).map_or(0, |(b, len)| toeplitz(&SYMMETRIC_KEY, &b[..len]))
}

/// A redirection table: hash low bits -> receive queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reta {
    entries: Vec<u16>,
}

impl Reta {
    /// `size` entries (a power of two, as NICs have: 64, 128, 512) spreading `queues`
    /// queues round-robin.
    pub fn round_robin(size: usize, queues: u16) -> Self {
        let size = size.max(1).next_power_of_two();
        let queues = queues.max(1);
        Self {
            entries: (0..size)
                .map(|i| (i % usize::from(queues)) as u16)
                .collect(),
        }
    }

    /// The queue a frame with RSS hash `hash` arrives on.
    pub fn queue(&self, hash: u32) -> u16 {
        self.entries[hash as usize & (self.entries.len() - 1)]
    }
}

/// The owner of a connection from `client` to `vip`: the queue RSS delivers the client's
/// frames to, and (symmetric key) the VIP's frames to the client.
pub fn forward_owner(reta: &Reta, client: (IpAddr, u16), vip: (IpAddr, u16)) -> u16 {
    reta.queue(symmetric_hash(client.0, vip.0, client.1, vip.1))
}

/// The class of a local port for `workers` workers (a power of two): the part of a
/// FULLNAT reply's queue that the local port contributes.
pub fn port_class(port: u16, workers: u16) -> u16 {
    let mask = u32::from(workers.max(1).next_power_of_two() - 1);
    let alone = tuple(IpAddr::from([0u8; 4]), IpAddr::from([0u8; 4]), 0, port)
        .map_or(0, |(b, len)| toeplitz(&SYMMETRIC_KEY, &b[..len]));
    (alone & mask) as u16
}

/// The class of a FULLNAT reply from `real` to local address `laddr` with the local
/// port left out: the owner needs a local port of class `owner ^ this`.
pub fn reply_base_class(real: (IpAddr, u16), laddr: IpAddr, workers: u16) -> u16 {
    let mask = u32::from(workers.max(1).next_power_of_two() - 1);
    (symmetric_hash(real.0, laddr, real.1, 0) & mask) as u16
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    /// The key of Microsoft's RSS verification suite.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    #[test]
    fn toeplitz_matches_the_published_verification_vectors() {
        // 66.9.149.187:2794 -> 161.142.100.80:1766.
        let (b, len) = tuple(
            Ipv4Addr::new(66, 9, 149, 187).into(),
            Ipv4Addr::new(161, 142, 100, 80).into(),
            2794,
            1766,
        )
        .unwrap();
        assert_eq!(toeplitz(&MS_KEY, &b[..8]), 0x323e_8fc2, "IPv4 only");
        assert_eq!(
            toeplitz(&MS_KEY, &b[..len]),
            0x51cc_c178,
            "IPv4 with TCP ports"
        );
        // 199.92.111.2:14230 -> 65.69.140.83:4739.
        let (b, len) = tuple(
            Ipv4Addr::new(199, 92, 111, 2).into(),
            Ipv4Addr::new(65, 69, 140, 83).into(),
            14230,
            4739,
        )
        .unwrap();
        assert_eq!(toeplitz(&MS_KEY, &b[..8]), 0xd718_262a);
        assert_eq!(toeplitz(&MS_KEY, &b[..len]), 0xc626_b0ea);
    }

    fn v4() -> impl Strategy<Value = IpAddr> {
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
    }

    fn v6() -> impl Strategy<Value = IpAddr> {
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
    }

    fn pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
        prop_oneof![(v4(), v4()), (v6(), v6())]
    }

    proptest! {
        #[test]
        fn the_symmetric_key_hashes_both_directions_alike(
            (a, b) in pair(), pa in any::<u16>(), pb in any::<u16>(),
        ) {
            prop_assert_eq!(symmetric_hash(a, b, pa, pb), symmetric_hash(b, a, pb, pa));
        }

        /// Both directions of a client <-> VIP tuple arrive on the owner's queue.
        #[test]
        fn rss_delivers_vip_traffic_to_its_owner_both_ways(
            (client, vip) in pair(), cport in any::<u16>(), vport in any::<u16>(),
            workers in 1u16..=16, size in prop::sample::select(vec![64usize, 128, 512]),
        ) {
            let reta = Reta::round_robin(size, workers);
            let owner = forward_owner(&reta, (client, cport), (vip, vport));
            prop_assert!(owner < workers);
            let to_vip = reta.queue(symmetric_hash(client, vip, cport, vport));
            let to_client = reta.queue(symmetric_hash(vip, client, vport, cport));
            prop_assert_eq!(to_vip, owner);
            prop_assert_eq!(to_client, owner);
        }

        /// A FULLNAT reply arrives on the queue its local port's class says: an owner
        /// that picks a port of class `owner ^ base` receives the reply itself.
        #[test]
        fn a_fullnat_reply_lands_where_its_local_port_class_says(
            (real, laddr) in pair(), rport in any::<u16>(), lport in any::<u16>(),
            log_workers in 0u32..=4, size in prop::sample::select(vec![64usize, 128, 512]),
        ) {
            let workers = 1u16 << log_workers;
            let reta = Reta::round_robin(size, workers);
            let arrives = reta.queue(symmetric_hash(real, laddr, rport, lport));
            let predicted = reply_base_class((real, rport), laddr, workers)
                ^ port_class(lport, workers);
            prop_assert_eq!(arrives, predicted);
        }
    }

    #[test]
    fn every_worker_finds_local_ports_of_every_class() {
        for workers in [2u16, 4, 8, 16] {
            let mut seen = vec![0u32; usize::from(workers)];
            for port in 1024..=u16::MAX {
                seen[usize::from(port_class(port, workers))] += 1;
            }
            assert!(
                seen.iter().all(|&n| n > 1000),
                "{workers} workers: ports per class {seen:?}"
            );
        }
    }

    #[test]
    fn nat_replies_do_not_follow_the_forward_queue() {
        // The reply's hash has the real where the forward hash has the VIP: for some
        // clients the reply arrives on another worker, so NAT keeps the rings.
        let reta = Reta::round_robin(128, 4);
        let vip = (IpAddr::from([10, 0, 0, 100]), 80);
        let real = (IpAddr::from([10, 1, 0, 11]), 8080);
        let elsewhere = (0..1000u16)
            .filter(|&i| {
                let client = (IpAddr::from([198, 51, 100, (i % 250) as u8]), 20000 + i);
                let owner = forward_owner(&reta, client, vip);
                reta.queue(symmetric_hash(real.0, client.0, real.1, client.1)) != owner
            })
            .count();
        assert!(elsewhere > 100, "{elsewhere} of 1000 replies elsewhere");
    }
}
