//! "Fragmentation needed" (ICMP) and "packet too big" (ICMPv6) for packets that outgrew
//! the path, built in place over the packet that could not be sent.

use std::net::IpAddr;

use super::echo::OWN_TTL;
use crate::checksum::{fold, internet_checksum};
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::icmpv6::{icmpv6_sum, PACKET_TOO_BIG};
use crate::wire::{icmpv4, ip_proto, FrameInfo, IpVersion};

/// Most of the packet an ICMP error quotes: 576-byte messages (RFC 1812 4.3.2.3).
const QUOTE_V4: usize = 576 - 20 - 8;
/// Most of the packet an ICMPv6 error quotes: the message fits the minimum MTU (RFC 4443).
const QUOTE_V6: usize = 1280 - 40 - 8;
/// The smallest MTU an IPv6 link may have.
const MIN_MTU_V6: u32 = 1280;

/// Turn the packet in `buf`, which may not be fragmented and is larger than the path can
/// carry, into the error that tells its sender the MTU `mtu`: ICMP destination unreachable
/// / fragmentation needed (RFC 1191) for IPv4, ICMPv6 packet too big for IPv6 (an `mtu`
/// under 1280 is raised to it). The error goes from the packet's destination (a VIP) to
/// its source, quoting the start of the packet; the Ethernet header is kept for the caller
/// to address. Nothing is allocated: the quote moves behind the new headers and the
/// buffer shrinks.
///
/// [`DropReason::Malformed`] for a frame that is not IP (buffer untouched).
pub fn too_big_reply<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    mtu: u32,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let l3 = ip.l3_offset;
    let (hdr, quote) = match ip.version {
        IpVersion::V4 => (20 + 8, ip.l3_len.min(QUOTE_V4)),
        IpVersion::V6 => (40 + 8, ip.l3_len.min(QUOTE_V6)),
    };
    let old_len = buf.len();
    let new_len = l3 + hdr + quote;
    if new_len > old_len {
        buf.append(new_len - old_len)
            .map_err(|_| DropReason::NoBuffer)?;
    }
    let frame = buf.data_mut();
    frame.copy_within(l3..l3 + quote, l3 + hdr);
    let (from, to) = (ip.dst, ip.src);
    match (ip.version, from, to) {
        (IpVersion::V4, IpAddr::V4(from), IpAddr::V4(to)) => {
            let h = &mut frame[l3..l3 + 20];
            h.fill(0);
            h[0] = 0x45; // version 4, 20-byte header
            h[2..4].copy_from_slice(&((20 + 8 + quote) as u16).to_be_bytes());
            h[6] = 0x40; // don't fragment
            h[8] = OWN_TTL;
            h[9] = ip_proto::ICMP;
            h[12..16].copy_from_slice(&from.octets());
            h[16..20].copy_from_slice(&to.octets());
            let c = internet_checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            let m = &mut frame[l3 + 20..l3 + hdr + quote];
            m[..8].fill(0);
            m[0] = icmpv4::DEST_UNREACH;
            m[1] = icmpv4::CODE_FRAG_NEEDED;
            m[6..8].copy_from_slice(&(mtu.min(u32::from(u16::MAX)) as u16).to_be_bytes());
            let c = internet_checksum(m);
            m[2..4].copy_from_slice(&c.to_be_bytes());
        }
        (IpVersion::V6, IpAddr::V6(from), IpAddr::V6(to)) => {
            let h = &mut frame[l3..l3 + 40];
            h[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, ip_proto::ICMPV6, OWN_TTL]);
            h[4..6].copy_from_slice(&((8 + quote) as u16).to_be_bytes());
            h[8..24].copy_from_slice(&from.octets());
            h[24..40].copy_from_slice(&to.octets());
            let m = &mut frame[l3 + 40..l3 + hdr + quote];
            m[..4].copy_from_slice(&[PACKET_TOO_BIG, 0, 0, 0]); // type, code, checksum
            m[4..8].copy_from_slice(&mtu.max(MIN_MTU_V6).to_be_bytes());
            let c = !fold(icmpv6_sum(from, to, m));
            m[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => return Err(DropReason::Malformed),
    }
    let len = buf.len();
    buf.trim(len - new_len);
    Ok(())
}
