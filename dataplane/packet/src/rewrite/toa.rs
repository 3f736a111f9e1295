//! The TOA TCP option (kind 254): the client's port and address, for the toa kernel
//! module on FULLNAT reals. Length 8 for IPv4, 20 for IPv6, fields in network order.

use std::net::{IpAddr, SocketAddr};

/// The option kind.
pub const KIND: u8 = 254;
/// The longest option (IPv6).
pub const MAX_LEN: usize = 20;

/// The option bytes for `client`, and how many of them there are.
pub fn option(client: SocketAddr) -> ([u8; MAX_LEN], usize) {
    let mut b = [0u8; MAX_LEN];
    b[0] = KIND;
    b[2..4].copy_from_slice(&client.port().to_be_bytes());
    let len = match client.ip() {
        IpAddr::V4(a) => {
            b[4..8].copy_from_slice(&a.octets());
            8
        }
        IpAddr::V6(a) => {
            b[4..20].copy_from_slice(&a.octets());
            20
        }
    };
    b[1] = len as u8;
    (b, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let (b, n) = option("192.0.2.10:40000".parse().unwrap());
        assert_eq!(&b[..n], &[254, 8, 0x9c, 0x40, 192, 0, 2, 10]);
        let (b, n) = option("[2001:db8::c]:1".parse().unwrap());
        assert_eq!(n, 20);
        assert_eq!(&b[..4], &[254, 20, 0, 1]);
        assert_eq!(b[19], 0x0c);
    }
}
