//! The packet pipeline of a director whose services all forward by DR, frames on both ports.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rvs_fuzz::pipeline::run(
    rvs_fuzz::pipeline::Mode::Dr,
    data
));
