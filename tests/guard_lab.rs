//! Guarded services in the network-namespace lab (the `rvs-lab` crate), rvsd on
//! `net_af_packet` ports: a client address the deny list names gets nothing (its SYN is
//! answered by a RST under `limit_reset`) while another address of the client namespace
//! is served; a client opening 200 connections a second against a limit of 20 a second
//! gets its bucket's worth and then 20 a second, while the other client, opening a few,
//! is unaffected; rvsctl and rvsd's report count the refusals by reason and name the
//! limited client.
//!
//! Needs root and the tools `scripts/setup` installs; without them the test fails and
//! says so. Everything the lab creates is named with the process id and removed when the
//! lab is dropped, on failure too.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rvs_lab::{must, preflight, Lab, Pmd, Rvsd, Service};

const VIP: &str = "10.0.0.100";
/// The client namespace's second address, on the same veth as its first (10.0.0.2).
const OTHER_CLIENT: &str = "10.0.0.3";

/// `python3 - HOST PORT SOURCE COUNT RATE`: COUNT connections from SOURCE, RATE a second
/// (at most 10 s in all), each closed at once; prints `OPENED REFUSED`.
const OPENER: &str = r#"
import socket, sys, time
host, port, source, count, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
start = time.monotonic()
opened = refused = 0
for i in range(count):
    if time.monotonic() - start > 10:
        break
    wait = start + i / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    s = socket.socket()
    s.settimeout(2)
    s.bind((source, 0))
    try:
        s.connect((host, port))
        opened += 1
    except OSError:
        refused += 1
    finally:
        s.close()
print(opened, refused)
"#;

/// Run [`OPENER`] in the client namespace; (opened, refused).
fn open(lab: &Lab, port: u16, source: &str, count: u32, rate: u32) -> (u32, u32) {
    let out = lab.exec(
        "c",
        &[
            "python3",
            "-c",
            OPENER,
            VIP,
            &port.to_string(),
            source,
            &count.to_string(),
            &rate.to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|n| n.parse().unwrap_or(0));
    match (it.next(), it.next()) {
        (Some(a), Some(b)) if out.status.success() => (a, b),
        _ => panic!("opener failed: {out:?}"),
    }
}

/// `rvsctl --json guards`, when rvsctl is built beside rvsd.
fn guards(lab: &Lab) -> Option<serde_json::Value> {
    let bin = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name("rvsctl");
    if !bin.exists() {
        return None;
    }
    let out = Command::new(&bin)
        .arg("--socket")
        .arg(lab.socket())
        .args(["--json", "guards"])
        .output()
        .expect("rvsctl");
    assert!(out.status.success(), "rvsctl guards: {out:?}");
    Some(serde_json::from_slice(&out.stdout).expect("rvsctl json"))
}

#[test]
fn lab_af_packet_deny_list_and_rate_limit() {
    preflight();
    let lab = Lab::new('g');
    let c = lab.ns("c");
    must(&[
        "ip",
        "-n",
        &c,
        "addr",
        "add",
        &format!("{OTHER_CLIENT}/24"),
        "dev",
        &lab.iface("cw"),
        "nodad",
    ]);
    let services = [
        Service::new("tcp", VIP, 80, "rr")
            .real("10.1.1.11", 8080, "nat", 1)
            .keys(&format!(
                "deny = [\"{OTHER_CLIENT}/32\"]\nlimit_reset = true\n"
            )),
        Service::new("tcp", VIP, 81, "rr")
            .real("10.1.2.11", 8080, "nat", 1)
            .keys("limit_new_per_client = 20\nlimit_reset = true\n"),
    ];
    let config = lab.write_config("guard", Pmd::AfPacket, None, &services);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);

    // The deny list: the other address is refused at once (a RST), the first is served.
    let served = lab.exec(
        "c",
        &[
            "curl",
            "-s",
            "-m",
            "5",
            "--interface",
            "10.0.0.2",
            "http://10.0.0.100/",
        ],
    );
    assert!(served.status.success(), "{served:?}\n{}", rvsd.log());
    let started = Instant::now();
    let denied = lab.exec(
        "c",
        &[
            "curl",
            "-s",
            "-m",
            "5",
            "--interface",
            OTHER_CLIENT,
            "http://10.0.0.100/",
        ],
    );
    // curl's exit code 7: failed to connect (refused); 28 would be its timeout.
    assert_eq!(denied.status.code(), Some(7), "{denied:?}\n{}", rvsd.log());
    assert!(started.elapsed() < Duration::from_secs(4));

    // The limit: 200 a second for 2 s from 10.0.0.2; 5 at 5 a second from the other.
    let other = std::thread::scope(|s| {
        let other = s.spawn(|| open(&lab, 81, OTHER_CLIENT, 5, 5));
        let (opened, refused) = open(&lab, 81, "10.0.0.2", 400, 200);
        println!("limited client: {opened} opened, {refused} refused");
        // A full bucket (20) and 20 a second for the 2 s the attempts last, with room
        // for a slow start or a late finish of the opener.
        assert!(
            (40..=80).contains(&opened),
            "{opened} opened, {refused} refused"
        );
        assert_eq!(opened + refused, 400);
        other.join().expect("other client")
    });
    assert_eq!(other, (5, 0), "the other client is not limited");

    if let Some(g) = guards(&lab) {
        let limited = &g[1];
        assert!(
            limited["refused"]["rate_limited"].as_u64() >= Some(300),
            "{g:#}"
        );
        assert_eq!(limited["top_limited"][0]["client"], "10.0.0.2", "{g:#}");
        assert_eq!(g[0]["refused"]["acl_denied"].as_u64(), Some(1), "{g:#}");
    }
    let report = rvsd.stop();
    assert_eq!(
        report["dropped"]["acl_denied"].as_u64(),
        Some(1),
        "{report:#}"
    );
    assert!(
        report["dropped"]["rate_limited"].as_u64() >= Some(300),
        "{report:#}"
    );
    assert!(report["refused_reset"].as_u64() >= Some(301), "{report:#}");
}
