//! The worker pipeline: one frame in, zero or more frames out.
//!
//! `parse -> (director duty | connection lookup/schedule -> rewrite) -> route ->
//! neighbour -> transmit`. A worker owns its connection table, local ports, neighbour
//! table, scheduler state and counters; it reads the configuration through an immutable
//! [`Snapshot`]. Every refusal is a counted [`DropReason`]; nothing here panics on input,
//! locks, or allocates per packet.

use std::net::IpAddr;
use std::sync::Arc;

use rvs_conntrack::{Conn, ConnId, ConnTable, ConnView, Direction, ForwardMode, KeyHash, TcpFlags};
use rvs_schedulers::SchedState;

use crate::checksum::fill_l4_checksum;
use crate::config::PortId;
use crate::connect::{ConnectCtx, Connected, PacketTuple};
use crate::counters::WorkerCounters;
use crate::drop::DropReason;
use crate::duties;
use crate::ha::HaLink;
use crate::laddr::LocalPorts;
use crate::neigh::{NeighLimits, NeighTable, Resolution};
use crate::packet::PacketBuf;
use crate::rewrite;
use crate::route::RouteHit;
use crate::snapshot::Snapshot;
use crate::traffic::TrafficTable;
use crate::update::{Dump, Garbage, Update};
mod ha;

use crate::wire::{
    ethertype, icmpv6, parse_frame, EthernetFrame, FrameInfo, IpInfo, IpVersion, L4Info, MacAddr,
};

mod burst;
mod next_hop;
mod syn_proxy;
pub use burst::MAX_STAGED;

/// Where a worker sends frames and takes fresh buffers from.
pub trait Io {
    /// The buffer type of this I/O.
    type Buf: PacketBuf;
    /// A fresh, empty buffer (headroom reserved), or `None` when the pool is dry.
    fn alloc(&mut self) -> Option<Self::Buf>;
    /// Queue `buf` for transmission on `port`.
    fn send(&mut self, port: PortId, buf: Self::Buf);
}

/// An [`Io`] that keeps every frame the worker sends, with fresh heap buffers: tests
/// drive a worker with it and look at what came out.
#[derive(Debug, Default)]
pub struct CollectIo {
    /// The frames sent, in order, with their port.
    pub sent: Vec<(PortId, crate::packet::HeapBuf)>,
}

impl Io for CollectIo {
    type Buf = crate::packet::HeapBuf;

    fn alloc(&mut self) -> Option<Self::Buf> {
        Some(crate::packet::HeapBuf::new())
    }

    fn send(&mut self, port: PortId, buf: Self::Buf) {
        self.sent.push((port, buf));
    }
}

/// One worker's pipeline and state.
#[derive(Debug)]
pub struct Worker<B: PacketBuf> {
    id: u16,
    snap: Arc<Snapshot>,
    sched_states: Vec<SchedState>,
    conns: ConnTable,
    lports: LocalPorts,
    laddr_cursor: usize,
    neigh: NeighTable<B>,
    icmp_budget: IcmpBudget,
    kernel_budget: KernelBudget,
    counters: WorkerCounters,
    traffic: TrafficTable,
    generation: u64,
    /// The SYN proxy's cookie key.
    cookie_key: crate::synproxy::CookieKey,
    /// Configurations taken up: with the neighbour table's
    /// [`changes`](NeighTable::changes), the path stamp of next-hop hints.
    configs_taken: u64,
    /// Neighbours to ask again, gathered by [`NeighTable::poll`] (preallocated).
    asks: Vec<(PortId, IpAddr)>,
    /// Frames of the burst under way, between the stages (preallocated).
    staged: Vec<burst::Staged<B>>,
    /// The link to the control core's VRRP, under `[ha]`.
    ha: Option<Arc<HaLink>>,
    /// Whether this director serves the virtual router's addresses (read from `ha` at
    /// each tick; always true without `[ha]`).
    serving: bool,
    /// Connection sync's walk over the table (`[ha.sync]`).
    sync: ha::SyncScan,
    /// Client segments of SYN-proxied connections waiting for the real, with the port
    /// they came in by (preallocated).
    held: crate::synproxy::HeldSegments<(PortId, B)>,
}

impl<B: PacketBuf> Worker<B> {
    /// Worker `id` with a table of `snap.conn_capacity` connections; `seed` orders the
    /// local ports it hands out.
    pub fn new(id: u16, snap: Arc<Snapshot>, seed: u64) -> Self {
        let mut w = Self {
            id,
            sched_states: Vec::new(),
            conns: ConnTable::new(snap.conn_capacity, snap.timeouts),
            lports: LocalPorts::with_scheme(id, snap.port_scheme(), seed),
            laddr_cursor: 0,
            neigh: NeighTable::new(NeighLimits::default(), &snap.neighbors),
            icmp_budget: IcmpBudget::default(),
            kernel_budget: KernelBudget::default(),
            counters: WorkerCounters::default(),
            traffic: TrafficTable::default(),
            generation: 0,
            cookie_key: crate::synproxy::CookieKey::new(seed),
            configs_taken: 0,
            asks: Vec::with_capacity(ASKS_PER_TICK),
            staged: Vec::with_capacity(MAX_STAGED),
            ha: None,
            serving: true,
            sync: ha::SyncScan::default(),
            held: crate::synproxy::HeldSegments::new(snap.conn_capacity),
            snap: snap.clone(),
        };
        w.take_snapshot(snap);
        w
    }

    /// Take up a new configuration, building here what it needs (allocates: tests,
    /// replay and start-up; a running director uses [`Worker::take_update`]).
    /// Connections, local ports in use, learned neighbours, counters and the scheduler
    /// state of every service whose scheduler table is unchanged are kept.
    pub fn take_snapshot(&mut self, snap: Arc<Snapshot>) {
        let update = Update::for_worker(
            self.generation + 1,
            snap,
            &self.snap,
            self.generation == 0,
            |laddr| self.lports.pool_for(laddr),
            self.traffic.capacity(),
        );
        drop(self.take_update(update));
    }

    /// Take up a configuration the control core prepared (between bursts), without
    /// allocating. Returns what it replaced, for the control core to free.
    pub fn take_update(&mut self, mut update: Update) -> Garbage {
        let mut garbage = Garbage::default();
        let old_list = self.snap.services.list();
        let new_list = update.snap.services.list();
        for (i, svc) in new_list.iter().enumerate() {
            if !update.keep_state.get(i).copied().unwrap_or(false) {
                continue;
            }
            // Services usually keep their place: look there first, then search.
            let same =
                |o: &crate::service::Service| o.id == svc.id && Arc::ptr_eq(&o.sched, &svc.sched);
            let j = match old_list.get(i) {
                Some(o) if same(o) => Some(i),
                _ => old_list.iter().position(same),
            };
            let kept = j.and_then(|j| self.sched_states.get_mut(j));
            if let (Some(old), Some(new)) = (kept, update.sched_states.get_mut(i)) {
                std::mem::swap(old, new);
            }
        }
        garbage.sched_states = std::mem::replace(
            &mut self.sched_states,
            std::mem::take(&mut update.sched_states),
        );
        for (laddr, pool) in update.pools.drain(..) {
            self.lports.adopt(laddr, pool);
        }
        if let Some(larger) = update.traffic.take() {
            let old = std::mem::take(&mut self.traffic);
            self.traffic = old.moved_into(larger);
            garbage.traffic = Some(old);
        }
        if let Some(room) = update.dest_room.take() {
            garbage.dest_room = Some(self.conns.reserve_dests(room));
        }
        let workers = update.snap.workers;
        for svc in update.snap.services.list() {
            for r in svc.sched.reals() {
                let (upper, lower) = (
                    worker_share(r.upper, workers),
                    worker_share(r.lower, workers),
                );
                self.conns.set_dest_thresholds(r.id, upper, lower);
            }
        }
        self.conns.set_timeouts(update.snap.timeouts);
        garbage.snap = Some(std::mem::replace(&mut self.snap, update.snap));
        self.generation = update.generation;
        self.configs_taken += 1;
        garbage
    }

    /// The version of the routes, ports and neighbours next-hop hints are found with:
    /// it moves with every configuration taken up and every changed neighbour MAC, and
    /// is never 0 once the worker has a configuration.
    fn path_stamp(&self) -> u64 {
        self.configs_taken + self.neigh.changes()
    }

    /// The configuration generation this worker forwards with.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Copy the next piece of the connection table, at most `slots` slots, into `dump`
    /// (neighbours with the first piece), as many entries as its vectors have room for
    /// (no allocation). True when the copy is complete.
    pub fn fill_dump(&self, dump: &mut Dump, now_ms: u64, slots: usize) -> bool {
        if dump.cursor == 0 {
            let room = dump.neighbors.capacity() - dump.neighbors.len();
            dump.neighbors.extend(self.neigh.iter().take(room));
        }
        dump.now_ms = now_ms;
        dump.conns_total = self.conns.len();
        let end = dump.cursor.saturating_add(slots);
        let room = dump.conns.capacity() - dump.conns.len();
        dump.conns.extend(
            self.conns
                .iter_slots(dump.cursor..end)
                .take(room)
                .map(|(_, c)| c),
        );
        dump.cursor = end;
        dump.cursor >= self.conns.capacity() || dump.conns.len() == dump.conns.capacity()
    }

    /// Per-service and per-real counters.
    pub fn traffic(&self) -> &TrafficTable {
        &self.traffic
    }

    /// This worker's id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The counters (the neighbour table's folded in).
    pub fn counters(&self) -> WorkerCounters {
        let mut c = self.counters.clone();
        let n = self.neigh.counters();
        c.neighbor_requests = n.requests;
        c
    }

    /// The connection table (read-only: listings and tests).
    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// Free FULLNAT local ports of `laddr` on this worker (`None`: not a local address).
    pub fn local_ports_free(&self, laddr: IpAddr) -> Option<usize> {
        self.lports.free(laddr)
    }

    /// Advance the clock: expire connections (at most [`EXPIRE_PER_TICK`]; the rest at
    /// the next ticks); ask unanswered neighbours again and forget those past their
    /// deadline (see [`crate::neigh`]).
    pub fn tick<I: Io<Buf = B>>(&mut self, now_ms: u64, io: &mut I) {
        let lports = &mut self.lports;
        let sync = ha::expiry_sink(&self.ha, self.serving);
        let expired =
            self.conns
                .expire_prefetched(now_ms, EXPIRE_PER_TICK, &CpuPrefetch, |c: &Conn| {
                    if let Some(l) = c.local {
                        lports.release(l.ip(), l.port());
                    }
                    ha::send_expiry(sync, c);
                });
        self.counters.conns_expired += expired as u64;
        self.sweep_held();
        let (counters, asks) = (&mut self.counters, &mut self.asks);
        self.neigh.poll(
            now_ms,
            |_pkt| counters.drop(DropReason::NeighborUnresolved),
            |port, ip| {
                // Bounded per tick; the rest are asked at the next one.
                let room = asks.len() < asks.capacity();
                if room {
                    asks.push((port, ip));
                }
                room
            },
        );
        for i in 0..self.asks.len() {
            let (port, ip) = self.asks[i];
            self.solicit(port, ip, io);
        }
        self.asks.clear();
        if let Some(link) = self.ha.clone() {
            self.serving = link.serving();
            if self.id == 0 {
                self.send_ha_frames(now_ms, io);
            }
            self.sync_tick(&link, now_ms);
        }
    }

    /// Resolve every next hop the configuration will need (route gateways, reals) that
    /// is not resolved yet, before traffic needs them: a live director does it when it
    /// starts. With `ask`, send the requests now; without, only wait for the answers (one
    /// worker asks, and every worker learns each answer). Unanswered, they are asked
    /// again like any pending neighbour, and forgotten at the deadline (no packet waits
    /// on them).
    pub fn resolve_next_hops<I: Io<Buf = B>>(&mut self, now_ms: u64, ask: bool, io: &mut I) {
        let snap = Arc::clone(&self.snap);
        for &(port, ip) in &snap.next_hops {
            if !ask {
                self.neigh.watch(port, ip, now_ms);
            } else if self.neigh.needs_request(port, ip, now_ms) {
                self.solicit(port, ip, io);
            }
        }
    }

    /// Run one received frame through the pipeline.
    pub fn process<I: Io<Buf = B>>(&mut self, port: PortId, buf: B, now_ms: u64, io: &mut I) {
        let Some(buf) = self.admit(port, buf, io) else {
            return;
        };
        let result = parse_frame(buf.data())
            .and_then(|info| self.dispatch(port, buf, &info, None, now_ms, io));
        if let Err(reason) = result {
            self.counters.drop(reason);
        }
    }

    /// Count a received frame; a frame the kernel sent out of a port's mirror leaves
    /// through the port as it is (`None`), any other is for the pipeline.
    #[inline]
    fn admit<I: Io<Buf = B>>(&mut self, port: PortId, buf: B, io: &mut I) -> Option<B> {
        self.counters.rx.count(buf.len());
        let Some(out) = self.snap.port(port).mirror_of else {
            return Some(buf);
        };
        self.counters.kernel_received += 1;
        self.send(out, buf, io);
        None
    }

    /// Hand a frame for one of the director's own addresses that rvs does not handle
    /// itself to the kernel mirror of the port it came in on (the exception path), within
    /// the worker's budget; `otherwise` is the drop when the port has no mirror.
    fn hand_to_kernel<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        now_ms: u64,
        io: &mut I,
        otherwise: DropReason,
    ) -> Result<(), DropReason> {
        let Some(kernel) = self.snap.port(port).kernel else {
            return Err(otherwise);
        };
        if !self.kernel_budget.take(now_ms) {
            return Err(DropReason::KernelLimited);
        }
        // The kernel checks what it receives: finish what a sender left partial.
        if self.snap.port(port).sw_checksum {
            fill_l4_checksum(buf.data_mut(), info)?;
        }
        self.counters.kernel_sent += 1;
        self.send(kernel, buf, io);
        Ok(())
    }

    /// Give the kernel mirror of `port` a copy of a neighbour's answer, so the kernel's
    /// own neighbour table fills too. Worker 0 does it: every answer reaches it (the
    /// receiving worker copies answers to every other).
    fn copy_to_kernel<I: Io<Buf = B>>(&mut self, port: PortId, frame: &B, io: &mut I) {
        let Some(kernel) = self.snap.port(port).kernel.filter(|_| self.id == 0) else {
            return;
        };
        let Some(mut copy) = io.alloc() else {
            self.counters.drop(DropReason::NoBuffer);
            return;
        };
        if copy.append(frame.len()).is_err() {
            self.counters.drop(DropReason::NoBuffer);
            return;
        }
        copy.data_mut().copy_from_slice(frame.data());
        self.counters.kernel_sent += 1;
        self.send(kernel, copy, io);
    }

    /// Take a parsed frame to its handler; `hash` is the hash of its lookup tuple
    /// ([`burst::lookup_key`]) when a burst stage computed it.
    fn dispatch<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        buf: B,
        info: &FrameInfo,
        hash: Option<KeyHash>,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        check_source_mac(buf.data())?;
        match info.ip {
            Some(ip) => self.ip(port, buf, info, &ip, hash, now_ms, io),
            None => self.non_ip(port, buf, info, now_ms, io),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ip<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        hash: Option<KeyHash>,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        if ip.is_fragment {
            return Err(DropReason::Fragment);
        }
        let backup_drops = self.withheld(ip.dst);
        match ip.l4 {
            L4Info::Udp { dport, .. } if self.is_sync(ip.dst, dport) => self.take_sync(port, &buf),
            L4Info::Tcp { .. } | L4Info::Udp { .. } | L4Info::IcmpError { .. } if backup_drops => {
                Err(DropReason::HaBackup)
            }
            L4Info::Tcp { .. } | L4Info::Udp { .. } => {
                let key = ip.conn_key().ok_or(DropReason::Malformed)?;
                let mut tuple = PacketTuple {
                    key,
                    flags: ip.tcp_flags(),
                    hash: hash.unwrap_or_else(|| self.conns.hash(&key)),
                };
                let mut ctx = ConnectCtx {
                    services: &self.snap.services,
                    sched_states: &mut self.sched_states,
                    conns: &mut self.conns,
                    lports: &mut self.lports,
                    laddr_cursor: &mut self.laddr_cursor,
                    behaviour: self.snap.behaviour,
                    counters: &mut self.counters,
                    own: &self.snap.own,
                };
                let mut connected = match ctx.connect(&tuple, now_ms) {
                    Ok(c) => c,
                    Err(DropReason::NotForUs) if self.snap.own.contains(&ip.dst) => {
                        return self.hand_to_kernel(
                            port,
                            buf,
                            info,
                            now_ms,
                            io,
                            DropReason::NotForUs,
                        );
                    }
                    Err(reason) => return Err(reason),
                };
                // The SYN proxy: a SYN is answered with a cookie; an ACK with a valid
                // one becomes the client's SYN and opens the connection.
                let (syn_from_ack, ack_from_synack);
                let mut info = info;
                let mut cookie_ack = None;
                let mut held_copy = None;
                if let Connected::Cookie(how, wscale) = connected {
                    if tuple.flags.syn {
                        return self.answer_syn(port, buf, info, &key, (how, wscale), now_ms, io);
                    }
                    let ack = crate::synproxy::check_ack(
                        buf.data(),
                        info,
                        &key,
                        &self.cookie_key,
                        now_ms,
                    )?;
                    // Its data waits in a copy for the real's handshake.
                    if ack.carries_data {
                        held_copy = syn_proxy::copy_frame(&buf, io);
                    }
                    crate::synproxy::syn_from_ack(&mut buf, info, &key, &ack)?;
                    syn_from_ack = parse_frame(buf.data())?;
                    info = &syn_from_ack;
                    tuple.flags = TcpFlags {
                        syn: true,
                        ..TcpFlags::default()
                    };
                    connected = ctx.open_by_cookie(&tuple, now_ms)?;
                    self.counters.syn_cookies_accepted += 1;
                    cookie_ack = Some(ack);
                }
                let new = matches!(connected, Connected::New(_));
                self.counters.conns_created += u64::from(new);
                let (id, mut dir) = connected.id_dir().ok_or(DropReason::NoConnection)?;
                let mut release = None;
                if dir == Direction::Original && cookie_ack.is_none() {
                    if let Some(cookie) = self.waits_with_data(id, &buf, info) {
                        return self.hold(id, cookie, port, buf);
                    }
                }
                if dir == Direction::Reply && self.real_answers_syn_proxy(id, &tuple) {
                    // The real's SYN-ACK becomes the client's handshake-completing ACK;
                    // the client's held segments follow it.
                    release = crate::synproxy::cookie_of(&self.conns.view(id).stream());
                    self.conns
                        .on_packet(id, dir, tuple.flags, buf.len(), now_ms);
                    self.syn_proxy_ack(id, &mut buf, info)?;
                    ack_from_synack = parse_frame(buf.data())?;
                    info = &ack_from_synack;
                    (dir, tuple.flags) = (
                        Direction::Original,
                        TcpFlags {
                            ack: true,
                            ..TcpFlags::default()
                        },
                    );
                }
                self.conns
                    .on_packet(id, dir, tuple.flags, buf.len(), now_ms);
                let conn = self.conns.view(id);
                self.traffic
                    .count(conn.service(), conn.dest(), dir, buf.len(), new);
                let sent = self.forward(
                    Carried::Segment { in_port: port, id },
                    buf,
                    info,
                    id,
                    dir,
                    now_ms,
                    io,
                );
                if new && sent.is_err() {
                    // The packet that made it went nowhere (TTL 1, no route, too big):
                    // keep no entry for it, so such packets cannot fill the table.
                    self.unmake(id);
                } else if let Some(ack) = cookie_ack {
                    self.syn_proxy_sent(id, &ack);
                    if let Some(copy) = held_copy {
                        if let Err(reason) = self.hold(id, ack.cookie, port, copy) {
                            self.counters.drop(reason);
                        }
                    }
                }
                if let (Some(cookie), Ok(())) = (release, &sent) {
                    self.release_held(id, cookie, now_ms, io);
                }
                sent
            }
            L4Info::IcmpError { quoted, .. } => {
                let key = quoted.conn_key().ok_or(DropReason::IcmpNoConnection)?;
                let reversed = burst::reversed(key);
                let hash = hash.unwrap_or_else(|| self.conns.hash(&reversed));
                let Some((id, dir)) = self.conns.lookup_hashed(&reversed, hash) else {
                    if self.snap.own.contains(&ip.dst) {
                        let reason = DropReason::IcmpNoConnection;
                        return self.hand_to_kernel(port, buf, info, now_ms, io, reason);
                    }
                    return Err(DropReason::IcmpNoConnection);
                };
                self.forward(Carried::IcmpError, buf, info, id, dir, now_ms, io)
            }
            _ => self.local_ip(port, buf, info, ip, now_ms, io),
        }
    }

    /// Take back a connection made for a packet that could not be forwarded, its FULLNAT
    /// local port returned to the pool.
    fn unmake(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(id) {
            if let Some(l) = c.local {
                self.lports.release(l.ip(), l.port());
            }
            self.counters.conns_created -= 1;
        }
    }

    /// Forward a packet of connection `id` travelling `dir`: rewrite it for the
    /// connection's mode, encapsulate it for TUN, route it toward the connection's peer
    /// and transmit it. The connection is read in place, not copied.
    #[allow(clippy::too_many_arguments)]
    fn forward<I: Io<Buf = B>>(
        &mut self,
        carried: Carried,
        mut buf: B,
        info: &FrameInfo,
        id: ConnId,
        dir: Direction,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let conn = self.conns.view(id);
        let mode = conn.mode();
        let toward = conn.peer_ip(dir);
        let stamp = self.path_stamp();
        let path = match next_hop::cached(conn.path_hint(dir), stamp) {
            Some(hop) => Path::Known(hop),
            None => Path::Route(self.snap.routes.lookup(toward).ok_or(DropReason::NoRoute)?),
        };
        let out_port = path.port();
        match carried {
            Carried::Segment { in_port, id } => {
                // Finish the checksum before the rewrite, which then updates it
                // incrementally (`info` holds the addresses as received).
                if self.needs_sw_checksum(in_port, out_port) {
                    fill_l4_checksum(buf.data_mut(), info)?;
                }
                rewrite_segment(buf.data_mut(), info, &conn, dir)?;
                let before = conn.stream();
                if rewrite::client_addr::active(&before) {
                    let mtu = self.snap.port(out_port).mtu;
                    let mut stream = before;
                    let edit = rewrite::client_addr::on_segment(
                        &mut buf,
                        info,
                        &conn,
                        &mut stream,
                        dir,
                        mtu,
                    );
                    if stream != before {
                        self.conns.set_stream(id, &stream);
                    }
                    self.counters.count_client_addr(edit?);
                }
            }
            Carried::IcmpError => rewrite_icmp_error(buf.data_mut(), info, &conn, dir)?,
        }
        if mode == ForwardMode::Tun {
            let out = self.snap.port(out_port);
            let src = out.address_like(toward).ok_or(DropReason::NoRoute)?;
            let outer = if toward.is_ipv4() { 20 } else { 40 };
            let path_mtu = out.mtu.saturating_sub(outer) as u32;
            if let Err(reason) = rewrite::tun_encap(&mut buf, info, src, toward, out.mtu) {
                // Tell the sender its path MTU (never about an ICMP error: RFC 1122).
                if reason == DropReason::TooBig && matches!(carried, Carried::Segment { .. }) {
                    self.tell_too_big(buf, info, path_mtu, now_ms, io);
                }
                return Err(reason);
            }
        }
        match path {
            Path::Known(hop) => self.send_to(hop, buf, io),
            Path::Route(hit) => {
                if let Some(mac) = self.transmit(hit, buf, now_ms, io)? {
                    let hop = next_hop::Hop {
                        port: hit.port,
                        mac,
                    };
                    self.conns
                        .set_path_hint(id, dir, next_hop::hint(hop, stamp));
                }
            }
        }
        Ok(())
    }

    /// Send a finished frame to a known next hop.
    fn send_to<I: Io<Buf = B>>(&mut self, hop: next_hop::Hop, mut buf: B, io: &mut I) {
        let src_mac = self.snap.port(hop.port).mac;
        rewrite::set_macs(buf.data_mut(), MacAddr(src_mac), MacAddr(hop.mac));
        self.send(hop.port, buf, io);
    }

    /// Answer a packet that outgrew the path with "fragmentation needed" / "packet too
    /// big" carrying `mtu`, toward its sender, within the worker's ICMP budget. The packet
    /// itself is counted as dropped by the caller.
    fn tell_too_big<I: Io<Buf = B>>(
        &mut self,
        mut buf: B,
        info: &FrameInfo,
        mtu: u32,
        now_ms: u64,
        io: &mut I,
    ) {
        let Some(sender) = info.ip.map(|ip| ip.src) else {
            return;
        };
        let Some(hit) = self.snap.routes.lookup(sender) else {
            return;
        };
        if !self.icmp_budget.take(now_ms) || duties::too_big_reply(&mut buf, info, mtu).is_err() {
            return;
        }
        if self.transmit(hit, buf, now_ms, io).is_ok() {
            self.counters.icmp_sent += 1;
        }
    }

    /// True when frames between these ports need their L4 checksum finished in software.
    fn needs_sw_checksum(&self, a: PortId, b: PortId) -> bool {
        self.snap.port(a).sw_checksum || self.snap.port(b).sw_checksum
    }

    /// Resolve the next hop and send (returning the neighbour's MAC), or park the frame
    /// until the neighbour answers (`None`).
    fn transmit<I: Io<Buf = B>>(
        &mut self,
        hit: RouteHit,
        buf: B,
        now_ms: u64,
        io: &mut I,
    ) -> Result<Option<[u8; 6]>, DropReason> {
        match self.neigh.resolve(hit.port, hit.next_hop, buf, now_ms) {
            Resolution::Ready(mac, buf) => {
                self.send_to(
                    next_hop::Hop {
                        port: hit.port,
                        mac,
                    },
                    buf,
                    io,
                );
                Ok(Some(mac))
            }
            Resolution::Queued { request } => {
                if request {
                    self.solicit(hit.port, hit.next_hop, io);
                }
                Ok(None)
            }
            Resolution::Full(_) => Err(DropReason::NeighborQueueFull),
        }
    }

    /// Count and hand a finished frame to the I/O.
    fn send<I: Io<Buf = B>>(&mut self, port: PortId, buf: B, io: &mut I) {
        self.counters.tx.count(buf.len());
        io.send(port, buf);
    }

    /// A neighbour answered: note it and send what waited for it.
    fn learned<I: Io<Buf = B>>(&mut self, port: PortId, ip: IpAddr, mac: [u8; 6], io: &mut I) {
        let src_mac = self.snap.port(port).mac;
        let counters = &mut self.counters;
        self.neigh.learn(port, ip, mac, |mut buf| {
            rewrite::set_macs(buf.data_mut(), MacAddr(src_mac), MacAddr(mac));
            counters.tx.count(buf.len());
            io.send(port, buf);
        });
        self.counters.neighbors_learned += 1;
    }

    /// ARP: learn from replies, answer requests for our addresses and VIPs.
    fn non_ip<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        _now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        if info.ethertype != ethertype::ARP {
            return Err(DropReason::UnsupportedProtocol);
        }
        if let Some((ip, mac)) = duties::learn_neighbor(buf.data(), info) {
            self.copy_to_kernel(port, &buf, io);
            self.learned(port, ip, mac.0, io);
            return Ok(());
        }
        let (snap, serving) = (&self.snap, self.serving);
        let mac = MacAddr(snap.port(port).mac);
        answer_neighbor(snap, serving, |is_ours| {
            duties::arp_reply(buf.data_mut(), info, mac, is_ours)
        })?;
        self.counters.duties_answered += 1;
        self.send(port, buf, io);
        Ok(())
    }

    /// IP traffic that belongs to no connection: echo and neighbour discovery for the
    /// director's addresses and VIPs; everything else is dropped.
    fn local_ip<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        if ip.protocol == crate::wire::vrrp::PROTOCOL {
            if let Some(link) = &self.ha {
                return link.deliver(port, buf.data());
            }
        }
        if !self.serving && self.snap.moves(ip.dst) {
            return Err(DropReason::HaBackup);
        }
        let (snap, serving) = (&self.snap, self.serving);
        let mac = MacAddr(snap.port(port).mac);
        match ip.l4 {
            L4Info::IcmpEcho { request: true, .. } if snap.answers_for(ip.dst) => {
                // Never answer toward a broadcast or multicast source (smurf).
                if crate::connect::martian(ip.src) {
                    return Err(DropReason::MartianSource);
                }
                duties::echo_reply(buf.data_mut(), info)?;
            }
            L4Info::Icmp {
                msg_type: icmpv6::NEIGHBOR_SOLICIT,
                ..
            } if ip.version == IpVersion::V6 => {
                answer_neighbor(snap, serving, |is_ours| {
                    duties::neighbor_advert_reply(&mut buf, info, mac, is_ours)
                })?;
            }
            L4Info::Icmp {
                msg_type: icmpv6::NEIGHBOR_ADVERT,
                ..
            } if ip.version == IpVersion::V6 => {
                let (ip, mac) =
                    duties::learn_neighbor(buf.data(), info).ok_or(DropReason::Malformed)?;
                self.copy_to_kernel(port, &buf, io);
                self.learned(port, ip, mac.0, io);
                return Ok(());
            }
            _ if snap.own.contains(&ip.dst) => {
                let reason = DropReason::UnsupportedProtocol;
                return self.hand_to_kernel(port, buf, info, now_ms, io, reason);
            }
            _ if snap.answers_for(ip.dst) => return Err(DropReason::UnsupportedProtocol),
            _ => return Err(DropReason::NotForUs),
        }
        self.counters.duties_answered += 1;
        self.send(port, buf, io);
        Ok(())
    }

    /// Ask who has `next_hop` on `port` (ARP request or neighbour solicitation).
    fn solicit<I: Io<Buf = B>>(&mut self, port: PortId, next_hop: IpAddr, io: &mut I) {
        let p = self.snap.port(port);
        let (mac, src) = (MacAddr(p.mac), p.address_like(next_hop));
        let Some(mut buf) = io.alloc() else {
            self.counters.drop(DropReason::NoBuffer);
            return;
        };
        let built = match (src, next_hop) {
            (Some(IpAddr::V4(s)), IpAddr::V4(t)) => duties::build_arp_request(&mut buf, mac, s, t),
            (Some(IpAddr::V6(s)), IpAddr::V6(t)) => {
                duties::build_neighbor_solicit(&mut buf, mac, s, t)
            }
            _ => Err(DropReason::NoRoute),
        };
        match built {
            Ok(()) => self.send(port, buf, io),
            Err(reason) => self.counters.drop(reason),
        }
    }

    /// Count a received frame too large for any buffer (dropped as malformed).
    pub fn count_oversize(&mut self, len: usize) {
        self.counters.rx.count(len);
        self.counters.drop(DropReason::Malformed);
    }
}

/// One worker's share of a real's `-x`/`-y` threshold: each worker counts only its own
/// connections, so a threshold is split evenly (rounded up, at least 1; 0 stays "none").
/// IPVS counts one global number; rvs keeps counts per worker so that no new connection
/// touches a shared cache line, and a real is held overloaded a little early or late when
/// connections are spread unevenly over the workers.
pub fn worker_share(threshold: u32, workers: u16) -> u32 {
    match threshold {
        0 => 0,
        t => t.div_ceil(u32::from(workers.max(1))).max(1),
    }
}

/// Run a neighbour duty (ARP reply, neighbour advertisement) with the test of the target
/// addresses it may answer for: those the director answers for, less the virtual router's
/// while this director is a backup under `[ha]` (`serving` false). A question refused for
/// that reason is [`DropReason::HaBackup`], whatever the duty's own refusal.
fn answer_neighbor<A: Into<IpAddr>>(
    snap: &Snapshot,
    serving: bool,
    duty: impl FnOnce(&mut dyn FnMut(A) -> bool) -> Result<(), DropReason>,
) -> Result<(), DropReason> {
    let mut withheld = false;
    let answered = duty(&mut |target: A| {
        let target = target.into();
        withheld = !serving && snap.moves(target);
        snap.answers_for(target) && !withheld
    });
    answered.map_err(|e| if withheld { DropReason::HaBackup } else { e })
}

/// Refuse a frame whose Ethernet source is a group (multicast or broadcast) address: no
/// station sends from one. `frame` has been parsed, so its header is there.
fn check_source_mac(frame: &[u8]) -> Result<(), DropReason> {
    if EthernetFrame::new_checked(frame)?.src().is_multicast() {
        return Err(DropReason::MartianSource);
    }
    Ok(())
}

/// Where a forwarded packet goes: a next hop its connection remembers, or a route to
/// resolve.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// The connection's hint, still valid.
    Known(next_hop::Hop),
    /// The route's lookup (the neighbour still to resolve).
    Route(RouteHit),
}

impl Path {
    /// The egress port.
    fn port(&self) -> PortId {
        match self {
            Path::Known(hop) => hop.port,
            Path::Route(hit) => hit.port,
        }
    }
}

/// What a forwarded packet carries for its connection.
#[derive(Clone, Copy, Debug)]
enum Carried {
    /// A TCP/UDP segment of the connection, received on `in_port`.
    Segment {
        /// The port it arrived on (software checksums depend on it).
        in_port: PortId,
        /// Its connection.
        id: rvs_conntrack::ConnId,
    },
    /// An ICMP error quoting a packet of the connection (its checksum is recomputed whole).
    IcmpError,
}

/// Rewrite a TCP/UDP packet of `conn` travelling `dir` for the connection's mode.
fn rewrite_segment(
    frame: &mut [u8],
    info: &FrameInfo,
    conn: &ConnView<'_>,
    dir: Direction,
) -> Result<(), DropReason> {
    match (conn.mode(), dir) {
        (ForwardMode::Nat, Direction::Original) => rewrite::nat_in(frame, info, conn.real()),
        (ForwardMode::Nat, Direction::Reply) => rewrite::nat_out(frame, info, conn.vip()),
        (ForwardMode::FullNat, Direction::Original) => {
            let local = conn.local().ok_or(DropReason::NoLocalPort)?;
            rewrite::fullnat_in(frame, info, local, conn.real())
        }
        (ForwardMode::FullNat, Direction::Reply) => {
            rewrite::fullnat_out(frame, info, conn.vip(), conn.client())
        }
        (ForwardMode::Dr | ForwardMode::Tun, Direction::Original) => Ok(()),
        // Replies of DR and TUN connections go straight from the real to the client.
        (ForwardMode::Dr | ForwardMode::Tun, Direction::Reply) => Err(DropReason::NotForUs),
    }
}

/// Translate an ICMP error quoting a packet of `conn`; the error travels `dir`, opposite
/// to the packet it quotes (see [`rewrite::icmp_error`] for what each side becomes).
fn rewrite_icmp_error(
    frame: &mut [u8],
    info: &FrameInfo,
    conn: &ConnView<'_>,
    dir: Direction,
) -> Result<(), DropReason> {
    let (vip, real, client) = (conn.vip(), conn.real(), conn.client());
    match (conn.mode(), dir) {
        (ForwardMode::Nat, Direction::Reply) => {
            rewrite::icmp_error(frame, info, Some(vip.ip()), None, None, Some(vip))
        }
        (ForwardMode::Nat, Direction::Original) => {
            rewrite::icmp_error(frame, info, None, Some(real.ip()), Some(real), None)
        }
        (ForwardMode::FullNat, Direction::Reply) => rewrite::icmp_error(
            frame,
            info,
            Some(vip.ip()),
            Some(client.ip()),
            Some(client),
            Some(vip),
        ),
        (ForwardMode::FullNat, Direction::Original) => {
            let local = conn.local().ok_or(DropReason::NoLocalPort)?;
            rewrite::icmp_error(
                frame,
                info,
                Some(local.ip()),
                Some(real.ip()),
                Some(real),
                Some(local),
            )
        }
        (ForwardMode::Dr | ForwardMode::Tun, Direction::Original) => Ok(()),
        (ForwardMode::Dr | ForwardMode::Tun, Direction::Reply) => Err(DropReason::NotForUs),
    }
}

/// Most connections one tick expires: a poll loop ticks every millisecond, so up to
/// about 2M expiries a second, while a timeout that ends for a million connections at
/// once stalls no round by more than a few hundred microseconds.
pub const EXPIRE_PER_TICK: usize = 2048;

/// The DPDK layer's prefetch, offered to the connection table's batched expiry.
struct CpuPrefetch;

impl rvs_conntrack::Prefetch for CpuPrefetch {
    fn prefetch<T: ?Sized>(&self, value: &T) {
        rvs_dpdk::prefetch(value);
    }
}

/// Most neighbour requests one tick sends again (the others are due at the next tick).
const ASKS_PER_TICK: usize = 64;

/// ICMP errors one worker may send per second. Linux limits per destination
/// (`icmp_ratelimit`); one budget per worker keeps this allocation-free and still stops a
/// flood of oversize packets from turning into a flood of errors.
pub const ICMP_ERRORS_PER_SECOND: u32 = 1000;

/// Frames one worker hands to the kernel exception path per second: ample for routing
/// daemons and remote logins, and a bound on what a flood to the director's own
/// addresses can cost the workers (the rest is dropped as `kernel_limited`).
pub const KERNEL_FRAMES_PER_SECOND: u32 = 20_000;

/// A per-second budget of `LIMIT` events.
#[derive(Clone, Copy, Debug, Default)]
struct Budget<const LIMIT: u32> {
    second: u64,
    used: u32,
}

impl<const LIMIT: u32> Budget<LIMIT> {
    /// Take one event from the budget of the second `now_ms` falls in.
    fn take(&mut self, now_ms: u64) -> bool {
        let second = now_ms / 1000;
        if second != self.second {
            (self.second, self.used) = (second, 0);
        }
        let ok = self.used < LIMIT;
        self.used += u32::from(ok);
        ok
    }
}

/// The worker's ICMP error budget.
type IcmpBudget = Budget<ICMP_ERRORS_PER_SECOND>;

/// The worker's exception-path budget.
type KernelBudget = Budget<KERNEL_FRAMES_PER_SECOND>;

#[cfg(test)]
mod tests {
    use super::worker_share;

    #[test]
    fn thresholds_split_over_workers() {
        assert_eq!(worker_share(0, 4), 0);
        assert_eq!(worker_share(100, 1), 100);
        assert_eq!(worker_share(100, 2), 50);
        assert_eq!(worker_share(101, 2), 51);
        assert_eq!(worker_share(1, 4), 1);
        assert_eq!(worker_share(7, 0), 7);
    }
}
