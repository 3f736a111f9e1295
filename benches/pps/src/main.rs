//! rvs-pps: packets per second through rvsd's live pipeline, without a NIC.
//!
//! The director runs on a ring device (`net_ring`) whose queue `w` is a pair of rings
//! that worker `w` receives from and transmits into; a feeder thread sits between them
//! and keeps every receive ring supplied with the frames of the connections that worker
//! owns, visited in random order (see `feeder` and `traffic`). Before the director, the
//! same feeder measures the I/O floor on a second ring device: a bare receive-transmit
//! loop per worker lcore, no rvs processing.
//!
//! ```text
//! rvs-pps [--mode nat|fullnat|dr|tun] [--workers N] [--flows F] [--seconds S]
//!         [--inflight K] [--idle busy|backoff] [--idle-max-us U] [--idle-seconds I]
//!         [--no-floor] [--hugepages]
//! ```
//! Prints the floor, per-worker and total Mpps of the director, the idle CPU use, then
//! rvsd's JSON report.

mod feeder;
mod floor;
mod traffic;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use rvs_config::{Config, IdlePolicy, DEFAULT_IDLE_MAX_US};
use rvs_dpdk::{ring, Eal, Mempool};
use rvs_runtime::live::{self, LiveOptions, LiveReport};

use feeder::{FeedReport, Feeder, Schedule};
use traffic::{Mode, REAL, VIP, VPORT};

/// Tables in hugepages as in rvsd (`--hugepages`: the pool; otherwise transparent
/// hugepages; `RVS_TABLE_PAGES=normal` for ordinary pages).
#[global_allocator]
static ALLOC: rvs_dpdk::TableAlloc = rvs_dpdk::TableAlloc;

/// The director's device (`net_ring_` and this) and the floor's.
const LIVE_DEVICE: &str = "pps";
const FLOOR_DEVICE: &str = "floor";
/// Mbufs each of a device's rings holds.
const RING_SLOTS: u32 = 1024;
/// Most frames in flight per worker (they must fit one ring).
const MAX_INFLIGHT: usize = 960;
/// FULLNAT connections per local address and worker the harness plans for (a local
/// address has 64512 ports, split between the workers).
const PORTS_PER_LADDR: usize = 30_000;

/// What to run.
#[derive(Clone, Copy, Debug)]
struct Params {
    mode: Mode,
    workers: u16,
    seconds: f64,
    flows: usize,
    inflight: usize,
    idle: IdlePolicy,
    idle_seconds: f64,
    floor: bool,
    hugepages: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            mode: Mode::Dr,
            workers: 1,
            seconds: 5.0,
            flows: 64,
            inflight: 256,
            idle: IdlePolicy::Busy,
            idle_seconds: 2.0,
            floor: true,
            hugepages: false,
        }
    }
}

const USAGE: &str = "usage: rvs-pps [--mode nat|fullnat|dr|tun] [--workers N] [--flows F] \
    [--seconds S] [--inflight K] [--idle busy|backoff] [--idle-max-us U] [--idle-seconds I] \
    [--no-floor] [--hugepages]";

fn parse_args() -> Result<Params, String> {
    let mut p = Params::default();
    let mut max_us = DEFAULT_IDLE_MAX_US;
    let mut backoff = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--hugepages" => {
                p.hugepages = true;
                continue;
            }
            "--no-floor" => {
                p.floor = false;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = format!("{flag}: bad value {value:?}");
        match flag.as_str() {
            "--mode" => p.mode = Mode::parse(&value).ok_or(bad)?,
            "--workers" => p.workers = value.parse().map_err(|_| bad)?,
            "--seconds" => p.seconds = value.parse().map_err(|_| bad)?,
            "--flows" => p.flows = value.parse().map_err(|_| bad)?,
            "--inflight" => p.inflight = value.parse().map_err(|_| bad)?,
            "--idle" => {
                backoff = match value.as_str() {
                    "busy" => false,
                    "backoff" => true,
                    _ => return Err(bad),
                }
            }
            "--idle-max-us" => max_us = value.parse().map_err(|_| bad)?,
            "--idle-seconds" => p.idle_seconds = value.parse().map_err(|_| bad)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if backoff {
        p.idle = IdlePolicy::Backoff {
            max_sleep_us: max_us.max(1),
        };
    }
    let finite = |s: f64| s.is_finite() && s >= 0.0;
    if p.workers == 0 || p.flows == 0 || !finite(p.seconds) || p.seconds == 0.0 {
        return Err("workers, flows and seconds must be positive".into());
    }
    if !finite(p.idle_seconds) {
        return Err("--idle-seconds must be a non-negative number".into());
    }
    if p.inflight == 0 || p.inflight > MAX_INFLIGHT {
        return Err(format!("--inflight must be 1..={MAX_INFLIGHT}"));
    }
    Ok(p)
}

/// The director: one ring port, one service with one real in `p.mode`, a default route
/// for NAT replies to clients, and enough FULLNAT local addresses for every connection.
fn config(p: &Params) -> Config {
    let laddrs: Vec<String> = (0..p.flows.div_ceil(PORTS_PER_LADDR).clamp(1, 250))
        .map(|i| format!("\"10.0.1.{}\"", i + 1))
        .collect();
    let laddrs = if p.mode == Mode::FullNat {
        format!("laddrs = [{}]", laddrs.join(", "))
    } else {
        String::new()
    };
    let idle = match p.idle {
        IdlePolicy::Busy => "idle = \"busy\"".to_owned(),
        IdlePolicy::Backoff { max_sleep_us } => {
            format!("idle = \"backoff\"\nidle_max_us = {max_sleep_us}")
        }
    };
    // Every connection may land on one worker; a little room for the director's own.
    let capacity = p.flows + 4096;
    let text = format!(
        r#"
[dataplane]
workers = {workers}
conn_capacity = {capacity}
{idle}

[dpdk]
eal_args = ["--no-pci", "--no-telemetry"]

[[port]]
name = "ring0"
device = "net_ring_{LIVE_DEVICE}"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
port = "ring0"

[[neighbor]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:02"
port = "ring0"

[[neighbor]]
ip = "{REAL}"
mac = "02:00:00:00:00:50"
port = "ring0"

[[service]]
proto = "tcp"
vip = "{VIP}"
port = {VPORT}
scheduler = "rr"
{laddrs}
[[service.real]]
ip = "{REAL}"
forward = "{mode}"
"#,
        workers = p.workers,
        mode = p.mode.name(),
    );
    Config::parse(&text, "rvs-pps.toml").expect("the harness's configuration is valid")
}

fn mpps(frames: u64, secs: f64) -> f64 {
    frames as f64 / secs.max(f64::MIN_POSITIVE) / 1e6
}

fn print_floor(floor: &FeedReport) {
    for (w, &n) in floor.per_worker.iter().enumerate() {
        println!("floor worker {w}: {:.2} Mpps", mpps(n, floor.load_secs));
    }
    println!(
        "floor {:.2} Mpps (bare rx/tx loop, same device, feeder and burst)",
        floor.total_mpps()
    );
}

fn print_live(p: &Params, feed: &FeedReport, report: &LiveReport) {
    if feed.warmup_secs > 0.0 {
        println!(
            "warm-up: {} connections opened in {:.2} s{}",
            p.flows,
            feed.warmup_secs,
            if p.mode.has_replies() {
                format!(", {} replies learned", feed.learned)
            } else {
                String::new()
            }
        );
    }
    println!("worker  lcore  packets        Mpps   dropped");
    for (w, &n) in feed.per_worker.iter().enumerate() {
        let (lcore, dropped) = report
            .workers
            .get(w)
            .map(|r| (r.lcore, r.counters.dropped.values().sum::<u64>()))
            .unwrap_or_default();
        println!(
            "{w:>6}  {lcore:>5}  {n:>12}  {:>6.2}  {dropped:>8}",
            mpps(n, feed.load_secs)
        );
    }
    println!(
        "total {:.2} Mpps over {:.2} s",
        feed.total_mpps(),
        feed.load_secs
    );
    if let Some(cpu) = feed.idle_cpu {
        println!(
            "idle ({}): {:.1}% of one CPU for the whole process, no traffic",
            p.idle,
            cpu * 100.0
        );
    }
}

fn main() -> ExitCode {
    let p = match parse_args() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rvs-pps: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&p) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvs-pps: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(p: &Params) -> Result<(), String> {
    let config = config(p);
    let options = LiveOptions {
        no_huge: !p.hugepages,
        run_for: None,
        seed: Some(1),
        stop: Some(Arc::new(AtomicBool::new(false))),
        control_file: None,
        idle: None,
    };
    let queues = p.workers;
    // Per device and worker: a full receive ring of the feeder's frames at most.
    let feed_mbufs = 2 * u32::from(queues) * RING_SLOTS;
    let eal = live::init_eal(&config, &options, feed_mbufs).map_err(|e| e.to_string())?;
    let pool = Mempool::new(&eal, "pps_feed", feed_mbufs).map_err(|e| e.to_string())?;
    let (_, live_queues) =
        ring::device(&eal, LIVE_DEVICE, queues, RING_SLOTS).map_err(|e| e.to_string())?;
    println!(
        "rvs-pps: mode {}, {} worker(s), {} connections in random order, {} frames in flight per worker, idle {}",
        p.mode.name(),
        p.workers,
        p.flows,
        p.inflight,
        p.idle
    );
    let mut traffic = traffic::build(p.mode, p.flows, p.workers, 1);
    let load = Duration::from_secs_f64(p.seconds);
    if p.floor {
        traffic = floor(&eal, &pool, p, traffic, load)?;
    }
    let mut feeder = Feeder::new(pool, live_queues, traffic, p.inflight);
    let schedule = Schedule {
        warmup: true,
        load,
        idle: (p.idle_seconds > 0.0).then(|| Duration::from_secs_f64(p.idle_seconds)),
    };
    let stop = options.stop.clone().unwrap_or_default();
    let feeding = std::thread::spawn(move || feeder.run(schedule, &stop));
    let report = live::run_on(&eal, &config, &options);
    let feed = feeding
        .join()
        .map_err(|_| "the feeder panicked".to_owned())?;
    let report = report.map_err(|e| e.to_string())?;
    let feed = feed?;
    print_live(p, &feed, &report);
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("rvs-pps: printing the report: {e}"),
    }
    Ok(())
}

/// Measure the floor on its own device; gives the traffic back for the director's run.
fn floor(
    eal: &Eal,
    pool: &Mempool,
    p: &Params,
    traffic: Vec<traffic::WorkerTraffic>,
    load: Duration,
) -> Result<Vec<traffic::WorkerTraffic>, String> {
    let (device, queues) =
        ring::device(eal, FLOOR_DEVICE, p.workers, RING_SLOTS).map_err(|e| e.to_string())?;
    let lcores: Vec<u32> = eal
        .worker_lcores()
        .into_iter()
        .take(usize::from(p.workers))
        .collect();
    let mut feeder = Feeder::new(pool.clone(), queues, traffic, p.inflight);
    let schedule = Schedule {
        warmup: false,
        load,
        idle: None,
    };
    let report = floor::run(eal, pool, &device, &lcores, &mut feeder, schedule)?;
    print_floor(&report);
    Ok(feeder.into_traffic())
}
