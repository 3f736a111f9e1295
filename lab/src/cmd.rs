//! Running the lab's commands: `ip`, `ethtool`, `curl`, `python3` and the like.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The tools the lab runs; `scripts/setup` installs them.
const TOOLS: &[&str] = &["ip", "ethtool", "curl", "ping", "python3"];

/// Panics unless the lab can be built here: root, and the tools it runs.
pub fn preflight() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        uid, "0",
        "the namespace lab needs root (it creates network namespaces and veth pairs); \
         run it as root, e.g. through scripts/test or scripts/demo"
    );
    let missing: Vec<_> = TOOLS
        .iter()
        .filter(|tool| find_in_path(tool).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "the namespace lab needs {missing:?}: run scripts/setup"
    );
}

/// Where `tool` is on the `PATH`.
fn find_in_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Runs a command to completion (stdin empty).
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn must(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command written as one line of words that must succeed (the lab's names and
/// addresses hold no spaces, so nothing needs quoting).
pub(crate) fn must_line(line: &str) {
    must(&line.split_whitespace().collect::<Vec<_>>());
}
