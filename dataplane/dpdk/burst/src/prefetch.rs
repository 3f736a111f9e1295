//! Software prefetch: start loading memory that a later step of a burst will read.

/// Cache line size of the x86-64 and most ARM64 CPUs rvs runs on.
const LINE: usize = 64;

/// Ask the CPU to start loading every cache line `value` occupies into all cache levels,
/// so that a read a little later finds it there. A hint only: it changes no memory and
/// never faults, whatever `value` is; a no-op on CPUs without a prefetch instruction here.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    let start = (value as *const T).cast::<u8>();
    let len = std::mem::size_of_val(value).max(1);
    let offset = start as usize % LINE;
    let lines = (offset + len).div_ceil(LINE);
    let mut at = start.wrapping_sub(offset);
    for _ in 0..lines {
        line(at);
        at = at.wrapping_add(LINE);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn line(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: PREFETCHT0 is a hint: it reads nothing architecturally, writes nothing and
    // never faults, for any address; SSE, which it needs, is part of the x86-64 baseline.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn line(_p: *const u8) {}

#[cfg(test)]
mod tests {
    use super::prefetch;

    #[test]
    fn prefetch_of_any_size_and_place_is_harmless() {
        let v = vec![7u8; 300];
        prefetch(&v[..]);
        prefetch(&v[63..65]);
        prefetch(&v[0..0]);
        prefetch(&());
        assert!(v.iter().all(|&b| b == 7));
    }
}
