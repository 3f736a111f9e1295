//! Shared helpers of the worker-level tests: the in-memory two-port director they
//! configure, and the snapshot and worker built from its text.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;

use rvs_config::testbed::TwoPortDirector;
use rvs_config::Config;
use rvs_packet::packet::HeapBuf;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::Worker;

/// The director of the worker-level tests: ports on in-memory devices, room for 64
/// connections, the client 10.0.0.2 as a static neighbour on wan0. Tests add reals,
/// routes and the sections they are about.
pub fn director() -> TwoPortDirector {
    TwoPortDirector::new("mem", 64).client()
}

/// The snapshot workers forward with under the configuration `text`; `ids` keeps
/// service and real ids across snapshots.
pub fn snapshot(text: &str, ids: &mut IdRegistry) -> Arc<Snapshot> {
    let config = Config::parse(text, "test.toml").expect("config");
    Arc::new(Snapshot::build(&config, &[], &[], ids).expect("snapshot"))
}

/// Worker 0 under the configuration `text`, its local ports drawn with `seed`.
pub fn worker(text: &str, seed: u64) -> Worker<HeapBuf> {
    Worker::new(0, snapshot(text, &mut IdRegistry::default()), seed)
}
