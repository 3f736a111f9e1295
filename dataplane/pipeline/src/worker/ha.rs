//! A worker's part in high availability: the `[ha]` link (serving or not, the frames
//! worker 0 sends for the control core's VRRP) and connection sync (`[ha.sync]`), run
//! at its millisecond tick.
//!
//! - **Master**: send new connections, state changes and expiries as they happen, a
//!   full pass for a backup that asks, and every entry again once per `refresh`
//!   (`sync_send`).
//! - **Backup**: install the records the control core queued for this worker (it owns
//!   them: the same worker count and port scheme mean the same owner), each checked
//!   against this director's configuration first (`sync_install`). Persistence
//!   templates go before the connections that use them, so that connections link to
//!   theirs; a connection the master removes is removed at once (an expiry record).
//!
//! Each change of role starts afresh: nothing noted as master is sent later.

use std::net::IpAddr;
use std::sync::Arc;

use rvs_conntrack::Conn;

use super::{Io, Worker};
use crate::ha::HaLink;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;
use rvs_packet::wire::parse_frame;

/// Most VRRP frames worker 0 sends per tick (a takeover's announcements spread over a
/// few milliseconds).
const HA_FRAMES_PER_TICK: usize = 64;
/// Records a backup's worker installs per tick.
const INSTALLS_PER_TICK: usize = 512;

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
        self.intake = super::ha_intake::HaIntake::new(link.advert_limit());
        self.set_sync_role(&link);
        self.ha = Some(link);
    }

    /// Takes up the role `link` gives (at attachment and at each change of role).
    pub(super) fn set_sync_role(&mut self, link: &HaLink) {
        let master = self.serving && link.sync_target().is_some();
        self.sync.set_role(master, link.bulk_requests());
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

    /// Connection sync at the tick: send while serving, install while not.
    pub(super) fn sync_tick(&mut self, link: &HaLink, now_ms: u64) {
        if link.sync_target().is_none() {
            return;
        }
        if self.serving {
            self.sync_send(link, now_ms);
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
}
