//! SYN cookies in the layout Linux's syncookies use: the cookie (the director's ISN) is
//! `h1 + client_isn + (counter << 24) + ((h2 + mss_index) mod 2^24)`, `h1` a keyed hash
//! of the 4-tuple, `h2` one of the 4-tuple and the time counter. A valid ACK acknowledges
//! cookie + 1 and gives back the counter (top 8 bits: the cookie's age) and the index of
//! the client's MSS in a small table (low bits), so that no state is kept for a SYN.
//!
//! The hash is SipHash-2-4 under a per-worker key (random on a live director, from
//! the seed in replay); the counter advances every
//! [`PERIOD_MS`] and a cookie is good for [`MAX_AGE`] counters (its own and the next):
//! hashing the counter in derives a fresh key per period, the rotation.

use std::net::IpAddr;

use rvs_conntrack::ConnKey;

/// MSS values a cookie can carry, IPv4 (Linux's table).
pub const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// MSS values a cookie can carry, IPv6.
pub const MSS_V6: [u16; 4] = [1220, 1280, 1440, 1460];
/// How long one time counter lasts.
pub const PERIOD_MS: u64 = 64_000;
/// Counters a cookie stays valid for (the one it was made in and the next).
pub const MAX_AGE: u32 = 2;

/// A worker's cookie key.
#[derive(Clone, Copy, Debug)]
pub struct CookieKey {
    k0: u64,
    k1: u64,
}

impl CookieKey {
    /// A key drawn from `seed` (the worker's seed: replay runs are reproducible).
    pub fn new(seed: u64) -> Self {
        let mut s = seed;
        Self {
            k0: splitmix(&mut s),
            k1: splitmix(&mut s),
        }
    }

    /// A key from the operating system's randomness (a live director's: cookies made
    /// under a key an attacker can guess could be forged).
    pub fn random() -> Self {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        Self {
            k0: s.hash_one(0u64),
            k1: s.hash_one(1u64),
        }
    }

    /// The cookie for a SYN with `key` (client -> VIP) and `client_isn`, carrying
    /// `mss_index` (below 4) at `now_ms`.
    pub fn make(&self, key: &ConnKey, client_isn: u32, mss_index: u8, now_ms: u64) -> u32 {
        let count = counter(now_ms);
        let h1 = self.hash(key, 0, 0);
        let h2 = self.hash(key, count, 1);
        h1.wrapping_add(client_isn)
            .wrapping_add(count << 24)
            .wrapping_add(h2.wrapping_add(u32::from(mss_index)) & 0x00ff_ffff)
    }

    /// The MSS index a cookie carries, when `cookie` is one this key made for `key` and
    /// `client_isn` no more than [`MAX_AGE`] - 1 counters ago.
    pub fn check(&self, key: &ConnKey, client_isn: u32, cookie: u32, now_ms: u64) -> Option<u8> {
        let count = counter(now_ms);
        let rest = cookie
            .wrapping_sub(self.hash(key, 0, 0))
            .wrapping_sub(client_isn);
        let age = count.wrapping_sub(rest >> 24) & 0xff;
        if age >= MAX_AGE {
            return None;
        }
        let h2 = self.hash(key, count.wrapping_sub(age), 1);
        let index = rest.wrapping_sub(h2) & 0x00ff_ffff;
        (index < MSS_V4.len() as u32).then_some(index as u8)
    }

    /// SipHash-2-4 of the tuple, `count` and `which`, folded to 32 bits.
    fn hash(&self, key: &ConnKey, count: u32, which: u64) -> u32 {
        let ports = u64::from(key.sport) << 16 | u64::from(key.dport);
        let tail = u64::from(count) << 32 | which << 16 | u64::from(key.proto as u8);
        let h = match (key.src, key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let addrs = u64::from(u32::from(s)) << 32 | u64::from(u32::from(d));
                siphash(self.k0, self.k1, [addrs, ports, tail])
            }
            (s, d) => {
                let (s, d) = (v6_bits(s), v6_bits(d));
                siphash(
                    self.k0,
                    self.k1,
                    [
                        (s >> 64) as u64,
                        s as u64,
                        (d >> 64) as u64,
                        d as u64,
                        ports,
                        tail,
                    ],
                )
            }
        };
        (h ^ h >> 32) as u32
    }
}

/// The index of the largest table MSS not above the client's (`None`: no option, the
/// protocol's default).
pub fn mss_index(v6: bool, client_mss: Option<u16>) -> u8 {
    let table = if v6 { &MSS_V6 } else { &MSS_V4 };
    let mss = client_mss.unwrap_or(if v6 { 1220 } else { 536 });
    table.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8
}

/// The MSS at `index` of the family's table.
pub fn mss_at(v6: bool, index: u8) -> u16 {
    let table = if v6 { &MSS_V6 } else { &MSS_V4 };
    table[usize::from(index) % table.len()]
}

/// The time counter at `now_ms`.
fn counter(now_ms: u64) -> u32 {
    (now_ms / PERIOD_MS) as u32
}

fn v6_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SipHash-2-4 of `words` (little-endian 8-byte blocks) under the key `k0, k1`.
#[inline]
fn siphash<const N: usize>(k0: u64, k1: u64, words: [u64; N]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let last = ((N as u64 * 8) & 0xff) << 56;
    let mut block = |m: u64| {
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    };
    for m in words {
        block(m);
    }
    block(last);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_conntrack::Proto;

    fn key(sport: u16) -> ConnKey {
        ConnKey {
            proto: Proto::Tcp,
            src: "192.0.2.10".parse().unwrap(),
            sport,
            dst: "10.0.0.100".parse().unwrap(),
            dport: 80,
        }
    }

    #[test]
    fn siphash_matches_the_reference_vector() {
        // The SipHash paper's vector: key 00..0f, message 00..0e (15 bytes) is not
        // word-aligned; its 8-byte prefix 00..07 gives 0x93f5f5799a932462.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let m = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(siphash(k0, k1, [m]), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn a_cookie_checks_for_two_counters_and_only_for_its_tuple_and_isn() {
        let k = CookieKey::new(7);
        let now = 10 * PERIOD_MS + 5;
        for index in 0..4 {
            let c = k.make(&key(40000), 1000, index, now);
            assert_eq!(k.check(&key(40000), 1000, c, now), Some(index));
            assert_eq!(k.check(&key(40000), 1000, c, now + PERIOD_MS), Some(index));
            assert_eq!(k.check(&key(40000), 1000, c, now + 2 * PERIOD_MS), None);
            assert_eq!(k.check(&key(40000), 1000, c, now - PERIOD_MS), None);
            assert_eq!(k.check(&key(40001), 1000, c, now), None);
            assert_eq!(k.check(&key(40000), 1000 + (1 << 20), c, now), None);
            assert_eq!(k.check(&key(40000), 1000, c ^ 1 << 30, now), None);
            assert_eq!(CookieKey::new(8).check(&key(40000), 1000, c, now), None);
        }
    }

    #[test]
    fn mss_index_takes_the_largest_entry_not_above_the_clients() {
        assert_eq!(mss_at(false, mss_index(false, Some(1460))), 1460);
        assert_eq!(mss_at(false, mss_index(false, Some(1400))), 1300);
        assert_eq!(mss_at(false, mss_index(false, Some(100))), 536);
        assert_eq!(mss_at(false, mss_index(false, None)), 536);
        assert_eq!(mss_at(true, mss_index(true, Some(1440))), 1440);
        assert_eq!(mss_at(true, mss_index(true, None)), 1220);
    }
}
