//! Helpers of the importer tests: import, parse with rvs's own parser, look up dropped
//! items.

#![allow(dead_code)]

use rvs_config::Config;
use rvs_import::{Dropped, Import, ImportError, Options};

/// The options the tests use: eth0 holds the director's own 10.0.0.2/24.
pub fn options() -> Options {
    Options {
        ports: vec![("eth0".into(), "wan".into()), ("eth1".into(), "lan".into())],
        addresses: vec![("eth0".into(), "10.0.0.2/24".into())],
        devices: Vec::new(),
    }
}

/// The import's configuration, parsed and validated by rvs-config.
pub fn parsed(import: &Import) -> Config {
    Config::parse(&import.toml, "imported.toml").unwrap_or_else(|e| panic!("{e}\n{}", import.toml))
}

/// keepalived text (includes not read), imported and parsed.
pub fn keepalived(text: &str) -> (Config, Vec<Dropped>) {
    let import = rvs_import::keepalived::import_text(
        text,
        "keepalived.conf",
        &options(),
        rvs_import::keepalived::Includes::Skip,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (parsed(&import), import.dropped)
}

/// The error keepalived text gives.
pub fn keepalived_err(text: &str) -> ImportError {
    match rvs_import::keepalived::import_text(
        text,
        "keepalived.conf",
        &options(),
        rvs_import::keepalived::Includes::Skip,
    ) {
        Ok(i) => panic!("accepted:\n{}", i.toml),
        Err(e) => e,
    }
}

/// ldirectord text, imported and parsed.
pub fn ldirectord(text: &str) -> (Config, Vec<Dropped>) {
    let import = rvs_import::ldirectord::import_text(text, "ldirectord.cf", &options())
        .unwrap_or_else(|e| panic!("{e}"));
    (parsed(&import), import.dropped)
}

/// The error ldirectord text gives.
pub fn ldirectord_err(text: &str) -> ImportError {
    match rvs_import::ldirectord::import_text(text, "ldirectord.cf", &options()) {
        Ok(i) => panic!("accepted:\n{}", i.toml),
        Err(e) => e,
    }
}

/// The dropped items as `LINE: what`, one string each.
pub fn lines(dropped: &[Dropped]) -> Vec<String> {
    dropped
        .iter()
        .map(|d| format!("{}: {}", d.loc.line, d.what))
        .collect()
}

/// Whether some item was dropped at `line` with `words` in its reason.
pub fn dropped_at(dropped: &[Dropped], line: usize, words: &str) -> bool {
    dropped
        .iter()
        .any(|d| d.loc.line == line && d.what.contains(words))
}

/// Assert `err` is a malformed-file error at `line` whose message holds `words`.
pub fn assert_malformed(err: &ImportError, line: usize, words: &str) {
    match err {
        ImportError::Malformed { loc, problem } => {
            assert_eq!(loc.line, line, "{err}");
            assert!(problem.contains(words), "{err}: no {words:?}");
        }
        other => panic!("not a malformed-file error: {other}"),
    }
}
