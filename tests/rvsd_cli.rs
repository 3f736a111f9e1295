//! rvsd's command line as an operator meets it, mostly without DPDK: `--help` and
//! `--version`, the checks made before the EAL starts (a missing interface, a file without
//! ports) and `--check`, the log's line format (and its journald form), the final report
//! (one line of JSON, to stdout or `--report FILE`) and one that cannot be written.

mod common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use rvs_lab::{log_message, log_parts};

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
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.iter().map(|l| log_parts(l)).collect::<Vec<_>>(),
        [Some((
            "ERROR",
            format!(
                "port \"wan0\" (device \"net_af_packet0,iface={iface}\"): there is no \
                 interface \"{iface}\" in rvsd's network namespace (see `ip link`)"
            )
            .as_str()
        ))],
        "one line naming the interface, before any EAL output:\n{stderr}"
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
        log_message(&stderr).is_some_and(|m| m.starts_with("the configuration has no [[port]]")),
        "{stderr}"
    );
}

/// Every line is `YYYY-MM-DDTHH:MM:SS.mmmZ rvsd LEVEL message` outside the journal; with
/// stderr the journal's stream (`JOURNAL_STREAM` names it), `<PRIORITY>rvsd: message`,
/// and a `JOURNAL_STREAM` that names another file changes nothing.
#[test]
fn log_lines_carry_a_utc_timestamp_and_a_level_or_a_journal_priority() {
    let dir = test_dir("log-format");
    let config = dir.join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let refused = |journal_stream: Option<&dyn Fn(&std::fs::File) -> String>| {
        let (mut reader, writer) = std::io::pipe().expect("a pipe");
        let file = std::fs::File::from(std::os::fd::OwnedFd::from(
            writer.try_clone().expect("the pipe's other end"),
        ));
        let mut cmd = rvsd();
        cmd.arg("--config")
            .arg(&config)
            .env_remove("JOURNAL_STREAM");
        if let Some(stream) = journal_stream {
            cmd.env("JOURNAL_STREAM", stream(&file));
        }
        drop(file);
        let status = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(writer)
            .status()
            .expect("run rvsd");
        drop(cmd);
        let mut text = String::new();
        reader.read_to_string(&mut text).expect("rvsd's stderr");
        assert_eq!(status.code(), Some(1), "{text}");
        text
    };
    let plain = refused(None);
    let (stamp, rest) = plain.split_once(' ').expect("a timestamp");
    assert!(
        rest.starts_with("rvsd ERROR the configuration has no [[port]]"),
        "{plain}"
    );
    let b = stamp.as_bytes();
    assert_eq!(b.len(), 24, "{stamp}");
    for (i, c) in b.iter().enumerate() {
        match i {
            4 | 7 => assert_eq!(*c, b'-', "{stamp}"),
            10 => assert_eq!(*c, b'T', "{stamp}"),
            13 | 16 => assert_eq!(*c, b':', "{stamp}"),
            19 => assert_eq!(*c, b'.', "{stamp}"),
            23 => assert_eq!(*c, b'Z', "{stamp}"),
            _ => assert!(c.is_ascii_digit(), "{stamp}"),
        }
    }
    assert!(
        plain.ends_with('\n') && plain.lines().count() == 1,
        "{plain}"
    );

    let names_stderr = |f: &std::fs::File| {
        let m = f.metadata().expect("the pipe's metadata");
        format!("{}:{}", m.dev(), m.ino())
    };
    let journal = refused(Some(&names_stderr));
    assert!(
        journal.starts_with("<3>rvsd: the configuration has no [[port]]"),
        "{journal}"
    );
    let elsewhere = refused(Some(&|_: &std::fs::File| "0:1".to_owned()));
    assert!(log_message(&elsewhere).is_some(), "{elsewhere}");
}

/// `rvsd --check FILE` for systemd's ExecStartPre and a person before a restart.
fn check(file: &Path) -> (Option<i32>, String, String) {
    let out = rvsd()
        .arg("--check")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run rvsd");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn check_accepts_a_good_file_without_starting_dpdk() {
    let dir = test_dir("check-ok");
    let config = dir.join("rvs.toml");
    // `lo` is in every network namespace.
    std::fs::write(
        &config,
        "[dataplane]\nworkers = 1\n\n[[port]]\nname = \"wan0\"\n\
         device = \"net_af_packet0,iface=lo\"\naddresses = [\"10.0.0.2/24\"]\n\n\
         [[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n\n\
         [[service.real]]\nip = \"10.0.0.11\"\nport = 80\nforward = \"dr\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check(&config);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, format!("{}: ok\n", config.display()));
    assert!(!stderr.contains("EAL"), "DPDK started:\n{stderr}");

    // A warning (more workers than CPUs) is said; the file is still ok.
    let many = dir.join("many.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&many, text.replace("workers = 1", "workers = 4096")).unwrap();
    let (code, stdout, stderr) = check(&many);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, format!("{}: ok\n", many.display()));
    assert!(
        stderr.starts_with(&format!("{}: warning: 4096 worker(s)", many.display())),
        "{stderr}"
    );
}

#[test]
fn check_refuses_what_rvsd_would_refuse_at_start() {
    let dir = test_dir("check-refused");
    let iface = format!("rv{:x}none", std::process::id());
    let cases = [
        // A rule of the file, with its line.
        (
            "rule.toml",
            "[[port]]\nname = \"wan0\"\ndevice = \"net_null0\"\naddresses = [\"10.0.0.2\"]\n"
                .to_owned(),
            "rule.toml:4:",
        ),
        // A syntax error.
        ("syntax.toml", "[[port]\n".to_owned(), "syntax.toml:1:"),
        // A port on an interface this namespace lacks.
        (
            "iface.toml",
            format!("[[port]]\nname = \"wan0\"\ndevice = \"net_af_packet0,iface={iface}\"\n"),
            "iface.toml: port \"wan0\"",
        ),
        // No port at all.
        (
            "empty.toml",
            String::new(),
            "empty.toml: the configuration has no [[port]]",
        ),
    ];
    for (name, text, said) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let (code, stdout, stderr) = check(&file);
        assert_eq!(code, Some(1), "{name}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{name}: {stdout}");
        assert!(stderr.contains(said), "{name}: {said} not in {stderr}");
        assert!(!stderr.contains("EAL"), "{name}: DPDK started:\n{stderr}");
    }
    let (code, _, stderr) = check(&dir.join("absent.toml"));
    assert_eq!(code, Some(1), "{stderr}");
}

/// The final report is one line of JSON: on stdout, or in the file `--report` names
/// (stdout then empty); a report file that cannot be created gives status 3.
#[test]
fn the_report_is_one_json_line_on_stdout_or_in_the_report_file() {
    let dir = test_dir("report-file");
    let config = dir.join("rvs.toml");
    std::fs::write(&config, replay_director(64).to_toml()).unwrap();
    let input = dir.join("in.pcap");
    write_pcap(&input, &[]);
    let replay = |extra: &[&std::ffi::OsStr]| {
        rvsd()
            .arg("--config")
            .arg(&config)
            .arg("--replay")
            .arg(format!("wan0={}", input.display()))
            .arg("--out")
            .arg(dir.join("out"))
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("run rvsd")
    };
    let out = replay(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(json.get("dropped").is_some(), "{json}");

    let file = dir.join("report.json");
    let out = replay(&["--report".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&file).expect("the report file");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        json
    );

    let nowhere = dir.join("no-such-dir").join("report.json");
    let out = replay(&["--report".as_ref(), nowhere.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        log_parts(&stderr).is_some_and(
            |(level, m)| level == "ERROR" && m.starts_with("writing the final report to ")
        ),
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
        log_message(&stderr)
            .is_some_and(|m| m.starts_with("writing the final report to stdout: Broken pipe")),
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

/// A live director (a `net_null` device, no hugepages) that stops: every line it logs is
/// in the log's form, the last one sums the run up, and the report is one line of JSON
/// in the `--report` file.
#[test]
fn a_live_stop_is_summed_up_in_one_log_line_and_one_json_line() {
    let dir = test_dir("live-report");
    let config = dir.join("rvs.toml");
    std::fs::write(
        &config,
        format!(
            "[dataplane]\nworkers = 1\nconn_capacity = 4096\n\n\
             [dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
             [ctl]\nsocket = \"{}\"\nmetrics = \"127.0.0.1:0\"\n\n\
             [[port]]\nname = \"wan\"\ndevice = \"net_null0\"\naddresses = [\"10.0.0.2/24\"]\n",
            dir.join("rvsd.sock").display()
        ),
    )
    .unwrap();
    let report = dir.join("report.json");
    let out = rvsd()
        .arg("--config")
        .arg(&config)
        .args(["--no-huge", "--duration", "1", "--idle-sleep-us", "100"])
        .arg("--report")
        .arg(&report)
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .output()
        .expect("run rvsd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(out.stdout.is_empty(), "the report went to the file");
    // DPDK's own lines (`EAL: ...`) aside, every line is rvsd's, in the log's form.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("EAL:") && !l.starts_with("TELEMETRY:"))
        .collect();
    for l in &ours {
        assert!(
            log_parts(l).is_some(),
            "not in the log's form: {l:?}\n{stderr}"
        );
    }
    assert!(
        ours.iter()
            .any(|l| log_message(l).is_some_and(|m| m.starts_with("running 1 worker"))),
        "{stderr}"
    );
    let last = ours.last().and_then(|l| log_parts(l));
    let Some(("INFO", summary)) = last else {
        panic!("no summary at the end:\n{stderr}");
    };
    assert!(summary.starts_with("stopped after "), "{summary}");
    assert!(
        summary.contains(" packets in, ") && summary.contains(" connections, drops "),
        "{summary}"
    );
    let text = std::fs::read_to_string(&report).expect("the report file");
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for key in [
        "received",
        "dropped",
        "connections_created",
        "elapsed_seconds",
        "workers",
        "ports",
        "stop_abandoned",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
}
