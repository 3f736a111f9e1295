//! Lab: IP fragments through rvsd on `net_af_xdp`. Real 1's port says `mtu = 1280`
//! (its veth too, so a larger frame from the director would not reach it), the wan port
//! keeps 1500. The client sends UDP datagrams of 4,000 bytes, each with a payload of its
//! own, to a NAT and a FULLNAT VIP; its kernel cuts them into fragments of 1500 bytes.
//! rvsd puts each datagram together and cuts it again for the 1280-byte port; real 1
//! echoes it, its kernel cuts the answer for its 1280-byte veth, and rvsd puts that
//! together and cuts it again for wan. Every echo must come back whole and byte for byte,
//! rvsd's counters (`rvsctl counters`) must show the datagrams put together and the fragments cut, and no
//! fragment may be refused.
//!
//! ```text
//!  client 10.0.0.2 --mtu 1500-- wan [rvsd] lan1 (mtu = 1280) --mtu 1280-- r1 10.1.1.11
//!     VIP 10.0.0.100:7009 udp NAT                                real_udp_echo.py :7009
//!     VIP 10.0.0.101:7009 udp FULLNAT (laddr 10.9.0.1)
//! ```
//!
//! `net_af_xdp`, not `net_af_packet`: the kernel hands `net_af_packet`'s socket an IPv4
//! datagram already put together from its fragments (the driver's fanout group asks for
//! defragmentation), and one larger than the ring's frames arrives cut short (counted
//! `malformed`); AF_XDP sees the fragments as they are on the wire, as a NIC would.
//!
//! Needs root and the tools `scripts/setup` installs.

use std::path::Path;
use std::process::{Command, Stdio};

use rvs_ctl::client;
use rvs_ctl::proto::{Request, Response, WorkerInfo};
use rvs_lab::{must, preflight, scripts, Lab, Pmd, Rvsd, Service};

const NAT_VIP: &str = "10.0.0.100";
const FULLNAT_VIP: &str = "10.0.0.101";
/// The echo server's port on real 1.
const ECHO_PORT: u16 = 7009;
/// The MTU of real 1's port and veth.
const LAN_MTU: u16 = 1280;
/// The size of every datagram's UDP payload.
const SIZE: usize = 4000;
/// Datagrams sent to each service.
const COUNT: usize = 20;

/// `python3 - HOST PORT COUNT SIZE`: COUNT datagrams of SIZE bytes, each from a fresh
/// socket (a connection of its own for the director) with a payload of its own (its
/// number, then random bytes), each sent again up to 3 times when no answer comes within
/// 2 s. Prints a line per datagram: `whole ATTEMPT` when the echo is the datagram byte for
/// byte, `differs LEN` when it is not, `timeout` when none came.
const CLIENT: &str = r#"
import os, socket, sys
host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(count):
    payload = i.to_bytes(4, "big") + os.urandom(size - 4)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    answer = "timeout"
    for attempt in range(1, 4):
        s.sendto(payload, (host, port))
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        answer = "whole %d" % attempt if data == payload else "differs %d" % len(data)
        break
    s.close()
    print(answer, flush=True)
"#;

/// The lab's configuration with port `lan1` at [`LAN_MTU`].
fn config(lab: &Lab) -> std::path::PathBuf {
    let services = [
        Service::new("udp", NAT_VIP, ECHO_PORT, "rr").real("10.1.1.11", ECHO_PORT, "nat", 1),
        Service::new("udp", FULLNAT_VIP, ECHO_PORT, "rr")
            .real("10.1.1.11", ECHO_PORT, "fullnat", 1)
            .laddrs(&["10.9.0.1"]),
    ];
    let path = lab.write_config("fragments", Pmd::AfXdp, None, &services);
    let text = std::fs::read_to_string(&path).expect("config");
    let lan1 = format!("iface={}", lab.iface("d1"));
    let mut out = String::new();
    for line in text.lines() {
        out += line;
        out.push('\n');
        let of_lan1 = line
            .split_once(&lan1)
            .is_some_and(|(_, rest)| rest.starts_with(',') || rest.starts_with('"'));
        if line.starts_with("device = ") && of_lan1 {
            out += &format!("mtu = {LAN_MTU}\n");
        }
    }
    assert_eq!(out.matches("mtu = ").count(), 1, "{out}");
    std::fs::write(&path, out).expect("write config");
    path
}

/// Sends [`COUNT`] datagrams of [`SIZE`] bytes to `vip` from the client; a line per
/// datagram.
fn exchange(lab: &Lab, vip: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), "python3", "-c", CLIENT])
        .args([vip, &ECHO_PORT.to_string()])
        .args([COUNT.to_string(), SIZE.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run the client");
    assert!(
        out.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The workers' counters, from rvsd's control socket (what `rvsctl counters` shows).
fn workers(lab: &Lab) -> Vec<WorkerInfo> {
    match client::call(&lab.socket(), Request::Workers).expect("workers request") {
        Response::Workers(list) => list,
        other => panic!("not workers: {other:?}"),
    }
}

/// The drops by reason, summed over the workers (what `rvsctl drops` shows).
fn drops(lab: &Lab) -> Vec<(String, u64)> {
    match client::call(&lab.socket(), Request::Drops).expect("drops request") {
        Response::Drops(list) => list,
        other => panic!("not drops: {other:?}"),
    }
}

/// The MTU of port `name`, from rvsd's control socket (what `rvsctl ports` shows).
fn port_mtu(lab: &Lab, name: &str) -> u16 {
    match client::call(&lab.socket(), Request::Ports).expect("ports request") {
        Response::Ports(list) => list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.mtu)
            .unwrap_or_else(|| panic!("no port {name}: {list:?}")),
        other => panic!("not ports: {other:?}"),
    }
}

#[test]
fn lab_af_xdp_udp_datagrams_of_4000_bytes_cross_whole() {
    preflight();
    let mut lab = Lab::new('f');
    must(&[
        "ip",
        "-n",
        &lab.ns("r1"),
        "link",
        "set",
        &lab.iface("r1"),
        "mtu",
        &LAN_MTU.to_string(),
    ]);
    std::fs::write(lab.dir().join("real_udp_echo.py"), scripts::UDP_ECHO_SERVER)
        .expect("echo script");
    lab.spawn("r1", "echo", &["real_udp_echo.py", &ECHO_PORT.to_string()]);
    let config = config(&lab);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);

    for vip in [NAT_VIP, FULLNAT_VIP] {
        let answers = exchange(&lab, vip);
        let whole = answers.iter().filter(|a| a.starts_with("whole ")).count();
        assert_eq!(
            (answers.len(), whole),
            (COUNT, COUNT),
            "{vip}: every datagram of {SIZE} bytes and its echo, whole: {answers:?}\n{:?}\n{:?}\n{}",
            drops(&lab),
            workers(&lab),
            rvsd.log()
        );
        let again = answers.iter().filter(|a| *a != "whole 1").count();
        eprintln!("{vip}: {COUNT} echoes whole, {again} after a datagram sent again");
    }

    // Each echo took two datagrams put together (the request and the answer), and each
    // left cut into at least two fragments (4,028 bytes of IP fit neither MTU). Workers
    // publish their counters on their own round: read until every one has (at most 10 s).
    let exchanges = 2 * COUNT as u64;
    let counted = |list: &[WorkerInfo]| {
        let reassembled: u64 = list.iter().map(|w| w.datagrams_reassembled).sum();
        let made: u64 = list.iter().map(|w| w.fragments_made).sum();
        (reassembled, made)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut list = workers(&lab);
    while counted(&list).0 < 2 * exchanges && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        list = workers(&lab);
    }
    let (reassembled, made) = counted(&list);
    assert!(reassembled >= 2 * exchanges, "{list:?}");
    assert!(made >= 4 * exchanges, "{list:?}");
    let dropped = drops(&lab);
    let refused: Vec<&(String, u64)> = dropped
        .iter()
        .filter(|(reason, n)| reason.starts_with("fragment") && *n > 0)
        .collect();
    assert!(refused.is_empty(), "fragments refused: {dropped:?}");
    assert_eq!(port_mtu(&lab, "lan1"), LAN_MTU);
    assert_eq!(port_mtu(&lab, "wan"), 1500);
    eprintln!("datagrams_reassembled {reassembled}, fragments_made {made}");
    rvsd.stop();
}
