//! How a connection is stored: a hot cache line per connection with everything a
//! forwarded packet reads or writes except its counters (key check, state, expiry, mode,
//! the rewrite addresses and ports in compact form, real, service, template slot, stream
//! adjustments), the counters and the forwarding path's hints in the line right after
//! it (same page: one TLB entry for both), and the rest (IPv6 addresses, the template key) in a parallel cold array that
//! IPv4 packets never touch. Fixed at construction, with a free list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use rvs_schedulers::DestId;

use crate::{
    Conn, ConnCounters, ConnKey, Direction, ForwardMode, NewConn, PathHint, Proto, StreamAdjust,
    TcpState, TemplateKey,
};

/// Position of each endpoint in the address and port arrays.
pub(crate) const CLIENT: usize = 0;
/// The virtual endpoint.
pub(crate) const VIP: usize = 1;
/// The FULLNAT local endpoint.
pub(crate) const LOCAL: usize = 2;
/// The real's endpoint.
pub(crate) const REAL: usize = 3;

/// Flag bits of [`Hot::flags`]: endpoint `i` is IPv6 (its address is in the cold part).
const V6: u16 = 1;
/// There is a FULLNAT local endpoint.
const HAS_LOCAL: u16 = 1 << 4;
/// Counted against its real (the real was known at insert).
pub(crate) const BOUND: u16 = 1 << 5;
/// Counted as inactive (IPVS's `IP_VS_CONN_F_INACTIVE`).
pub(crate) const INACTIVE: u16 = 1 << 6;
/// No packet from the real seen yet on a DR/TUN connection (IPVS's
/// `IP_VS_CONN_F_NOOUTPUT`): client packets use the INPUT_ONLY transitions.
pub(crate) const NO_OUTPUT: u16 = 1 << 7;
/// The slot holds a connection.
const LIVE: u16 = 1 << 8;
/// Where the protocol's code sits in [`Hot::flags`] (2 bits).
const PROTO_SHIFT: u16 = 9;
/// Where the forwarding mode's code sits in [`Hot::flags`] (2 bits).
const MODE_SHIFT: u16 = 11;

/// `proto`'s 2-bit code in [`Hot::flags`].
fn proto_bits(proto: Proto) -> u16 {
    let code = match proto {
        Proto::Tcp => 0,
        Proto::Udp => 1,
        Proto::Icmp => 2,
    };
    code << PROTO_SHIFT
}

/// `mode`'s 2-bit code in [`Hot::flags`].
fn mode_bits(mode: ForwardMode) -> u16 {
    let code = match mode {
        ForwardMode::Nat => 0,
        ForwardMode::FullNat => 1,
        ForwardMode::Dr => 2,
        ForwardMode::Tun => 3,
    };
    code << MODE_SHIFT
}

/// No template linked.
pub(crate) const NO_TEMPLATE: u32 = u32::MAX;

/// The fields a packet of the connection needs, in one cache line. The
/// [`StreamAdjust`] fields are stored one by one (largest first) and the protocol and
/// mode as bits of `flags`, so that the line has no padding left to fill.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Hot {
    /// Absolute expiry in milliseconds.
    pub(crate) expires_ms: u64,
    /// IPv4 endpoints (client, VIP, local, real) as numbers; 0 for IPv6 ones.
    v4: [u32; 4],
    /// Ports of the endpoints, same order.
    ports: [u16; 4],
    pub(crate) service: u32,
    pub(crate) dest: DestId,
    /// Slot of the linked template, or [`NO_TEMPLATE`].
    pub(crate) template: u32,
    /// [`StreamAdjust::client_isn`].
    client_isn: u32,
    /// [`StreamAdjust::server_shift`].
    server_shift: u32,
    /// [`StreamAdjust::ts_shift`].
    ts_shift: u32,
    /// `V6 << endpoint`, `HAS_LOCAL`, `BOUND`, `INACTIVE`, `NO_OUTPUT`, `LIVE`, and
    /// the protocol and mode codes (`PROTO_SHIFT`, `MODE_SHIFT`).
    pub(crate) flags: u16,
    /// [`StreamAdjust::inserted`].
    inserted: u16,
    /// [`StreamAdjust::kind`].
    stream_kind: u8,
    /// [`StreamAdjust::flags`].
    stream_flags: u8,
    /// [`StreamAdjust::syn_proxy`].
    syn_proxy: u8,
    pub(crate) state: TcpState,
}

const VACANT: Hot = Hot {
    expires_ms: 0,
    v4: [0; 4],
    ports: [0; 4],
    service: 0,
    dest: 0,
    template: NO_TEMPLATE,
    client_isn: 0,
    server_shift: 0,
    ts_shift: 0,
    flags: 0,
    inserted: 0,
    stream_kind: 0,
    stream_flags: 0,
    syn_proxy: 0,
    state: TcpState::None,
};

/// The per-packet counters and the forwarding path's hints, in the line after the hot
/// one.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Warm {
    pub(crate) counters: ConnCounters,
    /// Per direction (original, reply).
    pub(crate) hints: [PathHint; 2],
}

/// A slot's hot line and, right after it, its warm part.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Lines {
    pub(crate) hot: Hot,
    pub(crate) warm: Warm,
}

/// What no forwarded IPv4 packet reads, and no IPv4 connection without a template
/// writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cold {
    /// IPv6 endpoints (client, VIP, local, real); meaningless for IPv4 ones.
    v6: [Ipv6Addr; 4],
    /// The persistence template key; meaningless without a template slot.
    pub(crate) template: TemplateKey,
}

const COLD_VACANT: Cold = Cold {
    v6: [Ipv6Addr::UNSPECIFIED; 4],
    template: TemplateKey {
        service: 0,
        client: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 0,
    },
};

// The hot line is one cache line: a field added to it must fit (see `Hot`).
const _: () = assert!(std::mem::size_of::<Hot>() == 64);

impl Hot {
    /// Whether the slot holds a connection.
    pub(crate) fn is_live(&self) -> bool {
        self.flags & LIVE != 0
    }

    /// Protocol.
    pub(crate) fn proto(&self) -> Proto {
        match (self.flags >> PROTO_SHIFT) & 3 {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            _ => Proto::Icmp,
        }
    }

    /// Forwarding mode.
    pub(crate) fn mode(&self) -> ForwardMode {
        match (self.flags >> MODE_SHIFT) & 3 {
            0 => ForwardMode::Nat,
            1 => ForwardMode::FullNat,
            2 => ForwardMode::Dr,
            _ => ForwardMode::Tun,
        }
    }

    /// TCP stream adjustments.
    pub(crate) fn stream(&self) -> StreamAdjust {
        StreamAdjust {
            kind: self.stream_kind,
            flags: self.stream_flags,
            inserted: self.inserted,
            client_isn: self.client_isn,
            syn_proxy: self.syn_proxy,
            server_shift: self.server_shift,
            ts_shift: self.ts_shift,
        }
    }

    /// Replaces the TCP stream adjustments.
    pub(crate) fn set_stream(&mut self, s: &StreamAdjust) {
        self.stream_kind = s.kind;
        self.stream_flags = s.flags;
        self.inserted = s.inserted;
        self.client_isn = s.client_isn;
        self.syn_proxy = s.syn_proxy;
        self.server_shift = s.server_shift;
        self.ts_shift = s.ts_shift;
    }

    /// Whether `flag` is set.
    pub(crate) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Sets or clears `flag`.
    pub(crate) fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// The endpoints packets travelling `dir` go from and to.
    fn ends(&self, dir: Direction) -> (usize, usize) {
        match dir {
            Direction::Original => (CLIENT, VIP),
            Direction::Reply if self.has(HAS_LOCAL) => (REAL, LOCAL),
            // DR and TUN: the real answers from the VIP (`NewConn::reply_key`).
            Direction::Reply if matches!(self.mode(), ForwardMode::Dr | ForwardMode::Tun) => {
                (VIP, CLIENT)
            }
            Direction::Reply => (REAL, CLIENT),
        }
    }

    /// Whether endpoint `i` has address `ip` (IPv6 ones are compared in `cold`).
    fn addr_is(&self, cold: &Cold, i: usize, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.flags & (V6 << i) == 0 && self.v4[i] == u32::from(a),
            IpAddr::V6(a) => self.flags & (V6 << i) != 0 && cold.v6[i] == a,
        }
    }

    /// Whether `key` is the tuple of packets travelling `dir`. Reads the cold part
    /// only for IPv6 endpoints.
    pub(crate) fn matches(&self, cold: &Cold, dir: Direction, key: &ConnKey) -> bool {
        let (src, dst) = self.ends(dir);
        self.proto() == key.proto
            && self.ports[src] == key.sport
            && self.ports[dst] == key.dport
            && self.addr_is(cold, src, key.src)
            && self.addr_is(cold, dst, key.dst)
    }

    /// Endpoint `i` (IPv6 addresses from `cold`).
    fn endpoint(&self, cold: &Cold, i: usize) -> SocketAddr {
        let port = self.ports[i];
        if self.flags & (V6 << i) == 0 {
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(self.v4[i]), port))
        } else {
            SocketAddr::V6(SocketAddrV6::new(cold.v6[i], port, 0, 0))
        }
    }

    /// The FULLNAT local endpoint, if any.
    fn local(&self, cold: &Cold) -> Option<SocketAddr> {
        self.has(HAS_LOCAL).then(|| self.endpoint(cold, LOCAL))
    }

    /// The tuple of packets travelling `dir`.
    pub(crate) fn key(&self, cold: &Cold, dir: Direction) -> ConnKey {
        let (src, dst) = self.ends(dir);
        let (s, d) = (self.endpoint(cold, src), self.endpoint(cold, dst));
        ConnKey {
            proto: self.proto(),
            src: s.ip(),
            sport: s.port(),
            dst: d.ip(),
            dport: d.port(),
        }
    }

    /// Stores endpoint `i`.
    fn set_endpoint(&mut self, cold: &mut Cold, i: usize, at: SocketAddr) {
        self.ports[i] = at.port();
        match at.ip() {
            IpAddr::V4(a) => {
                self.v4[i] = u32::from(a);
                self.flags &= !(V6 << i);
            }
            IpAddr::V6(a) => {
                self.v4[i] = 0;
                cold.v6[i] = a;
                self.flags |= V6 << i;
            }
        }
    }
}

/// A live connection read in place: accessors that read the hot line only, except for
/// IPv6 addresses, the template key and the counters.
#[derive(Clone, Copy, Debug)]
pub struct ConnView<'a> {
    hot: &'a Hot,
    warm: &'a Warm,
    cold: &'a Cold,
}

impl ConnView<'_> {
    /// Protocol.
    pub fn proto(&self) -> Proto {
        self.hot.proto()
    }

    /// Client endpoint.
    pub fn client(&self) -> SocketAddr {
        self.hot.endpoint(self.cold, CLIENT)
    }

    /// Virtual endpoint.
    pub fn vip(&self) -> SocketAddr {
        self.hot.endpoint(self.cold, VIP)
    }

    /// FULLNAT local endpoint.
    pub fn local(&self) -> Option<SocketAddr> {
        self.hot.local(self.cold)
    }

    /// Real server endpoint.
    pub fn real(&self) -> SocketAddr {
        self.hot.endpoint(self.cold, REAL)
    }

    /// The address packets travelling `dir` are sent toward: the real's for packets
    /// from the client, the client's for packets from the real.
    pub fn peer_ip(&self, dir: Direction) -> IpAddr {
        match dir {
            Direction::Original => self.real().ip(),
            Direction::Reply => self.client().ip(),
        }
    }

    /// Forwarding mode.
    pub fn mode(&self) -> ForwardMode {
        self.hot.mode()
    }

    /// Owning service.
    pub fn service(&self) -> u32 {
        self.hot.service
    }

    /// Chosen real.
    pub fn dest(&self) -> DestId {
        self.hot.dest
    }

    /// TCP state.
    pub fn state(&self) -> TcpState {
        self.hot.state
    }

    /// Absolute expiry time in milliseconds.
    pub fn expires_ms(&self) -> u64 {
        self.hot.expires_ms
    }

    /// TCP stream adjustments.
    pub fn stream(&self) -> StreamAdjust {
        self.hot.stream()
    }

    /// The path hint of packets travelling `dir` (reads the warm line).
    pub fn path_hint(&self, dir: Direction) -> PathHint {
        self.warm.hints[dir as usize]
    }

    /// The whole connection, copied out (reads every part: control path).
    pub fn to_conn(&self) -> Conn {
        Conn {
            proto: self.hot.proto(),
            client: self.client(),
            vip: self.vip(),
            local: self.local(),
            real: self.real(),
            mode: self.hot.mode(),
            service: self.hot.service,
            dest: self.hot.dest,
            state: self.hot.state,
            expires_ms: self.hot.expires_ms,
            counters: self.warm.counters,
            template: (self.hot.template != NO_TEMPLATE).then_some(self.cold.template),
            stream: self.hot.stream(),
        }
    }
}

/// The connection slots: hot and warm lines together, cold parts in a parallel array,
/// and a free list.
#[derive(Debug)]
pub(crate) struct Slots {
    pub(crate) lines: Box<[Lines]>,
    pub(crate) cold: Box<[Cold]>,
    free: Vec<u32>,
}

impl Slots {
    /// `capacity` empty slots.
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = u32::try_from(capacity).expect("slot capacity exceeds u32");
        Self {
            lines: vec![
                Lines {
                    hot: VACANT,
                    warm: Warm::default()
                };
                capacity
            ]
            .into_boxed_slice(),
            cold: vec![COLD_VACANT; capacity].into_boxed_slice(),
            free: (0..cap).rev().collect(),
        }
    }

    /// Number of occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.lines.len() - self.free.len()
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.lines.len()
    }

    /// Whether every slot is occupied.
    pub(crate) fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// Memory per slot, free-list entry included, in bytes.
    pub(crate) const fn bytes_per_slot() -> usize {
        std::mem::size_of::<Lines>() + std::mem::size_of::<Cold>() + std::mem::size_of::<u32>()
    }

    /// Memory held by the slots and the free list, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.lines.len() * (Self::bytes_per_slot() - std::mem::size_of::<u32>())
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    /// Files `conn` (in state NONE, expiring at `expires_ms`, no template yet) in a free
    /// slot; `None` when full.
    pub(crate) fn insert(&mut self, conn: &NewConn, expires_ms: u64) -> Option<u32> {
        let slot = self.free.pop()?;
        let i = slot as usize;
        let (lines, cold) = (&mut self.lines[i], &mut self.cold[i]);
        lines.warm = Warm::default();
        let hot = &mut lines.hot;
        *hot = Hot {
            expires_ms,
            service: conn.service,
            dest: conn.dest,
            flags: LIVE | INACTIVE | proto_bits(conn.proto) | mode_bits(conn.mode),
            ..VACANT
        };
        hot.set(
            NO_OUTPUT,
            matches!(conn.mode, ForwardMode::Dr | ForwardMode::Tun),
        );
        hot.set_endpoint(cold, CLIENT, conn.client);
        hot.set_endpoint(cold, VIP, conn.vip);
        hot.set_endpoint(cold, REAL, conn.real);
        if let Some(local) = conn.local {
            hot.set_endpoint(cold, LOCAL, local);
            hot.flags |= HAS_LOCAL;
        }
        Some(slot)
    }

    /// Empties slot `i` (which must be live).
    pub(crate) fn remove(&mut self, i: u32) {
        self.lines[i as usize].hot.flags = 0;
        self.free.push(i);
    }

    /// The hot part of live slot `i`.
    pub(crate) fn hot(&self, i: u32) -> Option<&Hot> {
        Some(&self.lines.get(i as usize)?.hot).filter(|h| h.is_live())
    }

    /// The hot part of live slot `i`, writable.
    pub(crate) fn hot_mut(&mut self, i: u32) -> Option<&mut Hot> {
        Some(&mut self.lines.get_mut(i as usize)?.hot).filter(|h| h.is_live())
    }

    /// Live slot `i` read in place.
    pub(crate) fn view(&self, i: u32) -> Option<ConnView<'_>> {
        let j = i as usize;
        let lines = self.lines.get(j).filter(|l| l.hot.is_live())?;
        Some(ConnView {
            hot: &lines.hot,
            warm: &lines.warm,
            cold: &self.cold[j],
        })
    }

    /// Whether live slot `i` holds the connection packets with tuple `key` travelling
    /// `dir` belong to.
    pub(crate) fn matches(&self, i: u32, dir: Direction, key: &ConnKey) -> bool {
        let j = i as usize;
        self.lines
            .get(j)
            .is_some_and(|l| l.hot.is_live() && l.hot.matches(&self.cold[j], dir, key))
    }

    /// The tuple of live slot `i`'s packets travelling `dir`.
    pub(crate) fn key(&self, i: u32, dir: Direction) -> ConnKey {
        self.lines[i as usize].hot.key(&self.cold[i as usize], dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_conn(client: &str, vip: &str, local: Option<&str>, real: &str) -> NewConn {
        NewConn {
            proto: Proto::Udp,
            client: client.parse().unwrap(),
            vip: vip.parse().unwrap(),
            local: local.map(|l| l.parse().unwrap()),
            real: real.parse().unwrap(),
            mode: ForwardMode::FullNat,
            service: 7,
            dest: 3,
            template: None,
        }
    }

    #[test]
    fn the_hot_part_is_one_cache_line_and_the_warm_part_the_next() {
        assert_eq!(std::mem::size_of::<Hot>(), 64);
        assert_eq!(std::mem::align_of::<Lines>(), 64);
        assert_eq!(std::mem::offset_of!(Lines, warm), 64);
        assert_eq!(std::mem::size_of::<Lines>(), 128);
    }

    #[test]
    fn protocol_mode_and_stream_come_back_beside_the_flags() {
        let mut slots = Slots::new(1);
        for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp] {
            for mode in [
                ForwardMode::Nat,
                ForwardMode::FullNat,
                ForwardMode::Dr,
                ForwardMode::Tun,
            ] {
                let c = NewConn {
                    proto,
                    mode,
                    ..new_conn("192.0.2.1:1000", "10.0.0.1:80", None, "10.1.0.9:8080")
                };
                let i = slots.insert(&c, 1).unwrap();
                let stream = StreamAdjust {
                    kind: 1,
                    flags: 0x82,
                    inserted: 0xfedc,
                    client_isn: 0x8000_0001,
                    syn_proxy: 0xff,
                    server_shift: 0xdead_beef,
                    ts_shift: u32::MAX,
                };
                let hot = slots.hot_mut(i).unwrap();
                hot.set(BOUND, true);
                hot.set(INACTIVE, false);
                hot.set_stream(&stream);
                let v = slots.view(i).unwrap();
                assert_eq!((v.proto(), v.mode(), v.stream()), (proto, mode, stream));
                assert!(slots.matches(i, Direction::Original, &c.original_key()));
                slots.remove(i);
            }
        }
    }

    #[test]
    fn endpoints_of_either_family_come_back_and_match_their_keys() {
        let cases = [
            new_conn(
                "192.0.2.1:1000",
                "10.0.0.1:80",
                Some("10.1.0.2:5000"),
                "10.1.0.9:8080",
            ),
            new_conn(
                "[2001:db8::1]:1000",
                "[2001:db8::2]:80",
                None,
                "[2001:db8::9]:80",
            ),
            // A FULLNAT connection between families: IPv6 client, IPv4 side to the real.
            new_conn(
                "[2001:db8::1]:1000",
                "[2001:db8::2]:80",
                Some("10.1.0.2:5000"),
                "10.1.0.9:8080",
            ),
        ];
        let mut slots = Slots::new(4);
        for c in cases {
            let i = slots.insert(&c, 99).unwrap();
            let v = slots.view(i).unwrap();
            assert_eq!(
                (v.client(), v.vip(), v.local(), v.real()),
                (c.client, c.vip, c.local, c.real)
            );
            assert_eq!((v.service(), v.dest(), v.expires_ms()), (7, 3, 99));
            for (dir, key) in [
                (Direction::Original, c.original_key()),
                (Direction::Reply, c.reply_key()),
            ] {
                assert!(slots.matches(i, dir, &key));
                assert_eq!(slots.key(i, dir), key);
                let other = ConnKey {
                    sport: key.sport ^ 1,
                    ..key
                };
                assert!(!slots.matches(i, dir, &other));
            }
            // The same numbers in the other family are another address.
            let mut v4_as_v6 = c.original_key();
            v4_as_v6.src = match v4_as_v6.src {
                IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
                IpAddr::V6(a) => IpAddr::V4(a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            };
            assert!(!slots.matches(i, Direction::Original, &v4_as_v6));
            slots.remove(i);
            assert!(slots.view(i).is_none());
            assert!(!slots.matches(i, Direction::Original, &c.original_key()));
        }
    }
}
