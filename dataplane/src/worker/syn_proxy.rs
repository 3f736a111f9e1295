//! The worker's side of the SYN proxy ([`crate::synproxy`]): answering a SYN, turning
//! the real's SYN-ACK into the client's ACK, noting the SYN sent.

use rvs_conntrack::{ConnId, ConnKey};

use super::{Io, Worker};
use crate::config::{ClientAddress, PortId};
use crate::connect::PacketTuple;
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::rewrite::client_addr;
use crate::synproxy;
use crate::wire::FrameInfo;

impl<B: PacketBuf> Worker<B> {
    /// Key the worker's SYN cookies with `key` (by default drawn from the worker's seed).
    pub fn set_cookie_key(&mut self, key: synproxy::CookieKey) {
        self.cookie_key = key;
    }

    /// Answer a client SYN (`key`) toward a SYN-proxied service with the cookie SYN-ACK,
    /// its MSS that of the port it came in by less the room `how` needs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answer_syn<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        key: &ConnKey,
        how: ClientAddress,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let v6 = key.src.is_ipv6();
        let headers = if v6 { 60 } else { 40 } + client_addr::max_growth(how, v6);
        let mtu = u16::try_from(self.snap.port(port).mtu).unwrap_or(u16::MAX);
        let mss = mtu.saturating_sub(headers);
        synproxy::answer_syn(&mut buf, info, key, &self.cookie_key, mss, now_ms)?;
        let hit = self
            .snap
            .routes
            .lookup(key.src)
            .ok_or(DropReason::NoRoute)?;
        self.counters.syn_cookies_sent += 1;
        self.transmit(hit, buf, now_ms, io)
    }

    /// True for the real's SYN-ACK on a connection waiting for it.
    pub(super) fn real_answers_syn_proxy(&self, id: ConnId, t: &PacketTuple) -> bool {
        t.flags.syn && t.flags.ack && synproxy::waiting(&self.conns.get(id).stream)
    }

    /// Turn the real's SYN-ACK of connection `id` into its client's ACK.
    pub(super) fn syn_proxy_ack(
        &mut self,
        id: ConnId,
        buf: &mut B,
        info: &FrameInfo,
    ) -> Result<(), DropReason> {
        let client = self.conns.get(id).original_key();
        let stream = self.conns.stream_mut(id).ok_or(DropReason::NoConnection)?;
        synproxy::ack_from_synack(buf, info, &client, stream)
    }

    /// Connection `id`'s SYN went to the real; `cookie_isn` was the director's ISN.
    pub(super) fn syn_proxy_sent(&mut self, id: ConnId, cookie_isn: u32) {
        if let Some(s) = self.conns.stream_mut(id) {
            synproxy::sent_syn(s, cookie_isn);
        }
    }
}
