//! Per-source rate limits on what a worker queues for the control core: a token bucket
//! per source address in a fixed table, one table per queue and worker (no lock, no
//! allocation after it is made). A flood from one address then takes at most its
//! bucket's share of a queue, whatever the others send.
//!
//! The table is hashed by source; a source looks at [`PROBES`] places from its hash. A
//! place is taken over when its bucket is full again: a full bucket decides nothing a new
//! one would not, so nothing is lost. A source that finds no such place is counted (the
//! link's `rate_table_full`) and shares one further bucket, of the same rate, with every
//! other such source: sources beyond the table are still bounded, together.
//!
//! Sizes: [`Limit::adverts`] lets through ten times a legitimate peer's advert rate
//! (and at least 50 a second), [`SYNC_LIMIT`] the most a master can send (see each).

use std::net::Ipv4Addr;
use std::time::Duration;

/// Places in each table: far more sources than a virtual router has directors or sync
/// has peers.
pub const SLOTS: usize = 64;
/// Places a source may take, from its hash on.
pub const PROBES: usize = 4;

/// A token bucket's size: `per_second` tokens a second, at most `burst` held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Tokens added a second.
    pub per_second: u32,
    /// Tokens a bucket holds at most (and starts with).
    pub burst: u32,
}

impl Limit {
    /// The VRRP limit for `[ha] advert_interval`: a legitimate peer sends one advert per
    /// interval (a master; a backup sends none), so ten times that, and at least 50 a
    /// second, never limits one; a burst of a fifth of a second's worth, at least 10,
    /// takes adverts bunched by a slow path.
    pub fn adverts(advert_interval: Duration) -> Self {
        let ms = advert_interval.as_millis().max(1) as u64;
        let per_second = (10_000 / ms).max(50) as u32;
        Self {
            per_second,
            burst: (per_second / 5).max(10),
        }
    }
}

/// Sync frames a master's worker 0 sends at most: 64 a millisecond tick (VRRP's and
/// sync's together; the control core queues at most 512 sync batches a 20 ms poll,
/// less than that). A genuine sync stream from one peer is never limited, at full rate.
pub const SYNC_FRAMES_PER_SECOND: u32 = 64_000;

/// The sync limit: [`SYNC_FRAMES_PER_SECOND`], with a burst of the whole queue (a
/// stream bunched by a stalled worker). One address can then send less than the control
/// core drains (2048 frames every 20 ms poll), so it cannot fill the queue alone.
pub const SYNC_LIMIT: Limit = Limit {
    per_second: SYNC_FRAMES_PER_SECOND,
    burst: super::SYNC_FRAMES as u32,
};

/// What the limiter made of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The frame may be queued.
    pub pass: bool,
    /// Its source found no place in the table (it was judged by the shared bucket).
    pub overflow: bool,
}

/// One source's bucket, in thousandths of a token.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    source: u32,
    taken: bool,
    milli: u64,
    at_ms: u64,
}

impl Bucket {
    /// A full bucket for `source` at `now_ms`.
    fn full(source: u32, limit: Limit, now_ms: u64) -> Self {
        Self {
            source,
            taken: true,
            milli: u64::from(limit.burst) * 1000,
            at_ms: now_ms,
        }
    }

    /// Refill up to `now_ms` (a clock that went back adds nothing).
    fn refill(&mut self, limit: Limit, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        let cap = u64::from(limit.burst) * 1000;
        self.milli = cap.min(
            self.milli
                .saturating_add(elapsed.saturating_mul(u64::from(limit.per_second))),
        );
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// True when a new bucket would decide the same from now on.
    fn is_full(&self, limit: Limit, now_ms: u64) -> bool {
        let mut b = *self;
        b.refill(limit, now_ms);
        b.milli == u64::from(limit.burst) * 1000
    }

    /// Refill, then take a token if there is one.
    fn take(&mut self, limit: Limit, now_ms: u64) -> bool {
        self.refill(limit, now_ms);
        let ok = self.milli >= 1000;
        if ok {
            self.milli -= 1000;
        }
        ok
    }
}

/// Per-source token buckets for one queue of one worker.
#[derive(Clone, Debug)]
pub struct SourceLimiter {
    limit: Limit,
    slots: [Bucket; SLOTS],
    /// Shared by the sources that found no place.
    overflow: Bucket,
}

impl SourceLimiter {
    /// A limiter of `limit` per source, its table empty.
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            slots: [Bucket::default(); SLOTS],
            overflow: Bucket::full(0, limit, 0),
        }
    }

    /// The limit each source has.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Whether a frame from `source` at `now_ms` may pass (a token taken if so).
    pub fn admit(&mut self, source: Ipv4Addr, now_ms: u64) -> Verdict {
        let key = u32::from(source);
        let start = slot_of(key);
        let mut free = None;
        for i in 0..PROBES {
            let at = (start + i) % SLOTS;
            let b = &self.slots[at];
            if b.taken && b.source == key {
                let pass = self.slots[at].take(self.limit, now_ms);
                return Verdict {
                    pass,
                    overflow: false,
                };
            }
            if free.is_none() && (!b.taken || b.is_full(self.limit, now_ms)) {
                free = Some(at);
            }
        }
        match free {
            Some(at) => {
                self.slots[at] = Bucket::full(key, self.limit, now_ms);
                let pass = self.slots[at].take(self.limit, now_ms);
                Verdict {
                    pass,
                    overflow: false,
                }
            }
            None => Verdict {
                pass: self.overflow.take(self.limit, now_ms),
                overflow: true,
            },
        }
    }
}

/// The first place of `key`: a multiplicative (Fibonacci) hash, its top bits.
fn slot_of(key: u32) -> usize {
    const BITS: u32 = SLOTS.trailing_zeros();
    (key.wrapping_mul(0x9e37_79b1) >> (32 - BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Limit = Limit {
        per_second: 50,
        burst: 10,
    };

    fn addr(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + i)
    }

    fn passed(l: &mut SourceLimiter, src: Ipv4Addr, n: usize, now_ms: u64) -> usize {
        (0..n).filter(|_| l.admit(src, now_ms).pass).count()
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut l = SourceLimiter::new(LIMIT);
        assert_eq!(passed(&mut l, addr(1), 100, 1000), 10);
        // 50 a second: one token every 20 ms.
        assert_eq!(passed(&mut l, addr(1), 100, 1019), 0);
        assert_eq!(passed(&mut l, addr(1), 100, 1020), 1);
        assert_eq!(passed(&mut l, addr(1), 100, 1120), 5);
        // Another source is not held back by the first.
        assert_eq!(passed(&mut l, addr(2), 100, 1120), 10);
        // A quiet second fills the bucket again, no more.
        assert_eq!(passed(&mut l, addr(1), 100, 5000), 10);
        // A clock that goes back takes nothing and adds nothing.
        assert_eq!(passed(&mut l, addr(1), 100, 10), 0);
    }

    #[test]
    fn a_peer_at_ten_times_its_advert_rate_is_never_limited() {
        for (interval_ms, want) in [(1000, 50), (100, 100), (10, 1000), (40_950, 50)] {
            let limit = Limit::adverts(Duration::from_millis(interval_ms));
            assert_eq!(limit.per_second, want, "{interval_ms} ms");
            let mut l = SourceLimiter::new(limit);
            // Ten adverts an interval, evenly, for a minute's worth of intervals.
            let step = (interval_ms / 10).max(1);
            let n = 600;
            let ok = (0..n)
                .filter(|i| l.admit(addr(7), 1000 + i * step).pass)
                .count();
            assert_eq!(ok, n as usize, "{interval_ms} ms");
        }
    }

    #[test]
    fn a_master_at_full_sync_rate_is_never_limited() {
        let mut l = SourceLimiter::new(SYNC_LIMIT);
        // 64 frames every millisecond for two seconds.
        for ms in 0..2000 {
            assert_eq!(passed(&mut l, addr(9), 64, ms), 64, "at {ms} ms");
        }
        // A whole queue at once, after a pause.
        assert_eq!(passed(&mut l, addr(9), 2048, 2100), 2048);
    }

    #[test]
    fn sources_beyond_the_table_share_one_bucket_and_are_counted() {
        let mut l = SourceLimiter::new(LIMIT);
        // Keep every place busy: each source spends a token, so no bucket is full.
        let mut overflowed = 0;
        let mut passed_over = 0;
        for i in 0..10_000u32 {
            let v = l.admit(addr(i), 1000);
            if v.overflow {
                overflowed += 1;
                passed_over += usize::from(v.pass);
            }
        }
        assert!(overflowed >= 10_000 - SLOTS, "{overflowed}");
        assert_eq!(passed_over, LIMIT.burst as usize, "one shared burst");
        // A source already in the table keeps its own bucket meanwhile.
        let mut l = SourceLimiter::new(LIMIT);
        assert!(l.admit(addr(1), 1000).pass);
        for i in 2..10_000u32 {
            l.admit(addr(i), 1000);
        }
        let v = l.admit(addr(1), 1000);
        assert!(v.pass && !v.overflow, "{v:?}");
    }

    #[test]
    fn a_full_bucket_gives_its_place_up() {
        let mut l = SourceLimiter::new(LIMIT);
        // Fill the places of one hash with sources that then go quiet.
        let key = |i: u32| addr(i);
        let start = slot_of(u32::from(key(1)));
        let same: Vec<Ipv4Addr> = (1..1_000_000u32)
            .map(key)
            .filter(|a| slot_of(u32::from(*a)) == start)
            .take(PROBES + 1)
            .collect();
        for a in &same[..PROBES] {
            assert!(!l.admit(*a, 1000).overflow);
        }
        // Their buckets are not full yet: the next one of that hash overflows.
        assert!(l.admit(same[PROBES], 1000).overflow);
        // A fifth of a second later they are full again: it takes a place.
        let v = l.admit(same[PROBES], 1200);
        assert!(v.pass && !v.overflow, "{v:?}");
    }
}
