//! The table of the schedulers that decide from the reals and their loads alone (lc, wlc,
//! sed, nq, fo, ovf): no layout built ahead, no per-worker state.

use std::fmt;
use std::marker::PhantomData;

use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// A scheduling rule that needs nothing but the reals and their current loads.
pub(crate) trait LoadRule: fmt::Debug + Send + Sync + 'static {
    /// IPVS name (`"lc"`, ...).
    const NAME: &'static str;

    /// The real for a new connection (an index into `reals`), `None` when no real may
    /// take it. Never allocates.
    fn pick(reals: &[RealServer], loads: &dyn LoadView) -> Option<usize>;
}

/// A table of reals scheduled by rule `R`.
#[derive(Debug)]
pub(crate) struct LoadTable<R> {
    /// Table id (see `SchedState`).
    id: u64,
    /// The configured reals.
    reals: Vec<RealServer>,
    /// The rule (a type only).
    rule: PhantomData<R>,
}

impl<R: LoadRule> LoadTable<R> {
    /// A table over `reals`, in configuration order.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
            rule: PhantomData,
        }
    }
}

impl<R: LoadRule> Scheduler for LoadTable<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, _flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        R::pick(&self.reals, loads)
    }
}
