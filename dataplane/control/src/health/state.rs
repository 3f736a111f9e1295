//! Rise and fall: the health state of one real, moved by consecutive probe results.

use std::time::{Duration, Instant};

use super::ProbeResult;

/// The health state of one checked real.
#[derive(Clone, Debug)]
pub struct RealState {
    /// Up (scheduled) or down.
    pub up: bool,
    /// Consecutive successes (reset by a failure).
    pub successes: u32,
    /// Consecutive failures (reset by a success).
    pub failures: u32,
    /// The last result, `None` before the first.
    pub last: Option<ProbeResult>,
    /// When the real entered its current state (or checking started).
    pub since: Instant,
    /// Up/down transitions so far.
    pub transitions: u64,
    /// Probes so far.
    pub checks: u64,
    /// How long the last probe took.
    pub last_duration: Duration,
    /// The weight a dynamic misc check set last, if any.
    pub dynamic_weight: Option<u32>,
}

impl RealState {
    /// A real as checking starts: up (keepalived's default, without `alpha`), so a
    /// director that starts or reloads does not take every real out until probes pass.
    pub fn new(now: Instant) -> Self {
        Self {
            up: true,
            successes: 0,
            failures: 0,
            last: None,
            since: now,
            transitions: 0,
            checks: 0,
            last_duration: Duration::ZERO,
            dynamic_weight: None,
        }
    }

    /// Take one probe result; true when the real went up or down.
    pub fn record(
        &mut self,
        result: ProbeResult,
        took: Duration,
        rise: u32,
        fall: u32,
        now: Instant,
    ) -> bool {
        self.checks += 1;
        self.last_duration = took;
        match &result {
            Ok(weight) => {
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                if weight.is_some() {
                    self.dynamic_weight = *weight;
                }
            }
            Err(_) => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
            }
        }
        self.last = Some(result);
        let flip = if self.up {
            self.failures >= fall
        } else {
            self.successes >= rise
        };
        if flip {
            self.up = !self.up;
            self.since = now;
            self.transitions += 1;
        }
        flip
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::ProbeFailure;

    fn feed(s: &mut RealState, results: &[bool]) -> Vec<bool> {
        let now = Instant::now();
        results
            .iter()
            .map(|&ok| {
                let r = if ok {
                    Ok(None)
                } else {
                    Err(ProbeFailure::TimedOut)
                };
                s.record(r, Duration::ZERO, 2, 3, now);
                s.up
            })
            .collect()
    }

    #[test]
    fn starts_up_falls_after_fall_failures_rises_after_rise_successes() {
        let mut s = RealState::new(Instant::now());
        assert!(s.up);
        // fall = 3: two failures and a success change nothing; three in a row do.
        assert_eq!(
            feed(&mut s, &[false, false, true, false, false, false]),
            [true, true, true, true, true, false]
        );
        // rise = 2: a success, a failure, then two successes.
        assert_eq!(
            feed(&mut s, &[true, false, true, true]),
            [false, false, false, true]
        );
        assert_eq!(s.transitions, 2);
        assert_eq!(s.checks, 10);
    }

    #[test]
    fn a_dynamic_weight_sticks_until_the_next_one() {
        let mut s = RealState::new(Instant::now());
        let now = Instant::now();
        s.record(Ok(Some(7)), Duration::ZERO, 1, 1, now);
        s.record(Ok(None), Duration::ZERO, 1, 1, now);
        assert_eq!(s.dynamic_weight, Some(7));
        s.record(Ok(Some(0)), Duration::ZERO, 1, 1, now);
        assert_eq!(s.dynamic_weight, Some(0));
        assert!(s.up);
    }
}
