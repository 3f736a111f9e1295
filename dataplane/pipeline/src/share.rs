//! A count split over the workers, each keeping its own part without sharing a cache
//! line: the `-x`/`-y` thresholds of a real and a service's `limit_new`.

/// One worker's share of a per-director count (a real's `-x`/`-y` threshold, a
/// service's `limit_new`): each worker counts only its own
/// connections, so a threshold is split evenly (rounded up, at least 1; 0 stays "none").
/// IPVS counts one global number; rvs keeps counts per worker so that no new connection
/// touches a shared cache line, and a real is held overloaded a little early or late when
/// connections are spread unevenly over the workers.
pub fn worker_share(threshold: u32, workers: u16) -> u32 {
    match threshold {
        0 => 0,
        t => t.div_ceil(u32::from(workers.max(1))).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::worker_share;

    #[test]
    fn thresholds_split_over_workers() {
        assert_eq!(worker_share(0, 4), 0);
        assert_eq!(worker_share(100, 1), 100);
        assert_eq!(worker_share(100, 2), 50);
        assert_eq!(worker_share(101, 2), 51);
        assert_eq!(worker_share(1, 4), 1);
        assert_eq!(worker_share(7, 0), 7);
    }
}
