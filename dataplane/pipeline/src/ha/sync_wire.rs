//! The connection sync message: what a master sends its backups in one UDP datagram
//! (`[ha.sync]`), a header and a bounded batch of fixed-size records.
//!
//! ```text
//! header (16 bytes): magic "RVSS" | version u8 | 0 u8 | workers u16 | sequence u32 | count u16 | 0 u16
//! record (104 bytes): kind u8 | proto u8 | mode u8 | state u8 | flags u8 | 0 u8 | 0 u16
//!                     | timeout_ms u32 | client | vip | real | local | template (each a
//!                     16-byte address, IPv4 mapped into IPv6, then a u16 port) | 0 u16
//! ```
//!
//! All integers are big-endian. Records name services and reals by address, not by the
//! sender's ids: a backup finds its own. `workers` is the sender's worker count: a
//! connection belongs to the worker that [`crate::steer`] picks, which depends on it, so
//! a receiver with another count refuses the message ([`SyncError::Workers`]). A lost
//! datagram costs only the connections it carried.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use rvs_conntrack::{ForwardMode, Proto, TcpState};

/// First bytes of every sync message.
pub const MAGIC: [u8; 4] = *b"RVSS";
/// The message format's version.
pub const VERSION: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 16;
/// One record's length.
pub const RECORD_LEN: usize = ENDPOINTS_AT + 5 * ENDPOINT_LEN + 2;
/// Most records in one message: a datagram within a 1500-byte MTU (IPv4 and UDP headers
/// included).
pub const MAX_RECORDS: usize = (1500 - 20 - 8 - HEADER_LEN) / RECORD_LEN;

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
}

/// A received message's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncHeader {
    /// The sender's worker count.
    pub workers: u16,
    /// The sender's message sequence number (gaps show lost messages).
    pub sequence: u32,
    /// Records that follow.
    pub count: u16,
}

/// Why a sync message or record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Too short for what its header says.
    #[error("sync message truncated")]
    Truncated,
    /// Not a sync message (magic).
    #[error("not an rvs sync message")]
    Magic,
    /// Another format version.
    #[error("sync message version {0}, this director speaks {VERSION}")]
    Version(u8),
    /// The sender runs another worker count: connections would land on the wrong workers.
    #[error(
        "sync refused: the sender runs {theirs} workers, this director {ours}; \
         directors of one virtual router need the same [dataplane] workers"
    )]
    Workers {
        /// The sender's count.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// A record with an unknown code or mixed address families.
    #[error("bad sync record")]
    Record,
}

const FLAG_LOCAL: u8 = 1;
const FLAG_TEMPLATE: u8 = 2;
const ENDPOINT_LEN: usize = 18;
/// Offset of the first endpoint in a record.
const ENDPOINTS_AT: usize = 12;

/// Writes a message of `records` (at most [`MAX_RECORDS`]) into `out`: its length, or
/// `None` when `out` is too small or there are too many records.
pub fn encode(
    workers: u16,
    sequence: u32,
    records: &[SyncRecord],
    out: &mut [u8],
) -> Option<usize> {
    if records.len() > MAX_RECORDS {
        return None;
    }
    let len = HEADER_LEN + records.len() * RECORD_LEN;
    let out = out.get_mut(..len)?;
    out.fill(0);
    out[..4].copy_from_slice(&MAGIC);
    out[4] = VERSION;
    out[6..8].copy_from_slice(&workers.to_be_bytes());
    out[8..12].copy_from_slice(&sequence.to_be_bytes());
    out[12..14].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for (r, chunk) in records
        .iter()
        .zip(out[HEADER_LEN..].chunks_exact_mut(RECORD_LEN))
    {
        encode_record(r, chunk);
    }
    Some(len)
}

/// Reads a message's header, refusing other formats and another worker count than
/// `ours`; then [`records`] gives its records.
pub fn header(msg: &[u8], ours: u16) -> Result<SyncHeader, SyncError> {
    let h = msg.get(..HEADER_LEN).ok_or(SyncError::Truncated)?;
    if h[..4] != MAGIC {
        return Err(SyncError::Magic);
    }
    if h[4] != VERSION {
        return Err(SyncError::Version(h[4]));
    }
    let header = SyncHeader {
        workers: u16::from_be_bytes([h[6], h[7]]),
        sequence: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        count: u16::from_be_bytes([h[12], h[13]]),
    };
    if header.workers != ours {
        return Err(SyncError::Workers {
            theirs: header.workers,
            ours,
        });
    }
    if msg.len() < HEADER_LEN + usize::from(header.count) * RECORD_LEN {
        return Err(SyncError::Truncated);
    }
    Ok(header)
}

/// The records of a message whose [`header`] was accepted; a bad one is an `Err` and
/// the others still come.
pub fn records(
    msg: &[u8],
    header: SyncHeader,
) -> impl Iterator<Item = Result<SyncRecord, SyncError>> + '_ {
    msg[HEADER_LEN..]
        .chunks_exact(RECORD_LEN)
        .take(usize::from(header.count))
        .map(decode_record)
}

fn encode_record(r: &SyncRecord, out: &mut [u8]) {
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
    out[3] = STATES
        .iter()
        .position(|s| *s == r.state)
        .unwrap_or_default() as u8;
    out[4] = (u8::from(r.local.is_some()) * FLAG_LOCAL)
        | (u8::from(r.template.is_some()) * FLAG_TEMPLATE);
    out[8..12].copy_from_slice(&r.timeout_ms.to_be_bytes());
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

fn decode_record(b: &[u8]) -> Result<SyncRecord, SyncError> {
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
    let state = *STATES.get(usize::from(b[3])).ok_or(SyncError::Record)?;
    let endpoint = |i: usize| {
        let at = ENDPOINTS_AT + i * ENDPOINT_LEN;
        let octets: [u8; 16] = b[at..at + 16].try_into().unwrap_or_default();
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
        || local.is_some_and(|l| l.is_ipv4() != real.is_ipv4());
    let fullnat_local = (mode == ForwardMode::FullNat) == local.is_some();
    if mixed || (!fullnat_local && kind != RecordKind::Template) {
        return Err(SyncError::Record);
    }
    Ok(SyncRecord {
        kind,
        proto,
        mode,
        state,
        timeout_ms: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        client,
        vip,
        real,
        local,
        template,
    })
}

/// TCP states by their code on the wire.
const STATES: [TcpState; 11] = [
    TcpState::None,
    TcpState::Established,
    TcpState::SynSent,
    TcpState::SynRecv,
    TcpState::FinWait,
    TcpState::TimeWait,
    TcpState::Close,
    TcpState::CloseWait,
    TcpState::LastAck,
    TcpState::Listen,
    TcpState::SynAck,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn fullnat() -> SyncRecord {
        SyncRecord {
            kind: RecordKind::Conn,
            proto: Proto::Tcp,
            mode: ForwardMode::FullNat,
            state: TcpState::Established,
            timeout_ms: 899_500,
            client: "10.50.0.100:40000".parse().unwrap(),
            vip: "10.50.0.10:80".parse().unwrap(),
            real: "10.60.0.11:8080".parse().unwrap(),
            local: Some("10.9.0.1:1025".parse().unwrap()),
            template: None,
        }
    }

    fn nat6_with_template() -> SyncRecord {
        SyncRecord {
            kind: RecordKind::Conn,
            proto: Proto::Udp,
            mode: ForwardMode::Nat,
            state: TcpState::None,
            timeout_ms: 300_000,
            client: "[fd00::2]:5000".parse().unwrap(),
            vip: "[fd00::10]:53".parse().unwrap(),
            real: "[fd01::11]:53".parse().unwrap(),
            local: None,
            template: Some("[fd00::]:0".parse().unwrap()),
        }
    }

    #[test]
    fn a_batch_round_trips_and_fits_a_datagram() {
        let batch = [fullnat(), nat6_with_template()];
        let mut buf = [0u8; 1500];
        let len = encode(2, 7, &batch, &mut buf).unwrap();
        assert_eq!(len, HEADER_LEN + 2 * RECORD_LEN);
        let h = header(&buf[..len], 2).unwrap();
        assert_eq!((h.workers, h.sequence, h.count), (2, 7, 2));
        let back: Vec<_> = records(&buf[..len], h).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, batch);
        // The layout, byte by byte where it matters.
        assert_eq!(&buf[..5], b"RVSS\x01");
        let r = &buf[HEADER_LEN..];
        assert_eq!(&r[..5], &[1, 6, 2, 1, FLAG_LOCAL]);
        assert_eq!(&r[8..12], &899_500u32.to_be_bytes());
        assert_eq!(
            &r[12 + 10..12 + 18],
            &[0xff, 0xff, 10, 50, 0, 100, 0x9c, 0x40]
        );
        // A full batch fits; one more does not.
        let full = [fullnat(); MAX_RECORDS];
        assert!(encode(1, 0, &full, &mut buf).unwrap() + 28 <= 1500);
        assert_eq!(encode(1, 0, &[fullnat(); MAX_RECORDS + 1], &mut buf), None);
        assert_eq!(encode(1, 0, &batch, &mut buf[..100]), None);
    }

    #[test]
    fn refusals_are_clear() {
        let mut buf = [0u8; 1500];
        let len = encode(4, 1, &[fullnat()], &mut buf).unwrap();
        let e = header(&buf[..len], 2).unwrap_err();
        assert_eq!(e, SyncError::Workers { theirs: 4, ours: 2 });
        assert!(e.to_string().contains("4 workers, this director 2"), "{e}");
        assert_eq!(header(&buf[..len - 1], 4), Err(SyncError::Truncated));
        assert_eq!(header(&buf[..10], 4), Err(SyncError::Truncated));
        let mut other = buf;
        other[4] = 9;
        assert_eq!(header(&other[..len], 4), Err(SyncError::Version(9)));
        other[0] = b'X';
        assert_eq!(header(&other[..len], 4), Err(SyncError::Magic));
        // A bad record is refused, the next still read.
        let len = encode(4, 1, &[fullnat(), fullnat()], &mut buf).unwrap();
        buf[HEADER_LEN + 2] = 9;
        let h = header(&buf[..len], 4).unwrap();
        let got: Vec<_> = records(&buf[..len], h).collect();
        assert_eq!(got, [Err(SyncError::Record), Ok(fullnat())]);
        // FULLNAT without its local endpoint is refused.
        let mut r = fullnat();
        r.local = None;
        let len = encode(4, 1, &[r], &mut buf).unwrap();
        let h = header(&buf[..len], 4).unwrap();
        assert_eq!(records(&buf[..len], h).next(), Some(Err(SyncError::Record)));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_refused_or_read_never_a_panic(bytes in proptest::collection::vec(0u8..=255, 0..600)) {
            let workers = bytes.get(6..8).map_or(0, |w| u16::from_be_bytes([w[0], w[1]]));
            if let Ok(h) = header(&bytes, workers) {
                for r in records(&bytes, h) {
                    let _ = r;
                }
            }
        }
    }
}
