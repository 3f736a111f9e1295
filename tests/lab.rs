//! The network-namespace lab: rvsd forwarding real TCP connections on DPDK ports.
//!
//! ```text
//!  client ns            director ns (rvsd, 2 workers)           real ns 1, 2
//!  10.0.0.2 --veth-- wan 10.0.0.1   VIPs 10.0.0.100 (NAT)
//!                                         10.0.0.101 (FULLNAT, laddrs 10.9.0.1-2)
//!                    lan1 10.1.1.1 --veth-- 10.1.1.11:8080 (HTTP)
//!                    lan2 10.1.2.1 --veth-- 10.1.2.11:8080 (HTTP)
//! ```
//! The director's veths have no kernel addresses: rvsd opens them as `net_af_packet` (one
//! run) or `net_af_xdp` (another) devices with `--no-huge`. Each real answers HTTP with its
//! name and the client address it saw, so the test sees which real served a connection
//! and whether the director translated the source (FULLNAT) or not (NAT). The reals'
//! default route points at the director (NAT needs it; FULLNAT would need only a route to
//! the local addresses).
//!
//! Scenarios: both services over two workers on each PMD; rvsd started again and again
//! with the first connections sent at once (none may lose a packet to neighbour
//! resolution); a connection-per-request load from one client address over a narrow
//! port range (every connection the client opens is one the director creates, ports
//! reused while their last connection is in TIME_WAIT).
//!
//! Needs root and the tools `scripts/setup` installs (iproute2, curl, iputils-ping,
//! python3); without them the test fails and says so. Everything it creates is named
//! with the process id and removed when the lab is dropped, on failure too.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lab runs share the machine's CPUs with busy-polling workers: one at a time.
static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Connections per service per run.
const CONNECTIONS: usize = 8;
/// How long rvsd may take to start, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

const NAT_VIP: &str = "10.0.0.100";
const FULLNAT_VIP: &str = "10.0.0.101";

/// The HTTP server of a real: answers every GET with "NAME CLIENT-ADDRESS". It exits when
/// its stdin (a pipe from the test) closes, so that it does not outlive a test process
/// that was killed before it could clean up.
const SERVER: &str = r#"
import http.server, os, sys, threading
name = sys.argv[1]
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %s\n" % (name, self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"#;

/// A client opening one connection per HTTP request (`Connection: close`), as wrk does
/// with that header: `python3 - HOST COUNT THREADS SECONDS` makes COUNT requests over
/// THREADS threads, stopping at SECONDS, and prints `OPENED FAILED` (connections
/// established, and attempts that failed). The server closes first, so the client's
/// ports are free again at once and a small port range is reused quickly.
const CLIENT: &str = r#"
import socket, sys, threading, time
host, count, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + seconds
lock = threading.Lock()
done = {"opened": 0, "failed": 0, "left": count}
def worker():
    while time.monotonic() < deadline:
        with lock:
            if done["left"] == 0:
                return
            done["left"] -= 1
        try:
            s = socket.create_connection((host, 80), timeout=5)
        except OSError:
            with lock:
                done["failed"] += 1
            continue
        with lock:
            done["opened"] += 1
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(done["opened"], done["failed"])
"#;

/// Fail unless the test can build the lab: root, and the tools.
fn preflight() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        uid, "0",
        "the namespace lab needs root (it creates network namespaces and veth pairs); \
         run the tests as root, e.g. through scripts/test"
    );
    let missing: Vec<_> = ["ip", "curl", "ping", "python3"]
        .into_iter()
        .filter(|tool| find_in_path(tool).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "the namespace lab needs {missing:?}: run scripts/setup (iproute2, curl, iputils-ping, python3)"
    );
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Run a command to completion.
fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

/// Run a command that must succeed.
fn must(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The PMD a lab run opens the director's veths with.
#[derive(Clone, Copy, Debug)]
enum Pmd {
    AfPacket,
    AfXdp,
}

impl Pmd {
    fn device(self, index: usize, iface: &str) -> String {
        match self {
            Pmd::AfPacket => format!("net_af_packet{index},iface={iface}"),
            Pmd::AfXdp => format!("net_af_xdp{index},iface={iface},start_queue=0,queue_count=1"),
        }
    }
}

/// Namespaces, veths and servers of one lab; removed on drop.
struct Lab {
    /// Names: `{prefix}c` (client), `{prefix}d` (director), `{prefix}r1`, `{prefix}r2`.
    prefix: String,
    namespaces: Vec<String>,
    servers: Vec<Child>,
    dir: PathBuf,
}

impl Lab {
    fn ns(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// Interface `role` (`cw`, `dw`, `d1`, `d2`, `r1`, `r2`): at most 15 bytes.
    fn iface(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    fn new(tag: char) -> Lab {
        let prefix = format!("rv{:x}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("rvs-lab-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
            servers: Vec::new(),
            dir,
        };
        for role in ["c", "d", "r1", "r2"] {
            let ns = lab.ns(role);
            // A namespace of this name can only be left over from a killed earlier run
            // with the same process id: take it back.
            if Path::new("/run/netns").join(&ns).exists() {
                let _ = run(&["ip", "netns", "del", &ns]);
            }
            must(&["ip", "netns", "add", &ns]);
            lab.namespaces.push(ns.clone());
            must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        let (c, d) = (lab.ns("c"), lab.ns("d"));
        for (a, a_ns, b, b_ns) in [
            ("cw", &c, "dw", &d),
            ("r1", &lab.ns("r1"), "d1", &d),
            ("r2", &lab.ns("r2"), "d2", &d),
        ] {
            let (a, b) = (lab.iface(a), lab.iface(b));
            must(&[
                "ip", "link", "add", &a, "netns", a_ns, "type", "veth", "peer", "name", &b,
                "netns", b_ns,
            ]);
        }
        // The director's kernel stays quiet on its veths: no addresses, no IPv6.
        must(&[
            "ip",
            "netns",
            "exec",
            &d,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
        ]);
        for i in ["dw", "d1", "d2"] {
            must(&["ip", "-n", &d, "link", "set", &lab.iface(i), "up"]);
        }
        let hosts = [
            ("c", "cw", "10.0.0.2/24", None),
            ("r1", "r1", "10.1.1.11/24", Some("10.1.1.1")),
            ("r2", "r2", "10.1.2.11/24", Some("10.1.2.1")),
        ];
        for (role, iface, addr, gateway) in hosts {
            let (ns, iface) = (lab.ns(role), lab.iface(iface));
            must(&["ip", "-n", &ns, "addr", "add", addr, "dev", &iface]);
            must(&["ip", "-n", &ns, "link", "set", &iface, "up"]);
            if let Some(gw) = gateway {
                must(&["ip", "-n", &ns, "route", "add", "default", "via", gw]);
            }
        }
        let script = lab.dir.join("server.py");
        std::fs::write(&script, SERVER).expect("server script");
        for real in ["r1", "r2"] {
            let child = Command::new("ip")
                .args(["netns", "exec", &lab.ns(real), "python3"])
                .arg(&script)
                .arg(real)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a real's HTTP server");
            lab.servers.push(child);
        }
        for (real, addr) in [("r1", "10.1.1.11"), ("r2", "10.1.2.11")] {
            let url = format!("http://{addr}:8080/");
            let ns = lab.ns(real);
            let deadline = Instant::now() + Duration::from_secs(20);
            while !run(&["ip", "netns", "exec", &ns, "curl", "-s", "-m", "1", &url])
                .status
                .success()
            {
                assert!(
                    Instant::now() < deadline,
                    "the HTTP server of {real} did not start"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        lab
    }

    fn config(&self, pmd: Pmd) -> PathBuf {
        let dev = |i, role| pmd.device(i, &self.iface(role));
        let text = format!(
            r#"
[dataplane]
workers = 2
conn_capacity = 4096

[dpdk]
eal_args = ["--no-pci", "--no-telemetry"]

[[port]]
name = "wan"
device = "{wan}"
addresses = ["10.0.0.1/24"]

[[port]]
name = "lan1"
device = "{lan1}"
addresses = ["10.1.1.1/24"]

[[port]]
name = "lan2"
device = "{lan2}"
addresses = ["10.1.2.1/24"]

[[service]]
proto = "tcp"
vip = "{NAT_VIP}"
port = 80
scheduler = "rr"
[[service.real]]
ip = "10.1.1.11"
port = 8080
forward = "nat"
[[service.real]]
ip = "10.1.2.11"
port = 8080
forward = "nat"

[[service]]
proto = "tcp"
vip = "{FULLNAT_VIP}"
port = 80
scheduler = "rr"
laddrs = ["10.9.0.1", "10.9.0.2"]
[[service.real]]
ip = "10.1.1.11"
port = 8080
forward = "fullnat"
[[service.real]]
ip = "10.1.2.11"
port = 8080
forward = "fullnat"
"#,
            wan = dev(0, "dw"),
            lan1 = dev(1, "d1"),
            lan2 = dev(2, "d2"),
        );
        let path = self.dir.join(format!("{pmd:?}.toml"));
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The MAC of the director's wan veth (the port uses the device's MAC).
    fn director_mac(&self) -> String {
        let out = run(&["ip", "-n", &self.ns("d"), "link", "show", &self.iface("dw")]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("director mac")
            .to_owned()
    }

    /// SYNs the client's kernel retransmitted so far (`TcpExt: TCPSynRetrans` of its
    /// namespace): a connection that got through on its first SYN adds none.
    fn client_syn_retransmits(&self) -> u64 {
        let out = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns("c"),
            "cat",
            "/proc/net/netstat",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tcp_ext = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (names, values) = (tcp_ext.next(), tcp_ext.next());
        let (Some(names), Some(values)) = (names, values) else {
            panic!("no TcpExt counters in the client namespace:\n{text}");
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == "TCPSynRetrans")
            .and_then(|(_, v)| v.parse().ok())
            .expect("TCPSynRetrans")
    }

    /// `curl` from the client to `vip`: the body, or `None` when the connection failed.
    fn get(&self, vip: &str) -> Option<String> {
        let url = format!("http://{vip}/");
        let out = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns("c"),
            "curl",
            "-s",
            "-m",
            "5",
            &url,
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        for ns in &self.namespaces {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running rvsd; killed on drop if still running.
struct Rvsd {
    child: Child,
    stderr: Receiver<String>,
    /// Everything rvsd printed on stdout, once it closed it (read all along, so that a
    /// report bigger than the pipe cannot block its exit).
    stdout: Receiver<String>,
    log: Vec<String>,
}

impl Rvsd {
    fn start(lab: &Lab, config: &Path) -> Rvsd {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns("d"), env!("CARGO_BIN_EXE_rvsd")])
            .arg("--config")
            .arg(config)
            .args(["--no-huge", "--idle-sleep-us", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rvsd");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (out_tx, out_rx) = mpsc::channel();
        let mut out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            let _ = out_tx.send(text);
        });
        let mut rvsd = Rvsd {
            child,
            stderr: rx,
            stdout: out_rx,
            log: Vec::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rvsd.stderr.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.starts_with("rvsd: running");
                    rvsd.log.push(line);
                    if ready {
                        return rvsd;
                    }
                }
                Err(_) => panic!("rvsd did not start:\n{}", rvsd.log()),
            }
        }
    }

    fn log(&mut self) -> String {
        self.log.extend(self.stderr.try_iter());
        self.log.join("\n")
    }

    /// SIGTERM, then the JSON report it prints.
    fn stop(mut self) -> serde_json::Value {
        // The shell's builtin `kill`: a minimal CI image may have no kill binary.
        let pid = self.child.id().to_string();
        must(&["sh", "-c", "kill -TERM \"$1\"", "sh", &pid]);
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait rvsd") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "rvsd did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = self
            .stdout
            .recv_timeout(STOP_TIMEOUT)
            .unwrap_or_else(|_| panic!("rvsd's stdout did not close:\n{}", self.log()));
        assert!(
            status.success(),
            "rvsd exited with {status}:\n{}",
            self.log()
        );
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rvsd printed no JSON report ({e}):\n{out}\n{}", self.log()))
    }
}

impl Drop for Rvsd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The whole scenario on one PMD.
fn lab_run(pmd: Pmd, tag: char) {
    preflight();
    let _one = ONE_LAB_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lab = Lab::new(tag);
    let mut rvsd = Rvsd::start(&lab, &lab.config(pmd));

    // ARP and ping for both VIPs.
    for vip in [NAT_VIP, FULLNAT_VIP] {
        let ping = run(&[
            "ip",
            "netns",
            "exec",
            &lab.ns("c"),
            "ping",
            "-c",
            "2",
            "-W",
            "2",
            vip,
        ]);
        assert!(
            ping.status.success(),
            "{pmd:?}: no echo reply from VIP {vip}:\n{}\n{}",
            String::from_utf8_lossy(&ping.stdout),
            rvsd.log()
        );
        let neigh = run(&["ip", "-n", &lab.ns("c"), "neigh", "show", vip]);
        let neigh = String::from_utf8_lossy(&neigh.stdout);
        assert!(
            neigh.contains(&lab.director_mac()),
            "{pmd:?}: the client did not learn the director's MAC for {vip}: {neigh}"
        );
    }

    // Real connections through both services.
    let mut bodies = Vec::new();
    for _ in 0..CONNECTIONS {
        for vip in [NAT_VIP, FULLNAT_VIP] {
            match lab.get(vip) {
                Some(body) => bodies.push((vip, body)),
                None => panic!("{pmd:?}: a connection to {vip} failed:\n{}", rvsd.log()),
            }
        }
    }
    for vip in [NAT_VIP, FULLNAT_VIP] {
        let seen: Vec<(&str, &str)> = bodies
            .iter()
            .filter(|(v, _)| *v == vip)
            .map(|(_, b)| b.split_once(' ').expect("body: REAL CLIENT"))
            .collect();
        for real in ["r1", "r2"] {
            assert!(
                seen.iter().any(|(r, _)| *r == real),
                "{pmd:?}: {vip}: {real} served no connection: {seen:?}"
            );
        }
        for (_, client) in &seen {
            if vip == NAT_VIP {
                assert_eq!(*client, "10.0.0.2", "{pmd:?}: NAT keeps the client address");
            } else {
                assert!(
                    ["10.9.0.1", "10.9.0.2"].contains(client),
                    "{pmd:?}: FULLNAT: the real saw {client}, not a local address"
                );
            }
        }
    }

    let report = rvsd.stop();
    let conns = report["connections_created"].as_u64().unwrap_or(0);
    assert_eq!(
        conns,
        2 * CONNECTIONS as u64,
        "{pmd:?}: one connection per request: {report:#}"
    );
    let workers = report["workers"].as_array().expect("per-worker counters");
    assert_eq!(workers.len(), 2, "{report:#}");
    for w in workers {
        assert!(
            w["connections_created"].as_u64().unwrap_or(0) > 0,
            "{pmd:?}: connections did not spread over both workers: {report:#}"
        );
    }
    // One queue per veth: worker 0 receives everything and hands worker 1 its flows.
    assert!(report["redirected"].as_u64().unwrap_or(0) > 0, "{report:#}");
    assert!(
        report["duties_answered"].as_u64().unwrap_or(0) >= 4,
        "{report:#}"
    );
    assert_eq!(report["io"]["tx_refused"].as_u64(), Some(0), "{report:#}");
    assert_eq!(report["io"]["ring_full"].as_u64(), Some(0), "{report:#}");
}

/// rvsd starts per PMD in the start-up test.
const STARTS: usize = 12;

/// Start rvsd [`STARTS`] times on one lab and open the first connections at once after
/// the "running" line, one per service: each must get through on its first SYN (the
/// client's kernel retransmits none) with no packet dropped for a neighbour.
fn first_connections_after_start(pmd: Pmd, tag: char) {
    preflight();
    let _one = ONE_LAB_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lab = Lab::new(tag);
    let config = lab.config(pmd);
    let mut failed = Vec::new();
    for start in 0..STARTS {
        let retransmits = lab.client_syn_retransmits();
        let mut rvsd = Rvsd::start(&lab, &config);
        let nat = lab.get(NAT_VIP);
        let fullnat = lab.get(FULLNAT_VIP);
        let retransmitted = lab.client_syn_retransmits() - retransmits;
        let log = rvsd.log();
        let report = rvsd.stop();
        let neighbour_drops = ["neighbor_unresolved", "neighbor_queue_full"]
            .iter()
            .any(|r| !report["dropped"][r].is_null());
        if nat.is_none() || fullnat.is_none() || retransmitted > 0 || neighbour_drops {
            failed.push(format!(
                "start {start}: nat {nat:?}, fullnat {fullnat:?}, {retransmitted} SYN(s) \
                 retransmitted: {report:#}\n{log}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{pmd:?}: {} of {STARTS} starts lost packets of the first connections:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Requests of the connection-per-request test, and the size of the client's port range
/// (Linux's `connect` takes every other port of it): each port serves dozens of
/// requests, each time while the director still holds its last connection in TIME_WAIT.
const REQUESTS: usize = 3000;
const PORTS: u16 = 200;

#[test]
fn lab_af_xdp_connection_per_request_load_creates_every_connection_opened() {
    preflight();
    let _one = ONE_LAB_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lab = Lab::new('w');
    let client = lab.ns("c");
    let range = format!(
        "net.ipv4.ip_local_port_range={} {}",
        50000,
        50000 + PORTS - 1
    );
    must(&["ip", "netns", "exec", &client, "sysctl", "-qw", &range]);
    let script = lab.dir.join("client.py");
    std::fs::write(&script, CLIENT).expect("client script");
    let mut rvsd = Rvsd::start(&lab, &lab.config(Pmd::AfXdp));
    let started = Instant::now();
    let out = run(&[
        "ip",
        "netns",
        "exec",
        &client,
        "python3",
        script.to_str().expect("utf-8 path"),
        NAT_VIP,
        &REQUESTS.to_string(),
        "4",
        "120",
    ]);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let log = rvsd.log();
    let report = rvsd.stop();
    let [opened, failed] = counts[..] else {
        panic!(
            "the client printed {text:?}: {}\n{log}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    eprintln!(
        "{opened} connections opened, {failed} failed, in {took:?}; director: {} created, {} \
         reused",
        report["connections_created"], report["connections_reused"]
    );
    assert_eq!(
        (opened, failed),
        (REQUESTS as u64, 0),
        "every request connects: {report:#}\n{log}"
    );
    assert_eq!(
        report["connections_created"].as_u64(),
        Some(opened),
        "one director connection per client connection: {report:#}"
    );
    let reused = report["connections_reused"].as_u64().unwrap_or(0);
    assert!(
        reused > 0,
        "the client reused ports the director still held: {report:#}"
    );
}

#[test]
fn lab_af_xdp_first_connections_after_start_connect_at_once() {
    first_connections_after_start(Pmd::AfXdp, 's');
}

#[test]
fn lab_af_packet_first_connections_after_start_connect_at_once() {
    first_connections_after_start(Pmd::AfPacket, 'q');
}

#[test]
fn lab_af_packet_nat_and_fullnat_over_two_workers() {
    lab_run(Pmd::AfPacket, 'p');
}

#[test]
fn lab_af_xdp_nat_and_fullnat_over_two_workers() {
    lab_run(Pmd::AfXdp, 'x');
}

#[test]
fn a_missing_device_is_a_clear_error() {
    preflight();
    let dir = std::env::temp_dir().join(format!("rvs-lab-{}-missing", std::process::id()));
    std::fs::create_dir_all(&dir).expect("test dir");
    let iface = format!("rv{:x}none", std::process::id());
    let device = format!("net_af_packet0,iface={iface}");
    let config = dir.join("rvs.toml");
    // No PCI probe: this rvsd runs in the machine's own namespace, whose NICs it must
    // leave alone (some PMDs, mlx5 for one, drive NICs bound to their kernel driver).
    let text = format!(
        "[dataplane]\nworkers = 1\nconn_capacity = 16\n\n[dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
         [[port]]\nname = \"wan\"\ndevice = \"{device}\"\n"
    );
    std::fs::write(&config, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(&config)
        .arg("--no-huge")
        .stdin(Stdio::null())
        .output()
        .expect("run rvsd");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port \"wan\" (device \"{device}\")")),
        "the error names neither the port nor the device:\n{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report after a failed start");
}
