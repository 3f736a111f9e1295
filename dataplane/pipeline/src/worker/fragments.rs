//! IP fragments through the worker: filed for reassembly ([`crate::reassembly`]); a
//! whole datagram goes to the worker that owns its flow, then through its connection
//! like any packet, and leaves cut again into fragments that fit the egress port.
//!
//! Steering ([`crate::steer::fragment_owner`]) brings every fragment of a datagram to one
//! worker whatever its ports. When the whole datagram's flow belongs to another worker,
//! it is cut again into fragments no larger than the receiving port's MTU (so that each
//! fits a packet buffer) and handed to that worker ([`Io::hand_over`]), which reassembles
//! them again and forwards the datagram: rare work kept off the path of unfragmented
//! packets, and no buffer larger than a port's frames anywhere.
//!
//! The datagram leaves in fragments no larger than the egress port's MTU nor than the
//! largest fragment it came in (Linux's `frag_max_size`, as IPVS forwards a datagram
//! `nf_defrag` reassembled), each with a fresh identification from this worker's
//! counter (a FULLNAT or NAT rewrite gathers the datagrams of many sources under one
//! address pair, where their own identifications could collide). When that would
//! take a fragment larger than the egress MTU, the sender is told the MTU instead:
//! ICMP fragmentation needed for an IPv4 datagram sent with DF, ICMPv6 packet too big for
//! IPv6 (RFC 8200 lets only the source fragment; the director never sends a fragment
//! larger than the source did). Datagrams whose connection has its byte stream edited
//! (TOA, the PROXY protocol, the SYN proxy) are not forwarded from fragments.

use rvs_conntrack::{ConnId, Direction};

use crate::connect::{Connected, PacketTuple};
use crate::reassembly::{Added, Whole};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::fragment::{self, Cut};
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite;
use rvs_packet::wire::{fill_l4_checksum, parse_frame, FrameInfo, IpInfo, IpVersion, L4Info};

use super::{Io, Worker};

/// Most timed-out datagrams one tick gives up (the rest at the next ticks).
pub const FRAG_EXPIRE_PER_TICK: usize = 256;

impl<B: PacketBuf> Worker<B> {
    /// A fragment received on `port`: filed, and its datagram forwarded once whole.
    /// Out of line and cold: unfragmented packets' path stays as compact as before.
    #[cold]
    #[inline(never)]
    pub(super) fn fragment<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        buf: B,
        info: &FrameInfo,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        if !self.frags.enabled() {
            return Err(DropReason::Fragment);
        }
        let piece = fragment::piece(buf.data(), info)?;
        let added = self.frags.add(&piece, buf.data(), port, now_ms);
        drop(buf);
        let evicted = self.frags.take_evicted();
        self.counters.drops[DropReason::FragmentEvicted.index()] += evicted;
        match added {
            Added::Held => Ok(()),
            Added::Refused { reason, fragments } => {
                // This fragment is counted by the caller; the others it took with it here.
                self.counters.drops[reason.index()] += fragments - 1;
                Err(reason)
            }
            Added::Whole(whole) => {
                self.counters.datagrams_reassembled += 1;
                let (mut frame, len) = self.frags.take_whole(whole);
                let result = self.whole(&whole, &mut frame[..len], now_ms, io);
                self.frags.give_back(frame);
                result
            }
        }
    }

    /// Give up the datagrams whose time ran out (from the tick).
    pub(super) fn expire_fragments(&mut self, now_ms: u64) {
        let timed_out = self.frags.expire(now_ms, FRAG_EXPIRE_PER_TICK);
        self.counters.drops[DropReason::FragmentTimeout.index()] += timed_out;
    }

    /// A whole datagram: to the worker owning its flow, or through its connection here.
    fn whole<I: Io<Buf = B>>(
        &mut self,
        w: &Whole,
        frame: &mut [u8],
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let info = parse_frame(frame)?;
        let ip = info.ip.ok_or(DropReason::Malformed)?;
        if let Some(owner) = crate::steer::owner(&self.snap, &info) {
            if owner != self.id {
                return self.hand_over(owner, w, frame, &info, io);
            }
        }
        if self.withheld(ip.dst) {
            return Err(DropReason::HaBackup);
        }
        let key = match ip.l4 {
            L4Info::Tcp { .. } | L4Info::Udp { .. } => {
                ip.conn_key().ok_or(DropReason::Malformed)?
            }
            _ => return Err(DropReason::Fragment),
        };
        let tuple = PacketTuple {
            key,
            flags: ip.tcp_flags(),
            hash: self.conns.hash(&key),
        };
        let connected = self.connect_datagram(&tuple, now_ms)?;
        let one_packet = matches!(connected, Connected::OnePacket(_));
        let new = one_packet || matches!(connected, Connected::New(_));
        let (id, dir) = connected.id_dir().ok_or(DropReason::Fragment)?;
        self.counters.conns_created += u64::from(new);
        let stream = self.conns.view(id).stream();
        if crate::client_addr::active(&stream) {
            if new {
                self.unmake(id);
            }
            return Err(DropReason::Fragment);
        }
        let state_before =
            (self.sync.recording() && !one_packet).then(|| self.conns.view(id).state());
        self.conns
            .on_packet(id, dir, tuple.flags, frame.len(), now_ms);
        let conn = self.conns.view(id);
        if let Some(before) = state_before {
            if new || conn.state() != before {
                self.sync.note(id, new);
            }
        }
        self.traffic
            .count(conn.service(), conn.dest(), dir, frame.len(), new);
        let sent = self.forward_whole(w, frame, &info, &ip, id, dir, now_ms, io);
        if new && sent.is_err() {
            self.unmake(id);
        } else if one_packet {
            self.one_packet_sent(id);
        }
        sent
    }

    /// Find or make the connection of a whole datagram (no SYN proxy: a SYN-proxied
    /// service's packets are not forwarded from fragments).
    fn connect_datagram(
        &mut self,
        tuple: &PacketTuple,
        now_ms: u64,
    ) -> Result<Connected, DropReason> {
        let mut ctx = self.connect_ctx();
        match ctx.connect(tuple, now_ms)? {
            Connected::Cookie(..) => Err(DropReason::Fragment),
            c => Ok(c),
        }
    }

    /// Rewrite a whole datagram for its connection and send it toward its peer, cut to
    /// the egress port.
    #[allow(clippy::too_many_arguments)]
    fn forward_whole<I: Io<Buf = B>>(
        &mut self,
        w: &Whole,
        frame: &mut [u8],
        info: &FrameInfo,
        ip: &IpInfo,
        id: ConnId,
        dir: Direction,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let conn = self.conns.view(id);
        let toward = conn.peer_ip(dir);
        let hit = self.snap.routes.lookup(toward).ok_or(DropReason::NoRoute)?;
        let out = self.snap.port(hit.port);
        let (out_mtu, tun_src) = (out.mtu, out.address_like(toward));
        let tunnel = self.tunnel_of(&conn);
        let outer = tunnel.map_or(0, |(t, _)| super::forward::tunnel_overhead(&t, toward));
        let mtu = out_mtu.saturating_sub(outer);
        let limit = mtu.min(w.max_ip_len);
        let too_big = match ip.version {
            IpVersion::V4 => w.dont_frag && w.max_ip_len > mtu,
            IpVersion::V6 => w.max_ip_len > mtu,
        };
        if too_big {
            self.tell_whole_too_big(frame, info, mtu as u32, now_ms, io);
            return Err(DropReason::TooBig);
        }
        if self.needs_sw_checksum(w.in_port, hit.port) {
            fill_l4_checksum(frame, info)?;
        }
        super::forward::rewrite_segment(frame, info, &conn, dir)?;
        let info = parse_frame(frame)?;
        let cut = Cut::new(frame, &info, limit, self.next_frag_id())?;
        let whole_fits = info.ip.is_some_and(|ip| ip.l3_len <= limit);
        let count = if whole_fits { 1 } else { cut.count() };
        for k in 0..count {
            let mut buf = io.alloc().ok_or(DropReason::NoBuffer)?;
            let written = if whole_fits {
                refill(&mut buf, frame)
            } else {
                cut.write(frame, k, &mut buf)
            };
            written.map_err(|_| DropReason::NoBuffer)?;
            if let Some((tunnel, sport)) = &tunnel {
                let piece_info = parse_frame(buf.data())?;
                let src = tun_src.ok_or(DropReason::NoRoute)?;
                rewrite::tun_encap(&mut buf, &piece_info, src, toward, tunnel, *sport, out_mtu)?;
            }
            self.counters.fragments_made += u64::from(!whole_fits);
            self.transmit(hit, buf, now_ms, io)?;
        }
        Ok(())
    }

    /// Hand a whole datagram to worker `owner`, cut into fragments that fit the port
    /// it came in by.
    fn hand_over<I: Io<Buf = B>>(
        &mut self,
        owner: u16,
        w: &Whole,
        frame: &[u8],
        info: &FrameInfo,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let mtu = self.snap.port(w.in_port).mtu;
        let cut = Cut::new(frame, info, mtu.min(w.max_ip_len), self.next_frag_id())?;
        for k in 0..cut.count() {
            let mut buf = io.alloc().ok_or(DropReason::NoBuffer)?;
            cut.write(frame, k, &mut buf)
                .map_err(|_| DropReason::NoBuffer)?;
            self.counters.fragments_made += 1;
            self.counters.redirected += 1;
            io.hand_over(owner, w.in_port, buf);
        }
        Ok(())
    }

    /// Tell the sender of a whole datagram that it does not fit `mtu`, quoting the
    /// datagram's first bytes (as much as a packet buffer takes).
    fn tell_whole_too_big<I: Io<Buf = B>>(
        &mut self,
        frame: &[u8],
        info: &FrameInfo,
        mtu: u32,
        now_ms: u64,
        io: &mut I,
    ) {
        let Some(ip) = info.ip else {
            return;
        };
        let Some(mut buf) = io.alloc() else {
            return;
        };
        let keep = frame.len().min(ip.l3_offset + QUOTE_LEN);
        if refill(&mut buf, &frame[..keep]).is_err() {
            return;
        }
        let l3_len = keep - ip.l3_offset;
        let b = buf.data_mut();
        match ip.version {
            IpVersion::V4 => {
                let mut v4 = rvs_packet::wire::Ipv4Packet::new_unchecked(&mut b[ip.l3_offset..]);
                v4.set_total_len(l3_len as u16);
                v4.fill_checksum();
            }
            IpVersion::V6 => {
                let mut v6 = rvs_packet::wire::Ipv6Packet::new_unchecked(&mut b[ip.l3_offset..]);
                v6.set_payload_len((l3_len - 40) as u16);
            }
        }
        // The quote is the datagram's first bytes: its IP length says so (the UDP or TCP
        // header inside still gives the whole datagram's).
        let mut quoted = *info;
        if let Some(q) = quoted.ip.as_mut() {
            q.l3_len = l3_len;
            q.payload_len = keep.saturating_sub(q.l4_offset);
        }
        self.tell_too_big(buf, &quoted, mtu, now_ms, io);
    }

    /// A fresh fragment identification (this worker's counter, stepping by the worker
    /// count from the worker's id, so workers do not hand out the same ones).
    fn next_frag_id(&mut self) -> u32 {
        let workers = u32::from(self.snap.workers.max(1));
        self.frag_id = self.frag_id.wrapping_add(workers);
        self.frag_id
    }
}

/// Make `buf` hold a copy of `bytes`, whatever it held before.
fn refill<B: PacketBuf>(buf: &mut B, bytes: &[u8]) -> Result<(), rvs_packet::packet::NoRoom> {
    let held = buf.len();
    buf.trim(held);
    buf.append(bytes.len())?;
    buf.data_mut().copy_from_slice(bytes);
    Ok(())
}

/// Bytes of a too-big datagram's IP packet an ICMP error quotes at most: the minimum
/// IPv6 MTU less the error's own headers, which IPv4's 576 also takes.
const QUOTE_LEN: usize = 1024;
