//! The forwarding modes as the file spells them (`real.forward`), for reading, writing
//! and error messages alike.

use rvs_conntrack::ForwardMode;

/// Every forwarding mode.
const MODES: [ForwardMode; 4] = [
    ForwardMode::Nat,
    ForwardMode::FullNat,
    ForwardMode::Dr,
    ForwardMode::Tun,
];

/// The file's name of a forwarding mode.
pub fn forward_name(mode: ForwardMode) -> &'static str {
    match mode {
        ForwardMode::Nat => "nat",
        ForwardMode::FullNat => "fullnat",
        ForwardMode::Dr => "dr",
        ForwardMode::Tun => "tun",
    }
}

/// The forwarding mode the file names `name`, if any.
pub(super) fn parse_forward(name: &str) -> Option<ForwardMode> {
    MODES.into_iter().find(|&m| forward_name(m) == name)
}
