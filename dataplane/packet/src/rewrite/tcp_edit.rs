//! Edits inside a TCP segment that NAT does not make: sequence fields, options, bytes
//! inserted into the header or the payload. Offsets come from a parsed frame; every
//! edit keeps the IP and TCP checksums right.

use std::net::IpAddr;

use super::nat::fix_checksum;
use crate::checksum::{delta_u16, fold, pseudo_header, sum};
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::bytes::{be16, put16};
use crate::wire::tcp::TCP_CHECKSUM_OFFSET;
use crate::wire::{FrameInfo, IpVersion, L4Info};

/// The options a handshake negotiates beyond the MSS ([`Segment::handshake_options`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandshakeOptions {
    /// Window scale shift.
    pub wscale: Option<u8>,
    /// SACK-permitted.
    pub sack: bool,
    /// Timestamps: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
}

/// TCP flag bits (byte 13 of the header): SYN.
pub const SYN: u8 = 0x02;
/// TCP flag FIN.
pub const FIN: u8 = 0x01;
/// RST.
pub const RST: u8 = 0x04;
/// ACK.
pub const ACK: u8 = 0x10;

/// Option kinds.
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_SACK: u8 = 5;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_PERM: u8 = 4;
const OPT_TIMESTAMPS: u8 = 8;

/// The longest TCP header.
pub const MAX_TCP_HEADER: usize = 60;

/// Where a TCP segment lies in its frame.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// IP header offset.
    pub l3: usize,
    /// TCP header offset.
    pub l4: usize,
    /// TCP header length (options included).
    pub header_len: usize,
    /// End of the segment (Ethernet padding lies after it).
    pub end: usize,
    /// IP version.
    pub version: IpVersion,
}

impl Segment {
    /// The segment of a parsed TCP frame; [`DropReason::Malformed`] otherwise.
    pub fn of(frame: &[u8], info: &FrameInfo) -> Result<Self, DropReason> {
        let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
        if !matches!(ip.l4, L4Info::Tcp { .. }) || ip.is_fragment {
            return Err(DropReason::Malformed);
        }
        let (l4, end) = (ip.l4_offset, ip.l4_offset + ip.payload_len);
        let header_len = usize::from(frame.get(l4 + 12).ok_or(DropReason::Malformed)? >> 4) * 4;
        if header_len < 20 || l4 + header_len > end || end > frame.len() {
            return Err(DropReason::Malformed);
        }
        Ok(Self {
            l3: ip.l3_offset,
            l4,
            header_len,
            end,
            version: ip.version,
        })
    }

    /// Payload bytes.
    pub fn payload_len(&self) -> usize {
        self.end - self.l4 - self.header_len
    }

    /// The IP packet's length.
    pub fn ip_len(&self) -> usize {
        self.end - self.l3
    }

    /// Flag bits.
    pub fn flags(&self, f: &[u8]) -> u8 {
        f[self.l4 + 13]
    }

    /// Sequence number.
    pub fn seq(&self, f: &[u8]) -> u32 {
        get32(f, self.l4 + 4)
    }

    /// Acknowledgment number.
    pub fn ack(&self, f: &[u8]) -> u32 {
        get32(f, self.l4 + 8)
    }

    /// Set the sequence number (checksum fixed).
    pub fn set_seq(&self, f: &mut [u8], v: u32) {
        set32(f, self.l4, 4, v);
    }

    /// Set the acknowledgment number (checksum fixed).
    pub fn set_ack(&self, f: &mut [u8], v: u32) {
        set32(f, self.l4, 8, v);
    }

    /// Options as (offset of the kind byte, kind, length), well-formed ones only.
    fn options<'a>(&self, f: &'a [u8]) -> impl Iterator<Item = (usize, u8, usize)> + 'a {
        let (mut at, end) = (self.l4 + 20, self.l4 + self.header_len);
        std::iter::from_fn(move || loop {
            if at >= end {
                return None;
            }
            let kind = f[at];
            match kind {
                OPT_END => return None,
                OPT_NOP => at += 1,
                _ => {
                    let len = usize::from(*f.get(at + 1)?);
                    if len < 2 || at + len > end {
                        return None;
                    }
                    let here = at;
                    at += len;
                    return Some((here, kind, len));
                }
            }
        })
    }

    /// The MSS option's value, if the segment has one.
    pub fn mss(&self, f: &[u8]) -> Option<u16> {
        self.options(f)
            .find(|&(_, kind, len)| kind == OPT_MSS && len == 4)
            .map(|(at, _, _)| be16(f, at + 2))
    }

    /// Lower the MSS option to `mss - by` (not below 536); no change without one.
    pub fn clamp_mss(&self, f: &mut [u8], by: u16) {
        let Some((at, _, _)) = self
            .options(f)
            .find(|&(_, kind, len)| kind == OPT_MSS && len == 4)
        else {
            return;
        };
        let old = be16(f, at + 2);
        let new = old.saturating_sub(by).max(MIN_MSS).min(old);
        put16(f, at + 2, new);
        fix_checksum(f, self.l4 + TCP_CHECKSUM_OFFSET, delta_u16(old, new), false);
    }

    /// The handshake options of a SYN or SYN-ACK: window scale, SACK-permitted and
    /// timestamps (TSval, TSecr).
    pub fn handshake_options(&self, f: &[u8]) -> HandshakeOptions {
        let mut o = HandshakeOptions::default();
        for (at, kind, len) in self.options(f) {
            match (kind, len) {
                (OPT_WSCALE, 3) => o.wscale = Some(f[at + 2]),
                (OPT_SACK_PERM, 2) => o.sack = true,
                (OPT_TIMESTAMPS, 10) => o.timestamps = Some((get32(f, at + 2), get32(f, at + 6))),
                _ => {}
            }
        }
        o
    }

    /// Map the timestamps option's TSval and TSecr (checksum fixed); no change without
    /// one.
    pub fn map_timestamps(
        &self,
        f: &mut [u8],
        tsval: impl Fn(u32) -> u32,
        tsecr: impl Fn(u32) -> u32,
    ) {
        let Some((at, _, _)) = self
            .options(f)
            .find(|&(_, kind, len)| kind == OPT_TIMESTAMPS && len == 10)
        else {
            return;
        };
        let (v, e) = (get32(f, at + 2), get32(f, at + 6));
        set32(f, self.l4, at + 2 - self.l4, tsval(v));
        set32(f, self.l4, at + 6 - self.l4, tsecr(e));
    }

    /// Map every SACK block edge through `map` (checksum fixed).
    pub fn map_sack(&self, f: &mut [u8], map: impl Fn(u32) -> u32) {
        let mut edges = [0usize; 8];
        let mut n = 0;
        for (at, kind, len) in self.options(f) {
            if kind == OPT_SACK {
                let mut e = at + 2;
                while e + 4 <= at + len && n < edges.len() {
                    edges[n] = e;
                    n += 1;
                    e += 4;
                }
            }
        }
        for &e in &edges[..n] {
            let v = get32(f, e);
            set32(f, self.l4, e - self.l4, map(v));
        }
    }

    /// Insert `bytes` at frame offset `at` (inside the segment, `l4 + 20 ..= end`): the
    /// frame grows, the IP length follows, and the caller sets the TCP fields and calls
    /// [`Segment::finish_checksum`]. Ethernet padding is dropped first. Returns the
    /// segment as it is now. [`DropReason::TooBig`] (frame untouched but for padding)
    /// when the buffer has no room.
    pub fn insert<B: PacketBuf>(
        &self,
        buf: &mut B,
        at: usize,
        bytes: &[u8],
    ) -> Result<Segment, DropReason> {
        let n = bytes.len();
        if buf.len() > self.end {
            buf.trim(buf.len() - self.end);
        }
        buf.append(n).map_err(|_| DropReason::TooBig)?;
        let f = buf.data_mut();
        f.copy_within(at..self.end, at + n);
        f[at..at + n].copy_from_slice(bytes);
        let grown = n as u16;
        match self.version {
            IpVersion::V4 => {
                let old = be16(f, self.l3 + 2);
                put16(f, self.l3 + 2, old + grown);
                fix_checksum(f, self.l3 + 10, delta_u16(old, old + grown), false);
            }
            IpVersion::V6 => {
                let old = be16(f, self.l3 + 4);
                put16(f, self.l3 + 4, old + grown);
            }
        }
        Ok(Segment {
            end: self.end + n,
            ..*self
        })
    }

    /// Set the header length (a multiple of 4; checksum not fixed: call
    /// [`Segment::finish_checksum`]).
    pub fn set_header_len(&mut self, f: &mut [u8], len: usize) {
        f[self.l4 + 12] = ((len / 4) as u8) << 4 | (f[self.l4 + 12] & 0x0f);
        self.header_len = len;
    }

    /// Compute the TCP checksum afresh, with `src` and `dst` the packet's addresses.
    pub fn finish_checksum(&self, f: &mut [u8], src: IpAddr, dst: IpAddr) {
        let seg = &mut f[self.l4..self.end];
        seg[TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2].copy_from_slice(&[0, 0]);
        let c = !fold(pseudo_header(src, dst, 6, seg.len() as u32) + sum(seg));
        seg[TCP_CHECKSUM_OFFSET..TCP_CHECKSUM_OFFSET + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// The smallest MSS a clamp leaves (IPv4's default).
const MIN_MSS: u16 = 536;

fn get32(f: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
}

/// Write `v` at `l4 + field` and fix the TCP checksum for it.
fn set32(f: &mut [u8], l4: usize, field: usize, v: u32) {
    let at = l4 + field;
    let (hi, lo) = (be16(f, at), be16(f, at + 2));
    let (nhi, nlo) = ((v >> 16) as u16, v as u16);
    // A field at an odd offset enters the checksum byte-swapped.
    let d = if field % 2 == 0 {
        delta_u16(hi, nhi) + delta_u16(lo, nlo)
    } else {
        delta_u16(hi.swap_bytes(), nhi.swap_bytes()) + delta_u16(lo.swap_bytes(), nlo.swap_bytes())
    };
    put16(f, at, nhi);
    put16(f, at + 2, nlo);
    fix_checksum(f, l4 + TCP_CHECKSUM_OFFSET, d, false);
}
