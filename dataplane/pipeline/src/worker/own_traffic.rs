//! The director's own traffic: ARP and neighbour discovery, echo, the ICMP errors it
//! sends itself, VRRP handed to the control core, and the kernel exception path for its
//! own addresses.

use std::net::IpAddr;
use std::sync::Arc;

use crate::snapshot::Snapshot;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::duties;
use rvs_packet::packet::PacketBuf;
use rvs_packet::rewrite;
use rvs_packet::wire::fill_l4_checksum;
use rvs_packet::wire::{ethertype, icmpv6, FrameInfo, IpInfo, IpVersion, L4Info, MacAddr};

use super::{Io, Worker};

impl<B: PacketBuf> Worker<B> {
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

    /// Hand a frame for one of the director's own addresses that rvs does not handle
    /// itself to the kernel mirror of the port it came in on (the exception path), within
    /// the worker's budget; `otherwise` is the drop when the port has no mirror.
    pub(super) fn hand_to_kernel<I: Io<Buf = B>>(
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
    pub(super) fn non_ip<I: Io<Buf = B>>(
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
    pub(super) fn local_ip<I: Io<Buf = B>>(
        &mut self,
        port: PortId,
        mut buf: B,
        info: &FrameInfo,
        ip: &IpInfo,
        now_ms: u64,
        io: &mut I,
    ) -> Result<(), DropReason> {
        if ip.protocol == rvs_packet::wire::vrrp::PROTOCOL && self.ha.is_some() {
            return self.take_advert(port, &buf, ip, now_ms);
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
    pub(super) fn solicit<I: Io<Buf = B>>(&mut self, port: PortId, next_hop: IpAddr, io: &mut I) {
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

    /// Answer a packet that outgrew the path with "fragmentation needed" / "packet too
    /// big" carrying `mtu`, toward its sender, within the worker's ICMP budget. The packet
    /// itself is counted as dropped by the caller.
    pub(super) fn tell_too_big<I: Io<Buf = B>>(
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
pub(super) struct Budget<const LIMIT: u32> {
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
pub(super) type IcmpBudget = Budget<ICMP_ERRORS_PER_SECOND>;

/// The worker's exception-path budget.
pub(super) type KernelBudget = Budget<KERNEL_FRAMES_PER_SECOND>;
