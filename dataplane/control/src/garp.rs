//! When a master announces its addresses (gratuitous ARP, unsolicited NA), as
//! keepalived's `garp_master_*` settings have it: a burst of `master_repeat` on becoming
//! master, a second burst `master_delay` later, then, when `master_refresh` is set, a
//! burst of `master_refresh_repeat` at that period while master. Pure: the caller gives
//! the time (milliseconds) and sends what [`GarpSchedule::due`] says.

use rvs_config::GarpConfig;

/// The announcement bursts of one master term.
#[derive(Clone, Debug)]
pub struct GarpSchedule {
    config: GarpConfig,
    /// When the second burst goes (ms), while it has not.
    second_at: Option<u64>,
    /// When the next refresh goes (ms), while master and refreshing.
    refresh_at: Option<u64>,
    /// Rounds owed now.
    owed: u32,
}

impl GarpSchedule {
    /// A schedule of a director that is not master.
    pub fn new(config: GarpConfig) -> Self {
        Self {
            config,
            second_at: None,
            refresh_at: None,
            owed: 0,
        }
    }

    /// The director became master at `now`: the first burst is due at once.
    pub fn start(&mut self, now: u64) {
        let after = |d: std::time::Duration| (!d.is_zero()).then(|| now + d.as_millis() as u64);
        self.owed = u32::from(self.config.master_repeat);
        self.second_at = after(self.config.master_delay);
        self.refresh_at = after(self.config.master_refresh);
    }

    /// The director left master: nothing more is due.
    pub fn stop(&mut self) {
        *self = Self::new(self.config);
    }

    /// Rounds due at `now` (each round: every address once), not yet taken.
    pub fn due(&mut self, now: u64) -> u32 {
        if self.second_at.is_some_and(|t| now >= t) {
            self.second_at = None;
            self.owed += u32::from(self.config.master_repeat);
        }
        if let Some(t) = self.refresh_at.filter(|&t| now >= t) {
            let period = self.config.master_refresh.as_millis() as u64;
            // Once per period, however late the caller is.
            self.refresh_at = Some(t + period * ((now - t) / period + 1));
            self.owed += u32::from(self.config.master_refresh_repeat);
        }
        self.owed
    }

    /// `rounds` of what is due were sent.
    pub fn sent(&mut self, rounds: u32) {
        self.owed = self.owed.saturating_sub(rounds);
    }

    /// How many rounds a burst for an address that appears while master has.
    pub fn burst(&self) -> u32 {
        u32::from(self.config.master_repeat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Rounds taken at each of `times` (ms), everything due sent at once.
    fn run(s: &mut GarpSchedule, times: &[u64]) -> Vec<u32> {
        times
            .iter()
            .map(|&t| {
                let n = s.due(t);
                s.sent(n);
                n
            })
            .collect()
    }

    #[test]
    fn a_burst_at_once_then_a_second_after_the_delay_as_keepalived_defaults() {
        let mut s = GarpSchedule::new(GarpConfig::default());
        assert_eq!(s.due(0), 0, "not master");
        s.start(1_000);
        assert_eq!(
            run(&mut s, &[1_000, 1_005, 5_999, 6_000, 6_005, 100_000]),
            [5, 0, 0, 5, 0, 0]
        );
    }

    #[test]
    fn refreshes_come_once_per_period_while_master_and_stop_with_it() {
        let mut s = GarpSchedule::new(GarpConfig {
            master_repeat: 2,
            master_delay: Duration::ZERO,
            master_refresh: Duration::from_secs(60),
            master_refresh_repeat: 1,
        });
        s.start(0);
        assert_eq!(
            run(&mut s, &[0, 59_999, 60_000, 60_010, 121_000, 180_000]),
            [2, 0, 1, 0, 1, 1]
        );
        s.stop();
        assert_eq!(run(&mut s, &[240_000, 1_000_000]), [0, 0]);
    }

    /// What could not be sent (a full queue) stays owed until it is.
    #[test]
    fn what_was_not_sent_stays_due() {
        let mut s = GarpSchedule::new(GarpConfig::default());
        s.start(0);
        assert_eq!(s.due(0), 5);
        s.sent(2);
        assert_eq!(s.due(1), 3);
        s.sent(3);
        assert_eq!(s.due(2), 0);
        // Leaving master drops what was owed.
        s.start(10);
        s.stop();
        assert_eq!(s.due(20_000), 0);
    }
}
