//! A service's allow and deny lists compiled for the first packet of a connection: the
//! addresses they refuse, as sorted, disjoint, merged ranges per family, searched by
//! bisection. A lookup costs O(log n) in the number of ranges (at most twice the number
//! of prefixes plus one), whatever the lists' length, overlaps or order; building costs
//! O(n log n) and runs on the control core.

use std::net::IpAddr;

use rvs_config::IpNet;

/// The addresses a service refuses, compiled from its lists (deny wins; an empty allow
/// list admits every address the deny list does not name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusedSet {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
}

impl RefusedSet {
    /// Compile `allow` and `deny` (host bits are ignored).
    pub fn build(allow: &[IpNet], deny: &[IpNet]) -> Self {
        let (allow4, allow6) = split(allow);
        let (deny4, deny6) = split(deny);
        // With any allow entry, an address of either family outside every allow entry is
        // refused.
        let allow_all = allow.is_empty();
        Self {
            v4: Ranges::refused(allow_all, allow4, deny4),
            v6: Ranges::refused(allow_all, allow6, deny6),
        }
    }

    /// True when `addr` may not open a connection.
    #[inline]
    pub fn refuses(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    /// Whether nothing is refused.
    pub fn is_empty(&self) -> bool {
        self.v4.starts.is_empty() && self.v6.starts.is_empty()
    }

    /// How many ranges the lookup bisects (IPv4, IPv6).
    #[cfg(test)]
    fn ranges(&self) -> (usize, usize) {
        (self.v4.starts.len(), self.v6.starts.len())
    }
}

/// An address family's integer: an address as a number, its width in bits.
trait Bits: Copy + Ord + std::fmt::Debug {
    const ZERO: Self;
    const MAX: Self;
    /// The first and last address of the prefix `self/len`.
    fn span(self, len: u8) -> (Self, Self);
    /// `self + 1` (never called on `MAX`).
    fn next(self) -> Self;
    /// `self - 1` (never called on `ZERO`).
    fn prev(self) -> Self;
}

impl Bits for u32 {
    const ZERO: Self = 0;
    const MAX: Self = u32::MAX;
    fn span(self, len: u8) -> (Self, Self) {
        let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        (self & !host, self | host)
    }
    fn next(self) -> Self {
        self + 1
    }
    fn prev(self) -> Self {
        self - 1
    }
}

impl Bits for u128 {
    const ZERO: Self = 0;
    const MAX: Self = u128::MAX;
    fn span(self, len: u8) -> (Self, Self) {
        let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        (self & !host, self | host)
    }
    fn next(self) -> Self {
        self + 1
    }
    fn prev(self) -> Self {
        self - 1
    }
}

/// Inclusive address ranges of one family.
type Spans<T> = Vec<(T, T)>;

/// The prefixes of `list` as inclusive address ranges, per family.
fn split(list: &[IpNet]) -> (Spans<u32>, Spans<u128>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for net in list {
        match net.addr() {
            IpAddr::V4(a) => v4.push(u32::from(a).span(net.prefix_len())),
            IpAddr::V6(a) => v6.push(u128::from(a).span(net.prefix_len())),
        }
    }
    (v4, v6)
}

/// Sorted, disjoint, non-adjacent inclusive ranges: `starts[i]..=ends[i]`. Starts and
/// ends are kept apart so that the bisection reads only starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ranges<T> {
    starts: Vec<T>,
    ends: Vec<T>,
}

impl<T: Bits> Ranges<T> {
    /// Sorted and merged (overlapping or adjacent ranges become one).
    fn merged(mut list: Vec<(T, T)>) -> Vec<(T, T)> {
        list.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(list.len());
        for (start, end) in list {
            match out.last_mut() {
                Some(last) if last.1 == T::MAX || start <= last.1.next() => {
                    last.1 = last.1.max(end);
                }
                _ => out.push((start, end)),
            }
        }
        out
    }

    /// What a family refuses: its deny ranges, and outside its allow ranges unless
    /// `allow_all`.
    fn refused(allow_all: bool, allow: Vec<(T, T)>, deny: Vec<(T, T)>) -> Self {
        let mut refused = if allow_all {
            Vec::new()
        } else {
            complement(&Self::merged(allow))
        };
        refused.extend(deny);
        let merged = Self::merged(refused);
        Self {
            starts: merged.iter().map(|r| r.0).collect(),
            ends: merged.iter().map(|r| r.1).collect(),
        }
    }

    /// True when `x` is in a range.
    #[inline]
    fn contains(&self, x: T) -> bool {
        // The ranges starting at or before `x`; only the last of them may hold it.
        let n = self.starts.partition_point(|&s| s <= x);
        n > 0 && self.ends[n - 1] >= x
    }
}

/// The addresses outside sorted, merged `ranges`.
fn complement<T: Bits>(ranges: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    let mut from = Some(T::ZERO);
    for &(start, end) in ranges {
        if let Some(f) = from {
            if start > f {
                out.push((f, start.prev()));
            }
        }
        from = (end != T::MAX).then(|| end.next());
    }
    if let Some(f) = from {
        out.push((f, T::MAX));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn refuses(set: &RefusedSet, a: &str) -> bool {
        set.refuses(a.parse().unwrap())
    }

    #[test]
    fn empty_lists_refuse_nothing() {
        let set = RefusedSet::build(&[], &[]);
        assert!(set.is_empty());
        assert!(!refuses(&set, "1.2.3.4"));
        assert!(!refuses(&set, "::1"));
    }

    #[test]
    fn deny_wins_over_allow_and_overlaps_merge() {
        let allow = nets(&["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32"]);
        let deny = nets(&["10.1.2.0/24", "10.1.2.128/25", "2001:db8:1::/48"]);
        let set = RefusedSet::build(&allow, &deny);
        assert!(!refuses(&set, "10.0.0.1"));
        assert!(!refuses(&set, "10.1.1.255"));
        assert!(refuses(&set, "10.1.2.0"));
        assert!(refuses(&set, "10.1.2.255"));
        assert!(!refuses(&set, "10.1.3.0"));
        assert!(refuses(&set, "11.0.0.0"));
        assert!(refuses(&set, "9.255.255.255"));
        assert!(!refuses(&set, "2001:db8::1"));
        assert!(refuses(&set, "2001:db8:1::5"));
        assert!(!refuses(&set, "2001:db8:2::5"));
        assert!(refuses(&set, "2001:db9::"));
        // Below 10/8, 10.1.2/24, above 10/8 (IPv4); below, the /48, above (IPv6).
        assert_eq!(set.ranges(), (3, 3));
    }

    #[test]
    fn an_allow_list_of_one_family_refuses_the_other() {
        let set = RefusedSet::build(&nets(&["192.0.2.0/24"]), &[]);
        assert!(!refuses(&set, "192.0.2.7"));
        assert!(refuses(&set, "2001:db8::1"));
        let deny_only = RefusedSet::build(&[], &nets(&["192.0.2.0/24"]));
        assert!(!refuses(&deny_only, "2001:db8::1"));
    }

    #[test]
    fn whole_space_and_host_prefixes() {
        let set = RefusedSet::build(&nets(&["0.0.0.0/0"]), &nets(&["255.255.255.255/32"]));
        assert!(!refuses(&set, "0.0.0.0"));
        assert!(refuses(&set, "255.255.255.255"));
        assert!(refuses(&set, "::"));
        let set = RefusedSet::build(&[], &nets(&["::/0", "0.0.0.0/0"]));
        assert!(refuses(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert!(refuses(&set, "0.0.0.0"));
    }

    proptest::proptest! {
        /// The compiled set says what a scan of the lists says, for any lists.
        #[test]
        fn agrees_with_a_scan(
            allow in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..20),
            deny in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..20),
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..50),
        ) {
            let to_nets = |l: &[(u32, u8)]| -> Vec<IpNet> {
                l.iter()
                    .map(|&(a, len)| IpNet::new(std::net::Ipv4Addr::from(a).into(), len).unwrap().network())
                    .collect()
            };
            let (allow, deny) = (to_nets(&allow), to_nets(&deny));
            let set = RefusedSet::build(&allow, &deny);
            // Probes near the lists' edges as well as at random.
            let edges = allow.iter().chain(&deny).flat_map(|n| {
                let (s, e) = match n.addr() { IpAddr::V4(a) => u32::from(a).span(n.prefix_len()), _ => unreachable!() };
                [s, e, s.wrapping_sub(1), e.wrapping_add(1)]
            });
            for p in probes.into_iter().chain(edges) {
                let ip = IpAddr::V4(p.into());
                let scan = deny.iter().any(|n| n.contains(ip))
                    || (!allow.is_empty() && !allow.iter().any(|n| n.contains(ip)));
                proptest::prop_assert_eq!(set.refuses(ip), scan, "{}", ip);
            }
        }
    }
}
