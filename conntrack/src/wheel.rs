//! A hashed timer wheel over slab slots, driven by the caller's millisecond clock.
//!
//! Time is cut into ticks of [`TICK_MS`]; the wheel has [`SLOTS`] slots, slot
//! `tick % SLOTS`, each an intrusive doubly-linked list threaded through a per-entry
//! link array (two `u32` per entry, preallocated). An entry is filed under the tick of
//! its expiry time.
//!
//! Expiry is lazy. Pushing an entry's expiry later (the common case: a packet refreshes
//! a connection) does not touch the wheel; when the entry's slot comes up, the wheel
//! re-reads the expiry and re-files the entry further on. Pulling an expiry earlier
//! (a state change to a shorter timeout) re-files the entry at once, so the slot an
//! entry sits in is never later than its expiry.
//!
//! [`Wheel::collect_due`] only processes ticks that are entirely in the past: a tick `t`
//! is processed once `now >= (t + 1) * TICK_MS - 1`, and an entry is due when its expiry
//! is before `(t + 1) * TICK_MS`. So an entry never expires before its time, and at most
//! one tick (minus a millisecond) after it, plus however late the caller calls. Entries
//! that are due move to a due list that the caller drains with [`Wheel::pop_due`].
//! The work is O(slots advanced + entries due or re-filed); a clock jump longer than the
//! wheel visits each slot once.

/// Wheel granularity in milliseconds.
pub const TICK_MS: u64 = 100;

/// Number of wheel slots (span: `SLOTS * TICK_MS` = 1638.4 s, longer than the default
/// timeouts, so a connection is normally visited once per timeout period).
pub const SLOTS: usize = 16384;

/// No entry / not linked.
const NIL: u32 = u32::MAX;
/// Marks `prev` of a list's first entry; the low bits name the list.
const HEAD: u32 = 1 << 31;
/// The list number of the due list (after the wheel slots).
const DUE: usize = SLOTS;

#[derive(Clone, Copy, Debug)]
struct Link {
    /// Previous entry, or `HEAD | list` for a list's first entry, or `NIL` if unlinked.
    prev: u32,
    /// Next entry or `NIL`.
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

/// Timer wheel for entries `0..entries`.
#[derive(Debug)]
pub(crate) struct Wheel {
    /// First entry of each slot, then of the due list.
    heads: Box<[u32]>,
    links: Box<[Link]>,
    /// First tick not yet processed.
    cursor: u64,
}

impl Wheel {
    /// A wheel for `entries` entries (indices below `2^31`).
    pub(crate) fn new(entries: usize) -> Self {
        assert!(entries < HEAD as usize, "too many timer entries");
        Self {
            heads: vec![NIL; SLOTS + 1].into_boxed_slice(),
            links: vec![UNLINKED; entries].into_boxed_slice(),
            cursor: 0,
        }
    }

    /// Memory held by the slot heads and links, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.heads) + std::mem::size_of_val(&*self.links)
    }

    /// Memory per entry, in bytes.
    pub(crate) const fn bytes_per_entry() -> usize {
        std::mem::size_of::<Link>()
    }

    fn push(&mut self, list: usize, i: u32) {
        let first = self.heads[list];
        self.links[i as usize] = Link {
            prev: HEAD | list as u32,
            next: first,
        };
        if first != NIL {
            self.links[first as usize].prev = i;
        }
        self.heads[list] = i;
    }

    /// Files unlinked entry `i` to expire at `expires_ms`.
    pub(crate) fn schedule(&mut self, i: u32, expires_ms: u64) {
        debug_assert!(!self.is_linked(i));
        let tick = (expires_ms / TICK_MS).max(self.cursor);
        self.push((tick % SLOTS as u64) as usize, i);
    }

    /// Whether entry `i` is in a slot or on the due list.
    pub(crate) fn is_linked(&self, i: u32) -> bool {
        self.links[i as usize].prev != NIL
    }

    /// Takes entry `i` out of its slot or the due list; no-op when unlinked.
    pub(crate) fn unlink(&mut self, i: u32) {
        let Link { prev, next } = self.links[i as usize];
        if prev == NIL {
            return;
        }
        if prev & HEAD != 0 {
            self.heads[(prev & !HEAD) as usize] = next;
        } else {
            self.links[prev as usize].next = next;
        }
        if next != NIL {
            self.links[next as usize].prev = prev;
        }
        self.links[i as usize] = UNLINKED;
    }

    /// Re-files linked entry `i` whose expiry moved from `old_ms` to `new_ms`: at once
    /// when earlier, lazily (when its slot comes up) when later.
    pub(crate) fn update(&mut self, i: u32, old_ms: u64, new_ms: u64) {
        if new_ms < old_ms && self.is_linked(i) {
            self.unlink(i);
            self.schedule(i, new_ms);
        }
    }

    /// Processes every tick entirely before `now_ms`: entries whose expiry (read through
    /// `expires_of`) has passed move to the due list, the others are re-filed under
    /// their current expiry.
    pub(crate) fn collect_due(&mut self, now_ms: u64, expires_of: impl Fn(u32) -> u64) {
        let end = now_ms.saturating_add(1) / TICK_MS;
        if end <= self.cursor {
            return;
        }
        let limit_ms = end * TICK_MS;
        let ticks = (end - self.cursor).min(SLOTS as u64);
        for k in 0..ticks {
            let slot = ((self.cursor + k) % SLOTS as u64) as usize;
            let mut i = std::mem::replace(&mut self.heads[slot], NIL);
            while i != NIL {
                let next = self.links[i as usize].next;
                let expires = expires_of(i);
                if expires < limit_ms {
                    self.push(DUE, i);
                } else {
                    let tick = expires / TICK_MS; // >= end
                    self.push((tick % SLOTS as u64) as usize, i);
                }
                i = next;
            }
        }
        self.cursor = end;
    }

    /// Takes one entry off the due list.
    pub(crate) fn pop_due(&mut self) -> Option<u32> {
        let i = self.heads[DUE];
        if i == NIL {
            return None;
        }
        self.unlink(i);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(w: &mut Wheel, now: u64, exp: &[u64]) -> Vec<u32> {
        w.collect_due(now, |i| exp[i as usize]);
        let mut v = Vec::new();
        while let Some(i) = w.pop_due() {
            v.push(i);
        }
        v.sort_unstable();
        v
    }

    #[test]
    fn never_early_at_most_one_tick_late() {
        let exp = [1_000u64, 1_050, 1_099, 1_100, 5_000];
        let mut w = Wheel::new(exp.len());
        for (i, e) in exp.iter().enumerate() {
            w.schedule(i as u32, *e);
        }
        assert!(drain(&mut w, 999, &exp).is_empty());
        // Tick 10 = [1000, 1100) completes at 1099.
        assert!(drain(&mut w, 1_098, &exp).is_empty());
        assert_eq!(drain(&mut w, 1_099, &exp), vec![0, 1, 2]);
        assert!(drain(&mut w, 1_198, &exp).is_empty());
        assert_eq!(drain(&mut w, 1_199, &exp), vec![3]);
        assert_eq!(drain(&mut w, 100_000, &exp), vec![4]);
    }

    #[test]
    fn later_expiry_is_rechecked_not_expired() {
        let mut exp = [1_000u64];
        let mut w = Wheel::new(1);
        w.schedule(0, exp[0]);
        exp[0] = 3_000; // refreshed lazily
        assert!(drain(&mut w, 2_000, &exp).is_empty());
        assert!(w.is_linked(0));
        assert!(drain(&mut w, 2_999, &exp).is_empty());
        assert_eq!(drain(&mut w, 3_099, &exp), vec![0]);
    }

    #[test]
    fn earlier_expiry_is_refiled_at_once() {
        let mut exp = [900_000u64];
        let mut w = Wheel::new(1);
        w.schedule(0, exp[0]);
        w.update(0, exp[0], 10_000);
        exp[0] = 10_000;
        assert_eq!(drain(&mut w, 10_099, &exp), vec![0]);
    }

    #[test]
    fn entries_beyond_the_span_wait_their_round() {
        let span = SLOTS as u64 * TICK_MS;
        let exp = [span + 500, 500];
        let mut w = Wheel::new(2);
        w.schedule(0, exp[0]);
        w.schedule(1, exp[1]);
        assert_eq!(drain(&mut w, 599, &exp), vec![1]);
        assert!(drain(&mut w, span, &exp).is_empty());
        assert_eq!(drain(&mut w, span + 599, &exp), vec![0]);
    }

    #[test]
    fn clock_jump_visits_each_slot_once() {
        let exp: Vec<u64> = (0..1000u64).map(|i| i * 37_000).collect();
        let mut w = Wheel::new(exp.len());
        for (i, e) in exp.iter().enumerate() {
            w.schedule(i as u32, *e);
        }
        assert_eq!(drain(&mut w, u64::MAX / 2, &exp).len(), 1000);
    }

    #[test]
    fn unlink_from_middle_head_and_due() {
        let exp = [100u64, 100, 100];
        let mut w = Wheel::new(3);
        for i in 0..3 {
            w.schedule(i, exp[i as usize]);
        }
        w.unlink(1);
        w.unlink(2); // head (pushed last)
        assert!(!w.is_linked(1));
        w.unlink(1); // no-op
        w.collect_due(199, |i| exp[i as usize]);
        assert!(w.is_linked(0));
        w.unlink(0); // on the due list
        assert_eq!(w.pop_due(), None);
    }

    #[test]
    fn scheduling_in_the_processed_past_lands_on_the_next_tick() {
        let mut w = Wheel::new(1);
        w.collect_due(10_000, |_| 0);
        w.schedule(0, 5);
        assert_eq!(drain(&mut w, 10_099, &[5]), vec![0]);
    }
}
