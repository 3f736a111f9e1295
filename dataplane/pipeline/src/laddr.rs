//! FULLNAT local port pools, one set per worker.
//!
//! How a worker picks its local ports depends on how replies find it
//! ([`PortScheme`], from the snapshot):
//! - by low bits (no RSS): a worker hands out only the ports whose low bits equal its id
//!   (`port & mask == worker`, `mask = workers.next_power_of_two() - 1`), so a reply
//!   that arrives on any queue can be steered to its owner from the port alone;
//! - by RSS class: every worker may use every port, bucketed by the low bits of the
//!   port's RSS hash contribution ([`crate::rss::port_hash`]); for a connection to a
//!   real it takes a port from a bucket that makes the reply hash to a table entry
//!   naming its own queue, so the NIC delivers the reply to it. Two workers never pick
//!   the same port for the same real, laddr and real port: the reply's queue names one.
//!
//! Each bucket is a FIFO of free ports built once: allocation and release are O(1) (by
//! RSS class, at most one try per table entry of the worker when buckets run dry), and
//! a released port goes to the back so it is reused as late as possible. The initial
//! order is a shuffle seeded per worker and address, so local ports are not predictable
//! on a live director (random seed) and are reproducible in replay (`--seed`).

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::HashMap;

use crate::flow_hash::{addr_bits, mix64};
use crate::rss::{port_hash, reply_base_hash, symmetric_hash, Reta};

/// Lowest local port handed out (the ports below are left to well-known services).
pub const FIRST_LOCAL_PORT: u16 = 1024;

/// The steering mask for `workers` workers: the low bits of a local port that name its owner.
pub fn worker_mask(workers: u16) -> u16 {
    workers.max(1).next_power_of_two() - 1
}

/// How local ports are assigned to workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortScheme {
    /// By their low bits, among this many workers.
    LowBits(u16),
    /// By the RSS queue their replies hash to, with the devices' tables modelled by this.
    Rss(Reta),
}

/// The free ports of one local address, for one worker.
#[derive(Debug)]
pub struct PortPool {
    /// Free ports: one bucket by low bits, one per table entry by RSS class.
    buckets: Vec<VecDeque<u16>>,
    /// By RSS class: the table entries naming this worker's queue.
    entries: Vec<u16>,
    /// By RSS class: the entry to try first, rotating.
    next: usize,
    /// Ports that connections synced from another director hold (still in their
    /// bucket: skipped until released).
    held: PortSet,
}

/// A set of ports: one bit per port, allocated once with its pool, so that holding and
/// releasing a port never allocates.
#[derive(Debug)]
struct PortSet {
    bits: Box<[u64]>,
    len: usize,
}

impl PortSet {
    /// An empty set.
    fn new() -> Self {
        Self {
            bits: vec![0; (usize::from(u16::MAX) + 1) / 64].into_boxed_slice(),
            len: 0,
        }
    }

    /// True when `port` is in it.
    fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port / 64)] & (1 << (port % 64)) != 0
    }

    /// Adds `port`; false when it was in already.
    fn insert(&mut self, port: u16) -> bool {
        let word = &mut self.bits[usize::from(port / 64)];
        let bit = 1 << (port % 64);
        let added = *word & bit == 0;
        *word |= bit;
        self.len += usize::from(added);
        added
    }

    /// Takes `port` out; false when it was not in.
    fn remove(&mut self, port: u16) -> bool {
        let word = &mut self.bits[usize::from(port / 64)];
        let bit = 1 << (port % 64);
        let had = *word & bit != 0;
        *word &= !bit;
        self.len -= usize::from(had);
        had
    }

    /// True when it holds no port.
    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PortPool {
    /// The pool of `laddr` for worker `worker` under `scheme`, whose local ports are
    /// ordered by `seed` (the worker's [`LocalPorts`] seed). Allocates: the control core
    /// builds these for local addresses added while the director runs.
    pub fn for_worker(laddr: IpAddr, worker: u16, scheme: &PortScheme, seed: u64) -> Self {
        let mut ports: Vec<u16> = (FIRST_LOCAL_PORT..=u16::MAX)
            .filter(|&p| owns(scheme, worker, p))
            .collect();
        let mut state = pool_seed(seed, laddr, worker);
        for i in (1..ports.len()).rev() {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let j = (mix64(state) % (i as u64 + 1)) as usize;
            ports.swap(i, j);
        }
        match scheme {
            PortScheme::LowBits(_) => Self {
                buckets: vec![ports.into()],
                entries: Vec::new(),
                next: 0,
                held: PortSet::new(),
            },
            PortScheme::Rss(reta) => {
                let mut buckets = vec![VecDeque::new(); reta.len()];
                for p in ports {
                    buckets[class(reta, p)].push_back(p);
                }
                Self {
                    buckets,
                    entries: reta.entries_of(worker),
                    next: 0,
                    held: PortSet::new(),
                }
            }
        }
    }

    /// A free port for a connection to `real` from `laddr`.
    fn take(&mut self, laddr: IpAddr, real: (IpAddr, u16)) -> Option<u16> {
        let held = &self.held;
        if self.entries.is_empty() {
            return pop_free(self.buckets.first_mut()?, held);
        }
        let mask = self.buckets.len() - 1;
        let base = reply_base_hash(real, laddr) as usize & mask;
        let n = self.entries.len();
        let start = self.next;
        self.next = (self.next + 1) % n;
        (0..n).find_map(|i| {
            let entry = usize::from(self.entries[(start + i) % n]);
            pop_free(&mut self.buckets[entry ^ base], held)
        })
    }

    /// Give `port` back (one of ours). A held port never left its bucket.
    fn give(&mut self, port: u16) {
        if self.held.remove(port) {
            return;
        }
        let bucket = if self.entries.is_empty() {
            0
        } else {
            port_hash(port) as usize & (self.buckets.len() - 1)
        };
        self.buckets[bucket].push_back(port);
    }

    /// Free ports.
    fn len(&self) -> usize {
        self.buckets.iter().map(VecDeque::len).sum()
    }
}

/// The first port of `bucket` that is not held (held ones go to the back).
fn pop_free(bucket: &mut VecDeque<u16>, held: &PortSet) -> Option<u16> {
    for _ in 0..bucket.len() {
        let port = bucket.pop_front()?;
        if held.is_empty() || !held.contains(port) {
            return Some(port);
        }
        bucket.push_back(port);
    }
    None
}

/// True when `worker` may hand out `port` under `scheme`.
fn owns(scheme: &PortScheme, worker: u16, port: u16) -> bool {
    match scheme {
        PortScheme::LowBits(workers) => {
            let mask = worker_mask(*workers);
            port & mask == worker & mask
        }
        PortScheme::Rss(_) => true,
    }
}

/// The bucket of `port` by RSS class.
fn class(reta: &Reta, port: u16) -> usize {
    port_hash(port) as usize & (reta.len() - 1)
}

/// Why [`LocalPorts::hold`] refused a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// The worker would not hand the port out (below the pool, or its replies go to
    /// another worker).
    #[error("not a local port of this worker")]
    NotOurs,
    /// The address has no pool on this worker.
    #[error("no local port pool for the address")]
    NoPool,
    /// Another synced connection holds it already.
    #[error("the local port is held already")]
    Held,
}

/// All local port pools of one worker, keyed by local address.
#[derive(Debug)]
pub struct LocalPorts {
    worker: u16,
    scheme: PortScheme,
    seed: u64,
    pools: HashMap<IpAddr, PortPool>,
}

impl LocalPorts {
    /// Empty pools for worker `worker` of `workers`, by low bits; `seed` orders the ports.
    pub fn new(worker: u16, workers: u16, seed: u64) -> Self {
        Self::with_scheme(worker, PortScheme::LowBits(workers), seed)
    }

    /// Empty pools for worker `worker` under `scheme`; `seed` orders the ports.
    pub fn with_scheme(worker: u16, scheme: PortScheme, seed: u64) -> Self {
        Self {
            worker,
            scheme,
            seed,
            pools: HashMap::new(),
        }
    }

    /// Make sure `laddr` has a pool (allocates; call when a configuration is taken up,
    /// never per packet). Existing pools, and the ports they have handed out, are kept.
    pub fn ensure(&mut self, laddr: IpAddr) {
        let (worker, scheme, seed) = (self.worker, &self.scheme, self.seed);
        self.pools
            .entry(laddr)
            .or_insert_with(|| PortPool::for_worker(laddr, worker, scheme, seed));
    }

    /// A new pool for `laddr` as this worker would build it, or `None` when it has one.
    pub fn pool_for(&self, laddr: IpAddr) -> Option<PortPool> {
        (!self.pools.contains_key(&laddr))
            .then(|| PortPool::for_worker(laddr, self.worker, &self.scheme, self.seed))
    }

    /// Take up `pool` for `laddr` unless `laddr` already has one (ports handed out from
    /// an existing pool stay accounted for).
    pub fn adopt(&mut self, laddr: IpAddr, pool: PortPool) {
        self.pools.entry(laddr).or_insert(pool);
    }

    /// Take a free port for a connection to `real` from the first of `laddrs` (tried
    /// from `start`, wrapping) that has one.
    pub fn alloc(
        &mut self,
        laddrs: &[IpAddr],
        start: usize,
        real: (IpAddr, u16),
    ) -> Option<(IpAddr, u16)> {
        let n = laddrs.len();
        (0..n).find_map(|i| {
            let addr = laddrs[(start + i) % n];
            let port = self.pools.get_mut(&addr)?.take(addr, real)?;
            Some((addr, port))
        })
    }

    /// True when this worker would hand out `port` of `laddr` for a connection to
    /// `real`: a reply from `real` to it reaches this worker.
    pub fn would_own(&self, laddr: IpAddr, port: u16, real: (IpAddr, u16)) -> bool {
        port >= FIRST_LOCAL_PORT
            && match &self.scheme {
                PortScheme::LowBits(_) => owns(&self.scheme, self.worker, port),
                PortScheme::Rss(reta) => {
                    reta.queue(symmetric_hash(real.0, laddr, real.1, port)) == self.worker
                }
            }
    }

    /// Keep `port` of `laddr` out of this worker's allocations while a connection synced
    /// from another director to `real` holds it (until [`release`](Self::release)).
    /// Only in a pool `laddr` already has: this builds none, and allocates nothing.
    pub fn hold(&mut self, laddr: IpAddr, port: u16, real: (IpAddr, u16)) -> Result<(), HoldError> {
        if !self.would_own(laddr, port, real) {
            return Err(HoldError::NotOurs);
        }
        let pool = self.pools.get_mut(&laddr).ok_or(HoldError::NoPool)?;
        if pool.held.insert(port) {
            Ok(())
        } else {
            Err(HoldError::Held)
        }
    }

    /// How many local addresses have a pool on this worker.
    pub fn pools(&self) -> usize {
        self.pools.len()
    }

    /// Ports of `laddr` that synced connections hold (`None` when it has no pool).
    pub fn held(&self, laddr: IpAddr) -> Option<usize> {
        self.pools.get(&laddr).map(|p| p.held.len)
    }

    /// Give a port back (a port of an address without a pool, or not ours, is ignored).
    pub fn release(&mut self, laddr: IpAddr, port: u16) {
        if port < FIRST_LOCAL_PORT || !owns(&self.scheme, self.worker, port) {
            return;
        }
        if let Some(pool) = self.pools.get_mut(&laddr) {
            pool.give(port);
        }
    }

    /// Free ports left on `laddr` (`None` when it has no pool).
    pub fn free(&self, laddr: IpAddr) -> Option<usize> {
        self.pools.get(&laddr).map(PortPool::len)
    }
}

/// The shuffle seed of `laddr`'s pool on `worker`, from the worker's seed.
fn pool_seed(seed: u64, laddr: IpAddr, worker: u16) -> u64 {
    seed ^ mix64(addr_bits(laddr)) ^ u64::from(worker)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const REAL: (IpAddr, u16) = (IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, 11)), 80);

    #[test]
    fn held_ports_are_skipped_until_released() {
        let a = ip("10.1.0.2");
        let mut lp = LocalPorts::new(0, 2, 3);
        assert_eq!(
            lp.hold(a, 1026, REAL),
            Err(HoldError::NoPool),
            "builds none"
        );
        assert_eq!(lp.pools(), 0);
        lp.ensure(a);
        assert_eq!(
            lp.hold(a, 1025, REAL),
            Err(HoldError::NotOurs),
            "worker 1's"
        );
        assert_eq!(
            lp.hold(a, 80, REAL),
            Err(HoldError::NotOurs),
            "below the pool"
        );
        // Hold every port but one: that one is all alloc gives.
        let ports: Vec<u16> = (FIRST_LOCAL_PORT..=u16::MAX)
            .filter(|p| p % 2 == 0)
            .collect();
        for &p in &ports[1..] {
            assert_eq!(lp.hold(a, p, REAL), Ok(()));
        }
        assert_eq!(lp.hold(a, ports[1], REAL), Err(HoldError::Held));
        assert_eq!(lp.held(a), Some(ports.len() - 1));
        assert_eq!(lp.alloc(&[a], 0, REAL), Some((a, ports[0])));
        assert_eq!(lp.alloc(&[a], 0, REAL), None);
        // A synced connection ends: its port is ours again, once.
        lp.release(a, ports[7]);
        assert_eq!(lp.alloc(&[a], 0, REAL), Some((a, ports[7])));
        assert_eq!(lp.alloc(&[a], 0, REAL), None);
        lp.release(a, ports[7]);
        lp.release(a, ports[0]);
        assert_eq!(lp.free(a), Some(ports.len()));
    }

    #[test]
    fn ports_carry_the_worker_in_their_low_bits() {
        for workers in [1u16, 2, 3, 4, 8] {
            for worker in 0..workers {
                let mut lp = LocalPorts::new(worker, workers, 7);
                lp.ensure(ip("10.1.0.2"));
                let (_, port) = lp.alloc(&[ip("10.1.0.2")], 0, REAL).unwrap();
                assert_eq!(port & worker_mask(workers), worker);
                assert!(port >= FIRST_LOCAL_PORT);
            }
        }
    }

    #[test]
    fn exhaustion_moves_to_the_next_address_then_fails() {
        let (a, b) = (ip("10.1.0.2"), ip("10.1.0.3"));
        let mut lp = LocalPorts::new(1, 2, 0);
        lp.ensure(a);
        lp.ensure(b);
        let per_addr = lp.free(a).unwrap();
        assert_eq!(per_addr, (65536 - 1024) / 2);
        let mut seen = hashbrown::HashSet::new();
        for _ in 0..2 * per_addr {
            assert!(seen.insert(lp.alloc(&[a, b], 0, REAL).unwrap()));
        }
        assert_eq!(lp.alloc(&[a, b], 0, REAL), None);
        lp.release(b, 1025);
        assert_eq!(lp.alloc(&[a, b], 0, REAL), Some((b, 1025)));
    }

    #[test]
    fn the_seed_decides_the_order() {
        let a = ip("10.1.0.2");
        let order = |seed| {
            let mut lp = LocalPorts::new(0, 1, seed);
            lp.ensure(a);
            (0..8)
                .map(|_| lp.alloc(&[a], 0, REAL).unwrap().1)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(1), order(1));
        assert_ne!(order(1), order(2));
    }

    #[test]
    fn released_ports_are_reused_last_and_foreign_ports_ignored() {
        let a = ip("2001:db8::2");
        let mut lp = LocalPorts::new(0, 1, 0);
        lp.ensure(a);
        let (_, first) = lp.alloc(&[a], 0, REAL).unwrap();
        lp.release(a, first);
        let (_, next) = lp.alloc(&[a], 0, REAL).unwrap();
        assert_ne!(next, first);
        let before = lp.free(a).unwrap();
        lp.release(a, 80);
        lp.release(ip("10.9.9.9"), 2000);
        assert_eq!(lp.free(a), Some(before));
        assert_eq!(lp.alloc(&[], 0, REAL), None);
    }
}
