//! Rules shared by several schedulers, as IPVS's C spells them.

use crate::{LoadView, RealLoad, RealServer};

/// May `real` take a new connection at all? Available, weight above zero, and not flagged
/// overloaded by its `-x`/`-y` thresholds.
#[inline]
pub(crate) fn usable(real: &RealServer, load: &RealLoad) -> bool {
    real.available && real.weight > 0 && !load.overloaded
}

/// IPVS's connection overhead: `active * 256 + inactive`.
#[inline]
pub(crate) fn conn_overhead(load: &RealLoad) -> u64 {
    (u64::from(load.active) << 8) + u64::from(load.inactive)
}

/// sed/nq's expected delay numerator: `active + 1`.
#[inline]
pub(crate) fn expected_delay(load: &RealLoad) -> u64 {
    u64::from(load.active) + 1
}

/// `a_oh / a_w > b_oh / b_w`, by cross-multiplication as IPVS does (no division, exact).
#[inline]
pub(crate) fn heavier(a_oh: u64, a_w: u32, b_oh: u64, b_w: u32) -> bool {
    u128::from(a_oh) * u128::from(b_w) > u128::from(b_oh) * u128::from(a_w)
}

/// Weighted least-connection choice (wlc, and the fallback of lblc and lblcr): the first
/// usable real, replaced by each later usable real whose `overhead / weight` is strictly
/// smaller. Ties go to the earlier real.
pub(crate) fn weighted_least(
    reals: &[RealServer],
    loads: &dyn LoadView,
    overhead: fn(&RealLoad) -> u64,
) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, r) in reals.iter().enumerate() {
        let load = loads.load(r.id);
        if !usable(r, &load) {
            continue;
        }
        let doh = overhead(&load);
        match least {
            Some((l, loh)) if !heavier(loh, reals[l].weight, doh, r.weight) => {}
            _ => least = Some((i, doh)),
        }
    }
    least.map(|(i, _)| i)
}

/// fo/ovf's choice: the usable real of the highest weight among those `accept` lets
/// through. Ties go to the earlier real.
pub(crate) fn heaviest(
    reals: &[RealServer],
    loads: &dyn LoadView,
    accept: impl Fn(&RealServer, &RealLoad) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in reals.iter().enumerate() {
        let load = loads.load(r.id);
        if usable(r, &load) && accept(r, &load) && best.map_or(true, |b| r.weight > reals[b].weight)
        {
            best = Some(i);
        }
    }
    best
}

/// The lookup of a hashing scheduler (sh, dh, mh) in `table` (position -> real index):
/// `slot(salt)` is the key's position hashed with `salt`. The real at `slot(0)` if usable;
/// otherwise, with `fallback`, the first usable real along the key's re-hash walk over salts
/// `slot(0), slot(0) + 1, ...` (modulo the table length), as IPVS's sh and mh fall back.
pub(crate) fn hashed_lookup(
    table: &[u32],
    reals: &[RealServer],
    loads: &dyn LoadView,
    fallback: bool,
    slot: impl Fn(u32) -> usize,
) -> Option<usize> {
    if table.is_empty() {
        return None;
    }
    let ok = |i: usize| usable(&reals[i], &loads.load(reals[i].id));
    let ihash = slot(0);
    let first = table[ihash] as usize;
    if ok(first) {
        return Some(first);
    }
    // Skip the walk when it cannot succeed.
    if !fallback || !(0..reals.len()).any(ok) {
        return None;
    }
    let m = table.len();
    (0..m)
        .map(|off| table[slot(((ihash + off) % m) as u32)] as usize)
        .find(|&i| ok(i))
}

/// lblc/lblcr's extra overload rule: the real has more active connections than its weight
/// while some available real is under half of its own weight.
pub(crate) fn locality_overloaded(reals: &[RealServer], loads: &dyn LoadView, i: usize) -> bool {
    let r = &reals[i];
    if loads.load(r.id).active <= r.weight {
        return false;
    }
    reals
        .iter()
        .filter(|d| d.available)
        .any(|d| u64::from(loads.load(d.id).active) * 2 < u64::from(d.weight))
}

/// Greatest common divisor.
pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// GCD of all non-zero weights of `weights` (0 when every weight is 0).
pub(crate) fn weight_gcd(weights: impl Iterator<Item = u32>) -> u32 {
    weights.filter(|&w| w > 0).fold(0, gcd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcd_of_weights() {
        assert_eq!(weight_gcd([0, 4, 6, 0, 10].into_iter()), 2);
        assert_eq!(weight_gcd([0, 0].into_iter()), 0);
        assert_eq!(weight_gcd([7].into_iter()), 7);
    }

    #[test]
    fn heavier_cross_multiplies() {
        // 300/3 = 100 vs 199/2 = 99.5
        assert!(heavier(300, 3, 199, 2));
        assert!(!heavier(199, 2, 300, 3));
        // Equal ratios are not heavier.
        assert!(!heavier(200, 2, 100, 1));
        // Huge values do not overflow.
        assert!(heavier(u64::MAX, u32::MAX, u64::MAX - 1, u32::MAX));
    }
}
