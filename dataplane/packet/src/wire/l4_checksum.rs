//! TCP and UDP checksums in software over a parsed frame: finishing one, what a port
//! without transmit checksum offload needs for a frame whose sender (a veth, the kernel)
//! left a partial checksum, and checking one.

use super::tcp::TCP_CHECKSUM_OFFSET;
use super::udp::UDP_CHECKSUM_OFFSET;
use std::ops::Range;

use super::{ip_proto, FrameInfo, IpInfo, L4Info};
use crate::checksum::{fold, pseudo_header, sum};
use crate::drop::DropReason;

/// Recompute in software the full TCP or UDP checksum of the parsed packet in `frame`
/// (pseudo-header included), e.g. to finish a kernel partial checksum on a port without
/// TX offload (see the `checksum` module's doc for when). UDP over IPv4 with checksum 0
/// ("none") is left at 0; a computed 0 is stored as `0xffff` for UDP. Other protocols and
/// non-first fragments are left alone; a first fragment cannot be summed alone and is
/// refused.
pub fn fill_l4_checksum(frame: &mut [u8], info: &FrameInfo) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let Some(covered) = covered(frame, ip)? else {
        return Ok(());
    };
    let ck_off = covered.checksum_at;
    let is_udp = covered.proto == ip_proto::UDP;
    let seg = &mut frame[covered.segment];
    if is_udp && ip.src.is_ipv4() && seg[ck_off] == 0 && seg[ck_off + 1] == 0 {
        return Ok(());
    }
    seg[ck_off] = 0;
    seg[ck_off + 1] = 0;
    let mut c = !fold(pseudo_header(ip.src, ip.dst, covered.proto, seg.len() as u32) + sum(seg));
    if is_udp && c == 0 {
        c = 0xffff;
    }
    seg[ck_off..ck_off + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// True when the TCP or UDP packet `ip` describes in `frame` carries a checksum that is
/// right over the bytes it covers (pseudo-header included); false for any other packet,
/// a fragment, or one whose lengths do not fit. A UDP checksum of 0 ("none") is not right.
pub fn l4_checksum_ok(frame: &[u8], ip: &IpInfo) -> bool {
    let Ok(Some(covered)) = covered(frame, ip) else {
        return false;
    };
    let seg = &frame[covered.segment];
    let field = [seg[covered.checksum_at], seg[covered.checksum_at + 1]];
    field != [0, 0]
        && fold(pseudo_header(ip.src, ip.dst, covered.proto, seg.len() as u32) + sum(seg)) == 0xffff
}

/// The bytes a TCP or UDP checksum covers in a frame, besides the pseudo-header.
struct Covered {
    /// The segment (a UDP datagram: as long as its length field says) in the frame.
    segment: Range<usize>,
    /// Where the checksum field sits in the segment.
    checksum_at: usize,
    /// `ip_proto::TCP` or `ip_proto::UDP`.
    proto: u8,
}

/// What the checksum of the TCP or UDP packet `ip` describes covers in `frame`; `None`
/// for other protocols; refused for a fragment or lengths that do not fit.
fn covered(frame: &[u8], ip: &IpInfo) -> Result<Option<Covered>, DropReason> {
    let (checksum_at, proto) = match ip.l4 {
        L4Info::Tcp { .. } => (TCP_CHECKSUM_OFFSET, ip_proto::TCP),
        L4Info::Udp { .. } => (UDP_CHECKSUM_OFFSET, ip_proto::UDP),
        _ => return Ok(None),
    };
    if ip.is_fragment {
        return Err(DropReason::Malformed);
    }
    let l4 = ip.l4_offset;
    let seg = frame
        .get(l4..l4 + ip.payload_len)
        .ok_or(DropReason::Malformed)?;
    if seg.len() < checksum_at + 2 {
        return Err(DropReason::Malformed);
    }
    // UDP covers its length field's bytes (which parse_frame checked to lie within the IP
    // payload), not any octets after them inside the IP packet.
    let len = if proto == ip_proto::UDP {
        let udp_len = usize::from(u16::from_be_bytes([seg[4], seg[5]]));
        if udp_len < 8 || udp_len > seg.len() {
            return Err(DropReason::Malformed);
        }
        udp_len
    } else {
        seg.len()
    };
    Ok(Some(Covered {
        segment: l4..l4 + len,
        checksum_at,
        proto,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    use crate::wire::parse_frame;

    #[test]
    fn fill_l4_checksum_finishes_partial_checksums() {
        use crate::wire::test_frames::{verify, Spec, L4};
        for spec in [
            Spec::v4_tcp(),
            Spec::v4_udp().vlan(),
            Spec::v6_tcp(),
            Spec::v6_udp(),
        ] {
            let mut f = spec.build();
            let info = parse_frame(&f).unwrap();
            let ip = info.ip.unwrap();
            let at = ip.l4_offset + if ip.protocol == ip_proto::TCP { 16 } else { 6 };
            // What a kernel hands over with CHECKSUM_PARTIAL: the folded pseudo-header sum.
            let partial = fold(pseudo_header(
                ip.src,
                ip.dst,
                ip.protocol,
                ip.payload_len as u32,
            ));
            f[at..at + 2].copy_from_slice(&partial.to_be_bytes());
            assert!(
                !l4_checksum_ok(&f, info.ip.as_ref().unwrap()),
                "a partial checksum is not right"
            );
            fill_l4_checksum(&mut f, &info).unwrap();
            verify(&f);
            assert!(l4_checksum_ok(&f, info.ip.as_ref().unwrap()));
        }
        let mut spec = Spec::v4_udp();
        spec.l4 = L4::Udp {
            zero_checksum: true,
        };
        let mut f = spec.build();
        let info = parse_frame(&f).unwrap();
        fill_l4_checksum(&mut f, &info).unwrap();
        assert_eq!(
            &f[14 + 26..14 + 28],
            &[0, 0],
            "UDP/IPv4 without checksum stays so"
        );
    }

    #[test]
    fn fill_l4_checksum_covers_the_udp_length_not_the_ip_payload() {
        use crate::wire::test_frames::{Spec, L4};
        use etherparse::UdpHeader;
        let data = [1u8, 2, 3, 4];
        for (src, dst) in [
            ("192.0.2.10:40000", "10.0.0.100:53"),
            ("[2001:db8:c::10]:40000", "[2001:db8::100]:53"),
        ] {
            // UDP length 12; the IP payload carries 3 more octets after the datagram.
            let mut bytes = vec![0x9c, 0x40, 0, 53, 0, 12, 0x12, 0x34];
            bytes.extend_from_slice(&data);
            bytes.extend_from_slice(&[0xee; 3]);
            let spec = Spec::new(
                src,
                dst,
                L4::Raw {
                    protocol: 17,
                    bytes,
                },
            );
            let mut f = spec.build();
            let info = parse_frame(&f).unwrap();
            fill_l4_checksum(&mut f, &info).unwrap();
            let h = UdpHeader {
                source_port: 40000,
                destination_port: 53,
                length: 12,
                checksum: 0,
            };
            let want = match (spec.src.ip(), spec.dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    h.calc_checksum_ipv4_raw(s.octets(), d.octets(), &data)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    h.calc_checksum_ipv6_raw(s.octets(), d.octets(), &data)
                }
                _ => unreachable!(),
            }
            .unwrap();
            let at = info.ip.unwrap().l4_offset + 6;
            assert_eq!(u16::from_be_bytes([f[at], f[at + 1]]), want, "{src}");
        }
    }
}
