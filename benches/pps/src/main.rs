//! rvs-pps: packets per second through rvsd's live pipeline, without a NIC.
//!
//! One `net_ring` port whose queues loop back (what a worker transmits on queue `w` it
//! receives again on queue `w`), a DR service, and, preloaded at start, the frames of
//! established client connections to the VIP: each worker is handed the flows it owns.
//! DR rewrites only the Ethernet header (no TTL change), so every frame circulates until
//! the run ends and each pass is a full trip through the pipeline: receive, parse, steer,
//! connection lookup and TCP state, route, neighbour, L2 rewrite, transmit. The ring port
//! has no checksum offload, so each pass also recomputes the TCP checksum in software.
//!
//! ```text
//! rvs-pps [--workers N] [--seconds S] [--flows F] [--frames-per-flow K] [--hugepages]
//! ```
//! Prints per-worker and total Mpps, then rvsd's JSON report.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use rvs_dataplane::checksum::fill_l4_checksum;
use rvs_dataplane::config::{Config, PortId};
use rvs_dataplane::live::{self, LiveOptions, LiveReport};
use rvs_dataplane::steer::owner_by_client;
use rvs_dataplane::wire::parse_frame;

/// The VIP and port the preloaded flows go to.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VPORT: u16 = 80;
/// Frames a `net_ring` queue holds (a ring of 1024 slots keeps one free): more frames per
/// worker would be refused at start.
const RING_CAPACITY: usize = 1023;

/// What to run.
#[derive(Clone, Copy, Debug)]
struct Params {
    workers: u16,
    seconds: f64,
    flows: usize,
    frames_per_flow: usize,
    hugepages: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            workers: 1,
            seconds: 5.0,
            flows: 64,
            frames_per_flow: 4,
            hugepages: false,
        }
    }
}

fn parse_args() -> Result<Params, String> {
    let mut p = Params::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--hugepages" {
            p.hugepages = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = format!("{flag}: bad value {value:?}");
        match flag.as_str() {
            "--workers" => p.workers = value.parse().map_err(|_| bad)?,
            "--seconds" => p.seconds = value.parse().map_err(|_| bad)?,
            "--flows" => p.flows = value.parse().map_err(|_| bad)?,
            "--frames-per-flow" => p.frames_per_flow = value.parse().map_err(|_| bad)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if p.workers == 0
        || p.flows == 0
        || p.frames_per_flow == 0
        || !p.seconds.is_finite()
        || p.seconds <= 0.0
    {
        return Err("workers, flows, frames per flow and seconds must be positive".into());
    }
    if p.flows.saturating_mul(p.frames_per_flow) > RING_CAPACITY {
        return Err(format!(
            "flows x frames per flow must fit a ring queue: at most {RING_CAPACITY}"
        ));
    }
    Ok(p)
}

/// The director: one ring port, one DR service whose real is a static neighbour.
fn config(workers: u16) -> Config {
    let text = format!(
        r#"
[dataplane]
workers = {workers}
conn_capacity = 65536

[dpdk]
eal_args = ["--no-pci", "--no-telemetry"]

[[port]]
name = "ring0"
device = "net_ring0"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24"]

[[neighbor]]
ip = "10.0.0.50"
mac = "02:00:00:00:00:50"
port = "ring0"

[[service]]
proto = "tcp"
vip = "{VIP}"
port = {VPORT}
scheduler = "rr"
[[service.real]]
ip = "10.0.0.50"
forward = "dr"
"#
    );
    Config::parse(&text, "rvs-pps.toml").expect("the harness's configuration is valid")
}

/// A 60-byte Ethernet frame: TCP from `client` to the VIP, checksums correct.
fn frame(client: Ipv4Addr, sport: u16, syn: bool) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&client.octets());
    ip[16..20].copy_from_slice(&VIP.octets());
    let sum = ip
        .chunks(2)
        .fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let folded = (sum & 0xffff) + (sum >> 16);
    let ck = !(((folded & 0xffff) + (folded >> 16)) as u16);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&VPORT.to_be_bytes());
    tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = if syn { 0x02 } else { 0x10 };
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let info = parse_frame(&f).expect("the harness builds valid frames");
    fill_l4_checksum(&mut f, &info).expect("the harness builds valid frames");
    f
}

/// `flows` connections per worker, each a SYN then `frames_per_flow - 1` ACKs, in the
/// order the owning worker transmits them.
fn traffic(p: &Params) -> Vec<(PortId, Vec<u8>)> {
    let mut per_worker = vec![0usize; usize::from(p.workers)];
    let mut frames = Vec::new();
    let mut n: u32 = 0;
    while per_worker.iter().any(|&c| c < p.flows) {
        let client = Ipv4Addr::from(0x0a02_0000 + (n >> 10));
        let sport = 10_000 + (n & 0x3ff) as u16;
        n += 1;
        let owner = usize::from(owner_by_client(client.into(), sport, p.workers));
        if per_worker[owner] >= p.flows {
            continue;
        }
        per_worker[owner] += 1;
        frames.push((PortId(0), frame(client, sport, true)));
        for _ in 1..p.frames_per_flow {
            frames.push((PortId(0), frame(client, sport, false)));
        }
    }
    frames
}

fn print(report: &LiveReport) {
    let secs = report.elapsed_seconds.max(f64::MIN_POSITIVE);
    println!("worker  lcore  packets        Mpps   dropped");
    let mut total = 0.0;
    for w in &report.workers {
        let mpps = w.counters.received.packets as f64 / secs / 1e6;
        total += mpps;
        let dropped: u64 = w.counters.dropped.values().sum();
        println!(
            "{:>6}  {:>5}  {:>12}  {:>6.2}  {:>8}",
            w.worker, w.lcore, w.counters.received.packets, mpps, dropped
        );
    }
    println!("total {total:.2} Mpps over {secs:.2} s");
    match serde_json::to_string_pretty(report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("rvs-pps: printing the report: {e}"),
    }
}

fn main() -> ExitCode {
    let p = match parse_args() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rvs-pps: {e}");
            eprintln!(
                "usage: rvs-pps [--workers N] [--seconds S] [--flows F] [--frames-per-flow K] [--hugepages]"
            );
            return ExitCode::from(2);
        }
    };
    let options = LiveOptions {
        no_huge: !p.hugepages,
        run_for: Some(Duration::from_secs_f64(p.seconds)),
        idle_sleep: None,
        seed: Some(1),
        preload: traffic(&p),
        control_file: None,
    };
    match live::run(&config(p.workers), &options) {
        Ok(report) => {
            print(&report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rvs-pps: {e}");
            ExitCode::FAILURE
        }
    }
}
