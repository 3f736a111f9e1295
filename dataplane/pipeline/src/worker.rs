//! The worker pipeline: one frame in, zero or more frames out.
//!
//! `parse -> (director duty | connection lookup/schedule -> rewrite) -> route ->
//! neighbour -> transmit`. A worker owns its connection table, local ports, neighbour
//! table, scheduler state and counters; it reads the configuration through an immutable
//! [`Snapshot`]. Every refusal is a counted [`DropReason`]; nothing here panics on input,
//! locks, or allocates per packet.
//!
//! This file holds the worker itself: its state, construction, configuration updates
//! and the tick. The pipeline is in the submodules: the forwarding path (`forward`), the
//! director's own traffic (`own_traffic`), the I/O glue (`io`), bursts (`burst`), next-hop
//! hints (`next_hop`), the SYN proxy (`syn_proxy`) and `[ha]` (`ha`, `ha_intake`).

use std::net::IpAddr;
use std::sync::Arc;

use rvs_conntrack::{Conn, ConnTable};
use rvs_schedulers::SchedState;

use crate::counters::WorkerCounters;
use crate::guard::Limiter;
use crate::ha::HaLink;
use crate::laddr::LocalPorts;
use crate::neigh::{NeighLimits, NeighTable};
use crate::share::worker_share;
use crate::snapshot::Snapshot;
use crate::traffic::TrafficTable;
use crate::update::{Dump, Garbage, Published, Update};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;

mod burst;
mod forward;
mod fragments;
mod ha;
mod ha_intake;
mod io;
mod l7;
mod next_hop;
mod no_real;
mod own_traffic;
mod refused;
mod syn_proxy;
mod sync_install;
mod sync_send;
mod sync_walk;

pub use burst::MAX_STAGED;
pub use fragments::FRAG_EXPIRE_PER_TICK;
pub use io::{CollectIo, Io};
pub use no_real::{NO_REAL_ANSWERS_PER_SECOND, NO_REAL_ANSWER_BURST};
use own_traffic::{IcmpBudget, KernelBudget};
pub use own_traffic::{ICMP_ERRORS_PER_SECOND, KERNEL_FRAMES_PER_SECOND};
pub use sync_send::{BULK_SLOTS_PER_TICK, CHANGES_PER_TICK};

/// One worker's pipeline and state.
#[derive(Debug)]
pub struct Worker<B: PacketBuf> {
    id: u16,
    snap: Arc<Snapshot>,
    sched_states: Vec<SchedState>,
    /// The content-switching groups' scheduler states
    /// ([`crate::service::Services::groups`]).
    group_states: Vec<SchedState>,
    /// Content-switching connections by the rule they matched (or none), laid out by
    /// the snapshot ([`crate::l7::L7Plan::counter`]).
    rule_matches: Vec<u64>,
    /// Parallel to the snapshot's services: each one's limits on this worker.
    limiters: Vec<Option<Box<Limiter>>>,
    conns: ConnTable,
    lports: LocalPorts,
    laddr_cursor: usize,
    neigh: NeighTable<B>,
    icmp_budget: IcmpBudget,
    /// Answers to packets for a service with no usable real (`[behaviour] no_real`).
    no_real_bucket: no_real::AnswerBucket,
    /// RSTs to SYNs a service's guard refused (`limit_reset`).
    refusal_bucket: no_real::AnswerBucket,
    kernel_budget: KernelBudget,
    counters: WorkerCounters,
    traffic: TrafficTable,
    generation: u64,
    /// The SYN proxy's cookie key.
    cookie_key: crate::synproxy::CookieKey,
    /// Configurations taken up: with the neighbour table's
    /// [`changes`](NeighTable::changes), the path stamp of next-hop hints.
    configs_taken: u64,
    /// Neighbours to ask again, gathered by [`NeighTable::poll`] (preallocated).
    asks: Vec<(PortId, IpAddr)>,
    /// Frames of the burst under way, between the stages (preallocated).
    staged: Vec<burst::Staged<B>>,
    /// The link to the control core's VRRP, under `[ha]`.
    ha: Option<Arc<HaLink>>,
    /// Whether this director serves the virtual router's addresses (read from `ha` at
    /// each tick; always true without `[ha]`).
    serving: bool,
    /// Per-source rate limits on what goes to the control core under `[ha]`.
    intake: ha_intake::HaIntake,
    /// What connection sync sends as master (`[ha.sync]`).
    sync: sync_send::SyncSender,
    /// Client segments of SYN-proxied connections waiting for the real, with the port
    /// they came in by (preallocated).
    held: crate::synproxy::HeldSegments<(PortId, B)>,
    /// IP fragments being put together (`[dataplane] frag_*`).
    frags: crate::reassembly::Reassembly,
    /// The identification of the last fragmented datagram this worker sent.
    frag_id: u32,
    /// Connections of content-switching services waiting for their first bytes to
    /// decide (preallocated).
    waiting: crate::l7::WaitingTable<B>,
    /// Where a waiting connection's bytes are put together to be read (preallocated).
    l7_scratch: Vec<u8>,
}

impl<B: PacketBuf> Worker<B> {
    /// Worker `id` with a table of `snap.conn_capacity` connections; `seed` orders the
    /// local ports it hands out.
    pub fn new(id: u16, snap: Arc<Snapshot>, seed: u64) -> Self {
        let mut w = Self {
            id,
            sched_states: Vec::new(),
            group_states: Vec::new(),
            rule_matches: Vec::new(),
            limiters: Vec::new(),
            conns: ConnTable::new(snap.conn_capacity, snap.timeouts),
            lports: LocalPorts::with_scheme(id, snap.port_scheme(), seed),
            laddr_cursor: 0,
            neigh: NeighTable::new(NeighLimits::default(), &snap.neighbors),
            icmp_budget: IcmpBudget::default(),
            no_real_bucket: no_real::AnswerBucket::default(),
            refusal_bucket: no_real::AnswerBucket::default(),
            kernel_budget: KernelBudget::default(),
            counters: WorkerCounters::default(),
            traffic: TrafficTable::default(),
            generation: 0,
            cookie_key: crate::synproxy::CookieKey::new(seed),
            configs_taken: 0,
            asks: Vec::with_capacity(ASKS_PER_TICK),
            staged: Vec::with_capacity(MAX_STAGED),
            ha: None,
            serving: true,
            intake: ha_intake::HaIntake::new(crate::ha::rate_limit::Limit::adverts(
                rvs_config::DEFAULT_ADVERT_INTERVAL,
            )),
            sync: sync_send::SyncSender::default(),
            held: crate::synproxy::HeldSegments::new(snap.conn_capacity),
            frags: crate::reassembly::Reassembly::new(snap.fragments),
            frag_id: u32::from(id),
            waiting: crate::l7::WaitingTable::new(snap.conn_capacity),
            l7_scratch: vec![0; crate::l7::waiting::LIMIT],
            snap: snap.clone(),
        };
        w.take_snapshot(snap);
        w
    }

    /// Take up a new configuration, building here what it needs (allocates: tests,
    /// replay and start-up; a running director uses [`Worker::take_update`]).
    /// Connections, local ports in use, learned neighbours, counters and the scheduler
    /// state of every service whose scheduler table is unchanged are kept.
    pub fn take_snapshot(&mut self, snap: Arc<Snapshot>) {
        let update = Update::for_worker(
            self.generation + 1,
            snap,
            &self.snap,
            self.generation == 0,
            |laddr| self.lports.pool_for(laddr),
            self.traffic.capacity(),
        );
        drop(self.take_update(update));
    }

    /// Take up a configuration the control core prepared (between bursts), without
    /// allocating. Returns what it replaced, for the control core to free.
    pub fn take_update(&mut self, mut update: Update) -> Garbage {
        let mut garbage = Garbage::default();
        let old_list = self.snap.services.list();
        let new_list = update.snap.services.list();
        for (i, svc) in new_list.iter().enumerate() {
            if !update.keep_state.get(i).copied().unwrap_or(false) {
                continue;
            }
            // Services usually keep their place: look there first, then search.
            let same =
                |o: &crate::service::Service| o.id == svc.id && Arc::ptr_eq(&o.sched, &svc.sched);
            let j = match old_list.get(i) {
                Some(o) if same(o) => Some(i),
                _ => old_list.iter().position(same),
            };
            let kept = j.and_then(|j| self.sched_states.get_mut(j));
            if let (Some(old), Some(new)) = (kept, update.sched_states.get_mut(i)) {
                std::mem::swap(old, new);
            }
        }
        for (i, svc) in new_list.iter().enumerate() {
            if !update.keep_limiter.get(i).copied().unwrap_or(false) {
                continue;
            }
            let j = match old_list.get(i) {
                Some(o) if o.id == svc.id => Some(i),
                _ => old_list.iter().position(|o| o.id == svc.id),
            };
            let kept = j.and_then(|j| self.limiters.get_mut(j));
            if let (Some(old), Some(new)) = (kept, update.limiters.get_mut(i)) {
                std::mem::swap(old, new);
            }
        }
        garbage.limiters =
            std::mem::replace(&mut self.limiters, std::mem::take(&mut update.limiters));
        garbage.sched_states = std::mem::replace(
            &mut self.sched_states,
            std::mem::take(&mut update.sched_states),
        );
        garbage.group_states = std::mem::replace(
            &mut self.group_states,
            std::mem::take(&mut update.group_states),
        );
        update.snap.services.carry_l7_matches(
            &self.snap.services,
            &self.rule_matches,
            &mut update.rule_matches,
        );
        garbage.rule_matches = std::mem::replace(
            &mut self.rule_matches,
            std::mem::take(&mut update.rule_matches),
        );
        for (laddr, pool) in update.pools.drain(..) {
            self.lports.adopt(laddr, pool);
        }
        if let Some(larger) = update.traffic.take() {
            let old = std::mem::take(&mut self.traffic);
            self.traffic = old.moved_into(larger);
            garbage.traffic = Some(old);
        }
        if let Some(room) = update.dest_room.take() {
            garbage.dest_room = Some(self.conns.reserve_dests(room));
        }
        let workers = update.snap.workers;
        for svc in update.snap.services.list() {
            for r in svc.sched.reals() {
                let (upper, lower) = (
                    worker_share(r.upper, workers),
                    worker_share(r.lower, workers),
                );
                self.conns.set_dest_thresholds(r.id, upper, lower);
            }
        }
        self.conns.set_timeouts(update.snap.timeouts);
        garbage.snap = Some(std::mem::replace(&mut self.snap, update.snap));
        self.generation = update.generation;
        self.configs_taken += 1;
        garbage
    }

    /// The version of the routes, ports and neighbours next-hop hints are found with:
    /// it moves with every configuration taken up and every changed neighbour MAC, and
    /// is never 0 once the worker has a configuration.
    fn path_stamp(&self) -> u64 {
        self.configs_taken + self.neigh.changes()
    }

    /// The configuration generation this worker forwards with.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Copy the next piece of the connection table, at most `slots` slots, into `dump`
    /// (neighbours with the first piece), as many entries as its vectors have room for
    /// (no allocation). True when the copy is complete.
    pub fn fill_dump(&self, dump: &mut Dump, now_ms: u64, slots: usize) -> bool {
        if dump.cursor == 0 {
            let room = dump.neighbors.capacity() - dump.neighbors.len();
            dump.neighbors.extend(self.neigh.iter().take(room));
        }
        dump.now_ms = now_ms;
        dump.conns_total = self.conns.len();
        let end = dump.cursor.saturating_add(slots);
        let room = dump.conns.capacity() - dump.conns.len();
        dump.conns.extend(
            self.conns
                .iter_slots(dump.cursor..end)
                .take(room)
                .map(|(_, c)| c),
        );
        dump.cursor = end;
        dump.cursor >= self.conns.capacity() || dump.conns.len() == dump.conns.capacity()
    }

    /// This worker's id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The counters (the neighbour table's folded in).
    pub fn counters(&self) -> WorkerCounters {
        let mut c = self.counters.clone();
        let n = self.neigh.counters();
        c.neighbor_requests = n.requests;
        c
    }

    /// Copy what the control core reads of this worker into `slot`: its counters, its
    /// per-service and per-real counters and loads, its table's fill and its recent
    /// neighbour failures. The slot's
    /// vectors are reused, so this allocates only when the tables grew since the last
    /// copy.
    pub fn publish_to(&self, slot: &mut Published) {
        slot.pipeline = self.counters();
        slot.traffic.clone_from(&self.traffic);
        slot.rule_matches.clone_from(&self.rule_matches);
        slot.loads.clone_from(self.conns.loads());
        slot.conns = self.conns.len() as u64;
        slot.conn_capacity = self.conns.capacity() as u64;
        slot.generation = self.generation();
        slot.neigh_events = *self.neigh.events();
        slot.limited.clear();
        for (svc, limiter) in self.snap.services.list().iter().zip(&self.limiters) {
            if let Some(l) = limiter {
                l.most_limited(|c| slot.limited.push((svc.id, c)));
            }
        }
    }

    /// Content-switching connections by the rule they matched, laid out by the snapshot
    /// ([`crate::l7::L7Plan::counter`]).
    pub fn rule_matches(&self) -> &[u64] {
        &self.rule_matches
    }

    /// The connection table (read-only: listings and tests).
    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// Free FULLNAT local ports of `laddr` on this worker (`None`: not a local address).
    pub fn local_ports_free(&self, laddr: IpAddr) -> Option<usize> {
        self.lports.free(laddr)
    }

    /// This worker's FULLNAT local port pools (read-only: tests).
    pub fn local_ports(&self) -> &LocalPorts {
        &self.lports
    }

    /// Advance the clock: expire connections (at most [`EXPIRE_PER_TICK`]; the rest at
    /// the next ticks); ask unanswered neighbours again and forget those past their
    /// deadline (see [`crate::neigh`]).
    pub fn tick<I: Io<Buf = B>>(&mut self, now_ms: u64, io: &mut I) {
        let (lports, limiters) = (&mut self.lports, &mut self.limiters);
        let services = &self.snap.services;
        let sync = ha::expiry_sink(&self.ha, self.serving);
        let expired =
            self.conns
                .expire_prefetched(now_ms, EXPIRE_PER_TICK, &CpuPrefetch, |c: &Conn| {
                    if let Some(l) = c.local {
                        lports.release(l.ip(), l.port());
                    }
                    crate::guard::conn_ended(services, limiters, c);
                    ha::send_expiry(sync, c);
                });
        self.counters.conns_expired += expired as u64;
        self.sweep_held();
        self.expire_fragments(now_ms);
        self.sweep_waiting(now_ms, io);
        let (counters, asks) = (&mut self.counters, &mut self.asks);
        self.neigh.poll(
            now_ms,
            |_pkt| counters.drop(DropReason::NeighborUnresolved),
            |port, ip| {
                // Bounded per tick; the rest are asked at the next one.
                let room = asks.len() < asks.capacity();
                if room {
                    asks.push((port, ip));
                }
                room
            },
        );
        for i in 0..self.asks.len() {
            let (port, ip) = self.asks[i];
            self.solicit(port, ip, io);
        }
        self.asks.clear();
        if let Some(link) = self.ha.clone() {
            if link.serving() != self.serving {
                self.serving = link.serving();
                self.set_sync_role(&link);
            }
            if self.id == 0 {
                self.send_ha_frames(now_ms, io);
            }
            self.sync_tick(&link, now_ms);
        }
    }
}

/// Most connections one tick expires: a poll loop ticks every millisecond, so up to
/// about 2M expiries a second, while a timeout that ends for a million connections at
/// once stalls no round by more than a few hundred microseconds.
pub const EXPIRE_PER_TICK: usize = 2048;

/// What a forwarded packet carries for its connection.
#[derive(Clone, Copy, Debug)]
enum Carried {
    /// A TCP/UDP segment of the connection, received on `in_port`.
    Segment {
        /// The port it arrived on (software checksums depend on it).
        in_port: PortId,
        /// Its connection.
        id: rvs_conntrack::ConnId,
    },
    /// An ICMP error quoting a packet of the connection (its checksum is recomputed whole).
    IcmpError,
}

/// The DPDK layer's prefetch, offered to the connection table's batched expiry.
struct CpuPrefetch;

impl rvs_conntrack::Prefetch for CpuPrefetch {
    fn prefetch<T: ?Sized>(&self, value: &T) {
        rvs_dpdk_burst::prefetch(value);
    }
}

/// Most neighbour requests one tick sends again (the others are due at the next tick).
const ASKS_PER_TICK: usize = 64;
