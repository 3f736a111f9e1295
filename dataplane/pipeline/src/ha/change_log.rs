//! Connections a master's worker changed since its last tick, for connection sync to
//! send: a fixed ring of connection slots, written on the forwarding path (a store and
//! an increment, no allocation), read at the tick. A slot stands for whatever
//! connection holds it when the tick reads it: one that is gone by then is skipped,
//! one that took its place is sent (it is live, so that is never wrong).

use rvs_conntrack::ConnId;

/// Changes one worker keeps between two ticks: at a millisecond tick, 8 million a
/// second.
pub const CHANGES: usize = 8192;

/// Marks a slot whose connection is new (its template, if any, goes first).
const NEW: u32 = 1 << 31;

/// A change to send: the connection's slot, and whether it was just made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The connection's slot.
    pub id: ConnId,
    /// It was made by this change (a new connection, not a new state).
    pub new: bool,
}

/// The ring of changes (see the module's documentation).
#[derive(Debug)]
pub struct ChangeLog {
    slots: Box<[u32]>,
    /// Where the oldest change is.
    head: usize,
    len: usize,
    /// Changes that found the ring full, since the last [`take_lost`](Self::take_lost).
    lost: u64,
}

impl Default for ChangeLog {
    fn default() -> Self {
        Self::with_capacity(CHANGES)
    }
}

impl ChangeLog {
    /// A ring of `capacity` changes (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: vec![0; capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            lost: 0,
        }
    }

    /// Note that connection `id` changed (`new`: it was made). A connection noted
    /// right after itself is kept once (new if either was); a full ring counts the
    /// change lost (the connection then goes with the next refresh).
    #[inline]
    pub fn note(&mut self, id: ConnId, new: bool) {
        let word = id.0 | if new { NEW } else { 0 };
        let cap = self.slots.len();
        if self.len > 0 {
            let last = &mut self.slots[(self.head + self.len - 1) % cap];
            if *last & !NEW == id.0 {
                *last |= word;
                return;
            }
        }
        if self.len == cap {
            self.lost += 1;
            return;
        }
        self.slots[(self.head + self.len) % cap] = word;
        self.len += 1;
    }

    /// The oldest change, left in the ring (see [`pop`](Self::pop)).
    pub fn peek(&self) -> Option<Change> {
        (self.len > 0).then(|| {
            let word = self.slots[self.head];
            Change {
                id: ConnId(word & !NEW),
                new: word & NEW != 0,
            }
        })
    }

    /// Drops the oldest change.
    pub fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % self.slots.len();
            self.len -= 1;
        }
    }

    /// Changes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no change waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every change (a role change: none of them is to be sent).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Changes lost to a full ring since the last call.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_come_out_in_order_once_and_a_full_ring_counts_the_rest() {
        let mut log = ChangeLog::with_capacity(3);
        log.note(ConnId(7), true);
        log.note(ConnId(7), false);
        log.note(ConnId(9), false);
        log.note(ConnId(9), true);
        log.note(ConnId(7), false);
        log.note(ConnId(10), false);
        assert_eq!(log.len(), 3);
        assert_eq!(log.take_lost(), 1);
        assert_eq!(log.take_lost(), 0);
        let mut out = Vec::new();
        while let Some(c) = log.peek() {
            out.push((c.id.0, c.new));
            log.pop();
        }
        assert_eq!(out, [(7, true), (9, true), (7, false)]);
        log.note(ConnId(1), false);
        log.clear();
        assert!(log.is_empty() && log.peek().is_none());
    }
}
