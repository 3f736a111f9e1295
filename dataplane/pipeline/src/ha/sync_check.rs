//! A synced record checked against the running configuration before a backup's worker
//! installs anything of it: the service exists; the real is one of its reals, with the
//! record's forwarding mode; the state is one the protocol has; a FULLNAT local address
//! is one of the service's; a template (or a connection's link to one) is one the
//! service's persistence makes; stream state is one the service's features make; and
//! the time left is cut to the timeout this director gives the state (or the service's
//! persistence, for a template, which also keeps that persistence as its timeout). Whether this worker owns a FULLNAT local port is
//! [`crate::laddr::LocalPorts::hold`]'s to say. Pure: it reads the snapshot, never
//! allocates, and a refusal says why.

use rvs_conntrack::{DestId, ForwardMode, Proto, ServiceId, StreamAdjust, TcpState, TemplateKey};

use super::refusal::SyncRefusal;
use super::sync_wire::{RecordKind, SyncRecord};
use crate::client_addr::stream_kind;
use crate::service::Service;
use crate::snapshot::Snapshot;

/// What a record that passed the checks installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The service, as this director numbers it.
    pub service: ServiceId,
    /// The real, as this director numbers it.
    pub dest: DestId,
    /// The template a connection refreshes.
    pub template: Option<TemplateKey>,
    /// The time left, cut to this director's timeout.
    pub timeout_ms: u32,
    /// A template's persistence timeout in seconds, this director's (what each later
    /// use refreshes it by); 0 for a connection.
    pub persistence_s: u32,
    /// True when the record's time left was longer than that timeout.
    pub clamped: bool,
}

/// Checks a connection record ([`RecordKind::Conn`]).
pub fn conn(r: &SyncRecord, snap: &Snapshot) -> Result<Checked, SyncRefusal> {
    if r.kind != RecordKind::Conn {
        return Err(SyncRefusal::Record);
    }
    let svc = service(r, snap)?;
    let dest = real(r, svc)?;
    let state_ok = match r.proto {
        Proto::Tcp => true,
        Proto::Udp | Proto::Icmp => r.state == TcpState::None,
    };
    if !state_ok {
        return Err(SyncRefusal::State);
    }
    if let Some(l) = r.local {
        if !svc.laddrs.contains(&l.ip()) {
            return Err(SyncRefusal::LocalAddress);
        }
    }
    let template = match r.template {
        None => None,
        Some(t) => {
            let masked = svc.mask_client(r.client.ip());
            let port_ok = t.port() == 0 || t.port() == r.vip.port();
            if svc.persistence_s == 0 || t.ip() != masked || !port_ok {
                return Err(SyncRefusal::Template);
            }
            Some(TemplateKey {
                service: svc.id,
                client: t.ip(),
                port: t.port(),
            })
        }
    };
    stream(r, svc)?;
    let limit = u64::from(snap.timeouts.for_conn(r.proto, r.state)) * 1000;
    Ok(clamp(r, svc.id, dest, template, limit))
}

/// Checks a persistence template record ([`RecordKind::Template`]).
pub fn template(r: &SyncRecord, snap: &Snapshot) -> Result<Checked, SyncRefusal> {
    if r.kind != RecordKind::Template || r.local.is_some() || r.template.is_some() {
        return Err(SyncRefusal::Record);
    }
    let svc = service(r, snap)?;
    let dest = real(r, svc)?;
    if r.state != TcpState::None {
        return Err(SyncRefusal::State);
    }
    let port_ok = r.client.port() == 0 || r.client.port() == r.vip.port();
    let masked = svc.mask_client(r.client.ip()) == r.client.ip();
    if svc.persistence_s == 0 || !port_ok || !masked {
        return Err(SyncRefusal::Template);
    }
    if r.stream != StreamAdjust::default() {
        return Err(SyncRefusal::Stream);
    }
    let limit = u64::from(svc.persistence_s) * 1000;
    Ok(Checked {
        persistence_s: svc.persistence_s,
        ..clamp(r, svc.id, dest, None, limit)
    })
}

/// The service the record names: a template's by its key (a mark service's is its key
/// address), a connection's as its packets find it ([`Services::resolve`]: a
/// connection of a mark or port-0 service names the packet's destination, and the rules
/// are the same on every director of the pair).
///
/// [`Services::resolve`]: crate::service::Services::resolve
fn service<'s>(r: &SyncRecord, snap: &'s Snapshot) -> Result<&'s Service, SyncRefusal> {
    let found = match r.kind {
        RecordKind::Template => snap.services.find(r.proto, r.vip.ip(), r.vip.port()),
        RecordKind::Conn | RecordKind::Expire => {
            snap.services
                .resolve(r.proto, r.client.ip(), r.vip.ip(), r.vip.port())
        }
    };
    found.map(|(_, svc)| svc).ok_or(SyncRefusal::Service)
}

/// The record's real among the service's, with the record's forwarding mode. A real on
/// port 0 is the record's real on the connection's destination port (a template names
/// it with port 0 itself).
fn real(r: &SyncRecord, svc: &Service) -> Result<DestId, SyncRefusal> {
    let reals = svc.sched.reals();
    let port_of = |d: u16| match r.kind {
        RecordKind::Conn | RecordKind::Expire => crate::service::real_port(d, r.vip.port()),
        RecordKind::Template => d,
    };
    let at = reals
        .iter()
        .position(|d| d.addr == r.real.ip() && port_of(d.port) == r.real.port())
        .ok_or(SyncRefusal::Real)?;
    if svc.modes.get(at) != Some(&r.mode) {
        return Err(SyncRefusal::ForwardMode);
    }
    Ok(reals[at].id)
}

/// Stream state only a TCP connection of a service with the feature has: the client
/// address kind the service gives its reals (FULLNAT only), and the SYN proxy's shifts
/// (NAT or FULLNAT, on a SYN-proxied service).
fn stream(r: &SyncRecord, svc: &Service) -> Result<(), SyncRefusal> {
    let s = &r.stream;
    if *s == StreamAdjust::default() {
        return Ok(());
    }
    let proxy_ok = s.syn_proxy == 0 || svc.config.synproxy;
    let fits = match r.mode {
        ForwardMode::FullNat => s.kind == 0 || s.kind == stream_kind(svc.config.client_address),
        // Only the SYN proxy's part: a NAT real is given nothing.
        ForwardMode::Nat => {
            s.syn_proxy != 0
                && *s
                    == StreamAdjust {
                        syn_proxy: s.syn_proxy,
                        server_shift: s.server_shift,
                        ts_shift: s.ts_shift,
                        ..StreamAdjust::default()
                    }
        }
        ForwardMode::Dr | ForwardMode::Tun => false,
    };
    if r.proto == Proto::Tcp && fits && proxy_ok {
        Ok(())
    } else {
        Err(SyncRefusal::Stream)
    }
}

/// The record's time left, cut to `limit_ms`.
fn clamp(
    r: &SyncRecord,
    service: ServiceId,
    dest: DestId,
    template: Option<TemplateKey>,
    limit_ms: u64,
) -> Checked {
    let limit = u32::try_from(limit_ms).unwrap_or(u32::MAX);
    Checked {
        service,
        dest,
        template,
        timeout_ms: r.timeout_ms.min(limit),
        persistence_s: 0,
        clamped: r.timeout_ms > limit,
    }
}

#[cfg(test)]
#[path = "sync_check_tests.rs"]
mod tests;
