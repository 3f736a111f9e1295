//! IPVS schedulers as plug-ins.
//!
//! A scheduler table is built on the control core from an immutable set of real servers
//! ([`build`]); each worker keeps its own mutable [`SchedState`] and calls
//! [`Scheduler::pick`] for every new connection. `pick` never allocates.
//!
//! CONTRACT (shared with conntrack and dataplane; extend, do not break):
//! [`DestId`], [`RealServer`], [`RealLoad`], [`LoadView`], [`Flow`], [`SchedKind`],
//! [`SchedFlags`], [`SchedParams`], [`Scheduler`], [`SchedState`], [`build`], [`BuildError`].

use std::net::IpAddr;
use std::sync::Arc;

/// Stable identity of a real server (an IPVS "destination"), kept across configuration
/// snapshots so that connection counts and connections survive a rebuild.
pub type DestId = u32;

/// One real server as the control core configured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer {
    /// Stable id, unique within the director.
    pub id: DestId,
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Weight; 0 quiesces the real (no new connections).
    pub weight: u32,
    /// `-x`: upper connection threshold, 0 = none.
    pub upper: u32,
    /// `-y`: lower connection threshold, 0 = none.
    pub lower: u32,
    /// False when health checks took the real out.
    pub available: bool,
}

/// Connection counts of one real as seen by one worker, kept by conntrack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RealLoad {
    /// Connections in ESTABLISHED.
    pub active: u32,
    /// Connections in every other state.
    pub inactive: u32,
    /// IPVS's overload flag (set past `upper`, cleared under `lower`).
    pub overloaded: bool,
}

/// Read access to per-real loads, indexed by [`DestId`].
pub trait LoadView {
    /// The load of real `id` (all zero when unknown).
    fn load(&self, id: DestId) -> RealLoad;
}

/// Loads kept in a slice indexed by `DestId` (tests and simple callers).
impl LoadView for [RealLoad] {
    fn load(&self, id: DestId) -> RealLoad {
        self.get(id as usize).copied().unwrap_or_default()
    }
}

/// What a scheduler may look at in the packet that opens a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Client (source) address.
    pub client: IpAddr,
    /// Client (source) port.
    pub client_port: u16,
    /// Destination address (the VIP, or the packet's destination for fwmark services).
    pub dest: IpAddr,
    /// Destination port.
    pub dest_port: u16,
    /// The worker's clock in milliseconds (replay: packet timestamps).
    pub now_ms: u64,
}

/// The schedulers rvs knows, named as IPVS names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedKind {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection (IPVS default).
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Consistent hashing on the client address (ketama-style).
    Conhash,
}

/// Scheduler flags (`-b` in a service command).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedFlags {
    /// sh: hash the source port too.
    pub sh_port: bool,
    /// sh: fall back to another real when the hashed one is unusable.
    pub sh_fallback: bool,
    /// mh: hash the source port too.
    pub mh_port: bool,
    /// mh: fall back to another real when the hashed one is unusable.
    pub mh_fallback: bool,
}

/// Build-time parameters of a scheduler table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedParams {
    /// Scheduler flags.
    pub flags: SchedFlags,
    /// Maglev lookup table size (prime). Default 65537.
    pub mh_table_size: u32,
}

impl Default for SchedParams {
    fn default() -> Self {
        Self {
            flags: SchedFlags::default(),
            mh_table_size: 65537,
        }
    }
}

/// A built, immutable scheduler table. Shared by all workers.
pub trait Scheduler: Send + Sync + std::fmt::Debug {
    /// IPVS name (`"wlc"`, `"mh"`, ...).
    fn name(&self) -> &'static str;
    /// The reals this table was built from, in configuration order.
    fn reals(&self) -> &[RealServer];
    /// Fresh per-worker state (allocates; call on the control core or at snapshot pick-up).
    fn new_state(&self) -> SchedState;
    /// Pick a real for a new connection: an index into [`Scheduler::reals`], or `None`
    /// when no real may take it. Never picks a quiesced, unavailable or overloaded real.
    /// Never allocates.
    fn pick(&self, state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize>;
}

/// Per-worker mutable scheduler state (rr position, lblc maps, ...). Opaque.
#[derive(Debug, Default)]
pub struct SchedState {
    // SKELETON: the schedulers work replaces this with the real per-worker state.
    _private: (),
}

/// Why a scheduler table could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// Unknown scheduler name.
    #[error("unknown scheduler {0:?} (known: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh conhash)")]
    UnknownScheduler(String),
}

/// Build the table for `kind` over `reals`.
pub fn build(
    kind: SchedKind,
    reals: Vec<RealServer>,
    params: &SchedParams,
) -> Result<Arc<dyn Scheduler>, BuildError> {
    // SKELETON: replaced by the schedulers work.
    let _ = (kind, reals, params);
    todo!("schedulers::build")
}
