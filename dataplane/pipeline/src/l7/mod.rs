//! Content switching (`l7`): the real of a SYN-proxied connection chosen from its first
//! bytes. The SYN proxy completes the client's handshake; the client's segments are held
//! ([`waiting`]) until `rvs-l7`'s parser decides; the first matching rule names a group
//! of reals ([`plan`]), scheduled on its own; then the connection is opened toward that
//! real as any SYN-proxied one ([`crate::synproxy`]) and its held segments follow the
//! real's handshake.

pub mod plan;
pub mod waiting;

pub use plan::{Group, L7Plan};
pub use waiting::{Waiting, WaitingTable};
