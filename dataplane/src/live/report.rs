//! What a live run prints when it stops: summed and per-worker counters, device counters.

use rvs_dpdk::{Port, PortStats};
use serde::Serialize;

use super::io::IoCounters;
use super::poll::Published;
use crate::counters::{CounterSummary, WorkerCounters};

/// The end-of-run report (printed as JSON by rvsd).
#[derive(Clone, Debug, Serialize)]
pub struct LiveReport {
    /// The pipeline counters of all workers, summed (the same fields as a replay prints).
    #[serde(flatten)]
    pub total: CounterSummary,
    /// The I/O layer's counters, summed.
    pub io: IoCounters,
    /// Seconds the workers ran.
    pub elapsed_seconds: f64,
    /// Each worker's counters.
    pub workers: Vec<WorkerReport>,
    /// Each port's device counters.
    pub ports: Vec<PortReport>,
}

/// One worker's counters.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerReport {
    /// Worker id.
    pub worker: u16,
    /// The lcore it ran on.
    pub lcore: u32,
    /// Its pipeline counters.
    #[serde(flatten)]
    pub counters: CounterSummary,
    /// Its I/O counters.
    pub io: IoCounters,
}

/// One port's device counters.
#[derive(Clone, Debug, Serialize)]
pub struct PortReport {
    /// Configured name.
    pub name: String,
    /// DPDK device name.
    pub device: String,
    /// The PMD.
    pub driver: String,
    /// Receive queues used.
    pub rx_queues: u16,
    /// Transmit queues used.
    pub tx_queues: u16,
    /// Packets the device received.
    pub ipackets: u64,
    /// Packets the device sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped for lack of a receive descriptor.
    pub imissed: u64,
    /// Erroneous packets received.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

impl PortReport {
    /// The report of `port`, configured as `name`.
    pub fn new(name: &str, port: &Port) -> Self {
        let s = port.stats().unwrap_or_else(|e| {
            eprintln!("rvsd: port {name}: reading device counters: {e}");
            PortStats::default()
        });
        Self {
            name: name.to_owned(),
            device: port.name().to_owned(),
            driver: port.info().driver.clone(),
            rx_queues: port.rx_queue_count(),
            tx_queues: port.tx_queue_count(),
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }
}

impl LiveReport {
    /// Sum what the workers published last (`(worker, lcore, published)`).
    pub fn new(
        workers: &[(u16, u32, Published)],
        ports: Vec<PortReport>,
        elapsed_seconds: f64,
    ) -> Self {
        let mut total = WorkerCounters::default();
        let mut io = IoCounters::default();
        let workers = workers
            .iter()
            .map(|(worker, lcore, p)| {
                total.add(&p.pipeline);
                io.add(&p.io);
                WorkerReport {
                    worker: *worker,
                    lcore: *lcore,
                    counters: p.pipeline.summary(),
                    io: p.io,
                }
            })
            .collect();
        Self {
            total: total.summary(),
            io,
            elapsed_seconds,
            workers,
            ports,
        }
    }
}
