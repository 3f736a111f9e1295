//! The client's address for UDP FULLNAT reals, end to end in the namespace lab
//! (`rvs-lab`): `client_address = "proxy-v2"` puts a PROXY protocol v2 header in front of
//! every client datagram, read by the lab's own receiver (`real_pp2_udp.py`, written from
//! the specification) and by unbound (`proxy-protocol-port`), each of which must see the
//! client's address, not the director's local address.
//!
//! ```text
//!  client 10.0.0.2 fd00::2 -- rvsd -- r1: real_pp2_udp.py :5301 (answers the header's client)
//!                                     r2: unbound :5300 proxy-protocol-port (logs it)
//!        VIP 10.0.0.105:53 / fd00::105:53 -> r1, laddr 10.9.0.5 / fd00:9::5
//!        VIP 10.0.0.106:53 / fd00::106:53 -> r2, laddr 10.9.0.6 / fd00:9::6
//! ```
//! Needs root and the tools `scripts/setup` installs (unbound among them).

use std::path::Path;
use std::time::{Duration, Instant};

use rvs_lab::{preflight, Lab, Pmd, Rvsd, Service};

/// The client's addresses in the lab.
const CLIENT: &str = "10.0.0.2";
const CLIENT6: &str = "fd00::2";
/// The lab receiver's port on real 1, and unbound's on real 2.
const ECHO_PORT: u16 = 5301;
const UNBOUND_PORT: u16 = 5300;
/// The services: VIP, real, real's port, local address, what answers there.
const SERVICES: [(&str, &str, u16, &str, &str); 4] = [
    ("10.0.0.105", "10.1.1.11", ECHO_PORT, "10.9.0.5", "echo"),
    ("fd00::105", "fd01:1::11", ECHO_PORT, "fd00:9::5", "echo"),
    (
        "10.0.0.106",
        "10.1.2.11",
        UNBOUND_PORT,
        "10.9.0.6",
        "unbound",
    ),
    (
        "fd00::106",
        "fd01:2::11",
        UNBOUND_PORT,
        "fd00:9::6",
        "unbound",
    ),
];
/// Flows per echo service, datagrams per flow.
const FLOWS: usize = 20;
const PER_FLOW: usize = 3;
/// DNS queries per unbound service, each from a fresh port.
const QUERIES: usize = 20;

/// `python3 - HOST PORT FLOWS PER_FLOW`: FLOWS sockets, each sending PER_FLOW datagrams
/// `f-N-M` (each sent again, up to 3 times, when no answer comes within a second), and
/// prints `PORT ANSWER` for each answer (`PORT` the socket's own), `-` for none.
const FLOW_CLIENT: &str = r#"
import socket, sys
host, port, flows, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
for f in range(flows):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((host, port))
    mine = s.getsockname()[1]
    for m in range(per):
        answer = "-"
        for _ in range(3):
            s.send(("f-%d-%d" % (f, m)).encode())
            try:
                answer = "%d %s" % (mine, s.recv(65535).decode(errors="replace"))
                break
            except OSError:
                pass
        print(answer, flush=True)
    s.close()
"#;

/// `python3 - HOST PORT COUNT [PROXY_SRC]`: COUNT DNS queries for `who.lab. TXT`, each
/// from a fresh socket (sent again, up to 3 times, when no answer comes within a
/// second), printing `ok` for an answer with the query's id, NOERROR and one answer
/// record, `-` otherwise. With PROXY_SRC (an IPv4 address), each query carries a PROXY v2
/// header naming it: a direct probe of a PROXY-speaking server.
const DNS_CLIENT: &str = r#"
import random, socket, struct, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
proxy = sys.argv[4] if len(sys.argv) > 4 else None
family = socket.AF_INET6 if ":" in host else socket.AF_INET
name = b"".join(bytes([len(p)]) + p for p in b"who.lab".split(b".")) + b"\0"
for i in range(count):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((host, port))
    qid = random.getrandbits(16)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", 16, 1)
    if proxy:
        me = s.getsockname()
        q = (b"\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c" + socket.inet_aton(proxy)
             + socket.inet_aton(host) + struct.pack("!HH", me[1], port) + q)
    result = "-"
    for _ in range(3):
        s.send(q)
        try:
            a = s.recv(65535)
        except OSError:
            continue
        rid, flags, _, an = struct.unpack("!HHHH", a[:8])
        if rid == qid and flags & 0x800f == 0x8000 and an == 1:
            result = "ok"
        break
    print(result, flush=True)
    s.close()
"#;

/// unbound for real 2: foreground, no chroot, no privileges dropped, its log in the lab's
/// directory with every query (the client address it logs is the PROXY header's); one
/// static zone answering `who.lab. TXT`; PROXY protocol required on its port.
fn unbound_conf(dir: &str) -> String {
    format!(
        "server:\n\
         \x20   interface: 10.1.2.11@{UNBOUND_PORT}\n\
         \x20   interface: fd01:2::11@{UNBOUND_PORT}\n\
         \x20   port: {UNBOUND_PORT}\n\
         \x20   proxy-protocol-port: {UNBOUND_PORT}\n\
         \x20   do-tcp: no\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   directory: \"{dir}\"\n\
         \x20   pidfile: \"{dir}/unbound.pid\"\n\
         \x20   logfile: \"{dir}/unbound.log\"\n\
         \x20   use-syslog: no\n\
         \x20   log-queries: yes\n\
         \x20   do-daemonize: no\n\
         \x20   access-control: 0.0.0.0/0 allow\n\
         \x20   access-control: ::/0 allow\n\
         \x20   module-config: \"iterator\"\n\
         \x20   local-zone: \"lab.\" static\n\
         \x20   local-data: \"who.lab. 60 IN TXT lab\"\n\
         remote-control:\n\
         \x20   control-enable: no\n"
    )
}

/// Runs `script` (python3 source) with `args` in namespace `role`: its stdout lines.
fn python(lab: &Lab, role: &str, script: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["python3", "-c", script];
    all.extend_from_slice(args);
    let out = lab.exec(role, &all);
    assert!(
        out.status.success(),
        "python in {role}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `ready` holds (20 s at most), panicking with `what`.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the lab receiver in r1 and unbound in r2, each answering a header-carrying
/// probe from its own namespace (a source the checks below leave out: not a local address).
fn start_receivers(lab: &mut Lab) {
    let dir = lab.dir().display().to_string();
    let echo_log = format!("{dir}/pp2-r1.log");
    lab.spawn(
        "r1",
        "pp2",
        &["real_pp2_udp.py", "r1", &ECHO_PORT.to_string(), &echo_log],
    );
    let probe = format!(
        "import socket, sys\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.settimeout(0.5)\n\
         s.sendto(b'\\r\\n\\r\\n\\0\\r\\nQUIT\\n\\x21\\x12\\x00\\x0c' + bytes(12) + b'probe', ('10.1.1.11', {ECHO_PORT}))\n\
         print(s.recv(100).decode())\n"
    );
    wait_for("the lab receiver", || {
        lab.exec("r1", &["python3", "-c", &probe]).status.success()
    });
    let conf = lab.dir().join("unbound.conf");
    std::fs::write(&conf, unbound_conf(&dir)).expect("unbound config");
    let conf = conf.display().to_string();
    lab.spawn_command("r2", "unbound", &["unbound", "-d", "-c", &conf]);
    wait_for("unbound", || {
        let port = UNBOUND_PORT.to_string();
        let args = ["10.1.2.11", port.as_str(), "1", "192.0.2.1"];
        python(lab, "r2", DNS_CLIENT, &args) == ["ok"]
    });
}

/// Every datagram of a UDP FULLNAT `proxy-v2` service reaches the lab receiver and unbound
/// with a PROXY v2 header naming the client (IPv4 and IPv6, several datagrams per flow):
/// the receiver answers with that address and port, unbound logs it for every query.
#[test]
fn lab_af_packet_udp_reals_read_the_client_from_proxy_v2_headers() {
    preflight();
    let mut lab = Lab::new('u');
    start_receivers(&mut lab);
    let services: Vec<Service> = SERVICES
        .iter()
        .map(|(vip, real, port, laddr, _)| {
            Service::new("udp", vip, 53, "rr")
                .real(real, *port, "fullnat", 1)
                .laddrs(&[laddr])
                .keys("client_address = \"proxy-v2\"")
        })
        .collect();
    let config = lab.write_config("udp-client-addr", Pmd::AfPacket, None, &services);
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);

    for (vip, _, _, _, what) in SERVICES {
        let client = if vip.contains(':') { CLIENT6 } else { CLIENT };
        if what == "echo" {
            let args = [vip, "53", &FLOWS.to_string(), &PER_FLOW.to_string()];
            let answers = python(&lab, "c", FLOW_CLIENT, &args);
            assert_eq!(answers.len(), FLOWS * PER_FLOW, "{vip}: {answers:?}");
            for (i, line) in answers.iter().enumerate() {
                let want = format!("r1 {client} ");
                let (port, rest) = line.split_once(' ').unwrap_or(("", ""));
                assert_eq!(
                    rest,
                    format!("{want}{port} f-{}-{}", i / PER_FLOW, i % PER_FLOW),
                    "{vip}: the receiver answers with the header's client and port:\n{}",
                    rvsd.log()
                );
            }
        } else {
            let args = [vip, "53", &QUERIES.to_string()];
            let answers = python(&lab, "c", DNS_CLIENT, &args);
            assert_eq!(answers, vec!["ok"; QUERIES], "{vip}:\n{}", rvsd.log());
        }
    }
    let report = rvsd.stop();

    // The lab receiver: every datagram from a local address carried a valid header that
    // named the client.
    let dir = lab.dir().to_path_buf();
    let log = std::fs::read_to_string(dir.join("pp2-r1.log")).expect("receiver log");
    for (_, _, _, laddr, what) in SERVICES {
        if what != "echo" {
            continue;
        }
        let client = if laddr.contains(':') { CLIENT6 } else { CLIENT };
        let mine: Vec<&str> = log
            .lines()
            .filter(|l| l.split(' ').next() == Some(laddr))
            .collect();
        assert!(mine.len() >= FLOWS * PER_FLOW, "{laddr}: {log}");
        for l in mine {
            let fields: Vec<&str> = l.split(' ').collect();
            assert_eq!(fields[1], client, "{laddr}: {l:?} in\n{log}");
        }
    }
    // unbound: every query logged with the client's address, none with a local address.
    let log = std::fs::read_to_string(dir.join("unbound.log")).expect("unbound log");
    for (who, want) in [(CLIENT, QUERIES), (CLIENT6, QUERIES)] {
        let n = log
            .lines()
            .filter(|l| l.contains(&format!("info: {who} who.lab. TXT IN")))
            .count();
        assert!(n >= want, "unbound logged {n} queries from {who}:\n{log}");
    }
    assert!(
        !log.contains("10.9.0.6") && !log.contains("fd00:9::6"),
        "unbound saw a local address:\n{log}"
    );
    let sent = report["proxy_headers_sent"].as_u64().unwrap_or(0);
    let datagrams = 2 * (FLOWS * PER_FLOW + QUERIES) as u64;
    assert!(
        sent >= datagrams,
        "{sent} headers for {datagrams} datagrams: {report:#}"
    );
    assert_eq!(report["io"]["tx_refused"].as_u64(), Some(0), "{report:#}");
}
