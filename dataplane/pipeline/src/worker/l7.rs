//! The worker's side of content switching ([`crate::l7`]): a client segment toward an
//! `l7` service that matches no connection is the cookie ACK of a new waiting
//! connection or a segment of one; once the bytes held decide, the connection is opened
//! toward a real of the chosen group and its segments are held for the real's
//! handshake; bytes that cannot decide, and connections past `l7_timeout`, are reset.

use std::sync::Arc;

use rvs_conntrack::{ConnKey, Direction, TcpFlags};
use rvs_l7::{Refusal, Verdict};
use rvs_packet::drop::DropReason;
use rvs_packet::duties;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite::tcp_edit::Segment;
use rvs_packet::wire::{parse_frame, FrameInfo};

use super::{syn_proxy, Carried, Io, Worker};
use crate::connect::{Connected, PacketTuple};
use crate::l7::waiting::{self, Waiting};
use rvs_config::PortId;

/// Waiting slots looked at per tick for their deadline.
const SWEEP_PER_TICK: usize = 16;

impl<B: PacketBuf> Worker<B> {
    /// A client segment (not a SYN) toward content-switching service `key` names that
    /// matched no connection: a cookie ACK (or the first data segment, when that ACK was
    /// lost) starts a waiting connection, a segment with data joins one, a RST ends one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn l7_segment<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        buf: B,
        info: &FrameInfo,
        key: &ConnKey,
        flags: TcpFlags,
        timeout_ms: u64,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let Some(slot) = self.waiting.find(key) else {
            if flags.rst {
                return Err(DropReason::NoConnection);
            }
            let ack = crate::synproxy::check_ack(buf.data(), info, key, &self.cookie_key, now_ms)?;
            let w = Waiting::new(*key, port, ack, now_ms + timeout_ms, buf);
            let slot = match self.waiting.insert(w) {
                Ok(slot) => slot,
                Err(w) => {
                    // Every place is taken: the connection waiting longest gives way, so
                    // slow clients cannot keep new ones out.
                    if let Some(old) = self.waiting.take_oldest() {
                        self.counters.drop(DropReason::L7WaitingFull);
                        self.l7_reset(old, now_ms, io);
                    }
                    self.waiting
                        .insert(w)
                        .map_err(|_| DropReason::L7WaitingFull)?
                }
            };
            self.counters.syn_cookies_accepted += 1;
            return self.l7_try(slot, now_ms, io);
        };
        if flags.rst {
            // The client gave up: its segments go with it.
            self.waiting.take(slot);
            return Err(DropReason::NoConnection);
        }
        let seg = Segment::of(buf.data(), info)?;
        if !crate::synproxy::carries_data(buf.data(), &seg) {
            return Err(DropReason::SynproxyWaiting);
        }
        let held = self.l7_held(slot);
        let w = self.waiting.get_mut(slot).ok_or(DropReason::NoConnection)?;
        match w.hold(buf, held) {
            Ok(()) => self.l7_try(slot, now_ms, io),
            Err(Ok(_)) => Err(DropReason::SynproxyWaiting),
            Err(Err(_)) => self.l7_refuse(slot, DropReason::L7Oversized, now_ms, io),
        }
    }

    /// The stream bytes connection `slot` holds put together in the worker's scratch
    /// space; how many.
    fn l7_held(&mut self, slot: usize) -> usize {
        match self.waiting.get_mut(slot) {
            Some(w) => waiting::assemble(&w.frames, w.ack.client_isn, &mut self.l7_scratch),
            None => 0,
        }
    }

    /// Whether the bytes connection `slot` holds decide, and what follows.
    fn l7_try<I: Io<Buf = B>>(
        &mut self,
        slot: usize,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let n = self.l7_held(slot);
        let Some(w) = self.waiting.get_mut(slot) else {
            return Err(DropReason::NoConnection);
        };
        let (full, finished, key) = (w.full(), w.finished(), w.key);
        let snap = Arc::clone(&self.snap);
        let Some(plan) = snap
            .services
            .find(key.proto, key.dst, key.dport)
            .and_then(|(_, s)| s.l7.as_ref())
        else {
            // A reload took content switching (or the service) away.
            self.waiting.take(slot);
            return Err(DropReason::NoService);
        };
        match plan.protocol.parse(&self.l7_scratch[..n], waiting::LIMIT) {
            Verdict::NeedMore if full => self.l7_refuse(slot, DropReason::L7Oversized, now_ms, io),
            Verdict::NeedMore if finished => {
                self.l7_refuse(slot, DropReason::L7Malformed, now_ms, io)
            }
            Verdict::NeedMore => Ok(()),
            Verdict::Refused(Refusal::Oversized) => {
                self.l7_refuse(slot, DropReason::L7Oversized, now_ms, io)
            }
            Verdict::Refused(_) => self.l7_refuse(slot, DropReason::L7Malformed, now_ms, io),
            Verdict::Decided(d) => {
                let (rule, group) = plan.choose(&d);
                if let Some(n) = self.rule_matches.get_mut(plan.counter(rule)) {
                    *n += 1;
                }
                match rule {
                    Some(_) => self.counters.l7_by_rule += 1,
                    None => self.counters.l7_by_default += 1,
                }
                self.l7_open(slot, group, now_ms, io)
            }
        }
    }

    /// End waiting connection `slot` with a RST to its client, for `reason`.
    fn l7_refuse<I: Io<Buf = B>>(
        &mut self,
        slot: usize,
        reason: DropReason,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        if let Some(w) = self.waiting.take(slot) {
            self.l7_reset(w, now_ms, io);
        }
        Err(reason)
    }

    /// Answer a waiting connection's first segment with a RST (its cookie ACK's
    /// acknowledgment is the director's next sequence number); its other segments are
    /// freed.
    fn l7_reset<I: Io<Buf = B>>(&mut self, w: Waiting<B>, now_ms: u64, io: &mut I) {
        let Some(mut first) = w.frames.into_iter().flatten().next() else {
            return;
        };
        let Ok(info) = parse_frame(first.data()) else {
            return;
        };
        let Some(hit) = self.snap.routes.lookup(w.key.src) else {
            return;
        };
        if duties::reset_reply(&mut first, &info).is_ok()
            && self.transmit(hit, first, now_ms, io).is_ok()
        {
            self.counters.l7_resets += 1;
        }
    }

    /// Open waiting connection `slot` toward a real of `group`: its SYN (made from its
    /// cookie ACK) goes to the real, its segments with data are held for the real's
    /// answer.
    fn l7_open<I: Io<Buf = B>>(
        &mut self,
        slot: usize,
        group: usize,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        let Some(mut w) = self.waiting.take(slot) else {
            return Err(DropReason::NoConnection);
        };
        let (key, ack) = (w.key, w.ack);
        // The SYN: the cookie ACK itself when it has no data, else a copy of it.
        let mut syn = match w.frames[0].take() {
            Some(first) if !ack.carries_data => first,
            Some(first) => {
                let copy = syn_proxy::copy_frame(&first, io);
                w.frames[0] = Some(first);
                copy.ok_or(DropReason::NoBuffer)?
            }
            None => return Err(DropReason::NoConnection),
        };
        let info = parse_frame(syn.data())?;
        crate::synproxy::syn_from_ack(&mut syn, &info, &key, &ack)?;
        let info = parse_frame(syn.data())?;
        let flags = TcpFlags {
            syn: true,
            ..TcpFlags::default()
        };
        let tuple = PacketTuple {
            key,
            flags,
            hash: self.conns.hash(&key),
        };
        let mut ctx = self.connect_ctx();
        let id = match ctx.open_in_group(&tuple, now_ms, group) {
            Ok(Connected::New(id)) => id,
            Ok(_) => return Err(DropReason::NoConnection),
            Err(reason) => {
                // The client holds an established connection: a RST ends it.
                self.l7_reset(w, now_ms, io);
                return Err(reason);
            }
        };
        self.counters.conns_created += 1;
        let dir = Direction::Original;
        self.conns.on_packet(id, dir, flags, syn.len(), now_ms);
        if self.sync.recording() {
            self.sync.note(id, true);
        }
        let conn = self.conns.view(id);
        self.traffic
            .count(conn.service(), conn.dest(), dir, syn.len(), true);
        let carried = Carried::Segment {
            in_port: w.port,
            id,
        };
        if let Err(reason) = self.forward(carried, syn, &info, id, dir, now_ms, io) {
            self.unmake(id);
            self.l7_reset(w, now_ms, io);
            return Err(reason);
        }
        self.syn_proxy_sent(id, &ack);
        for buf in w.frames.into_iter().flatten() {
            if let Err(reason) = self.hold_up_to(id, ack.cookie, waiting::FRAMES, w.port, buf) {
                self.counters.drop(reason);
            }
        }
        Ok(())
    }

    /// Reset the waiting connections past their deadline among a few slots.
    pub(super) fn sweep_waiting<I: Io<Buf = B>>(&mut self, now_ms: u64, io: &mut I) {
        let mut expired: [Option<Waiting<B>>; SWEEP_PER_TICK] = Default::default();
        let mut n = 0;
        self.waiting.sweep(now_ms, SWEEP_PER_TICK, |w| {
            expired[n] = Some(w);
            n += 1;
        });
        for w in expired.into_iter().flatten() {
            self.counters.drop(DropReason::L7Timeout);
            self.l7_reset(w, now_ms, io);
        }
    }
}
