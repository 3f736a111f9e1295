//! The bucket table shared by `sh` and `dh`.
//!
//! A key (sh: the client address, plus the client port with `sh-port`; dh: the destination
//! address) picks one of [`BUCKETS`] buckets by its stable hash, and the bucket names the real
//! that gets the key: a pick is one indexed load. With `sh-fallback`, a key whose real may not
//! take it re-hashes with salts `ihash, ihash + 1, ...` until it finds a bucket whose real
//! may, as IPVS does.
//!
//! # Filling the buckets: deliberately not as IPVS does
//!
//! IPVS deals its 256 buckets out round-robin in configuration order, `weight` buckets per
//! real per round. Adding, removing or re-weighting one real shifts every later turn, so the
//! keys of reals nobody touched move too. rvs promises instead that a key stays on its real
//! across every rebuild that does not touch that real (another real added, removed,
//! re-weighted, taken out or brought back by health checks, or given new thresholds).
//!
//! So the buckets are filled by weighted rendezvous (highest random weight) hashing. In each
//! bucket `b`, every real `r` with a weight above zero has a score `E(b, r)`, exponentially
//! distributed with a rate proportional to its weight, that depends on nothing but `b` and the
//! real's address and port; the bucket goes to the real with the smallest score (which is
//! maximising `-weight / ln(u)` for a uniform `u`). Changing one real changes only its own
//! scores, so the only buckets that change hands are buckets going to or coming from that
//! real. A real wins a bucket with probability `weight / total weight`: shares follow the
//! weights up to the spread of [`BUCKETS`] independent draws, a relative standard deviation
//! of `sqrt((1 - p) / (65536 p))` for a share `p` (0.2% for the heavier of two reals at 3:1,
//! 4% for one of 100 equal reals, 12% for one of 1000). A real of weight 0 gets no bucket.
//! IPVS's fill is exact per round, but its fixed 256 buckets cannot give 100 reals equal
//! shares either.
//!
//! Availability does not enter the layout (see [`crate::build`]): an unavailable real keeps
//! its buckets, and its keys find no real or, with `sh-fallback`, walk on. So a real added,
//! or made heavier, while unavailable takes its buckets at once and their keys wait for it
//! (or walk) until it is back; and a walking key may land on another real when a real on its
//! walk changes. Keys whose own bucket's real is usable move only to or from the changed
//! real.
//!
//! The bucket count is the same for every table: a count that followed the cluster size
//! would send keys to other buckets, hence other reals, whenever it changed. 65536 buckets
//! of 4 bytes (256 KiB, as a default-size `mh` table) keep the shares close for a few
//! hundred reals.
//!
//! Scoring every (bucket, real) pair would take `65536 * reals` hashes, 65 million for 1000
//! reals. The scores are drawn instead as the arrivals of one stream per real: draw `n` of
//! the real's stream ([`hash::draw`] keyed by its address and port) gives an Exp(1) gap and a
//! bucket, the sum of the gaps so far divided by the weight is the arrival's score, and the
//! real's score in a bucket is its first arrival there. That is a Poisson process per real,
//! so every (bucket, real) score is an independent exponential of rate proportional to the
//! weight, depending on that real alone: per-pair scoring's distribution and stability,
//! though not its exact table. Streams are advanced together to a rising score level;
//! once every bucket has an arrival below the level no later arrival can win one, and the
//! table is done after about `65536 * ln 65536`, some 800 thousand, draws however many reals
//! there are.
//!
//! Scores are IEEE `f64` arithmetic on the platform's `ln`; a `ln` rounding differently in
//! the last bit could only change a bucket whose two best scores agree to about the last bit.

use std::fmt;
use std::net::IpAddr;

use crate::hash;
use crate::select::hashed_lookup;
use crate::{LoadView, RealServer};

/// log2 of [`BUCKETS`].
const BUCKET_BITS: u32 = 16;

/// Buckets in every table.
pub(crate) const BUCKETS: usize = 1 << BUCKET_BITS;

/// Bits of a draw that make its uniform variate (the rest pick the bucket).
const UNIFORM_BITS: u32 = u64::BITS - BUCKET_BITS;

/// One real's stream of rendezvous arrivals.
struct Stream {
    /// Index of the real in the configuration.
    real: u32,
    /// Stream key: the hash of the real's address and port.
    key: u64,
    /// The real's weight.
    weight: f64,
    /// Draws taken so far.
    drawn: u64,
    /// Sum of the Exp(1) gaps drawn so far.
    time: f64,
    /// Score of the next arrival (`time / weight`).
    score: f64,
    /// Bucket of the next arrival.
    bucket: usize,
}

impl Stream {
    /// The stream of real `r`, index `real`, at its first arrival.
    fn new(real: usize, r: &RealServer) -> Self {
        let mut s = Stream {
            real: real as u32,
            key: hash::addr_port(hash::SEED_RENDEZVOUS, &r.addr, r.port, 0),
            weight: f64::from(r.weight),
            drawn: 0,
            time: 0.0,
            score: 0.0,
            bucket: 0,
        };
        s.advance();
        s
    }

    /// Draw the next arrival.
    fn advance(&mut self) {
        let h = hash::draw(self.key, self.drawn);
        self.drawn += 1;
        // u in (0, 1], exact in an f64.
        let u = ((h & ((1 << UNIFORM_BITS) - 1)) + 1) as f64 / (1u64 << UNIFORM_BITS) as f64;
        self.time -= u.ln();
        self.score = self.time / self.weight;
        self.bucket = (h >> UNIFORM_BITS) as usize;
    }
}

/// Bucket -> real index.
pub(crate) struct BucketTable {
    /// [`BUCKETS`] entries, or none when no real has a weight.
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
    /// Fill the buckets by weighted rendezvous over the reals with a weight above zero
    /// (available or not); empty when there is none.
    pub(crate) fn new(reals: &[RealServer]) -> Self {
        let mut streams: Vec<Stream> = reals
            .iter()
            .enumerate()
            .filter(|(_, r)| r.weight > 0)
            .map(|(i, r)| Stream::new(i, r))
            .collect();
        if streams.is_empty() {
            return Self {
                buckets: Vec::new(),
            };
        }
        // Each step of the level lets about BUCKETS arrivals in, over all streams.
        let step = BUCKETS as f64 / streams.iter().map(|s| s.weight).sum::<f64>();
        let keys: Vec<u64> = streams.iter().map(|s| s.key).collect();
        // Per bucket: the best score so far and its stream.
        const NONE: u32 = u32::MAX;
        let mut best = vec![(f64::INFINITY, NONE); BUCKETS];
        let mut empty = BUCKETS;
        let mut steps = 0u32;
        while empty > 0 {
            steps += 1;
            let level = f64::from(steps) * step;
            for (i, s) in streams.iter_mut().enumerate() {
                while s.score < level {
                    let (score, owner) = &mut best[s.bucket];
                    // Equal scores go to the smaller key, then to the earlier real. Scores are
                    // finite, so an empty bucket (infinite score) never reaches `keys[NONE]`.
                    if s.score < *score || (s.score <= *score && s.key < keys[*owner as usize]) {
                        if *owner == NONE {
                            empty -= 1;
                        }
                        *score = s.score;
                        *owner = i as u32;
                    }
                    s.advance();
                }
            }
        }
        let buckets = best
            .iter()
            .map(|&(_, i)| streams[i as usize].real)
            .collect();
        Self { buckets }
    }

    /// The bucket of `(addr, port)` hashed with `salt`.
    fn bucket(&self, addr: &IpAddr, port: u16, salt: u32) -> usize {
        (hash::addr_port(hash::SEED_BUCKET, addr, port, salt) as usize) & (BUCKETS - 1)
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
        hashed_lookup(&self.buckets, reals, loads, fallback, |salt| {
            self.bucket(addr, port, salt)
        })
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
    use crate::testutil::{real, reals};

    /// Real ids of every bucket.
    fn ids(t: &BucketTable, reals: &[RealServer]) -> Vec<u32> {
        t.buckets.iter().map(|&i| reals[i as usize].id).collect()
    }

    #[test]
    fn shares_follow_weights() {
        let t = BucketTable::new(&reals(&[2, 4, 0, 6]));
        let s = t.shares(4);
        assert_eq!(s.iter().sum::<usize>(), BUCKETS);
        assert_eq!(s[2], 0);
        for (i, w) in [(0, 2.0), (1, 4.0), (3, 6.0)] {
            let want = BUCKETS as f64 * w / 12.0;
            // About 4 standard deviations (at most 128 buckets here).
            assert!((s[i] as f64 - want).abs() < 500.0, "{s:?}");
        }
        // 1000 equal reals: about 65.5 buckets each, every one has some.
        let t = BucketTable::new(&reals(&[1; 1000]));
        let s = t.shares(1000);
        assert!(s.iter().all(|c| (20..=130).contains(c)), "{s:?}");
        assert!(BucketTable::new(&reals(&[0, 0])).buckets.is_empty());
        assert!(BucketTable::new(&[]).buckets.is_empty());
        // One real takes everything; huge weights neither overflow nor starve the others.
        assert_eq!(
            BucketTable::new(&reals(&[0, 5])).shares(2),
            vec![0, BUCKETS]
        );
        let s = BucketTable::new(&reals(&[u32::MAX, 1 << 24])).shares(2);
        assert!(s[1] > 100 && s[1] < 400, "{s:?}");
    }

    /// Pinned layout: a change here moves clients between reals on upgrade.
    #[test]
    fn layout_is_stable() {
        let rs = reals(&[1, 2, 3]);
        let t = BucketTable::new(&rs);
        let got: Vec<u32> = [0, 1, 2, 3, 1000, 30000, BUCKETS - 1]
            .iter()
            .map(|&b| t.buckets[b])
            .collect();
        assert_eq!(got, vec![2, 1, 1, 1, 2, 2, 1]);
        // Expected 10923, 21845, 32768.
        assert_eq!(t.shares(3), vec![10927, 21773, 32836]);
    }

    /// Configuration order does not matter, and touching one real moves only buckets to or
    /// from it (exhaustively over the table).
    #[test]
    fn only_the_touched_reals_buckets_move() {
        let base: Vec<_> = (0..40).map(|i| real(i, 1 + i % 7)).collect();
        let a = ids(&BucketTable::new(&base), &base);
        let mut reversed = base.clone();
        reversed.reverse();
        assert_eq!(ids(&BucketTable::new(&reversed), &reversed), a);
        let x = 17;
        let mut removed = base.clone();
        removed.remove(x as usize);
        let mut heavier = base.clone();
        heavier[x as usize].weight *= 3;
        let mut added = base.clone();
        added.push(real(40, 5));
        let mut quiesced = base.clone();
        quiesced[x as usize].weight = 0;
        for (what, rs, x) in [
            ("removed", removed, x),
            ("re-weighted", heavier, x),
            ("added", added, 40),
            ("quiesced", quiesced, x),
        ] {
            let b = ids(&BucketTable::new(&rs), &rs);
            let moved = a.iter().zip(&b).filter(|(p, q)| p != q).count();
            assert!(moved > 0, "{what}: nothing moved");
            for (p, q) in a.iter().zip(&b) {
                assert!(p == q || *p == x || *q == x, "{what}: {p} -> {q}");
            }
        }
    }
}
