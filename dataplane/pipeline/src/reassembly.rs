//! One worker's IP fragment reassembly, in memory allocated once when the worker is made.
//!
//! A datagram in progress takes a slot (at most `frag_datagrams`); its data goes into
//! blocks of [`BLOCK`] bytes taken from the worker's pool (`frag_memory` bytes of them),
//! one block per [`BLOCK`] of the datagram's payload that some fragment reached, so a
//! datagram holds no more memory than its fragments cover (rounded up to blocks).
//! Fragments are filed by RFC 791's key (source, destination, protocol, identification;
//! the same with RFC 8200's 32-bit identification for IPv6).
//!
//! Refusals, each a [`DropReason`] counted for every fragment it drops:
//! - an exact duplicate of a fragment held is dropped, the datagram kept (RFC 8200 4.5);
//! - a fragment overlapping another, or disagreeing with the datagram's length, discards
//!   the whole datagram (RFC 5722 for IPv6; rvs treats IPv4 the same, as Linux has
//!   since 4.19), and so does one more fragment than `frag_fragments`;
//! - with every slot or block in use, the oldest datagram in progress is given up for
//!   the newer one (as Linux's reassembly evicts its oldest queues over its threshold),
//!   so a flood of fragments that never complete cannot keep others out for long;
//! - a datagram not whole within `frag_timeout` of its first fragment is given up.
//!
//! A whole datagram is copied once more into a contiguous buffer ([`Reassembly::take_whole`])
//! with its headers made those of an unfragmented packet ([`fragment::finish_header`]).

use hashbrown::HashMap;

use rvs_config::{FragLimits, PortId};
use rvs_packet::drop::DropReason;
use rvs_packet::fragment::{self, FragKey, Piece, MAX_PAYLOAD};

/// Bytes of one block of reassembly memory.
pub const BLOCK: usize = 1024;

/// Blocks a datagram's payload can span.
const BLOCKS_PER_DATAGRAM: usize = MAX_PAYLOAD.div_ceil(BLOCK);

/// Most bytes of headers kept from a first fragment (Ethernet with a VLAN tag, and an
/// IPv4 header with options or IPv6's with its extension headers before the fragment
/// header); a first fragment with more is refused as malformed.
pub const MAX_HEADER: usize = 320;

/// No block, no slot.
const NONE: u32 = u32::MAX;

/// Bytes of the buffer a whole datagram is put together in.
pub const WHOLE_LEN: usize = MAX_HEADER + MAX_PAYLOAD;

/// What became of a fragment given to [`Reassembly::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Held until the rest of its datagram arrives.
    Held,
    /// Its datagram is whole: [`Reassembly::take_whole`] puts it together.
    Whole(Whole),
    /// Refused for `reason`, with `fragments` fragments dropped (this one and those of
    /// its datagram given up with it).
    Refused {
        /// Why.
        reason: DropReason,
        /// Fragments dropped, this one included.
        fragments: u64,
    },
}

/// A datagram whose fragments have all arrived, still in the slot's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whole {
    slot: u32,
    /// The port its first fragment came in by.
    pub in_port: PortId,
    /// The largest fragment's IP length (Linux's `frag_max_size`).
    pub max_ip_len: usize,
    /// An IPv4 fragment of it had DF set.
    pub dont_frag: bool,
    /// Fragments it was made of.
    pub fragments: usize,
}

/// A datagram in progress.
#[derive(Debug)]
struct Slot {
    key: FragKey,
    live: bool,
    created_ms: u64,
    /// Older and newer slots in creation order.
    prev: u32,
    next: u32,
    /// The data held, as sorted disjoint `[start, end)` runs, one per fragment.
    runs: Vec<(u32, u32)>,
    received: usize,
    /// The payload length, once the last fragment came.
    total: Option<usize>,
    blocks: [u32; BLOCKS_PER_DATAGRAM],
    /// The first fragment's headers, once it came.
    header: [u8; MAX_HEADER],
    header_len: usize,
    has_first: bool,
    l3: usize,
    /// IPv6: where the header names the fragment header, and what it names instead.
    v6_next: Option<(usize, u8)>,
    in_port: PortId,
    max_ip_len: usize,
    dont_frag: bool,
}

impl Slot {
    fn new(fragments: usize) -> Self {
        Self {
            key: FragKey {
                src: std::net::Ipv4Addr::UNSPECIFIED.into(),
                dst: std::net::Ipv4Addr::UNSPECIFIED.into(),
                id: 0,
                proto: 0,
            },
            live: false,
            created_ms: 0,
            prev: NONE,
            next: NONE,
            runs: Vec::with_capacity(fragments),
            received: 0,
            total: None,
            blocks: [NONE; BLOCKS_PER_DATAGRAM],
            header: [0; MAX_HEADER],
            header_len: 0,
            has_first: false,
            l3: 0,
            v6_next: None,
            in_port: PortId(0),
            max_ip_len: 0,
            dont_frag: false,
        }
    }
}

/// One worker's reassembly: slots, blocks and the buffer a whole datagram is put
/// together in, all allocated by [`Reassembly::new`].
#[derive(Debug)]
pub struct Reassembly {
    limits: FragLimits,
    index: HashMap<FragKey, u32>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    /// Oldest and newest live slots.
    oldest: u32,
    newest: u32,
    memory: Box<[u8]>,
    free_blocks: Vec<u32>,
    whole: Box<[u8]>,
    /// Fragments given up for newer datagrams, not yet counted.
    evicted: u64,
}

impl Reassembly {
    /// Reassembly within `limits` (nothing when `limits.memory` is 0: every fragment is
    /// then refused as [`DropReason::Fragment`]).
    pub fn new(limits: FragLimits) -> Self {
        let blocks = limits.memory / BLOCK;
        let datagrams = if blocks == 0 { 0 } else { limits.datagrams };
        Self {
            limits,
            // Twice the slots: a map never fuller than half rehashes in place.
            index: HashMap::with_capacity(2 * datagrams),
            slots: (0..datagrams)
                .map(|_| Slot::new(limits.fragments))
                .collect(),
            free_slots: (0..datagrams as u32).rev().collect(),
            oldest: NONE,
            newest: NONE,
            memory: vec![0; blocks * BLOCK].into_boxed_slice(),
            free_blocks: (0..blocks as u32).rev().collect(),
            whole: if blocks == 0 {
                Box::default()
            } else {
                vec![0; WHOLE_LEN].into_boxed_slice()
            },
            evicted: 0,
        }
    }

    /// True when reassembly is on.
    pub fn enabled(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Blocks of memory in use.
    pub fn blocks_used(&self) -> usize {
        self.memory.len() / BLOCK - self.free_blocks.len()
    }

    /// Fragments given up since the last call, for a newer datagram
    /// ([`DropReason::FragmentEvicted`]).
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    /// File the fragment `piece` of `frame`, received on `port` at `now_ms`. Datagrams
    /// it evicted are counted in [`take_evicted`](Self::take_evicted).
    pub fn add(&mut self, piece: &Piece, frame: &[u8], port: PortId, now_ms: u64) -> Added {
        if !self.enabled() {
            return refused(DropReason::Fragment, 1);
        }
        let slot = match self.index.get(&piece.key) {
            Some(&s) => s,
            None => {
                if self.free_slots.is_empty() {
                    self.evict_oldest(NONE);
                }
                let Some(s) = self.free_slots.pop() else {
                    return refused(DropReason::FragmentEvicted, 1);
                };
                self.open(s, piece.key, port, now_ms);
                s
            }
        };
        match self.add_to(slot, piece, frame) {
            Ok(true) => {
                let sl = &self.slots[slot as usize];
                Added::Whole(Whole {
                    slot,
                    in_port: sl.in_port,
                    max_ip_len: sl.max_ip_len,
                    dont_frag: sl.dont_frag,
                    fragments: sl.runs.len(),
                })
            }
            Ok(false) => Added::Held,
            Err(DropReason::FragmentDuplicate) => refused(DropReason::FragmentDuplicate, 1),
            Err(reason) => {
                let held = self.close(slot) as u64;
                refused(reason, held + 1)
            }
        }
    }

    /// Put the whole datagram `w` together, its headers those of an unfragmented packet,
    /// and free its slot. Returns the buffer it is in (give it back with
    /// [`give_back`](Self::give_back) once done) and its length.
    pub fn take_whole(&mut self, w: Whole) -> (Box<[u8]>, usize) {
        let mut out = std::mem::take(&mut self.whole);
        let sl = &self.slots[w.slot as usize];
        let total = sl.total.unwrap_or(0);
        let h = sl.header_len;
        out[..h].copy_from_slice(&sl.header[..h]);
        for (i, &b) in sl.blocks.iter().enumerate() {
            let start = i * BLOCK;
            if start >= total {
                break;
            }
            let n = BLOCK.min(total - start);
            let from = b as usize * BLOCK;
            out[h + start..h + start + n].copy_from_slice(&self.memory[from..from + n]);
        }
        fragment::finish_header(&mut out[..h], sl.l3, sl.v6_next, total);
        self.close(w.slot);
        (out, h + total)
    }

    /// Give back the buffer [`take_whole`](Self::take_whole) lent.
    pub fn give_back(&mut self, whole: Box<[u8]>) {
        self.whole = whole;
    }

    /// Give up the datagrams older than `frag_timeout` at `now_ms`, at most `max` of them;
    /// returns the fragments they held ([`DropReason::FragmentTimeout`]).
    pub fn expire(&mut self, now_ms: u64, max: usize) -> u64 {
        let timeout = u64::from(self.limits.timeout_s) * 1000;
        let mut dropped = 0;
        for _ in 0..max {
            let s = self.oldest;
            if s == NONE || self.slots[s as usize].created_ms + timeout > now_ms {
                break;
            }
            dropped += self.close(s) as u64;
        }
        dropped
    }

    /// Take slot `s` for the datagram `key`, newest in the creation order.
    fn open(&mut self, s: u32, key: FragKey, port: PortId, now_ms: u64) {
        let sl = &mut self.slots[s as usize];
        sl.key = key;
        sl.live = true;
        sl.created_ms = now_ms;
        sl.runs.clear();
        sl.received = 0;
        sl.total = None;
        sl.has_first = false;
        sl.header_len = 0;
        sl.v6_next = None;
        sl.in_port = port;
        sl.max_ip_len = 0;
        sl.dont_frag = false;
        sl.prev = self.newest;
        sl.next = NONE;
        if self.newest != NONE {
            self.slots[self.newest as usize].next = s;
        } else {
            self.oldest = s;
        }
        self.newest = s;
        self.index.insert(key, s);
    }

    /// Free slot `s` and its blocks; returns the fragments it held.
    fn close(&mut self, s: u32) -> usize {
        let sl = &mut self.slots[s as usize];
        if !sl.live {
            return 0;
        }
        sl.live = false;
        for b in sl.blocks.iter_mut().filter(|b| **b != NONE) {
            self.free_blocks.push(*b);
            *b = NONE;
        }
        let (prev, next, held) = (sl.prev, sl.next, sl.runs.len());
        self.index.remove(&sl.key);
        if prev != NONE {
            self.slots[prev as usize].next = next;
        } else {
            self.oldest = next;
        }
        if next != NONE {
            self.slots[next as usize].prev = prev;
        } else {
            self.newest = prev;
        }
        self.free_slots.push(s);
        held
    }

    /// Give up the oldest datagram other than `keep`; false when there is none.
    fn evict_oldest(&mut self, keep: u32) -> bool {
        let mut s = self.oldest;
        if s == keep && s != NONE {
            s = self.slots[s as usize].next;
        }
        if s == NONE {
            return false;
        }
        self.evicted += self.close(s) as u64;
        true
    }

    /// Add `piece` to the datagram in slot `s`: whether it is now whole, or why the
    /// piece (a duplicate) or the whole datagram (anything else) is refused.
    fn add_to(&mut self, s: u32, piece: &Piece, frame: &[u8]) -> Result<bool, DropReason> {
        let (start, end) = (piece.offset, piece.offset + piece.data.len());
        let sl = &self.slots[s as usize];
        // Where it goes among the runs, which must stay disjoint.
        let at = sl.runs.partition_point(|&(a, _)| (a as usize) < start);
        if let Some(&(a, b)) = sl.runs.get(at) {
            if (a as usize, b as usize) == (start, end) {
                return Err(DropReason::FragmentDuplicate);
            }
            if (a as usize) < end || (start == end && a as usize == start) {
                return Err(DropReason::FragmentOverlap);
            }
        }
        if at > 0 && sl.runs[at - 1].1 as usize > start {
            return Err(DropReason::FragmentOverlap);
        }
        // The last fragment fixes the length; nothing may lie past it.
        let last_end = sl.runs.last().map_or(0, |r| r.1 as usize);
        match (piece.more, sl.total) {
            (false, Some(t)) if t != end => return Err(DropReason::FragmentOverlap),
            (false, None) if last_end > end => return Err(DropReason::FragmentOverlap),
            (true, Some(t)) if end > t => return Err(DropReason::FragmentOverlap),
            _ => {}
        }
        if sl.runs.len() >= self.limits.fragments {
            return Err(DropReason::FragmentTooMany);
        }
        let first = piece.offset == 0;
        if first && piece.header.len() > MAX_HEADER {
            return Err(DropReason::Malformed);
        }
        // Blocks for the bytes it brings, older datagrams given up for them if need be.
        if end > start {
            for i in start / BLOCK..=(end - 1) / BLOCK {
                if self.slots[s as usize].blocks[i] != NONE {
                    continue;
                }
                while self.free_blocks.is_empty() {
                    if !self.evict_oldest(s) {
                        return Err(DropReason::FragmentEvicted);
                    }
                }
                let b = self.free_blocks.pop().unwrap_or(NONE);
                self.slots[s as usize].blocks[i] = b;
            }
        }
        let sl = &mut self.slots[s as usize];
        let mut from = piece.data.start;
        let mut pos = start;
        while pos < end {
            let (i, within) = (pos / BLOCK, pos % BLOCK);
            let n = (BLOCK - within).min(end - pos);
            let at_mem = sl.blocks[i] as usize * BLOCK + within;
            self.memory[at_mem..at_mem + n].copy_from_slice(&frame[from..from + n]);
            pos += n;
            from += n;
        }
        if first {
            let h = piece.header.len();
            sl.header[..h].copy_from_slice(&frame[piece.header.clone()]);
            sl.header_len = h;
            sl.has_first = true;
            sl.l3 = piece.l3;
            sl.v6_next = piece.v6_next;
        }
        if !piece.more {
            sl.total = Some(end);
        }
        sl.runs.insert(at, (start as u32, end as u32));
        sl.received += end - start;
        sl.max_ip_len = sl.max_ip_len.max(piece.ip_len);
        sl.dont_frag |= piece.dont_frag;
        Ok(sl.has_first && sl.total == Some(sl.received))
    }
}

/// A refusal of `fragments` fragments for `reason`.
fn refused(reason: DropReason, fragments: u64) -> Added {
    Added::Refused { reason, fragments }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    /// A frame of 34 bytes of headers (a plain IPv4 header at 14) and `len` bytes of data.
    fn frame(len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 34 + len];
        f[14] = 0x45;
        for (i, b) in f[34..].iter_mut().enumerate() {
            *b = i as u8;
        }
        f
    }

    fn piece(id: u32, offset: usize, len: usize, more: bool) -> Piece {
        Piece {
            key: FragKey {
                src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)),
                id,
                proto: 17,
            },
            offset,
            data: 34..34 + len,
            more,
            header: 0..34,
            l3: 14,
            v6_next: None,
            ip_len: 20 + len,
            dont_frag: false,
        }
    }

    fn limits(memory: usize, datagrams: usize, fragments: usize) -> FragLimits {
        FragLimits {
            memory,
            datagrams,
            fragments,
            timeout_s: 30,
        }
    }

    #[test]
    fn the_oldest_datagram_gives_way_and_the_others_complete() {
        let mut r = Reassembly::new(limits(64 * 1024, 2, 8));
        let f = frame(2000);
        let p = PortId(0);
        assert_eq!(r.add(&piece(1, 0, 1000, true), &f, p, 1), Added::Held);
        assert_eq!(r.add(&piece(2, 0, 1000, true), &f, p, 2), Added::Held);
        assert_eq!(r.add(&piece(3, 0, 1000, true), &f, p, 3), Added::Held);
        assert_eq!(r.take_evicted(), 1, "datagram 1, the oldest, gave way");
        assert_eq!(r.in_progress(), 2);
        let Added::Whole(w) = r.add(&piece(2, 1000, 500, false), &f, p, 4) else {
            panic!("datagram 2 is whole");
        };
        let (buf, len) = r.take_whole(w);
        assert_eq!(len, 34 + 1500);
        assert_eq!(&buf[34..34 + 1000], &f[34..1034]);
        assert_eq!(&buf[34 + 1000..len], &f[34..534]);
        assert_eq!(u16::from_be_bytes([buf[16], buf[17]]), 1520, "total length");
        r.give_back(buf);
        // Datagram 1 starts afresh: its first piece alone is not whole.
        assert_eq!(r.add(&piece(1, 1000, 500, false), &f, p, 5), Added::Held);
        assert_eq!(r.take_evicted(), 0, "the slot datagram 2 left");
        assert_eq!(r.in_progress(), 2);
    }

    #[test]
    fn memory_and_slots_stay_within_their_caps_and_expire_frees_everything() {
        let mut r = Reassembly::new(limits(8 * BLOCK, 4, 16));
        let f = frame(8000);
        let mut x: u32 = 12345;
        for i in 0..10_000u64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let id = x >> 28;
            let offset = ((x >> 8) % 7) as usize * 1024;
            let len = 8 * (1 + (x >> 16) as usize % 200);
            if let Added::Whole(w) = r.add(&piece(id, offset, len, x & 1 == 1), &f, PortId(0), i) {
                let (buf, _) = r.take_whole(w);
                r.give_back(buf);
            }
            assert!(r.in_progress() <= 4);
            assert!(r.blocks_used() <= 8);
        }
        r.expire(u64::MAX / 2, usize::MAX);
        assert_eq!((r.in_progress(), r.blocks_used()), (0, 0));
        assert!(r.index.is_empty());
    }

    #[test]
    fn off_refuses_every_fragment() {
        let mut r = Reassembly::new(limits(0, 4, 16));
        assert!(!r.enabled());
        let f = frame(100);
        assert_eq!(
            r.add(&piece(1, 0, 96, true), &f, PortId(0), 1),
            Added::Refused {
                reason: DropReason::Fragment,
                fragments: 1
            }
        );
    }
}
