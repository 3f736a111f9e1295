//! The hashes flow ownership and local-port choice are built on: stable across builds
//! and platforms, so every worker (and a peer director syncing connections) computes
//! the same owner for a flow.

use std::net::IpAddr;

/// A 64-bit finaliser (splitmix64): cheap, stable across builds and platforms.
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The address folded into 64 bits.
pub fn addr_bits(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    }
}
