//! Big-endian fields read and written in place, for code that has checked a frame's
//! bounds first: the packet views here and the rewrites share these.

/// Read a big-endian u16 at `at` (callers have checked the bounds).
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Write a big-endian u16 at `at` (callers have checked the bounds).
#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Copy `N` bytes starting at `at` (callers have checked the bounds).
#[inline]
pub(super) fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}
