//! Client segments held while a SYN-proxied connection waits for the real's SYN-ACK
//! (the payload of the cookie ACK, data sent right after it), sent on once the real's
//! handshake is done instead of being left to the client's retransmission timer.
//!
//! A bounded, per-worker table preallocated at start: slot `id % capacity` and the
//! next `WAYS` - 1 slots may hold a connection's segments, at most [`PER_CONN`] of
//! them. An entry names its connection by id and cookie ISN, so a slot whose
//! connection is gone (expired, reset, its id taken by another) is recognised and
//! freed ([`HeldSegments::sweep`], or when its slot is wanted).

use rvs_conntrack::ConnId;

/// The most segments held for one connection, unless it asks for more.
pub const PER_CONN: usize = 2;
/// Slots probed for one connection: the most segments one may ask to hold.
pub const WAYS: usize = 4;
/// The largest table (slots per worker).
pub const MAX_SLOTS: usize = 1024;

/// Slots (so segments, at most) of the table of a worker of `conn_capacity`
/// connections: as many, at least `WAYS`, at most [`MAX_SLOTS`]. The packet-buffer pool
/// counts them.
pub fn slots(conn_capacity: usize) -> usize {
    conn_capacity.clamp(WAYS, MAX_SLOTS)
}

/// One held segment: the frame as the client sent it.
#[derive(Debug)]
struct Held<B> {
    id: ConnId,
    cookie: u32,
    /// Order of arrival (wrapping; compared within one connection only).
    stamp: u32,
    buf: B,
}

/// The table of held segments (see the module).
#[derive(Debug)]
pub struct HeldSegments<B> {
    slots: Vec<Option<Held<B>>>,
    stamp: u32,
    /// Next slot [`HeldSegments::sweep`] looks at.
    cursor: usize,
}

impl<B> HeldSegments<B> {
    /// A table for a worker of `conn_capacity` connections, of [`slots`] slots.
    pub fn new(conn_capacity: usize) -> Self {
        let n = slots(conn_capacity);
        Self {
            slots: (0..n).map(|_| None).collect(),
            stamp: 0,
            cursor: 0,
        }
    }

    /// The slots connection `id` may use.
    fn ways(&self, id: ConnId) -> impl Iterator<Item = usize> {
        let n = self.slots.len();
        let first = id.0 as usize % n;
        (0..WAYS).map(move |i| (first + i) % n)
    }

    /// Hold `buf` for connection `id` (waiting, its cookie ISN `cookie`). `live` tells
    /// whether a held entry's connection still waits with that cookie; dead entries met
    /// on the way are freed and counted by `dropped`. Gives `buf` back when the
    /// connection already has `most` segments held (at most [`WAYS`]) or no slot is free.
    #[allow(clippy::too_many_arguments)]
    pub fn hold(
        &mut self,
        id: ConnId,
        cookie: u32,
        most: usize,
        buf: B,
        live: impl Fn(ConnId, u32) -> bool,
        mut dropped: impl FnMut(B),
    ) -> Result<(), B> {
        let mut free = None;
        let mut mine = 0;
        for i in self.ways(id) {
            match &self.slots[i] {
                Some(h) if h.id == id && h.cookie == cookie => mine += 1,
                Some(h) if live(h.id, h.cookie) => {}
                Some(_) => {
                    if let Some(h) = self.slots[i].take() {
                        dropped(h.buf);
                    }
                    free = free.or(Some(i));
                }
                None => free = free.or(Some(i)),
            }
        }
        match free {
            Some(i) if mine < most => {
                self.stamp = self.stamp.wrapping_add(1);
                self.slots[i] = Some(Held {
                    id,
                    cookie,
                    stamp: self.stamp,
                    buf,
                });
                Ok(())
            }
            _ => Err(buf),
        }
    }

    /// Take the segments held for connection `id` with cookie ISN `cookie`, in the
    /// order they came, each given to `send`.
    pub fn release(&mut self, id: ConnId, cookie: u32, mut send: impl FnMut(B)) {
        let mut found = [(0u32, 0usize); WAYS];
        let mut n = 0;
        for i in self.ways(id) {
            if let Some(h) = &self.slots[i] {
                if h.id == id && h.cookie == cookie {
                    // Age (wrapping): the oldest first.
                    found[n] = (u32::MAX - self.stamp.wrapping_sub(h.stamp), i);
                    n += 1;
                }
            }
        }
        found[..n].sort_unstable();
        for &(_, i) in &found[..n] {
            if let Some(h) = self.slots[i].take() {
                send(h.buf);
            }
        }
    }

    /// Look at up to `budget` slots from where the last sweep stopped and free (through
    /// `dropped`) the entries whose connection no longer waits with their cookie.
    pub fn sweep(
        &mut self,
        budget: usize,
        live: impl Fn(ConnId, u32) -> bool,
        mut dropped: impl FnMut(B),
    ) {
        let n = self.slots.len();
        for _ in 0..budget.min(n) {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % n;
            if let Some(h) = &self.slots[i] {
                if !live(h.id, h.cookie) {
                    if let Some(h) = self.slots[i].take() {
                        dropped(h.buf);
                    }
                }
            }
        }
    }

    /// Segments held now.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_per_connection_in_order_and_releases_only_its_own() {
        let mut t = HeldSegments::new(16);
        let live = |_, _| true;
        assert!(t.hold(ConnId(3), 7, PER_CONN, "a", live, |_| ()).is_ok());
        assert!(t.hold(ConnId(19), 9, PER_CONN, "x", live, |_| ()).is_ok());
        assert!(t.hold(ConnId(3), 7, PER_CONN, "b", live, |_| ()).is_ok());
        assert_eq!(t.hold(ConnId(3), 7, PER_CONN, "c", live, |_| ()), Err("c"));
        let mut out = Vec::new();
        t.release(ConnId(3), 8, |b| out.push(b));
        assert!(out.is_empty(), "another cookie: another connection");
        t.release(ConnId(3), 7, |b| out.push(b));
        assert_eq!(out, ["a", "b"]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn dead_entries_are_freed_when_met_or_swept() {
        let mut t = HeldSegments::new(4);
        for id in 0..4 {
            assert!(t
                .hold(ConnId(id), 1, PER_CONN, id, |_, _| true, |_| ())
                .is_ok());
        }
        assert_eq!(
            t.hold(ConnId(0), 2, PER_CONN, 9, |_, _| true, |_| ()),
            Err(9),
            "full"
        );
        let mut dropped = Vec::new();
        let dead_one = |id: ConnId, _| id != ConnId(1);
        assert!(t
            .hold(ConnId(0), 2, PER_CONN, 9, dead_one, |b| dropped.push(b))
            .is_ok());
        assert_eq!(dropped, [1]);
        t.sweep(2, |id, c| id != ConnId(0) || c == 2, |b| dropped.push(b));
        assert_eq!(dropped, [1, 0]);
        assert_eq!(t.len(), 3);
    }
}
