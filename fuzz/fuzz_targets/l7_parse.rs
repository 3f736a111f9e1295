//! Content switching's parsers (HTTP request line and Host, TLS ClientHello server
//! name): any bytes, never a panic, and no prefix decides otherwise than the whole.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rvs_fuzz::l7::run(data);
});
