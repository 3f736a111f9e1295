//! A director told to stop is gone within `[ctl] shutdown_timeout` (2 s by default),
//! whatever fails on the way, and says what it gave up.
//!
//! rvsd runs in the namespace lab with an `[announce]` section and a kernel TAP mirror
//! of its wan port. Its run directory (the control socket, and in the first case the
//! announce file) is removed while it runs, as an operator's cleanup would, and the
//! reload command fails (first case) or hangs (second case) when rvsd withdraws its
//! routes. SIGTERM then ends it within the bound plus a margin.
//!
//! Needs root and the tools `scripts/setup` installs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rvs_lab::{preflight, Lab, Pmd, Rvsd, Service};

/// `[ctl] shutdown_timeout`'s default.
const BOUND: Duration = Duration::from_secs(2);
/// What the test allows beyond the bound (process exit, the test's polling, a busy host).
const MARGIN: Duration = Duration::from_secs(2);

/// The reload command: succeeds until the file `MODE` says `fail` (exit 1) or `hang`
/// (sleeps, its process id in `PID` so that the test can end it).
const RELOAD: &str = r#"#!/bin/sh
dir=$(dirname "$0")
case "$(cat "$dir/mode" 2>/dev/null)" in
  fail) exit 1 ;;
  hang) echo $$ > "$dir/reload.pid"; exec sleep 20 ;;
  *) exit 0 ;;
esac
"#;

/// A director whose control socket lives in `run`, whose announce file lives in
/// `routes_dir`, with a kernel mirror of its wan port and the reload script of `lab`.
fn config(lab: &Lab, run: &Path, routes_dir: &Path) -> PathBuf {
    let services = [Service::new("tcp", "10.0.0.100", 80, "rr")
        .real("10.1.1.11", 8080, "nat", 1)
        .real("10.1.2.11", 8080, "nat", 1)];
    let path = lab.write_config("stop", Pmd::AfPacket, None, &services);
    let text = std::fs::read_to_string(&path).expect("config");
    let socket = lab.socket().display().to_string();
    let kernel = lab.iface("k");
    let text = text
        .replacen(&socket, &run.join("rvsd.sock").display().to_string(), 1)
        .replacen(
            "addresses = [\"10.0.0.1/24\", \"fd00::1/64\"]",
            &format!("addresses = [\"10.0.0.1/24\", \"fd00::1/64\"]\nkernel = \"{kernel}\""),
            1,
        )
        + &format!(
            "\n[announce]\nfile = \"{}\"\nreload = [\"{}\"]\n",
            routes_dir.join("vips.conf").display(),
            lab.dir().join("reload.sh").display()
        );
    std::fs::write(&path, text).expect("config");
    path
}

/// Start rvsd, wait for its first announcement, remove `run`, set the reload's `mode`,
/// SIGTERM: rvsd must be gone within the bound. Returns its exit status and log.
fn stop_with(lab: &Lab, routes_in_run: bool, mode: &str) -> (Option<i32>, String) {
    let run = lab.dir().join(format!("run-{mode}"));
    std::fs::create_dir_all(&run).expect("run dir");
    let routes_dir = if routes_in_run {
        run.clone()
    } else {
        lab.dir().to_path_buf()
    };
    let _ = std::fs::remove_file(lab.dir().join("mode"));
    let path = config(lab, &run, &routes_dir);
    let rvsd = Rvsd::start(lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &path);
    let routes = routes_dir.join("vips.conf");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&routes).is_ok_and(|t| t.contains("10.0.0.100/32")) {
        assert!(
            std::time::Instant::now() < deadline,
            "rvsd never announced the VIP"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(lab.dir().join("mode"), mode).expect("mode");
    std::fs::remove_dir_all(&run).expect("remove the run directory");
    std::thread::sleep(Duration::from_millis(300));
    let (status, took, log) = rvsd.terminate(BOUND + MARGIN + Duration::from_secs(10));
    if let Ok(pid) = std::fs::read_to_string(lab.dir().join("reload.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    eprintln!("lab: rvsd stopped in {took:?} ({mode}, {status:?})");
    assert!(
        status.is_some(),
        "rvsd still ran {took:?} after SIGTERM:\n{log}"
    );
    assert!(
        took < BOUND + MARGIN,
        "rvsd took {took:?} to stop (bound {BOUND:?}):\n{log}"
    );
    (status.and_then(|s| s.code()), log)
}

#[test]
fn lab_sigterm_with_the_run_directory_gone_and_the_reload_failing_stops_within_the_bound() {
    preflight();
    let lab = Lab::new('z');
    std::fs::write(lab.dir().join("reload.sh"), RELOAD).expect("script");
    let chmod = std::process::Command::new("chmod")
        .arg("755")
        .arg(lab.dir().join("reload.sh"))
        .status();
    assert!(chmod.is_ok_and(|s| s.success()));

    // The announce file's directory is gone: the withdrawal fails at once, and says so;
    // everything else stops in order.
    let (code, log) = stop_with(&lab, true, "fail");
    assert!(
        log.lines()
            .any(|l| l.starts_with("rvsd: announce") && l.contains("vips.conf")),
        "the failed withdrawal is reported:\n{log}"
    );
    // 0 when the failed withdrawal gave up at once, 3 when it was still retrying at the
    // bound: either way within it.
    assert!(matches!(code, Some(0 | 3)), "exit status {code:?}:\n{log}");

    // The routing daemon hangs: the withdrawal is abandoned at the bound, named, and the
    // exit status says the stop was not clean; the workers and ports still stop.
    let (code, log) = stop_with(&lab, false, "hang");
    assert!(
        log.lines()
            .any(|l| l.starts_with("rvsd: stop: abandoned after")
                && l.contains("withdrawing the announced routes")),
        "the abandoned step is named:\n{log}"
    );
    assert_eq!(
        code,
        Some(3),
        "status 3: part of the stop was given up:\n{log}"
    );
}
