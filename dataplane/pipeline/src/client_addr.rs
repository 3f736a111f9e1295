//! The client's address for FULLNAT reals (`client_address` in `docs/config.md`), per connection:
//!
//! - TOA: option 254 with the client's port and address goes into the client's segments
//!   from the handshake-completing ACK until the real sends data; a segment whose options
//!   or path MTU have no room goes without it (counted).
//! - PROXY protocol v1 / v2: the header goes first in the client's byte stream. It rides
//!   in the handshake-completing ACK (so a server that speaks first, which waits for the
//!   header, hears it at once) and again in any client segment that starts at the
//!   client's first byte (a retransmission of the first data) and in any pure ACK there
//!   while the real has not acknowledged it; the sequence numbers then shift
//!   ([`rvs_packet::rewrite::seq_shift`]).
//!
//! Both clamp the MSS the real offers in its SYN-ACK by the bytes they add, so that the
//! client's segments leave room for them (as DPVS does).
//!
//! - PROXY protocol v2 over UDP ([`on_datagram`]): the specification's datagram form, a
//!   header with transport UDP (`0x12` IPv4, `0x22` IPv6) in front of the payload of
//!   **every** datagram from the client, since each datagram stands alone (the real may
//!   miss, reorder or receive any of them first). The real's answers carry none and pass
//!   as they are. A datagram the header would take past the egress MTU is dropped
//!   ([`DropReason::TooBig`]; the worker tells a client that set DF the MTU less the
//!   header): no clamp can make UDP senders leave room.

use std::net::SocketAddr;

use rvs_conntrack::{ConnId, ConnTable, ConnView, Direction, Proto, StreamAdjust};

use rvs_config::ClientAddress;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite::proxy_protocol::{v2_len, ProxyHeader};
use rvs_packet::rewrite::seq_shift::{at_or_after, toward_client, toward_real};
use rvs_packet::rewrite::tcp_edit::{Segment, ACK, MAX_TCP_HEADER, RST, SYN};
use rvs_packet::rewrite::toa;
use rvs_packet::rewrite::udp_edit;
use rvs_packet::wire::FrameInfo;

/// Codes of [`StreamAdjust::kind`].
const KIND_TOA: u8 = 1;
const KIND_PROXY_V1: u8 = 2;
const KIND_PROXY_V2: u8 = 3;

/// Bits of [`StreamAdjust::flags`].
/// The client's ISN is known (its SYN passed).
const ISN_KNOWN: u8 = 1;
/// The PROXY header went toward the real at least once.
const HEADER_SENT: u8 = 2;
/// The real acknowledged the whole header.
const HEADER_ACKED: u8 = 4;
/// The real sent data (TOA stops).
const REAL_SPOKE: u8 = 8;

/// The [`StreamAdjust::kind`] of a connection of a service whose reals learn the
/// client's address `how` (0: nothing to do).
pub fn stream_kind(how: ClientAddress) -> u8 {
    match how {
        ClientAddress::None => 0,
        ClientAddress::Toa => KIND_TOA,
        ClientAddress::ProxyV1 => KIND_PROXY_V1,
        ClientAddress::ProxyV2 => KIND_PROXY_V2,
    }
}

/// Mark the new FULLNAT connection `id` for `how`.
pub fn init(conns: &mut ConnTable, id: ConnId, how: ClientAddress) {
    let kind = stream_kind(how);
    if kind == 0 {
        return;
    }
    conns.set_stream(
        id,
        &StreamAdjust {
            kind,
            ..StreamAdjust::default()
        },
    );
}

/// True when connection segments need [`on_segment`] (the client's address, or the
/// SYN proxy's shift).
#[inline]
pub fn active(stream: &StreamAdjust) -> bool {
    stream.kind != 0 || crate::synproxy::proxied(stream)
}

/// The most bytes `how` adds to a client segment of the family (`v6`), without building
/// the header: what an MSS announced before the connection exists (the SYN proxy's
/// cookie SYN-ACK) leaves free. PROXY v1's longest lines: 56 bytes (TCP4), 104 (TCP6).
pub fn max_growth(how: ClientAddress, v6: bool) -> u16 {
    match (how, v6) {
        (ClientAddress::None, _) => 0,
        (ClientAddress::Toa, false) => 8,
        (ClientAddress::Toa, true) => toa::MAX_LEN as u16,
        (ClientAddress::ProxyV1, false) => 56,
        (ClientAddress::ProxyV1, true) => 104,
        (ClientAddress::ProxyV2, false) => 28,
        (ClientAddress::ProxyV2, true) => 52,
    }
}

/// The bytes a PROXY header adds to a datagram of UDP connection `conn` (with state
/// `stream`) travelling `dir`; 0 for one that gets none (a reply, a TCP connection, a
/// service without `proxy-v2`). What the egress MTU must leave room for.
pub fn datagram_growth(conn: &ConnView<'_>, stream: &StreamAdjust, dir: Direction) -> usize {
    if stream.kind == KIND_PROXY_V2 && dir == Direction::Original && conn.proto() == Proto::Udp {
        v2_len(conn.client().is_ipv6())
    } else {
        0
    }
}

/// Put the PROXY v2 datagram header (client, VIP) in front of the payload of a UDP
/// datagram of FULLNAT connection `conn` travelling `dir`, already rewritten by
/// [`rvs_packet::rewrite::fullnat_in`] (`info` parsed before that). Nothing for a reply
/// or a connection without `proxy-v2`. The caller has checked the room
/// ([`datagram_growth`]).
///
/// # Errors
/// [`DropReason::Malformed`] for a frame that is not a UDP datagram;
/// [`DropReason::TooBig`] when the buffer has no room.
pub fn on_datagram<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    conn: &ConnView<'_>,
    stream: &StreamAdjust,
    dir: Direction,
) -> Result<Edit, DropReason> {
    if datagram_growth(conn, stream, dir) == 0 {
        return Ok(Edit::Nothing);
    }
    let local = conn.local().ok_or(DropReason::NoLocalPort)?;
    let h = ProxyHeader::v2_dgram(conn.client(), conn.vip()).ok_or(DropReason::Malformed)?;
    udp_edit::prepend_payload(buf, info, h.as_bytes(), local.ip(), conn.real().ip())?;
    Ok(Edit::HeaderSent)
}

/// What [`on_segment`] did, for the worker's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Nothing to count (numbers may have shifted).
    Nothing,
    /// A PROXY header went toward the real (in a segment or a datagram).
    HeaderSent,
    /// The TOA option went toward the real.
    ToaAdded,
    /// The TOA option did not fit (options full, or past the MTU).
    ToaSkipped,
}

/// Edit a TCP segment of FULLNAT connection `conn` travelling `dir` (or of a NAT one the
/// SYN proxy opened: its shift only), already rewritten by
/// [`rvs_packet::rewrite::fullnat_in`] / [`rvs_packet::rewrite::fullnat_out`] (or the
/// NAT ones) (`info` parsed before that: its offsets still hold). `stream` is the connection's state, updated here; `mtu` that of
/// the port the segment leaves by.
///
/// # Errors
/// [`DropReason::Malformed`] for a frame that is not a TCP segment;
/// [`DropReason::TooBig`] when a PROXY header does not fit the MTU or the buffer (the
/// client retransmits, and a smaller segment passes: its MSS was clamped).
pub fn on_segment<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    conn: &ConnView<'_>,
    stream: &mut StreamAdjust,
    dir: Direction,
    mtu: usize,
) -> Result<Edit, DropReason> {
    let seg = Segment::of(buf.data(), info)?;
    if crate::synproxy::proxied(stream) {
        crate::synproxy::shift(buf.data_mut(), &seg, stream, dir)?;
    }
    if stream.kind == 0 {
        return Ok(Edit::Nothing);
    }
    let flags = seg.flags(buf.data());
    match dir {
        Direction::Original => {
            if flags & SYN != 0 {
                if flags & ACK == 0 {
                    stream.client_isn = seg.seq(buf.data());
                    stream.flags |= ISN_KNOWN;
                }
                return Ok(Edit::Nothing);
            }
            if stream.flags & ISN_KNOWN == 0 {
                return Ok(Edit::Nothing);
            }
            if stream.kind == KIND_TOA {
                toward_real_toa(buf, seg, flags, conn, stream, mtu)
            } else {
                toward_real_proxy(buf, seg, flags, conn, stream, mtu)
            }
        }
        Direction::Reply => {
            let f = buf.data_mut();
            if flags & (SYN | ACK) == SYN | ACK {
                seg.clamp_mss(f, room(stream.kind, conn));
            }
            if stream.kind == KIND_TOA {
                if seg.payload_len() > 0 {
                    stream.flags |= REAL_SPOKE;
                }
            } else if stream.flags & HEADER_SENT != 0 && flags & ACK != 0 {
                let (first, n) = (first_byte(stream), u32::from(stream.inserted));
                let ack = seg.ack(f);
                if at_or_after(ack, first.wrapping_add(n)) {
                    stream.flags |= HEADER_ACKED;
                }
                let mapped = toward_client(ack, first, n);
                if mapped != ack {
                    seg.set_ack(f, mapped);
                }
                seg.map_sack(f, |e| toward_client(e, first, n));
            }
            Ok(Edit::Nothing)
        }
    }
}

/// The client's first byte.
fn first_byte(stream: &StreamAdjust) -> u32 {
    stream.client_isn.wrapping_add(1)
}

/// Bytes a client segment may grow by: what the MSS clamp takes off.
fn room(kind: u8, conn: &ConnView<'_>) -> u16 {
    match kind {
        KIND_TOA => toa::option(conn.client()).1 as u16,
        _ => header(kind, conn).map_or(0, |h| h.as_bytes().len() as u16),
    }
}

/// The PROXY header of `conn` (client, VIP).
fn header(kind: u8, conn: &ConnView<'_>) -> Option<ProxyHeader> {
    let (src, dst): (SocketAddr, SocketAddr) = (conn.client(), conn.vip());
    match kind {
        KIND_PROXY_V1 => ProxyHeader::v1(src, dst),
        _ => ProxyHeader::v2(src, dst),
    }
}

fn toward_real_proxy<B: PacketBuf>(
    buf: &mut B,
    seg: Segment,
    flags: u8,
    conn: &ConnView<'_>,
    stream: &mut StreamAdjust,
    mtu: usize,
) -> Result<Edit, DropReason> {
    let first = first_byte(stream);
    let seq = seg.seq(buf.data());
    let carries_header = flags & RST == 0
        && flags & ACK != 0
        && seq == first
        && (seg.payload_len() > 0 || stream.flags & HEADER_ACKED == 0);
    if carries_header {
        let local = conn.local().ok_or(DropReason::NoLocalPort)?;
        let h = header(stream.kind, conn).ok_or(DropReason::Malformed)?;
        let h = h.as_bytes();
        if seg.ip_len() + h.len() > mtu {
            return Err(DropReason::TooBig);
        }
        let grown = seg.insert(buf, seg.l4 + seg.header_len, h)?;
        grown.finish_checksum(buf.data_mut(), local.ip(), conn.real().ip());
        stream.inserted = h.len() as u16;
        stream.flags |= HEADER_SENT;
        return Ok(Edit::HeaderSent);
    }
    if stream.flags & HEADER_SENT != 0 {
        let shifted = toward_real(seq, first, u32::from(stream.inserted));
        if shifted != seq {
            seg.set_seq(buf.data_mut(), shifted);
        }
    }
    Ok(Edit::Nothing)
}

fn toward_real_toa<B: PacketBuf>(
    buf: &mut B,
    seg: Segment,
    flags: u8,
    conn: &ConnView<'_>,
    stream: &mut StreamAdjust,
    mtu: usize,
) -> Result<Edit, DropReason> {
    if stream.flags & REAL_SPOKE != 0 || flags & RST != 0 || flags & ACK == 0 {
        return Ok(Edit::Nothing);
    }
    let local = conn.local().ok_or(DropReason::NoLocalPort)?;
    let (opt, n) = toa::option(conn.client());
    if seg.header_len + n > MAX_TCP_HEADER || seg.ip_len() + n > mtu {
        return Ok(Edit::ToaSkipped);
    }
    let Ok(mut grown) = seg.insert(buf, seg.l4 + seg.header_len, &opt[..n]) else {
        return Ok(Edit::ToaSkipped);
    };
    let f = buf.data_mut();
    grown.set_header_len(f, seg.header_len + n);
    grown.finish_checksum(f, local.ip(), conn.real().ip());
    Ok(Edit::ToaAdded)
}
