//! Connections of content-switching services whose first bytes have not decided yet:
//! a bounded, per-worker table preallocated at start. Each holds the client's segments
//! as they came (at most [`FRAMES`], the cookie ACK among them), so its memory is
//! bounded by [`FRAMES`] packet buffers; the stream they carry is put together
//! ([`assemble`]) and read up to [`LIMIT`] bytes. A connection that does not decide by
//! its deadline is swept ([`WaitingTable::sweep`]).

use hashbrown::HashMap;

use rvs_config::PortId;
use rvs_conntrack::ConnKey;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite::tcp_edit::Segment;
use rvs_packet::wire::parse_frame;

use crate::synproxy::CookieAck;

/// The most client segments held for one waiting connection.
pub const FRAMES: usize = 4;
/// The most bytes of a connection's stream read to decide.
pub const LIMIT: usize = 4096;
/// The most connections one worker holds waiting.
pub const MAX_SLOTS: usize = 256;

/// Waiting connections of a worker of `conn_capacity` connections: as many, at least
/// one, at most [`MAX_SLOTS`]. With [`FRAMES`], what the packet-buffer pool counts.
pub fn slots(conn_capacity: usize) -> usize {
    conn_capacity.clamp(1, MAX_SLOTS)
}

/// One waiting connection.
#[derive(Debug)]
pub struct Waiting<B> {
    /// Its client -> VIP tuple.
    pub key: ConnKey,
    /// The port its segments came in by.
    pub port: PortId,
    /// What its cookie ACK carried (the SYN toward the real is made from it).
    pub ack: CookieAck,
    /// When it is reset if still undecided.
    pub deadline_ms: u64,
    /// Its segments in the order they came; the first is the cookie ACK.
    pub frames: [Option<B>; FRAMES],
}

impl<B: PacketBuf> Waiting<B> {
    /// A connection waiting from its cookie ACK `first`.
    pub fn new(key: ConnKey, port: PortId, ack: CookieAck, deadline_ms: u64, first: B) -> Self {
        let mut frames: [Option<B>; FRAMES] = Default::default();
        frames[0] = Some(first);
        Self {
            key,
            port,
            ack,
            deadline_ms,
            frames,
        }
    }

    /// Hold `buf` when it brings stream bytes past the `held` bytes put together so far
    /// and within [`LIMIT`]; gives it back otherwise (`Ok`: a retransmission or bytes
    /// past the bound, worth nothing; `Err`: every place is taken).
    pub fn hold(&mut self, buf: B, held: usize) -> Result<(), Result<B, B>> {
        let Some((start, end)) = stream_range(&buf, self.ack.client_isn) else {
            return Err(Ok(buf));
        };
        if end <= held || start >= LIMIT {
            return Err(Ok(buf));
        }
        match self.frames.iter_mut().find(|f| f.is_none()) {
            Some(place) => {
                *place = Some(buf);
                Ok(())
            }
            None => Err(Err(buf)),
        }
    }

    /// True when every place is taken.
    pub fn full(&self) -> bool {
        self.frames.iter().all(Option::is_some)
    }

    /// True when one of its segments carries a FIN (the client sent all it will).
    pub fn finished(&self) -> bool {
        self.frames.iter().flatten().any(|b| {
            parse_frame(b.data())
                .ok()
                .and_then(|i| Segment::of(b.data(), &i).ok().map(|s| s.flags(b.data())))
                .is_some_and(|f| f & rvs_packet::rewrite::tcp_edit::FIN != 0)
        })
    }
}

/// The range of stream offsets (0: the byte after the client's ISN) a segment's payload
/// covers, when it is a TCP segment.
fn stream_range<B: PacketBuf>(buf: &B, isn: u32) -> Option<(usize, usize)> {
    let f = buf.data();
    let info = parse_frame(f).ok()?;
    let seg = Segment::of(f, &info).ok()?;
    let start = seg.seq(f).wrapping_sub(isn.wrapping_add(1)) as usize;
    // A sequence number before the ISN wraps to an offset far past the bound.
    Some((start, start.saturating_add(seg.payload_len())))
}

/// Put together, in `out`, the stream bytes `frames` hold from offset 0 on (ISN `isn`),
/// as far as they follow each other without a gap and `out` has room; returns how many.
pub fn assemble<B: PacketBuf>(frames: &[Option<B>], isn: u32, out: &mut [u8]) -> usize {
    let mut filled = 0;
    loop {
        let before = filled;
        for b in frames.iter().flatten() {
            let Some((start, end)) = stream_range(b, isn) else {
                continue;
            };
            if start > filled || end <= filled {
                continue;
            }
            let f = b.data();
            let Ok(info) = parse_frame(f) else { continue };
            let Ok(seg) = Segment::of(f, &info) else {
                continue;
            };
            let payload = &f[seg.l4 + seg.header_len..seg.end];
            let upto = end.min(out.len());
            out[filled..upto].copy_from_slice(&payload[filled - start..upto - start]);
            filled = upto;
        }
        if filled == before || filled == out.len() {
            return filled;
        }
    }
}

/// The table of waiting connections (see the module).
#[derive(Debug)]
pub struct WaitingTable<B> {
    slots: Vec<Option<Waiting<B>>>,
    index: HashMap<ConnKey, usize>,
    free: Vec<usize>,
    /// Next slot [`WaitingTable::sweep`] looks at.
    cursor: usize,
}

impl<B> WaitingTable<B> {
    /// A table of [`slots`] slots for a worker of `conn_capacity` connections.
    pub fn new(conn_capacity: usize) -> Self {
        let n = slots(conn_capacity);
        Self {
            slots: (0..n).map(|_| None).collect(),
            index: HashMap::with_capacity(n),
            free: (0..n).rev().collect(),
            cursor: 0,
        }
    }

    /// The slot of the connection `key` names.
    #[inline]
    pub fn find(&self, key: &ConnKey) -> Option<usize> {
        if self.free.len() == self.slots.len() {
            return None;
        }
        self.index.get(key).copied()
    }

    /// The connection in slot `i`.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Waiting<B>> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Add a connection; gives it back when every slot is taken.
    pub fn insert(&mut self, w: Waiting<B>) -> Result<usize, Waiting<B>> {
        let Some(i) = self.free.pop() else {
            return Err(w);
        };
        self.index.insert(w.key, i);
        self.slots[i] = Some(w);
        Ok(i)
    }

    /// Take out the connection nearest its deadline (the one waiting longest, for
    /// services of one `l7_timeout`), when any waits.
    pub fn take_oldest(&mut self) -> Option<Waiting<B>> {
        let i = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.as_ref().map(|w| (w.deadline_ms, i)))
            .min()?
            .1;
        self.take(i)
    }

    /// Take the connection out of slot `i`.
    pub fn take(&mut self, i: usize) -> Option<Waiting<B>> {
        let w = self.slots.get_mut(i)?.take()?;
        self.index.remove(&w.key);
        self.free.push(i);
        Some(w)
    }

    /// Look at up to `budget` slots from where the last sweep stopped and take out the
    /// connections past their deadline at `now_ms`, each given to `expired`.
    pub fn sweep(&mut self, now_ms: u64, budget: usize, mut expired: impl FnMut(Waiting<B>)) {
        let n = self.slots.len();
        for _ in 0..budget.min(n) {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % n;
            if self.slots[i]
                .as_ref()
                .is_some_and(|w| w.deadline_ms <= now_ms)
            {
                if let Some(w) = self.take(i) {
                    expired(w);
                }
            }
        }
    }

    /// Connections waiting now.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
