//! The configuration parser: any text, never a panic; what it accepts builds a snapshot
//! or is refused with an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rvs_fuzz::config::run(data));
