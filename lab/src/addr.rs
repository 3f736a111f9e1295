//! The lab's addresses. Reals are numbered 1 to [`REALS`].

/// Reals in the lab.
pub const REALS: usize = 3;

/// The client's address on the director's wan segment.
pub const CLIENT: &str = "10.0.0.2";
/// The client's IPv6 address on the wan segment.
pub const CLIENT6: &str = "fd00::2";
/// The director's wan addresses (its port's, served by rvsd, not the kernel).
pub const DIRECTOR_WAN: [&str; 2] = ["10.0.0.1/24", "fd00::1/64"];
/// The client's address on the direct segment where DR and TUN reals answer it.
pub const CLIENT_DIRECT: &str = "10.2.0.2";

/// The DR VIP; every real holds it on `lo`.
pub const DR_VIP: &str = "10.0.0.110";
/// The TUN VIP; every real holds it on `lo` and receives it through its decapsulator.
pub const TUN_VIP: &str = "10.0.0.111";

/// Real `i`'s address on its segment with the director.
pub fn real(i: usize) -> String {
    format!("10.1.{i}.11")
}

/// Real `i`'s IPv6 address on its segment with the director.
pub fn real6(i: usize) -> String {
    format!("fd01:{i}::11")
}

/// The director's addresses on real `i`'s segment (the real's gateways).
pub fn director_lan(i: usize) -> [String; 2] {
    [format!("10.1.{i}.1/24"), format!("fd01:{i}::1/64")]
}

/// Real `i`'s address on the direct segment to the client.
pub fn real_direct(i: usize) -> String {
    format!("10.2.0.1{i}")
}

/// Real `i`'s name, as its servers answer it: `r1`, `r2`, `r3`.
pub fn real_name(i: usize) -> String {
    format!("r{i}")
}
