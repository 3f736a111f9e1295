//! Per-real connection counts and the overload flag, kept as IPVS keeps them.
//!
//! IPVS binds every new connection to its real as *inactive* (the real's connection
//! flags carry `IP_VS_CONN_F_INACTIVE`); the TCP state machine then moves it between
//! active (ESTABLISHED) and inactive (every other state). UDP and ICMP connections have
//! no state machine and stay inactive for their whole life. Templates count as
//! persistent connections, not in active/inactive.
//!
//! The overload flag follows `ip_vs_bind_dest` / `ip_vs_unbind_dest`: set when, after
//! binding, active + inactive reaches the upper threshold (0 = none); cleared when, after
//! unbinding, the total drops below the lower threshold, or, without a lower threshold,
//! below 3/4 of the upper one, or always when there is no threshold. Changing the
//! thresholds clears the flag when the new upper threshold is 0 or higher than before
//! (`__ip_vs_update_dest`).

use rvs_schedulers::{DestId, LoadView, RealLoad};

/// Counts and thresholds of one real, as this worker sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestLoad {
    /// Connections in ESTABLISHED.
    pub active: u32,
    /// Connections in every other state, and all UDP and ICMP connections.
    pub inactive: u32,
    /// Persistence templates pointing at this real.
    pub persistent: u32,
    /// `-x`: upper connection threshold, 0 = none.
    pub upper: u32,
    /// `-y`: lower connection threshold, 0 = none.
    pub lower: u32,
    /// IPVS's overload flag.
    pub overloaded: bool,
}

impl DestLoad {
    fn total(&self) -> u64 {
        u64::from(self.active) + u64::from(self.inactive)
    }
}

/// How a connection or template is counted against its real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    /// An active connection.
    Active,
    /// An inactive connection.
    Inactive,
    /// A persistence template.
    Persistent,
}

/// Per-real loads indexed by [`DestId`]; grown only by [`ConnTable::set_dest_thresholds`](crate::ConnTable::set_dest_thresholds).
#[derive(Debug, Default)]
pub struct DestLoads {
    dests: Vec<DestLoad>,
}

impl Clone for DestLoads {
    fn clone(&self) -> Self {
        Self {
            dests: self.dests.clone(),
        }
    }

    /// Reuses `self`'s storage (workers publish their loads this way, without allocating).
    fn clone_from(&mut self, source: &Self) {
        self.dests.clone_from(&source.dests);
    }
}

impl DestLoads {
    /// Counts and thresholds of real `id`, if it is known to this table.
    pub fn get(&self, id: DestId) -> Option<&DestLoad> {
        self.dests.get(id as usize)
    }

    /// Number of reals known (the highest known id + 1).
    pub fn len(&self) -> usize {
        self.dests.len()
    }

    /// Whether no real is known.
    pub fn is_empty(&self) -> bool {
        self.dests.is_empty()
    }

    /// Move the loads into `room` (empty, with a larger capacity) so that reals added
    /// later become known without allocating; returns the storage given up (`room`
    /// itself when it is not larger).
    pub(crate) fn move_into(&mut self, mut room: Vec<DestLoad>) -> Vec<DestLoad> {
        if room.capacity() <= self.dests.capacity() {
            return room;
        }
        room.clear();
        room.extend_from_slice(&self.dests);
        std::mem::replace(&mut self.dests, room)
    }

    /// Sets the thresholds of real `id`, making it known (may allocate: control path).
    pub(crate) fn set_thresholds(&mut self, id: DestId, upper: u32, lower: u32) {
        let i = id as usize;
        if i >= self.dests.len() {
            self.dests.resize(i + 1, DestLoad::default());
        }
        let d = &mut self.dests[i];
        if upper == 0 || upper > d.upper {
            d.overloaded = false;
        }
        d.upper = upper;
        d.lower = lower;
    }

    /// Counts a new connection or template against real `id`; `false` (nothing counted)
    /// when the real is unknown, like a kernel connection without a destination.
    pub(crate) fn bind(&mut self, id: DestId, count: Count) -> bool {
        let Some(d) = self.dests.get_mut(id as usize) else {
            return false;
        };
        match count {
            Count::Active => d.active += 1,
            Count::Inactive => d.inactive += 1,
            Count::Persistent => d.persistent += 1,
        }
        if d.upper != 0 && d.total() >= u64::from(d.upper) {
            d.overloaded = true;
        }
        true
    }

    /// Releases what [`DestLoads::bind`] counted.
    pub(crate) fn unbind(&mut self, id: DestId, count: Count) {
        let Some(d) = self.dests.get_mut(id as usize) else {
            return;
        };
        match count {
            Count::Active => d.active -= 1,
            Count::Inactive => d.inactive -= 1,
            Count::Persistent => d.persistent -= 1,
        }
        let total = d.total();
        if d.lower != 0 {
            if total < u64::from(d.lower) {
                d.overloaded = false;
            }
        } else if d.upper != 0 {
            if total * 4 < u64::from(d.upper) * 3 {
                d.overloaded = false;
            }
        } else {
            d.overloaded = false;
        }
    }

    /// Moves one bound connection of real `id` between inactive and active.
    pub(crate) fn set_active(&mut self, id: DestId, active: bool) {
        if let Some(d) = self.dests.get_mut(id as usize) {
            if active {
                d.inactive -= 1;
                d.active += 1;
            } else {
                d.active -= 1;
                d.inactive += 1;
            }
        }
    }
}

impl LoadView for DestLoads {
    fn load(&self, id: DestId) -> RealLoad {
        self.get(id).map_or_else(RealLoad::default, |d| RealLoad {
            active: d.active,
            inactive: d.inactive,
            overloaded: d.overloaded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_reals_are_not_counted() {
        let mut l = DestLoads::default();
        assert!(!l.bind(3, Count::Inactive));
        assert_eq!(l.load(3), RealLoad::default());
        l.set_thresholds(3, 0, 0);
        assert_eq!(l.len(), 4);
        assert!(l.bind(3, Count::Inactive));
        assert_eq!(l.load(3).inactive, 1);
        assert_eq!(l.load(0), RealLoad::default());
    }

    #[test]
    fn overload_set_at_upper_cleared_under_lower() {
        let mut l = DestLoads::default();
        l.set_thresholds(0, 3, 2);
        l.bind(0, Count::Inactive);
        l.bind(0, Count::Inactive);
        assert!(!l.load(0).overloaded);
        l.bind(0, Count::Inactive);
        assert!(l.load(0).overloaded);
        l.unbind(0, Count::Inactive); // total 2, not below lower 2
        assert!(l.load(0).overloaded);
        l.unbind(0, Count::Inactive); // total 1 < 2
        assert!(!l.load(0).overloaded);
    }

    #[test]
    fn without_lower_clears_under_three_quarters_of_upper() {
        let mut l = DestLoads::default();
        l.set_thresholds(0, 4, 0);
        for _ in 0..4 {
            l.bind(0, Count::Active);
        }
        assert!(l.load(0).overloaded);
        l.unbind(0, Count::Active); // 3*4 = 12, not < 12
        assert!(l.load(0).overloaded);
        l.unbind(0, Count::Active); // 8 < 12
        assert!(!l.load(0).overloaded);
    }

    #[test]
    fn templates_count_as_persistent_not_total() {
        let mut l = DestLoads::default();
        l.set_thresholds(0, 1, 0);
        l.bind(0, Count::Persistent);
        assert!(!l.load(0).overloaded);
        assert_eq!(l.get(0).unwrap().persistent, 1);
        l.unbind(0, Count::Persistent);
        assert_eq!(l.get(0).unwrap().persistent, 0);
    }

    #[test]
    fn raising_or_removing_upper_clears_overload() {
        let mut l = DestLoads::default();
        l.set_thresholds(0, 1, 0);
        l.bind(0, Count::Inactive);
        assert!(l.load(0).overloaded);
        l.set_thresholds(0, 1, 0); // same upper: stays
        assert!(l.load(0).overloaded);
        l.set_thresholds(0, 5, 0);
        assert!(!l.load(0).overloaded);
        l.bind(0, Count::Inactive);
        l.set_thresholds(0, 2, 0);
        l.bind(0, Count::Inactive);
        assert!(l.load(0).overloaded);
        l.set_thresholds(0, 0, 0);
        assert!(!l.load(0).overloaded);
    }

    #[test]
    fn state_moves_between_active_and_inactive() {
        let mut l = DestLoads::default();
        l.set_thresholds(0, 0, 0);
        l.bind(0, Count::Inactive);
        l.set_active(0, true);
        assert_eq!((l.load(0).active, l.load(0).inactive), (1, 0));
        l.set_active(0, false);
        assert_eq!((l.load(0).active, l.load(0).inactive), (0, 1));
    }
}
