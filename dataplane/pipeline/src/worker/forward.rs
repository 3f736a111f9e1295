//! The forwarding path: a received frame through parsing, the connection lookup or
//! scheduling, the rewrite for the connection's mode, and the route toward its peer.

use std::net::IpAddr;

use rvs_conntrack::{ConnId, ConnView, Direction, ForwardMode, KeyHash, Proto, TcpFlags};

use crate::connect::{ConnectCtx, Connected, PacketTuple};
use crate::route::RouteHit;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite::{self, TunnelKind};
use rvs_packet::wire::fill_l4_checksum;
use rvs_packet::wire::{parse_frame, EthernetFrame, FrameInfo, IpInfo, L4Info};

use super::{burst, next_hop, syn_proxy, Carried, Io, Worker};

impl<B: PacketBuf> Worker<B> {
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
    pub(super) fn admit<I: Io<Buf = B>>(&mut self, port: PortId, buf: B, io: &mut I) -> Option<B> {
        self.counters.rx.count(buf.len());
        let Some(out) = self.snap.port(port).mirror_of else {
            return Some(buf);
        };
        self.counters.kernel_received += 1;
        self.send(out, buf, io);
        None
    }

    /// Take a parsed frame to its handler; `hash` is the hash of its lookup tuple
    /// ([`burst::lookup_key`]) when a burst stage computed it.
    pub(super) fn dispatch<I: Io<Buf = B>>(
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
            return self.fragment(port, buf, info, now_ms, io);
        }
        let backup_drops = self.withheld(ip.dst);
        match ip.l4 {
            L4Info::Udp { dport, .. } if self.is_sync(ip.dst, dport) => {
                self.take_sync(port, &buf, ip, now_ms)
            }
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
                let mut connected = match self.connect_ctx().connect(&tuple, now_ms) {
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
                    Err(DropReason::NoReal) => return self.no_real(buf, info, ip, now_ms, io),
                    Err(
                        reason @ (DropReason::AclDenied
                        | DropReason::RateLimited
                        | DropReason::ConnLimited),
                    ) => return self.guard_refused(buf, info, ip, reason, now_ms, io),
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
                    let l7_timeout = self
                        .snap
                        .services
                        .find(key.proto, key.dst, key.dport)
                        .and_then(|(_, s)| s.l7.as_ref())
                        .map(|p| p.timeout_ms);
                    if let Some(timeout_ms) = l7_timeout {
                        let flags = tuple.flags;
                        return self
                            .l7_segment(port, buf, info, &key, flags, timeout_ms, now_ms, io);
                    }
                    let ack = crate::synproxy::check_ack(
                        buf.data(),
                        info,
                        &key,
                        &self.cookie_key,
                        now_ms,
                    )?;
                    let services = &self.snap.services;
                    let service = services.resolve(key.proto, key.src, key.dst, key.dport);
                    if service.is_some_and(|(_, s)| !s.has_usable_real()) {
                        return self.no_real_after_cookie(buf, info, ip, now_ms, io);
                    }
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
                    connected = match self.connect_ctx().open_by_cookie(&tuple, now_ms) {
                        Ok(c) => c,
                        Err(
                            reason @ (DropReason::AclDenied
                            | DropReason::RateLimited
                            | DropReason::ConnLimited),
                        ) => {
                            // The client holds an established connection: a RST, not
                            // silence, ends it.
                            return self.guard_refused(buf, info, ip, reason, now_ms, io);
                        }
                        Err(reason) => return Err(reason),
                    };
                    self.counters.syn_cookies_accepted += 1;
                    cookie_ack = Some(ack);
                }
                let one_packet = matches!(connected, Connected::OnePacket(_));
                let new = one_packet || matches!(connected, Connected::New(_));
                self.counters.conns_created += u64::from(new);
                let (id, mut dir) = connected.id_dir().ok_or(DropReason::NoConnection)?;
                // Connection sync (master): the state before this packet.
                // A one-packet entry is gone before the sync tick could send it.
                let state_before =
                    (self.sync.recording() && !one_packet).then(|| self.conns.view(id).state());
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
                if let Some(before) = state_before {
                    // A SYN-proxied connection is first sent when its real answers.
                    let first = new || release.is_some();
                    if first || conn.state() != before {
                        self.sync.note(id, first);
                    }
                }
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
                } else if one_packet {
                    self.one_packet_sent(id);
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
    /// local port returned to the pool. No expiry goes to the backups: connection sync
    /// sends a connection's records only from the worker's tick, so one taken back
    /// within the packet that made it never reached them (and a flood of such packets
    /// costs the sync link nothing).
    pub(super) fn unmake(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(id) {
            if let Some(l) = c.local {
                self.lports.release(l.ip(), l.port());
            }
            crate::guard::conn_ended(&self.snap.services, &mut self.limiters, &c);
            self.counters.conns_created -= 1;
        }
    }

    /// Remove the entry a one-packet datagram was forwarded with (it stays counted as
    /// created, as IPVS counts its one-packet connections), its guard's count of open
    /// connections given back.
    pub(super) fn one_packet_sent(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(id) {
            crate::guard::conn_ended(&self.snap.services, &mut self.limiters, &c);
            self.counters.one_packet += 1;
        }
    }

    /// Forward a packet of connection `id` travelling `dir`: rewrite it for the
    /// connection's mode, encapsulate it for TUN, route it toward the connection's peer
    /// and transmit it. The connection is read in place, not copied.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward<I: Io<Buf = B>>(
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
        let toward = conn.peer_ip(dir);
        let stamp = self.path_stamp();
        let path = match next_hop::cached(conn.path_hint(dir), stamp) {
            Some(hop) => Path::Known(hop),
            None => Path::Route(self.snap.routes.lookup(toward).ok_or(DropReason::NoRoute)?),
        };
        let out_port = path.port();
        // A tunnel real's encapsulation (and GUE's source port), read before the rewrite
        // may update the entry.
        let tunnel = self.tunnel_of(&conn);
        match carried {
            Carried::Segment { in_port, id } => {
                let before = conn.stream();
                // What leaves must fit the egress port's MTU, with what the director adds
                // (the tunnel header is checked by the encapsulation).
                let grow = crate::client_addr::datagram_growth(&conn, &before, dir);
                let mtu = self.snap.port(out_port).mtu;
                if info.ip.map_or(0, |ip| ip.l3_len) + grow > mtu {
                    self.refuse_too_big(buf, info, mtu.saturating_sub(grow), now_ms, io);
                    return Err(DropReason::TooBig);
                }
                // Finish the checksum before the rewrite, which then updates it
                // incrementally (`info` holds the addresses as received).
                if self.needs_sw_checksum(in_port, out_port) {
                    fill_l4_checksum(buf.data_mut(), info)?;
                }
                rewrite_segment(buf.data_mut(), info, &conn, dir)?;
                if grow > 0 {
                    let edit = crate::client_addr::on_datagram(&mut buf, info, &conn, &before, dir);
                    self.counters.count_client_addr(edit?);
                } else if conn.proto() == Proto::Tcp && crate::client_addr::active(&before) {
                    let mut stream = before;
                    let edit = crate::client_addr::on_segment(
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
        if let Some((tunnel, sport)) = tunnel {
            let out = self.snap.port(out_port);
            let src = out.address_like(toward).ok_or(DropReason::NoRoute)?;
            let path_mtu = out.mtu.saturating_sub(tunnel_overhead(&tunnel, toward)) as u32;
            let encap = rewrite::tun_encap(&mut buf, info, src, toward, &tunnel, sport, out.mtu);
            if let Err(reason) = encap {
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

    /// Drop a packet too big for the egress port, or with no room for what the director
    /// adds: a sender that forbade fragmentation is told `mtu`, the size that fits. An
    /// IPv4 packet that allows fragmentation is dropped all the same (the director does
    /// not fragment).
    fn refuse_too_big<I: Io<Buf = B>>(
        &mut self,
        buf: B,
        info: &FrameInfo,
        mtu: usize,
        now_ms: u64,
        io: &mut I,
    ) {
        if info.ip.is_some_and(|ip| ip.dont_frag) {
            self.tell_too_big(buf, info, mtu as u32, now_ms, io);
        }
    }

    /// True when frames between these ports need their L4 checksum finished in software.
    pub(super) fn needs_sw_checksum(&self, a: PortId, b: PortId) -> bool {
        self.snap.port(a).sw_checksum || self.snap.port(b).sw_checksum
    }
}

/// Refuse a frame whose Ethernet source is a group (multicast or broadcast) address: no
/// station sends from one. `frame` has been parsed, so its header is there.
fn check_source_mac(frame: &[u8]) -> Result<(), DropReason> {
    if EthernetFrame::new_checked(frame)?.src().is_multicast() {
        return Err(DropReason::MartianSource);
    }
    Ok(())
}

impl<B: PacketBuf> Worker<B> {
    /// What finds or makes connections, over this worker's tables and the snapshot.
    pub(super) fn connect_ctx(&mut self) -> ConnectCtx<'_> {
        ConnectCtx {
            services: &self.snap.services,
            sched_states: &mut self.sched_states,
            group_states: &mut self.group_states,
            conns: &mut self.conns,
            lports: &mut self.lports,
            laddr_cursor: &mut self.laddr_cursor,
            behaviour: self.snap.behaviour,
            counters: &mut self.counters,
            own: &self.snap.own,
            expiries: super::ha::expiry_sink(&self.ha, self.serving),
            limiters: &mut self.limiters,
            workers: self.snap.workers,
        }
    }

    /// The encapsulation of a TUN connection's packets toward its real (and GUE's UDP
    /// source port); `None` for the other modes.
    pub(super) fn tunnel_of(
        &self,
        conn: &ConnView<'_>,
    ) -> Option<(rvs_packet::rewrite::Tunnel, u16)> {
        (conn.mode() == ForwardMode::Tun).then(|| {
            let tunnel = self.snap.services.tunnel(conn.dest());
            let sport = match tunnel.kind {
                TunnelKind::Gue => tunnel_source_port(conn.client(), conn.vip()),
                _ => 0,
            };
            (tunnel, sport)
        })
    }
}

/// The most bytes `tunnel` adds to a packet sent to `toward`: the outer IP header and
/// the tunnel's own header (ICMP tells a sender the port MTU less this).
pub(super) fn tunnel_overhead(tunnel: &rvs_packet::rewrite::Tunnel, toward: IpAddr) -> usize {
    let outer = if toward.is_ipv4() { 20 } else { 40 };
    outer + tunnel.max_header_len()
}

/// The UDP source port of a GUE packet of the connection between `client` and `vip`:
/// one per connection, so the real's receive side hashes its flows apart, in the range
/// the kernel picks it from (`udp_flow_src_port`: 32768..60999).
fn tunnel_source_port(client: std::net::SocketAddr, vip: std::net::SocketAddr) -> u16 {
    use crate::flow_hash::{addr_bits, mix64};
    let h = mix64(addr_bits(client.ip()) ^ (u64::from(client.port()) << 48) ^ addr_bits(vip.ip()))
        as u32;
    (32768 + ((u64::from(h) * (61000 - 32768)) >> 32)) as u16
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

/// Rewrite a TCP/UDP packet of `conn` travelling `dir` for the connection's mode.
pub(super) fn rewrite_segment(
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
