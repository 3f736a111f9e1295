//! The I/O floor: the same device, feeder and burst as the director's run, with a bare
//! loop on each worker lcore that transmits what it receives (no parsing, no lookup, no
//! rewrite). What the director adds to a frame's cost is the difference.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rvs_dpdk::{Eal, Mempool, Port, PortConfig};

use crate::feeder::{FeedReport, Feeder, Schedule, BURST};

/// Run the bare loop on `device` (a ring device with a queue per lcore of `lcores`)
/// while `feeder` runs `schedule`; returns what the feeder measured.
pub fn run(
    eal: &Eal,
    pool: &Mempool,
    device: &str,
    lcores: &[u32],
    feeder: &mut Feeder,
    schedule: Schedule,
) -> Result<FeedReport, String> {
    let queues = lcores.len() as u16;
    let config = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rss: false,
        checksum_offload: false,
        ..PortConfig::default()
    };
    let port = Port::open(eal, device, pool, &config).map_err(|e| e.to_string())?;
    port.start().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    for (q, &lcore) in lcores.iter().enumerate() {
        let mut rx = port.rx_queue(q as u16).map_err(|e| e.to_string())?;
        let mut tx = port.tx_queue(q as u16).map_err(|e| e.to_string())?;
        let stop = Arc::clone(&stop);
        eal.launch(lcore, move || {
            let mut burst = Vec::with_capacity(BURST);
            while !stop.load(Ordering::Relaxed) {
                if rx.rx_burst(&mut burst, BURST) == 0 {
                    continue;
                }
                while !burst.is_empty() && tx.tx_burst(&mut burst) > 0 {}
                burst.clear();
            }
        })
        .map_err(|e| e.to_string())?;
    }
    let report = feeder.run(schedule, &stop);
    let waited = eal.wait_all();
    port.stop().map_err(|e| e.to_string())?;
    waited.map_err(|e| e.to_string())?;
    report
}
