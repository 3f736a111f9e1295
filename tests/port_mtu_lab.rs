//! Lab: jumbo frames through rvsd on `net_af_packet`. The wan veth and real 1's veth carry
//! MTU 9000 end to end; the ports say `mtu = 9000`; a client sends UDP datagrams that
//! fill 9000-byte IP packets (DF set) to a NAT and a FULLNAT VIP, and real 1 echoes
//! them: each comes back whole, in one packet each way. `rvsctl ports` lists the MTU.

use std::path::Path;
use std::process::{Command, Stdio};

use rvs_lab::{must, preflight, Lab, Pmd, Rvsd, Service};

const NAT_VIP: &str = "10.0.0.100";
const FULLNAT_VIP: &str = "10.0.0.101";
/// The echo server's port on real 1.
const ECHO_PORT: u16 = 7007;
const MTU: usize = 9000;
/// `net_af_packet` ring frames large enough for a 9000-byte packet and its ring header,
/// and no larger than rvsd's packet buffers (9216 bytes of data at MTU 9000); blocks of
/// whole frames (the driver addresses frame N at N × framesz). Its defaults are 2048
/// and 4096.
const JUMBO_ARGS: &str = ",framesz=9216,blocksz=36864";

/// UDP echo server: `echo.py PORT` answers every datagram with itself, DF set.
const ECHO: &str = r#"
import os, socket, sys, threading
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
"#;

/// `python3 - HOST PORT SIZE`: sends one datagram of SIZE bytes (DF set) up to 5 times,
/// 2 s apart, until the echo comes back; prints `LEN SAME` (`SAME` true when the echo is
/// the datagram byte for byte), `timeout`, or `error ERRNO`.
const CLIENT: &str = r#"
import socket, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)
s.settimeout(2.0)
payload = bytes((i * 7) % 251 for i in range(size))
for attempt in range(5):
    try:
        s.sendto(payload, (host, port))
        data = s.recv(65535)
        print(len(data), data == payload)
        break
    except socket.timeout:
        continue
    except OSError as e:
        print("error", e.errno)
        break
else:
    print("timeout")
"#;

/// The lab's configuration with ports `wan` and `lan1` at MTU 9000 and jumbo af_packet
/// frames.
fn config(lab: &Lab) -> std::path::PathBuf {
    let services = [
        Service::new("udp", NAT_VIP, ECHO_PORT, "rr").real("10.1.1.11", ECHO_PORT, "nat", 1),
        Service::new("udp", FULLNAT_VIP, ECHO_PORT, "rr")
            .real("10.1.1.11", ECHO_PORT, "fullnat", 1)
            .laddrs(&["10.9.0.1"]),
    ];
    let path = lab.write_config("jumbo", Pmd::AfPacket, None, &services);
    let text = std::fs::read_to_string(&path).expect("config");
    let mut out = String::new();
    for line in text.lines() {
        let jumbo_port = [lab.iface("dw"), lab.iface("d1")]
            .iter()
            .any(|i| line.starts_with("device = ") && line.ends_with(&format!("iface={i}\"")));
        if jumbo_port {
            let device = line.trim_end_matches('"');
            out += &format!("{device}{JUMBO_ARGS}\"\nmtu = 9000\n");
        } else {
            out += line;
            out.push('\n');
        }
    }
    assert_eq!(out.matches("mtu = 9000").count(), 2, "{out}");
    std::fs::write(&path, out).expect("write config");
    path
}

/// Send one datagram of `size` bytes to `vip` from the client; its answer.
fn exchange(lab: &Lab, vip: &str, size: usize) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), "python3", "-c", CLIENT])
        .args([vip, &ECHO_PORT.to_string(), &size.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run the client");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn rvsctl(lab: &Lab, args: &[&str]) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name("rvsctl");
    let out = Command::new(&bin)
        .arg("--socket")
        .arg(lab.socket())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lab_af_packet_jumbo_port_carries_9000_byte_packets_through_nat_and_fullnat() {
    preflight();
    let mut lab = Lab::new('j');
    for (role, iface) in [("c", "cw"), ("d", "dw"), ("r1", "r1"), ("d", "d1")] {
        must(&[
            "ip",
            "-n",
            &lab.ns(role),
            "link",
            "set",
            &lab.iface(iface),
            "mtu",
            "9000",
        ]);
    }
    std::fs::write(lab.dir().join("echo.py"), ECHO).expect("echo script");
    lab.spawn("r1", "echo", &["echo.py", &ECHO_PORT.to_string()]);
    let config = config(&lab);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);

    let payload = MTU - 20 - 8;
    for vip in [NAT_VIP, FULLNAT_VIP] {
        for size in [100, payload] {
            let answer = exchange(&lab, vip, size);
            assert_eq!(
                answer,
                format!("{size} True"),
                "{vip}: a datagram of {size} bytes and its echo\n{}\n{}\n{}",
                rvsctl(&lab, &["drops"]),
                rvsctl(&lab, &["ports"]),
                rvsd.log()
            );
        }
    }
    // One byte more does not leave the client (its interface's MTU is 9000, DF set).
    let over = exchange(&lab, NAT_VIP, payload + 1);
    assert_eq!(over, "error 90", "EMSGSIZE on the client");

    let ports = rvsctl(&lab, &["ports"]);
    let mtu_of = |name: &str| {
        ports
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(4))
            .map(str::to_owned)
    };
    assert_eq!(mtu_of("wan").as_deref(), Some("9000"), "{ports}");
    assert_eq!(mtu_of("lan1").as_deref(), Some("9000"), "{ports}");
    assert_eq!(mtu_of("lan2").as_deref(), Some("1500"), "{ports}");
    rvsd.stop();
}
