//! rvsadm's argument parser target.

use rvs_ctl::adm::address::NumericOnly;
use rvs_ctl::adm::args::{parse, parse_restore_line};

/// Split `data` into words at NUL bytes and parse them as a command line and as one
/// `-R` line (names are not resolved: a fuzz run must not consult the resolver).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let words: Vec<String> = text.split('\0').map(str::to_owned).collect();
    let _ = parse(&words, &NumericOnly);
    let _ = parse_restore_line(&words, &NumericOnly);
}
