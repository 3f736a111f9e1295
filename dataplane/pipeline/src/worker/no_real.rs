//! A packet that would open a connection to a service with no usable real: answered as
//! IPVS answers it (`ip_vs_leave` in the Linux kernel's
//! `net/netfilter/ipvs/ip_vs_core.c`: ICMP port unreachable, ICMPv6 port unreachable for
//! IPv6, for TCP and UDP alike), or with a TCP RST, or not at all, as
//! `[behaviour] no_real` says; the packet itself is counted as dropped (`no_real`). The
//! ACK that completes a SYN-proxied handshake when no real is left gets a RST whatever
//! the answer but `drop`: its client holds an established connection, which ICMP would
//! not end.
//!
//! Answers come from a per-worker token bucket (no lock, no allocation, no system
//! call), so a flood toward a service without reals cannot become a flood of answers;
//! what the bucket withholds is counted (`no_real_limited`). Nothing answers toward a
//! source no host can have (martian, broadcast, multicast: [`crate::connect::martian`]).
//! Each such packet is counted against its service too ([`crate::traffic::Traffic`]'s
//! `no_real`), from which the control core logs "no destination available".

use rvs_config::NoRealAnswer;
use rvs_packet::drop::DropReason;
use rvs_packet::duties;
use rvs_packet::packet::PacketBuf;
use rvs_packet::wire::{FrameInfo, IpInfo, L4Info};

use super::{Io, Worker};

/// Answers one worker may send per second at length (the Linux kernel's default
/// `icmp_msgs_per_sec`).
pub const NO_REAL_ANSWERS_PER_SECOND: u64 = 1000;

/// Answers one worker may send at once after a quiet spell (the kernel's default
/// `icmp_msgs_burst`).
pub const NO_REAL_ANSWER_BURST: u64 = 50;

/// A token bucket of [`NO_REAL_ANSWER_BURST`] answers, refilled at
/// [`NO_REAL_ANSWERS_PER_SECOND`], on the worker's millisecond clock. Tokens are kept in
/// thousandths, so each millisecond adds the per-second rate exactly.
#[derive(Clone, Copy, Debug)]
pub(super) struct AnswerBucket {
    /// Thousandths of an answer.
    milli: u64,
    /// When it was last filled.
    at_ms: u64,
}

impl Default for AnswerBucket {
    /// A full bucket.
    fn default() -> Self {
        Self {
            milli: NO_REAL_ANSWER_BURST * 1000,
            at_ms: 0,
        }
    }
}

impl AnswerBucket {
    /// Take one answer at `now_ms`, if the bucket holds one.
    pub(super) fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        self.at_ms = self.at_ms.max(now_ms);
        let refill = elapsed.saturating_mul(NO_REAL_ANSWERS_PER_SECOND);
        self.milli = self
            .milli
            .saturating_add(refill)
            .min(NO_REAL_ANSWER_BURST * 1000);
        let ok = self.milli >= 1000;
        if ok {
            self.milli -= 1000;
        }
        ok
    }
}

impl<B: PacketBuf> Worker<B> {
    /// Answer a packet that no real of its service can take (see the module
    /// documentation); returns [`DropReason::NoReal`] for the packet in every case.
    pub(super) fn no_real<I: Io<Buf = B>>(
        &mut self,
        buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        self.refuse(buf, info, ip, now_ms, io, false)
    }

    /// [`no_real`](Self::no_real) for the ACK that completes a SYN-proxied handshake
    /// (its cookie is good) when no real is left: the client holds an established
    /// connection, which ICMP would not end, so it gets a RST unless `no_real` is `drop`.
    pub(super) fn no_real_after_cookie<I: Io<Buf = B>>(
        &mut self,
        buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        self.refuse(buf, info, ip, now_ms, io, true)
    }

    /// Count, and answer within the bucket: a RST when `no_real` says so or `rst`, else
    /// ICMP; [`DropReason::NoReal`] in every case.
    fn refuse<I: Io<Buf = B>>(
        &mut self,
        mut buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        now_ms: u64,
        io: &mut I,
        rst: bool,
    ) -> Result<(), DropReason> {
        if let Some(key) = ip.conn_key() {
            let services = &self.snap.services;
            if let Some((_, svc)) = services.resolve(key.proto, key.src, key.dst, key.dport) {
                self.traffic.count_no_real(svc.id);
            }
        }
        let answer = self.snap.behaviour.no_real;
        if answer == NoRealAnswer::Drop || crate::connect::martian(ip.src) {
            return Err(DropReason::NoReal);
        }
        let Some(hit) = self.snap.routes.lookup(ip.src) else {
            return Err(DropReason::NoReal);
        };
        if !self.no_real_bucket.take(now_ms) {
            self.counters.no_real_limited += 1;
            return Err(DropReason::NoReal);
        }
        let rst = (rst || answer == NoRealAnswer::Rst) && matches!(ip.l4, L4Info::Tcp { .. });
        let built = if rst {
            duties::reset_reply(&mut buf, info)
        } else {
            duties::port_unreachable_reply(&mut buf, info)
        };
        if built.is_ok() && self.transmit(hit, buf, now_ms, io).is_ok() {
            self.counters.no_real_answered += 1;
        }
        Err(DropReason::NoReal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = AnswerBucket::default();
        let t = 5_000;
        let burst = (0..200).filter(|_| b.take(t)).count() as u64;
        assert_eq!(burst, NO_REAL_ANSWER_BURST);
        // One second later: one second's worth (capped by the burst), no more.
        let later = (0..5000).filter(|_| b.take(t + 1000)).count() as u64;
        assert_eq!(later, NO_REAL_ANSWER_BURST.min(NO_REAL_ANSWERS_PER_SECOND));
        // At the rate: one answer per millisecond (1000 a second) goes through.
        let mut sent = 0;
        for ms in 1..=2000 {
            sent += u64::from(b.take(t + 1000 + ms));
            sent += u64::from(b.take(t + 1000 + ms));
        }
        assert_eq!(sent, 2 * NO_REAL_ANSWERS_PER_SECOND);
        // A clock that steps back takes nothing and breaks nothing.
        assert!(!b.take(t));
    }
}
