//! rvs-replay: the whole pipeline over captures, no DPDK.
//!
//! `rvsd --replay` and the golden tests run it. It may import `rvs-packet`,
//! `rvs-config` and `rvs-pipeline`; [`pcap`] reads and writes the captures.
//!
//! Frames from every input go through one worker in timestamp order, each as received on
//! its named port; the clock is the packet timestamps. What the pipeline sends on port P
//! is written to `DIR/P.pcap`, stamped with the timestamp of the frame that caused it.

pub mod pcap;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::pcap::{Capture, ReplayInput, ReplayIoError, ReplayWriter};
use rvs_config::{Config, ConfigError, PortId};
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::counters::CounterSummary;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{Io, Worker};

/// Why a replay could not run (a malformed packet is never one: it is a counted drop).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The configuration file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A capture could not be read or written.
    #[error(transparent)]
    Io(#[from] ReplayIoError),
    /// A `--replay` names a port the configuration does not have.
    #[error("--replay {port}=...: no port named {port:?} in the configuration")]
    UnknownPort {
        /// The name given.
        port: String,
    },
    /// A scheduler table could not be built.
    #[error("building the services: {0}")]
    Build(#[from] rvs_schedulers::BuildError),
}

/// What a replay needs.
#[derive(Clone, Debug)]
pub struct ReplayPlan {
    /// The configuration file.
    pub config: PathBuf,
    /// The inputs, in the order named.
    pub inputs: Vec<ReplayInput>,
    /// The output directory.
    pub out: PathBuf,
    /// Seed for everything random on a live director.
    pub seed: u64,
}

/// Buffers the pipeline sends until they are written with the cause's timestamp.
#[derive(Debug, Default)]
struct ReplayIo {
    sent: Vec<(PortId, HeapBuf)>,
}

impl Io for ReplayIo {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(HeapBuf::new())
    }

    fn send(&mut self, port: PortId, buf: HeapBuf) {
        self.sent.push((port, buf));
    }
}

/// Milliseconds of a capture timestamp (the pipeline's clock).
fn millis(ts: Duration) -> u64 {
    u64::try_from(ts.as_millis()).unwrap_or(u64::MAX)
}

/// Run a replay and return the summed counters.
pub fn run(plan: &ReplayPlan) -> Result<CounterSummary, ReplayError> {
    let config = Config::from_file(&plan.config)?;
    run_config(&config, &plan.inputs, &plan.out, plan.seed)
}

/// Run a replay of `inputs` under an already validated `config`.
pub fn run_config(
    config: &Config,
    inputs: &[ReplayInput],
    out: &Path,
    seed: u64,
) -> Result<CounterSummary, ReplayError> {
    let mut ids = IdRegistry::default();
    let snap = Arc::new(Snapshot::build(config, &[], &[], &mut ids)?);
    let mut in_ports = Vec::with_capacity(inputs.len());
    for input in inputs {
        let port = snap
            .port_by_name(&input.port)
            .ok_or_else(|| ReplayError::UnknownPort {
                port: input.port.clone(),
            })?;
        in_ports.push((input.port.as_str(), port));
    }
    let capture = Capture::read(inputs)?;
    let names: Vec<&str> = snap.ports.iter().map(|p| p.name.as_str()).collect();
    let mut writer = ReplayWriter::create(out, &names, capture.precision())?;
    let mut worker = Worker::new(0, snap.clone(), seed);
    let mut io = ReplayIo::default();
    for frame in capture.frames() {
        let now = millis(frame.timestamp);
        let port = in_ports
            .iter()
            .find(|(name, _)| *name == frame.port)
            .map(|&(_, id)| id)
            .ok_or_else(|| ReplayError::UnknownPort {
                port: frame.port.into(),
            })?;
        worker.tick(now, &mut io);
        match HeapBuf::from_frame(frame.data) {
            Ok(buf) => worker.process(port, buf, now, &mut io),
            Err(_) => worker.count_oversize(frame.data.len()),
        }
        for (port, buf) in io.sent.drain(..) {
            writer.write(port, frame.timestamp, buf.data())?;
        }
    }
    writer.finish()?;
    Ok(worker.counters().summary())
}
