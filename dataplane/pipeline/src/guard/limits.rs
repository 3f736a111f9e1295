//! A service's limits on one worker: a token bucket for the whole service's new
//! connections, and a fixed table of clients, each with a token bucket for its new
//! connections and a count of its open ones. No lock, no allocation once made (the
//! control core makes it and sends it with the configuration), buckets refilled from the
//! worker's millisecond clock.
//!
//! The table is hashed by client (the address masked by `client_prefix_v4`/`_v6`); a
//! client looks at [`WAYS`] places from its hash. A place is taken over when its client
//! has no open connection and a full bucket again: it then decides nothing a new entry
//! would not. A client that finds no such place is an overflow, counted, and admitted
//! unlimited or refused as `limit_overflow` says.

use std::net::IpAddr;

use rvs_config::{GuardConfig, LimitOverflow};
use rvs_packet::drop::DropReason;

use crate::flow_hash::mix64;

/// The most limited clients a limiter reports ([`Limiter::most_limited`]).
pub const TOP: usize = 10;

/// Places a client may take, from its hash on (one set; 8 places of 48 bytes are six
/// cache lines).
pub const WAYS: usize = 8;

/// A token bucket of one second's worth of tokens at its rate, in thousandths of a token
/// so that each millisecond adds the per-second rate exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Thousandths of a token.
    milli: u64,
    /// When it was last filled.
    at_ms: u64,
}

impl Bucket {
    /// A full bucket of `rate` tokens at `now_ms`.
    pub fn full(rate: u32, now_ms: u64) -> Self {
        Self {
            milli: u64::from(rate) * 1000,
            at_ms: now_ms,
        }
    }

    /// Fill for the time since the last fill, at `rate` a second (a clock that steps
    /// back adds nothing).
    #[inline]
    fn fill(&mut self, rate: u32, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        self.at_ms = self.at_ms.max(now_ms);
        let cap = u64::from(rate) * 1000;
        self.milli = self
            .milli
            .saturating_add(elapsed.saturating_mul(u64::from(rate)))
            .min(cap);
    }

    /// Whether a token is there (after [`fill`](Self::fill)).
    #[inline]
    fn has(&self) -> bool {
        self.milli >= 1000
    }

    /// Take a token (after [`has`](Self::has) said there is one).
    #[inline]
    fn spend(&mut self) {
        self.milli -= 1000;
    }

    /// Whether the bucket would be full at `now_ms`.
    fn full_at(&self, rate: u32, now_ms: u64) -> bool {
        let mut b = *self;
        b.fill(rate, now_ms);
        b.milli >= u64::from(rate) * 1000
    }
}

/// One client's place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientSlot {
    /// The masked address (IPv4 as an IPv4-mapped IPv6 address).
    client: u128,
    /// Whether the place holds a client.
    used: bool,
    /// Its new connections.
    bucket: Bucket,
    /// Its open connections on this worker.
    conns: u32,
    /// Its connections refused by a limit.
    refused: u32,
}

/// What the limits decided for a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Admitted; the client's place, to count the connection in once it is made
    /// ([`Limiter::opened`]), when the client is tracked.
    Admitted(Option<u32>),
    /// The table had no room for the client: admitted unlimited (`limit_overflow =
    /// "admit"`, `true`) or refused as [`DropReason::RateLimited`] (`false`).
    Overflowed(bool),
    /// Refused for this reason ([`DropReason::RateLimited`] or
    /// [`DropReason::ConnLimited`]).
    Refused(DropReason),
}

/// A client among the most limited: its masked address and how many of its connections
/// a limit refused on this worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitedClient {
    /// The client (its masked address).
    pub client: IpAddr,
    /// Connections refused.
    pub refused: u32,
}

/// One service's limits on one worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limiter {
    /// The whole service's new connections (this worker's share of `limit_new`).
    service: Bucket,
    /// `len` is a power of two, a multiple of [`WAYS`].
    slots: Vec<ClientSlot>,
    /// The clients refused most: (refusals, client key), unordered; 0 refusals: empty.
    top: [(u32, u128); TOP],
}

impl Limiter {
    /// The limiter of a service guarded by `g`, or `None` when it sets no limit
    /// (allocates: control core).
    pub fn for_service(g: &GuardConfig) -> Option<Box<Self>> {
        if !g.has_limits() {
            return None;
        }
        let slots = if g.limits_clients() {
            (g.limit_clients as usize).next_power_of_two().max(WAYS)
        } else {
            0
        };
        Some(Box::new(Self {
            service: Bucket::default(),
            slots: vec![ClientSlot::default(); slots],
            top: [(0, 0); TOP],
        }))
    }

    /// What a limiter for `g` is sized by: the table's size and the client prefixes
    /// (all 0 without a per-client limit). A new configuration of the same shape keeps
    /// the worker's limiter, counts included.
    pub fn shape_of(g: &GuardConfig) -> (u32, u8, u8) {
        if g.limits_clients() {
            (g.limit_clients, g.client_prefix_v4, g.client_prefix_v6)
        } else {
            (0, 0, 0)
        }
    }

    /// Places in the client table.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Decide on a new connection from `client` (already masked) at `now_ms`, under `g`;
    /// `service_rate` is this worker's share of `limit_new`. Takes the tokens of an
    /// admitted connection; a refused one takes none.
    #[inline]
    pub fn admit(
        &mut self,
        g: &GuardConfig,
        service_rate: u32,
        client: IpAddr,
        now_ms: u64,
    ) -> Admission {
        if service_rate > 0 {
            self.service.fill(service_rate, now_ms);
            if !self.service.has() {
                return Admission::Refused(DropReason::RateLimited);
            }
        }
        let place = if self.slots.is_empty() {
            None
        } else {
            match self.place(key_of(client), g.limit_new_per_client, now_ms) {
                Some(i) => Some(i),
                None if g.limit_overflow == LimitOverflow::Refuse => {
                    return Admission::Overflowed(false);
                }
                None => {
                    if service_rate > 0 {
                        self.service.spend();
                    }
                    return Admission::Overflowed(true);
                }
            }
        };
        if let Some(i) = place {
            let i = i as usize;
            let slot = &mut self.slots[i];
            if g.limit_conns_per_client > 0 && slot.conns >= g.limit_conns_per_client {
                self.note_refused(i);
                return Admission::Refused(DropReason::ConnLimited);
            }
            if g.limit_new_per_client > 0 {
                slot.bucket.fill(g.limit_new_per_client, now_ms);
                if !slot.bucket.has() {
                    self.note_refused(i);
                    return Admission::Refused(DropReason::RateLimited);
                }
                slot.bucket.spend();
            }
        }
        if service_rate > 0 {
            self.service.spend();
        }
        Admission::Admitted(place)
    }

    /// Count a connection admitted with `place` in, once it was made.
    #[inline]
    pub fn opened(&mut self, place: u32) {
        if let Some(slot) = self.slots.get_mut(place as usize) {
            slot.conns = slot.conns.saturating_add(1);
        }
    }

    /// Count a connection of `client` (already masked) out: it ended.
    pub fn closed(&mut self, client: IpAddr) {
        if self.slots.is_empty() {
            return;
        }
        let key = key_of(client);
        let set = self.set_of(key);
        if let Some(slot) = self.slots[set..set + WAYS]
            .iter_mut()
            .find(|s| s.used && s.client == key)
        {
            slot.conns = slot.conns.saturating_sub(1);
        }
    }

    /// The place of `key`, taken now if it had none (a new client starts with a full
    /// bucket of `rate`); `None` when its set has no free place.
    #[inline]
    fn place(&mut self, key: u128, rate: u32, now_ms: u64) -> Option<u32> {
        let set = self.set_of(key);
        let mut free = None;
        for (i, slot) in self.slots[set..set + WAYS].iter().enumerate() {
            if slot.used && slot.client == key {
                return Some((set + i) as u32);
            }
            let reusable = !slot.used || (slot.conns == 0 && slot.bucket.full_at(rate, now_ms));
            if free.is_none() && reusable {
                free = Some(set + i);
            }
        }
        let i = free?;
        self.slots[i] = ClientSlot {
            client: key,
            used: true,
            bucket: Bucket::full(rate, now_ms),
            conns: 0,
            refused: 0,
        };
        Some(i as u32)
    }

    /// The first place of `key`'s set.
    #[inline]
    fn set_of(&self, key: u128) -> usize {
        let h = mix64((key as u64) ^ mix64((key >> 64) as u64));
        (h as usize & (self.slots.len() - 1)) & !(WAYS - 1)
    }

    /// The clients a limit refused most, at most [`TOP`], most refused first, handed
    /// to `each` (without allocating: the worker publishes them).
    pub fn most_limited(&self, mut each: impl FnMut(LimitedClient)) {
        let mut top = self.top;
        top.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(refused, key) in top.iter().take_while(|(n, _)| *n > 0) {
            each(LimitedClient {
                client: addr_of(key),
                refused,
            });
        }
    }

    /// Note a refusal of the client in place `i`: it joins the most limited when it was
    /// refused more than the least of them (O([`TOP`]) per refusal).
    #[inline]
    fn note_refused(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.refused = slot.refused.saturating_add(1);
        let (n, key) = (slot.refused, slot.client);
        if let Some(t) = self.top.iter_mut().find(|t| t.0 > 0 && t.1 == key) {
            t.0 = n;
            return;
        }
        if let Some(least) = self.top.iter_mut().min_by_key(|t| t.0) {
            if n > least.0 {
                *least = (n, key);
            }
        }
    }

    /// Open connections counted for `client` (already masked).
    #[cfg(test)]
    fn open_of(&self, client: IpAddr) -> Option<u32> {
        let key = key_of(client);
        let set = self.set_of(key);
        self.slots[set..set + WAYS]
            .iter()
            .find(|s| s.used && s.client == key)
            .map(|s| s.conns)
    }
}

/// A client's table key: IPv4 as an IPv4-mapped IPv6 address.
#[inline]
fn key_of(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of a table key.
fn addr_of(key: u128) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> GuardConfig {
        GuardConfig {
            limit_new_per_client: 20,
            limit_clients: 64,
            ..GuardConfig::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn admitted(a: Admission) -> bool {
        matches!(a, Admission::Admitted(_) | Admission::Overflowed(true))
    }

    #[test]
    fn a_client_gets_its_rate_and_another_is_unaffected() {
        let g = guard();
        let mut l = Limiter::for_service(&g).unwrap();
        // 200 attempts a second, one every 5 ms, for 3 seconds from t = 10 s.
        let (mut a, mut b) = (0, 0);
        for k in 0..600u64 {
            let now = 10_000 + k * 5;
            a += u64::from(admitted(l.admit(&g, 0, ip("192.0.2.1"), now)));
            if k % 100 == 0 {
                b += u64::from(admitted(l.admit(&g, 0, ip("192.0.2.2"), now)));
            }
        }
        // A full bucket (20), then 20 a second for the 2.995 s that follow: every 50 ms
        // a token, 59 more.
        assert_eq!(a, 20 + 59);
        assert_eq!(b, 6);
    }

    #[test]
    fn the_service_rate_is_shared_by_every_client() {
        let g = GuardConfig {
            limit_new: 10,
            ..GuardConfig::default()
        };
        let mut l = Limiter::for_service(&g).unwrap();
        assert_eq!(l.capacity(), 0);
        let n = (0..100)
            .filter(|&i| admitted(l.admit(&g, 10, IpAddr::V4([10, 0, 0, i].into()), 5_000)))
            .count();
        // The service's bucket starts empty at time 0: full (one second's worth) by 5 s.
        assert_eq!(n, 10);
        let later = (0..100)
            .filter(|&i| admitted(l.admit(&g, 10, IpAddr::V4([10, 0, 1, i].into()), 5_500)))
            .count();
        assert_eq!(later, 5);
    }

    #[test]
    fn concurrent_connections_count_in_and_out() {
        let g = GuardConfig {
            limit_conns_per_client: 2,
            limit_clients: 8,
            ..GuardConfig::default()
        };
        let mut l = Limiter::for_service(&g).unwrap();
        let c = ip("2001:db8::");
        for _ in 0..2 {
            let Admission::Admitted(Some(p)) = l.admit(&g, 0, c, 1) else {
                panic!("refused")
            };
            l.opened(p);
        }
        assert!(matches!(
            l.admit(&g, 0, c, 1),
            Admission::Refused(DropReason::ConnLimited)
        ));
        l.closed(c);
        assert_eq!(l.open_of(c), Some(1));
        assert!(matches!(l.admit(&g, 0, c, 2), Admission::Admitted(Some(_))));
        let mut top = Vec::new();
        l.most_limited(|c| top.push(c));
        assert_eq!(
            top,
            vec![LimitedClient {
                client: c,
                refused: 1
            }]
        );
    }

    #[test]
    fn a_full_table_fails_open_or_closed() {
        let mut g = GuardConfig {
            limit_conns_per_client: 5,
            limit_clients: 8,
            ..GuardConfig::default()
        };
        let mut l = Limiter::for_service(&g).unwrap();
        // Eight clients with an open connection each fill the one set.
        for i in 0..8u8 {
            let Admission::Admitted(Some(p)) = l.admit(&g, 0, IpAddr::V4([10, 0, 0, i].into()), 1)
            else {
                panic!("refused")
            };
            l.opened(p);
        }
        let ninth = IpAddr::V4([10, 0, 0, 9].into());
        assert_eq!(l.admit(&g, 0, ninth, 1), Admission::Overflowed(true));
        g.limit_overflow = LimitOverflow::Refuse;
        assert_eq!(l.admit(&g, 0, ninth, 1), Admission::Overflowed(false));
        // A client whose connection ended, with a full bucket, gives its place up.
        l.closed(IpAddr::V4([10, 0, 0, 3].into()));
        assert!(matches!(
            l.admit(&g, 0, ninth, 1),
            Admission::Admitted(Some(_))
        ));
    }

    #[test]
    fn the_most_limited_come_first_and_are_bounded() {
        let g = GuardConfig {
            limit_new_per_client: 1,
            limit_clients: 1024,
            ..GuardConfig::default()
        };
        let mut l = Limiter::for_service(&g).unwrap();
        // Client i is refused i times (its first attempt is admitted).
        for i in 1..=30u8 {
            for _ in 0..=i {
                l.admit(&g, 0, IpAddr::V4([10, 0, 0, i].into()), 7);
            }
        }
        let mut top = Vec::new();
        l.most_limited(|c| top.push((c.client, c.refused)));
        let want: Vec<(IpAddr, u32)> = (21..=30u8)
            .rev()
            .map(|i| (IpAddr::V4([10, 0, 0, i].into()), u32::from(i)))
            .collect();
        assert_eq!(top, want);
    }

    #[test]
    fn a_table_is_shaped_by_its_size_and_client_prefixes_not_by_rates() {
        let g = guard();
        let shape = Limiter::shape_of(&g);
        let faster = GuardConfig {
            limit_new_per_client: 50,
            ..g.clone()
        };
        assert_eq!(Limiter::shape_of(&faster), shape);
        let wider = GuardConfig {
            client_prefix_v4: 24,
            ..g.clone()
        };
        assert_ne!(Limiter::shape_of(&wider), shape);
        assert!(Limiter::for_service(&GuardConfig::default()).is_none());
    }
}
