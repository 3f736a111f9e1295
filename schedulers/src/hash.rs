//! A small, seeded, stable hash shared by the hashing schedulers (sh, dh, mh, conhash) and
//! the lblc/lblcr locality maps.
//!
//! Stability matters: two directors (or one director before and after an upgrade) must map
//! a client to the same real, so the function may depend on nothing but its input. `std`'s
//! `DefaultHasher` and foldhash do not promise that. Each input word is folded into the state
//! with a xor followed by a 64-bit avalanche finaliser (xorshift-multiply rounds); the
//! finaliser is a bijection, so every input bit reaches every output bit.

use std::net::IpAddr;

/// Seed of the sh and dh bucket index.
pub(crate) const SEED_BUCKET: u64 = 0x5348_4448_6275_636b;
/// Seed of an sh/dh real's rendezvous stream key.
pub(crate) const SEED_RENDEZVOUS: u64 = 0x7368_6468_7276_7a21;
/// Seed of a Maglev real's permutation offset.
pub(crate) const SEED_MH_OFFSET: u64 = 0x6d68_6f66_6673_6574;
/// Seed of a Maglev real's permutation skip.
pub(crate) const SEED_MH_SKIP: u64 = 0x6d68_736b_6970_2121;
/// Seed of a Maglev lookup key.
pub(crate) const SEED_MH_KEY: u64 = 0x6d68_6b65_7921_2121;
/// Seed of a conhash ring point.
pub(crate) const SEED_RING_POINT: u64 = 0x7269_6e67_706f_696e;
/// Seed of a conhash lookup key.
pub(crate) const SEED_RING_KEY: u64 = 0x7269_6e67_6b65_7921;
/// Seed of the lblc/lblcr locality map set index.
pub(crate) const SEED_LOCALITY: u64 = 0x6c62_6c63_7365_7421;

/// Tags that keep an IPv4 address and its IPv6 spelling apart.
const TAG_V4: u64 = 4 << 56;
const TAG_V6: u64 = 6 << 56;

/// Avalanche finaliser: two xorshift-multiply rounds and a final xorshift.
#[inline]
fn avalanche(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^ (x >> 32)
}

/// Fold one input word into the hash state.
#[inline]
fn absorb(state: u64, word: u64) -> u64 {
    avalanche(state ^ word).wrapping_add(0x9e37_79b9_7f4a_7c15)
}

/// Hash of `(addr, port, salt)` under `seed`. `salt` lets callers derive independent
/// probes from one key (fallback walks, virtual nodes).
#[inline]
pub(crate) fn addr_port(seed: u64, addr: &IpAddr, port: u16, salt: u32) -> u64 {
    let mut h = avalanche(seed);
    match addr {
        IpAddr::V4(a) => h = absorb(h, TAG_V4 | u64::from(u32::from(*a))),
        IpAddr::V6(a) => {
            let v = u128::from(*a);
            // Truncation is the point: the two 64-bit halves of the address.
            h = absorb(h, TAG_V6 ^ (v >> 64) as u64);
            h = absorb(h, v as u64);
        }
    }
    avalanche(h ^ (u64::from(port) | u64::from(salt) << 16))
}

/// Draw `n` of the pseudo-random stream named by `key` (a hash itself): draws of one
/// stream, and of streams with different keys, are independent 64-bit values.
#[inline]
pub(crate) fn draw(key: u64, n: u64) -> u64 {
    avalanche(key.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Pinned outputs: a change here moves clients between reals on upgrade.
    #[test]
    fn values_are_stable() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let key = addr_port(SEED_RENDEZVOUS, &v4, 80, 0);
        let got = [
            addr_port(SEED_BUCKET, &v4, 0, 0),
            addr_port(SEED_BUCKET, &v4, 80, 0),
            addr_port(SEED_BUCKET, &v4, 80, 7),
            addr_port(SEED_MH_KEY, &v6, 443, 0),
            key,
            draw(key, 0),
            draw(key, 1),
        ];
        assert_eq!(got, PINNED);
    }

    const PINNED: [u64; 7] = [
        9033117284786687242,
        6446184001193039975,
        8647222214086644462,
        5072003384698469532,
        13091087529694730041,
        5864672010550452557,
        3653951181455688722,
    ];

    #[test]
    fn v4_and_mapped_v6_differ() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        let v6 = IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped());
        assert_ne!(
            addr_port(SEED_BUCKET, &v4, 0, 0),
            addr_port(SEED_BUCKET, &v6, 0, 0)
        );
    }

    #[test]
    fn low_bits_spread_over_sequential_addresses() {
        // 4096 consecutive addresses into 64 buckets: every bucket gets some.
        let mut counts = [0u32; 64];
        for i in 0..4096u32 {
            let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            counts[(addr_port(SEED_BUCKET, &a, 0, 0) & 63) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min >= 40 && *max <= 90, "min {min} max {max}");
    }
}
