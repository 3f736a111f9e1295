//! How the sender of a sync message owns its FULLNAT local ports, as its header
//! carries it: a backup that owns them another way would hold synced ports on workers
//! that never see their replies, so it refuses the message.

use std::fmt;

use crate::laddr::PortScheme;
use crate::ownership::Ownership;

/// A director's local port scheme ([`PortScheme`]) as sync messages carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemeTag {
    /// By the port's low bits (flows owned by hash).
    LowBits,
    /// By the RSS queue the replies hash to, after a round-robin redirection table.
    Rss {
        /// The table's entries.
        table: u16,
    },
}

/// Wire code of [`SchemeTag::LowBits`].
const LOW_BITS: u8 = 1;
/// Wire code of [`SchemeTag::Rss`].
const RSS: u8 = 2;

impl SchemeTag {
    /// The tag of `scheme`.
    pub fn of(scheme: &PortScheme) -> Self {
        match scheme {
            PortScheme::LowBits(_) => SchemeTag::LowBits,
            PortScheme::Rss(reta) => SchemeTag::Rss {
                table: u16::try_from(reta.len()).unwrap_or(u16::MAX),
            },
        }
    }

    /// The tag of the scheme `ownership` gives its workers (allocates nothing).
    pub fn of_ownership(ownership: &Ownership) -> Self {
        match ownership.reta() {
            None => SchemeTag::LowBits,
            Some(reta) => SchemeTag::Rss {
                table: u16::try_from(reta.len()).unwrap_or(u16::MAX),
            },
        }
    }

    /// The scheme code and table size written in a header.
    pub(super) fn code(self) -> (u8, u16) {
        match self {
            SchemeTag::LowBits => (LOW_BITS, 0),
            SchemeTag::Rss { table } => (RSS, table),
        }
    }

    /// The tag of a header's code and table size; `None` for an unknown code.
    pub(super) fn from_code(code: u8, table: u16) -> Option<Self> {
        match code {
            LOW_BITS => Some(SchemeTag::LowBits),
            RSS => Some(SchemeTag::Rss { table }),
            _ => None,
        }
    }
}

impl fmt::Display for SchemeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemeTag::LowBits => f.write_str("by the low bits of the port (flows owned by hash)"),
            SchemeTag::Rss { table } => {
                write!(f, "by RSS queue (a redirection table of {table} entries)")
            }
        }
    }
}
