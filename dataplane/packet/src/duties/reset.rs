//! A TCP RST answering a segment that may not go on (a SYN toward a service with no
//! usable real, under `[behaviour] no_real = "rst"`), built in place over it.

use std::net::IpAddr;

use super::echo::OWN_TTL;
use crate::checksum::{fold, internet_checksum, pseudo_header, sum};
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::{ip_proto, tcp, FrameInfo, IpVersion, L4Info};

/// Length of the RST's TCP header (no options).
const TCP_LEN: usize = 20;

/// Turn the TCP segment in `buf` into the RST that refuses it (RFC 793, "Reset
/// Generation"): from the segment's destination (a VIP and port) to its source; a
/// segment with ACK is answered with a RST whose sequence number is that ACK's, one
/// without with RST+ACK acknowledging everything it occupied (a SYN counts one). IP
/// header without options, TTL / hop limit [`OWN_TTL`], every checksum complete; the
/// Ethernet header is kept for the caller to address. Nothing is allocated.
///
/// [`DropReason::Malformed`] for a frame that is not TCP, and for a RST (never
/// answered), buffer untouched.
pub fn reset_reply<B: PacketBuf>(buf: &mut B, info: &FrameInfo) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let L4Info::Tcp {
        sport,
        dport,
        flags,
    } = ip.l4
    else {
        return Err(DropReason::Malformed);
    };
    if flags & tcp::RST != 0 {
        return Err(DropReason::Malformed);
    }
    let (l3, l4) = (ip.l3_offset, ip.l4_offset);
    let frame = buf.data();
    let word =
        |at: usize| u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
    let (seq, ack) = (word(l4 + tcp::field::SEQ), word(l4 + tcp::field::ACK));
    let header_len = usize::from(frame[l4 + tcp::field::DATA_OFF] >> 4) * 4;
    let data_len = ip.payload_len.saturating_sub(header_len) as u32;
    let occupied = data_len + u32::from(flags & tcp::SYN != 0) + u32::from(flags & tcp::FIN != 0);
    let (rst_seq, rst_ack, rst_flags) = if flags & tcp::ACK != 0 {
        (ack, 0, tcp::RST)
    } else {
        (0, seq.wrapping_add(occupied), tcp::RST | tcp::ACK)
    };
    let ip_len = match ip.version {
        IpVersion::V4 => 20,
        IpVersion::V6 => 40,
    };
    let new_len = l3 + ip_len + TCP_LEN;
    let old_len = buf.len();
    if new_len > old_len {
        buf.append(new_len - old_len)
            .map_err(|_| DropReason::NoBuffer)?;
    }
    let (from, to) = (ip.dst, ip.src);
    let frame = buf.data_mut();
    match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(t)) => {
            let h = &mut frame[l3..l3 + 20];
            h.fill(0);
            h[0] = 0x45; // version 4, 20-byte header
            h[2..4].copy_from_slice(&((20 + TCP_LEN) as u16).to_be_bytes());
            h[6] = 0x40; // don't fragment
            h[8] = OWN_TTL;
            h[9] = ip_proto::TCP;
            h[12..16].copy_from_slice(&f.octets());
            h[16..20].copy_from_slice(&t.octets());
            let c = internet_checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(f), IpAddr::V6(t)) => {
            let h = &mut frame[l3..l3 + 40];
            h[..8].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, ip_proto::TCP, OWN_TTL]);
            h[4..6].copy_from_slice(&(TCP_LEN as u16).to_be_bytes());
            h[8..24].copy_from_slice(&f.octets());
            h[24..40].copy_from_slice(&t.octets());
        }
        _ => return Err(DropReason::Malformed),
    }
    let s = &mut frame[l3 + ip_len..new_len];
    s.fill(0);
    s[0..2].copy_from_slice(&dport.to_be_bytes());
    s[2..4].copy_from_slice(&sport.to_be_bytes());
    s[4..8].copy_from_slice(&rst_seq.to_be_bytes());
    s[8..12].copy_from_slice(&rst_ack.to_be_bytes());
    s[tcp::field::DATA_OFF] = ((TCP_LEN / 4) as u8) << 4;
    s[tcp::field::FLAGS] = rst_flags;
    let c = !fold(pseudo_header(from, to, ip_proto::TCP, TCP_LEN as u32) + sum(s));
    s[tcp::field::CHECKSUM..tcp::field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    let len = buf.len();
    buf.trim(len - new_len);
    Ok(())
}
