//! The SYN proxy (`synproxy = true`, TCP services with NAT or FULLNAT reals): the
//! director completes the client's handshake itself with a SYN cookie ([`cookie`]) and
//! keeps no state for a SYN; only an ACK with a valid cookie opens a connection, and
//! then the director makes the real's handshake. Nothing here depends on the real's
//! mode: a NAT real gets the SYN from the client's own address and its replies come
//! back through the director addressed to the client, a FULLNAT real's to a local
//! address; either way the rewrite for the mode runs, then the shift.
//!
//! 1. client SYN -> [`answer_syn`]: the same frame turned into the cookie SYN-ACK.
//!    Without client timestamps it offers the MSS only (the client then uses no window
//!    scale, SACK or timestamps, nor does the real). With them, as Linux's syncookies
//!    do, it also offers SACK-permitted and window scale as the client did, and keeps
//!    the client's window scale and SACK-permitted in the low bits of its TSval, which
//!    come back in the ACK's TSecr. The window scale it announces is the service's
//!    `synproxy_wscale`: the reals must use the same (their `tcp_window_scaling`
//!    result), since the client scales the real's windows by it; the reals must also
//!    answer with timestamps when the client offers them.
//! 2. client ACK, cookie valid -> [`syn_from_ack`]: the frame turned into the client's
//!    SYN (its ISN, the MSS the cookie carried, its options from the TSecr), which opens
//!    the connection and goes to
//!    the real like any SYN. Payload in that ACK is held ([`held`]).
//!    An invalid cookie is [`DropReason::SynproxyBadCookie`].
//! 3. the real's SYN-ACK -> [`ack_from_synack`]: turned into the client's
//!    handshake-completing ACK (client -> VIP), which goes to the real like any client
//!    ACK (a PROXY header or TOA rides in it). Client segments with data that come
//!    before it are held ([`held`], a few per connection) and follow that ACK; those
//!    without data, and those the table has no room for, are dropped
//!    ([`DropReason::SynproxyWaiting`]; the client retransmits them).
//! 4. afterwards [`shift`]: the real's sequence numbers move by the difference of the
//!    two ISNs toward the client, and the client's acknowledgments (SACK edges too)
//!    move back toward the real; with timestamps, the real's TSval moves by the
//!    difference of the cookie TSval and the real's first one, the client's TSecr back.

pub mod cookie;
pub mod held;

use rvs_conntrack::{ConnKey, Direction, StreamAdjust};

pub use cookie::CookieKey;
pub use held::HeldSegments;
use rvs_packet::checksum::internet_checksum;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite::tcp_edit::{HandshakeOptions, Segment, ACK, FIN, RST, SYN};
use rvs_packet::wire::{FrameInfo, IpVersion};

/// [`StreamAdjust::syn_proxy`]: the SYN went to the real, its SYN-ACK not back yet.
const WAITING: u8 = 1;
/// [`StreamAdjust::syn_proxy`]: both halves open, sequence numbers shift.
const SHIFTING: u8 = 2;
/// [`StreamAdjust::syn_proxy`]: the progress bits above.
const PROGRESS: u8 = 3;
/// [`StreamAdjust::syn_proxy`] flag: timestamps are on, the real's clock shifts
/// ([`StreamAdjust::ts_shift`]).
const TIMESTAMPS: u8 = 4;
/// The low bits of the cookie SYN-ACK's TSval that carry the client's window scale
/// (`NO_WSCALE`: none) and SACK-permitted ([`SACK_BIT`]), as Linux's syncookies do.
const TS_OPTION_BITS: u32 = 0x3f;
/// Window scale bits of the cookie TSval meaning "the client offered none".
const NO_WSCALE: u32 = 0xf;
/// SACK-permitted bit of the cookie TSval.
const SACK_BIT: u32 = 0x10;
/// The largest window scale (RFC 7323).
const MAX_WSCALE: u8 = 14;
/// The most option bytes the SYN proxy writes (MSS, SACK-permitted, timestamps, window
/// scale).
const MAX_OPTIONS: usize = 20;
/// The window the cookie SYN-ACK and the made-up ACK announce (the latter scaled down
/// by the client's window scale when that is on).
const WINDOW: u16 = 65535;

/// True while the connection waits for the real's SYN-ACK.
#[inline]
pub fn waiting(stream: &StreamAdjust) -> bool {
    stream.syn_proxy & PROGRESS == WAITING
}

/// True while the connection waits for the real's SYN-ACK with cookie ISN `cookie`
/// (what names the connection of a held segment, [`held`]).
#[inline]
pub fn waiting_with(stream: &StreamAdjust, cookie: u32) -> bool {
    waiting(stream) && stream.server_shift == cookie
}

/// The cookie ISN of a [`waiting`] connection.
#[inline]
pub fn cookie_of(stream: &StreamAdjust) -> Option<u32> {
    waiting(stream).then_some(stream.server_shift)
}

/// True for a connection the SYN proxy opened.
#[inline]
pub fn proxied(stream: &StreamAdjust) -> bool {
    stream.syn_proxy != 0
}

/// The connection's SYN went to the real; `ack` is what the client's cookie ACK
/// carried.
pub fn sent_syn(stream: &mut StreamAdjust, ack: &CookieAck) {
    stream.syn_proxy = WAITING;
    stream.server_shift = ack.cookie;
    if let Some((_, cookie_ts)) = ack.timestamps {
        stream.syn_proxy |= TIMESTAMPS;
        stream.ts_shift = cookie_ts;
    }
}

/// Handshake options written into a frame: at most [`MAX_OPTIONS`] bytes.
struct Options {
    bytes: [u8; MAX_OPTIONS],
    len: usize,
}

impl Options {
    /// MSS, then (with timestamps only) SACK-permitted, timestamps and window scale,
    /// as Linux lays them out.
    fn new(mss: Option<u16>, sack: bool, ts: Option<(u32, u32)>, wscale: Option<u8>) -> Self {
        let mut o = Self {
            bytes: [0; MAX_OPTIONS],
            len: 0,
        };
        if let Some(m) = mss {
            let m = m.to_be_bytes();
            o.put(&[2, 4, m[0], m[1]]);
        }
        if let Some((val, ecr)) = ts {
            o.put(if sack { &[4, 2] } else { &[1, 1] });
            o.put(&[8, 10]);
            o.put(&val.to_be_bytes());
            o.put(&ecr.to_be_bytes());
            if let Some(w) = wscale {
                o.put(&[1, 3, 3, w.min(MAX_WSCALE)]);
            }
        }
        o
    }

    fn put(&mut self, b: &[u8]) {
        self.bytes[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The cookie SYN-ACK's TSval: the clock (ms) with the client's window scale and
/// SACK-permitted in its low bits.
fn cookie_tsval(now_ms: u64, client: &HandshakeOptions) -> u32 {
    let ws = client
        .wscale
        .map_or(NO_WSCALE, |w| u32::from(w.min(MAX_WSCALE)));
    (now_ms as u32 & !TS_OPTION_BITS) | ws | if client.sack { SACK_BIT } else { 0 }
}

/// Turn the client's SYN (`key`: client -> VIP) into the cookie SYN-ACK back to it,
/// announcing `mss`; when the client offers timestamps, also SACK-permitted and window
/// scale `wscale` as it offered them, its options kept in the TSval.
///
/// # Errors
/// [`DropReason::Malformed`] for a frame that is not a TCP segment, and
/// [`DropReason::NoBuffer`] when the buffer cannot hold the answer.
pub fn answer_syn<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    key: &ConnKey,
    cookies: &CookieKey,
    mss: u16,
    wscale: u8,
    now_ms: u64,
) -> Result<(), DropReason> {
    let seg = Segment::of(buf.data(), info)?;
    let f = buf.data();
    let v6 = seg.version == IpVersion::V6;
    let client_isn = seg.seq(f);
    let index = cookie::mss_index(v6, seg.mss(f));
    let isn = cookies.make(key, client_isn, index, now_ms);
    let client = seg.handshake_options(f);
    let opts = match client.timestamps {
        Some((val, _)) => Options::new(
            Some(mss),
            client.sack,
            Some((cookie_tsval(now_ms, &client), val)),
            client.wscale.map(|_| wscale),
        ),
        None => Options::new(Some(mss), false, None, None),
    };
    let seg = rebuild(buf, seg, opts.as_slice())?;
    let f = buf.data_mut();
    swap_ends(f, seg);
    seg.set_seq(f, isn);
    seg.set_ack(f, client_isn.wrapping_add(1));
    f[seg.l4 + 13] = SYN | ACK;
    seg.finish_checksum(f, key.dst, key.src);
    Ok(())
}

/// What a valid cookie ACK carried ([`check_ack`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieAck {
    /// The client's ISN.
    pub client_isn: u32,
    /// The cookie: the director's ISN toward the client.
    pub cookie: u32,
    /// The MSS the cookie carried.
    pub mss: u16,
    /// True when the ACK carries data (or a FIN) to hold until the real answers.
    pub carries_data: bool,
    /// Timestamps on: the client's TSval and its TSecr (the cookie SYN-ACK's TSval).
    pub timestamps: Option<(u32, u32)>,
    /// The client's window scale (timestamps on only).
    pub wscale: Option<u8>,
    /// The client's SACK-permitted (timestamps on only).
    pub sack: bool,
}

/// Check the cookie of the client's ACK (`key`: client -> VIP).
///
/// # Errors
/// [`DropReason::SynproxyBadCookie`] for a cookie this worker did not make for this
/// tuple within the last two counters; [`DropReason::Malformed`] for a frame that is
/// not a TCP segment.
pub fn check_ack(
    frame: &[u8],
    info: &FrameInfo,
    key: &ConnKey,
    cookies: &CookieKey,
    now_ms: u64,
) -> Result<CookieAck, DropReason> {
    let seg = Segment::of(frame, info)?;
    let client_isn = seg.seq(frame).wrapping_sub(1);
    let cookie = seg.ack(frame).wrapping_sub(1);
    let index = cookies
        .check(key, client_isn, cookie, now_ms)
        .ok_or(DropReason::SynproxyBadCookie)?;
    let timestamps = seg.handshake_options(frame).timestamps;
    let bits = timestamps.map_or(0, |(_, ecr)| ecr & TS_OPTION_BITS);
    let ws = bits & NO_WSCALE;
    Ok(CookieAck {
        client_isn,
        cookie,
        mss: cookie::mss_at(seg.version == IpVersion::V6, index),
        carries_data: carries_data(frame, &seg),
        timestamps,
        wscale: (timestamps.is_some() && ws != NO_WSCALE).then_some(ws as u8),
        sack: bits & SACK_BIT != 0,
    })
}

/// True for a segment with payload or a FIN: what is worth holding while waiting.
pub fn carries_data(frame: &[u8], seg: &Segment) -> bool {
    seg.payload_len() > 0 || seg.flags(frame) & FIN != 0
}

/// Turn the client's ACK whose cookie was valid ([`check_ack`]) into the client's SYN
/// with the MSS the cookie carried and, with timestamps, the client's own SACK-permitted,
/// timestamps and window scale (its payload cut off).
///
/// # Errors
/// [`DropReason::Malformed`], [`DropReason::NoBuffer`] as [`answer_syn`].
pub fn syn_from_ack<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    key: &ConnKey,
    ack: &CookieAck,
) -> Result<(), DropReason> {
    let seg = Segment::of(buf.data(), info)?;
    let ts = ack.timestamps.map(|(val, _)| (val, 0));
    let opts = Options::new(Some(ack.mss), ack.sack, ts, ack.wscale);
    let seg = rebuild(buf, seg, opts.as_slice())?;
    let f = buf.data_mut();
    seg.set_seq(f, ack.client_isn);
    seg.set_ack(f, 0);
    f[seg.l4 + 13] = SYN;
    seg.finish_checksum(f, key.src, key.dst);
    Ok(())
}

/// Turn the real's SYN-ACK of a [`waiting`] connection (`client`: its client -> VIP
/// tuple) into the client's handshake-completing ACK, and note the shift between the
/// real's ISN and the cookie (and between their clocks, with timestamps).
///
/// # Errors
/// [`DropReason::Malformed`], [`DropReason::NoBuffer`] as [`answer_syn`].
pub fn ack_from_synack<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    client: &ConnKey,
    stream: &mut StreamAdjust,
) -> Result<(), DropReason> {
    let seg = Segment::of(buf.data(), info)?;
    let f = buf.data();
    let (real_isn, next) = (seg.seq(f), seg.ack(f));
    let cookie_isn = stream.server_shift;
    let real_ts = seg.handshake_options(f).timestamps;
    let mut syn_proxy = SHIFTING;
    let mut opts = Options::new(None, false, None, None);
    let mut window = WINDOW;
    if let (true, Some((val, ecr))) = (stream.syn_proxy & TIMESTAMPS != 0, real_ts) {
        // The real scales this window by the client's shift (kept in the cookie TSval).
        let ws = stream.ts_shift & NO_WSCALE;
        if ws != NO_WSCALE {
            window >>= ws;
        }
        // The client's TSval came back as the real's TSecr; the TSecr is in the
        // client's view (the cookie's clock), as the shift that follows expects.
        opts.put(&[1, 1, 8, 10]);
        opts.put(&ecr.to_be_bytes());
        opts.put(&stream.ts_shift.to_be_bytes());
        syn_proxy |= TIMESTAMPS;
        stream.ts_shift = stream.ts_shift.wrapping_sub(val);
    }
    let seg = rebuild(buf, seg, opts.as_slice())?;
    let f = buf.data_mut();
    set_ends(f, seg, client);
    seg.set_seq(f, next);
    seg.set_ack(f, cookie_isn.wrapping_add(1));
    f[seg.l4 + 13] = ACK;
    f[seg.l4 + 14..seg.l4 + 16].copy_from_slice(&window.to_be_bytes());
    match seg.version {
        IpVersion::V4 => f[seg.l3 + 8] = 64,
        IpVersion::V6 => f[seg.l3 + 7] = 64,
    }
    fix_ip_checksum(f, seg);
    seg.finish_checksum(f, client.src, client.dst);
    stream.syn_proxy = syn_proxy;
    stream.server_shift = real_isn.wrapping_sub(cookie_isn);
    Ok(())
}

/// Shift a segment of a [`proxied`] connection travelling `dir` (already rewritten by
/// NAT or FULLNAT; checksums kept right).
///
/// # Errors
/// [`DropReason::SynproxyWaiting`] for a client segment, or a real's segment other
/// than a RST, before the real's SYN-ACK ([`ack_from_synack`] takes that one).
pub fn shift(
    f: &mut [u8],
    seg: &Segment,
    stream: &StreamAdjust,
    dir: Direction,
) -> Result<(), DropReason> {
    let flags = seg.flags(f);
    if waiting(stream) {
        // The real refused: the client hears the RST in its own numbers.
        if dir == Direction::Reply && flags & RST != 0 {
            seg.set_seq(f, stream.server_shift.wrapping_add(1));
            return Ok(());
        }
        return Err(DropReason::SynproxyWaiting);
    }
    let d = stream.server_shift;
    let ts = (stream.syn_proxy & TIMESTAMPS != 0).then_some(stream.ts_shift);
    match dir {
        Direction::Original => {
            if flags & ACK != 0 {
                seg.set_ack(f, seg.ack(f).wrapping_add(d));
            }
            seg.map_sack(f, |e| e.wrapping_add(d));
            if let Some(t) = ts {
                seg.map_timestamps(f, |v| v, |e| e.wrapping_sub(t));
            }
        }
        Direction::Reply => {
            seg.set_seq(f, seg.seq(f).wrapping_sub(d));
            if let Some(t) = ts {
                seg.map_timestamps(f, |v| v.wrapping_add(t), |e| e);
            }
        }
    }
    Ok(())
}

/// The segment cut to a bare TCP header with options `opts` (a multiple of 4 bytes), no
/// payload, its IP length fixed (the IPv4 checksum too); the caller fills the TCP
/// fields and the checksum. The window becomes [`WINDOW`], urgent pointer 0.
fn rebuild<B: PacketBuf>(buf: &mut B, seg: Segment, opts: &[u8]) -> Result<Segment, DropReason> {
    let header = 20 + opts.len();
    let end = seg.l4 + header;
    let len = buf.len();
    if len > end {
        buf.trim(len - end);
    } else {
        buf.append(end - len).map_err(|_| DropReason::NoBuffer)?;
    }
    let f = buf.data_mut();
    let mut out = Segment {
        end,
        header_len: header,
        ..seg
    };
    out.set_header_len(f, header);
    f[seg.l4 + 14..seg.l4 + 16].copy_from_slice(&WINDOW.to_be_bytes());
    f[seg.l4 + 18..seg.l4 + 20].copy_from_slice(&[0, 0]);
    f[seg.l4 + 20..end].copy_from_slice(opts);
    match seg.version {
        IpVersion::V4 => {
            let total = (end - seg.l3) as u16;
            f[seg.l3 + 2..seg.l3 + 4].copy_from_slice(&total.to_be_bytes());
        }
        IpVersion::V6 => {
            let payload = (end - seg.l3 - 40) as u16;
            f[seg.l3 + 4..seg.l3 + 6].copy_from_slice(&payload.to_be_bytes());
        }
    }
    fix_ip_checksum(f, out);
    Ok(out)
}

/// Swap the segment's addresses and ports (an answer to its sender), TTL / hop limit 64.
fn swap_ends(f: &mut [u8], seg: Segment) {
    let (l3, l4) = (seg.l3, seg.l4);
    match seg.version {
        IpVersion::V4 => {
            let (a, b) = f[l3 + 12..l3 + 20].split_at_mut(4);
            a.swap_with_slice(b);
            f[l3 + 8] = 64;
        }
        IpVersion::V6 => {
            let (a, b) = f[l3 + 8..l3 + 40].split_at_mut(16);
            a.swap_with_slice(b);
            f[l3 + 7] = 64;
        }
    }
    let (a, b) = f[l4..l4 + 4].split_at_mut(2);
    a.swap_with_slice(b);
    fix_ip_checksum(f, seg);
}

/// Set the segment's addresses and ports to `key`'s (same family as the frame).
fn set_ends(f: &mut [u8], seg: Segment, key: &ConnKey) {
    let (l3, l4) = (seg.l3, seg.l4);
    match (key.src, key.dst) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
            f[l3 + 12..l3 + 16].copy_from_slice(&s.octets());
            f[l3 + 16..l3 + 20].copy_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |a: std::net::IpAddr| match a {
                std::net::IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                std::net::IpAddr::V6(a) => a.octets(),
            };
            f[l3 + 8..l3 + 24].copy_from_slice(&v6(s));
            f[l3 + 24..l3 + 40].copy_from_slice(&v6(d));
        }
    }
    f[l4..l4 + 2].copy_from_slice(&key.sport.to_be_bytes());
    f[l4 + 2..l4 + 4].copy_from_slice(&key.dport.to_be_bytes());
}

/// Recompute an IPv4 header's checksum (nothing for IPv6).
fn fix_ip_checksum(f: &mut [u8], seg: Segment) {
    if seg.version == IpVersion::V4 {
        let l3 = seg.l3;
        let ihl = usize::from(f[l3] & 0x0f) * 4;
        f[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
        let c = internet_checksum(&f[l3..l3 + ihl]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
}
