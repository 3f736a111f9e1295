//! FULLNAT local port pools, one set per worker.
//!
//! A worker hands out local ports only from the ports whose low bits equal its id
//! (`port & mask == worker`, `mask = workers.next_power_of_two() - 1`), so a reply that
//! arrives on any queue can be steered to its owner from the port alone. Each local
//! address has a FIFO of free ports built once: allocation and release are O(1), with no
//! trial-and-error loop, and a released port goes to the back so it is reused as late as
//! possible. The initial order is a shuffle seeded per worker and address, so local ports
//! are not predictable on a live director (random seed) and are reproducible in replay
//! (`--seed`).

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::{HashMap, HashSet};

use crate::steer::mix64;

/// Lowest local port handed out (the ports below are left to well-known services).
pub const FIRST_LOCAL_PORT: u16 = 1024;

/// The steering mask for `workers` workers: the low bits of a local port that name its owner.
pub fn worker_mask(workers: u16) -> u16 {
    workers.max(1).next_power_of_two() - 1
}

/// The free ports of one local address, for one worker.
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    /// Ports that connections synced from another director hold (still in `free`: they
    /// are skipped until released).
    held: HashSet<u16>,
}

impl PortPool {
    /// The pool of `laddr` for worker `worker` of `workers`, whose local ports are
    /// ordered by `seed` (the worker's [`LocalPorts`] seed). Allocates: the control core
    /// builds these for local addresses added while the director runs.
    pub fn for_worker(laddr: IpAddr, worker: u16, workers: u16, seed: u64) -> Self {
        Self::new(worker, workers, pool_seed(seed, laddr, worker))
    }

    fn new(worker: u16, workers: u16, seed: u64) -> Self {
        let mask = worker_mask(workers);
        let mut ports: Vec<u16> = (FIRST_LOCAL_PORT..=u16::MAX)
            .filter(|p| p & mask == worker & mask)
            .collect();
        let mut state = seed;
        for i in (1..ports.len()).rev() {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let j = (mix64(state) % (i as u64 + 1)) as usize;
            ports.swap(i, j);
        }
        Self {
            free: ports.into(),
            held: HashSet::new(),
        }
    }
}

/// All local port pools of one worker, keyed by local address.
#[derive(Debug)]
pub struct LocalPorts {
    worker: u16,
    workers: u16,
    seed: u64,
    pools: HashMap<IpAddr, PortPool>,
}

impl LocalPorts {
    /// Empty pools for worker `worker` of `workers`; `seed` orders the ports.
    pub fn new(worker: u16, workers: u16, seed: u64) -> Self {
        Self {
            worker,
            workers,
            seed,
            pools: HashMap::new(),
        }
    }

    /// Make sure `laddr` has a pool (allocates; call when a configuration is taken up,
    /// never per packet). Existing pools, and the ports they have handed out, are kept.
    pub fn ensure(&mut self, laddr: IpAddr) {
        let (worker, workers, seed) = (self.worker, self.workers, self.seed);
        self.pools
            .entry(laddr)
            .or_insert_with(|| PortPool::for_worker(laddr, worker, workers, seed));
    }

    /// A new pool for `laddr` as this worker would build it, or `None` when it has one.
    pub fn pool_for(&self, laddr: IpAddr) -> Option<PortPool> {
        (!self.pools.contains_key(&laddr))
            .then(|| PortPool::for_worker(laddr, self.worker, self.workers, self.seed))
    }

    /// Take up `pool` for `laddr` unless `laddr` already has one (ports handed out from
    /// an existing pool stay accounted for).
    pub fn adopt(&mut self, laddr: IpAddr, pool: PortPool) {
        self.pools.entry(laddr).or_insert(pool);
    }

    /// Take a free port from the first of `laddrs` (tried from `start`, wrapping) that has one.
    pub fn alloc(&mut self, laddrs: &[IpAddr], start: usize) -> Option<(IpAddr, u16)> {
        let n = laddrs.len();
        (0..n).find_map(|i| {
            let addr = laddrs[(start + i) % n];
            let pool = self.pools.get_mut(&addr)?;
            for _ in 0..pool.free.len() {
                let port = pool.free.pop_front()?;
                if pool.held.is_empty() || !pool.held.contains(&port) {
                    return Some((addr, port));
                }
                pool.free.push_back(port);
            }
            None
        })
    }

    /// Keep `port` of `laddr` out of this worker's allocations while a connection synced
    /// from another director holds it (until [`release`](Self::release)); false when the
    /// port is not this worker's to give.
    pub fn hold(&mut self, laddr: IpAddr, port: u16) -> bool {
        let mask = worker_mask(self.workers);
        if port < FIRST_LOCAL_PORT || port & mask != self.worker & mask {
            return false;
        }
        self.ensure(laddr);
        match self.pools.get_mut(&laddr) {
            Some(pool) => {
                pool.held.insert(port);
                true
            }
            None => false,
        }
    }

    /// Give a port back (a port of an address without a pool, or not ours, is ignored).
    pub fn release(&mut self, laddr: IpAddr, port: u16) {
        let mask = worker_mask(self.workers);
        if port < FIRST_LOCAL_PORT || port & mask != self.worker & mask {
            return;
        }
        if let Some(pool) = self.pools.get_mut(&laddr) {
            // A held port never left `free`.
            if !pool.held.remove(&port) {
                pool.free.push_back(port);
            }
        }
    }

    /// Free ports left on `laddr` (`None` when it has no pool).
    pub fn free(&self, laddr: IpAddr) -> Option<usize> {
        self.pools.get(&laddr).map(|p| p.free.len())
    }
}

/// The shuffle seed of `laddr`'s pool on `worker`, from the worker's seed.
fn pool_seed(seed: u64, laddr: IpAddr, worker: u16) -> u64 {
    seed ^ mix64(addr_bits(laddr)) ^ u64::from(worker)
}

/// The address folded into 64 bits.
pub fn addr_bits(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn held_ports_are_skipped_until_released() {
        let a = ip("10.1.0.2");
        let mut lp = LocalPorts::new(0, 2, 3);
        assert!(!lp.hold(a, 1025), "an odd port is worker 1's");
        assert!(!lp.hold(a, 80), "below the pool");
        // Hold every port but one: that one is all alloc gives.
        let ports: Vec<u16> = (FIRST_LOCAL_PORT..=u16::MAX)
            .filter(|p| p % 2 == 0)
            .collect();
        for &p in &ports[1..] {
            assert!(lp.hold(a, p));
        }
        assert_eq!(lp.alloc(&[a], 0), Some((a, ports[0])));
        assert_eq!(lp.alloc(&[a], 0), None);
        // A synced connection ends: its port is ours again, once.
        lp.release(a, ports[7]);
        assert_eq!(lp.alloc(&[a], 0), Some((a, ports[7])));
        assert_eq!(lp.alloc(&[a], 0), None);
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
                let (_, port) = lp.alloc(&[ip("10.1.0.2")], 0).unwrap();
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
            assert!(seen.insert(lp.alloc(&[a, b], 0).unwrap()));
        }
        assert_eq!(lp.alloc(&[a, b], 0), None);
        lp.release(b, 1025);
        assert_eq!(lp.alloc(&[a, b], 0), Some((b, 1025)));
    }

    #[test]
    fn the_seed_decides_the_order() {
        let a = ip("10.1.0.2");
        let order = |seed| {
            let mut lp = LocalPorts::new(0, 1, seed);
            lp.ensure(a);
            (0..8)
                .map(|_| lp.alloc(&[a], 0).unwrap().1)
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
        let (_, first) = lp.alloc(&[a], 0).unwrap();
        lp.release(a, first);
        let (_, next) = lp.alloc(&[a], 0).unwrap();
        assert_ne!(next, first);
        let before = lp.free(a).unwrap();
        lp.release(a, 80);
        lp.release(ip("10.9.9.9"), 2000);
        assert_eq!(lp.free(a), Some(before));
        assert_eq!(lp.alloc(&[], 0), None);
    }
}
