//! The importers' targets: any text is imported or refused with an error, never a panic.

use rvs_import::keepalived::{self, Includes};
use rvs_import::Options;

fn options() -> Options {
    Options {
        addresses: vec![("eth0".into(), "10.0.0.2/24".into())],
        ..Options::default()
    }
}

/// Import `data` as a keepalived.conf (includes are not read).
pub fn keepalived(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keepalived::import_text(text, "fuzz.conf", &options(), Includes::Skip);
    }
}

/// Import `data` as an ldirectord.cf.
pub fn ldirectord(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rvs_import::ldirectord::import_text(text, "fuzz.cf", &options());
    }
}

/// Seeds: files that use most keywords.
pub fn seeds() -> [(&'static str, Vec<Vec<u8>>); 2] {
    [
        (
            "import_keepalived",
            vec![
                include_bytes!("../../import/tests/files/keepalived/full.conf").to_vec(),
                include_bytes!("../../import/tests/files/keepalived/conf.d/dr.conf").to_vec(),
            ],
        ),
        (
            "import_ldirectord",
            vec![include_bytes!("../../import/tests/files/ldirectord/full.cf").to_vec()],
        ),
    ]
}
