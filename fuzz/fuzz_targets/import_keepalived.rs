//! The keepalived importer: any text is imported or refused with its line, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rvs_fuzz::import::keepalived(data));
