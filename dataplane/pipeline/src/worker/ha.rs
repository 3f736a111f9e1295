//! A worker's part in high availability: the `[ha]` link (serving or not, the frames
//! worker 0 sends for the control core's VRRP) and connection sync (`[ha.sync]`), run
//! at its millisecond tick.
//!
//! - **Master**: walk the connection table a bounded number of slots per tick and queue
//!   a record of each live connection for the control core. A pass over the table
//!   starts at most every [`SYNC_PERIOD_MS`]: every connection is sent again each
//!   pass, with its state and the time it has left, so a backup learns new
//!   connections, state changes and timer refreshes within a pass, a lost message
//!   costs only until the next pass, and a backup that joins late gets everything
//!   (the bulk transfer) with the next pass. While the queue to the control core is
//!   full the walk waits where it is: a pass over a big table takes as long as the
//!   control core takes to send it (about 30 000 records a second), never skips.
//! - **Backup**: install the records the control core queued for this worker (it owns
//!   them: the same worker count and port scheme mean the same owner), each checked
//!   against this director's configuration first (`sync_install`). Persistence
//!   templates go first in each pass, so that connections link to theirs; a connection
//!   the master expires is removed at once (an expiry record, sent from the worker's
//!   expiry).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rvs_conntrack::{Conn, StreamAdjust, TcpState, Template};

use super::sync_walk::SlotWalk;
use super::{Io, Worker};
use crate::ha::sync_wire::{RecordKind, SyncRecord};
use crate::ha::HaLink;
use crate::service::Services;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::wire::{parse_frame, IpInfo};

/// Most VRRP frames worker 0 sends per tick (a takeover's announcements spread over a
/// few milliseconds).
const HA_FRAMES_PER_TICK: usize = 64;
/// Shortest time between the starts of two passes over the table.
pub const SYNC_PERIOD_MS: u64 = 250;
/// Table slots a master's worker visits per tick.
const SLOTS_PER_TICK: usize = 512;
/// Records a backup's worker installs per tick.
const INSTALLS_PER_TICK: usize = 512;

/// Where a master's worker is in its walk over the table.
#[derive(Debug, Default)]
pub(super) struct SyncScan {
    /// A pass is under way.
    in_pass: bool,
    /// Where the pass is: templates first, so that connections find theirs.
    walk: SlotWalk,
    /// When the next pass may start.
    next_pass_ms: u64,
}

/// Where a master's worker sends the expiry of a connection: the link, while it serves
/// under `[ha.sync]`.
pub(super) fn expiry_sink(ha: &Option<std::sync::Arc<HaLink>>, serving: bool) -> Option<&HaLink> {
    ha.as_deref()
        .filter(|l| serving && l.sync_target().is_some())
}

/// Tell the backups that `c` is gone (see [`HaLink::push_expiry`]).
pub(super) fn send_expiry(sink: Option<&HaLink>, c: &Conn) {
    if let Some(link) = sink {
        link.push_expiry(c);
    }
}

impl<B: PacketBuf> Worker<B> {
    /// Take part in high availability through `link`: serve the virtual router's
    /// addresses only while the link says so, hand VRRP frames to the control core, and
    /// (worker 0) send the frames it queues.
    pub fn attach_ha(&mut self, link: Arc<HaLink>) {
        self.serving = link.serving();
        self.ha = Some(link);
    }

    /// True while a backup under `[ha]` must drop a packet to `dst`: it forwards nothing
    /// and serves only its own fixed addresses.
    #[inline]
    pub(super) fn withheld(&self, dst: IpAddr) -> bool {
        !self.serving && !self.snap.own_fixed(dst)
    }

    /// Worker 0 sends what the control core queued for VRRP (a bounded number per tick).
    pub(super) fn send_ha_frames<I: Io<Buf = B>>(&mut self, now_ms: u64, io: &mut I) {
        for _ in 0..HA_FRAMES_PER_TICK {
            let Some(frame) = self.ha.as_ref().and_then(|l| l.next_to_send()) else {
                return;
            };
            let Some(mut buf) = io.alloc() else {
                self.counters.drop(DropReason::NoBuffer);
                return;
            };
            if buf.append(frame.data().len()).is_err() {
                self.counters.drop(DropReason::NoBuffer);
                continue;
            }
            buf.data_mut().copy_from_slice(frame.data());
            if !frame.routed() {
                self.send(frame.port(), buf, io);
                continue;
            }
            let hit = parse_frame(buf.data())
                .ok()
                .and_then(|info| info.ip)
                .and_then(|ip| self.snap.routes.lookup(ip.dst));
            let sent = match hit {
                Some(hit) => self.transmit(hit, buf, now_ms, io),
                None => Err(DropReason::NoRoute),
            };
            if let Err(reason) = sent {
                self.counters.drop(reason);
            }
        }
    }

    /// True for connection sync messages to this director (`[ha.sync]`).
    #[inline]
    pub(super) fn is_sync(&self, dst: IpAddr, dport: u16) -> bool {
        self.ha
            .as_ref()
            .is_some_and(|l| l.sync_target() == Some((dst, dport)))
    }

    /// Hands a sync message to the control core, if it came in on the sync port from a
    /// peer with a valid checksum ([`HaLink::deliver_sync`]).
    pub(super) fn take_sync(&self, port: PortId, buf: &B, ip: &IpInfo) -> Result<(), DropReason> {
        match &self.ha {
            Some(link) => link.deliver_sync(port, buf.data(), ip),
            None => Err(DropReason::NotForUs),
        }
    }

    /// Connection sync at the tick: send while serving, install while not.
    pub(super) fn sync_tick(&mut self, link: &HaLink, now_ms: u64) {
        if link.sync_target().is_none() {
            return;
        }
        if self.serving {
            self.sync_scan(link, now_ms);
        } else {
            for _ in 0..INSTALLS_PER_TICK {
                let Some(r) = link.take_install(self.id) else {
                    break;
                };
                let result = self.install(&r, now_ms, link);
                link.count_install(result);
            }
        }
    }

    fn sync_scan(&mut self, link: &HaLink, now_ms: u64) {
        let scan = &mut self.sync;
        if !scan.in_pass {
            if now_ms < scan.next_pass_ms {
                return;
            }
            *scan = SyncScan {
                in_pass: true,
                next_pass_ms: now_ms + SYNC_PERIOD_MS,
                ..SyncScan::default()
            };
        }
        // A full queue holds the walk where it is (the control core sends at its own
        // pace): every entry gets its turn, however big the table.
        let services = &self.snap.services;
        let done = scan.walk.step(
            &self.conns,
            SLOTS_PER_TICK,
            |t| template_record(services, t, now_ms).map_or(true, |r| link.offer_record(r)),
            |c| !ready_to_sync(c) || link.offer_record(SyncRecord::of_conn(c, now_ms)),
        );
        if done {
            scan.in_pass = false;
        }
    }
}

/// The record of a persistence template: its service's VIP and protocol, the masked
/// client and port as the client endpoint, its real, and its time left: the whole
/// persistence timeout while connections hold it (it expires only that long after the
/// last one goes), else what remains of it. `None` when its service or real is gone.
fn template_record(services: &Services, t: &Template, now_ms: u64) -> Option<SyncRecord> {
    let svc = services.list().iter().find(|s| s.id == t.key.service)?;
    let at = svc.real_index(t.dest)?;
    let real = &svc.sched.reals()[at];
    Some(SyncRecord {
        kind: RecordKind::Template,
        proto: svc.proto,
        mode: svc.modes[at],
        state: TcpState::None,
        timeout_ms: template_time_left(t, now_ms),
        client: SocketAddr::new(t.key.client, t.key.port),
        vip: svc.vip,
        real: SocketAddr::new(real.addr, real.port),
        local: None,
        template: None,
        stream: StreamAdjust::default(),
    })
}

/// What a template has left, in milliseconds, as a backup should count it.
fn template_time_left(t: &Template, now_ms: u64) -> u32 {
    let left = if t.conns > 0 {
        u64::from(t.timeout_s) * 1000
    } else {
        t.expires_ms.saturating_sub(now_ms)
    };
    u32::try_from(left).unwrap_or(u32::MAX)
}

/// False for a connection a backup could not carry on with yet: a SYN-proxied one
/// whose real has not answered (its sequence shift is still unknown, and the client's
/// held segments stay on this director). It is sent once the real answered.
fn ready_to_sync(c: &Conn) -> bool {
    !crate::synproxy::waiting(&c.stream)
}
