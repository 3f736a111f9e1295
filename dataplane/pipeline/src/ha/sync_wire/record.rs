//! One record of a sync message: a connection, its expiry, or a persistence template,
//! in [`RECORD_LEN`] bytes.
//!
//! ```text
//!   0 kind u8 | 1 proto u8 | 2 mode u8 | 3 state u8 | 4 flags u8 | 5 stream kind u8
//!   6 stream flags u8 | 7 syn proxy u8 | 8 timeout_ms u32 | 12 client ISN u32
//!  16 server shift u32 | 20 timestamp shift u32 | 24 inserted u16 | 26 0 u16
//!  28 client | 46 vip | 64 real | 82 local | 100 template (each a 16-byte address,
//!     IPv4 mapped into IPv6, then a u16 port) | 118 0 u16
//! ```

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use rvs_conntrack::{Conn, ForwardMode, Proto, StreamAdjust, TcpState};

use super::error::SyncError;

/// One record's length.
pub const RECORD_LEN: usize = ENDPOINTS_AT + 5 * ENDPOINT_LEN + 2;

/// Offset of the first endpoint in a record.
const ENDPOINTS_AT: usize = 28;
/// An endpoint: a 16-byte address and a port.
const ENDPOINT_LEN: usize = 18;
/// Record flag: the local endpoint is set.
pub(super) const FLAG_LOCAL: u8 = 1;
/// Record flag: the template endpoint is set.
pub(super) const FLAG_TEMPLATE: u8 = 2;

/// What a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A connection was created or changed state: install or update it.
    Conn,
    /// A connection ended: remove it.
    Expire,
    /// A persistence template (client, its real) was created or refreshed.
    Template,
}

/// One synced connection or template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncRecord {
    /// What it says.
    pub kind: RecordKind,
    /// Protocol.
    pub proto: Proto,
    /// Forwarding mode.
    pub mode: ForwardMode,
    /// TCP state (`None` for UDP, ICMP and templates).
    pub state: TcpState,
    /// Milliseconds left before it expires on the master.
    pub timeout_ms: u32,
    /// Client endpoint (a template's: the masked client address, port 0).
    pub client: SocketAddr,
    /// Virtual endpoint.
    pub vip: SocketAddr,
    /// Real endpoint.
    pub real: SocketAddr,
    /// FULLNAT local endpoint: the backup keeps this port out of its own pool.
    pub local: Option<SocketAddr>,
    /// The template the connection refreshes: masked client address and port (0 or the
    /// virtual port).
    pub template: Option<SocketAddr>,
    /// The connection's TCP stream state (client address insertion, SYN proxy shifts);
    /// all zero for a connection that edits no stream, an expiry and a template.
    pub stream: StreamAdjust,
}

impl SyncRecord {
    /// The record of live connection `c` at `now_ms`: its state, stream state and the
    /// time it has left.
    pub fn of_conn(c: &Conn, now_ms: u64) -> Self {
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
            stream: c.stream,
        }
    }

    /// The record that tells a backup connection `c` is gone.
    pub fn expiry_of(c: &Conn) -> Self {
        SyncRecord {
            kind: RecordKind::Expire,
            timeout_ms: 0,
            ..Self::of_conn(c, c.expires_ms)
        }
    }
}

/// Writes `r` into `out` ([`RECORD_LEN`] bytes, zeroed).
pub(super) fn encode_record(r: &SyncRecord, out: &mut [u8]) {
    out[0] = match r.kind {
        RecordKind::Conn => 1,
        RecordKind::Expire => 2,
        RecordKind::Template => 3,
    };
    out[1] = match r.proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
    };
    out[2] = match r.mode {
        ForwardMode::Nat => 1,
        ForwardMode::FullNat => 2,
        ForwardMode::Dr => 3,
        ForwardMode::Tun => 4,
    };
    out[3] = r.state.code();
    out[4] = (u8::from(r.local.is_some()) * FLAG_LOCAL)
        | (u8::from(r.template.is_some()) * FLAG_TEMPLATE);
    let s = &r.stream;
    out[5] = s.kind;
    out[6] = s.flags;
    out[7] = s.syn_proxy;
    out[8..12].copy_from_slice(&r.timeout_ms.to_be_bytes());
    out[12..16].copy_from_slice(&s.client_isn.to_be_bytes());
    out[16..20].copy_from_slice(&s.server_shift.to_be_bytes());
    out[20..24].copy_from_slice(&s.ts_shift.to_be_bytes());
    out[24..26].copy_from_slice(&s.inserted.to_be_bytes());
    let unset = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
    let endpoints = [
        r.client,
        r.vip,
        r.real,
        r.local.unwrap_or(unset),
        r.template.unwrap_or(unset),
    ];
    for (e, chunk) in endpoints
        .iter()
        .zip(out[ENDPOINTS_AT..].chunks_exact_mut(ENDPOINT_LEN))
    {
        let v6 = match e.ip() {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        };
        chunk[..16].copy_from_slice(&v6.octets());
        chunk[16..].copy_from_slice(&e.port().to_be_bytes());
    }
}

/// Reads the record in `b` ([`RECORD_LEN`] bytes): refused for an unknown code, mixed
/// address families, or a FULLNAT connection without its local endpoint (or another
/// with one).
pub(super) fn decode_record(b: &[u8]) -> Result<SyncRecord, SyncError> {
    let kind = match b[0] {
        1 => RecordKind::Conn,
        2 => RecordKind::Expire,
        3 => RecordKind::Template,
        _ => return Err(SyncError::Record),
    };
    let proto = match b[1] {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        1 => Proto::Icmp,
        _ => return Err(SyncError::Record),
    };
    let mode = match b[2] {
        1 => ForwardMode::Nat,
        2 => ForwardMode::FullNat,
        3 => ForwardMode::Dr,
        4 => ForwardMode::Tun,
        _ => return Err(SyncError::Record),
    };
    let state = TcpState::from_code(b[3]).ok_or(SyncError::Record)?;
    let be32 = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let endpoint = |i: usize| {
        let at = ENDPOINTS_AT + i * ENDPOINT_LEN;
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&b[at..at + 16]);
        let v6 = Ipv6Addr::from(octets);
        let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
        SocketAddr::new(ip, u16::from_be_bytes([b[at + 16], b[at + 17]]))
    };
    let (client, vip, real) = (endpoint(0), endpoint(1), endpoint(2));
    let local = (b[4] & FLAG_LOCAL != 0).then(|| endpoint(3));
    let template = (b[4] & FLAG_TEMPLATE != 0).then(|| endpoint(4));
    let family = client.is_ipv4();
    let mixed = vip.is_ipv4() != family
        || (real.is_ipv4() != family && mode != ForwardMode::FullNat)
        || local.is_some_and(|l| l.is_ipv4() != real.is_ipv4())
        || template.is_some_and(|t| t.is_ipv4() != family);
    let fullnat_local = (mode == ForwardMode::FullNat) == local.is_some();
    if mixed || (!fullnat_local && kind != RecordKind::Template) {
        return Err(SyncError::Record);
    }
    Ok(SyncRecord {
        kind,
        proto,
        mode,
        state,
        timeout_ms: be32(8),
        client,
        vip,
        real,
        local,
        template,
        stream: StreamAdjust {
            kind: b[5],
            flags: b[6],
            syn_proxy: b[7],
            client_isn: be32(12),
            server_shift: be32(16),
            ts_shift: be32(20),
            inserted: u16::from_be_bytes([b[24], b[25]]),
        },
    })
}
