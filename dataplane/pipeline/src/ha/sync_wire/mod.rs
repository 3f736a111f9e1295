//! The connection sync message, format version 2: what a master sends its backups in
//! one UDP datagram (`[ha.sync]`), a header ([`header`]) and a bounded batch of
//! fixed-size records ([`SyncRecord`]), authenticated with the directors' shared key
//! ([`auth`]). `docs/sync.md` gives every byte; all integers are big-endian.
//!
//! Records name services and reals by address, not by the sender's ids: a backup finds
//! its own. The header carries the sender's worker count and local port scheme: a
//! connection belongs to the worker that [`crate::steer`] picks, which depends on both,
//! so a receiver that differs refuses the message ([`SyncError::Workers`],
//! [`SyncError::Scheme`]). It also carries what a receiver needs to refuse replays: the
//! sender's epoch (drawn at start), a sequence number and the sender's clock; the
//! receiver keeps the window (the control core's `ha_sync`). A lost datagram costs
//! only the connections it carried, until the next pass.

pub mod auth;
mod error;
pub mod header;
mod record;
mod scheme;
#[cfg(test)]
mod tests;

pub use auth::MessageAuth;
pub use error::SyncError;
pub use header::{AuthKind, Stamp, SyncHeader, HEADER_LEN, MAGIC, TAG_AT, TAG_LEN, VERSION};
pub use record::{RecordKind, SyncRecord, RECORD_LEN};
pub use scheme::SchemeTag;

use record::{decode_record, encode_record};

/// Most records in one message: a datagram within a 1500-byte MTU (IPv4 and UDP headers
/// included).
pub const MAX_RECORDS: usize = (1500 - 20 - 8 - HEADER_LEN) / RECORD_LEN;

/// What a receiver expects of a sender: its own worker count and local port scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// This director's worker count.
    pub workers: u16,
    /// How this director owns its FULLNAT local ports.
    pub scheme: SchemeTag,
}

/// Writes a message of `records` (at most [`MAX_RECORDS`]) stamped `stamp` into `out`,
/// signed with `auth` when given: its length, or `None` when `out` is too small or there
/// are too many records.
pub fn encode(
    stamp: &Stamp,
    records: &[SyncRecord],
    auth: Option<&MessageAuth>,
    out: &mut [u8],
) -> Option<usize> {
    if records.len() > MAX_RECORDS {
        return None;
    }
    let len = HEADER_LEN + records.len() * RECORD_LEN;
    let out = out.get_mut(..len)?;
    out.fill(0);
    let header = SyncHeader {
        auth: match auth {
            Some(_) => AuthKind::HmacSha256,
            None => AuthKind::None,
        },
        stamp: *stamp,
        count: records.len() as u16,
    };
    header::write(&header, out);
    for (r, chunk) in records
        .iter()
        .zip(out[HEADER_LEN..].chunks_exact_mut(RECORD_LEN))
    {
        encode_record(r, chunk);
    }
    if let Some(auth) = auth {
        auth.sign(out);
    }
    Some(len)
}

/// Reads and checks the header of `msg`, a whole message: its format, then (with
/// `auth`, this director's key) its tag, then that its sender runs what `expect` says.
/// Without `auth` (`insecure = true`) no tag is checked. Replays are the caller's to
/// refuse; then [`records`] gives the records.
pub fn open(
    msg: &[u8],
    auth: Option<&MessageAuth>,
    expect: Expect,
) -> Result<SyncHeader, SyncError> {
    let header = header::parse(msg)?;
    if let Some(auth) = auth {
        if header.auth != AuthKind::HmacSha256 {
            return Err(SyncError::Unsigned);
        }
        if !auth.verify(msg) {
            return Err(SyncError::BadTag);
        }
    }
    let theirs = header.stamp;
    if theirs.workers != expect.workers {
        return Err(SyncError::Workers {
            theirs: theirs.workers,
            ours: expect.workers,
        });
    }
    if theirs.scheme != expect.scheme {
        return Err(SyncError::Scheme {
            theirs: theirs.scheme,
            ours: expect.scheme,
        });
    }
    Ok(header)
}

/// The records of a message whose header [`open`] accepted; a bad one is an `Err` and
/// the others still come.
pub fn records(
    msg: &[u8],
    header: SyncHeader,
) -> impl Iterator<Item = Result<SyncRecord, SyncError>> + '_ {
    msg.get(HEADER_LEN..)
        .unwrap_or_default()
        .chunks_exact(RECORD_LEN)
        .take(usize::from(header.count))
        .map(decode_record)
}
