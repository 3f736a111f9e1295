//! A sync message's header: [`HEADER_LEN`] bytes in front of its records.
//!
//! ```text
//!   0 magic "RVSS" | 4 version u8 (2) | 5 auth u8 | 6 workers u16 | 8 scheme u8
//!   9 flags u8 (bit 0: a request for every connection)
//!  10 RSS table entries u16 | 12 epoch u32 | 16 sequence u32 | 20 sent_ms u64
//!  28 count u16 | 30 record length u16 | 32 tag (32 bytes)
//! ```

use super::error::SyncError;
use super::record::RECORD_LEN;
use super::scheme::SchemeTag;

/// First bytes of every sync message.
pub const MAGIC: [u8; 4] = *b"RVSS";
/// The message format's version.
pub const VERSION: u8 = 2;
/// Header length.
pub const HEADER_LEN: usize = TAG_AT + TAG_LEN;
/// Offset of the authentication tag in the header.
pub const TAG_AT: usize = 32;
/// Length of the authentication tag (an HMAC-SHA256).
pub const TAG_LEN: usize = 32;
/// Header flag: the sender, a backup, asks the master for every connection (a
/// message without records).
const FLAG_REQUEST: u8 = 1;

/// How a message is authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// Not at all: the tag is zero (`[ha.sync] insecure = true`).
    None,
    /// The tag is the HMAC-SHA256 of the message with the tag zeroed.
    HmacSha256,
}

/// Who sent a message and when: the header fields a sender fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The sender's worker count.
    pub workers: u16,
    /// How the sender owns its FULLNAT local ports.
    pub scheme: SchemeTag,
    /// Random, drawn when the sender started: a new epoch is a restarted sender.
    pub epoch: u32,
    /// The sender's message number in its epoch, from 1 (gaps show lost messages).
    pub sequence: u32,
    /// The sender's clock when it sent the message: milliseconds since the Unix epoch.
    pub sent_ms: u64,
    /// The sender, a backup, asks for every connection and template (a backup that
    /// just took that role): the master starts a full pass over its tables.
    pub request: bool,
}

/// A message's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncHeader {
    /// How it is authenticated.
    pub auth: AuthKind,
    /// Who sent it and when.
    pub stamp: Stamp,
    /// Records that follow.
    pub count: u16,
}

/// Writes `header` into `out` (at least [`HEADER_LEN`] bytes), the tag zeroed.
pub(super) fn write(header: &SyncHeader, out: &mut [u8]) {
    let h = &mut out[..HEADER_LEN];
    h.fill(0);
    let s = &header.stamp;
    h[..4].copy_from_slice(&MAGIC);
    h[4] = VERSION;
    h[5] = match header.auth {
        AuthKind::None => 0,
        AuthKind::HmacSha256 => 1,
    };
    h[6..8].copy_from_slice(&s.workers.to_be_bytes());
    let (scheme, table) = s.scheme.code();
    h[8] = scheme;
    h[9] = if s.request { FLAG_REQUEST } else { 0 };
    h[10..12].copy_from_slice(&table.to_be_bytes());
    h[12..16].copy_from_slice(&s.epoch.to_be_bytes());
    h[16..20].copy_from_slice(&s.sequence.to_be_bytes());
    h[20..28].copy_from_slice(&s.sent_ms.to_be_bytes());
    h[28..30].copy_from_slice(&header.count.to_be_bytes());
    h[30..32].copy_from_slice(&(RECORD_LEN as u16).to_be_bytes());
}

/// Reads the header of `msg`, a whole message: refused when it is not a sync message of
/// this version or its length is not exactly what the header says. Nothing in it is
/// authenticated yet.
pub fn parse(msg: &[u8]) -> Result<SyncHeader, SyncError> {
    let h = msg.get(..HEADER_LEN).ok_or(SyncError::Truncated)?;
    if h[..4] != MAGIC {
        return Err(SyncError::Magic);
    }
    if h[4] != VERSION {
        return Err(SyncError::Version {
            theirs: h[4],
            ours: VERSION,
        });
    }
    let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let auth = match h[5] {
        0 => AuthKind::None,
        1 => AuthKind::HmacSha256,
        _ => return Err(SyncError::Magic),
    };
    let scheme = SchemeTag::from_code(h[8], be16(10)).ok_or(SyncError::Magic)?;
    if h[9] & !FLAG_REQUEST != 0 {
        return Err(SyncError::Magic);
    }
    if usize::from(be16(30)) != RECORD_LEN {
        return Err(SyncError::Magic);
    }
    let mut sent = [0u8; 8];
    sent.copy_from_slice(&h[20..28]);
    let header = SyncHeader {
        auth,
        stamp: Stamp {
            workers: be16(6),
            scheme,
            epoch: be32(12),
            sequence: be32(16),
            sent_ms: u64::from_be_bytes(sent),
            request: h[9] & FLAG_REQUEST != 0,
        },
        count: be16(28),
    };
    if msg.len() != HEADER_LEN + usize::from(header.count) * RECORD_LEN {
        return Err(SyncError::Truncated);
    }
    Ok(header)
}
