//! Why a sync message or record was refused while it was read.

use super::scheme::SchemeTag;
use crate::ha::refusal::SyncRefusal;

/// Why a sync message or record was refused while it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Too short, or another length than its header says.
    #[error("sync message truncated or of the wrong length")]
    Truncated,
    /// Not a sync message (magic, unknown codes in the header).
    #[error("not an rvs sync message")]
    Magic,
    /// Another format version.
    #[error("sync message version {theirs}, this director speaks {ours}")]
    Version {
        /// The message's.
        theirs: u8,
        /// Ours.
        ours: u8,
    },
    /// A message without a tag, to a director that has a key.
    #[error(
        "sync message without authentication; this director has a [ha.sync] key_file \
         (does the sender run with insecure = true?)"
    )]
    Unsigned,
    /// A tag that does not verify with our key.
    #[error("sync message whose tag does not verify with [ha.sync] key_file (another key?)")]
    BadTag,
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
    /// The sender owns its FULLNAT local ports another way: synced ports would be held
    /// on workers that never see their replies.
    #[error(
        "sync refused: the sender owns FULLNAT local ports {theirs}, this director {ours}; \
         directors of one virtual router need the same devices and [[port]] rss"
    )]
    Scheme {
        /// The sender's scheme.
        theirs: SchemeTag,
        /// Ours.
        ours: SchemeTag,
    },
    /// A record with an unknown code, mixed address families or missing endpoints.
    #[error("bad sync record")]
    Record,
}

impl SyncError {
    /// The counter this refusal goes to.
    pub fn refusal(self) -> SyncRefusal {
        match self {
            SyncError::Truncated | SyncError::Magic => SyncRefusal::Malformed,
            SyncError::Version { .. } => SyncRefusal::Version,
            SyncError::Unsigned | SyncError::BadTag => SyncRefusal::Auth,
            SyncError::Workers { .. } => SyncRefusal::Workers,
            SyncError::Scheme { .. } => SyncRefusal::Scheme,
            SyncError::Record => SyncRefusal::Record,
        }
    }
}
