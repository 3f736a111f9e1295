//! The `[[mark]]` rules compiled for the packet path: which mark service, if any, a
//! packet's protocol, destination, destination port and source lead to.
//!
//! The rules are first-match in file order. Building (on the control core, with each
//! snapshot) cuts each address family's destination space into intervals over which the
//! set of rules naming them is constant; each such set, per protocol, cuts the port space
//! likewise; each set of rules left cuts the source space, and every source interval
//! holds the answer: the first rule there, as the index of its mark's service. A lookup
//! is three bisections (destination, port, source), O(log n) in the number of rules
//! whatever they are, with no allocation; equal sets share their tables, so the common
//! shapes (many addresses with a few ports, one address with many ports) stay linear in
//! size. A rule whose mark has no service of the packet's family still takes the packet
//! (its mark is set, as netfilter would), which then goes to an addressed service if one
//! matches, as in IPVS.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hashbrown::HashMap;
use rvs_config::{IpNet, MarkProto, MarkRule};
use rvs_conntrack::Proto;

/// "Nothing here" in the tables' `u32` slots.
const NONE: u32 = u32::MAX;

/// The compiled rules of both families.
#[derive(Debug, Default)]
pub struct MarkTable {
    v4: FamilyTable<u32>,
    v6: FamilyTable<u128>,
}

impl MarkTable {
    /// Compile `rules`; `service_of(mark, ipv6)` is the index of that mark's service
    /// of that family, if there is one.
    pub fn build(rules: &[MarkRule], service_of: impl Fn(u32, bool) -> Option<usize>) -> Self {
        Self {
            v4: FamilyTable::build(rules, |m| service_of(m, false)),
            v6: FamilyTable::build(rules, |m| service_of(m, true)),
        }
    }

    /// The index of the mark service a packet goes to, `None` when no rule with a
    /// service of the packet's family matches it first.
    #[inline]
    pub fn lookup(&self, proto: Proto, src: IpAddr, dst: IpAddr, dport: u16) -> Option<usize> {
        let found = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.lookup(proto, s.into(), d.into(), dport),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.v6.lookup(proto, s.into(), d.into(), dport),
            _ => NONE,
        };
        (found != NONE).then_some(found as usize)
    }

    /// True when some rule names `dst` (the director answers ARP and ND for it and
    /// steers its packets as packets toward a VIP).
    #[inline]
    pub fn covers(&self, dst: IpAddr) -> bool {
        match dst {
            IpAddr::V4(d) => self.v4.cell(d.into()) != NONE,
            IpAddr::V6(d) => self.v6.cell(d.into()) != NONE,
        }
    }

    /// True when there are no rules.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.v4.cells.is_empty() && self.v6.cells.is_empty()
    }

    /// How many intervals the tables hold (destination, port, source), for tests and
    /// the bench.
    pub fn size(&self) -> (usize, usize, usize) {
        let (a, b) = (self.v4.size(), self.v6.size());
        (a.0 + b.0, a.1 + b.1, a.2 + b.2)
    }
}

/// An address family's addresses as integers.
trait Key: Copy + Ord + Default + std::hash::Hash + std::fmt::Debug {
    const MAX: Self;
    /// The first and last address of `net`, when it is of this family.
    fn span(net: &IpNet) -> Option<(Self, Self)>;
    /// `self + 1`, `None` past the last address.
    fn succ(self) -> Option<Self>;
}

impl Key for u32 {
    const MAX: Self = u32::MAX;
    fn span(net: &IpNet) -> Option<(Self, Self)> {
        let IpAddr::V4(a) = net.addr() else {
            return None;
        };
        let host = u32::MAX
            .checked_shr(u32::from(net.prefix_len()))
            .unwrap_or(0);
        let a = u32::from(a);
        Some((a & !host, a | host))
    }
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Key for u128 {
    const MAX: Self = u128::MAX;
    fn span(net: &IpNet) -> Option<(Self, Self)> {
        let IpAddr::V6(a) = net.addr() else {
            return None;
        };
        let host = u128::MAX
            .checked_shr(u32::from(net.prefix_len()))
            .unwrap_or(0);
        let a = u128::from(a);
        Some((a & !host, a | host))
    }
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Key for u16 {
    const MAX: Self = u16::MAX;
    fn span(_: &IpNet) -> Option<(Self, Self)> {
        None
    }
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

/// A map from every key to a `u32`, as sorted interval starts (the first is 0).
#[derive(Debug, Default)]
struct Intervals<K> {
    starts: Vec<K>,
    values: Vec<u32>,
}

impl<K: Key> Intervals<K> {
    #[inline]
    fn get(&self, k: K) -> u32 {
        let i = self.starts.partition_point(|&s| s <= k);
        // `starts[0]` is the lowest key, so `i` is at least 1 when the map is not empty.
        i.checked_sub(1).map_or(NONE, |i| self.values[i])
    }

    /// Sweep `spans` (each `(first, last, item)`): at every point where the set of
    /// items covering the key changes, `value` of the sorted set (empty where none).
    fn sweep(spans: &[(K, K, u32)], mut value: impl FnMut(&[u32]) -> u32) -> Self {
        let mut events: BTreeMap<K, Vec<(u32, bool)>> = BTreeMap::new();
        events.entry(K::default()).or_default();
        for &(lo, hi, item) in spans {
            events.entry(lo).or_default().push((item, true));
            if let Some(after) = hi.succ() {
                events.entry(after).or_default().push((item, false));
            }
        }
        let mut active: BTreeMap<u32, u32> = BTreeMap::new();
        let mut out = Self::default();
        let mut set = Vec::new();
        for (at, changes) in events {
            for (item, on) in changes {
                let n = active.entry(item).or_insert(0);
                if on {
                    *n += 1;
                } else {
                    *n -= 1;
                    if *n == 0 {
                        active.remove(&item);
                    }
                }
            }
            set.clear();
            set.extend(active.keys().copied());
            let v = if set.is_empty() { NONE } else { value(&set) };
            if out.values.last() != Some(&v) {
                out.starts.push(at);
                out.values.push(v);
            }
        }
        out
    }
}

/// The compiled rules of one family.
#[derive(Debug, Default)]
struct FamilyTable<K> {
    /// Destination -> cell.
    dst: Intervals<K>,
    /// Per cell, the port table of TCP and of UDP (`NONE`: no rule of it).
    cells: Vec<[u32; 2]>,
    /// Port -> source table.
    ports: Vec<Intervals<u16>>,
    /// Source -> the service of the first rule matching.
    srcs: Vec<Intervals<K>>,
}

impl<K: Key> FamilyTable<K> {
    fn build(rules: &[MarkRule], service_of: impl Fn(u32) -> Option<usize>) -> Self {
        let mut t = Self::default();
        let dst_spans: Vec<(K, K, u32)> = rules
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.dst
                    .iter()
                    .filter_map(move |n| K::span(n).map(|(lo, hi)| (lo, hi, i as u32)))
            })
            .collect();
        if dst_spans.is_empty() {
            return t;
        }
        let mut cell_of: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut port_of: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut src_of: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut cells = Vec::new();
        let mut ports = Vec::new();
        let mut srcs = Vec::new();
        t.dst = Intervals::sweep(&dst_spans, |set| {
            if let Some(&c) = cell_of.get(set) {
                return c;
            }
            let mut pair = [NONE; 2];
            for (slot, proto) in pair.iter_mut().zip([MarkProto::Tcp, MarkProto::Udp]) {
                let of_proto: Vec<u32> = set
                    .iter()
                    .copied()
                    .filter(|&r| {
                        matches!(rules[r as usize].proto, MarkProto::Any)
                            || rules[r as usize].proto == proto
                    })
                    .collect();
                if of_proto.is_empty() {
                    continue;
                }
                *slot = *port_of.entry(of_proto.clone()).or_insert_with(|| {
                    let spans: Vec<(u16, u16, u32)> = of_proto
                        .iter()
                        .flat_map(|&r| {
                            let rule = &rules[r as usize];
                            let all: &[(u16, u16)] = if rule.ports.is_empty() {
                                &[(0, u16::MAX)]
                            } else {
                                &rule.ports
                            };
                            all.iter()
                                .map(move |&(lo, hi)| (lo, hi, r))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    let table = Intervals::sweep(&spans, |matching| {
                        *src_of.entry(matching.to_vec()).or_insert_with(|| {
                            srcs.push(src_table::<K>(rules, matching, &service_of));
                            (srcs.len() - 1) as u32
                        })
                    });
                    ports.push(table);
                    (ports.len() - 1) as u32
                });
            }
            cells.push(pair);
            let c = (cells.len() - 1) as u32;
            cell_of.insert(set.to_vec(), c);
            c
        });
        t.cells = cells;
        t.ports = ports;
        t.srcs = srcs;
        t
    }

    #[inline]
    fn cell(&self, dst: K) -> u32 {
        if self.cells.is_empty() {
            return NONE;
        }
        self.dst.get(dst)
    }

    #[inline]
    fn lookup(&self, proto: Proto, src: K, dst: K, dport: u16) -> u32 {
        let cell = self.cell(dst);
        if cell == NONE {
            return NONE;
        }
        let slot = match proto {
            Proto::Tcp => 0,
            Proto::Udp => 1,
            Proto::Icmp => return NONE,
        };
        let ports = self.cells[cell as usize][slot];
        if ports == NONE {
            return NONE;
        }
        let srcs = self.ports[ports as usize].get(dport);
        if srcs == NONE {
            return NONE;
        }
        self.srcs[srcs as usize].get(src)
    }

    fn size(&self) -> (usize, usize, usize) {
        (
            self.dst.starts.len(),
            self.ports.iter().map(|p| p.starts.len()).sum(),
            self.srcs.iter().map(|s| s.starts.len()).sum(),
        )
    }
}

/// Source -> the service of the first of `matching` (rule indexes, ascending) whose
/// sources hold it; a rule whose mark has no service of this family answers `NONE`.
fn src_table<K: Key>(
    rules: &[MarkRule],
    matching: &[u32],
    service_of: &impl Fn(u32) -> Option<usize>,
) -> Intervals<K> {
    let spans: Vec<(K, K, u32)> = matching
        .iter()
        .flat_map(|&r| {
            let rule = &rules[r as usize];
            let spans: Vec<(K, K, u32)> = if rule.src.is_empty() {
                vec![(K::default(), K::MAX, r)]
            } else {
                rule.src
                    .iter()
                    .filter_map(|n| K::span(n).map(|(lo, hi)| (lo, hi, r)))
                    .collect()
            };
            spans
        })
        .collect();
    Intervals::sweep(&spans, |set| {
        let first = &rules[set[0] as usize];
        service_of(first.mark).map_or(NONE, |s| s as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_config::Config;

    fn rules(text: &str) -> Vec<MarkRule> {
        Config::parse(text, "t.toml").unwrap().marks
    }

    /// Services: mark N of IPv4 is service N - 1 (marks 1..=3), IPv6 mark 1 is 10.
    fn table(text: &str) -> MarkTable {
        MarkTable::build(&rules(text), |m, v6| match (m, v6) {
            (1..=3, false) => Some(m as usize - 1),
            (1, true) => Some(10),
            _ => None,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const RULES: &str = r#"
[[mark]]
mark = 1
proto = "tcp"
dst = ["10.0.0.100/32", "10.0.5.0/28"]
ports = ["80", "443", "8000-8099"]
[[mark]]
mark = 2
dst = ["10.0.0.0/24"]
src = ["192.0.2.0/24"]
[[mark]]
mark = 9
proto = "udp"
dst = ["10.0.0.100/32"]
ports = ["53"]
[[mark]]
mark = 3
dst = ["10.0.0.0/16"]
[[mark]]
mark = 1
dst = ["2001:db8::/64"]
"#;

    #[test]
    fn first_matching_rule_gives_the_service() {
        let t = table(RULES);
        let c = ip("198.51.100.7");
        let l = |p, s: &str, d: &str, port| t.lookup(p, ip(s), ip(d), port);
        // Rule 1: its ports of its addresses, TCP only.
        for port in [80, 443, 8000, 8050, 8099] {
            assert_eq!(
                t.lookup(Proto::Tcp, c, ip("10.0.0.100"), port),
                Some(0),
                "{port}"
            );
            assert_eq!(
                t.lookup(Proto::Tcp, c, ip("10.0.5.15"), port),
                Some(0),
                "{port}"
            );
        }
        // Past rule 1's ports and protocol: rule 3 (the /16), or rule 2 for its sources.
        assert_eq!(l(Proto::Tcp, "198.51.100.7", "10.0.0.100", 8100), Some(2));
        assert_eq!(l(Proto::Tcp, "198.51.100.7", "10.0.5.16", 80), Some(2));
        assert_eq!(l(Proto::Tcp, "192.0.2.9", "10.0.0.100", 22), Some(1));
        assert_eq!(l(Proto::Tcp, "192.0.2.9", "10.0.0.100", 80), Some(0));
        assert_eq!(l(Proto::Udp, "192.0.2.9", "10.0.0.100", 80), Some(1));
        // Rule 9 (no service) takes UDP 53 of .100 first: no mark service.
        assert_eq!(l(Proto::Udp, "198.51.100.7", "10.0.0.100", 53), None);
        assert_eq!(l(Proto::Udp, "198.51.100.7", "10.0.0.101", 53), Some(2));
        // Outside every rule.
        assert_eq!(l(Proto::Tcp, "198.51.100.7", "10.1.0.1", 80), None);
        assert_eq!(l(Proto::Icmp, "198.51.100.7", "10.0.0.100", 0), None);
        // IPv6, and the families do not mix.
        assert_eq!(l(Proto::Udp, "2001:db8:9::1", "2001:db8::5", 1), Some(10));
        assert_eq!(l(Proto::Udp, "2001:db8:9::1", "2001:db8:1::5", 1), None);
        assert!(t.covers(ip("10.0.200.1")) && t.covers(ip("2001:db8::ffff")));
        assert!(!t.covers(ip("10.1.0.0")) && !t.covers(ip("2001:db9::")));
    }

    #[test]
    fn the_table_agrees_with_a_scan_of_the_rules() {
        let rules = rules(RULES);
        let t = table(RULES);
        let scan = |p: Proto, src: IpAddr, dst: IpAddr, port: u16| {
            let r = rules.iter().find(|r| {
                let proto = match r.proto {
                    MarkProto::Any => p != Proto::Icmp,
                    MarkProto::Tcp => p == Proto::Tcp,
                    MarkProto::Udp => p == Proto::Udp,
                };
                proto
                    && r.dst.iter().any(|n| n.contains(dst))
                    && (r.ports.is_empty()
                        || r.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&port)))
                    && (r.src.is_empty() || r.src.iter().any(|n| n.contains(src)))
            })?;
            match (r.mark, dst.is_ipv6()) {
                (1..=3, false) => Some(r.mark as usize - 1),
                (1, true) => Some(10),
                _ => None,
            }
        };
        let srcs = ["192.0.2.0", "192.0.2.255", "192.0.3.0", "198.51.100.7"];
        let dsts = [
            "10.0.0.0",
            "10.0.0.99",
            "10.0.0.100",
            "10.0.0.101",
            "10.0.0.255",
            "10.0.1.0",
            "10.0.5.0",
            "10.0.5.15",
            "10.0.5.16",
            "10.0.255.255",
            "10.1.0.0",
            "9.255.255.255",
        ];
        for p in [Proto::Tcp, Proto::Udp] {
            for s in srcs {
                for d in dsts {
                    for port in [0, 22, 53, 79, 80, 81, 443, 7999, 8000, 8099, 8100, 65535] {
                        let (s, d) = (ip(s), ip(d));
                        assert_eq!(
                            t.lookup(p, s, d, port),
                            scan(p, s, d, port),
                            "{p:?} {s} {d} {port}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_rules_is_an_empty_table() {
        let t = MarkTable::build(&[], |_, _| Some(0));
        assert!(t.is_empty());
        assert!(!t.covers(ip("10.0.0.1")));
        assert_eq!(
            t.lookup(Proto::Tcp, ip("1.2.3.4"), ip("10.0.0.1"), 80),
            None
        );
    }

    #[test]
    fn equal_rule_sets_share_their_tables() {
        // 1,000 addresses of one rule with two ports: one cell, one port table.
        let dst: Vec<String> = (0..1000)
            .map(|i| format!("\"10.{}.{}.1/32\"", i / 250, i % 250))
            .collect();
        let text = format!(
            "[[mark]]\nmark = 1\nproto = \"tcp\"\ndst = [{}]\nports = [\"80\", \"443\"]\n",
            dst.join(",")
        );
        let t = table(&text);
        let (d, p, s) = t.size();
        assert_eq!((d, p, s), (2001, 5, 1));
    }
}
