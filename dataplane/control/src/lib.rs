//! rvs-control: the control core of rvs, and everything that runs beside the workers.
//!
//! It owns the running configuration and its changes ([`Control`], [`apply`],
//! [`validate`]), the control socket ([`server`]), health checks ([`health`]), VRRP
//! ([`vrrp`], the state machine, and [`ha`], its runner) and connection sync
//! ([`ha_sync`]), route announcement through the routing daemon, the rate estimator, the
//! Prometheus exposition ([`metrics`]: the rendering and its HTTP endpoint), and the
//! control core's loop as rvsd runs it ([`daemon`]). It may import `rvs-packet`,
//! `rvs-config`, `rvs-pipeline`, `rvs-ctl` (the protocol), `rvs-conntrack` and
//! `rvs-schedulers`; never
//! DPDK: what only the live runtime knows (its ports) reaches it as a [`PortSource`].
//!
//! The control core: owns the running configuration, validates and applies changes,
//! publishes them to the workers, and answers the control protocol's requests from what
//! the workers publish.
//!
//! [`Control`] is the library (state and validation); [`server`] is the thin Unix-socket
//! server around it. A change batch is applied to a copy of the configuration, checked
//! by the same rules as a file, turned into a new [`Snapshot`] (services whose
//! scheduling is unchanged keep their scheduler tables) and one [`Update`] per worker,
//! built here with everything the worker would otherwise allocate. The request returns
//! once every worker has taken the update (or after [`TAKE_TIMEOUT`]).
//!
//! Each worker switches its steering and its pipeline together, between two bursts;
//! the workers switch within a poll round of each other, not at one instant. That is
//! safe because steering depends only on which addresses are local addresses: new ones
//! are made steerable on every worker before any worker may hand out their ports, and
//! removed ones stay steerable (and answered for) so their connections can finish. A
//! VIP whose last service is deleted stays steered as a VIP (not answered for), so its
//! connections drain on their workers ([`rvs_pipeline::draining`]).
//!
//! Health checks ([`crate::health`]) run beside it: [`Control::tick_health`] takes their
//! results, and a transition publishes the running configuration again under the new
//! health overlay (the configuration itself never changes, so `config save` writes the
//! configured weights). Listings show what is scheduled: reals a check removed are
//! hidden, inhibited ones show weight 0, a sorry server in use is listed.
//!
//! What a reload may change: services, routes and timeouts. Workers, the table size,
//! ports, static neighbours, DPDK arguments and the control endpoints need a restart; a
//! file that changes them is refused, naming the section.

mod announce;
pub mod daemon;
mod edit;
mod estimator;
mod garp;
mod guard_view;
pub mod ha;
pub mod ha_sync;
pub mod ha_thread;
pub mod health;
mod last_real;
mod link_log;
pub mod log;
pub mod metrics;
mod neigh_log;
mod no_real_log;
mod notify;
mod retire;
pub mod server;
pub mod stopping;
mod views;
pub mod vrrp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::metrics::MetricsInput;
use arc_swap::ArcSwap;
use hashbrown::HashSet;
use rvs_ctl::proto::{
    ErrorKind, ErrorReply, PortInfo, ReloadReport, Request, Response, ServiceKey,
};

use crate::health::Health;
use rvs_config::diff::ConfigDiff;
use rvs_config::{to_toml, Config, PortId};
use rvs_pipeline::laddr::PortPool;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::traffic::TrafficTable;
use rvs_pipeline::update::Published;
use rvs_pipeline::update::{Dump, Mailbox, Update};

use announce::Announcer;
use estimator::Estimate;
use last_real::LastReal;

pub use edit::{apply, validate};

/// How long a change waits for every worker to take it up.
pub const TAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a listing waits for the workers' copies of their tables.
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(2);
/// Most connections one listing returns.
pub const MAX_CONNS_LISTED: usize = 100_000;
/// Most neighbour entries one worker lists.
const MAX_NEIGHBORS_LISTED: usize = 4096;

/// What the control core holds of one worker.
#[derive(Clone, Debug)]
pub struct WorkerLink {
    /// Updates and dumps to the worker, garbage and acknowledgements back.
    pub mailbox: Arc<Mailbox>,
    /// The counters the worker publishes.
    pub published: Arc<Mutex<Published>>,
    /// The lcore it runs on.
    pub lcore: u32,
    /// The seed its local-port pools are shuffled with.
    pub seed: u64,
}

/// Per-port facts only the live runtime knows (device counters, link, mempool).
pub type PortSource = Box<dyn Fn() -> Vec<PortInfo> + Send>;

/// Identifies a service or a real in the estimator's and zeroing's books.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum StatKey {
    Service(u32),
    Dest(u32),
}

/// The control core's state.
pub struct Control {
    config: Config,
    /// The configuration as last read from `file` (at start or by a reload): what the
    /// running one differs from by the runtime changes.
    loaded: Config,
    file: PathBuf,
    ids: IdRegistry,
    snap: Arc<Snapshot>,
    generation: u64,
    workers: Vec<WorkerLink>,
    pooled: HashSet<IpAddr>,
    /// The room (service ids, real ids) of every worker's counter table.
    traffic_capacity: (usize, usize),
    started: Instant,
    ports: PortSource,
    estimates: HashMap<StatKey, Estimate>,
    zeroed: TrafficTable,
    announcer: Option<Announcer>,
    /// Announcers of an `[announce]` a reload replaced, withdrawing what they announced.
    retiring: Vec<Announcer>,
    /// Whether the announcements last asked for were a master's.
    announcing_as_master: bool,
    health: Health,
    /// Services without a usable real, for the log.
    last_real: LastReal,
    /// The "no destination available" lines already logged.
    no_real_log: no_real_log::NoRealLog,
    /// The neighbour failures already logged.
    neigh_log: neigh_log::NeighLog,
    /// The ports' link states already logged.
    link_log: link_log::LinkLog,
    /// The snapshot the workers run, for the VRRP thread (which never takes this
    /// structure's lock).
    running: ha_thread::RunningSnapshot,
    ha: Option<ha_thread::SharedRunner>,
    ha_link: Option<Arc<rvs_pipeline::ha::HaLink>>,
}

impl Control {
    /// The control core of a director that started from `config` (read from `file`),
    /// with workers forwarding `snap` (generation 1), whose ids came from `ids`.
    pub fn new(
        config: Config,
        file: PathBuf,
        ids: IdRegistry,
        snap: Arc<Snapshot>,
        workers: Vec<WorkerLink>,
        ports: PortSource,
    ) -> Self {
        let announcer = config.announce.clone().map(Announcer::new);
        let mut health = Health::default();
        health.configure(&config);
        let mut control = Self {
            health,
            pooled: snap.services.laddrs().collect(),
            // What each worker's first update gave it (`Worker::new`).
            traffic_capacity: TrafficTable::room_for(snap.services.id_bounds()),
            loaded: config.clone(),
            config,
            file,
            ids,
            running: Arc::new(ArcSwap::new(Arc::clone(&snap))),
            snap,
            generation: 1,
            workers,
            started: Instant::now(),
            ports,
            estimates: HashMap::new(),
            zeroed: TrafficTable::default(),
            announcer,
            retiring: Vec::new(),
            announcing_as_master: false,
            ha: None,
            last_real: LastReal::default(),
            no_real_log: no_real_log::NoRealLog::default(),
            neigh_log: neigh_log::NeighLog::default(),
            link_log: link_log::LinkLog::default(),
            ha_link: None,
        };
        control.log_services_without_reals();
        control.refresh_announcements();
        control
    }

    /// True when this director serves its VIPs: without `[ha]` always, under `[ha]`
    /// while VRRP has it master.
    fn serving(&self) -> bool {
        match (&self.config.ha, &self.ha_link) {
            (None, _) => true,
            (Some(_), Some(link)) => link.serving(),
            // VRRP has not started yet: the director is not master.
            (Some(_), None) => false,
        }
    }

    /// Bring the announced VIP routes in line with the running state (the reload runs
    /// beside the control core: [`Control::tick_announce`] carries it on).
    fn refresh_announcements(&mut self) {
        if self.config.announce != self.announcer.as_ref().map(|a| a.config().clone()) {
            let new = self.config.announce.clone().map(Announcer::new);
            if let Some(mut old) = self.announcer.take() {
                // Files the new settings keep are rewritten by them: only others are
                // withdrawn by the old settings.
                if new.as_ref().map(|n| &n.config().file) != Some(&old.config().file) {
                    old.want(announce::Routes::new());
                    self.retiring.push(old);
                }
            }
            self.announcer = new;
        }
        self.announcing_as_master = self.serving();
        if let Some(a) = self.announcer.as_mut() {
            a.update(&self.snap, self.announcing_as_master);
        }
        self.poll_announcements();
    }

    /// Carry the announcements on (every control poll): follow a VRRP transition, reap a
    /// finished reload, start one that is due. Never waits for the reload command.
    pub fn tick_announce(&mut self) {
        if self.serving() != self.announcing_as_master {
            // A transition: routes follow mastership.
            self.refresh_announcements();
        } else {
            self.poll_announcements();
        }
    }

    fn poll_announcements(&mut self) {
        let now = Instant::now();
        for a in self.announcer.iter_mut().chain(&mut self.retiring) {
            while let Some(event) = a.poll(now) {
                log_event(event);
            }
        }
        self.retiring.retain(Announcer::pending);
    }

    /// Withdraw every announced route (the director stops), trying again until
    /// `deadline`: whether a route was withdrawn, and what could not be (also logged).
    pub fn shutdown(&mut self, deadline: Instant) -> (bool, Vec<String>) {
        let (mut withdrew, mut failed) = (false, Vec::new());
        for a in self.announcer.iter_mut().chain(&mut self.retiring) {
            match a.withdraw_all(deadline) {
                Ok(t) => {
                    withdrew |= !t.withdrawn.is_empty();
                    log_event(announce::Event::Done(t));
                }
                Err(e) => {
                    crate::error!("announce: {e}");
                    failed.push(e);
                }
            }
        }
        (withdrew, failed)
    }

    /// Run `[ha]` through `link` (shared with the workers); `macs` are the ports' MACs,
    /// by port index. rvsd's control core runs it on a thread of its own
    /// ([`Control::ha_runner`]); tests call [`Control::tick_ha`].
    pub fn attach_ha(&mut self, link: Arc<rvs_pipeline::ha::HaLink>, macs: &[[u8; 6]]) {
        if let Some(ha) = &self.config.ha {
            let runner = ha::HaRunner::new(&self.config, ha, Arc::clone(&link), macs);
            self.ha = Some(Arc::new(Mutex::new(runner)));
            self.ha_link = Some(link);
        }
    }

    /// Call `hook` when the director becomes master (`true`) and when it stops being
    /// master (`false`); after [`Control::attach_ha`].
    pub fn on_master_change(&mut self, hook: ha::MasterHook) {
        if let Some(ha) = &self.ha {
            ha_thread::lock(ha).on_master(hook);
        }
    }

    /// The VRRP runner and the running snapshot it reads, under `[ha]` once attached.
    pub fn ha_runner(&self) -> Option<(ha_thread::SharedRunner, ha_thread::RunningSnapshot)> {
        self.ha
            .as_ref()
            .map(|h| (Arc::clone(h), Arc::clone(&self.running)))
    }

    /// Run VRRP once: received adverts, timers, transitions (what the VRRP thread does
    /// every few milliseconds).
    pub fn tick_ha(&mut self) {
        if let Some(ha) = &self.ha {
            ha_thread::tick(ha, &self.running);
        }
    }

    /// Answer one request.
    pub fn handle(&mut self, request: Request) -> Result<Response, ErrorReply> {
        match request {
            Request::Status => Ok(Response::Status(self.status())),
            Request::Services { service } => {
                self.services(service.as_ref()).map(Response::Services)
            }
            Request::Timeouts => Ok(Response::Timeouts(views::timeouts(self.config.timeouts))),
            Request::Conns { limit } => Ok(self.conns(limit)),
            Request::Workers => Ok(Response::Workers(self.worker_infos())),
            Request::Ports => Ok(Response::Ports((self.ports)())),
            Request::Neighbors => Ok(Response::Neighbors(self.neighbors())),
            Request::Routes => Ok(Response::Routes(views::routes(&self.snap))),
            Request::Drops => Ok(Response::Drops(self.drops())),
            Request::Apply { changes } => {
                let mut config = self.config.clone();
                edit::apply(&mut config, &changes)?;
                let config = edit::validate(&config, &changes)?;
                let diff = ConfigDiff::between(&self.config, &config);
                self.publish(config)?;
                log_diff(
                    &format!("runtime change by rvsadm (generation {})", self.generation),
                    &diff,
                );
                Ok(Response::Done)
            }
            Request::Zero { service } => self.zero(service.as_ref()).map(|()| Response::Done),
            Request::ConfigSave => Ok(Response::Config(to_toml(&self.config))),
            Request::ConfigReload {
                path,
                dry_run,
                discard_runtime,
            } => {
                let path = path.map_or_else(|| self.file.clone(), PathBuf::from);
                let how = ReloadHow {
                    dry_run,
                    discard_runtime,
                };
                self.reload(&path, how).map(Response::Reloaded)
            }
            Request::Health => Ok(Response::Health(self.health.infos(&self.config))),
            Request::Guards => Ok(Response::Guards(self.guards())),
            Request::Marks => Ok(Response::Marks(views::marks(&self.config))),
            Request::Rules => Ok(Response::Rules(self.rules())),
            Request::ConfiguredServices => Ok(Response::Services(views::configured(&self.config))),
        }
    }

    /// Re-read `path` and apply what changed (SIGHUP and `rvsctl config reload`); log
    /// and return what changed. Refused (nothing applied) when `path` changes what needs
    /// a restart, or would undo a runtime change it does not carry unless
    /// `how.discard_runtime`. A reload applied makes `path` the file the next one reads.
    pub fn reload(&mut self, path: &Path, how: ReloadHow) -> Result<ReloadReport, ErrorReply> {
        let new = Config::from_file(path)
            .map_err(|e| ErrorReply::new(ErrorKind::Invalid, e.to_string()))?;
        let fixed = [
            ("[dataplane]", self.config.dataplane != new.dataplane),
            ("[dpdk]", self.config.dpdk != new.dpdk),
            ("[[port]]", self.config.ports != new.ports),
            ("[[neighbor]]", self.config.neighbors != new.neighbors),
            ("[ctl]", self.config.ctl != new.ctl),
            ("[ha]", self.config.ha != new.ha),
        ];
        let changed: Vec<&str> = fixed.iter().filter(|(_, c)| *c).map(|(n, _)| *n).collect();
        if !changed.is_empty() {
            return Err(ErrorReply::new(
                ErrorKind::Invalid,
                format!(
                    "{}: {} changed; these take effect only when rvsd restarts (nothing was applied)",
                    path.display(),
                    changed.join(", ")
                ),
            ));
        }
        let runtime = ConfigDiff::between(&self.loaded, &self.config);
        let undone = runtime.undone_by(&self.config, &new);
        let diff = ConfigDiff::between(&self.config, &new);
        let mut changes: Vec<String> = diff.differences.iter().map(ToString::to_string).collect();
        let sections = [
            ("[[route]]", self.config.routes != new.routes),
            ("[behaviour]", self.config.behaviour != new.behaviour),
            ("[announce]", self.config.announce != new.announce),
            ("[[mark]]", self.config.marks != new.marks),
        ];
        changes.extend(
            sections
                .iter()
                .filter(|(_, c)| *c)
                .map(|(n, _)| format!("{n} changed")),
        );
        let mut report = ReloadReport {
            file: path.display().to_string(),
            applied: false,
            generation: self.generation,
            summary: diff.summary(),
            changes,
            runtime_undone: undone.iter().map(ToString::to_string).collect(),
        };
        if how.dry_run {
            return Ok(report);
        }
        if !undone.is_empty() && !how.discard_runtime {
            return Err(ErrorReply::new(
                ErrorKind::Invalid,
                format!(
                    "{}: the reload would undo {} change(s) made at runtime that the file does not carry ({}); save the running state into the file first (rvsctl config save FILE) or reload with --discard-runtime (nothing was applied)",
                    path.display(),
                    undone.len(),
                    first_lines(&report.runtime_undone, 5)
                ),
            ));
        }
        self.publish(new.clone())?;
        self.loaded = new;
        self.file = path.to_path_buf();
        report.applied = true;
        report.generation = self.generation;
        crate::info!(
            "reloaded {} (generation {}): {}",
            report.file,
            report.generation,
            report.summary
        );
        for line in report.changes.iter().take(LOGGED_CHANGES) {
            crate::info!("  {line}");
        }
        for line in report.runtime_undone.iter().take(LOGGED_CHANGES) {
            crate::info!("  runtime change undone: {line}");
        }
        let more = report.changes.len() + report.runtime_undone.len();
        if more > 2 * LOGGED_CHANGES {
            crate::info!("  (rvsctl config reload --dry-run lists every change)");
        }
        Ok(report)
    }

    /// Run the rate estimator (call every 2 seconds) and free what workers handed back.
    pub fn tick_estimator(&mut self) {
        let traffic = self.traffic();
        for svc in self.snap.services.list() {
            let key = StatKey::Service(svc.id);
            let now = traffic
                .services
                .get(svc.id as usize)
                .copied()
                .unwrap_or_default();
            self.estimates.entry(key).or_default().update(&now);
            for r in svc.sched.reals() {
                let now = traffic
                    .dests
                    .get(r.id as usize)
                    .copied()
                    .unwrap_or_default();
                self.estimates
                    .entry(StatKey::Dest(r.id))
                    .or_default()
                    .update(&now);
            }
        }
        let services = &self.snap.services;
        for line in self.no_real_log.lines(&traffic, services, Instant::now()) {
            crate::warn!("{line}");
        }
        self.collect_garbage();
    }

    /// Log what changed on the wire (call about once a second): neighbours the workers
    /// could not resolve (or that answer again), and the ports' link changes.
    pub fn tick_watch(&mut self) {
        let events: Vec<_> = self
            .workers
            .iter()
            .map(|w| lock(&w.published).neigh_events)
            .collect();
        let snap = &self.snap;
        let name = |p: PortId| snap.port(p).name.clone();
        for line in self.neigh_log.lines(&events, name, Instant::now()) {
            if line.failed {
                crate::warn!("{}", line.text);
            } else {
                crate::info!("{}", line.text);
            }
        }
        for line in self.link_log.lines(&(self.ports)()) {
            if line.up {
                crate::info!("{}", line.text);
            } else {
                crate::warn!("{}", line.text);
            }
        }
    }

    /// Take the health checks' results (call every control poll); a transition publishes
    /// a new snapshot of the running configuration under the new health overlay.
    pub fn tick_health(&mut self) {
        if self.health.poll(&self.config) {
            if let Err(e) = self.publish(self.config.clone()) {
                crate::error!("health: the new state was not applied: {e}");
            }
        }
    }

    /// Free what the workers handed back after taking updates.
    pub fn collect_garbage(&self) {
        for w in &self.workers {
            w.mailbox.collect_garbage();
        }
    }

    /// Everything the Prometheus endpoint exports.
    pub fn metrics_input(&self) -> MetricsInput {
        let workers = self.worker_infos();
        MetricsInput {
            status: self.status_of(&workers),
            workers,
            services: self.services(None).unwrap_or_default(),
            ports: (self.ports)(),
            health: self.health.infos(&self.config),
            guards: self.guards(),
            rules: self.rules(),
        }
    }

    /// The file the director started with (what SIGHUP re-reads).
    pub fn config_file(&self) -> &Path {
        &self.file
    }

    /// The current configuration generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Build and hand every worker the snapshot of `config`; wait for them to take it.
    ///
    /// New FULLNAT local addresses go out first in a snapshot of their own, which only
    /// makes them steerable (replies to them are steered by port): once every worker has
    /// it, the configuration that hands out their ports follows, so no worker can see a
    /// reply to a local port it cannot steer yet.
    fn publish(&mut self, config: Config) -> Result<(), ErrorReply> {
        let invalid = |e: rvs_pipeline::snapshot::RebuildError| {
            ErrorReply::new(ErrorKind::Invalid, e.to_string())
        };
        let overlay = self.health.overlay(&config);
        let snap = self
            .snap
            .rebuild(&config, &overlay, &mut self.ids)
            .map_err(invalid)?;
        let new_laddrs: Vec<IpAddr> = snap
            .services
            .laddrs()
            .filter(|a| !self.snap.services.is_laddr(*a))
            .collect();
        if !new_laddrs.is_empty() {
            let current = self.health.overlay(&self.config);
            let mut steer_first = self
                .snap
                .rebuild(&self.config, &current, &mut self.ids)
                .map_err(invalid)?;
            steer_first.services.also_steer(&new_laddrs);
            self.hand_out(Arc::new(steer_first));
        }
        // A service added again while connections of its earlier self still hold its id
        // gets that id back: its statistics start from 0 all the same, as a new IPVS
        // service's do.
        let before: std::collections::HashSet<u32> =
            self.snap.services.list().iter().map(|s| s.id).collect();
        let added: Vec<u32> = snap
            .services
            .list()
            .iter()
            .map(|s| s.id)
            .filter(|id| !before.contains(id))
            .collect();
        if !added.is_empty() {
            let traffic = self.traffic();
            for id in added {
                let now = traffic.services.get(id as usize).copied();
                self.rebase(StatKey::Service(id), now.unwrap_or_default());
            }
        }
        self.hand_out(Arc::new(snap));
        self.log_services_without_reals();
        self.running.store(Arc::clone(&self.snap));
        self.config = config;
        self.health.configure(&self.config);
        self.refresh_announcements();
        Ok(())
    }

    /// Log each service that lost its last usable real, or got one back.
    fn log_services_without_reals(&mut self) {
        for (level, line) in self.last_real.update(&self.snap) {
            log::write(level, format_args!("{line}"));
        }
    }

    /// Give every worker `snap` as the next generation and wait for them to take it.
    fn hand_out(&mut self, snap: Arc<Snapshot>) {
        self.generation += 1;
        let scheme = self.snap.port_scheme();
        let mut capacity = self.traffic_capacity;
        for (w, link) in self.workers.iter().enumerate() {
            let pooled = &self.pooled;
            let update = Update::for_worker(
                self.generation,
                Arc::clone(&snap),
                &self.snap,
                false,
                |laddr| {
                    (!pooled.contains(&laddr))
                        .then(|| PortPool::for_worker(laddr, w as u16, &scheme, link.seed))
                },
                self.traffic_capacity,
            );
            if let Some(t) = &update.traffic {
                capacity = t.capacity();
            }
            link.mailbox.post(Box::new(update));
        }
        self.traffic_capacity = capacity;
        self.pooled.extend(snap.services.laddrs());
        self.snap = snap;
        self.wait_taken();
        self.collect_garbage();
    }

    /// Wait until every worker forwards with the current generation (bounded).
    fn wait_taken(&self) {
        let deadline = Instant::now() + TAKE_TIMEOUT;
        while Instant::now() < deadline {
            if self
                .workers
                .iter()
                .all(|w| w.mailbox.generation() >= self.generation)
            {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        crate::warn!(
            "a worker has not taken configuration generation {} after {:?}",
            self.generation,
            TAKE_TIMEOUT
        );
    }

    /// Every content-switching service's rules with their match counts.
    fn rules(&self) -> Vec<rvs_ctl::proto::RulesInfo> {
        views::rules(&self.snap, &self.rule_matches())
    }

    /// Every worker's content-switching match counts, summed, laid out by the current
    /// snapshot. A worker that has not published since it took the current generation
    /// is left out until it does (its counts are laid out by the previous snapshot):
    /// that lasts a poll round after a change.
    fn rule_matches(&self) -> Vec<u64> {
        let mut sum = vec![0; self.snap.services.match_counters()];
        for w in &self.workers {
            let published = lock(&w.published);
            if published.generation != self.generation {
                continue;
            }
            for (a, b) in sum.iter_mut().zip(&published.rule_matches) {
                *a += b;
            }
        }
        sum
    }

    /// Every worker's published counters, summed.
    fn traffic(&self) -> TrafficTable {
        let mut sum = TrafficTable::default();
        for w in &self.workers {
            sum.add(&lock(&w.published).traffic);
        }
        sum
    }

    fn zero(&mut self, service: Option<&ServiceKey>) -> Result<(), ErrorReply> {
        let traffic = self.traffic();
        let services: Vec<_> = match service {
            None => self.snap.services.list().iter().collect(),
            Some(key) => vec![views::find_service(&self.snap, key)?],
        };
        let grow = |v: &mut Vec<rvs_pipeline::traffic::Traffic>, i: usize| {
            if v.len() <= i {
                v.resize(i + 1, Default::default());
            }
        };
        for svc in services {
            let i = svc.id as usize;
            grow(&mut self.zeroed.services, i);
            let now = traffic.services.get(i).copied().unwrap_or_default();
            self.zeroed.services[i] = now;
            self.estimates
                .entry(StatKey::Service(svc.id))
                .or_default()
                .reset(&now);
            for r in svc.sched.reals() {
                let j = r.id as usize;
                grow(&mut self.zeroed.dests, j);
                let now = traffic.dests.get(j).copied().unwrap_or_default();
                self.zeroed.dests[j] = now;
                self.estimates
                    .entry(StatKey::Dest(r.id))
                    .or_default()
                    .reset(&now);
            }
        }
        Ok(())
    }

    /// Ask every worker for a copy of its tables and collect the copies (bounded wait).
    fn dumps(&self, conns_each: usize) -> Vec<(u16, Box<Dump>)> {
        for w in &self.workers {
            w.mailbox
                .request_dump(Dump::with_capacity(conns_each, MAX_NEIGHBORS_LISTED));
        }
        let deadline = Instant::now() + DUMP_TIMEOUT;
        let mut out: Vec<Option<Box<Dump>>> = self.workers.iter().map(|_| None).collect();
        while Instant::now() < deadline && out.iter().any(Option::is_none) {
            for (slot, w) in out.iter_mut().zip(&self.workers) {
                if slot.is_none() {
                    *slot = w.mailbox.take_dumped();
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        out.into_iter()
            .enumerate()
            .filter_map(|(w, d)| d.map(|d| (w as u16, d)))
            .collect()
    }
}

/// Lines of a reload's or a runtime change's differences logged at most.
const LOGGED_CHANGES: usize = 50;

/// How a reload goes (`rvsctl config reload` options).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReloadHow {
    /// Say what would change; apply nothing.
    pub dry_run: bool,
    /// Apply even where the file undoes runtime changes.
    pub discard_runtime: bool,
}

/// Log `diff` under `what`: its summary, then one line per difference (bounded).
fn log_diff(what: &str, diff: &ConfigDiff) {
    crate::info!("{what}: {}", diff.summary());
    for d in diff.differences.iter().take(LOGGED_CHANGES) {
        crate::info!("  {d}");
    }
    if diff.differences.len() > LOGGED_CHANGES {
        crate::info!("  and {} more", diff.differences.len() - LOGGED_CHANGES);
    }
}

/// The first `n` of `lines` joined with `; `, and how many more.
fn first_lines(lines: &[String], n: usize) -> String {
    let mut text = lines.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if lines.len() > n {
        text.push_str(&format!("; and {} more", lines.len() - n));
    }
    text
}

/// Log what the announcer did.
fn log_event(event: announce::Event) {
    match event {
        announce::Event::Done(t) => {
            for vip in t.announced {
                crate::info!("announce: {vip} announced");
            }
            for vip in t.withdrawn {
                crate::info!("announce: {vip} withdrawn");
            }
        }
        announce::Event::Failed {
            error,
            in_a_row,
            retry_in,
        } => crate::warn!(
            "announce: {error} (failure {in_a_row} in a row; the change stays pending, \
             tried again in {retry_in:?})"
        ),
    }
}

/// Lock a worker's published counters (a poisoned lock still holds the last counters).
fn lock(m: &Mutex<Published>) -> std::sync::MutexGuard<'_, Published> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
