//! Connection sync at scale, in one process and in simulated time: a master's worker,
//! its control core, a backup's control core and the backup's worker, with the
//! queues, tick and poll periods and budgets of a live director between them, and no
//! network: the frames the master's worker 0 sends (64 a tick at most, routed and
//! addressed as on a live director) go straight into the backup's receive queue.
//!
//! 1. The master holds 1 000 000 established NAT connections. A backup joins (its
//!    request for everything reaches the master): how long until it holds them all.
//! 2. Then 50 000 new connections a second (each a SYN, and its ACK a millisecond
//!    later) for 5 s on top: how long each takes from its SYN on the master to its
//!    install on the backup (p50, p99, max).
//!
//! Each part's wall time is measured as it runs, per simulated second: a part that
//! needs less than one second per simulated second keeps up on a core of its own, as
//! each does on a live director. `cargo bench -p rvs-control --bench sync_scale`
//! (about a minute; 1.4 GiB of connection tables).

#[path = "common/sync_lab.rs"]
mod sync_lab;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_config::PortId;
use rvs_conntrack::{ConnKey, Proto};
use rvs_control::ha_sync::SyncRunner;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::ha::sync_wire::SchemeTag;
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::ownership::Ownership;
use rvs_pipeline::service::Services;
use rvs_pipeline::worker::{CollectIo, Worker};

use sync_lab::*;

const CAPACITY: usize = 1 << 21;
const ESTABLISHED: u32 = 1_000_000;
const NEW_PER_MS: u32 = 50;
const STEADY_MS: u64 = 5_000;
/// The control core's poll period; the backup's polls fall between the master's.
const POLL_MS: u64 = 20;
/// Pending new connections looked up on the backup after each of its ticks.
const LOOKUPS_PER_TICK: usize = 4096;
/// The Unix clock at simulated time 0.
const EPOCH_MS: u64 = 1_700_000_000_000;

/// One director: its worker, link, sync runner and the wall time of each part.
struct Director {
    worker: Worker<HeapBuf>,
    link: Arc<HaLink>,
    runner: SyncRunner,
    io: CollectIo,
    worker_time: Duration,
    control_time: Duration,
}

impl Director {
    fn new(address: &str, peer: &str, master: bool) -> Self {
        let refresh = rvs_config::DEFAULT_SYNC_REFRESH;
        let (link, runner) = director_sync(address, peer, master, refresh);
        Self {
            worker: worker(&config(CAPACITY)),
            link,
            runner,
            io: CollectIo::default(),
            worker_time: Duration::ZERO,
            control_time: Duration::ZERO,
        }
    }

    fn packet(&mut self, frame: &[u8], now: u64) {
        let start = Instant::now();
        let buf = HeapBuf::from_frame(frame).unwrap();
        self.worker.process(PortId(0), buf, now, &mut self.io);
        self.io.sent.clear();
        self.worker_time += start.elapsed();
    }

    /// The worker's tick, timed (its sync work, worker 0's sending of the control
    /// core's frames, and the expiry and neighbour work every tick does); what it sent
    /// stays in `io.sent`.
    fn tick(&mut self, now: u64) {
        let start = Instant::now();
        self.worker.tick(now, &mut self.io);
        self.worker_time += start.elapsed();
    }
}

/// The two directors, the clock, and what is under way.
struct Lab {
    master: Director,
    backup: Director,
    ownership: Ownership,
    now: u64,
    /// The backup is there: frames reach it.
    connected: bool,
    /// Frames worker 0 could not hand to the backup (its receive queue was full).
    lost_frames: u64,
    /// Frames that reached the backup's queue.
    delivered: u64,
    /// New connections not yet installed on the backup: (client, SYN time).
    pending: VecDeque<(u32, u64)>,
    latencies: Vec<u64>,
}

impl Lab {
    /// One simulated millisecond: `new` clients send their SYN (and the previous
    /// millisecond's their ACK), then every part does what it does at that time.
    fn step(&mut self, new: std::ops::Range<u32>, acks: std::ops::Range<u32>) {
        self.now += 1;
        let now = self.now;
        for n in acks {
            self.master.packet(&segment(n, false), now);
        }
        for n in new {
            self.master.packet(&segment(n, true), now);
            self.pending.push_back((n, now));
        }
        self.master.tick(now);
        let unix = EPOCH_MS + now;
        let scheme = SchemeTag::of_ownership(&self.ownership);
        if now % POLL_MS == 0 {
            let start = Instant::now();
            self.master.runner.send(&self.master.link, scheme, unix);
            self.master.control_time += start.elapsed();
        }
        // What the master's worker 0 sent (64 frames a tick at most) reaches the backup,
        // whose worker takes each into the queue to its control core (its bound applies).
        for (_, buf) in self.master.io.sent.drain(..) {
            if self.connected {
                match self.backup.link.queue_sync_message(PortId(0), buf.data()) {
                    Ok(()) => self.delivered += 1,
                    Err(_) => self.lost_frames += 1,
                }
            }
        }
        if now % POLL_MS == POLL_MS / 2 {
            let start = Instant::now();
            while let Some(f) = self.backup.link.take_sync_message() {
                let (link, own) = (&self.backup.link, &self.ownership);
                let services = &Services::default();
                self.backup
                    .runner
                    .receive(&f, false, link, own, services, unix);
            }
            self.backup
                .runner
                .send_request(&self.backup.link, scheme, unix);
            self.backup.control_time += start.elapsed();
            // The backup's request, the other way (the master's control core takes it
            // at its next poll; it is one frame, taken here).
            while let Some(f) = self.backup.link.next_to_send() {
                let link = &self.master.link;
                self.master.runner.receive(
                    &f,
                    true,
                    link,
                    &self.ownership,
                    &Services::default(),
                    unix,
                );
            }
        }
        self.backup.tick(now);
        self.backup.io.sent.clear();
        // The oldest pending connections (a lost record holds up no other).
        let mut i = 0;
        while i < self.pending.len().min(LOOKUPS_PER_TICK) {
            let (n, at) = self.pending[i];
            if self.backup_has(n) {
                self.latencies.push(now - at);
                self.pending.remove(i);
            } else {
                i += 1;
            }
        }
    }

    fn backup_has(&self, n: u32) -> bool {
        let (ip, port) = client(n);
        let key = ConnKey {
            proto: Proto::Tcp,
            src: ip.into(),
            sport: port,
            dst: "10.0.0.100".parse().unwrap(),
            dport: 80,
        };
        self.backup.worker.conns().lookup(&key).is_some()
    }

    /// Resets the time spent by each part.
    fn reset_times(&mut self) {
        for d in [&mut self.master, &mut self.backup] {
            d.worker_time = Duration::ZERO;
            d.control_time = Duration::ZERO;
        }
    }

    /// Wall time per simulated second of each part, over `simulated_ms`, and what
    /// each side counted.
    fn report_times(&self, simulated_ms: u64) {
        let b = self.backup.runner.status(&self.backup.link);
        let refused: Vec<_> = b.refused.iter().filter(|(_, n)| *n > 0).collect();
        println!(
            "  master: messages sent {}, frames dropped {}, records dropped {}, bulk requests {}; backup: messages received {}, lost {}, records received {}, installed {}, refused {:?}",
            self.master.runner.counters().messages_sent,
            self.master.link.outbound_dropped(),
            self.master.link.records_dropped(),
            self.master.link.bulk_requests(),
            b.messages_received,
            b.messages_lost,
            b.records_received,
            b.installed,
            refused,
        );
        let per_s = |d: Duration| d.as_secs_f64() * 1000.0 / simulated_ms as f64;
        println!(
            "  wall time per simulated second: master worker {:.3} s (packets and tick), master control {:.3} s, backup control {:.3} s, backup worker {:.3} s",
            per_s(self.master.worker_time),
            per_s(self.master.control_time),
            per_s(self.backup.control_time),
            per_s(self.backup.worker_time),
        );
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0)
}

fn main() {
    let setup = Instant::now();
    let mut master = Director::new(MASTER, BACKUP, true);
    for n in 0..ESTABLISHED {
        master.packet(&segment(n, true), 0);
        master.packet(&segment(n, false), 0);
    }
    assert_eq!(master.worker.conns().len(), ESTABLISHED as usize);
    // The master takes its role (a bulk pass of its own, with no backup yet).
    master.worker.attach_ha(Arc::clone(&master.link));
    let mut backup = Director::new(BACKUP, MASTER, false);
    backup.worker.attach_ha(Arc::clone(&backup.link));
    let ownership = Ownership::by_hash(1, &rvs_pipeline::service::Services::default());
    let mut lab = Lab {
        master,
        backup,
        ownership,
        now: 0,
        connected: false,
        lost_frames: 0,
        delivered: 0,
        pending: VecDeque::new(),
        latencies: Vec::new(),
    };
    while lab.now < 10_000 {
        lab.step(0..0, 0..0);
    }
    println!(
        "set-up: {ESTABLISHED} established connections on the master in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // 1. A backup joins.
    lab.reset_times();
    lab.connected = true;
    let sent_before = lab.master.runner.counters().records_sent;
    lab.backup.runner.request_everything();
    let joined_at = lab.now;
    let deadline = joined_at + 60_000;
    while lab.backup.worker.conns().len() < ESTABLISHED as usize && lab.now < deadline {
        lab.step(0..0, 0..0);
    }
    let join_ms = lab.now - joined_at;
    println!(
        "1. a joining backup holds all {} connections after {:.2} s simulated ({} records sent, {} frames lost)",
        lab.backup.worker.conns().len(),
        join_ms as f64 / 1000.0,
        lab.master.runner.counters().records_sent - sent_before,
        lab.lost_frames,
    );
    lab.report_times(join_ms);

    // 2. 50 000 new connections a second on top.
    lab.reset_times();
    let first = ESTABLISHED;
    let start_ms = lab.now;
    let mut next = first;
    let mut last = first..first;
    for _ in 0..STEADY_MS {
        let new = next..next + NEW_PER_MS;
        next += NEW_PER_MS;
        lab.step(new.clone(), last);
        last = new;
    }
    // Until the last ones are installed.
    let mut drain = 0;
    while !lab.pending.is_empty() && drain < 10_000 {
        lab.step(0..0, std::mem::replace(&mut last, 0..0));
        drain += 1;
    }
    let mut l = std::mem::take(&mut lab.latencies);
    l.sort_unstable();
    println!(
        "2. {} new connections at {} a second with {} established: SYN on the master to install on the backup p50 {} ms, p99 {} ms, max {} ms ({} never installed, {} frames lost)",
        next - first,
        NEW_PER_MS * 1000,
        ESTABLISHED,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or(0),
        lab.pending.len(),
        lab.lost_frames,
    );
    lab.report_times(lab.now - start_ms);
}
