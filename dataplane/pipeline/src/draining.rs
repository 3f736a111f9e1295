//! What a configuration edit removed while open connections may still use it: former
//! VIPs (steered as VIPs, see [`crate::service::Services::steered_as_vip`]) and the
//! ownership class of deleted services (see [`crate::owner_class`]). IPVS keeps forwarding a
//! deleted service's connections until they expire; so does rvs, and their frames must
//! keep reaching the worker that holds them.
//!
//! The set is bounded ([`MAX_DRAINING`]), oldest removal forgotten first, rather than
//! pruned when no connection can remain: only the workers know that, an established
//! connection that keeps sending never expires, and a census of every worker's table on
//! the control core would cost more than a few kilobytes of addresses. The bound keeps
//! a director that adds and deletes many VIPs from growing its snapshot without end; a
//! removed item comes back out of the set when it is configured again. The cost of the
//! bound: past [`MAX_DRAINING`] later removals, connections still open to the oldest
//! removed VIP are steered as if toward an ordinary address (to the worker its hash
//! names), so with several workers they stop reaching their worker.

use std::collections::VecDeque;
use std::hash::Hash;

use hashbrown::HashSet;

/// Most removed items remembered: far more VIPs than a director serves at once.
pub const MAX_DRAINING: usize = 4096;

/// Removed items whose connections may still drain, oldest removal first.
#[derive(Clone, Debug)]
pub struct Draining<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
}

impl<T> Default for Draining<T> {
    fn default() -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T: Copy + Eq + Hash> Draining<T> {
    /// The set after an edit: these items, less those `current` again, then those of
    /// `before` (what the previous configuration had) that are not `current`, newest
    /// last; the oldest are forgotten beyond [`MAX_DRAINING`].
    pub fn after_edit(
        &self,
        before: impl IntoIterator<Item = T>,
        current: impl Fn(&T) -> bool,
    ) -> Self {
        let mut next = Self::default();
        for item in self.order.iter().copied().chain(before) {
            if !current(&item) && next.set.insert(item) {
                next.order.push_back(item);
            }
        }
        while next.order.len() > MAX_DRAINING {
            if let Some(oldest) = next.order.pop_front() {
                next.set.remove(&oldest);
            }
        }
        next
    }

    /// True when `item` was removed and may still have connections.
    #[inline]
    pub fn contains(&self, item: &T) -> bool {
        !self.set.is_empty() && self.set.contains(item)
    }

    /// The items remembered, oldest removal first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.order.iter()
    }

    /// Items remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing removed is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_items_stay_until_configured_again() {
        let none = Draining::<u32>::default();
        let one = none.after_edit([1, 2, 3], |x| *x != 2);
        assert!(one.contains(&2) && !one.contains(&1) && !one.contains(&3));
        // 2 is configured again: it leaves; 3 goes.
        let two = one.after_edit([1, 2], |x| [1, 2].contains(x));
        assert!(!two.contains(&2) && !two.contains(&3));
        let three = two.after_edit([1, 2], |x| *x == 1);
        assert!(three.contains(&2) && !three.contains(&1));
        assert_eq!(three.len(), 1);
    }

    #[test]
    fn repeated_adds_and_deletes_of_many_items_stay_bounded_oldest_out_first() {
        let mut d = Draining::<u32>::default();
        for round in 0..3u32 {
            for batch in 0..(MAX_DRAINING as u32 / 100 + 2) {
                let base = round * 1_000_000 + batch * 100;
                // Added (current), then deleted at the next edit.
                d = d.after_edit([], |x| (base..base + 100).contains(x));
                d = d.after_edit(base..base + 100, |_| false);
                assert!(d.len() <= MAX_DRAINING);
                assert!(d.contains(&(base + 99)), "the newest removal is kept");
            }
        }
        assert_eq!(d.len(), MAX_DRAINING);
        assert!(!d.contains(&0), "the oldest removal was forgotten");
    }
}
