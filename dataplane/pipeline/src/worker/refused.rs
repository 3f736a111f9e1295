//! A first packet a service's guard refused ([`crate::guard`]): counted against the
//! service by reason, and, for a TCP SYN (or the ACK that completes a SYN-proxied
//! handshake) under `limit_reset = true`, answered by a RST from the worker's answer
//! budget (a token bucket as for `[behaviour] no_real`, so a refused flood cannot become
//! a flood of answers). Nothing answers toward a martian source.

use rvs_packet::drop::DropReason;
use rvs_packet::duties;
use rvs_packet::packet::PacketBuf;
use rvs_packet::wire::{FrameInfo, IpInfo, L4Info};

use super::{Io, Worker};

impl<B: PacketBuf> Worker<B> {
    /// Count a packet refused for `reason` against its service, and answer it with a
    /// RST when its service says so; returns `reason` for the packet.
    pub(super) fn guard_refused<I: Io<Buf = B>>(
        &mut self,
        mut buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        reason: DropReason,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let Some(key) = ip.conn_key() else {
            return Err(reason);
        };
        let services = &self.snap.services;
        let Some((_, svc)) = services.resolve(key.proto, key.src, key.dst, key.dport) else {
            return Err(reason);
        };
        self.traffic.count_refused(svc.id, reason);
        let tcp = matches!(ip.l4, L4Info::Tcp { .. });
        let flags = ip.tcp_flags();
        if !svc.config.guard.limit_reset || !tcp || flags.rst || crate::connect::martian(ip.src) {
            return Err(reason);
        }
        let Some(hit) = self.snap.routes.lookup(ip.src) else {
            return Err(reason);
        };
        if !self.refusal_bucket.take(now_ms) {
            return Err(reason);
        }
        if duties::reset_reply(&mut buf, info).is_ok()
            && self.transmit(hit, buf, now_ms, io).is_ok()
        {
            self.counters.refused_reset += 1;
        }
        Err(reason)
    }
}
