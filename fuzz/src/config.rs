//! The configuration parser target.

use rvs_config::Config;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;

/// Parse `data` as a configuration file; a configuration it accepts must also build a
/// snapshot or be refused with an error (never a panic).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, "fuzz.toml") {
        let ports = config.ports.len();
        let sw = vec![false; ports];
        let _ = Snapshot::build(&config, &[], &sw, &mut IdRegistry::default());
    }
}
