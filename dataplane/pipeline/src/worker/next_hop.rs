//! The next hop a connection's packets took, remembered in the connection (a
//! [`PathHint`] per direction) so that its later packets skip the route and neighbour
//! lookups. A hint holds the egress port and the neighbour's MAC with the worker's path
//! stamp when it was found ([`Worker::path_stamp`](super::Worker)): any new
//! configuration (routes, ports) or changed neighbour MAC moves the stamp, and every
//! hint found before is then ignored and found again.

use rvs_conntrack::PathHint;

use rvs_config::PortId;

/// A next hop: the egress port and the neighbour's MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hop {
    /// Egress port.
    pub(super) port: PortId,
    /// The neighbour's MAC.
    pub(super) mac: [u8; 6],
}

/// The hint remembering `hop`, found at path stamp `stamp` (never 0).
pub(super) fn hint(hop: Hop, stamp: u64) -> PathHint {
    let mut word = [0u8; 8];
    word[..6].copy_from_slice(&hop.mac);
    word[6..].copy_from_slice(&hop.port.0.to_le_bytes());
    PathHint {
        stamp,
        word: u64::from_le_bytes(word),
    }
}

/// The hop `hint` remembers, if it was found at path stamp `stamp`.
pub(super) fn cached(hint: PathHint, stamp: u64) -> Option<Hop> {
    if hint.stamp != stamp {
        return None;
    }
    let word = hint.word.to_le_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&word[..6]);
    Some(Hop {
        port: PortId(u16::from_le_bytes([word[6], word[7]])),
        mac,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_gives_its_hop_back_at_its_stamp_only() {
        let hop = Hop {
            port: PortId(0xbeef),
            mac: [2, 0xa, 0xb, 0xc, 0xd, 0xe],
        };
        let h = hint(hop, 7);
        assert_eq!(cached(h, 7), Some(hop));
        assert_eq!(cached(h, 8), None);
        assert_eq!(
            cached(PathHint::default(), 1),
            None,
            "a new connection's hint"
        );
    }
}
