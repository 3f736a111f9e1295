//! What a master's worker sends to the backups (`[ha.sync]`), at its millisecond tick,
//! driven by change as IPVS's sync daemon is rather than by walking the whole table:
//!
//! 1. **Changes.** The forwarding path notes each connection it makes and each TCP
//!    state change in a fixed ring ([`ChangeLog`]); the tick sends a record of each
//!    (a new connection's persistence template first), at most [`CHANGES_PER_TICK`].
//!    Expiries go as they happen (`send_expiry`).
//! 2. **Bulk pass.** A walk over every template and connection, [`BULK_SLOTS_PER_TICK`]
//!    slots a tick, when this director becomes master and when a backup asks for it
//!    (a request message: a backup that just took that role): a backup that joins late
//!    learns everything.
//! 3. **Refresh pass.** A walk paced so that it covers the table once every `[ha.sync]
//!    refresh`, sending each entry again: a backup's timers follow connections that
//!    live on without changing state, and a lost message costs at most one period.
//!
//! Passes hold where they are while the queue to the control core is more than half
//! full (changes keep the other half), so a pass over a big table takes as long as the
//! control core takes to send it and never skips. A SYN-proxied connection still
//! waiting for its real is never sent: it goes when the real answered. Nothing here
//! allocates; the work per tick is bounded by the constants above and the refresh pace.

use std::net::SocketAddr;

use rvs_conntrack::{Conn, ConnId, StreamAdjust, TcpState, Template};

use super::sync_walk::SlotWalk;
use super::Worker;
use crate::ha::change_log::ChangeLog;
use crate::ha::sync_wire::{RecordKind, SyncRecord};
use crate::ha::{HaLink, SYNC_WALK_RESERVE};
use crate::service::Services;
use rvs_packet::packet::PacketBuf;

/// Most changes a tick sends.
pub const CHANGES_PER_TICK: usize = 2048;
/// Table slots a bulk pass visits per tick.
pub const BULK_SLOTS_PER_TICK: usize = 2048;
/// Most table slots a refresh pass visits per tick (however late the tick).
const REFRESH_MAX_SLOTS_PER_TICK: usize = 4096;
/// Longest gap between two ticks a refresh pass makes up for.
const REFRESH_CATCH_UP_MS: u64 = 100;

/// A master's worker's sync state (see the module's documentation).
#[derive(Debug, Default)]
pub(super) struct SyncSender {
    /// This worker is master under `[ha.sync]`: it notes and sends changes.
    recording: bool,
    changes: ChangeLog,
    /// The bulk pass under way.
    bulk: Option<SlotWalk>,
    /// The link's count of bulk requests when the last bulk pass started.
    bulk_seen: u64,
    refresh: SlotWalk,
    /// When the refresh pass last stepped.
    refresh_at_ms: Option<u64>,
    /// Slot-milliseconds the refresh pass has earned and not yet spent (a slot costs
    /// the refresh period): it visits slots at exactly its pace, however small.
    refresh_credit: u64,
}

impl SyncSender {
    /// Whether the forwarding path notes changes.
    #[inline]
    pub(super) fn recording(&self) -> bool {
        self.recording
    }

    /// The forwarding path: connection `id` was made (`new`) or changed state.
    #[inline]
    pub(super) fn note(&mut self, id: ConnId, new: bool) {
        self.changes.note(id, new);
    }

    /// A role change: nothing noted in the old role is sent; a new master (`master`:
    /// serving under `[ha.sync]`) starts with a bulk pass, `bulk_seen` being the link's
    /// bulk requests now. Allocates nothing.
    pub(super) fn set_role(&mut self, master: bool, bulk_seen: u64) {
        self.recording = master;
        self.changes.clear();
        self.bulk = master.then(SlotWalk::default);
        self.bulk_seen = bulk_seen;
        self.refresh = SlotWalk::default();
        self.refresh_at_ms = None;
        self.refresh_credit = 0;
    }
}

impl<B: PacketBuf> Worker<B> {
    /// A master's tick: changes, then the bulk pass, then the refresh pass.
    pub(super) fn sync_send(&mut self, link: &HaLink, now_ms: u64) {
        link.count_records_dropped(self.sync.changes.take_lost());
        self.send_changes(link, now_ms);
        let requests = link.bulk_requests();
        if self.sync.bulk.is_none() && requests != self.sync.bulk_seen {
            self.sync.bulk = Some(SlotWalk::default());
            self.sync.bulk_seen = requests;
        }
        if let Some(mut walk) = self.sync.bulk {
            let done = self.walk_step(&mut walk, BULK_SLOTS_PER_TICK, link, now_ms);
            self.sync.bulk = (!done).then_some(walk);
        }
        let slots = self.refresh_slots(link, now_ms);
        let mut walk = self.sync.refresh;
        if self.walk_step(&mut walk, slots, link, now_ms) {
            walk = SlotWalk::default();
        }
        self.sync.refresh = walk;
    }

    /// Sends the noted changes, oldest first, while the queue has room.
    fn send_changes(&mut self, link: &HaLink, now_ms: u64) {
        for _ in 0..CHANGES_PER_TICK {
            let Some(change) = self.sync.changes.peek() else {
                return;
            };
            if let Some(c) = self.conns.try_get(change.id).filter(ready_to_sync) {
                if change.new {
                    let template = c.template.and_then(|k| self.conns.template(&k));
                    let record =
                        template.and_then(|t| template_record(&self.snap.services, t, now_ms));
                    if record.is_some_and(|r| !link.offer_record(r)) {
                        return;
                    }
                }
                if !link.offer_record(SyncRecord::of_conn(&c, now_ms)) {
                    return;
                }
            }
            self.sync.changes.pop();
        }
    }

    /// Slots the refresh pass visits now: its share of the table for the time since
    /// its last step, so that it covers the table once every `refresh`.
    fn refresh_slots(&mut self, link: &HaLink, now_ms: u64) -> usize {
        let sync = &mut self.sync;
        let last = sync.refresh_at_ms.replace(now_ms).unwrap_or(now_ms);
        let elapsed = now_ms.saturating_sub(last).min(REFRESH_CATCH_UP_MS);
        let period_ms = u64::try_from(link.sync_refresh().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let slots = (self.conns.capacity() + self.conns.template_capacity()) as u64;
        sync.refresh_credit += slots * elapsed;
        let due = (sync.refresh_credit / period_ms).min(REFRESH_MAX_SLOTS_PER_TICK as u64);
        sync.refresh_credit -= due * period_ms;
        // A pass that cannot keep its pace (a table too big for the period) goes as
        // fast as it may, without a debt.
        sync.refresh_credit = sync.refresh_credit.min(period_ms);
        due as usize
    }

    /// One step of a pass over at most `slots` slots; true when the pass is over.
    /// Records are offered only while the queue keeps [`SYNC_WALK_RESERVE`] free.
    fn walk_step(&self, walk: &mut SlotWalk, slots: usize, link: &HaLink, now_ms: u64) -> bool {
        let room = || link.record_room() > SYNC_WALK_RESERVE;
        let services = &self.snap.services;
        walk.step(
            &self.conns,
            slots,
            |t| match template_record(services, t, now_ms) {
                Some(r) => room() && link.offer_record(r),
                None => true,
            },
            |c| !ready_to_sync(c) || (room() && link.offer_record(SyncRecord::of_conn(c, now_ms))),
        )
    }
}

/// False for a connection a backup could not carry on with yet: a SYN-proxied one
/// whose real has not answered (its sequence shift is still unknown, and the client's
/// held segments stay on this director). It is sent once the real answered.
fn ready_to_sync(c: &Conn) -> bool {
    !crate::synproxy::waiting(&c.stream)
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
