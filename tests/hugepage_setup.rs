//! `hugepage-setup --check` tells the truth about this machine, whatever state it is in,
//! and after `hugepage-setup` it says "ready".
//!
//! A fresh machine is "not ready" (no hugepages reserved) until `hugepage-setup` runs, so
//! the first check reads the same facts from sysfs and `pkg-config` and checks that the
//! report agrees with them, names each missing thing with its fix, and counts them right.
//! Then the setup runs (as root: it reserves 256 pages of 2 MiB and mounts hugetlbfs, as
//! an operator would) and the check must say "ready"; a second setup changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hugepage-setup/hugepage-setup")
}

fn run(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .output()
        .expect("run hugepage-setup (bash)")
}

fn read_num(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn check_tells_the_truth_and_setup_makes_the_machine_ready() {
    check_agrees_with_the_machine();
    let setup = run(&[]);
    assert!(
        setup.status.success(),
        "hugepage-setup failed (it needs root): {}{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );
    for round in ["after setup", "after a second setup"] {
        let out = run(&["--check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{round}:\n{text}");
        assert_eq!(text.lines().last(), Some("ready"), "{round}:\n{text}");
        check_agrees_with_the_machine();
        assert!(run(&[]).status.success(), "setup is idempotent");
    }
}

fn check_agrees_with_the_machine() {
    let out = run(&["--check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let last = *lines.last().expect("--check printed nothing");
    let missing: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("MISSING:"))
        .collect();

    match out.status.code() {
        Some(0) => {
            assert_eq!(last, "ready", "{text}");
            assert!(missing.is_empty(), "ready with things missing:\n{text}");
        }
        Some(1) => {
            assert_eq!(
                last,
                format!("not ready: {} thing(s) missing", missing.len()),
                "{text}"
            );
            assert!(!missing.is_empty(), "not ready but nothing named:\n{text}");
            for (i, l) in lines.iter().enumerate() {
                if l.starts_with("MISSING:") {
                    let fix = lines.get(i + 1).copied().unwrap_or_default();
                    assert!(
                        fix.trim_start().starts_with("fix:"),
                        "{l} has no fix:\n{text}"
                    );
                }
            }
        }
        other => panic!("--check exited with {other:?}:\n{text}"),
    }

    // The report agrees with the machine.
    let dir = "/sys/kernel/mm/hugepages/hugepages-2048kB";
    let (total, free) = (
        read_num(&format!("{dir}/nr_hugepages")),
        read_num(&format!("{dir}/free_hugepages")),
    );
    let pages_line = lines
        .iter()
        .find(|l| l.contains("hugepages:"))
        .unwrap_or_else(|| panic!("no hugepages line:\n{text}"));
    if Path::new(dir).is_dir() && total > 0 && free > 0 {
        assert!(pages_line.starts_with("ok:"), "{text}");
        assert!(pages_line.contains(&format!("{total} x 2048 kB")), "{text}");
    } else {
        assert!(pages_line.starts_with("MISSING:"), "{text}");
    }
    let dpdk = Command::new("pkg-config")
        .args(["--exists", "libdpdk"])
        .status()
        .is_ok_and(|s| s.success());
    let dpdk_line = lines
        .iter()
        .find(|l| l.contains("DPDK:"))
        .unwrap_or_else(|| panic!("no DPDK line:\n{text}"));
    assert_eq!(dpdk_line.starts_with("ok:"), dpdk, "{text}");
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["--pages", "lots"][..],
        &["--nonsense"],
        &["--check", "--bind"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?} was not refused");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("hugepage-setup:"),
            "{args:?}: no message"
        );
    }
}
