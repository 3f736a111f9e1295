//! The whole machine's CPU time, from `/proc/stat` (every namespace shares it).

/// Busy and total CPU time of the machine so far, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// Reads the `cpu` line of `/proc/stat`.
    pub fn now() -> CpuTimes {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        CpuTimes::parse(&text).unwrap_or_else(|| panic!("no cpu line in /proc/stat: {text}"))
    }

    /// The aggregate `cpu` line: user nice system idle iowait irq softirq steal ...
    fn parse(stat: &str) -> Option<CpuTimes> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| f.get(i).copied().unwrap_or(0);
        // guest and guest_nice are already counted in user and nice.
        let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
        Some(CpuTimes {
            busy,
            total: busy + at(3) + at(4),
        })
    }

    /// CPU-seconds the machine was busy since `earlier` (all CPUs together), given the
    /// kernel's clock ticks per second.
    pub fn busy_seconds_since(&self, earlier: &CpuTimes, ticks_per_second: f64) -> f64 {
        self.busy.saturating_sub(earlier.busy) as f64 / ticks_per_second
    }

    /// The share of the machine's CPU time that was busy since `earlier` (0 to 1).
    pub fn busy_share_since(&self, earlier: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.busy.saturating_sub(earlier.busy) as f64 / total as f64
    }
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux in practice).
pub fn ticks_per_second() -> f64 {
    let out = crate::cmd::run(&["getconf", "CLK_TCK"]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let a = CpuTimes::parse("cpu  10 1 5 100 4 1 2 3 7 0\ncpu0 1 2 3\n").expect("cpu");
        let b = CpuTimes::parse("cpu  20 1 15 180 4 1 2 3 7 0\n").expect("cpu");
        assert_eq!(b.busy_seconds_since(&a, 100.0), 0.2);
        assert_eq!(b.busy_share_since(&a), 0.2);
    }
}
