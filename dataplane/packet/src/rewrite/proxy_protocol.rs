//! PROXY protocol headers (HAProxy's spec, versions 1 and 2: TCP over IPv4 / IPv6, and
//! version 2's UDP forms for datagrams), built on the stack without allocation.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

/// The longest header: a version 1 line is at most 107 bytes.
pub const MAX_LEN: usize = 107;

/// The version 2 signature.
const V2_SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];
/// Version 2, command PROXY.
const V2_PROXY: u8 = 0x21;
/// TCP over IPv4.
const V2_TCP4: u8 = 0x11;
/// TCP over IPv6.
const V2_TCP6: u8 = 0x21;
/// UDP over IPv4.
const V2_UDP4: u8 = 0x12;
/// UDP over IPv6.
const V2_UDP6: u8 = 0x22;

/// The length of a version 2 header without TLVs: 28 bytes for IPv4 (16 + 12), 52 for
/// IPv6 (16 + 36).
pub const fn v2_len(v6: bool) -> usize {
    if v6 {
        52
    } else {
        28
    }
}

/// A built header.
#[derive(Clone, Copy, Debug)]
pub struct ProxyHeader {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl ProxyHeader {
    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Version 1: `PROXY TCP4|TCP6 src dst sport dport\r\n` (`src` the client, `dst` the
    /// VIP). `None` when the two are of different families.
    pub fn v1(src: SocketAddr, dst: SocketAddr) -> Option<Self> {
        let family = match (src.ip(), dst.ip()) {
            (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
            (IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
            _ => return None,
        };
        let mut bytes = [0u8; MAX_LEN];
        let mut w = &mut bytes[..];
        // At most 107 bytes by construction (two IPv6 texts of at most 39 bytes).
        write!(
            w,
            "PROXY {family} {} {} {} {}\r\n",
            src.ip(),
            dst.ip(),
            src.port(),
            dst.port()
        )
        .ok()?;
        let len = MAX_LEN - w.len();
        Some(Self { bytes, len })
    }

    /// Version 2, command PROXY, TCP over the addresses' family, no TLVs. `None` when
    /// the two are of different families.
    pub fn v2(src: SocketAddr, dst: SocketAddr) -> Option<Self> {
        Self::v2_of(src, dst, V2_TCP4, V2_TCP6)
    }

    /// Version 2, command PROXY, UDP over the addresses' family (byte 13: `0x12` for
    /// IPv4, `0x22` for IPv6), no TLVs: the header that goes in front of a datagram's
    /// payload. `None` when the two are of different families.
    pub fn v2_dgram(src: SocketAddr, dst: SocketAddr) -> Option<Self> {
        Self::v2_of(src, dst, V2_UDP4, V2_UDP6)
    }

    /// Version 2 with family-and-transport byte `v4` or `v6`.
    fn v2_of(src: SocketAddr, dst: SocketAddr, v4: u8, v6: u8) -> Option<Self> {
        let mut bytes = [0u8; MAX_LEN];
        bytes[..12].copy_from_slice(&V2_SIGNATURE);
        bytes[12] = V2_PROXY;
        let addrs = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                bytes[13] = v4;
                bytes[16..20].copy_from_slice(&s.octets());
                bytes[20..24].copy_from_slice(&d.octets());
                8
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                bytes[13] = v6;
                bytes[16..32].copy_from_slice(&s.octets());
                bytes[32..48].copy_from_slice(&d.octets());
                32
            }
            _ => return None,
        };
        let body = addrs + 4;
        bytes[14..16].copy_from_slice(&(body as u16).to_be_bytes());
        let ports = 16 + addrs;
        bytes[ports..ports + 2].copy_from_slice(&src.port().to_be_bytes());
        bytes[ports + 2..ports + 4].copy_from_slice(&dst.port().to_be_bytes());
        Some(Self {
            bytes,
            len: 16 + body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_lines_for_both_families_and_the_longest_fits() {
        let h = ProxyHeader::v1(sa("192.0.2.10:40000"), sa("10.0.0.100:80")).unwrap();
        assert_eq!(
            h.as_bytes(),
            b"PROXY TCP4 192.0.2.10 10.0.0.100 40000 80\r\n"
        );
        let h = ProxyHeader::v1(sa("[2001:db8::c]:1"), sa("[2001:db8::100]:443")).unwrap();
        assert_eq!(
            h.as_bytes(),
            b"PROXY TCP6 2001:db8::c 2001:db8::100 1 443\r\n"
        );
        let long = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        let h = ProxyHeader::v1(sa(long), sa(long)).unwrap();
        assert_eq!(h.as_bytes().len(), 104); // within MAX_LEN, the spec's bound
        assert!(ProxyHeader::v1(sa("1.2.3.4:1"), sa("[::1]:1")).is_none());
    }

    #[test]
    fn v2_binary_headers() {
        let h = ProxyHeader::v2(sa("192.0.2.10:40000"), sa("10.0.0.100:80")).unwrap();
        let mut want = V2_SIGNATURE.to_vec();
        want.extend([0x21, 0x11, 0, 12, 192, 0, 2, 10, 10, 0, 0, 100]);
        want.extend(40000u16.to_be_bytes());
        want.extend(80u16.to_be_bytes());
        assert_eq!(h.as_bytes(), &want[..]);
        let h = ProxyHeader::v2(sa("[2001:db8::c]:1"), sa("[2001:db8::100]:443")).unwrap();
        assert_eq!(h.as_bytes().len(), 52);
        assert_eq!(&h.as_bytes()[12..16], &[0x21, 0x21, 0, 36]);
        assert_eq!(&h.as_bytes()[48..52], &[0, 1, 1, 187]);
    }

    #[test]
    fn v2_datagram_headers_say_udp() {
        let h = ProxyHeader::v2_dgram(sa("192.0.2.10:40000"), sa("10.0.0.100:53")).unwrap();
        let mut want = V2_SIGNATURE.to_vec();
        want.extend([0x21, 0x12, 0, 12, 192, 0, 2, 10, 10, 0, 0, 100]);
        want.extend(40000u16.to_be_bytes());
        want.extend(53u16.to_be_bytes());
        assert_eq!(h.as_bytes(), &want[..]);
        assert_eq!(h.as_bytes().len(), v2_len(false));
        let h = ProxyHeader::v2_dgram(sa("[2001:db8::c]:1"), sa("[2001:db8::100]:443")).unwrap();
        assert_eq!(h.as_bytes().len(), v2_len(true));
        assert_eq!(&h.as_bytes()[12..16], &[0x21, 0x22, 0, 36]);
        assert!(ProxyHeader::v2_dgram(sa("1.2.3.4:1"), sa("[::1]:1")).is_none());
    }
}
