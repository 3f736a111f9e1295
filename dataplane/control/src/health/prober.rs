//! Probes off the control core: one scheduler thread keeps every checked real's next
//! probe time and hands due probes to a bounded pool of probe threads; results go back
//! to the control core through a channel, which it drains in its tick.
//!
//! A real has at most one probe in flight; its next probe starts `interval` after the
//! start of the last one (later if the last one is still running or the pool is busy).
//! Every probe ends within its timeout, so a pool of [`MAX_PROBE_THREADS`] threads gets
//! through at least `MAX_PROBE_THREADS / timeout` probes a second even when every target
//! hangs; beyond that, intervals stretch rather than the control core waiting.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rvs_conntrack::Proto;

use super::{run_probe, ProbeResult, RealKey};
use rvs_config::CheckConfig;

/// Most probe threads.
pub const MAX_PROBE_THREADS: usize = 16;

/// Longest the scheduler sleeps with nothing due.
const IDLE: Duration = Duration::from_secs(1);

/// One real to probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Which real of which service.
    pub key: RealKey,
    /// The address probed (the real's address, the check's port or the real's).
    pub addr: SocketAddr,
    /// The service's check.
    pub check: Arc<CheckConfig>,
}

/// One probe's result.
#[derive(Debug)]
pub struct Report {
    /// The real probed.
    pub key: RealKey,
    /// Up (with a dynamic weight) or why not.
    pub result: ProbeResult,
    /// How long the probe took.
    pub took: Duration,
}

enum Message {
    Targets(Vec<Target>),
    Done(Report),
    Stop,
}

/// The running scheduler and pool.
pub struct Prober {
    to_scheduler: Sender<Message>,
    scheduler: Option<JoinHandle<()>>,
}

impl Prober {
    /// Start the scheduler thread; reports arrive on the returned receiver.
    pub fn start() -> std::io::Result<(Self, Receiver<Report>)> {
        let (to_scheduler, inbox) = mpsc::channel();
        let (to_control, reports) = mpsc::channel();
        let back = to_scheduler.clone();
        let scheduler = std::thread::Builder::new()
            .name("rvs-health".into())
            .spawn(move || Scheduler::new(back, to_control).run(&inbox))?;
        Ok((
            Self {
                to_scheduler,
                scheduler: Some(scheduler),
            },
            reports,
        ))
    }

    /// Probe exactly `targets` from now on (unchanged ones keep their timing).
    pub fn set_targets(&self, targets: Vec<Target>) {
        let _ = self.to_scheduler.send(Message::Targets(targets));
    }
}

impl Drop for Prober {
    /// Stop the scheduler; probe threads end after their current probe.
    fn drop(&mut self) {
        let _ = self.to_scheduler.send(Message::Stop);
        if let Some(t) = self.scheduler.take() {
            let _ = t.join();
        }
    }
}

struct Entry {
    target: Target,
    due: Instant,
    started: Instant,
    in_flight: bool,
}

/// A [`RealKey`] in the schedule's order (by VIP, real, then protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Slot(SocketAddr, SocketAddr, bool);

impl Slot {
    fn of(key: RealKey) -> Self {
        Slot(key.vip, key.real, key.proto == Proto::Udp)
    }

    fn key(self) -> RealKey {
        RealKey {
            proto: if self.2 { Proto::Udp } else { Proto::Tcp },
            vip: self.0,
            real: self.1,
        }
    }
}

struct Job {
    target: Target,
}

struct Scheduler {
    entries: HashMap<RealKey, Entry>,
    queue: BinaryHeap<Reverse<(Instant, Slot)>>,
    jobs: Option<Sender<Job>>,
    job_inbox: Arc<Mutex<Receiver<Job>>>,
    threads: usize,
    back: Sender<Message>,
    to_control: Sender<Report>,
}

impl Scheduler {
    fn new(back: Sender<Message>, to_control: Sender<Report>) -> Self {
        let (jobs, job_inbox) = mpsc::channel();
        Self {
            entries: HashMap::new(),
            queue: BinaryHeap::new(),
            jobs: Some(jobs),
            job_inbox: Arc::new(Mutex::new(job_inbox)),
            threads: 0,
            back,
            to_control,
        }
    }

    fn run(mut self, inbox: &Receiver<Message>) {
        loop {
            let now = Instant::now();
            self.dispatch(now);
            let wait = self
                .queue
                .peek()
                .map_or(IDLE, |Reverse((due, _))| due.saturating_duration_since(now));
            match inbox.recv_timeout(wait) {
                Ok(Message::Targets(list)) => self.set(list),
                Ok(Message::Done(report)) => {
                    if let Some(e) = self.entries.get_mut(&report.key) {
                        e.in_flight = false;
                        e.due = (e.started + e.target.check.interval).max(Instant::now());
                        self.queue.push(Reverse((e.due, Slot::of(report.key))));
                    }
                    if self.to_control.send(report).is_err() {
                        break;
                    }
                }
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        // Dropping the job sender ends every probe thread once its probe is done.
        self.jobs = None;
    }

    /// Replace the target list: unchanged targets keep their schedule, new or changed
    /// ones are due now.
    fn set(&mut self, list: Vec<Target>) {
        let now = Instant::now();
        let mut next = HashMap::with_capacity(list.len());
        for target in list {
            let key = target.key;
            let entry = match self.entries.remove(&key) {
                Some(old) if old.target == target => old,
                old => {
                    self.queue.push(Reverse((now, Slot::of(key))));
                    Entry {
                        target,
                        due: now,
                        started: now,
                        in_flight: old.is_some_and(|o| o.in_flight),
                    }
                }
            };
            next.insert(key, entry);
        }
        self.entries = next;
        while self.threads < self.entries.len().min(MAX_PROBE_THREADS) {
            if !self.spawn_thread() {
                break;
            }
        }
    }

    /// Hand every due probe to the pool.
    fn dispatch(&mut self, now: Instant) {
        while let Some(&Reverse((due, slot))) = self.queue.peek() {
            if due > now {
                break;
            }
            self.queue.pop();
            let key = slot.key();
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            // Stale queue entries (rescheduled or in flight) are skipped.
            if e.in_flight || e.due != due {
                continue;
            }
            e.in_flight = true;
            e.started = now;
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(Job {
                    target: e.target.clone(),
                });
            }
        }
    }

    fn spawn_thread(&mut self) -> bool {
        let inbox = Arc::clone(&self.job_inbox);
        let back = self.back.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rvs-probe-{}", self.threads))
            .spawn(move || probe_thread(&inbox, &back));
        match spawned {
            Ok(_) => {
                self.threads += 1;
                true
            }
            Err(e) => {
                crate::error!("health: cannot start a probe thread: {e}");
                false
            }
        }
    }
}

/// Take jobs until the scheduler stops, report each result.
fn probe_thread(inbox: &Mutex<Receiver<Job>>, back: &Sender<Message>) {
    loop {
        let job = inbox.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(Job { target }) = job else { return };
        let start = Instant::now();
        let result = run_probe(target.addr, &target.check);
        let report = Report {
            key: target.key,
            result,
            took: start.elapsed(),
        };
        if back.send(Message::Done(report)).is_err() {
            return;
        }
    }
}
