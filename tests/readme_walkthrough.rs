//! The README's walk-through ("A first director by hand") run as a newcomer would run it:
//! the shell blocks marked `<!-- walkthrough -->`, in order, in one bash session as root,
//! with this build's binaries in place of `target/release/`. The request through the VIP
//! must succeed and the listings must show its connection. The block marked
//! `<!-- walkthrough-cleanup -->` runs at the end whatever happened, and the namespaces
//! the walk-through names are removed after it in any case.
//!
//! Needs root and the tools `scripts/setup` installs; takes the lab lock, so it never runs
//! beside another lab (the walk-through's names, `rvs-client`, `rvs-director`, `rvs-real`,
//! are fixed, as a reader types them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rvs_lab::{preflight, run, LabLock};

/// The namespaces the walk-through creates.
const NAMESPACES: [&str; 3] = ["rvs-client", "rvs-director", "rvs-real"];

/// The marker before each block the walk-through runs.
const STEP: &str = "<!-- walkthrough -->";
/// The marker before the block that stops and removes everything.
const CLEANUP: &str = "<!-- walkthrough-cleanup -->";

/// The `sh` blocks of `readme` after `marker`, in order.
fn blocks(readme: &str, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != marker {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim),
            Some("```sh"),
            "{marker} must be followed by a ```sh block"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        out.push(body.join("\n"));
    }
    out
}

/// Runs `script` with bash in `dir`.
fn bash(dir: &Path, script: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("bash")
}

/// Runs the cleanup block, then removes whatever the walk-through left (its processes,
/// namespaces and directory), on drop: a failed step cleans up too.
struct Cleanup {
    dir: PathBuf,
    script: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = bash(&self.dir, &self.script);
        remove_namespaces();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills what runs in the walk-through's namespaces and removes them.
fn remove_namespaces() {
    for ns in NAMESPACES {
        if Path::new("/run/netns").join(ns).exists() {
            let _ = bash(
                Path::new("/"),
                &format!("ip netns pids {ns} | xargs -r kill -9"),
            );
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// The number in column `column` of the first line of `text` starting with `prefix`.
fn number(text: &str, prefix: &str, column: usize) -> u64 {
    text.lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .and_then(|l| l.split_whitespace().nth(column))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} line with a number:\n{text}"))
}

#[test]
fn the_readme_walkthrough_serves_a_request_through_the_vip() {
    preflight();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let steps = blocks(&readme, STEP);
    let cleanup = blocks(&readme, CLEANUP);
    assert!(steps.len() >= 5, "walk-through steps: {steps:?}");
    assert_eq!(cleanup.len(), 1, "one cleanup block");
    let bin = Path::new(env!("CARGO_BIN_EXE_rvsd"))
        .parent()
        .expect("binary directory");
    for tool in ["rvsadm", "rvsctl"] {
        assert!(
            bin.join(tool).exists(),
            "{tool} is missing next to rvsd: build the workspace (scripts/test does)"
        );
    }
    let here = |block: &str| block.replace("target/release/", &format!("{}/", bin.display()));

    let _lock = LabLock::acquire();
    // Left by a killed earlier run (the lock says no lab runs now).
    remove_namespaces();
    let dir = std::env::temp_dir().join(format!("rvs-walkthrough-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("walk-through directory");
    let guard = Cleanup {
        dir: dir.clone(),
        script: here(&cleanup[0]),
    };

    let mut script = String::from("set -euo pipefail\n");
    for (i, step) in steps.iter().enumerate() {
        script += &format!("echo '### step {}'\n{}\n", i + 1, here(step));
    }
    let out = bash(&dir, &script);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let rvsd_log = std::fs::read_to_string(dir.join("walk/rvsd.log")).unwrap_or_default();
    let context = format!(
        "stdout:\n{stdout}\nstderr:\n{}\nrvsd's log:\n{rvsd_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "a step failed:\n{context}");
    // python3's http.server answers a directory listing.
    assert!(
        stdout.contains("Directory listing for /"),
        "the request through the VIP:\n{context}"
    );
    // Conns is the third column of the service's and the real's lines.
    assert_eq!(number(&stdout, "TCP  10.0.0.100:80", 2), 1, "{context}");
    assert_eq!(number(&stdout, "-> 10.1.0.11:8080", 2), 1, "{context}");
    let conn = stdout.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&"TCP")
            && f.iter().any(|x| x.starts_with("10.0.0.2:"))
            && f.contains(&"10.0.0.100:80")
            && f.contains(&"10.1.0.11:8080")
    });
    assert!(conn, "-Lnc lists the connection:\n{context}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("10.1.0.11 ") && l.contains("reachable")),
        "rvsctl neighbors shows the real:\n{context}"
    );

    // The cleanup as the README gives it: rvsd stops on SIGTERM, nothing is left.
    let out = bash(&dir, &here(&cleanup[0]));
    let left: Vec<_> = NAMESPACES
        .iter()
        .filter(|ns| Path::new("/run/netns").join(ns).exists())
        .collect();
    assert!(
        left.is_empty(),
        "the cleanup left {left:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(guard);
}
