//! Configuration changes on their way from the control core to a worker.
//!
//! The control core builds an [`Update`] per worker with everything the worker would
//! otherwise allocate: the new [`Snapshot`], fresh scheduler state for each service whose
//! scheduler table changed (`None` keeps the worker's own state, so a change to one
//! service leaves every other service's rr position and caches alone), local-port pools
//! for new FULLNAT local addresses, and a larger counter table when new ids need one. The
//! worker takes it between bursts ([`crate::worker::Worker::take_update`]) and hands what
//! it replaced back as [`Garbage`], which the control core frees.
//!
//! [`Mailbox`] carries both ways: the worker's poll loop looks at one atomic flag per
//! round, and takes the mutex only when an update is waiting.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rvs_conntrack::{Conn, DestLoad, DestLoads, ServiceId};
use rvs_schedulers::SchedState;

use crate::neigh::{NeighEvents, NeighState};
use rvs_config::PortId;

use crate::counters::{IoCounters, WorkerCounters};
use crate::guard::limits::LimitedClient;
use crate::guard::Limiter;
use crate::laddr::PortPool;
use crate::snapshot::Snapshot;
use crate::traffic::TrafficTable;

/// A new configuration for one worker.
#[derive(Debug)]
pub struct Update {
    /// Configuration generation (1 at start).
    pub generation: u64,
    /// What the worker forwards with from now on.
    pub snap: Arc<Snapshot>,
    /// Parallel to `snap.services.list()`: the worker's scheduler states from now on.
    /// Fresh for a service whose scheduler table is new; a placeholder where
    /// `keep_state` is set.
    pub sched_states: Vec<SchedState>,
    /// Parallel to `sched_states`: the worker keeps the state it has for that service
    /// (same id, same scheduler table) instead of the placeholder.
    pub keep_state: Vec<bool>,
    /// Fresh scheduler states of every content-switching group
    /// ([`crate::service::Services::groups`]).
    pub group_states: Vec<SchedState>,
    /// Zeroed content-switching match counters of every service
    /// ([`crate::service::Services::match_counters`]): the worker copies over the
    /// counts of each service whose rules are unchanged.
    pub rule_matches: Vec<u64>,
    /// Local-port pools for local addresses the worker has no pool for.
    pub pools: Vec<(IpAddr, PortPool)>,
    /// A larger counter table, when the new ids do not fit the current one.
    pub traffic: Option<TrafficTable>,
    /// Room for the per-real loads of as many reals, given with a larger counter table.
    pub dest_room: Option<Vec<DestLoad>>,
    /// Parallel to `snap.services.list()`: each service's limiter from now on (`None`
    /// without limits, and where `keep_limiter` is set).
    pub limiters: Vec<Option<Box<Limiter>>>,
    /// Parallel to `limiters`: the worker keeps the limiter it has for that service.
    pub keep_limiter: Vec<bool>,
}

impl Update {
    /// The update that takes a worker forwarding with `current` to `snap`: fresh
    /// scheduler state for every service whose table is new (every service when
    /// `fresh_all`), a pool from `pool_for` for each local address the worker may lack,
    /// and a larger counter table when the worker's, of `traffic_capacity` (services,
    /// reals), is smaller than [`TrafficTable::room_for`] the new ids.
    pub fn for_worker(
        generation: u64,
        snap: Arc<Snapshot>,
        current: &Snapshot,
        fresh_all: bool,
        mut pool_for: impl FnMut(IpAddr) -> Option<PortPool>,
        traffic_capacity: (usize, usize),
    ) -> Self {
        let list = snap.services.list();
        let keep_state: Vec<bool> = list
            .iter()
            .map(|svc| {
                !fresh_all
                    && current
                        .services
                        .list()
                        .iter()
                        .any(|o| o.id == svc.id && Arc::ptr_eq(&o.sched, &svc.sched))
            })
            .collect();
        let sched_states = list
            .iter()
            .zip(&keep_state)
            .map(|(svc, &keep)| {
                if keep {
                    SchedState::default()
                } else {
                    svc.sched.new_state()
                }
            })
            .collect();
        let group_states = snap
            .services
            .groups()
            .map(|g| g.sched.new_state())
            .collect();
        let rule_matches = vec![0; snap.services.match_counters()];
        let pools = snap
            .services
            .laddrs()
            .filter_map(|a| pool_for(a).map(|p| (a, p)))
            .collect();
        // Compared with the room the ids call for, not with the ids themselves: a
        // worker's empty first table fits a snapshot without ids, and would stay empty
        // while the control core counted on the room it gives every worker.
        let room = TrafficTable::room_for(snap.services.id_bounds());
        let fits = traffic_capacity.0 >= room.0 && traffic_capacity.1 >= room.1;
        let traffic = (!fits).then(|| {
            // Never smaller than the table it replaces, in either dimension.
            TrafficTable::with_capacity(
                room.0.max(traffic_capacity.0),
                room.1.max(traffic_capacity.1),
            )
        });
        let dest_room = traffic.as_ref().map(|t| Vec::with_capacity(t.capacity().1));
        let (limiters, keep_limiter) =
            crate::guard::limiters_for(&snap.services, &current.services, fresh_all);
        Self {
            limiters,
            keep_limiter,
            generation,
            snap,
            sched_states,
            keep_state,
            group_states,
            rule_matches,
            pools,
            traffic,
            dest_room,
        }
    }
}

/// A limiter `replaced` (an update the worker never took) brought for a service that
/// `update` says to keep goes on in `update`: the worker never had it.
fn carry_limiters(
    update: &mut Update,
    replaced: &[crate::service::Service],
    mut limiters: Vec<Option<Box<Limiter>>>,
) {
    let list = update.snap.services.list();
    for (i, svc) in list.iter().enumerate() {
        if !update.keep_limiter.get(i).copied().unwrap_or(false) {
            continue;
        }
        let brought = replaced
            .iter()
            .position(|o| o.id == svc.id)
            .and_then(|j| limiters.get_mut(j))
            .and_then(Option::take);
        if let (Some(l), Some(slot)) = (brought, update.limiters.get_mut(i)) {
            *slot = Some(l);
            update.keep_limiter[i] = false;
        }
    }
}

/// What a worker replaced, for the control core to free.
#[derive(Debug, Default)]
pub struct Garbage {
    /// The previous snapshot.
    pub snap: Option<Arc<Snapshot>>,
    /// Scheduler states of services that changed or went away.
    pub sched_states: Vec<SchedState>,
    /// The content-switching groups' previous states.
    pub group_states: Vec<SchedState>,
    /// The previous content-switching match counters.
    pub rule_matches: Vec<u64>,
    /// The previous counter table, when it was replaced by a larger one.
    pub traffic: Option<TrafficTable>,
    /// The previous storage of the per-real loads.
    pub dest_room: Option<Vec<DestLoad>>,
    /// Limiters of services whose limits changed shape or went away.
    pub limiters: Vec<Option<Box<Limiter>>>,
}

/// A copy of a worker's connection and neighbour tables, bounded by the capacity of
/// its vectors, which the control core allocates.
#[derive(Debug, Default)]
pub struct Dump {
    /// The worker's clock when it copied.
    pub now_ms: u64,
    /// Connections, at most `conns.capacity()`.
    pub conns: Vec<Conn>,
    /// Connections in the worker's table (may exceed what was copied).
    pub conns_total: usize,
    /// Neighbour entries, at most `neighbors.capacity()`.
    pub neighbors: Vec<(PortId, IpAddr, NeighState)>,
    /// The next table slot to copy from (the worker copies a piece per poll round).
    pub cursor: usize,
    /// Set by the worker when the copy is complete.
    pub done: bool,
}

impl Dump {
    /// An empty dump with room for `conns` connections and `neighbors` neighbours.
    pub fn with_capacity(conns: usize, neighbors: usize) -> Box<Self> {
        Box::new(Self {
            conns: Vec::with_capacity(conns),
            neighbors: Vec::with_capacity(neighbors),
            ..Self::default()
        })
    }
}

/// The control core's channel to one worker.
#[derive(Debug, Default)]
pub struct Mailbox {
    pending: AtomicBool,
    update: Mutex<Option<Box<Update>>>,
    garbage: Mutex<Vec<Garbage>>,
    taken: AtomicU64,
    dump_pending: AtomicBool,
    dump: Mutex<Option<Box<Dump>>>,
}

impl Mailbox {
    /// A mailbox whose worker already forwards with `generation`.
    pub fn new(generation: u64) -> Arc<Self> {
        let m = Self::default();
        m.taken.store(generation, Ordering::Release);
        Arc::new(m)
    }

    /// Control core: leave `update` for the worker. An update the worker has not taken
    /// yet is replaced; its local-port pools and larger tables carry over into `update`.
    pub fn post(&self, mut update: Box<Update>) {
        let mut slot = self.update.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = slot.take() {
            for (addr, pool) in old.pools {
                if !update.pools.iter().any(|(a, _)| *a == addr) {
                    update.pools.push((addr, pool));
                }
            }
            // Room the replaced update brought for new ids is still needed.
            let larger = |new: &Option<TrafficTable>, old: &Option<TrafficTable>| {
                let cap = |t: &Option<TrafficTable>| t.as_ref().map_or((0, 0), |t| t.capacity());
                cap(old) > cap(new)
            };
            if larger(&update.traffic, &old.traffic) {
                update.traffic = old.traffic;
                update.dest_room = old.dest_room;
            }
            carry_limiters(&mut update, old.snap.services.list(), old.limiters);
        }
        *slot = Some(update);
        self.pending.store(true, Ordering::Release);
    }

    /// Worker: the waiting update, if any (one atomic load when there is none).
    #[inline]
    pub fn take(&self) -> Option<Box<Update>> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let mut slot = self.update.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending.store(false, Ordering::Release);
        slot.take()
    }

    /// Worker: report that it forwards with `generation`, and hand back `garbage`.
    pub fn taken(&self, generation: u64, garbage: Garbage) {
        self.garbage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(garbage);
        self.taken.store(generation, Ordering::Release);
    }

    /// The generation the worker forwards with.
    pub fn generation(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    /// Control core: ask the worker to fill `dump`.
    pub fn request_dump(&self, dump: Box<Dump>) {
        *self.dump.lock().unwrap_or_else(PoisonError::into_inner) = Some(dump);
        self.dump_pending.store(true, Ordering::Release);
    }

    /// Worker: the dump waiting to be filled, if any (one atomic load when none).
    #[inline]
    pub fn dump_to_fill(&self) -> Option<Box<Dump>> {
        if !self.dump_pending.load(Ordering::Acquire) {
            return None;
        }
        self.dump_pending.store(false, Ordering::Release);
        self.dump
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Worker: hand a filled dump back.
    pub fn dumped(&self, mut dump: Box<Dump>) {
        dump.done = true;
        *self.dump.lock().unwrap_or_else(PoisonError::into_inner) = Some(dump);
    }

    /// Control core: the filled dump, once the worker has handed it back.
    pub fn take_dumped(&self) -> Option<Box<Dump>> {
        let mut slot = self.dump.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|d| d.done) {
            slot.take()
        } else {
            None
        }
    }

    /// Control core: free what the worker handed back.
    pub fn collect_garbage(&self) {
        let garbage =
            std::mem::take(&mut *self.garbage.lock().unwrap_or_else(PoisonError::into_inner));
        drop(garbage);
    }
}
/// What a worker publishes for the control core.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// The pipeline's counters (`redirected` filled in from the I/O layer).
    pub pipeline: WorkerCounters,
    /// The I/O layer's counters.
    pub io: IoCounters,
    /// Per-service and per-real counters.
    pub traffic: TrafficTable,
    /// Content-switching match counters, laid out by the snapshot of `generation`
    /// ([`crate::l7::L7Plan::counter`]).
    pub rule_matches: Vec<u64>,
    /// Per-real connection counts.
    pub loads: DestLoads,
    /// Connection entries in its table.
    pub conns: u64,
    /// Its table's capacity.
    pub conn_capacity: u64,
    /// Poll rounds since start, and those that found work.
    pub rounds: u64,
    /// Poll rounds that received at least one frame.
    pub busy_rounds: u64,
    /// The configuration generation the worker forwarded with when it published.
    pub generation: u64,
    /// Its neighbour table's most recent failures and recoveries (for the log).
    pub neigh_events: NeighEvents,
    /// Each limited service's most limited clients on this worker
    /// ([`Limiter::most_limited`]).
    pub limited: Vec<(ServiceId, LimitedClient)>,
}
