//! The control protocol decoder: any bytes, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rvs_control::server::decode(data);
});
