//! Per-service and per-real traffic counters of one worker (ipvsadm `--stats`), indexed
//! by the stable ids of [`crate::service::IdRegistry`] and summed over the workers on the
//! control core.
//!
//! The tables have a fixed capacity: the control core sends a worker a larger, empty
//! table with the configuration that needs it ([`crate::update::Update`]), and the
//! worker copies its counts over, so the worker never allocates for them.

use rvs_conntrack::{DestId, Direction, ServiceId};
use rvs_packet::drop::DropReason;

/// Connections, packets and bytes of one service or real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from the client.
    pub inpkts: u64,
    /// Packets toward the client.
    pub outpkts: u64,
    /// Bytes from the client.
    pub inbytes: u64,
    /// Bytes toward the client.
    pub outbytes: u64,
    /// Packets that would have opened a connection but found no usable real (services
    /// only; the control core logs "no destination available" from it).
    pub no_real: u64,
    /// First packets the service's allow and deny lists refused (services only).
    pub acl_denied: u64,
    /// First packets over a rate limit or refused by a full limit table (services only).
    pub rate_limited: u64,
    /// First packets over the per-client limit of open connections (services only).
    pub conn_limited: u64,
}

impl Traffic {
    /// Add `other` into `self`.
    pub fn add(&mut self, other: &Traffic) {
        self.conns += other.conns;
        self.inpkts += other.inpkts;
        self.outpkts += other.outpkts;
        self.inbytes += other.inbytes;
        self.outbytes += other.outbytes;
        self.no_real += other.no_real;
        self.acl_denied += other.acl_denied;
        self.rate_limited += other.rate_limited;
        self.conn_limited += other.conn_limited;
    }

    /// `self - base`, saturating (counters zeroed with `-Z` keep a base).
    pub fn since(&self, base: &Traffic) -> Traffic {
        Traffic {
            conns: self.conns.saturating_sub(base.conns),
            inpkts: self.inpkts.saturating_sub(base.inpkts),
            outpkts: self.outpkts.saturating_sub(base.outpkts),
            inbytes: self.inbytes.saturating_sub(base.inbytes),
            outbytes: self.outbytes.saturating_sub(base.outbytes),
            no_real: self.no_real.saturating_sub(base.no_real),
            acl_denied: self.acl_denied.saturating_sub(base.acl_denied),
            rate_limited: self.rate_limited.saturating_sub(base.rate_limited),
            conn_limited: self.conn_limited.saturating_sub(base.conn_limited),
        }
    }

    #[inline]
    fn count(&mut self, dir: Direction, len: u64, new: bool) {
        self.conns += u64::from(new);
        match dir {
            Direction::Original => {
                self.inpkts += 1;
                self.inbytes += len;
            }
            Direction::Reply => {
                self.outpkts += 1;
                self.outbytes += len;
            }
        }
    }
}

/// The fewest service ids a table has room for.
const MIN_SERVICES: usize = 64;
/// The fewest real ids a table has room for.
const MIN_DESTS: usize = 256;

/// One worker's per-service and per-real counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TrafficTable {
    /// Indexed by service id.
    pub services: Vec<Traffic>,
    /// Indexed by real (destination) id.
    pub dests: Vec<Traffic>,
}

impl Clone for TrafficTable {
    fn clone(&self) -> Self {
        Self {
            services: self.services.clone(),
            dests: self.dests.clone(),
        }
    }

    /// Reuses `self`'s storage (workers publish their counters this way, without
    /// allocating once the sizes match).
    fn clone_from(&mut self, source: &Self) {
        self.services.clone_from(&source.services);
        self.dests.clone_from(&source.dests);
    }
}

impl TrafficTable {
    /// A zeroed table for ids below `services` and `dests` (allocates: control core).
    pub fn with_capacity(services: usize, dests: usize) -> Self {
        Self {
            services: vec![Traffic::default(); services],
            dests: vec![Traffic::default(); dests],
        }
    }

    /// Count one packet of `len` bytes of a connection of `service` to `dest` travelling
    /// `dir`; `new` when it opened the connection. Ids beyond the capacity are not
    /// counted (the control core grows the table before it hands such ids out).
    #[inline]
    pub fn count(
        &mut self,
        service: ServiceId,
        dest: DestId,
        dir: Direction,
        len: usize,
        new: bool,
    ) {
        let len = len as u64;
        if let Some(s) = self.services.get_mut(service as usize) {
            s.count(dir, len, new);
        }
        if let Some(d) = self.dests.get_mut(dest as usize) {
            d.count(dir, len, new);
        }
    }

    /// Count a packet toward `service` that no real could take (ids beyond the capacity
    /// are not counted).
    #[inline]
    pub fn count_no_real(&mut self, service: ServiceId) {
        if let Some(s) = self.services.get_mut(service as usize) {
            s.no_real += 1;
        }
    }

    /// Count a first packet toward `service` that its guard refused for `reason`
    /// (`acl_denied`, `rate_limited`, `conn_limited`; any other reason is not counted
    /// here, nor are ids beyond the capacity).
    #[inline]
    pub fn count_refused(&mut self, service: ServiceId, reason: DropReason) {
        if let Some(s) = self.services.get_mut(service as usize) {
            match reason {
                DropReason::AclDenied => s.acl_denied += 1,
                DropReason::RateLimited => s.rate_limited += 1,
                DropReason::ConnLimited => s.conn_limited += 1,
                _ => {}
            }
        }
    }

    /// The capacity a worker's table is given for the ids below `bounds` (services,
    /// reals), one past the highest of each a snapshot uses: the next power of two, at
    /// least 64 services and 256 reals, so that most edits fit the table they find.
    ///
    /// The control core and the workers both size tables by it: a worker's first table
    /// is this size even for a snapshot without a service, as the control core assumes.
    pub fn room_for(bounds: (usize, usize)) -> (usize, usize) {
        (
            bounds.0.next_power_of_two().max(MIN_SERVICES),
            bounds.1.next_power_of_two().max(MIN_DESTS),
        )
    }

    /// How many service ids and real ids fit.
    pub fn capacity(&self) -> (usize, usize) {
        (self.services.len(), self.dests.len())
    }

    /// Copy every count of `self` into `larger` (at least as large), returning it.
    pub fn moved_into(&self, mut larger: TrafficTable) -> TrafficTable {
        for (to, from) in larger.services.iter_mut().zip(&self.services) {
            *to = *from;
        }
        for (to, from) in larger.dests.iter_mut().zip(&self.dests) {
            *to = *from;
        }
        larger
    }

    /// Add every count of `other` into `self`, growing `self` as needed (control core).
    pub fn add(&mut self, other: &TrafficTable) {
        if self.services.len() < other.services.len() {
            self.services
                .resize(other.services.len(), Traffic::default());
        }
        if self.dests.len() < other.dests.len() {
            self.dests.resize(other.dests.len(), Traffic::default());
        }
        for (a, b) in self.services.iter_mut().zip(&other.services) {
            a.add(b);
        }
        for (a, b) in self.dests.iter_mut().zip(&other.dests) {
            a.add(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_direction_and_grows_by_copy() {
        let mut t = TrafficTable::with_capacity(1, 2);
        t.count(0, 1, Direction::Original, 100, true);
        t.count(0, 1, Direction::Reply, 60, false);
        t.count(5, 9, Direction::Reply, 60, false); // beyond capacity: ignored
        assert_eq!(t.dests[1].conns, 1);
        assert_eq!((t.dests[1].inbytes, t.dests[1].outbytes), (100, 60));
        assert_eq!(t.capacity(), (1, 2));
        let grown = t.moved_into(TrafficTable::with_capacity(4, 4));
        assert_eq!(grown.services[0], t.services[0]);
        assert_eq!(grown.capacity(), (4, 4));
        let mut sum = TrafficTable::default();
        sum.add(&grown);
        sum.add(&t);
        assert_eq!(sum.dests[1].inpkts, 2);
    }

    #[test]
    fn room_is_a_power_of_two_with_a_floor_even_for_no_ids() {
        assert_eq!(TrafficTable::room_for((0, 0)), (64, 256));
        assert_eq!(TrafficTable::room_for((64, 257)), (64, 512));
        assert_eq!(TrafficTable::room_for((65, 3)), (128, 256));
    }
}
