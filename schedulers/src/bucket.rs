//! The bucket table shared by `sh` and `dh`.
//!
//! As IPVS's: buckets are handed to the reals with a weight above zero in configuration
//! order, each taking `weight` consecutive buckets per round, round after round until the
//! table is full. Two deliberate differences: weights are first divided by their GCD, and
//! the table has the smallest power of two of buckets that holds one round (at least 256,
//! IPVS's size, at most 65536), so that every real gets its share instead of the first
//! ones filling IPVS's fixed 256 buckets. A key's bucket is its stable hash masked to the
//! table size; the fallback walk re-hashes the key with salts `ihash, ihash + 1, ...` as
//! IPVS does.

use std::fmt;
use std::net::IpAddr;

use crate::hash;
use crate::select::{usable, weight_gcd};
use crate::{LoadView, RealServer};

const MIN_BUCKETS: usize = 256;
const MAX_BUCKETS: usize = 1 << 16;

/// Bucket -> real index.
pub(crate) struct BucketTable {
    buckets: Vec<u32>,
}

impl fmt::Debug for BucketTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketTable")
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

impl BucketTable {
    /// Lay the buckets out over `reals` (empty when no real has a weight).
    pub(crate) fn new(reals: &[RealServer]) -> Self {
        let g = weight_gcd(reals.iter().map(|r| r.weight));
        if g == 0 {
            return Self {
                buckets: Vec::new(),
            };
        }
        let turns: Vec<(u32, u64)> = reals
            .iter()
            .enumerate()
            .filter(|(_, r)| r.weight > 0)
            .map(|(i, r)| (i as u32, u64::from(r.weight / g)))
            .collect();
        let round: u64 = turns.iter().map(|t| t.1).sum();
        let size = usize::try_from(round)
            .unwrap_or(MAX_BUCKETS)
            .next_power_of_two()
            .clamp(MIN_BUCKETS, MAX_BUCKETS);
        let buckets = turns
            .iter()
            .cycle()
            .flat_map(|&(i, t)| std::iter::repeat(i).take(t as usize))
            .take(size)
            .collect();
        Self { buckets }
    }

    fn bucket(&self, addr: &IpAddr, port: u16, salt: u32) -> usize {
        (hash::addr_port(hash::SEED_BUCKET, addr, port, salt) as usize) & (self.buckets.len() - 1)
    }

    /// The real for `(addr, port)`: its bucket's real if usable; otherwise, with `fallback`,
    /// the first usable real along the key's re-hash walk.
    pub(crate) fn get(
        &self,
        reals: &[RealServer],
        loads: &dyn LoadView,
        addr: &IpAddr,
        port: u16,
        fallback: bool,
    ) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let ok = |i: usize| usable(&reals[i], &loads.load(reals[i].id));
        let ihash = self.bucket(addr, port, 0);
        let first = self.buckets[ihash] as usize;
        if ok(first) {
            return Some(first);
        }
        // Skip the walk when it cannot succeed.
        if !fallback || !(0..reals.len()).any(ok) {
            return None;
        }
        let n = self.buckets.len();
        (0..n)
            .map(|off| self.buckets[self.bucket(addr, port, ((ihash + off) % n) as u32)] as usize)
            .find(|&i| ok(i))
    }

    /// Buckets held by each real (tests and statistics).
    #[cfg(test)]
    pub(crate) fn shares(&self, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &b in &self.buckets {
            c[b as usize] += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::reals;

    #[test]
    fn shares_follow_weights() {
        // gcd 2 -> turns 1, 2, 0, 3: round of 6, 256 buckets = 42 rounds + 4.
        let t = BucketTable::new(&reals(&[2, 4, 0, 6]));
        assert_eq!(t.shares(4), vec![43, 86, 0, 127]);
        // 1000 reals of weight 1: 1024 buckets, everyone has one.
        let t = BucketTable::new(&reals(&[1; 1000]));
        assert!(t.shares(1000).iter().all(|&c| c >= 1));
        assert!(BucketTable::new(&reals(&[0, 0])).buckets.is_empty());
    }
}
