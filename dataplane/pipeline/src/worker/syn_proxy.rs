//! The worker's side of the SYN proxy ([`crate::synproxy`]): answering a SYN, turning
//! the real's SYN-ACK into the client's ACK, noting the SYN sent, holding the client's
//! early segments ([`synproxy::held`]) and sending them on.

use rvs_conntrack::{ConnId, ConnKey, Direction};

use super::{Carried, Io, Worker};
use crate::client_addr;
use crate::connect::PacketTuple;
use crate::synproxy::{self, held};
use rvs_config::{ClientAddress, PortId};
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite::tcp_edit::Segment;
use rvs_packet::wire::{parse_frame, FrameInfo};

impl<B: PacketBuf> Worker<B> {
    /// Key the worker's SYN cookies with `key` (by default drawn from the worker's seed).
    pub fn set_cookie_key(&mut self, key: synproxy::CookieKey) {
        self.cookie_key = key;
    }

    /// Answer a client SYN (`key`) toward a SYN-proxied service with the cookie SYN-ACK,
    /// its MSS that of the port it came in by less the room `how` needs, announcing
    /// window scale `wscale` when it goes with timestamps.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answer_syn<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        key: &ConnKey,
        (how, wscale): (ClientAddress, u8),
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let v6 = key.src.is_ipv6();
        let headers = if v6 { 60 } else { 40 } + client_addr::max_growth(how, v6);
        let mtu = u16::try_from(self.snap.port(port).mtu).unwrap_or(u16::MAX);
        let mss = mtu.saturating_sub(headers);
        synproxy::answer_syn(&mut buf, info, key, &self.cookie_key, mss, wscale, now_ms)?;
        let hit = self
            .snap
            .routes
            .lookup(key.src)
            .ok_or(DropReason::NoRoute)?;
        self.counters.syn_cookies_sent += 1;
        self.transmit(hit, buf, now_ms, io).map(|_| ())
    }

    /// True for the real's SYN-ACK on a connection waiting for it.
    pub(super) fn real_answers_syn_proxy(&self, id: ConnId, t: &PacketTuple) -> bool {
        t.flags.syn && t.flags.ack && synproxy::waiting(&self.conns.view(id).stream())
    }

    /// Turn the real's SYN-ACK of connection `id` into its client's ACK.
    pub(super) fn syn_proxy_ack(
        &mut self,
        id: ConnId,
        buf: &mut B,
        info: &FrameInfo,
    ) -> Result<(), DropReason> {
        let conn = self.conns.try_view(id).ok_or(DropReason::NoConnection)?;
        let (client, mut stream) = (conn.to_conn().original_key(), conn.stream());
        let made = synproxy::ack_from_synack(buf, info, &client, &mut stream);
        self.conns.set_stream(id, &stream);
        made
    }

    /// Connection `id`'s SYN went to the real; `ack` is what the cookie ACK carried.
    pub(super) fn syn_proxy_sent(&mut self, id: ConnId, ack: &synproxy::CookieAck) {
        if let Some(conn) = self.conns.try_view(id) {
            let mut stream = conn.stream();
            synproxy::sent_syn(&mut stream, ack);
            self.conns.set_stream(id, &stream);
        }
    }
}

/// Slots of the held-segment table looked at per tick.
const HELD_SWEEP_PER_TICK: usize = 16;

impl<B: PacketBuf> Worker<B> {
    /// The cookie ISN of connection `id` when it waits for the real's SYN-ACK and the
    /// client segment in `buf` carries data (worth holding).
    pub(super) fn waits_with_data(&self, id: ConnId, buf: &B, info: &FrameInfo) -> Option<u32> {
        let cookie = synproxy::cookie_of(&self.conns.view(id).stream())?;
        let seg = Segment::of(buf.data(), info).ok()?;
        synproxy::carries_data(buf.data(), &seg).then_some(cookie)
    }

    /// Hold a client segment (come in by `port`) of connection `id`, waiting with
    /// `cookie`, until the real answers.
    ///
    /// # Errors
    /// [`DropReason::SynproxyWaiting`] when the table has no room for it.
    pub(super) fn hold(
        &mut self,
        id: ConnId,
        cookie: u32,
        port: PortId,
        buf: B,
    ) -> Result<(), DropReason> {
        self.hold_up_to(id, cookie, held::PER_CONN, port, buf)
    }

    /// [`Worker::hold`], up to `most` segments for the connection (at most
    /// [`held::WAYS`]).
    pub(super) fn hold_up_to(
        &mut self,
        id: ConnId,
        cookie: u32,
        most: usize,
        port: PortId,
        buf: B,
    ) -> Result<(), DropReason> {
        let (conns, counters) = (&self.conns, &mut self.counters);
        let live = |id, cookie| {
            conns
                .try_view(id)
                .is_some_and(|c| synproxy::waiting_with(&c.stream(), cookie))
        };
        let dropped = |_| counters.drop(DropReason::SynproxyWaiting);
        match self.held.hold(id, cookie, most, (port, buf), live, dropped) {
            Ok(()) => {
                self.counters.synproxy_held += 1;
                Ok(())
            }
            Err(_) => Err(DropReason::SynproxyWaiting),
        }
    }

    /// Send the segments held for connection `id` (which waited with `cookie`) toward
    /// the real, after its handshake-completing ACK; a failure is counted.
    pub(super) fn release_held<I: Io<Buf = B>>(
        &mut self,
        id: ConnId,
        cookie: u32,
        now_ms: u64,
        io: &mut I,
    ) {
        let mut out: [Option<(PortId, B)>; held::WAYS] = Default::default();
        let mut n = 0;
        self.held.release(id, cookie, |b| {
            out[n] = Some(b);
            n += 1;
        });
        for (port, buf) in out.into_iter().flatten() {
            if let Err(reason) = self.send_held(id, port, buf, now_ms, io) {
                self.counters.drop(reason);
            }
        }
    }

    /// One held client segment of connection `id` on its way, as if it came now.
    fn send_held<I: Io<Buf = B>>(
        &mut self,
        id: ConnId,
        port: PortId,
        buf: B,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let info = parse_frame(buf.data())?;
        let flags = info.ip.as_ref().ok_or(DropReason::Malformed)?.tcp_flags();
        let dir = Direction::Original;
        self.conns.on_packet(id, dir, flags, buf.len(), now_ms);
        let conn = self.conns.view(id);
        self.traffic
            .count(conn.service(), conn.dest(), dir, buf.len(), false);
        self.counters.synproxy_released += 1;
        let carried = Carried::Segment { in_port: port, id };
        self.forward(carried, buf, &info, id, dir, now_ms, io)
    }

    /// Free a few held segments whose connection is gone (expired, reset, taken over).
    pub(super) fn sweep_held(&mut self) {
        let (conns, counters) = (&self.conns, &mut self.counters);
        self.held.sweep(
            HELD_SWEEP_PER_TICK,
            |id, cookie| {
                conns
                    .try_view(id)
                    .is_some_and(|c| synproxy::waiting_with(&c.stream(), cookie))
            },
            |_| counters.drop(DropReason::SynproxyWaiting),
        );
    }
}

/// A copy of `buf`'s frame in a fresh buffer from `io` (`None` when the pool is dry or
/// the buffer too small: the data is then left to the client's retransmission).
pub(super) fn copy_frame<B: PacketBuf, I: Io<Buf = B>>(buf: &B, io: &mut I) -> Option<B> {
    let mut copy = io.alloc()?;
    copy.append(buf.len()).ok()?;
    copy.data_mut().copy_from_slice(buf.data());
    Some(copy)
}
