//! Freeing the ids of services and reals no longer configured ([`Control::retire_ids`]),
//! so that the workers' tables indexed by them stay bounded however many reals come and
//! go (see [`rvs_pipeline::service::IdRegistry`]).

use rvs_conntrack::DestLoads;
use rvs_pipeline::service::Retired;
use rvs_pipeline::traffic::Traffic;

use crate::{lock, Control, StatKey};

impl Control {
    /// Free the ids no configuration uses and no connection or template points at, once
    /// every worker has published its loads since it took the running configuration (so
    /// no connection made under an older one is missed). The counts an id gathered stay
    /// in the workers' tables: they become the base its next owner's statistics and rates
    /// start from, so a real added again after its id was freed starts at 0. Returns what
    /// was freed.
    pub fn retire_ids(&mut self) -> Retired {
        let mut loads: Vec<DestLoads> = Vec::with_capacity(self.workers.len());
        for w in &self.workers {
            let published = lock(&w.published);
            if published.generation < self.generation {
                return Retired::default();
            }
            loads.push(published.loads.clone());
        }
        let held = |id| {
            loads.iter().any(|l| {
                l.get(id)
                    .is_some_and(|d| d.active > 0 || d.inactive > 0 || d.persistent > 0)
            })
        };
        let retired = self.ids.retire(&self.snap.services, held);
        if retired == Retired::default() {
            return retired;
        }
        let traffic = self.traffic();
        for &id in &retired.services {
            let now = traffic
                .services
                .get(id as usize)
                .copied()
                .unwrap_or_default();
            self.rebase(StatKey::Service(id), now);
        }
        for &id in &retired.dests {
            let now = traffic.dests.get(id as usize).copied().unwrap_or_default();
            self.rebase(StatKey::Dest(id), now);
        }
        retired
    }

    /// Make `now` the zero of `key`'s statistics and rates (as `rvsadm -Z` does).
    pub(crate) fn rebase(&mut self, key: StatKey, now: Traffic) {
        let (table, i) = match key {
            StatKey::Service(id) => (&mut self.zeroed.services, id as usize),
            StatKey::Dest(id) => (&mut self.zeroed.dests, id as usize),
        };
        if table.len() <= i {
            table.resize(i + 1, Traffic::default());
        }
        table[i] = now;
        self.estimates.entry(key).or_default().reset(&now);
    }
}
