//! The ICMP errors the director sends itself, built in place over the packet they
//! answer: "fragmentation needed" (ICMP) and "packet too big" (ICMPv6) for packets that
//! outgrew the path, and "port unreachable" (both) for packets toward a service with no
//! usable real (IPVS's `ip_vs_leave`).

use std::net::IpAddr;

use super::echo::OWN_TTL;
use crate::checksum::{fold, internet_checksum};
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::icmpv6::{self, icmpv6_sum, PACKET_TOO_BIG};
use crate::wire::{icmpv4, ip_proto, FrameInfo, IpVersion};

/// Most of the packet an ICMP error quotes: 576-byte messages (RFC 1812 4.3.2.3).
const QUOTE_V4: usize = 576 - 20 - 8;
/// Most of the packet an ICMPv6 error quotes: the message fits the minimum MTU (RFC 4443).
const QUOTE_V6: usize = 1280 - 40 - 8;
/// The smallest MTU an IPv6 link may have.
const MIN_MTU_V6: u32 = 1280;
/// ICMP destination unreachable's code "port unreachable" (RFC 792).
pub const CODE_PORT_UNREACH_V4: u8 = 3;
/// ICMPv6 destination unreachable's code "port unreachable" (RFC 4443).
pub const CODE_PORT_UNREACH_V6: u8 = 4;

/// An error message's first 8 bytes but the checksum: type, code, and the 4-byte word
/// after the checksum.
#[derive(Clone, Copy)]
struct Message {
    msg_type: u8,
    code: u8,
    word: [u8; 4],
}

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
    let v4_mtu = (mtu.min(u32::from(u16::MAX)) as u16).to_be_bytes();
    let v4 = Message {
        msg_type: icmpv4::DEST_UNREACH,
        code: icmpv4::CODE_FRAG_NEEDED,
        word: [0, 0, v4_mtu[0], v4_mtu[1]],
    };
    let v6 = Message {
        msg_type: PACKET_TOO_BIG,
        code: 0,
        word: mtu.max(MIN_MTU_V6).to_be_bytes(),
    };
    error_reply(buf, info, v4, v6)
}

/// Turn the packet in `buf` into ICMP destination unreachable / port unreachable (ICMPv6
/// destination unreachable / port unreachable for IPv6), from the packet's destination
/// (a VIP) to its source, quoting the start of the packet, as IPVS answers a packet for a
/// service with no usable real. Built in place as [`too_big_reply`].
///
/// [`DropReason::Malformed`] for a frame that is not IP (buffer untouched).
pub fn port_unreachable_reply<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
) -> Result<(), DropReason> {
    let v4 = Message {
        msg_type: icmpv4::DEST_UNREACH,
        code: CODE_PORT_UNREACH_V4,
        word: [0; 4],
    };
    let v6 = Message {
        msg_type: icmpv6::DEST_UNREACH,
        code: CODE_PORT_UNREACH_V6,
        word: [0; 4],
    };
    error_reply(buf, info, v4, v6)
}

/// Build the error `v4` (`v6` for IPv6) in place over the packet it answers.
fn error_reply<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    v4: Message,
    v6: Message,
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
            m[..4].copy_from_slice(&[v4.msg_type, v4.code, 0, 0]);
            m[4..8].copy_from_slice(&v4.word);
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
            m[..4].copy_from_slice(&[v6.msg_type, v6.code, 0, 0]);
            m[4..8].copy_from_slice(&v6.word);
            let c = !fold(icmpv6_sum(from, to, m));
            m[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => return Err(DropReason::Malformed),
    }
    let len = buf.len();
    buf.trim(len - new_len);
    Ok(())
}
