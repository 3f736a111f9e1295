//! The short soak: `rvs_lab::soak` for two minutes, everything at once on the
//! HA lab. The long one is `scripts/soak --minutes N` (see the README). Needs root and
//! the tools `scripts/setup` installs (nginx among them).
//!
//! Part of `scripts/test`; alone: `cargo test --test soak -- --nocapture` (prints the
//! summary; `RVS_SOAK_SEED` picks another schedule).

use std::path::Path;
use std::time::Duration;

use rvs_lab::soak::{self, Options};

/// Two minutes of load, reconfiguration, a flap, junk and one failover: no connection
/// lost, no panic, counters that add up, memory within its bound.
#[test]
fn lab_soak_short_loses_no_connection() {
    rvs_lab::preflight();
    let rvsd = Path::new(env!("CARGO_BIN_EXE_rvsd")).to_owned();
    let seed = std::env::var("RVS_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let summary = soak::run(&Options {
        duration: Duration::from_secs(120),
        seed,
        rvsd,
    });
    let text = summary.render();
    eprintln!("{text}");
    assert!(summary.passed(), "{text}");
}
