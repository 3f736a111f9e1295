//! `hugepage-setup --check` tells the truth about this machine, whatever state it is in,
//! and after `hugepage-setup` it says "ready".
//!
//! A fresh machine is "not ready" (no hugepages reserved) until `hugepage-setup` runs, so
//! the first check reads the same facts from sysfs and `pkg-config` and checks that the
//! report agrees with them, names each missing thing with its fix, and counts them right.
//! Then the setup runs (as root: it reserves 256 pages of 2 MiB and mounts hugetlbfs, as
//! an operator would) and the check must say "ready"; a second setup changes nothing.
//! Afterwards the test puts the machine back as it found it, even when it fails: the
//! number of reserved pages is restored and a hugetlbfs it mounted is unmounted.

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

/// Where the setup mounts hugetlbfs for 2 MiB pages, and where it reserves them.
const MOUNT: &str = "/dev/hugepages";
const NR_HUGEPAGES: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";

fn hugetlbfs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&MOUNT) && f.get(2) == Some(&"hugetlbfs")
        })
    })
}

/// The machine's hugepage state before the test; dropping it restores that state.
struct Restore {
    pages: u64,
    mounted: bool,
}

impl Restore {
    fn record() -> Self {
        Self {
            pages: read_num(NR_HUGEPAGES),
            mounted: hugetlbfs_mounted(),
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if !self.mounted && hugetlbfs_mounted() {
            let ok = Command::new("umount")
                .arg(MOUNT)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("hugepage test: could not unmount the hugetlbfs at {MOUNT}");
            }
        }
        if read_num(NR_HUGEPAGES) != self.pages
            && std::fs::write(NR_HUGEPAGES, self.pages.to_string()).is_err()
        {
            eprintln!(
                "hugepage test: could not restore {} reserved hugepages",
                self.pages
            );
        }
    }
}

#[test]
fn check_tells_the_truth_and_setup_makes_the_machine_ready() {
    let before = Restore::record();
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
    let (pages, mounted) = (before.pages, before.mounted);
    drop(before);
    assert_eq!(read_num(NR_HUGEPAGES), pages, "reserved pages restored");
    assert_eq!(hugetlbfs_mounted(), mounted, "hugetlbfs mount restored");
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
