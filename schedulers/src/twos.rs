//! `twos`: weighted random of two choices, as the kernel's IPVS `twos` scheduler.
//!
//! Over the usable reals of total weight `W`, two numbers are drawn uniformly in `0..=W`;
//! each walks the reals in configuration order, taking off each real's weight, and stops at
//! the first real where it reaches zero or below. So each choice falls on a real with a
//! probability proportional to its weight (the first usable real also takes the draw 0, as
//! in the kernel). Of the two, the second wins only when its `overhead / weight` is strictly
//! smaller than the first's (overhead `active * 256 + inactive`, compared by
//! cross-multiplication); a tie keeps the first.
//!
//! Randomness is per worker: each [`SchedState`] carries its own small generator, so a pick
//! takes no lock and allocates nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::select::{conn_overhead, heavier, usable};
use crate::state::{next_table_id, SchedState};
use crate::{Flow, LoadView, RealServer, Scheduler};

/// Seed of the first per-worker state of a table; the n-th state gets the n-th value of a
/// Weyl sequence from it, so workers draw different streams and a replay draws the same.
const SEED_BASE: u64 = 0x7477_6f73_7365_6564;

/// Weighted random of two choices.
#[derive(Debug)]
pub(crate) struct Twos {
    /// Table id (see `SchedState`).
    id: u64,
    /// The configured reals.
    reals: Vec<RealServer>,
    /// States handed out so far (numbers their seeds).
    states: AtomicU64,
}

impl Twos {
    /// A table over `reals`, in configuration order.
    pub(crate) fn new(reals: Vec<RealServer>) -> Self {
        Self {
            id: next_table_id(),
            reals,
            states: AtomicU64::new(0),
        }
    }

    /// A state whose random stream starts from `seed` (tests pin it).
    #[cfg(test)]
    fn state_with_seed(&self, seed: u64) -> SchedState {
        SchedState::with_seed(self.id, seed)
    }
}

/// The reals the two draws (each in `0..=total weight`) fall on, in one walk: for each,
/// the first usable real where its running remainder reaches zero or below.
fn walk(reals: &[RealServer], loads: &dyn LoadView, mut r: [u64; 2]) -> [Option<usize>; 2] {
    let mut found = [None; 2];
    for (i, real) in reals.iter().enumerate() {
        if !usable(real, &loads.load(real.id)) {
            continue;
        }
        let w = u64::from(real.weight);
        for k in 0..2 {
            if found[k].is_none() {
                if r[k] <= w {
                    found[k] = Some(i);
                } else {
                    r[k] -= w;
                }
            }
        }
        if found[1].is_some() && found[0].is_some() {
            break;
        }
    }
    found
}

/// The choice between the draws `r1` and `r2` (each in `0..=total weight`): the second only
/// when it is strictly lighter per weight.
fn choose(reals: &[RealServer], loads: &dyn LoadView, r1: u64, r2: u64) -> Option<usize> {
    let [first, second] = walk(reals, loads, [r1, r2]);
    let first = first?;
    let Some(second) = second else {
        return Some(first);
    };
    let (a, b) = (&reals[first], &reals[second]);
    let (a_oh, b_oh) = (
        conn_overhead(&loads.load(a.id)),
        conn_overhead(&loads.load(b.id)),
    );
    Some(if heavier(a_oh, a.weight, b_oh, b.weight) {
        second
    } else {
        first
    })
}

impl Scheduler for Twos {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn reals(&self) -> &[RealServer] {
        &self.reals
    }

    fn new_state(&self) -> SchedState {
        let n = self.states.fetch_add(1, Ordering::Relaxed);
        SchedState::with_seed(
            self.id,
            SEED_BASE.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        )
    }

    fn pick(&self, state: &mut SchedState, _flow: &Flow, loads: &dyn LoadView) -> Option<usize> {
        let total: u64 = self
            .reals
            .iter()
            .filter(|r| usable(r, &loads.load(r.id)))
            .map(|r| u64::from(r.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let r1 = state.random_below(total + 1);
        let r2 = state.random_below(total + 1);
        choose(&self.reals, loads, r1, r2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{all_overloaded, flow, loads, reals};
    use crate::{build, RealLoad, SchedKind, SchedParams};

    /// The draws fall on reals in proportion to their weights; 0 goes to the first usable.
    #[test]
    fn draws_walk_the_weights() {
        let rs = reals(&[0, 2, 3, 1]);
        let l = vec![RealLoad::default(); 4];
        let got: Vec<_> = (0..=6).map(|r| walk(&rs, &l, [r, 6 - r])[0]).collect();
        let back: Vec<_> = (0..=6).map(|r| walk(&rs, &l, [6 - r, r])[1]).collect();
        assert_eq!(got, back, "both draws walk alike");
        assert_eq!(
            got,
            [1, 1, 1, 2, 2, 2, 3].map(Some).to_vec(),
            "real 0 (weight 0) never, real 1 takes 0..=2, real 2 3..=5, real 3 6"
        );
    }

    /// Of the two choices the second wins only when strictly lighter per weight.
    #[test]
    fn second_choice_only_when_strictly_lighter() {
        let rs = reals(&[1, 2]);
        // overhead / weight: 256/1 vs 512/2: a tie keeps the first choice, either way round.
        let l = loads(&[(1, 0), (2, 0)]);
        assert_eq!(choose(&rs, &l, 0, 3), Some(0));
        assert_eq!(choose(&rs, &l, 3, 0), Some(1));
        // 256/1 vs 513/2 = 256.5: real 1 is heavier, real 0 wins from either position.
        let l = loads(&[(1, 0), (2, 1)]);
        assert_eq!(choose(&rs, &l, 0, 3), Some(0));
        assert_eq!(choose(&rs, &l, 3, 0), Some(0));
        // 257/1 vs 512/2: real 0 heavier, real 1 wins from either position.
        let l = loads(&[(1, 1), (2, 0)]);
        assert_eq!(choose(&rs, &l, 0, 3), Some(1));
        assert_eq!(choose(&rs, &l, 3, 0), Some(1));
    }

    /// With no connections the first choice always stands: picks follow the weights
    /// (real 0 also takes draw 0: a share of (w + 1) / (W + 1)).
    #[test]
    fn idle_picks_follow_the_weights() {
        let t = Twos::new(reals(&[1, 2, 0, 5]));
        let mut st = t.state_with_seed(42);
        let idle = vec![RealLoad::default(); 4];
        let n = 80_000u32;
        let mut count = [0u32; 4];
        for _ in 0..n {
            count[t.pick(&mut st, &flow(0), &idle).unwrap()] += 1;
        }
        assert_eq!(count[2], 0, "weight 0 is never picked");
        // Expected shares: 2/9, 2/9, 0, 5/9 of n; within 5% of each.
        let expect = [2.0 / 9.0, 2.0 / 9.0, 0.0, 5.0 / 9.0];
        for (i, e) in expect.iter().enumerate() {
            let got = f64::from(count[i]) / f64::from(n);
            assert!((got - e).abs() <= e * 0.05, "real {i}: {got} vs {e}");
        }
    }

    /// Counting each pick as a connection, the two choices keep connections per weight
    /// much closer than weighted random alone would, and in proportion to the weights.
    #[test]
    fn loaded_picks_balance_connections_per_weight() {
        let rs = reals(&[1, 3, 0, 4]);
        let t = Twos::new(rs);
        let mut st = t.state_with_seed(7);
        let mut l = vec![RealLoad::default(); 4];
        for _ in 0..8000 {
            let i = t.pick(&mut st, &flow(0), &l).unwrap();
            l[i].active += 1;
        }
        assert_eq!(l[2].active, 0, "weight 0 is never picked");
        for (i, w) in [(0usize, 1u32), (1, 3), (3, 4)] {
            let per_weight = f64::from(l[i].active) / f64::from(w);
            // 8000 over a total weight of 8: 1000 per unit of weight, within 5%.
            assert!(
                (per_weight - 1000.0).abs() <= 50.0,
                "real {i}: {} connections, {per_weight} per weight",
                l[i].active
            );
        }
    }

    #[test]
    fn nothing_usable_picks_nothing() {
        let s = build(SchedKind::Twos, reals(&[0, 0]), &SchedParams::default()).unwrap();
        let mut st = s.new_state();
        assert_eq!(s.pick(&mut st, &flow(0), &loads(&[(0, 0), (0, 0)])), None);
        let s = build(SchedKind::Twos, reals(&[1, 1]), &SchedParams::default()).unwrap();
        assert_eq!(s.pick(&mut st, &flow(0), &all_overloaded(2)), None);
        let mut rs = reals(&[0, 1]);
        rs[1].available = false;
        let s = build(SchedKind::Twos, rs, &SchedParams::default()).unwrap();
        assert_eq!(
            s.pick(&mut s.new_state(), &flow(0), &all_overloaded(0)),
            None
        );
    }

    /// States of one table draw different streams (one per worker); a default state draws.
    #[test]
    fn states_draw_their_own_streams() {
        let t = Twos::new(reals(&[1; 16]));
        let idle = vec![RealLoad::default(); 16];
        let seq = |st: &mut SchedState| -> Vec<usize> {
            (0..32)
                .map(|_| t.pick(st, &flow(0), &idle).unwrap())
                .collect()
        };
        let (mut a, mut b) = (t.new_state(), t.new_state());
        assert_ne!(seq(&mut a), seq(&mut b));
        assert!(seq(&mut SchedState::default()).iter().any(|&i| i != 0));
    }
}
