//! `mh`: Maglev hashing (Eisenbud et al., NSDI 2016, section 3.4), weighted as IPVS does.
//!
//! Each real with a weight above zero gets a permutation of the `M` (prime) table
//! positions: `offset = h1(addr, port) mod M`, `skip = h2(addr, port) mod (M - 1) + 1`.
//! Reals take turns, in configuration order, claiming their next preferred free position;
//! a real takes `turns` positions per round, with `turns = (weight / gcd) >> shift`
//! (at least 1), `shift` keeping the largest turn count within 6 bits as IPVS does. A key
//! (client address, plus the client port with `mh-port`) is looked up at
//! `h(key) mod M`; with `mh-fallback` an unusable real's keys walk on by re-hashing with
//! salts `ihash, ihash + 1, ...`, as IPVS does.

use std::fmt;

use crate::hash;
use crate::select::{hashed_lookup, weight_gcd};
use crate::state::{next_table_id, SchedState};
use crate::{BuildError, Flow, LoadView, RealServer, SchedParams, Scheduler};

/// Largest accepted table size (a prime must also be at most this).
pub(crate) const MAX_TABLE_SIZE: u32 = 1 << 24;

/// IPVS's `IP_VS_MH_TAB_BITS`: largest turn count is below `2^6`.
const TURN_BITS: u32 = 6;

/// Is `n` prime? (Trial division; `n` is at most [`MAX_TABLE_SIZE`].)
pub(crate) fn is_prime(n: u32) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

/// A Maglev lookup table: position -> real index.
pub(crate) struct Mh {
    /// Table id (see `SchedState`).
    id: u64,
    /// The configured reals.
    reals: Vec<RealServer>,
    /// Empty when no real has a weight.
    table: Vec<u32>,
    /// `mh-port`: hash the client port too.
    port: bool,
    /// `mh-fallback`: walk on from an unusable real.
    fallback: bool,
}

impl fmt::Debug for Mh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mh")
            .field("reals", &self.reals.len())
            .field("table", &self.table.len())
            .field("port", &self.port)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl Mh {
    /// Build the lookup table of `params.mh_table_size` positions over `reals`.
    pub(crate) fn new(reals: Vec<RealServer>, params: &SchedParams) -> Result<Self, BuildError> {
        let m = params.mh_table_size;
        if m > MAX_TABLE_SIZE || !is_prime(m) {
            return Err(BuildError::MhTableSize(m));
        }
        let weighted = reals.iter().filter(|r| r.weight > 0).count();
        if weighted > m as usize {
            return Err(BuildError::MhTooManyReals {
                size: m,
                reals: weighted,
            });
        }
        Ok(Self {
            id: next_table_id(),
            table: populate(&reals, m),
            reals,
            port: params.flags.mh_port,
            fallback: params.flags.mh_fallback,
        })
    }

    /// The table position of the flow's key hashed with `salt`.
    fn slot(&self, flow: &Flow, salt: u32) -> usize {
        let port = if self.port { flow.client_port } else { 0 };
        let h = hash::addr_port(hash::SEED_MH_KEY, &flow.client, port, salt);
        (h % self.table.len() as u64) as usize
    }

    /// Table entries held by each real.
    pub(crate) fn shares(&self) -> Vec<usize> {
        let mut c = vec![0; self.reals.len()];
        for &r in &self.table {
            c[r as usize] += 1;
        }
        c
    }
}

/// Fill a table of `m` positions (the Maglev population loop).
fn populate(reals: &[RealServer], m: u32) -> Vec<u32> {
    let g = weight_gcd(reals.iter().map(|r| r.weight));
    if g == 0 {
        return Vec::new();
    }
    let max_turns = reals.iter().map(|r| r.weight / g).max().unwrap_or(0);
    let shift = (u32::BITS - max_turns.leading_zeros()).saturating_sub(TURN_BITS);
    struct Perm {
        real: u32,
        next: u32,
        skip: u32,
        turns: u32,
    }
    let mut perms: Vec<Perm> = reals
        .iter()
        .enumerate()
        .filter(|(_, r)| r.weight > 0)
        .map(|(i, r)| Perm {
            real: i as u32,
            next: (hash::addr_port(hash::SEED_MH_OFFSET, &r.addr, r.port, 0) % u64::from(m)) as u32,
            skip: (hash::addr_port(hash::SEED_MH_SKIP, &r.addr, r.port, 0)
                % u64::from(m - 1).max(1)) as u32
                + 1,
            turns: ((r.weight / g) >> shift).max(1),
        })
        .collect();
    const FREE: u32 = u32::MAX;
    let mut table = vec![FREE; m as usize];
    let mut filled = 0;
    'fill: loop {
        for p in perms.iter_mut() {
            for _ in 0..p.turns {
                while table[p.next as usize] != FREE {
                    p.next = (p.next + p.skip) % m;
                }
                table[p.next as usize] = p.real;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
    }
    table
}

impl Scheduler for Mh {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        SchedState::stateless(self.id)
    }

    fn pick(&self, _state: &mut SchedState, flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        hashed_lookup(&self.table, &self.reals, loads, self.fallback, |salt| {
            self.slot(flow, salt)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_overloaded, flow, real, reals};
    use crate::{build, RealLoad, SchedFlags, SchedKind};

    fn params(m: u32) -> SchedParams {
        SchedParams {
            mh_table_size: m,
            ..SchedParams::default()
        }
    }

    #[test]
    fn table_size_must_be_prime() {
        assert!(is_prime(2) && is_prime(251) && is_prime(65537) && is_prime(65521));
        assert!(!is_prime(0) && !is_prime(1) && !is_prime(65536) && !is_prime(65535));
        for bad in [0, 1, 4, 65536, 65535] {
            assert_eq!(
                build(SchedKind::Mh, reals(&[1]), &params(bad)).unwrap_err(),
                BuildError::MhTableSize(bad)
            );
        }
        assert!(build(SchedKind::Mh, reals(&[1]), &params(251)).is_ok());
        assert_eq!(
            build(SchedKind::Mh, reals(&[1, 1, 0, 1]), &params(2)).unwrap_err(),
            BuildError::MhTooManyReals { size: 2, reals: 3 }
        );
    }

    #[test]
    fn every_position_filled_in_weight_proportion() {
        let t = Mh::new(reals(&[1, 2, 0, 3]), &params(251)).unwrap();
        let s = t.shares();
        assert_eq!(s.iter().sum::<usize>(), 251);
        assert_eq!(s[2], 0);
        // 251 = 41 rounds of 6 + 5: 42, 84 (41*2 + 2), 125 (41*3 + 2).
        assert_eq!(s, vec![42, 84, 0, 125]);
    }

    #[test]
    fn huge_weights_are_shifted_not_overflowed() {
        let t = Mh::new(reals(&[u32::MAX, 1]), &params(251)).unwrap();
        let s = t.shares();
        assert_eq!(s.iter().sum::<usize>(), 251);
        assert!(s[1] >= 1 && s[0] > 200);
    }

    #[test]
    fn port_flag_and_fallback() {
        let rs: Vec<_> = (0..8).map(|i| real(i, 1)).collect();
        let loads = vec![RealLoad::default(); 8];
        let flags = |s| SchedParams {
            flags: SchedFlags::parse(s).unwrap(),
            ..params(251)
        };
        let plain = build(SchedKind::Mh, rs.clone(), &flags("")).unwrap();
        let port = build(SchedKind::Mh, rs.clone(), &flags("mh-port")).unwrap();
        let fb = build(SchedKind::Mh, rs, &flags("mh-fallback")).unwrap();
        let mut st = plain.new_state();
        let f = flow(3);
        let home = plain.pick(&mut st, &f, &loads).unwrap();
        let mut by_port = std::collections::HashSet::new();
        for p in 0..64 {
            let g = Flow {
                client_port: p,
                ..f
            };
            assert_eq!(plain.pick(&mut st, &g, &loads), Some(home));
            by_port.insert(port.pick(&mut st, &g, &loads).unwrap());
        }
        assert!(by_port.len() > 4);
        let mut down = loads.clone();
        down[home].overloaded = true;
        assert_eq!(plain.pick(&mut st, &f, &down), None);
        let other = fb.pick(&mut st, &f, &down).unwrap();
        assert_ne!(other, home);
        assert_eq!(fb.pick(&mut st, &f, &all_overloaded(8)), None);
    }

    /// Balance and disruption at M = 65537 (numbers from `examples/mh_stats.rs`: max/min
    /// 1.0002, 1.0015, 1.0154 for 10, 100, 1000 reals; 1.6% of entries move when 1 of 100
    /// reals goes, 0.6% of them between reals that stayed).
    #[test]
    fn balance_and_disruption_at_default_size() {
        let p = SchedParams::default();
        for (n, bound) in [(10, 1.001), (100, 1.01), (1000, 1.02)] {
            let s = Mh::new(reals(&vec![1; n]), &p).unwrap().shares();
            let (min, max) = (*s.iter().min().unwrap(), *s.iter().max().unwrap());
            assert!(max as f64 / min as f64 <= bound, "{n} reals: {min}..{max}");
        }
        let all = reals(&[1; 100]);
        let removed = 37;
        let mut fewer = all.clone();
        fewer.remove(removed);
        let a = Mh::new(all, &p).unwrap();
        let b = Mh::new(fewer, &p).unwrap();
        let id = |t: &Mh, pos: usize| t.reals[t.table[pos] as usize].id;
        let m = a.table.len();
        let moved = (0..m).filter(|&i| id(&a, i) != id(&b, i)).count();
        let moved_between_survivors = (0..m)
            .filter(|&i| id(&a, i) != id(&b, i) && id(&a, i) as usize != removed)
            .count();
        // The removed real's own 1% must move; little else may.
        assert!(moved as f64 / m as f64 <= 0.02, "{moved} of {m} moved");
        assert!(
            moved_between_survivors as f64 / m as f64 <= 0.01,
            "{moved_between_survivors}"
        );
        assert!(moved >= a.shares()[removed]);
        // Adding a real, or re-weighting one, also moves under 1% of the entries between
        // reals it did not touch (measured: 0.53% for an added 101st real, 0.69% for one
        // real re-weighted from 1 to 3). Maglev promises no more than this: unlike sh and
        // dh, a few keys of untouched reals do move.
        let mut more = reals(&[1; 100]);
        more.push(real(100, 1));
        let mut heavier = reals(&[1; 100]);
        heavier[removed].weight = 3;
        for (what, rs, x) in [
            ("added", more, 100),
            ("re-weighted", heavier, removed as u32),
        ] {
            let b = Mh::new(rs, &p).unwrap();
            let between_others = (0..m)
                .filter(|&i| id(&a, i) != id(&b, i) && id(&a, i) != x && id(&b, i) != x)
                .count();
            assert!(
                between_others as f64 / m as f64 <= 0.01,
                "{what}: {between_others}"
            );
        }
    }
}
