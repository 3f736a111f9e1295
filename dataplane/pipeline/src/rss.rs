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
//!   that the reply hashes to its own queue: by linearity the reply's hash is
//!   [`reply_base_hash`]`(real, laddr) ^ `[`port_hash`]`(lport)`, so the owner keeps its
//!   free ports bucketed by the low bits of their hash and takes one from a bucket
//!   `e ^ base` where table entry `e` names its queue ([`crate::laddr`]). The reply's
//!   owner is then its RSS queue, computable from the reply alone.
//! - NAT replies (real -> client) cannot be aligned: their hash mixes the real's address
//!   and port where the forward hash has the VIP's, and neither end of the connection
//!   is chosen by the director. Nor can they name their VIP: a real may serve several
//!   services, and edits share it, unshare it or move it while its connections drain.
//!
//! So ownership must not depend on which services a real serves. The rule
//! ([`crate::ownership::Ownership`]): a service owned by client address (one that reaches an
//! endpoint by NAT, or is persistent: see [`crate::owner_class`]) is owned by the hash
//! of the client's address in both directions, as without RSS, and every NAT reply is
//! owned by the hash of its destination's address; any other service is owned by the
//! RSS queue of the client -> VIP tuple. A service keeps its class while it exists, and
//! a deleted one owned by client address while its connections drain. FULLNAT replies
//! are owned by their RSS queue in every class, the owner having chosen the local port
//! for that. Frames RSS delivers elsewhere cross a steering ring, as does everything a
//! device without RSS (af_packet, af_xdp, ring vdevs) receives.
//!
//! With the symmetric key the hash depends only on the XOR of the input's 16-bit words
//! (every 16th bit position meets the same 32 key bits), so [`symmetric_hash`] folds the
//! tuple and looks the fold up in two 256-entry tables: a handful of operations per
//! packet instead of a bit loop. The same property is the key's known weakness: tuples
//! whose words XOR alike share a queue.

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

/// The symmetric key (`0x6d5a` repeated) for a device whose key has `len` bytes.
pub fn symmetric_key(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| if i % 2 == 0 { 0x6d } else { 0x5a })
        .collect()
}

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

#[cfg(test)]
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

/// The symmetric RSS hash of a tuple (0 for mixed families): what [`toeplitz`] with
/// [`SYMMETRIC_KEY`] gives, computed from the fold of the tuple's 16-bit words.
#[inline]
pub fn symmetric_hash(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u32 {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            hash_of_fold(fold(src) ^ fold(dst) ^ sport ^ dport)
        }
        _ => 0,
    }
}

/// An address's 16-bit words XORed together.
#[inline]
fn fold(addr: IpAddr) -> u16 {
    match addr {
        IpAddr::V4(a) => {
            let v = u32::from(a);
            (v >> 16) as u16 ^ v as u16
        }
        IpAddr::V6(a) => {
            let v = u128::from(a);
            let v = (v >> 64) as u64 ^ v as u64;
            let v = (v >> 32) as u32 ^ v as u32;
            (v >> 16) as u16 ^ v as u16
        }
    }
}

/// The symmetric hash of one 16-bit word in a tuple (at an even byte offset).
#[inline]
fn hash_of_fold(word: u16) -> u32 {
    FOLD_HI[usize::from(word >> 8)] ^ FOLD_LO[usize::from(word & 0xff)]
}

/// [`toeplitz`] of a word's high byte (`FOLD_HI`) or low byte (`FOLD_LO`), the other
/// byte zero, with the symmetric key.
const FOLD_HI: [u32; 256] = fold_table(0);
const FOLD_LO: [u32; 256] = fold_table(8);

/// The hash of each byte value at bit offset `shift` of a 16-bit word.
const fn fold_table(shift: u32) -> [u32; 256] {
    // The 32 key bits the input bit at offset i (0..16) meets: the key rotated by i.
    let key = 0x6d5a_6d5au32;
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut h = 0;
        let mut bit = 0;
        while bit < 8 {
            if byte & (0x80 >> bit) != 0 {
                h ^= key.rotate_left(shift + bit);
            }
            bit += 1;
        }
        table[byte as usize] = h;
        byte += 1;
    }
    table
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
    #[inline]
    pub fn queue(&self, hash: u32) -> u16 {
        self.entries[hash as usize & (self.entries.len() - 1)]
    }

    /// Entries in the table (a power of two).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a table has at least one entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries naming `queue`.
    pub fn entries_of(&self, queue: u16) -> Vec<u16> {
        (0..self.entries.len() as u16)
            .filter(|&e| self.entries[usize::from(e)] == queue)
            .collect()
    }

    /// This table repeated over a device table of `size` entries (a power of two no
    /// smaller than this one): the device then delivers every hash where this table
    /// says, since the hash's extra low bits only pick a repetition.
    pub fn device_table(&self, size: usize) -> Vec<u16> {
        (0..size)
            .map(|i| self.entries[i & (self.entries.len() - 1)])
            .collect()
    }
}

/// The owner of a connection from `client` to `vip`: the queue RSS delivers the client's
/// frames to, and (symmetric key) the VIP's frames to the client.
#[inline]
pub fn forward_owner(reta: &Reta, client: (IpAddr, u16), vip: (IpAddr, u16)) -> u16 {
    reta.queue(symmetric_hash(client.0, vip.0, client.1, vip.1))
}

/// The part of a FULLNAT reply's hash that its local port contributes.
#[inline]
pub fn port_hash(port: u16) -> u32 {
    hash_of_fold(port)
}

/// The hash of a FULLNAT reply from `real` to local address `laddr` with the local port
/// left out: the reply hashes to `this ^ port_hash(local port)`.
#[inline]
pub fn reply_base_hash(real: (IpAddr, u16), laddr: IpAddr) -> u32 {
    symmetric_hash(real.0, laddr, real.1, 0)
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

        /// The folded hash is the Toeplitz hash with the symmetric key.
        #[test]
        fn the_folded_hash_is_toeplitz(
            (a, b) in pair(), pa in any::<u16>(), pb in any::<u16>(),
        ) {
            let (bytes, len) = tuple(a, b, pa, pb).unwrap();
            prop_assert_eq!(
                symmetric_hash(a, b, pa, pb),
                toeplitz(&SYMMETRIC_KEY, &bytes[..len])
            );
        }

        /// A FULLNAT reply's hash is its base hash XOR its local port's: an owner that
        /// picks a port whose hash completes the base to one of its entries receives
        /// the reply itself, whatever the worker count.
        #[test]
        fn a_fullnat_reply_hashes_as_base_xor_port(
            (real, laddr) in pair(), rport in any::<u16>(), lport in any::<u16>(),
            workers in 1u16..=16, size in prop::sample::select(vec![64usize, 128, 512]),
        ) {
            let reta = Reta::round_robin(size, workers);
            let arrives = reta.queue(symmetric_hash(real, laddr, rport, lport));
            let predicted = reta.queue(reply_base_hash((real, rport), laddr) ^ port_hash(lport));
            prop_assert_eq!(arrives, predicted);
        }

        /// A device with a bigger table programmed after the model delivers as the model.
        #[test]
        fn a_bigger_device_table_delivers_as_the_model(
            hash in any::<u32>(), workers in 1u16..=16,
            model in prop::sample::select(vec![64usize, 128]),
            device in prop::sample::select(vec![128usize, 512]),
        ) {
            let reta = Reta::round_robin(model, workers);
            let table = reta.device_table(device);
            prop_assert_eq!(table[hash as usize % device], reta.queue(hash));
        }
    }

    #[test]
    fn local_ports_fill_every_table_entry() {
        for size in [64usize, 128, 512] {
            let mut seen = vec![0u32; size];
            for port in 1024..=u16::MAX {
                seen[port_hash(port) as usize & (size - 1)] += 1;
            }
            assert!(
                seen.iter().all(|&n| n >= 100),
                "{size} entries: ports per entry {:?}",
                seen.iter().min()
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
