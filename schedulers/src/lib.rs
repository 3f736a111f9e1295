//! IPVS schedulers as plug-ins.
//!
//! A scheduler table is built on the control core from an immutable set of real servers
//! ([`build`]); each worker keeps its own mutable [`SchedState`] and calls
//! [`Scheduler::pick`] for every new connection. `pick` never allocates.
//!
//! CONTRACT (shared with conntrack and dataplane; extend, do not break):
//! [`DestId`], [`RealServer`], [`RealLoad`], [`LoadView`], [`Flow`], [`SchedKind`],
//! [`SchedFlags`], [`SchedParams`], [`Scheduler`], [`SchedState`], [`build`], [`BuildError`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

mod bucket;
mod conhash;
mod dh;
mod fo;
mod hash;
mod lblc;
mod lblcr;
mod lc;
mod load_table;
mod mh;
mod nq;
mod ovf;
mod rr;
mod sed;
mod select;
mod sh;
mod state;
mod twos;
mod wlc;
mod wrr;

#[cfg(test)]
mod testutil;

use load_table::LoadTable;
pub use state::SchedState;

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

/// Loads kept in a vector indexed by `DestId` (tests and simple callers).
impl LoadView for Vec<RealLoad> {
    fn load(&self, id: DestId) -> RealLoad {
        self.as_slice().load(id)
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
    /// Weighted random of two choices (the lighter per weight of two weighted draws).
    Twos,
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

impl SchedKind {
    /// Every scheduler, in ipvsadm's documentation order.
    pub const ALL: [SchedKind; 15] = [
        SchedKind::Rr,
        SchedKind::Wrr,
        SchedKind::Lc,
        SchedKind::Wlc,
        SchedKind::Lblc,
        SchedKind::Lblcr,
        SchedKind::Dh,
        SchedKind::Sh,
        SchedKind::Sed,
        SchedKind::Nq,
        SchedKind::Fo,
        SchedKind::Ovf,
        SchedKind::Mh,
        SchedKind::Conhash,
        SchedKind::Twos,
    ];

    /// IPVS name (`"wlc"`, `"mh"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Lblc => "lblc",
            SchedKind::Lblcr => "lblcr",
            SchedKind::Dh => "dh",
            SchedKind::Sh => "sh",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Fo => "fo",
            SchedKind::Ovf => "ovf",
            SchedKind::Mh => "mh",
            SchedKind::Conhash => "conhash",
            SchedKind::Twos => "twos",
        }
    }
}

/// IPVS's default scheduler, `wlc`.
impl Default for SchedKind {
    fn default() -> Self {
        SchedKind::Wlc
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses an IPVS scheduler name (exact, lower case, as ipvsadm takes it).
impl FromStr for SchedKind {
    type Err = BuildError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchedKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| BuildError::UnknownScheduler(s.to_owned()))
    }
}

/// Accessor of one [`SchedFlags`] field.
type FlagField = fn(&mut SchedFlags) -> &mut bool;

impl SchedFlags {
    /// Flag names as ipvsadm's `-b` takes them, with their field.
    const NAMES: [(&'static str, FlagField); 4] = [
        ("sh-fallback", |f| &mut f.sh_fallback),
        ("sh-port", |f| &mut f.sh_port),
        ("mh-fallback", |f| &mut f.mh_fallback),
        ("mh-port", |f| &mut f.mh_port),
    ];

    /// Parse a comma-separated flag list (`"sh-port,sh-fallback"`); the empty string gives
    /// no flags. Repeating a flag is harmless; an unknown one is an error.
    pub fn parse(s: &str) -> Result<SchedFlags, BuildError> {
        let mut flags = SchedFlags::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let (_, field) = Self::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| BuildError::UnknownSchedFlag(name.to_owned()))?;
            *field(&mut flags) = true;
        }
        Ok(flags)
    }

    /// True when no flag is set.
    pub fn is_empty(&self) -> bool {
        *self == SchedFlags::default()
    }
}

/// The set flags, comma-separated (`"sh-fallback,sh-port"`), empty when none; the output
/// parses back with [`SchedFlags::parse`].
impl fmt::Display for SchedFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut copy = *self;
        let mut sep = "";
        for (name, field) in Self::NAMES {
            if *field(&mut copy) {
                write!(f, "{sep}{name}")?;
                sep = ",";
            }
        }
        Ok(())
    }
}

impl FromStr for SchedFlags {
    type Err = BuildError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchedFlags::parse(s)
    }
}

/// Why a scheduler table could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// Unknown scheduler name.
    #[error(
        "unknown scheduler {0:?} (known: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh conhash twos)"
    )]
    UnknownScheduler(String),
    /// Unknown scheduler flag.
    #[error("unknown scheduler flag {0:?} (known: sh-fallback sh-port mh-fallback mh-port)")]
    UnknownSchedFlag(String),
    /// The Maglev table size is not a prime in the accepted range.
    #[error("mh table size {0} must be a prime between 2 and {max}", max = mh::MAX_TABLE_SIZE)]
    MhTableSize(u32),
    /// More weighted reals than Maglev table entries.
    #[error("mh table of {size} entries cannot hold {reals} weighted reals")]
    MhTooManyReals {
        /// Table size.
        size: u32,
        /// Reals with a weight above zero.
        reals: usize,
    },
    /// More reals than a table can index.
    #[error("{0} reals is more than a scheduler table takes (at most {max})", max = MAX_REALS)]
    TooManyReals(usize),
}

/// Most reals one scheduler table takes (indexes are kept in 32 bits).
pub const MAX_REALS: usize = 1 << 24;

/// Build the table for `kind` over `reals`.
///
/// Every table keeps every configured real; which of them may take a connection is
/// decided per pick (weight above zero, available, not overloaded). The hashing tables
/// (sh, dh, mh, conhash) are laid out over the reals with a weight above zero whether or not
/// they are available, so a health-check flap of one real moves no other real's keys; the
/// keys of an unavailable real find no real unless `*-fallback` is set (conhash always
/// walks on to the next real of its ring). sh, dh and conhash (unless the heaviest real
/// changes) also move only the keys to or from a real that is added, removed or
/// re-weighted; mh (Maglev) moves a small share of other reals' keys too.
pub fn build(
    kind: SchedKind,
    reals: Vec<RealServer>,
    params: &SchedParams,
) -> Result<Arc<dyn Scheduler>, BuildError> {
    if reals.len() > MAX_REALS {
        return Err(BuildError::TooManyReals(reals.len()));
    }
    Ok(match kind {
        SchedKind::Rr => Arc::new(rr::Rr::new(reals)),
        SchedKind::Wrr => Arc::new(wrr::Wrr::new(reals)),
        SchedKind::Lc => Arc::new(LoadTable::<lc::Lc>::new(reals)),
        SchedKind::Wlc => Arc::new(LoadTable::<wlc::Wlc>::new(reals)),
        SchedKind::Lblc => Arc::new(lblc::Lblc::new(reals)),
        SchedKind::Lblcr => Arc::new(lblcr::Lblcr::new(reals)),
        SchedKind::Dh => Arc::new(dh::Dh::new(reals)),
        SchedKind::Sh => Arc::new(sh::Sh::new(reals, params.flags)),
        SchedKind::Sed => Arc::new(LoadTable::<sed::Sed>::new(reals)),
        SchedKind::Nq => Arc::new(LoadTable::<nq::Nq>::new(reals)),
        SchedKind::Fo => Arc::new(LoadTable::<fo::Fo>::new(reals)),
        SchedKind::Ovf => Arc::new(LoadTable::<ovf::Ovf>::new(reals)),
        SchedKind::Mh => Arc::new(mh::Mh::new(reals, params)?),
        SchedKind::Conhash => Arc::new(conhash::Conhash::new(reals)),
        SchedKind::Twos => Arc::new(twos::Twos::new(reals)),
    })
}

/// Maglev table entries held by each real (indexed like `reals`) in the table that
/// `build(SchedKind::Mh, reals, params)` makes: the balance an operator can expect.
pub fn mh_table_shares(
    reals: Vec<RealServer>,
    params: &SchedParams,
) -> Result<Vec<usize>, BuildError> {
    Ok(mh::Mh::new(reals, params)?.shares())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in SchedKind::ALL {
            assert_eq!(k.name().parse::<SchedKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!(
            "WLC".parse::<SchedKind>(),
            Err(BuildError::UnknownScheduler("WLC".into()))
        );
        assert_eq!(SchedKind::default(), SchedKind::Wlc);
    }

    #[test]
    fn flags_parse_and_print() {
        let f = SchedFlags::parse("sh-port, sh-fallback").unwrap();
        assert!(f.sh_port && f.sh_fallback && !f.mh_port && !f.mh_fallback);
        assert_eq!(f.to_string(), "sh-fallback,sh-port");
        let all: SchedFlags = "mh-port,mh-fallback,sh-port,sh-fallback,mh-port"
            .parse()
            .unwrap();
        assert_eq!(SchedFlags::parse(&all.to_string()), Ok(all));
        assert_eq!(SchedFlags::parse(""), Ok(SchedFlags::default()));
        assert!(SchedFlags::default().is_empty() && !all.is_empty());
        assert_eq!(
            SchedFlags::parse("sh-port,flag-9"),
            Err(BuildError::UnknownSchedFlag("flag-9".into()))
        );
    }

    #[test]
    fn every_kind_builds_and_names_itself() {
        for k in SchedKind::ALL {
            let s = build(k, Vec::new(), &SchedParams::default()).unwrap();
            assert_eq!(s.name(), k.name());
            assert!(s.reals().is_empty());
        }
    }
}
