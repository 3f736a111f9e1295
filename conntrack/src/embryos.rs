//! The embryonic connections (TCP that has not finished its handshake) in the order they
//! became embryonic: the eviction order of a full table (`table_full_evict`).
//!
//! An intrusive doubly-linked list threaded through a per-slot link array (two `u32` per
//! slot, preallocated), like the timer wheel's lists. A connection joins at the back when
//! it is made (TCP starts in NONE) or when it moves back into an embryonic state, and
//! leaves when its handshake completes, when it leaves the table, or when it is evicted
//! from the front. Every operation is O(1) and allocation-free, so the oldest embryonic
//! connection is always the one evicted: a client whose handshake completes before the
//! table has turned over once survives a flood of spoofed SYNs, wherever its slot is.

/// No entry (the end of the list).
const NIL: u32 = u32::MAX;
/// Marks a slot that is not in the list (`next` of an unlinked slot).
const OUT: u32 = u32::MAX - 1;

#[derive(Clone, Copy, Debug)]
struct Link {
    /// Previous slot (toward the front, older), or `NIL` for the front.
    prev: u32,
    /// Next slot (toward the back, younger), `NIL` for the back, `OUT` if unlinked.
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: OUT,
};

/// The embryonic slots of a table of `capacity` slots, oldest first.
#[derive(Debug)]
pub(crate) struct Embryos {
    links: Box<[Link]>,
    /// Oldest slot, or `NIL`.
    front: u32,
    /// Youngest slot, or `NIL`.
    back: u32,
}

impl Embryos {
    /// An empty list for slots `0..capacity` (below `2^31`).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            links: vec![UNLINKED; capacity].into_boxed_slice(),
            front: NIL,
            back: NIL,
        }
    }

    /// Memory per slot, in bytes.
    pub(crate) const fn bytes_per_entry() -> usize {
        std::mem::size_of::<Link>()
    }

    /// Memory held, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.links.len() * Self::bytes_per_entry()
    }

    /// Whether slot `i` is in the list.
    pub(crate) fn contains(&self, i: u32) -> bool {
        self.links[i as usize].next != OUT
    }

    /// Append slot `i` (the youngest); a slot already in the list stays where it is.
    pub(crate) fn push_back(&mut self, i: u32) {
        if self.contains(i) {
            return;
        }
        self.links[i as usize] = Link {
            prev: self.back,
            next: NIL,
        };
        match self.back {
            NIL => self.front = i,
            b => self.links[b as usize].next = i,
        }
        self.back = i;
    }

    /// Take slot `i` out of the list (nothing when it is not in it).
    pub(crate) fn unlink(&mut self, i: u32) {
        let Link { prev, next } = self.links[i as usize];
        if next == OUT {
            return;
        }
        match prev {
            NIL => self.front = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NIL => self.back = prev,
            n => self.links[n as usize].prev = prev,
        }
        self.links[i as usize] = UNLINKED;
    }

    /// The oldest slot in the list.
    pub(crate) fn front(&self) -> Option<u32> {
        (self.front != NIL).then_some(self.front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(e: &Embryos) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = e.front;
        while at != NIL {
            out.push(at);
            at = e.links[at as usize].next;
        }
        out
    }

    #[test]
    fn oldest_first_with_unlinks_anywhere() {
        let mut e = Embryos::new(8);
        assert_eq!(e.front(), None);
        for i in [5, 2, 7, 0, 3] {
            e.push_back(i);
        }
        e.push_back(2); // already in: keeps its place
        assert_eq!(order(&e), [5, 2, 7, 0, 3]);
        e.unlink(7); // middle
        e.unlink(5); // front
        e.unlink(3); // back
        e.unlink(4); // not in
        assert_eq!(order(&e), [2, 0]);
        assert_eq!(e.front(), Some(2));
        e.push_back(5);
        assert_eq!(order(&e), [2, 0, 5]);
        for i in [2, 0, 5] {
            assert!(e.contains(i));
            e.unlink(i);
            assert!(!e.contains(i));
        }
        assert_eq!(e.front(), None);
        e.push_back(1);
        assert_eq!(order(&e), [1]);
        assert_eq!(e.bytes(), 8 * 8);
    }
}
