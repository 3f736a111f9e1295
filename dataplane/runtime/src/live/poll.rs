//! The poll loop of one worker lcore.
//!
//! Each round: receive a burst from each of the worker's queues; steer every frame (not
//! ours: to its owner's ring; ours: staged, then through the pipeline as one burst, see
//! `Worker::run_staged`); take in what the other workers put in our rings (also as a
//! burst); flush the transmit buffers and outboxes. The pipeline's clock is
//! advanced from the timestamp counter once per round and `tick`ed once per millisecond;
//! counters are published every [`PUBLISH_MS`].
//!
//! With `[dataplane] idle = "backoff"` a worker whose polls keep coming back empty
//! sleeps between them ([`Backoff`]): after [`IDLE_ROUNDS`] empty rounds in a row it
//! sleeps 1 µs, then twice as long after each further empty round, up to `idle_max_us`;
//! the first frame puts it back to busy polling. The kernel's timer slack (50 µs by
//! default for normal threads) lengthens the short sleeps, so a frame arriving at an
//! idle worker waits up to about `idle_max_us` + 50 µs, and the receive ring must hold
//! what arrives meanwhile. Busy polling (`idle = "busy"`, the default) never sleeps.
//!
//! ARP replies and neighbour advertisements are learned by every worker, since each has
//! its own neighbour table and its own parked frames: the worker that receives one also
//! sends a copy to every other worker. Before the first round, worker 0 asks for every
//! configured next hop (route gateways, reals) and the others wait for the answers, so
//! that connections do not wait for resolution after a start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rvs_dpdk::ring::Consumer;
use rvs_dpdk::{Mbuf, RxQueue};

use super::buf::MbufBuf;
use super::io::{LiveIo, Tag};
use super::plan::BURST;
use rvs_config::{IdlePolicy, PortId};
use rvs_packet::duties::learn_neighbor;
use rvs_packet::wire::parse_frame;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::steer;
use rvs_pipeline::update::{Dump, Mailbox, Published, Update};
use rvs_pipeline::worker::Worker;

/// How often a worker publishes its counters, in milliseconds.
pub const PUBLISH_MS: u64 = 100;

/// Connection-table slots a worker copies per poll round for a listing (a few
/// microseconds of work, so a listing never stalls forwarding).
const DUMP_SLOTS_PER_ROUND: usize = 4096;

/// Empty rounds in a row after which an idle worker starts sleeping (`idle = "backoff"`).
pub const IDLE_ROUNDS: u32 = 1024;

/// The idle back-off of one worker: how long to sleep after a poll round.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    empty_rounds: u32,
    sleep_us: u32,
    max_us: u32,
}

impl Backoff {
    /// The back-off for `policy`; `None` for busy polling.
    pub fn new(policy: IdlePolicy) -> Option<Self> {
        match policy {
            IdlePolicy::Busy => None,
            IdlePolicy::Backoff { max_sleep_us } => Some(Self {
                empty_rounds: 0,
                sleep_us: 0,
                max_us: max_sleep_us.max(1),
            }),
        }
    }

    /// After a round that received `got` frames: the pause to take before the next one.
    #[inline]
    pub fn after_round(&mut self, got: usize) -> Option<Duration> {
        if got > 0 {
            self.empty_rounds = 0;
            self.sleep_us = 0;
            return None;
        }
        if self.empty_rounds < IDLE_ROUNDS {
            self.empty_rounds += 1;
            return None;
        }
        self.sleep_us = self.sleep_us.saturating_mul(2).clamp(1, self.max_us);
        Some(Duration::from_micros(u64::from(self.sleep_us)))
    }
}

/// Milliseconds from the timestamp counter.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    tsc0: u64,
    ticks_per_ms: u64,
    base_ms: u64,
}

impl Clock {
    /// A clock reading `base_ms` now, counting `tsc_hz` ticks per second.
    pub fn new(base_ms: u64, tsc_hz: u64) -> Self {
        Self {
            tsc0: rvs_dpdk::rdtsc(),
            ticks_per_ms: (tsc_hz / 1000).max(1),
            base_ms,
        }
    }

    /// Milliseconds now.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.base_ms + rvs_dpdk::rdtsc().wrapping_sub(self.tsc0) / self.ticks_per_ms
    }
}

/// Everything one worker lcore owns.
pub struct WorkerLoop {
    /// The pipeline.
    pub worker: Worker<MbufBuf>,
    /// The configuration it forwards with (for steering).
    pub snap: Arc<Snapshot>,
    /// The receive queues it polls, with their ports.
    pub rx: Vec<(PortId, RxQueue)>,
    /// The rings the other workers fill for it.
    pub inbox: Vec<Consumer>,
    /// Its I/O.
    pub io: LiveIo,
    /// The clock.
    pub clock: Clock,
    /// Set when the director stops.
    pub stop: Arc<AtomicBool>,
    /// Where its counters go.
    pub slot: Arc<Mutex<Published>>,
    /// The idle back-off; `None` to poll without pause.
    pub backoff: Option<Backoff>,
    /// Configuration updates and table dumps from the control core.
    pub mailbox: Arc<Mailbox>,
    /// Poll rounds, and those that found work.
    pub rounds: (u64, u64),
    /// A table copy under way for the control core.
    pub dump: Option<Box<Dump>>,
}

impl WorkerLoop {
    /// Poll until the stop flag is set, then flush and publish a last time.
    pub fn run(mut self) {
        // Resolve the gateways and reals now, so that the first connections find them
        // resolved instead of waiting behind them. Worker 0 asks; the others learn the
        // answers from its copies (and ask themselves if none came within an interval).
        let ask = self.worker.id() == 0;
        self.worker
            .resolve_next_hops(self.clock.now_ms(), ask, &mut self.io);
        self.io.flush();
        let mut burst: Vec<Mbuf> = Vec::with_capacity(BURST);
        let mut last_tick = 0;
        let mut next_publish = 0;
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(update) = self.mailbox.take() {
                self.take_update(*update);
            }
            let now = self.clock.now_ms();
            if self.dump.is_none() {
                self.dump = self.mailbox.dump_to_fill();
            }
            if let Some(mut dump) = self.dump.take() {
                if self.worker.fill_dump(&mut dump, now, DUMP_SLOTS_PER_ROUND) {
                    self.mailbox.dumped(dump);
                } else {
                    self.dump = Some(dump);
                }
            }
            if now != last_tick {
                self.worker.tick(now, &mut self.io);
                last_tick = now;
            }
            if now >= next_publish {
                self.publish();
                next_publish = now + PUBLISH_MS;
            }
            let mut got = 0;
            for (port, queue) in &mut self.rx {
                got += queue.rx_burst(&mut burst, BURST);
                for m in burst.drain(..) {
                    received(&mut self.worker, &self.snap, &mut self.io, *port, m, now);
                }
                self.worker.run_staged(now, &mut self.io);
            }
            for ring in &mut self.inbox {
                got += ring.dequeue_burst(&mut burst, BURST);
                for m in burst.drain(..) {
                    steered(&mut self.worker, &mut self.io, m, now);
                }
                self.worker.run_staged(now, &mut self.io);
            }
            self.io.flush();
            self.rounds.0 += 1;
            if got > 0 {
                self.rounds.1 += 1;
            }
            if let Some(pause) = self.backoff.as_mut().and_then(|b| b.after_round(got)) {
                std::thread::sleep(pause);
            }
        }
        self.io.flush();
        self.publish();
    }

    /// Switch steering and the pipeline to a new configuration together, between
    /// bursts, and hand what they replaced back to the control core.
    fn take_update(&mut self, update: Update) {
        let generation = update.generation;
        self.snap = Arc::clone(&update.snap);
        let garbage = self.worker.take_update(update);
        self.mailbox.taken(generation, garbage);
        // New reals and gateways are resolved before their first connection needs them.
        let ask = self.worker.id() == 0;
        self.worker
            .resolve_next_hops(self.clock.now_ms(), ask, &mut self.io);
    }

    /// Copy the counters into the slot (reusing the slot's allocations).
    fn publish(&mut self) {
        let mut io = self.io.counters;
        io.rx_chained = self.rx.iter().map(|(_, q)| q.chained_drops()).sum();
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        self.worker.publish_to(&mut slot);
        io.publish_to(&mut slot.pipeline);
        slot.io = io;
        (slot.rounds, slot.busy_rounds) = self.rounds;
    }
}

/// A frame from one of our receive queues: steer it to its owner, or run it here.
#[inline]
fn received(
    worker: &mut Worker<MbufBuf>,
    snap: &Snapshot,
    io: &mut LiveIo,
    port: PortId,
    m: Mbuf,
    now_ms: u64,
) {
    // What the kernel sends out of a port's mirror leaves at once; a frame that does
    // not parse goes to the pipeline, which counts the drop.
    if snap.port(port).mirror_of.is_some() {
        worker.stage(port, MbufBuf(m), now_ms, io);
        return;
    }
    let Ok(info) = parse_frame(m.data()) else {
        worker.stage(port, MbufBuf(m), now_ms, io);
        return;
    };
    match steer::owner(snap, &info) {
        Some(owner) if owner != worker.id() => {
            io.counters.redirected += 1;
            io.steer(owner, Tag::Rx(port), m);
            return;
        }
        Some(_) => {}
        None => {
            if snap.workers > 1 && learn_neighbor(m.data(), &info).is_some() {
                io.copy_to_all(port, m.data());
            }
        }
    }
    // The pipeline reuses the parse that steering needed.
    worker.stage_parsed(port, MbufBuf(m), &info, now_ms, io);
}

/// A frame from another worker's ring.
#[inline]
fn steered(worker: &mut Worker<MbufBuf>, io: &mut LiveIo, mut m: Mbuf, now_ms: u64) {
    match Tag::pop(&mut m) {
        Some(Tag::Rx(port)) => worker.stage(port, MbufBuf(m), now_ms, io),
        Some(Tag::Tx(port)) => io.transmit(port, m),
        // Cannot happen: only outboxes fill the rings, and they tag every frame.
        None => drop(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(b: &mut Backoff, got: usize) -> Option<u128> {
        b.after_round(got).map(|d| d.as_micros())
    }

    #[test]
    fn busy_polling_never_sleeps() {
        assert!(Backoff::new(IdlePolicy::Busy).is_none());
    }

    #[test]
    fn backoff_doubles_to_its_maximum_and_a_frame_resets_it() {
        let mut b = Backoff::new(IdlePolicy::Backoff { max_sleep_us: 20 }).unwrap();
        for _ in 0..IDLE_ROUNDS {
            assert_eq!(
                micros(&mut b, 0),
                None,
                "spins through the first empty rounds"
            );
        }
        let sleeps: Vec<_> = (0..7).map(|_| micros(&mut b, 0)).collect();
        let want = [1, 2, 4, 8, 16, 20, 20].map(Some);
        assert_eq!(sleeps, want);
        assert_eq!(micros(&mut b, 3), None, "a frame: back to polling");
        assert_eq!(
            micros(&mut b, 0),
            None,
            "and the count of empty rounds starts again"
        );
    }
}
