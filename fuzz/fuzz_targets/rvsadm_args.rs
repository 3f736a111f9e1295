//! rvsadm's argument parser: NUL-separated words, as a command line and as a `-R` line.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rvs_fuzz::rvsadm::run(data));
