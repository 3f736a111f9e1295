//! Replay protection of connection sync: what a receiver remembers of each peer.
//!
//! A message carries its sender's epoch (drawn when the sender started), a sequence
//! number counting up from 1 in that epoch, and the sender's clock. A receiver takes a
//! message only when
//!
//! - its time is within [`MAX_SKEW_MS`] of the receiver's clock, either way;
//! - in the peer's current epoch, its sequence number is above the highest taken, or
//!   within the [`WINDOW`] below it and not taken yet (datagrams may come out of order);
//! - in another epoch (a restarted sender), its time is after that of the last message
//!   taken from the peer: an old epoch's messages, replayed, are older than that.
//!
//! Everything here is about messages whose tag verified: the key is what keeps others
//! from making new ones.

use rvs_pipeline::ha::sync_wire::Stamp;

/// Largest difference, either way, between a message's time and this director's clock.
pub const MAX_SKEW_MS: u64 = 30_000;
/// Sequence numbers below the highest taken that are still remembered.
pub const WINDOW: u32 = 64;

/// Why a message that verified is refused as a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Its time is too far from this director's clock.
    #[error(
        "sent {skew_ms} ms away from this director's clock (more than {MAX_SKEW_MS} ms: \
         are the directors' clocks synchronised?)"
    )]
    Clock {
        /// How far.
        skew_ms: u64,
    },
    /// Its sequence number was taken already, or is below the window.
    #[error("sequence number {sequence} taken already or too old (a replayed message?)")]
    Replay {
        /// The message's.
        sequence: u32,
    },
    /// A new epoch whose time is not after the last message taken from the peer.
    #[error(
        "epoch {epoch:#010x} sent no later than the last message taken from this peer \
         (an old message replayed?)"
    )]
    Epoch {
        /// The message's.
        epoch: u32,
    },
}

/// What a receiver remembers of one peer's messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerWindow {
    /// The epoch of the messages taken last; `None` before the first.
    epoch: Option<u32>,
    /// The highest sequence number taken in that epoch.
    highest: u32,
    /// Bit `i`: sequence number `highest - i` was taken.
    seen: u64,
    /// The latest sender time of a message taken.
    last_sent_ms: u64,
    /// Messages taken.
    accepted: u64,
    /// Sequence numbers skipped in an epoch and not seen since.
    lost: u64,
}

impl PeerWindow {
    /// Takes a message stamped `stamp` at `now_ms` (this director's clock, Unix
    /// milliseconds), or says why it is a replay; a refused message changes nothing.
    pub fn accept(&mut self, stamp: &Stamp, now_ms: u64) -> Result<(), ReplayError> {
        let skew_ms = stamp.sent_ms.abs_diff(now_ms);
        if skew_ms > MAX_SKEW_MS {
            return Err(ReplayError::Clock { skew_ms });
        }
        match self.epoch {
            Some(epoch) if epoch == stamp.epoch => self.in_epoch(stamp.sequence)?,
            Some(_) if stamp.sent_ms <= self.last_sent_ms => {
                return Err(ReplayError::Epoch { epoch: stamp.epoch })
            }
            _ => {
                self.epoch = Some(stamp.epoch);
                self.highest = stamp.sequence;
                self.seen = 1;
            }
        }
        self.last_sent_ms = self.last_sent_ms.max(stamp.sent_ms);
        self.accepted += 1;
        Ok(())
    }

    /// Takes `sequence` in the current epoch.
    fn in_epoch(&mut self, sequence: u32) -> Result<(), ReplayError> {
        let ahead = sequence.wrapping_sub(self.highest);
        if ahead != 0 && ahead < 1 << 31 {
            self.lost += u64::from(ahead - 1);
            self.seen = match self.seen.checked_shl(ahead) {
                Some(shifted) if ahead < 64 => shifted | 1,
                _ => 1,
            };
            self.highest = sequence;
            return Ok(());
        }
        let behind = self.highest.wrapping_sub(sequence);
        let bit = 1u64.checked_shl(behind).filter(|_| behind < WINDOW);
        match bit {
            Some(bit) if self.seen & bit == 0 => {
                self.seen |= bit;
                // Counted lost when it was skipped; it came after all.
                self.lost = self.lost.saturating_sub(1);
                Ok(())
            }
            _ => Err(ReplayError::Replay { sequence }),
        }
    }

    /// The epoch of the messages taken last.
    pub fn epoch(&self) -> Option<u32> {
        self.epoch
    }

    /// The highest sequence number taken in that epoch.
    pub fn highest(&self) -> u32 {
        self.highest
    }

    /// Messages taken.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Messages lost on the way (skipped sequence numbers not seen since).
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_pipeline::ha::sync_wire::SchemeTag;

    const NOW: u64 = 1_700_000_000_000;

    fn stamp(epoch: u32, sequence: u32, sent_ms: u64) -> Stamp {
        Stamp {
            workers: 1,
            scheme: SchemeTag::LowBits,
            epoch,
            sequence,
            sent_ms,
            request: false,
        }
    }

    #[test]
    fn each_sequence_number_is_taken_once() {
        let mut w = PeerWindow::default();
        assert_eq!(w.accept(&stamp(7, 1, NOW), NOW), Ok(()));
        assert_eq!(
            w.accept(&stamp(7, 1, NOW), NOW),
            Err(ReplayError::Replay { sequence: 1 })
        );
        // 2 and 3 lost, 4 taken; then 3 comes late: taken once, no longer lost.
        assert_eq!(w.accept(&stamp(7, 4, NOW), NOW), Ok(()));
        assert_eq!(w.lost(), 2);
        assert_eq!(w.accept(&stamp(7, 3, NOW), NOW), Ok(()));
        assert_eq!(w.lost(), 1);
        assert!(w.accept(&stamp(7, 3, NOW), NOW).is_err());
        // Far ahead: everything before the window is refused.
        assert_eq!(w.accept(&stamp(7, 100, NOW), NOW), Ok(()));
        assert_eq!(w.accept(&stamp(7, 37, NOW), NOW), Ok(()), "in the window");
        assert!(w.accept(&stamp(7, 36, NOW), NOW).is_err(), "below it");
        assert!(w.accept(&stamp(7, 2, NOW), NOW).is_err());
        assert_eq!((w.accepted(), w.highest(), w.epoch()), (5, 100, Some(7)));
        // Sequence numbers wrap.
        let mut w = PeerWindow::default();
        w.accept(&stamp(1, u32::MAX, NOW), NOW).unwrap();
        assert_eq!(w.accept(&stamp(1, 0, NOW), NOW), Ok(()));
        assert!(w.accept(&stamp(1, u32::MAX, NOW), NOW).is_err());
        assert_eq!(w.lost(), 0);
    }

    #[test]
    fn the_senders_clock_must_be_near_ours() {
        let mut w = PeerWindow::default();
        let e = w.accept(&stamp(7, 1, NOW - 30_001), NOW).unwrap_err();
        assert_eq!(e, ReplayError::Clock { skew_ms: 30_001 });
        assert!(e.to_string().contains("clocks synchronised"), "{e}");
        assert!(w.accept(&stamp(7, 1, NOW + 30_001), NOW).is_err());
        assert_eq!(w, PeerWindow::default(), "a refusal changes nothing");
        assert_eq!(w.accept(&stamp(7, 1, NOW - 30_000), NOW), Ok(()));
    }

    #[test]
    fn a_new_epoch_must_be_newer_than_the_last_message() {
        let mut w = PeerWindow::default();
        // Epoch 1 (an earlier start), then the sender restarts with epoch 2.
        w.accept(&stamp(1, 5, NOW), NOW).unwrap();
        w.accept(&stamp(2, 1, NOW + 1_000), NOW + 1_000).unwrap();
        // Epoch 1's message replayed: older than epoch 2's last.
        assert_eq!(
            w.accept(&stamp(1, 6, NOW + 500), NOW + 1_100),
            Err(ReplayError::Epoch { epoch: 1 })
        );
        assert_eq!(w.epoch(), Some(2));
        // A genuine restart (epoch 3, later): taken, and its numbering starts afresh.
        assert_eq!(w.accept(&stamp(3, 1, NOW + 2_000), NOW + 2_000), Ok(()));
        assert_eq!((w.epoch(), w.highest(), w.lost()), (Some(3), 1, 0));
    }
}
