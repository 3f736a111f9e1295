//! The live director: DPDK ports polled by one worker per lcore.
//!
//! [`run`] starts the EAL from `[dpdk] eal_args` (see the `plan` module for what rvsd adds: lcores,
//! `--no-huge`, memory), creates one mbuf pool sized for every queue, cache, ring and
//! parked frame, opens each `[[port]]` with one receive and one transmit queue per
//! worker where the device has that many (RSS on when the device has it, promiscuous),
//! and launches one [`rvs_pipeline::worker::Worker`] per worker lcore.
//!
//! A device with fewer queues than workers is shared: the workers beyond its receive
//! queues poll nothing on it (what they own reaches them through the steering rings),
//! and the workers beyond its transmit queues hand finished frames to the worker holding
//! one (worker `w` to `w mod queues`) through the same rings. One SPSC ring links each
//! ordered pair of workers.
//!
//! The calling thread is the control core: it waits for SIGINT or SIGTERM (or the run
//! time the caller set), raises the stop flag, waits for the workers, stops the ports and
//! returns the counters, all within `[ctl] shutdown_timeout` (see the `stop` module).
//! The handlers are in place before DPDK starts: a signal during start-up lets the
//! workers start and stop at once, so the ports are stopped and closed in order. A
//! second signal while stopping exits at once (status 1).

mod buf;

mod error;
mod io;
mod kernel;
mod link;
mod plan;
mod poll;
mod ports;
mod preflight;
mod report;
mod stop;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rvs_dpdk::{ring, Eal, Mempool, Port};

pub use buf::MbufBuf;
pub use error::LiveError;
pub use preflight::check_file;
pub use report::{LiveReport, PortReport, WorkerReport};
pub use stop::EXIT_STOP_TIMEOUT;

use io::{LiveIo, Outbox, PortTx};
use poll::{Backoff, Clock, WorkerLoop};
use ports::port_source;
use rvs_control::daemon::ControlCore;
use rvs_control::stopping::StopLog;

use rvs_config::{Config, IdlePolicy, PortId};
use rvs_control::{Control, WorkerLink};
use rvs_pipeline::flow_hash;
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::update::{Mailbox, Published};
use rvs_pipeline::worker::Worker;

/// How often the control core looks at the stop flag and the workers.
const CONTROL_POLL: Duration = Duration::from_millis(20);

/// How a live run behaves beyond its configuration file.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// Add `--no-huge --no-shconf` to the EAL arguments (development without hugepages).
    pub no_huge: bool,
    /// Stop after this long instead of waiting for a signal.
    pub run_for: Option<Duration>,
    /// Seed for the local-port order; `None` takes one from the clock.
    pub seed: Option<u64>,
    /// A flag the caller raises to stop the director, as a signal would (the
    /// packets-per-second harness ends its run with it).
    pub stop: Option<Arc<AtomicBool>>,
    /// Serve the control socket and answer SIGHUP with a reload of this file (rvsd);
    /// `None` runs without a control core (the packets-per-second harness).
    pub control_file: Option<PathBuf>,
    /// The workers' idle policy instead of the file's `[dataplane] idle` (a command-line
    /// override: the configuration, and what a reload compares against, stay the file's).
    pub idle: Option<IdlePolicy>,
}

/// Run a live director with `config` until SIGINT/SIGTERM (or `options.run_for`).
pub fn run(config: &Config, options: &LiveOptions) -> Result<LiveReport, LiveError> {
    // Handlers first: a signal while DPDK starts and the ports come up (seconds, with
    // link waits) raises the stop flag, and the director then stops in order, ports
    // stopped and closed, instead of dying with devices configured (af_xdp leaves its
    // XDP program on the interface).
    let stop = options.stop.clone().unwrap_or_default();
    install_signals(&stop)?;
    let eal = init_eal(config, options, 0)?;
    run_with(&eal, &stop, config, options)
}

/// Start the EAL as [`run`] does, with memory for `extra_mbufs` more buffers than the
/// director's pool (a caller that creates devices and pools of its own before
/// [`run_on`]).
pub fn init_eal(
    config: &Config,
    options: &LiveOptions,
    extra_mbufs: u32,
) -> Result<Eal, LiveError> {
    preflight::check(config)?;
    let workers = config.dataplane.workers;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let plan = plan::EalPlan {
        workers,
        no_huge: options.no_huge,
        vdevs_only: config
            .ports
            .iter()
            .all(|p| rvs_config::device::needs_no_pci(&p.device)),
        cpus,
        mbufs: pool_size(config, extra_mbufs),
        data_room: data_room(config),
    };
    let args = plan::eal_args(&config.dpdk.eal_args, plan);
    rvs_control::info!("EAL arguments: {}", args.join(" "));
    if let Some(warning) = plan::cpu_shortfall(&config.dpdk.eal_args, workers, cpus) {
        rvs_control::warn!("{warning}");
    }
    Eal::init(args).map_err(|source| LiveError::Eal { source })
}

/// Run a live director as [`run`] does, on an EAL the caller started with [`init_eal`]
/// (and on which it may have created devices the configuration names).
pub fn run_on(eal: &Eal, config: &Config, options: &LiveOptions) -> Result<LiveReport, LiveError> {
    let stop = options.stop.clone().unwrap_or_default();
    install_signals(&stop)?;
    run_with(eal, &stop, config, options)
}

/// The data room of the director's mbufs: a whole frame of its largest port MTU.
fn data_room(config: &Config) -> u16 {
    let mtu = config.ports.iter().map(|p| p.mtu).max();
    plan::data_room(mtu.unwrap_or(rvs_dpdk::ETHER_MTU))
}

/// Mbufs of the director's pool for `config`, plus `extra` (the memory `init_eal` asks
/// for covers buffers the caller's own pools hold).
fn pool_size(config: &Config, extra: u32) -> u32 {
    let devices = config.ports.len() + config.kernel_mirrors().count();
    let af_xdp = config
        .ports
        .iter()
        .filter(|p| p.device.starts_with("net_af_xdp"))
        .count();
    let held = rvs_pipeline::synproxy::held::slots(config.dataplane.conn_capacity)
        + rvs_pipeline::l7::waiting::slots(config.dataplane.conn_capacity)
            * rvs_pipeline::l7::waiting::FRAMES;
    plan::pool_mbufs(devices, config.dataplane.workers, held, extra as usize)
        .saturating_add(plan::af_xdp_mbufs(af_xdp))
}

fn run_with(
    eal: &Eal,
    stop: &Arc<AtomicBool>,
    config: &Config,
    options: &LiveOptions,
) -> Result<LiveReport, LiveError> {
    let workers = config.dataplane.workers;
    let mbufs = pool_size(config, 0);
    let lcores = eal.worker_lcores();
    if lcores.len() < usize::from(workers) {
        return Err(LiveError::Lcores {
            wanted: workers,
            found: lcores.len(),
        });
    }
    let pool = Mempool::with_data_room(eal, "rvs_mbufs", mbufs, data_room(config))
        .map_err(|source| LiveError::Pool { mbufs, source })?;
    let ports = ports::open(eal, &pool, config)?;
    let macs: Vec<_> = ports.iter().map(|p| p.mac().ok()).collect();
    let sw: Vec<_> = ports.iter().map(ports::needs_sw_checksum).collect();
    let mut ids = IdRegistry::default();
    let mut snap = Snapshot::build(config, &macs, &sw, &mut ids)?;
    if let Some(model) = ports::align_rss(&ports, config) {
        snap = snap.with_rss(model);
    }
    let snap = Arc::new(snap);

    let seed = options.seed.unwrap_or_else(clock_seed);
    // Signals raise `stop`; the workers run until `halt`, raised once the control core
    // has withdrawn what it announces (the withdrawal leaves through the workers).
    let halt = Arc::new(AtomicBool::new(false));
    let idle = options.idle.unwrap_or(config.dataplane.idle);
    let mut loops = build_loops(eal, &pool, &ports, &snap, &halt, seed, idle)?;
    let tables = rvs_dpdk::table_memory();
    rvs_control::info!(
        "connection tables: {} MiB from the hugepage pool, {} MiB in pages advised for transparent hugepages",
        tables.hugetlb_bytes >> 20,
        tables.transparent_bytes >> 20
    );
    // Under [ha] the director starts as backup: the workers serve nothing until the
    // control core's VRRP makes it master.
    let ha_link = config
        .ha
        .as_ref()
        .map(|ha| Arc::new(HaLink::of_config(ha, config.dataplane.workers)));
    if let Some(link) = &ha_link {
        for lp in &mut loops {
            lp.worker.attach_ha(Arc::clone(link));
        }
    }
    let links: Vec<WorkerLink> = loops
        .iter()
        .enumerate()
        .map(|(w, lp)| WorkerLink {
            mailbox: Arc::clone(&lp.mailbox),
            published: Arc::clone(&lp.slot),
            lcore: lcores[w],
            seed: worker_seed(seed, w as u16),
        })
        .collect();

    let mut running = Vec::with_capacity(loops.len());
    let mut slots = Vec::with_capacity(loops.len());
    let started = Instant::now();
    for (w, lp) in loops.into_iter().enumerate() {
        let alive = Arc::new(AtomicBool::new(true));
        slots.push(Arc::clone(&lp.slot));
        running.push(Arc::clone(&alive));
        let launched = eal.launch(lcores[w], move || {
            let _alive = AliveGuard(alive);
            lp.run();
        });
        if let Err(source) = launched {
            halt.store(true, Ordering::SeqCst);
            let _ = eal.wait_all();
            return Err(LiveError::Dpdk {
                what: "launching a worker",
                source,
            });
        }
    }
    let core = match &options.control_file {
        Some(file) => {
            let control = Control::new(
                config.clone(),
                file.clone(),
                ids,
                Arc::clone(&snap),
                links,
                port_source(config, &ports, &pool),
            );
            let mut control = control;
            if let Some(link) = &ha_link {
                let macs: Vec<[u8; 6]> = (0..config.ports.len())
                    .map(|i| snap.port(PortId(i as u16)).mac)
                    .collect();
                control.attach_ha(Arc::clone(link), &macs);
                if let Some(hook) = kernel::floating_hook(config) {
                    control.on_master_change(hook);
                }
            }
            match ControlCore::start(control, &config.ctl.socket, config.ctl.metrics) {
                Ok(core) => Some(core),
                Err(e) => {
                    halt.store(true, Ordering::SeqCst);
                    let _ = eal.wait_all();
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
    // Said once the control socket answers too: clients may talk to rvsd from here on.
    rvs_control::info!(
        "running {workers} worker(s) on lcores {:?}; stop with SIGINT or SIGTERM",
        &lcores[..usize::from(workers)]
    );
    let mut core = core;
    // Once the stop flag is up the stop is bounded (`stop` module): what hangs is
    // abandoned, and named.
    let (log, bound) = (StopLog::default(), config.ctl.shutdown_timeout);
    let watchdog = stop::Watchdog::arm(&log, stop, bound);
    let died = control(stop, &running, started, options.run_for, core.as_mut());
    let mut abandoned = match core {
        Some(core) => stop::stop_core(core, &log, watchdog.began(), bound),
        None => Vec::new(),
    };
    halt.store(true, Ordering::SeqCst);
    let elapsed = started.elapsed().as_secs_f64();
    let waited = log.step("waiting for the workers to stop", || eal.wait_all());
    let published: Vec<_> = slots
        .iter()
        .enumerate()
        .map(|(w, slot)| {
            let p = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
            (w as u16, lcores[w], p)
        })
        .collect();
    let port_reports = config
        .ports
        .iter()
        .zip(&ports)
        .map(|(p, port)| PortReport::new(&p.name, port))
        .collect();
    for (p, port) in config.ports.iter().zip(&ports) {
        if let Err(e) = log.step(format!("stopping port {}", p.name), || port.stop()) {
            rvs_control::warn!("port {}: stopping: {e}", p.name);
        }
    }
    watchdog.disarm();
    let tables = rvs_dpdk::table_memory();
    if tables.unmap_failures > 0 {
        rvs_control::warn!(
            "connection tables: the kernel refused to unmap {} table(s); {} MiB stay mapped",
            tables.unmap_failures,
            tables.leaked_bytes >> 20
        );
    }
    // The control core's steps given up at its share of the bound, still running.
    abandoned.extend(log.unfinished().into_iter().map(|(what, _)| what));
    if let Some(w) = died {
        return Err(LiveError::WorkerDied {
            worker: w,
            lcore: lcores[usize::from(w)],
        });
    }
    waited.map_err(|source| LiveError::Dpdk {
        what: "waiting for the workers",
        source,
    })?;
    let mut report = LiveReport::new(&published, port_reports, elapsed);
    report.stop_abandoned = abandoned;
    Ok(report)
}

/// Clears a worker's alive flag when its job ends, normally or by panic.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The control core's wait: until the stop flag (a signal), the run time, or a worker
/// that ended on its own (returned). Raises the stop flag before returning. Meanwhile
/// it runs the rate estimator and answers SIGHUP with a reload.
fn control(
    stop: &AtomicBool,
    running: &[Arc<AtomicBool>],
    started: Instant,
    run_for: Option<Duration>,
    mut core: Option<&mut ControlCore>,
) -> Option<u16> {
    loop {
        std::thread::sleep(CONTROL_POLL);
        if let Some(core) = core.as_deref_mut() {
            core.tick();
        }
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        if run_for.is_some_and(|d| started.elapsed() >= d) {
            stop.store(true, Ordering::SeqCst);
            return None;
        }
        if let Some(w) = running.iter().position(|a| !a.load(Ordering::SeqCst)) {
            stop.store(true, Ordering::SeqCst);
            return Some(w as u16);
        }
    }
}

/// SIGINT and SIGTERM raise `stop`; a second one while stopping exits at once.
fn install_signals(stop: &Arc<AtomicBool>) -> Result<(), LiveError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(stop))
            .map_err(LiveError::Signals)?;
        signal_hook::flag::register(sig, Arc::clone(stop)).map_err(LiveError::Signals)?;
    }
    Ok(())
}

/// Everything each worker lcore will own: queues, rings, I/O, pipeline.
fn build_loops(
    eal: &Eal,
    pool: &Mempool,
    ports: &[Port],
    snap: &Arc<Snapshot>,
    halt: &Arc<AtomicBool>,
    seed: u64,
    idle: IdlePolicy,
) -> Result<Vec<WorkerLoop>, LiveError> {
    let workers = snap.workers;
    let dpdk = |what| move |source| LiveError::Dpdk { what, source };
    let (mut outboxes, mut inboxes): (Vec<Vec<Option<Outbox>>>, Vec<Vec<_>>) = (0..workers)
        .map(|_| ((0..workers).map(|_| None).collect(), Vec::new()))
        .unzip();
    for from in 0..workers {
        for to in (0..workers).filter(|&to| to != from) {
            let name = format!("rvs_steer_{from}_{to}");
            let (p, c) = ring::spsc(eal, &name, plan::RING_SIZE)
                .map_err(dpdk("creating a steering ring"))?;
            outboxes[usize::from(from)][usize::from(to)] = Some(Outbox::new(p));
            inboxes[usize::from(to)].push(c);
        }
    }
    let clock = Clock::new(unix_ms(), eal.tsc_hz());
    let mut loops = Vec::with_capacity(usize::from(workers));
    for ((w, out), inbox) in (0..workers).zip(outboxes).zip(inboxes) {
        let mut rx = Vec::new();
        let mut tx = Vec::with_capacity(ports.len());
        for (i, port) in ports.iter().enumerate() {
            if let Some(q) = plan::rx_queue(w, port.rx_queue_count()) {
                let queue = port.rx_queue(q).map_err(dpdk("taking a receive queue"))?;
                rx.push((PortId(i as u16), queue));
            }
            let holder = plan::tx_holder(w, port.tx_queue_count());
            tx.push(if holder == w {
                PortTx::queue(port.tx_queue(w).map_err(dpdk("taking a transmit queue"))?)
            } else {
                PortTx::Handoff { holder }
            });
        }
        // The connection table and its index are the large, randomly read tables: in
        // hugepages when the binary installs `rvs_dpdk::TableAlloc` (rvsd does).
        let mut worker =
            rvs_dpdk::tables(|| Worker::new(w, Arc::clone(snap), worker_seed(seed, w)));
        // The seed may be guessed (the clock); the cookie key must not be.
        worker.set_cookie_key(rvs_pipeline::synproxy::CookieKey::random());
        loops.push(WorkerLoop {
            mailbox: Mailbox::new(worker.generation()),
            rounds: (0, 0),
            dump: None,
            worker,
            snap: Arc::clone(snap),
            rx,
            inbox,
            io: LiveIo::new(pool.clone(), tx, out),
            clock,
            stop: Arc::clone(halt),
            slot: Arc::new(Mutex::new(Published::default())),
            backoff: Backoff::new(idle),
        });
    }
    Ok(loops)
}

/// Worker `w`'s local-port seed.
fn worker_seed(seed: u64, w: u16) -> u64 {
    seed.wrapping_add(u64::from(w))
}

/// Milliseconds since the Unix epoch (the pipeline's clock starts there, as in replay).
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A seed from the clock, for a live director's local-port order.
fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    flow_hash::mix64(nanos ^ u64::from(std::process::id()))
}
