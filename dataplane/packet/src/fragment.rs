//! IP fragments, both ways: what one received fragment says of its datagram
//! ([`Piece`], read by reassembly), and the fragments a whole datagram is cut into for a
//! smaller MTU ([`Cut`]: IPv4 as RFC 791 fragments, IPv6 with a fragment header as RFC
//! 8200 section 4.5 describes).
//!
//! Nothing here allocates: a piece names ranges of the frame it came in, and a cut
//! writes each fragment into a buffer the caller provides.

use std::net::IpAddr;
use std::ops::Range;

use crate::drop::DropReason;
use crate::packet::{NoRoom, PacketBuf};
use crate::wire::bytes::{be16, put16};
use crate::wire::{ip_proto, FrameInfo, IpInfo, IpVersion, Ipv4Packet};

/// Bytes of an IPv6 fragment header.
pub const V6_FRAG_HEADER: usize = 8;

/// Largest IP payload a datagram may have: 65,535 bytes of IPv4 total length less its
/// 20-byte header, or of IPv6 payload length (jumbograms are not reassembled).
pub const MAX_PAYLOAD: usize = 65_535;

/// The datagram a fragment belongs to: RFC 791's (source, destination, protocol,
/// identification), RFC 8200's (source, destination, identification). The protocol is
/// kept for IPv6 too (it is the same in every fragment of one datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (16 bits for IPv4).
    pub id: u32,
    /// The protocol after the IP header (IPv6: the fragment header's next header).
    pub proto: u8,
}

impl FragKey {
    /// The key of a parsed fragment.
    pub fn of(ip: &IpInfo) -> Self {
        Self {
            src: ip.src,
            dst: ip.dst,
            id: ip.frag_id,
            proto: ip.protocol,
        }
    }
}

/// One received fragment, as reassembly files it. Ranges are of the frame it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Its datagram.
    pub key: FragKey,
    /// Where its data goes in the datagram's payload (bytes after the IP header, or
    /// after IPv6's unfragmentable part).
    pub offset: usize,
    /// Its data in the frame.
    pub data: Range<usize>,
    /// More fragments follow it (IPv4 MF, IPv6 M).
    pub more: bool,
    /// The frame's bytes that become the reassembled datagram's headers when this is the
    /// first fragment (Ethernet, the IP header, IPv6's extension headers before the
    /// fragment header).
    pub header: Range<usize>,
    /// The offset of the IP header in `header`.
    pub l3: usize,
    /// IPv6: the offset in `header` of the byte naming the fragment header, and the
    /// fragment header's next header, which that byte names in the reassembled datagram.
    pub v6_next: Option<(usize, u8)>,
    /// The fragment's IP length (header included): the largest one bounds the fragments
    /// the director sends for the datagram, as Linux's `frag_max_size` does.
    pub ip_len: usize,
    /// IPv4 DF was set (never for IPv6).
    pub dont_frag: bool,
}

/// Read a parsed fragment. Refused as [`DropReason::Malformed`]: a fragment that is not
/// the last whose data is not a multiple of 8 bytes, an empty one that is not the last,
/// or one that would make the datagram longer than [`MAX_PAYLOAD`] (RFC 791, RFC 8200
/// section 4.5).
pub fn piece(frame: &[u8], info: &FrameInfo) -> Result<Piece, DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let l3 = ip.l3_offset;
    let end = l3 + ip.l3_len;
    let (offset, more, header_end, next_at, next, unfrag) = match ip.version {
        IpVersion::V4 => {
            let v4 = Ipv4Packet::new_checked(&frame[l3..])?;
            let hl = v4.header_len();
            let off = usize::from(v4.frag_offset());
            (off, v4.more_frags(), l3 + hl, 0, ip.protocol, 0)
        }
        IpVersion::V6 => {
            let chain = v6_chain(frame, l3, end)?;
            if frame[chain.next_at] != ip_proto::FRAGMENT || chain.end + V6_FRAG_HEADER > end {
                return Err(DropReason::Malformed);
            }
            let fh = chain.end;
            let fo = be16(frame, fh + 2);
            let unfrag = fh - l3 - 40;
            (
                usize::from(fo & 0xfff8),
                fo & 1 == 1,
                fh,
                chain.next_at,
                frame[fh],
                unfrag,
            )
        }
    };
    let data_start = match ip.version {
        IpVersion::V4 => header_end,
        IpVersion::V6 => header_end + V6_FRAG_HEADER,
    };
    let len = end.checked_sub(data_start).ok_or(DropReason::Malformed)?;
    let ip_header = header_end - l3;
    let limit = match ip.version {
        IpVersion::V4 => MAX_PAYLOAD - ip_header,
        IpVersion::V6 => MAX_PAYLOAD - unfrag,
    };
    if (more && (len % 8 != 0 || len == 0)) || offset + len > limit {
        return Err(DropReason::Malformed);
    }
    Ok(Piece {
        key: FragKey {
            src: ip.src,
            dst: ip.dst,
            id: ip.frag_id,
            proto: ip.protocol,
        },
        offset,
        data: data_start..end,
        more,
        header: 0..header_end,
        l3,
        v6_next: (ip.version == IpVersion::V6).then_some((next_at, next)),
        ip_len: ip.l3_len,
        dont_frag: ip.version == IpVersion::V4 && ip.dont_frag,
    })
}

/// Make `header` (a first fragment's [`Piece::header`] bytes, at the front of the
/// reassembly buffer) the header of the whole datagram of `payload` bytes: IPv4 with MF
/// and offset clear (DF as received), its length and checksum; IPv6 with the fragment
/// header left out and its payload length.
pub fn finish_header(
    header: &mut [u8],
    l3: usize,
    v6_next_at: Option<(usize, u8)>,
    payload: usize,
) {
    match v6_next_at {
        None => {
            let mut v4 = Ipv4Packet::new_unchecked(&mut header[l3..]);
            let hl = v4.header_len();
            let df = v4.dont_frag();
            v4.set_unfragmented(df);
            v4.set_total_len((hl + payload) as u16);
            v4.fill_checksum();
        }
        Some((at, next)) => {
            header[at] = next;
            let unfrag = header.len() - l3 - 40;
            put16(header, l3 + 4, (unfrag + payload) as u16);
        }
    }
}

/// Where IPv6's extension headers that stay in front of a fragment header end.
#[derive(Clone, Copy, Debug)]
struct V6Chain {
    /// The offset of the byte naming what follows them.
    next_at: usize,
    /// The offset where what follows them starts.
    end: usize,
}

/// Walk the hop-by-hop, routing and destination options headers of the IPv6 packet at
/// `l3` (they stay in front of a fragment header), within `end`.
fn v6_chain(frame: &[u8], l3: usize, end: usize) -> Result<V6Chain, DropReason> {
    let mut next_at = l3 + 6;
    let mut off = l3 + 40;
    for _ in 0..crate::wire::ipv6::MAX_EXT_HEADERS {
        match frame.get(next_at) {
            Some(&(ip_proto::HOP_BY_HOP | ip_proto::ROUTING | ip_proto::DST_OPTS)) => {
                let len = frame.get(off + 1).ok_or(DropReason::Malformed)?;
                next_at = off;
                off += (usize::from(*len) + 1) * 8;
                if off > end {
                    return Err(DropReason::Malformed);
                }
            }
            Some(_) => return Ok(V6Chain { next_at, end: off }),
            None => return Err(DropReason::Malformed),
        }
    }
    Err(DropReason::UnsupportedProtocol)
}

/// How a whole datagram is cut into fragments of at most a given IP length.
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    l3: usize,
    /// IPv4: the header length; IPv6: the unfragmentable part's (40 and the extension
    /// headers in front of the fragment header).
    header: usize,
    /// IPv6: the byte naming what follows the unfragmentable part.
    v6_next_at: Option<usize>,
    /// The fragmentable part in the frame.
    payload: usize,
    end: usize,
    /// Data bytes per fragment (a multiple of 8).
    step: usize,
    id: u32,
}

impl Cut {
    /// Cut the whole datagram `frame` (parsed into `info`) into fragments of at most
    /// `max_ip_len` bytes of IP, identified by `id` (its low 16 bits for IPv4).
    /// [`DropReason::TooBig`] when not even 8 bytes of data fit beside the headers.
    pub fn new(
        frame: &[u8],
        info: &FrameInfo,
        max_ip_len: usize,
        id: u32,
    ) -> Result<Self, DropReason> {
        let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
        let l3 = ip.l3_offset;
        let end = l3 + ip.l3_len;
        let (header, v6_next_at, extra) = match ip.version {
            IpVersion::V4 => (ip.l4_offset - l3, None, 0),
            IpVersion::V6 => {
                let chain = v6_chain(frame, l3, end)?;
                (chain.end - l3, Some(chain.next_at), V6_FRAG_HEADER)
            }
        };
        // Every IPv4 fragment after the first may carry fewer options than the first;
        // the first's header bounds them all.
        let room = max_ip_len.saturating_sub(header + extra);
        let step = room / 8 * 8;
        if step == 0 {
            return Err(DropReason::TooBig);
        }
        Ok(Self {
            l3,
            header,
            v6_next_at,
            payload: l3 + header,
            end,
            step,
            id,
        })
    }

    /// How many fragments the datagram makes.
    pub fn count(&self) -> usize {
        (self.end - self.payload).div_ceil(self.step).max(1)
    }

    /// Write fragment `k` (`0..count()`) of `frame` into `out`, replacing what it held.
    /// The Ethernet header is copied as it is.
    pub fn write<B: PacketBuf>(&self, frame: &[u8], k: usize, out: &mut B) -> Result<(), NoRoom> {
        let held = out.len();
        out.trim(held);
        let start = self.payload + k * self.step;
        let stop = (start + self.step).min(self.end);
        let more = stop < self.end;
        let offset = k * self.step;
        let l3 = self.l3;
        match self.v6_next_at {
            None => {
                // RFC 791: the first fragment keeps every option, the others only those
                // whose copied flag is set.
                let mut opts = [0u8; 40];
                let opts_len = if k == 0 {
                    self.header - 20
                } else {
                    copied_options(&frame[l3 + 20..l3 + self.header], &mut opts)
                };
                let hl = 20 + opts_len;
                let len = l3 + hl + (stop - start);
                out.append(len)?;
                let b = out.data_mut();
                b[..l3 + 20].copy_from_slice(&frame[..l3 + 20]);
                if k == 0 {
                    b[l3 + 20..l3 + hl].copy_from_slice(&frame[l3 + 20..l3 + self.header]);
                } else {
                    b[l3 + 20..l3 + hl].copy_from_slice(&opts[..opts_len]);
                }
                b[l3 + hl..].copy_from_slice(&frame[start..stop]);
                let df = be16(frame, l3 + 6) & 0x4000;
                let mut v4 = Ipv4Packet::new_unchecked(&mut b[l3..]);
                v4.set_version_and_header_len(hl);
                v4.set_total_len((hl + stop - start) as u16);
                v4.set_ident(self.id as u16);
                let flags = df | if more { 0x2000 } else { 0 } | (offset / 8) as u16;
                put16(&mut b[l3..], 6, flags);
                Ipv4Packet::new_unchecked(&mut b[l3..]).fill_checksum();
            }
            Some(next_at) => {
                let fh = l3 + self.header;
                let len = fh + V6_FRAG_HEADER + (stop - start);
                out.append(len)?;
                let b = out.data_mut();
                b[..fh].copy_from_slice(&frame[..fh]);
                let next = frame[next_at];
                b[next_at] = ip_proto::FRAGMENT;
                let fo = (offset as u16) | u16::from(more);
                b[fh] = next;
                b[fh + 1] = 0;
                put16(b, fh + 2, fo);
                b[fh + 4..fh + 8].copy_from_slice(&self.id.to_be_bytes());
                b[fh + 8..].copy_from_slice(&frame[start..stop]);
                put16(b, l3 + 4, (len - l3 - 40) as u16);
            }
        }
        Ok(())
    }
}

/// Copy the IPv4 options of `opts` whose copied flag is set into `out`, padded with
/// end-of-list to a multiple of 4 bytes; returns the length written.
fn copied_options(opts: &[u8], out: &mut [u8; 40]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < opts.len() {
        let kind = opts[i];
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1).unwrap_or(&0));
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out[n..n + len].copy_from_slice(&opts[i..i + len]);
                    n += len;
                }
                i += len;
            }
        }
    }
    let padded = n.div_ceil(4) * 4;
    out[n..padded].fill(0);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HeapBuf;
    use crate::wire::parse_frame;
    use etherparse::{IpFragOffset, IpNumber, Ipv4Header, Ipv6Header, PacketBuilder};

    const MACS: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);

    fn udp_v4(len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MACS.0, MACS.1)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 53)
            .write(&mut out, &payload)
            .unwrap();
        out
    }

    fn udp_v6(len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MACS.0, MACS.1)
            .ipv6([0x20; 16], [0x21; 16], 64)
            .udp(1000, 53)
            .write(&mut out, &payload)
            .unwrap();
        out
    }

    /// Cut `frame` at `mtu`, then read every fragment back with etherparse and with
    /// [`piece`], and glue the data again.
    fn cut_and_glue(frame: &[u8], mtu: usize) -> (usize, Vec<u8>) {
        let info = parse_frame(frame).unwrap();
        let cut = Cut::new(frame, &info, mtu, 0x1234).unwrap();
        let mut whole = vec![0u8; 70_000];
        let mut total = 0;
        for k in 0..cut.count() {
            let mut b = HeapBuf::new();
            cut.write(frame, k, &mut b).unwrap();
            let f = b.data();
            assert!(f.len() - 14 <= mtu, "fragment {k} fits");
            let sliced = etherparse::SlicedPacket::from_ethernet(f).unwrap();
            match sliced.net.unwrap() {
                etherparse::NetSlice::Ipv4(v4) => {
                    let h = v4.header().to_header();
                    assert_eq!(h.header_checksum, h.calc_header_checksum());
                    assert_eq!(h.identification, 0x1234);
                    assert_eq!(h.more_fragments, k + 1 < cut.count());
                }
                etherparse::NetSlice::Ipv6(v6) => {
                    let fh = v6.extensions().first_header();
                    assert_eq!(fh, Some(IpNumber::IPV6_FRAGMENTATION_HEADER));
                }
            }
            let info = parse_frame(f).unwrap();
            let p = piece(f, &info).unwrap();
            assert_eq!(p.key.id, 0x1234);
            assert_eq!(p.more, k + 1 < cut.count());
            whole[p.offset..p.offset + p.data.len()].copy_from_slice(&f[p.data.clone()]);
            total = total.max(p.offset + p.data.len());
        }
        whole.truncate(total);
        (cut.count(), whole)
    }

    #[test]
    fn a_4000_byte_datagram_cut_at_1500_glues_back() {
        let frame = udp_v4(4000 - 28);
        let (n, whole) = cut_and_glue(&frame, 1500);
        assert_eq!(n, 3);
        assert_eq!(whole, frame[34..]);
        let frame = udp_v6(4000 - 48);
        let (n, whole) = cut_and_glue(&frame, 1280);
        assert_eq!(n, 4);
        assert_eq!(whole, frame[54..]);
    }

    #[test]
    fn a_fragment_replaces_what_its_buffer_held() {
        let frame = udp_v4(3000);
        let info = parse_frame(&frame).unwrap();
        let cut = Cut::new(&frame, &info, 1500, 1).unwrap();
        let mut b = HeapBuf::from_frame(&[7; 5000]).unwrap();
        cut.write(&frame, 1, &mut b).unwrap();
        let mut fresh = HeapBuf::new();
        cut.write(&frame, 1, &mut fresh).unwrap();
        assert_eq!(b.data(), fresh.data());
    }

    #[test]
    fn only_copied_options_go_to_later_fragments() {
        // A security-like option (copied, type 0x82, 4 bytes) and a timestamp (not
        // copied, 0x44, 8 bytes): the later fragments carry 4 bytes of options.
        let opts = [0x82, 4, 1, 2, 0x44, 8, 5, 0, 0, 0, 0, 0];
        let mut out = [0u8; 40];
        assert_eq!(copied_options(&opts, &mut out), 4);
        assert_eq!(out[..4], [0x82, 4, 1, 2]);
        assert_eq!(
            copied_options(&[1, 1, 0x44, 8, 5, 0, 0, 0, 0, 0], &mut out),
            0
        );
    }

    #[test]
    fn malformed_fragments_are_refused() {
        // A middle fragment of 13 bytes, and one ending past 65,535.
        let h = |off: u16, more: bool, len: usize| {
            let mut h =
                Ipv4Header::new(len as u16, 64, IpNumber::UDP, [1, 1, 1, 1], [2, 2, 2, 2]).unwrap();
            h.more_fragments = more;
            h.fragment_offset = IpFragOffset::try_new(off).unwrap();
            let mut out = Vec::new();
            PacketBuilder::ethernet2(MACS.0, MACS.1)
                .ip(etherparse::IpHeaders::Ipv4(h, Default::default()))
                .write(&mut out, IpNumber::UDP, &vec![0; len])
                .unwrap();
            out
        };
        let f = h(10, true, 13);
        assert_eq!(
            piece(&f, &parse_frame(&f).unwrap()),
            Err(DropReason::Malformed)
        );
        let f = h(8189, false, 100);
        assert_eq!(
            piece(&f, &parse_frame(&f).unwrap()),
            Err(DropReason::Malformed)
        );
        let f = h(8188, false, 8);
        assert!(piece(&f, &parse_frame(&f).unwrap()).is_ok());
        // IPv6: the fragment header's fields are read.
        let mut out = Vec::new();
        let v6 = Ipv6Header {
            next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
            payload_length: 8 + 16,
            hop_limit: 9,
            source: [1; 16],
            destination: [2; 16],
            ..Default::default()
        };
        v6.write(&mut out).unwrap();
        // By hand, as RFC 8200 lays it out: etherparse 0.16 writes and reads the offset's
        // low bits and the M flag at the wrong places of the fragment header.
        out.extend([17, 0, 0, (3 << 3) | 1, 0, 0, 0, 77]);
        out.extend([0; 16]);
        let mut f = vec![0; 12];
        f.extend([0x86, 0xdd]);
        f.extend(out);
        let p = piece(&f, &parse_frame(&f).unwrap()).unwrap();
        assert_eq!((p.offset, p.more, p.key.id), (24, true, 77));
        assert_eq!((p.header.end, p.v6_next), (54, Some((20, 17))));
    }
}
