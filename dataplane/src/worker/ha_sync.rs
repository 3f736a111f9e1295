//! A worker's part in connection sync (`[ha.sync]`), run at its millisecond tick.
//!
//! - **Master**: walk the connection table a bounded number of slots per tick and queue
//!   a record of each live connection for the control core. A pass over the table
//!   starts at most every [`SYNC_PERIOD_MS`]: every connection is sent again each
//!   period, with its state and the time it has left, so a backup learns new
//!   connections, state changes and timer refreshes within a period, a lost message
//!   costs only until the next pass, and a backup that joins late gets everything
//!   (the bulk transfer) with the next pass.
//! - **Backup**: install the records the control core queued for this worker (it owns
//!   them: the same worker count means the same owner): without scheduling, the real
//!   found by its address, the state and expiry as the master had them; a FULLNAT
//!   entry's local port is held out of this worker's pool.

use std::net::SocketAddr;

use rvs_conntrack::{Conn, ConnKey, NewConn, TemplateKey};

use super::Worker;
use crate::ha::sync_wire::{RecordKind, SyncRecord};
use crate::ha::HaLink;
use crate::packet::PacketBuf;

/// Shortest time between the starts of two passes over the table.
pub const SYNC_PERIOD_MS: u64 = 250;
/// Table slots a master's worker visits per tick.
const SLOTS_PER_TICK: usize = 512;
/// Records a backup's worker installs per tick.
const INSTALLS_PER_TICK: usize = 512;

/// Where a master's worker is in its walk over the table.
#[derive(Debug, Default)]
pub(super) struct SyncScan {
    /// The next slot to visit.
    cursor: usize,
    /// When the next pass may start (while `cursor` is 0).
    next_pass_ms: u64,
}

/// The record of a live connection at `now_ms`.
fn record(c: &Conn, now_ms: u64) -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: c.proto,
        mode: c.mode,
        state: c.state,
        timeout_ms: u32::try_from(c.expires_ms.saturating_sub(now_ms)).unwrap_or(u32::MAX),
        client: c.client,
        vip: c.vip,
        real: c.real,
        local: c.local,
        template: c.template.map(|t| SocketAddr::new(t.client, t.port)),
    }
}

impl<B: PacketBuf> Worker<B> {
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
                let installed = self.install(&r, now_ms);
                link.count_install(installed);
            }
        }
    }

    fn sync_scan(&mut self, link: &HaLink, now_ms: u64) {
        let scan = &mut self.sync;
        if scan.cursor == 0 && now_ms < scan.next_pass_ms {
            return;
        }
        if scan.cursor == 0 {
            scan.next_pass_ms = now_ms + SYNC_PERIOD_MS;
        }
        let range = scan.cursor..scan.cursor + SLOTS_PER_TICK;
        for (_, c) in self.conns.iter_slots(range) {
            if !link.push_record(record(c, now_ms)) {
                break;
            }
        }
        scan.cursor += SLOTS_PER_TICK;
        if scan.cursor >= self.conns.capacity() {
            scan.cursor = 0;
        }
    }

    /// Installs (or refreshes, or removes) one synced connection; false when it names
    /// no service or real of ours, or the table is full.
    fn install(&mut self, r: &SyncRecord, now_ms: u64) -> bool {
        let key = ConnKey {
            proto: r.proto,
            src: r.client.ip(),
            sport: r.client.port(),
            dst: r.vip.ip(),
            dport: r.vip.port(),
        };
        let existing = self.conns.lookup(&key).map(|(id, _)| id);
        if r.kind == RecordKind::Expire {
            if let Some(id) = existing {
                self.unmake(id);
            }
            return true;
        }
        let expires = now_ms + u64::from(r.timeout_ms);
        if let Some(id) = existing {
            self.conns.restore(id, r.state, expires);
            return true;
        }
        let Some((_, svc)) = self.snap.services.find(r.proto, r.vip.ip(), r.vip.port()) else {
            return false;
        };
        let reals = svc.sched.reals();
        let Some(at) = reals
            .iter()
            .position(|d| d.addr == r.real.ip() && d.port == r.real.port())
        else {
            return false;
        };
        let conn = NewConn {
            proto: r.proto,
            client: r.client,
            vip: r.vip,
            local: r.local,
            real: r.real,
            mode: svc.modes[at],
            service: svc.id,
            dest: reals[at].id,
            template: r.template.map(|t| TemplateKey {
                service: svc.id,
                client: t.ip(),
                port: t.port(),
            }),
        };
        let Ok(id) = self.conns.insert(conn, now_ms) else {
            return false;
        };
        self.conns.restore(id, r.state, expires);
        if let Some(l) = r.local {
            self.lports.hold(l.ip(), l.port());
        }
        true
    }
}
