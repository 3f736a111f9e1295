//! A fixed-size open-addressed hash index from a 32-bit hash to a 32-bit value.
//!
//! The index stores no keys: each bucket holds the key's hash and a value (a slot
//! number, possibly tagged), and the caller confirms a candidate with a closure that
//! compares the real key. Linear probing with backward-shift deletion keeps probe
//! sequences short without tombstones, so the table never needs rehashing. The bucket
//! count is fixed at construction (a power of two, at least twice the maximum number of
//! entries, so the load factor stays at or below 1/2); nothing allocates afterwards.

/// Value marking an empty bucket; never a valid value.
pub(crate) const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    hash: u32,
    value: u32,
}

const VACANT: Bucket = Bucket {
    hash: 0,
    value: EMPTY,
};

/// Open-addressed index of at most `max_entries` (hash, value) pairs.
#[derive(Debug)]
pub(crate) struct Index {
    buckets: Box<[Bucket]>,
    mask: usize,
    len: usize,
}

impl Index {
    /// An index for up to `max_entries` entries.
    pub(crate) fn with_max_entries(max_entries: usize) -> Self {
        let n = max_entries
            .saturating_mul(2)
            .max(8)
            .checked_next_power_of_two()
            .expect("index size overflows usize");
        Self {
            buckets: vec![VACANT; n].into_boxed_slice(),
            mask: n - 1,
            len: 0,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Memory held by the buckets, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    fn home(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    /// The first value with this hash for which `is_match` holds.
    pub(crate) fn find(&self, hash: u32, mut is_match: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.home(hash);
        loop {
            let b = self.buckets[i];
            if b.value == EMPTY {
                return None;
            }
            if b.hash == hash && is_match(b.value) {
                return Some(b.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The bucket a search for `hash` reads first.
    pub(crate) fn home_bucket(&self, hash: u32) -> &impl Sized {
        &self.buckets[self.home(hash)]
    }

    /// The first value filed under `hash`, the likeliest match of a search (no key is
    /// confirmed: the caller only prefetches what it names).
    pub(crate) fn first(&self, hash: u32) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// Adds an entry. The caller keeps the number of entries within `max_entries`.
    pub(crate) fn insert(&mut self, hash: u32, value: u32) {
        debug_assert_ne!(value, EMPTY);
        assert!(self.len < self.buckets.len(), "index overfull");
        self.len += 1;
        let mut i = self.home(hash);
        while self.buckets[i].value != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = Bucket { hash, value };
    }

    /// Removes the entry `(hash, value)`; returns whether it was present.
    pub(crate) fn remove(&mut self, hash: u32, value: u32) -> bool {
        let mut i = self.home(hash);
        loop {
            let b = self.buckets[i];
            if b.value == EMPTY {
                return false;
            }
            if b.hash == hash && b.value == value {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: pull later members of the probe run into the hole when the
        // hole lies between their home bucket and where they sit.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let b = self.buckets[j];
            if b.value == EMPTY {
                break;
            }
            let home = self.home(b.hash);
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = VACANT;
        self.len -= 1;
        true
    }
}

/// Seeded hashing of keys to the index's 32-bit hashes (a random seed per instance, so
/// clients cannot aim their tuples at one probe run).
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyHasher(hashbrown::DefaultHashBuilder);

impl KeyHasher {
    /// The 32-bit hash of `key`.
    pub(crate) fn hash<K: std::hash::Hash>(&self, key: &K) -> u32 {
        use std::hash::BuildHasher;
        let h = self.0.hash_one(key);
        (h ^ (h >> 32)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_insert_remove_with_collisions() {
        let mut ix = Index::with_max_entries(8);
        // All in the same home bucket, plus a neighbour run.
        for v in 0..6u32 {
            ix.insert(16 * v + 3, v);
        }
        ix.insert(4, 100);
        for v in 0..6u32 {
            assert_eq!(ix.find(16 * v + 3, |x| x == v), Some(v));
        }
        assert!(ix.remove(16 * 2 + 3, 2));
        assert!(!ix.remove(16 * 2 + 3, 2));
        assert_eq!(ix.find(16 * 2 + 3, |x| x == 2), None);
        for v in [0, 1, 3, 4, 5] {
            assert_eq!(ix.find(16 * v + 3, |x| x == v), Some(v));
        }
        assert_eq!(ix.find(4, |x| x == 100), Some(100));
        for v in [0, 1, 3, 4, 5] {
            assert!(ix.remove(16 * v + 3, v));
        }
        assert_eq!(ix.find(4, |x| x == 100), Some(100));
        assert!(ix.remove(4, 100));
        assert!(ix.buckets.iter().all(|b| b.value == EMPTY));
        assert_eq!(ix.len(), 0);
    }

    #[test]
    fn same_hash_distinguished_by_the_match_closure() {
        let mut ix = Index::with_max_entries(4);
        ix.insert(7, 1);
        ix.insert(7, 2);
        assert_eq!(ix.find(7, |x| x == 2), Some(2));
        assert_eq!(ix.find(7, |_| true), Some(1));
        assert_eq!(ix.find(7, |x| x == 3), None);
    }

    #[test]
    fn wrap_around_runs_survive_removal() {
        let mut ix = Index::with_max_entries(4); // 8 buckets
        let last = 7u32;
        ix.insert(last, 10);
        ix.insert(last, 11); // wraps to bucket 0
        ix.insert(0, 12); // home 0, pushed to 1
        assert!(ix.remove(last, 10));
        assert_eq!(ix.find(last, |x| x == 11), Some(11));
        assert_eq!(ix.find(0, |x| x == 12), Some(12));
    }
}
