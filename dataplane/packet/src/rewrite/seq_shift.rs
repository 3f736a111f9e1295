//! Sequence-space shift of a connection whose client byte stream got `n` bytes in front
//! (a PROXY header): the real counts the client's bytes `n` further than the client.
//! Toward the real every sequence number past the client's first byte moves up by `n`;
//! toward the client every acknowledgment (and SACK edge) moves down by `n`, and one
//! that acknowledges only part of the inserted bytes becomes the client's first byte.

/// The client's first byte is `first` (its ISN + 1); `seq` a sequence number it sent.
/// True when `seq` lies at or after `first` (modulo 2^32, within half the space).
#[inline]
pub fn at_or_after(seq: u32, first: u32) -> bool {
    (seq.wrapping_sub(first) as i32) >= 0
}

/// A client sequence number as the real counts it.
#[inline]
pub fn toward_real(seq: u32, first: u32, n: u32) -> u32 {
    if at_or_after(seq, first) {
        seq.wrapping_add(n)
    } else {
        seq
    }
}

/// An acknowledgment number (or SACK edge) of the real as the client counts it.
#[inline]
pub fn toward_client(ack: u32, first: u32, n: u32) -> u32 {
    let past = ack.wrapping_sub(first) as i32;
    if past <= 0 {
        ack
    } else if past as u32 >= n {
        ack.wrapping_sub(n)
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shifts_around_the_first_byte_and_the_wrap() {
        assert_eq!(toward_real(1000, 1001, 44), 1000);
        assert_eq!(toward_real(1001, 1001, 44), 1045);
        assert_eq!(toward_real(u32::MAX, u32::MAX - 1, 10), 9);
        assert_eq!(toward_client(1001, 1001, 44), 1001);
        assert_eq!(toward_client(1020, 1001, 44), 1001);
        assert_eq!(toward_client(1045, 1001, 44), 1001);
        assert_eq!(toward_client(1046, 1001, 44), 1002);
        assert_eq!(toward_client(9, u32::MAX - 1, 10), u32::MAX);
    }

    proptest! {
        #[test]
        fn client_numbers_come_back_unchanged(first: u32, n in 1u32..108, off in 0u32..(1 << 30)) {
            let seq = first.wrapping_add(off);
            prop_assert_eq!(toward_client(toward_real(seq, first, n), first, n), seq);
        }
    }
}
