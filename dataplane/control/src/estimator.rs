//! ipvsadm's rate estimator: every 2 seconds, each rate moves a quarter of the way
//! toward the rate of the last 2 seconds (IPVS's `ip_vs_est`, in its fixed-point scale:
//! connections and packets scaled by 2^10, bytes by 2^5, per second).

use rvs_ctl::proto::Rates;

use rvs_pipeline::traffic::Traffic;

/// The estimate of one service or real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    last: Traffic,
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

/// One step of `avg` toward the rate of `delta` units in the last 2 seconds, kept
/// scaled by 2^`shift` per 2 seconds (so 2^(`shift` - 1) per second).
fn step(avg: &mut i64, delta: u64, shift: u32) {
    let rate = (delta.min(i64::MAX as u64 >> 10) as i64) << shift;
    *avg += (rate - *avg) >> 2;
}

impl Estimate {
    /// Take in the counters as they are now (call every 2 seconds).
    pub fn update(&mut self, now: &Traffic) {
        let d = now.since(&self.last);
        step(&mut self.cps, d.conns, 9);
        step(&mut self.inpps, d.inpkts, 9);
        step(&mut self.outpps, d.outpkts, 9);
        step(&mut self.inbps, d.inbytes, 4);
        step(&mut self.outbps, d.outbytes, 4);
        self.last = *now;
    }

    /// Forget the history (after `-Z`), starting from `now`.
    pub fn reset(&mut self, now: &Traffic) {
        *self = Estimate {
            last: *now,
            ..Estimate::default()
        };
    }

    /// The rates per second, rounded as ipvsadm reads them.
    pub fn rates(&self) -> Rates {
        let per_s = |v: i64, shift: u32| ((v.max(0) as u64) + (1 << (shift - 1)) - 1) >> shift;
        Rates {
            cps: per_s(self.cps, 10),
            inpps: per_s(self.inpps, 10),
            outpps: per_s(self.outpps, 10),
            inbps: per_s(self.inbps, 5),
            outbps: per_s(self.outbps, 5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_the_steady_rate() {
        let mut e = Estimate::default();
        let mut t = Traffic::default();
        for _ in 0..200 {
            t.conns += 200; // 100 per second
            t.inpkts += 2000;
            t.inbytes += 2_000_000;
            e.update(&t);
        }
        let r = e.rates();
        assert_eq!(r.cps, 100);
        assert_eq!(r.inpps, 1000);
        assert_eq!(r.inbps, 1_000_000);
        assert_eq!(r.outpps, 0);
        e.reset(&t);
        assert_eq!(e.rates(), Rates::default());
    }
}
