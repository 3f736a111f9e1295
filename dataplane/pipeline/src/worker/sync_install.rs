//! A backup's worker installs what connection sync queued for it: each record checked
//! against the running configuration first ([`crate::ha::sync_check`]), then the
//! FULLNAT local port held in the pool its address already has (never a pool built for
//! it), then the entry made, refreshed, or replaced (the master moved the client's tuple
//! to another real or local endpoint). A refused record leaves nothing behind, and
//! nothing here allocates: the table, the templates and the held-port sets are
//! preallocated.

use rvs_conntrack::{Conn, ConnKey, Direction, InsertError, NewConn};

use super::Worker;
use crate::ha::refusal::SyncRefusal;
use crate::ha::sync_check;
use crate::ha::sync_wire::{RecordKind, SyncRecord};
use crate::ha::HaLink;
use crate::laddr::HoldError;
use rvs_packet::packet::PacketBuf;

impl<B: PacketBuf> Worker<B> {
    /// Installs, refreshes or removes what `r` says, or says why not (`link` counts the
    /// records whose time left was cut).
    pub(super) fn install(
        &mut self,
        r: &SyncRecord,
        now_ms: u64,
        link: &HaLink,
    ) -> Result<(), SyncRefusal> {
        match r.kind {
            RecordKind::Expire => self.install_expiry(r),
            RecordKind::Template => self.install_template(r, now_ms, link),
            RecordKind::Conn => self.install_conn(r, now_ms, link),
        }
    }

    /// Removes the connection the master expired, when this worker has it with the
    /// record's real and local endpoint; its held local port goes back.
    fn install_expiry(&mut self, r: &SyncRecord) -> Result<(), SyncRefusal> {
        let Some((id, _)) = self.conns.lookup(&original_key(r)) else {
            return Ok(());
        };
        if !same_endpoints(&self.conns.get(id), r) {
            return Err(SyncRefusal::Conflict);
        }
        self.remove_synced(id);
        Ok(())
    }

    /// Removes connection `id`, its held local port back.
    fn remove_synced(&mut self, id: rvs_conntrack::ConnId) {
        if let Some(l) = self.conns.remove(id).and_then(|c| c.local) {
            self.lports.release(l.ip(), l.port());
        }
    }

    /// Installs (or refreshes) one synced connection.
    fn install_conn(
        &mut self,
        r: &SyncRecord,
        now_ms: u64,
        link: &HaLink,
    ) -> Result<(), SyncRefusal> {
        let checked = sync_check::conn(r, &self.snap)?;
        if checked.clamped {
            link.count_clamped();
        }
        let expires = now_ms + u64::from(checked.timeout_ms);
        if let Some((id, _)) = self.conns.lookup(&original_key(r)) {
            if same_endpoints(&self.conns.get(id), r) {
                self.conns.restore(id, r.state, expires);
                self.conns.set_stream(id, &r.stream);
                return Ok(());
            }
            // The master gave the client's tuple to another real or local endpoint (a
            // reused client port): the new connection, checked above, takes the old
            // one's place, whose local port goes back.
            self.supersede(id);
        }
        if let Some(l) = r.local {
            // The master handed this local port out again: an entry here that still
            // has it (its end never reached this director, or it was made while this
            // one was master) is stale, and would refuse the new connection.
            if let Some(stale) = self.local_port_holder(r.proto, l) {
                self.supersede(stale);
            }
            let real = (r.real.ip(), r.real.port());
            self.lports
                .hold(l.ip(), l.port(), real)
                .map_err(|e| match e {
                    HoldError::NoPool => SyncRefusal::LocalAddress,
                    HoldError::NotOurs | HoldError::Held => SyncRefusal::LocalPort,
                })?;
        }
        let conn = NewConn {
            proto: r.proto,
            client: r.client,
            vip: r.vip,
            local: r.local,
            real: r.real,
            mode: r.mode,
            service: checked.service,
            dest: checked.dest,
            template: checked.template,
        };
        let id = match self.conns.insert(conn, now_ms) {
            Ok(id) => id,
            Err(e) => {
                if let Some(l) = r.local {
                    self.lports.release(l.ip(), l.port());
                }
                return Err(match e {
                    InsertError::TableFull => SyncRefusal::TableFull,
                    InsertError::Exists => SyncRefusal::Conflict,
                });
            }
        };
        self.conns.restore(id, r.state, expires);
        self.conns.set_stream(id, &r.stream);
        Ok(())
    }

    /// Removes entry `id`, which a synced connection takes the place of.
    fn supersede(&mut self, id: rvs_conntrack::ConnId) {
        self.remove_synced(id);
        self.counters.sync_superseded += 1;
    }

    /// The entry whose replies come to FULLNAT local endpoint `local`: found by the
    /// reply key of each real of the services that use `local`'s address (bounded by
    /// the configuration; run only for records with a local endpoint).
    fn local_port_holder(
        &self,
        proto: rvs_conntrack::Proto,
        local: std::net::SocketAddr,
    ) -> Option<rvs_conntrack::ConnId> {
        self.snap
            .services
            .list()
            .iter()
            .filter(|s| s.proto == proto && s.laddrs.contains(&local.ip()))
            .flat_map(|s| s.config.reals.iter())
            .find_map(|real| {
                let key = ConnKey {
                    proto,
                    src: real.ip,
                    sport: real.port,
                    dst: local.ip(),
                    dport: local.port(),
                };
                match self.conns.lookup(&key)? {
                    (id, Direction::Reply) => Some(id),
                    (_, Direction::Original) => None,
                }
            })
    }

    /// Installs or updates a persistence template: the client (masked) keeps its real
    /// on this director too. It expires when the master said, and each later use
    /// refreshes it by this director's persistence timeout for the service, as one
    /// made here would be (not by the time it had left when it was sent).
    fn install_template(
        &mut self,
        r: &SyncRecord,
        now_ms: u64,
        link: &HaLink,
    ) -> Result<(), SyncRefusal> {
        let checked = sync_check::template(r, &self.snap)?;
        if checked.clamped {
            link.count_clamped();
        }
        let key = rvs_conntrack::TemplateKey {
            service: checked.service,
            client: r.client.ip(),
            port: r.client.port(),
        };
        let expires_ms = now_ms + u64::from(checked.timeout_ms);
        self.conns
            .template_restore(key, checked.dest, checked.persistence_s, expires_ms)
            .map_err(|_| SyncRefusal::TableFull)
    }
}

/// The key of the client's packets of the record's connection.
fn original_key(r: &SyncRecord) -> ConnKey {
    ConnKey {
        proto: r.proto,
        src: r.client.ip(),
        sport: r.client.port(),
        dst: r.vip.ip(),
        dport: r.vip.port(),
    }
}

/// True when `c` goes where the record says: the same real, mode and local endpoint.
fn same_endpoints(c: &Conn, r: &SyncRecord) -> bool {
    c.real == r.real && c.local == r.local && c.mode == r.mode
}
