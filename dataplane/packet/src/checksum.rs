//! The Internet checksum (RFC 1071), pseudo-header sums and RFC 1624 incremental updates.
//!
//! Sums are carried unfolded in a `u64` until the end ([`fold`]), so callers can add the
//! pseudo-header sum and the data sum cheaply. A finished checksum is `!fold(sum)`.
//!
//! Incremental updates use RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`, for one 16-bit
//! word ([`update_u16`]), an IPv4 address ([`update_v4`]) and an IPv6 address
//! ([`update_v6`]); they are proven equal to a full recompute by the proptests below.
//!
//! # When to use [`crate::wire::fill_l4_checksum`]
//! Rewrites fix checksums incrementally, which is only right when the received checksum
//! was complete. Frames that come from a kernel device (veth, tap) through `af_packet` or
//! `af_xdp` may carry a *partial* checksum (the kernel's `CHECKSUM_PARTIAL`: the field holds
//! the pseudo-header sum and the NIC was supposed to finish it). When the egress port has no
//! TX L4 checksum offload, the pipeline must call `fill_l4_checksum` after the rewrite on
//! packets that may carry one (everything received on such a port); it overwrites the
//! incrementally updated value with a full software sum.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// unfolded. Add sums together and finish with [`fold`].
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        acc += u64::from(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        acc += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&b) = rest.first() {
        acc += u64::from(b) << 8;
    }
    acc
}

/// Fold an unfolded sum to 16 bits with end-around carry.
#[inline]
pub fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The Internet checksum of `data` (the value to store in a zeroed checksum field).
#[inline]
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Unfolded sum of the IPv4 pseudo-header (RFC 793 / 768).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: u16) -> u64 {
    u64::from(u32::from(src) >> 16)
        + u64::from(u32::from(src) & 0xffff)
        + u64::from(u32::from(dst) >> 16)
        + u64::from(u32::from(dst) & 0xffff)
        + u64::from(proto)
        + u64::from(l4_len)
}

/// Unfolded sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, l4_len: u32) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(proto) + u64::from(l4_len)
}

/// Unfolded pseudo-header sum for either family (`src` and `dst` of one family).
#[inline]
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, l4_len: u32) -> u64 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, proto, l4_len as u16),
        (IpAddr::V6(s), IpAddr::V6(d)) => pseudo_header_v6(s, d, proto, l4_len),
        _ => 0,
    }
}

/// The RFC 1624 difference term `~m + m'` of one 16-bit word changing from `old` to `new`,
/// unfolded. Add the terms of several changes and apply them at once with [`apply_delta`].
#[inline]
pub fn delta_u16(old: u16, new: u16) -> u64 {
    u64::from(!old) + u64::from(new)
}

/// The difference term of equal-length byte strings (an even number of bytes, such as
/// addresses) changing from `old` to `new`, unfolded.
#[inline]
pub fn delta_bytes(old: &[u8], new: &[u8]) -> u64 {
    let words = old.len().min(new.len()) / 2;
    // sum(~m) over n words is n * 0xffff - sum(m); fold-equivalent and branch-free.
    words as u64 * 0xffff - u64::from(fold(sum(&old[..words * 2]))) + sum(&new[..words * 2])
}

/// RFC 1624 equation 3 with an accumulated difference: `HC' = ~(~HC + delta)`.
#[inline]
pub fn apply_delta(hc: u16, delta: u64) -> u16 {
    !fold(u64::from(!hc) + delta)
}

/// RFC 1624: the checksum `hc` after one 16-bit word of the covered data changed from
/// `old` to `new`.
#[inline]
pub fn update_u16(hc: u16, old: u16, new: u16) -> u16 {
    apply_delta(hc, delta_u16(old, new))
}

/// RFC 1624 for a 32-bit change (an IPv4 address) given as bytes.
#[inline]
pub fn update_v4(hc: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    apply_delta(hc, delta_bytes(&old, &new))
}

/// RFC 1624 for a 128-bit change (an IPv6 address) given as bytes.
#[inline]
pub fn update_v6(hc: u16, old: [u8; 16], new: [u8; 16]) -> u16 {
    apply_delta(hc, delta_bytes(&old, &new))
}

/// RFC 1624 for an address change of either family (mixed families leave `hc` unchanged).
#[inline]
pub fn update_addr(hc: u16, old: IpAddr, new: IpAddr) -> u16 {
    match (old, new) {
        (IpAddr::V4(o), IpAddr::V4(n)) => update_v4(hc, o.octets(), n.octets()),
        (IpAddr::V6(o), IpAddr::V6(n)) => update_v6(hc, o.octets(), n.octets()),
        _ => hc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: RFC 1071 word by word, with no tricks.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum 0xddf2, checksum 0x220d.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(internet_checksum(&d), 0x220d);
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let d = Ipv4Addr::new(192, 168, 1, 2);
        let mut b = Vec::new();
        b.extend_from_slice(&s.octets());
        b.extend_from_slice(&d.octets());
        b.extend_from_slice(&[0, 6, 0x01, 0x00]);
        assert_eq!(fold(pseudo_header_v4(s, d, 6, 256)), fold(sum(&b)));
        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "fe80::ffff:1".parse().unwrap();
        let mut b6 = Vec::new();
        b6.extend_from_slice(&s6.octets());
        b6.extend_from_slice(&d6.octets());
        b6.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 17]);
        assert_eq!(fold(pseudo_header_v6(s6, d6, 17, 65536)), fold(sum(&b6)));
    }

    proptest! {
        #[test]
        fn sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(internet_checksum(&data), naive(&data));
        }

        #[test]
        fn incremental_u16_equals_full(
            mut data in proptest::collection::vec(any::<u8>(), 2..64).prop_map(|mut v| { v.push(1); v.push(0); v }),
            idx in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            let words = data.len() / 2;
            let i = idx.index(words - 1) * 2; // keep the last (non-zero) word
            let hc = internet_checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert_eq!(update_u16(hc, old, new), internet_checksum(&data));
        }

        #[test]
        fn incremental_v4_equals_full(
            prefix in proptest::collection::vec(any::<u8>(), 0..20).prop_map(|mut v| { if v.len() % 2 == 1 { v.push(0) } v }),
            old in any::<[u8; 4]>(), new in any::<[u8; 4]>(),
        ) {
            let mut data = prefix.clone();
            data.extend_from_slice(&old);
            data.extend_from_slice(&[0, 6]); // never all zero
            let hc = internet_checksum(&data);
            data[prefix.len()..prefix.len() + 4].copy_from_slice(&new);
            prop_assert_eq!(update_v4(hc, old, new), internet_checksum(&data));
        }

        #[test]
        fn incremental_v6_equals_full(
            prefix in proptest::collection::vec(any::<u8>(), 0..20).prop_map(|mut v| { if v.len() % 2 == 1 { v.push(0) } v }),
            old in any::<[u8; 16]>(), new in any::<[u8; 16]>(),
        ) {
            let mut data = prefix.clone();
            data.extend_from_slice(&old);
            data.extend_from_slice(&[0, 17]);
            let hc = internet_checksum(&data);
            data[prefix.len()..prefix.len() + 16].copy_from_slice(&new);
            prop_assert_eq!(update_v6(hc, old, new), internet_checksum(&data));
            prop_assert_eq!(
                update_addr(hc, IpAddr::from(old), IpAddr::from(new)),
                internet_checksum(&data)
            );
        }
    }
}
