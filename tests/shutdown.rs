//! A director told to stop is gone within `[ctl] shutdown_timeout` (2 s by default),
//! whatever fails on the way, and says what it gave up.
//!
//! rvsd runs in the namespace lab with an `[announce]` section and a kernel TAP mirror
//! of its wan port. Its run directory (the control socket, and in the first case the
//! announce file) is removed while it runs, as an operator's cleanup would, and the
//! reload command fails (first case) or hangs (second case) when rvsd withdraws its
//! routes, or hangs in a SIGHUP reload when the signal comes (third case). SIGTERM then
//! ends it within the bound plus a margin.
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

/// What is under way when SIGTERM comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// The run directory, announce file included, is gone; the reload fails.
    RunDirectoryGone,
    /// The socket's directory is gone; the reload hangs when rvsd withdraws at the stop.
    ReloadHangsAtStop,
    /// A SIGHUP reload withdrew the VIP, and its reload command hangs when SIGTERM comes.
    ReloadHangsBeforeStop,
}

/// Start rvsd, wait for its first announcement, remove its run directory, set up `case`,
/// SIGTERM: rvsd must be gone within the bound. Returns its exit status and log.
fn stop_with(lab: &Lab, case: Case) -> (Option<i32>, String) {
    let (routes_in_run, mode) = match case {
        Case::RunDirectoryGone => (true, "fail"),
        Case::ReloadHangsAtStop | Case::ReloadHangsBeforeStop => (false, "hang"),
    };
    let run = lab.dir().join(format!("run-{case:?}"));
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
    if case == Case::ReloadHangsBeforeStop {
        // The VIP may no longer be announced: a reload withdraws it, and runs the
        // (hanging) reload command.
        let text = std::fs::read_to_string(&path).expect("config");
        let text = text.replacen("[[service]]\n", "[[service]]\nannounce = false\n", 1);
        std::fs::write(&path, text).expect("config");
        let pid = rvsd.pid().to_string();
        rvs_lab::must(&["sh", "-c", "kill -HUP \"$1\"", "sh", &pid]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !lab.dir().join("reload.pid").exists() {
            assert!(std::time::Instant::now() < deadline, "the reload never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, took, log) = rvsd.terminate(BOUND + MARGIN + Duration::from_secs(10));
    if let Ok(pid) = std::fs::read_to_string(lab.dir().join("reload.pid")) {
        // The shell's builtin `kill`: a minimal CI image may have no kill binary.
        let _ = std::process::Command::new("sh")
            .args(["-c", "kill \"$1\"", "sh", pid.trim()])
            .status();
    }
    let _ = std::fs::remove_file(lab.dir().join("reload.pid"));
    eprintln!("lab: rvsd stopped in {took:?} ({case:?}, {status:?})");
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
    let (code, log) = stop_with(&lab, Case::RunDirectoryGone);
    assert!(
        log.lines().any(
            |l| rvs_lab::log_message(l).is_some_and(|m| m.starts_with("announce"))
                && l.contains("vips.conf")
        ),
        "the failed withdrawal is reported:\n{log}"
    );
    // 0 when the failed withdrawal gave up at once, 3 when it was still retrying at the
    // bound: either way within it.
    assert!(matches!(code, Some(0 | 3)), "exit status {code:?}:\n{log}");

    // The routing daemon hangs: the withdrawal is given up before the control core's
    // share of the bound ends (or abandoned at it), named, and the exit status says the
    // stop was not clean; the workers and ports still stop.
    let (code, log) = stop_with(&lab, Case::ReloadHangsAtStop);
    assert!(
        log.lines().any(given_up_withdrawal),
        "the withdrawal given up is named:\n{log}"
    );
    assert_eq!(
        code,
        Some(3),
        "status 3: part of the stop was given up:\n{log}"
    );

    // A SIGHUP reload's command hangs when the signal comes (it runs beside the control
    // core): the withdrawal waits for it until its deadline, then is given up, named.
    let (code, log) = stop_with(&lab, Case::ReloadHangsBeforeStop);
    if code == Some(3) {
        assert!(
            log.lines().any(given_up_withdrawal),
            "what was given up is named:\n{log}"
        );
    } else {
        assert_eq!(code, Some(0), "{log}");
    }
}

/// A log line that names a withdrawal given up at the stop: failed before the control
/// core's deadline, or abandoned at the bound.
fn given_up_withdrawal(line: &str) -> bool {
    rvs_lab::log_message(line).is_some_and(|m| {
        (m.starts_with("stop: failed:") || m.starts_with("stop: abandoned after"))
            && m.contains("withdrawing the announced routes")
    })
}
