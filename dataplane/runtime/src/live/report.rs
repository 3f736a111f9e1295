//! What a live run prints when it stops: summed and per-worker counters, device counters.

use rvs_dpdk::{Port, PortStats};
use serde::Serialize;

use rvs_pipeline::counters::IoCounters;
use rvs_pipeline::counters::{CounterSummary, WorkerCounters};
use rvs_pipeline::update::Published;

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
    /// The stop steps given up at `[ctl] shutdown_timeout` (empty: a clean stop).
    pub stop_abandoned: Vec<String>,
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
    /// The device's counters (`ipackets`, `opackets`, … as fields of the report).
    #[serde(flatten)]
    pub stats: PortStats,
}

impl PortReport {
    /// The report of `port`, configured as `name`.
    pub fn new(name: &str, port: &Port) -> Self {
        let stats = port.stats().unwrap_or_else(|e| {
            rvs_control::warn!("port {name}: reading device counters: {e}");
            PortStats::default()
        });
        Self {
            name: name.to_owned(),
            device: port.name().to_owned(),
            driver: port.info().driver.clone(),
            rx_queues: port.rx_queue_count(),
            tx_queues: port.tx_queue_count(),
            stats,
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
            stop_abandoned: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_counters_are_fields_of_the_port_report() {
        let report = PortReport {
            name: "wan".to_owned(),
            device: "net_null0".to_owned(),
            driver: "net_null".to_owned(),
            rx_queues: 2,
            tx_queues: 1,
            stats: PortStats {
                ipackets: 1,
                opackets: 2,
                ibytes: 3,
                obytes: 4,
                imissed: 5,
                ierrors: 6,
                oerrors: 7,
                rx_nombuf: 8,
            },
        };
        let json = serde_json::to_string(&report).expect("serialize");
        assert_eq!(
            json,
            r#"{"name":"wan","device":"net_null0","driver":"net_null","rx_queues":2,"tx_queues":1,"ipackets":1,"opackets":2,"ibytes":3,"obytes":4,"imissed":5,"ierrors":6,"oerrors":7,"rx_nombuf":8}"#
        );
    }
}
