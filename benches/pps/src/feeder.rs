//! The feeder: keeps every receive queue of the harness's ring device supplied.
//!
//! The device's queue `w` is a pair of rings: what the feeder puts in the receive ring,
//! worker `w` receives; what worker `w` transmits lands in the transmit ring. The
//! feeder, a thread of its own, takes each transmitted frame back, overwrites it with
//! the next frame of that worker's traffic (see `traffic`) and puts it in the receive
//! ring again: a fixed number of mbufs circulates per worker, no allocation. A frame the
//! director sent that opens a connection toward the real also teaches the feeder the
//! real's reply (NAT, FULLNAT), which then takes its slot in the traffic.
//!
//! The frames counted are those that came back: each one a whole trip through the
//! director. The feeder's own work (a 60-byte copy per frame, two ring operations per
//! burst) is part of the I/O floor measured on the same device.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rvs_dpdk::ring::DeviceQueue;
use rvs_dpdk::{Mbuf, Mempool};

use crate::traffic::WorkerTraffic;

/// Frames per ring operation (the director's burst).
pub const BURST: usize = 32;

/// Longest the warm-up may take before the run is abandoned.
const WARMUP_LIMIT: Duration = Duration::from_secs(300);

/// Time left for frames in flight to come back before the idle measurement.
const DRAIN: Duration = Duration::from_millis(300);

/// How long a lane may get nothing back, with its receive ring empty, before the feeder
/// takes it that the director dropped its frames and adds new ones.
const STALL: Duration = Duration::from_millis(50);

/// What the feeder does, in order.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Send each connection's SYN first, and wait for that before measuring.
    pub warmup: bool,
    /// How long to measure under load.
    pub load: Duration,
    /// Then stop sending and measure the process's CPU use for this long.
    pub idle: Option<Duration>,
}

/// What the feeder measured.
#[derive(Clone, Debug, Default)]
pub struct FeedReport {
    /// Seconds the warm-up took (0 without one).
    pub warmup_secs: f64,
    /// Frames each worker sent back during the load window.
    pub per_worker: Vec<u64>,
    /// Seconds of the load window.
    pub load_secs: f64,
    /// Replies learned (NAT, FULLNAT).
    pub learned: usize,
    /// Process CPU time over the idle window, as a fraction of one CPU.
    pub idle_cpu: Option<f64>,
}

impl FeedReport {
    /// Frames per second over the load window, all workers.
    pub fn total_mpps(&self) -> f64 {
        self.per_worker.iter().sum::<u64>() as f64 / self.load_secs.max(f64::MIN_POSITIVE) / 1e6
    }
}

/// One worker's queue as the feeder sees it.
struct Lane {
    ends: DeviceQueue,
    traffic: WorkerTraffic,
    /// Next SYN to send during the warm-up.
    next_syn: usize,
    /// Next frame of the steady sequence.
    next: usize,
    /// Frames back since the window opened.
    back: u64,
    /// Since when nothing came back while the receive ring was empty.
    stalled_since: Option<Instant>,
}

impl Lane {
    /// The frame to send next.
    #[inline]
    fn next_frame(&mut self, warming: bool) -> Option<crate::traffic::Frame> {
        if warming && self.next_syn < self.traffic.flows() {
            self.next_syn += 1;
            return Some(self.traffic.syn(self.next_syn - 1));
        }
        let seq = self.traffic.sequence();
        let f = *seq.get(self.next)?;
        self.next += 1;
        if self.next == seq.len() {
            self.next = 0;
        }
        Some(f)
    }
}

/// The feeder of one ring device.
pub struct Feeder {
    lanes: Vec<Lane>,
    pool: Mempool,
    inflight: usize,
    burst: Vec<Mbuf>,
}

impl Feeder {
    /// A feeder putting `inflight` frames per worker into `queues` (one per worker),
    /// with frames from `pool` and `traffic[w]` for worker `w`.
    pub fn new(
        pool: Mempool,
        queues: Vec<DeviceQueue>,
        traffic: Vec<WorkerTraffic>,
        inflight: usize,
    ) -> Self {
        let lanes = queues
            .into_iter()
            .zip(traffic)
            .map(|(ends, traffic)| Lane {
                ends,
                traffic,
                next_syn: 0,
                next: 0,
                back: 0,
                stalled_since: None,
            })
            .collect();
        Self {
            lanes,
            pool,
            inflight,
            burst: Vec::with_capacity(BURST),
        }
    }

    /// Give the traffic back (the floor's feeder hands it to the director's).
    pub fn into_traffic(self) -> Vec<WorkerTraffic> {
        self.lanes.into_iter().map(|l| l.traffic).collect()
    }

    /// Run `schedule`, then raise `stop`. `Err` when the warm-up never finished.
    pub fn run(&mut self, schedule: Schedule, stop: &AtomicBool) -> Result<FeedReport, String> {
        let result = self.run_schedule(schedule, stop);
        stop.store(true, Ordering::SeqCst);
        result
    }

    fn run_schedule(
        &mut self,
        schedule: Schedule,
        stop: &AtomicBool,
    ) -> Result<FeedReport, String> {
        let mut report = FeedReport::default();
        let started = Instant::now();
        for w in 0..self.lanes.len() {
            self.top_up(w, self.inflight, schedule.warmup);
        }
        if schedule.warmup {
            while self.lanes.iter().any(|l| l.next_syn < l.traffic.flows()) {
                if stop.load(Ordering::Relaxed) || started.elapsed() > WARMUP_LIMIT {
                    return Err("the warm-up did not finish (is the director forwarding?)".into());
                }
                self.round(true, true);
            }
            report.warmup_secs = started.elapsed().as_secs_f64();
        }
        for lane in &mut self.lanes {
            lane.back = 0;
        }
        let window = Instant::now();
        while window.elapsed() < schedule.load && !stop.load(Ordering::Relaxed) {
            self.round(true, false);
        }
        report.load_secs = window.elapsed().as_secs_f64();
        report.per_worker = self.lanes.iter().map(|l| l.back).collect();
        report.learned = self.lanes.iter().map(|l| l.traffic.learned()).sum();
        if let Some(idle) = schedule.idle {
            let drain = Instant::now();
            while drain.elapsed() < DRAIN {
                self.round(false, false);
            }
            let before = process_cpu_ticks();
            let t = Instant::now();
            std::thread::sleep(idle);
            let secs = t.elapsed().as_secs_f64();
            report.idle_cpu = before
                .zip(process_cpu_ticks())
                .map(|(a, b)| (b.saturating_sub(a)) as f64 / CLOCK_TICKS_PER_SEC / secs);
        }
        Ok(report)
    }

    /// One pass over the lanes: take back what each worker sent and, when `feeding`,
    /// send it again rewritten (otherwise free it).
    fn round(&mut self, feeding: bool, warming: bool) {
        for w in 0..self.lanes.len() {
            let lane = &mut self.lanes[w];
            let n = lane.ends.tx.dequeue_burst(&mut self.burst, BURST);
            if n == 0 {
                // Frames the director dropped do not come back: when the lane has run
                // dry for a while, supply it again.
                if feeding && lane.ends.rx.is_empty() {
                    let since = *lane.stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > STALL {
                        lane.stalled_since = None;
                        self.top_up(w, BURST, warming);
                    }
                }
                continue;
            }
            lane.stalled_since = None;
            lane.back += n as u64;
            if !feeding {
                self.burst.clear();
                continue;
            }
            for m in &mut self.burst {
                if warming || lane.traffic.learned() < lane.traffic.flows() {
                    lane.traffic.learn_reply(m.data());
                }
                match lane.next_frame(warming) {
                    Some(f) => {
                        // An mbuf always holds a 60-byte frame.
                        let _ = m.set_frame(&f);
                    }
                    None => break,
                }
            }
            lane.ends.rx.enqueue_burst(&mut self.burst);
            // Did not fit (cannot happen: the ring holds more than circulates): freed.
            self.burst.clear();
        }
    }

    /// Put up to `n` new frames into lane `w` (fewer when the pool runs short).
    fn top_up(&mut self, w: usize, n: usize, warming: bool) {
        let lane = &mut self.lanes[w];
        for _ in 0..n {
            let Some(frame) = lane.next_frame(warming) else {
                break;
            };
            let Some(mut m) = self.pool.alloc() else {
                break;
            };
            if m.set_frame(&frame).is_err() {
                break;
            }
            self.burst.push(m);
            if self.burst.len() == BURST {
                lane.ends.rx.enqueue_burst(&mut self.burst);
                self.burst.clear();
            }
        }
        lane.ends.rx.enqueue_burst(&mut self.burst);
        self.burst.clear();
    }
}

/// `USER_HZ`: the unit of the CPU times in `/proc` (100 on every Linux architecture
/// rvs runs on).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU time of this process (all threads), in clock ticks.
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
