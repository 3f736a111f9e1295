//! Per-worker scheduler state and the fixed-capacity locality map of lblc/lblcr.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hash;

/// Every built table gets a fresh id; a state remembers the table it belongs to.
static NEXT_TABLE_ID: AtomicU64 = AtomicU64::new(1);

/// A new table id (never 0, the id of a default state).
pub(crate) fn next_table_id() -> u64 {
    NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed)
}

/// Per-worker mutable scheduler state (rr position, lblc maps, ...). Opaque.
///
/// Made by [`crate::Scheduler::new_state`]. A state handed to another table (or a
/// `SchedState::default()`) still works: positions restart, and a locality map of the right
/// kind is emptied in place; a state without a map makes lblc/lblcr schedule without
/// caching. None of this allocates.
#[derive(Debug, Default)]
pub struct SchedState {
    /// Id of the table this state was last used with.
    table: u64,
    /// rr/wrr: index of the last real picked, `None` for "before the first".
    cursor: Option<usize>,
    /// wrr: current weight.
    cw: i64,
    /// lblc/lblcr: destination address -> real(s).
    locality: Option<Locality>,
    /// twos: the worker's random stream (SplitMix64; every value, 0 included, is a good
    /// state, so a default state draws too). Not reset on a table change.
    rng: u64,
}

/// The locality cache of lblc or lblcr.
#[derive(Debug)]
pub(crate) enum Locality {
    /// lblc: address -> one real.
    Lblc(LocalityMap<u32>),
    /// lblcr: address -> a set of reals.
    Lblcr(LocalityMap<DestSet>),
}

impl SchedState {
    /// State for a table without per-worker data.
    pub(crate) fn stateless(table: u64) -> Self {
        Self {
            table,
            ..Self::default()
        }
    }

    /// State for wrr, starting a fresh cycle at weight `mw`.
    pub(crate) fn with_cw(table: u64, mw: i64) -> Self {
        Self {
            table,
            cw: mw,
            ..Self::default()
        }
    }

    /// State for twos, its random stream seeded with `seed`.
    pub(crate) fn with_seed(table: u64, seed: u64) -> Self {
        Self {
            table,
            rng: seed,
            ..Self::default()
        }
    }

    /// The next number of the state's random stream (SplitMix64: a Weyl sequence through
    /// an avalanche finaliser). No allocation, no lock.
    pub(crate) fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..bound` (`bound` above zero), by Lemire's multiply-shift:
    /// the bias is below `bound / 2^64`.
    pub(crate) fn random_below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_random()) * u128::from(bound)) >> 64) as u64
    }

    /// State for lblc/lblcr.
    pub(crate) fn with_locality(table: u64, locality: Locality) -> Self {
        Self {
            table,
            locality: Some(locality),
            ..Self::default()
        }
    }

    /// Adopt `table`; true when the state belonged to another one.
    fn adopt(&mut self, table: u64) -> bool {
        let fresh = self.table != table;
        self.table = table;
        fresh
    }

    /// rr's cursor, reset when the state belonged to another table.
    pub(crate) fn rr(&mut self, table: u64) -> &mut Option<usize> {
        if self.adopt(table) {
            self.cursor = None;
        }
        &mut self.cursor
    }

    /// wrr's cursor and current weight, reset (to `mw`) when the state belonged to another
    /// table.
    pub(crate) fn wrr(&mut self, table: u64, mw: i64) -> (&mut Option<usize>, &mut i64) {
        if self.adopt(table) {
            self.cursor = None;
            self.cw = mw;
        }
        (&mut self.cursor, &mut self.cw)
    }

    /// lblc's map, emptied when the state belonged to another table.
    pub(crate) fn lblc(&mut self, table: u64) -> Option<&mut LocalityMap<u32>> {
        let fresh = self.adopt(table);
        match &mut self.locality {
            Some(Locality::Lblc(m)) => {
                if fresh {
                    m.clear();
                }
                Some(m)
            }
            _ => None,
        }
    }

    /// lblcr's map, emptied when the state belonged to another table.
    pub(crate) fn lblcr(&mut self, table: u64) -> Option<&mut LocalityMap<DestSet>> {
        let fresh = self.adopt(table);
        match &mut self.locality {
            Some(Locality::Lblcr(m)) => {
                if fresh {
                    m.clear();
                }
                Some(m)
            }
            _ => None,
        }
    }
}

/// IPVS's `lblc_expiration`/`lblcr_expiration` default: an entry unused for a day is stale;
/// an lblcr set unchanged for a day loses its most loaded member.
pub(crate) const EXPIRATION_MS: u64 = 24 * 60 * 60 * 1000;
/// IPVS's `ENTRY_TIMEOUT`: when the table is full, entries unused for 6 minutes make room.
pub(crate) const ENTRY_TIMEOUT_MS: u64 = 6 * 60 * 1000;

/// Associativity of the locality map.
const WAYS: usize = 8;
/// Number of sets; `SETS * WAYS` = 16384 = IPVS's `max_size` (16 * 2^10 buckets).
const SETS: usize = 2048;

/// One slot of a [`LocalityMap`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Slot<V> {
    /// Destination address, `None` when free.
    key: Option<IpAddr>,
    /// Last use (ms).
    pub(crate) lastuse: u64,
    /// The cached value.
    pub(crate) val: V,
}

/// A fixed-capacity, set-associative map from a destination address to a cached value,
/// allocated once (in `new_state`) and never grown.
///
/// Expiry follows IPVS's collector, applied at lookup instead of by a timer: an entry unused
/// for [`EXPIRATION_MS`] is gone; when a new entry finds its set full, the least recently
/// used entry makes room if it has been idle for [`ENTRY_TIMEOUT_MS`], and otherwise the
/// new entry is simply not cached (IPVS: "if we fail to create a cache entry, we'll just
/// use the valid dest").
pub(crate) struct LocalityMap<V> {
    slots: Box<[Slot<V>]>,
}

impl<V> fmt::Debug for LocalityMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = self.slots.iter().filter(|s| s.key.is_some()).count();
        f.debug_struct("LocalityMap")
            .field("capacity", &self.slots.len())
            .field("used", &used)
            .finish()
    }
}

impl<V: Copy + Default> LocalityMap<V> {
    /// An empty map of IPVS's capacity (allocates).
    pub(crate) fn new() -> Self {
        Self {
            slots: vec![Slot::default(); SETS * WAYS].into_boxed_slice(),
        }
    }

    /// Forget every entry (no allocation).
    pub(crate) fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.key = None;
        }
    }

    /// The ways of the set `addr` belongs to.
    fn set(&mut self, addr: &IpAddr) -> &mut [Slot<V>] {
        let set = (hash::addr_port(hash::SEED_LOCALITY, addr, 0, 0) as usize) & (SETS - 1);
        &mut self.slots[set * WAYS..(set + 1) * WAYS]
    }

    /// The live entry for `addr`, if any. Entries found stale are dropped.
    pub(crate) fn get(&mut self, addr: &IpAddr, now: u64) -> Option<&mut Slot<V>> {
        let slot = self.set(addr).iter_mut().find(|s| s.key == Some(*addr))?;
        if now.saturating_sub(slot.lastuse) >= EXPIRATION_MS {
            slot.key = None;
            return None;
        }
        Some(slot)
    }

    /// Insert (or overwrite, in its own slot) the entry for `addr`, last used `now`.
    /// Returns false when the set has no room (see the type's documentation).
    pub(crate) fn insert(&mut self, addr: &IpAddr, now: u64, val: V) -> bool {
        let set = self.set(addr);
        let pos = set
            .iter()
            .position(|s| s.key == Some(*addr))
            .or_else(|| set.iter().position(|s| s.key.is_none()))
            .or_else(|| {
                let (i, lru) = set.iter().enumerate().min_by_key(|(_, s)| s.lastuse)?;
                (now.saturating_sub(lru.lastuse) >= ENTRY_TIMEOUT_MS).then_some(i)
            });
        match pos {
            Some(i) => {
                set[i] = Slot {
                    key: Some(*addr),
                    lastuse: now,
                    val,
                };
                true
            }
            None => false,
        }
    }
}

/// Most reals one lblcr set holds; a set that is full takes no new member (as IPVS when
/// it fails to allocate one).
pub(crate) const SET_CAPACITY: usize = 8;

/// An lblcr server set: real indexes in insertion order (IPVS walks it newest first).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DestSet {
    len: u8,
    /// Last time a member was added or removed (ms).
    pub(crate) lastmod: u64,
    members: [u32; SET_CAPACITY],
}

impl DestSet {
    /// A set holding `first`, modified `now`.
    pub(crate) fn single(first: usize, now: u64) -> Self {
        let mut s = Self {
            lastmod: now,
            ..Self::default()
        };
        s.insert(first, now);
        s
    }

    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Members, newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = usize> + '_ {
        self.members[..self.len()].iter().rev().map(|&m| m as usize)
    }

    /// Add `real` unless present or the set is full.
    pub(crate) fn insert(&mut self, real: usize, now: u64) {
        let Ok(real) = u32::try_from(real) else {
            return;
        };
        if self.len() == SET_CAPACITY || self.members[..self.len()].contains(&real) {
            return;
        }
        self.members[self.len()] = real;
        self.len += 1;
        self.lastmod = now;
    }

    /// Remove `real` if present.
    pub(crate) fn erase(&mut self, real: usize, now: u64) {
        let n = self.len();
        if let Some(p) = self.members[..n].iter().position(|&m| m as usize == real) {
            self.members.copy_within(p + 1..n, p);
            self.len -= 1;
            self.lastmod = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(i))
    }

    /// `n` addresses that land in one set of a [`LocalityMap`].
    fn same_set(n: usize) -> Vec<IpAddr> {
        let set_of =
            |x: &IpAddr| hash::addr_port(hash::SEED_LOCALITY, x, 0, 0) as usize & (SETS - 1);
        let target = set_of(&a(0));
        (0..)
            .map(a)
            .filter(|x| set_of(x) == target)
            .take(n)
            .collect()
    }

    #[test]
    fn entries_expire_after_a_day() {
        let mut m = LocalityMap::<u32>::new();
        assert!(m.insert(&a(1), 1000, 7));
        assert_eq!(
            m.get(&a(1), 1000 + EXPIRATION_MS - 1).map(|s| s.val),
            Some(7)
        );
        assert!(m.get(&a(1), 1000 + EXPIRATION_MS).is_none());
        assert!(m.get(&a(2), 1000).is_none());
    }

    #[test]
    fn full_set_evicts_only_entries_idle_for_six_minutes() {
        let mut m = LocalityMap::<u32>::new();
        let same = same_set(WAYS + 1);
        for (i, x) in same[..WAYS].iter().enumerate() {
            assert!(m.insert(x, i as u64, i as u32));
        }
        // Set full, oldest entry idle for less than ENTRY_TIMEOUT: not cached.
        assert!(!m.insert(&same[WAYS], ENTRY_TIMEOUT_MS - 1, 99));
        assert!(m.get(&same[WAYS], ENTRY_TIMEOUT_MS - 1).is_none());
        // Later the least recently used (same[0]) makes room.
        assert!(m.insert(&same[WAYS], ENTRY_TIMEOUT_MS, 99));
        assert!(m.get(&same[0], ENTRY_TIMEOUT_MS).is_none());
        assert_eq!(m.get(&same[1], ENTRY_TIMEOUT_MS).map(|s| s.val), Some(1));
        m.clear();
        assert!(m.get(&same[1], ENTRY_TIMEOUT_MS).is_none());
    }

    /// Re-inserting a live key overwrites its slot, even when a free slot comes before it
    /// in the set: a second copy would take a way and could later bring the old value back.
    #[test]
    fn reinserting_a_key_reuses_its_slot() {
        let mut m = LocalityMap::<u32>::new();
        let same = same_set(WAYS + 1);
        let (b, x) = (same[0], same[1]);
        assert!(m.insert(&b, 0, 1));
        assert!(m.insert(&x, EXPIRATION_MS, 2));
        // b expires, freeing the slot before x's.
        assert!(m.get(&b, EXPIRATION_MS).is_none());
        assert!(m.insert(&x, EXPIRATION_MS, 3));
        assert_eq!(m.get(&x, EXPIRATION_MS).map(|s| s.val), Some(3));
        // One copy of x: the other WAYS - 1 ways all take a new key.
        for (i, y) in same[2..].iter().enumerate() {
            assert!(m.insert(y, EXPIRATION_MS + 1, 10 + i as u32), "way {i}");
        }
        assert_eq!(m.get(&x, EXPIRATION_MS + 1).map(|s| s.val), Some(3));
    }

    #[test]
    fn dest_set_order_and_capacity() {
        let mut s = DestSet::single(3, 5);
        s.insert(3, 6);
        assert_eq!((s.len(), s.lastmod), (1, 5));
        for r in 4..20 {
            s.insert(r, 7);
        }
        assert_eq!(s.len(), SET_CAPACITY);
        assert_eq!(
            s.newest_first().collect::<Vec<_>>(),
            vec![10, 9, 8, 7, 6, 5, 4, 3]
        );
        s.erase(6, 9);
        assert_eq!(
            s.newest_first().collect::<Vec<_>>(),
            vec![10, 9, 8, 7, 5, 4, 3]
        );
        assert_eq!(s.lastmod, 9);
        s.erase(42, 10);
        assert_eq!(s.lastmod, 9);
    }
}
