//! rvsd's command line as an operator meets it, without DPDK and without root: `--help`
//! and `--version`, the checks made before the EAL starts (a missing interface, a file
//! without ports), and a final report that cannot be written.

mod common;

use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use common::*;

fn rvsd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rvsd"))
}

#[test]
fn help_and_version_exit_0_and_help_describes_the_daemon() {
    let help = rvsd().arg("--help").output().expect("run rvsd");
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "layer-4 load balancer",
        "SIGHUP",
        "SIGTERM",
        "[ctl] socket",
        "/run/rvs/rvsd.sock",
        "stderr",
        "Exit status",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(
        !text.contains("forwarding core"),
        "the library's text:\n{text}"
    );
    let version = rvsd().arg("--version").output().expect("run rvsd");
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("rvsd "));
    let bad = rvsd().arg("--bogus").output().expect("run rvsd");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_missing_interface_is_named_before_dpdk_starts() {
    let dir = test_dir("missing-iface");
    let iface = format!("rv{:x}none", std::process::id());
    let config = dir.join("rvs.toml");
    std::fs::write(
        &config,
        format!(
            "[[port]]\nname = \"wan0\"\ndevice = \"net_af_packet0,iface={iface}\"\n\
             addresses = [\"10.0.0.1/24\"]\n"
        ),
    )
    .unwrap();
    let out = rvsd()
        .arg("--config")
        .arg(&config)
        .arg("--no-huge")
        .stdin(Stdio::null())
        .output()
        .expect("run rvsd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "rvsd: port \"wan0\" (device \"net_af_packet0,iface={iface}\"): there is no \
             interface \"{iface}\" in rvsd's network namespace (see `ip link`)"
        ),
        "one line naming the interface, before any EAL output"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_file_without_ports_is_refused() {
    let dir = test_dir("no-ports");
    let config = dir.join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let out = rvsd()
        .arg("--config")
        .arg(&config)
        .arg("--no-huge")
        .stdin(Stdio::null())
        .output()
        .expect("run rvsd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("rvsd: the configuration has no [[port]]"),
        "{stderr}"
    );
}

/// The final report to a closed pipe (`rvsd ... | true`): a message and exit status 3,
/// not a panic (101).
#[test]
fn a_report_to_a_closed_pipe_is_an_error_not_a_panic() {
    let dir = test_dir("closed-pipe");
    let config = dir.join("rvs.toml");
    std::fs::write(&config, replay_director(64).to_toml()).unwrap();
    let input = dir.join("in.pcap");
    write_pcap(&input, &[]);
    // The reading end is closed before rvsd starts, so its write must fail as a write to
    // a closed pipe does (EPIPE; a socket pair stands in for the pipe).
    let (reader, writer) = UnixStream::pair().expect("a socket pair");
    drop(reader);
    let writer = Stdio::from(std::os::fd::OwnedFd::from(writer));
    let out = rvsd()
        .arg("--config")
        .arg(&config)
        .arg("--replay")
        .arg(format!("wan0={}", input.display()))
        .arg("--out")
        .arg(dir.join("out"))
        .env_remove("RUST_BACKTRACE")
        .stdout(writer)
        .output()
        .expect("run rvsd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("rvsd: writing the final report to stdout: Broken pipe"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The same to a full device (`rvsd ... > /dev/full`).
#[test]
fn a_report_to_a_full_device_is_an_error_not_a_panic() {
    let dir = test_dir("dev-full");
    let config = dir.join("rvs.toml");
    std::fs::write(&config, replay_director(64).to_toml()).unwrap();
    let input = dir.join("in.pcap");
    write_pcap(&input, &[]);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = rvsd()
        .arg("--config")
        .arg(&config)
        .arg("--replay")
        .arg(format!("wan0={}", input.display()))
        .arg("--out")
        .arg(dir.join("out"))
        .stdout(full)
        .output()
        .expect("run rvsd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
}
