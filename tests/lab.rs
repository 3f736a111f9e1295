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
        // Frames no larger than the MTU, as a NIC delivers them: veth would otherwise
        // hand the director 64 KiB TSO/GRO frames, which no director receives on a wire.
        for (role, iface) in [
            ("c", "cw"),
            ("d", "dw"),
            ("d", "d1"),
            ("d", "d2"),
            ("r1", "r1"),
            ("r2", "r2"),
        ] {
            must(&[
                "ip",
                "netns",
                "exec",
                &lab.ns(role),
                "ethtool",
                "-K",
                &lab.iface(iface),
                "tso",
                "off",
                "gso",
                "off",
                "gro",
                "off",
            ]);
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

[ctl]
socket = "{socket}"

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
            socket = self.dir.join("rvsd.sock").display(),
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

/// A real's server for the control-plane lab: `GET /` answers "NAME CLIENT-ADDRESS";
/// `GET /slow` sends [`SLOW_CHUNKS`] chunks of 64 KiB, a pause between chunks, so the
/// connection stays established while the director is reconfigured.
const SLOW_SERVER: &str = r#"
import http.server, os, sys, threading, time
name, port = sys.argv[1], int(sys.argv[2])
chunk = bytes(i % 251 for i in range(65536))
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", str(40 * len(chunk)))
            self.end_headers()
            for _ in range(40):
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(0.15)
            return
        body = ("%s %s\n" % (name, self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"#;

/// Chunks of 64 KiB a slow download carries.
const SLOW_CHUNKS: usize = 40;
/// The VIP of the service the control-plane lab never touches.
const UNTOUCHED_VIP: &str = "10.0.0.102";

/// A kernel veth between the test's own namespace and the director's, for Prometheus to
/// scrape rvsd's metrics endpoint from outside the lab: the test's side.
const MGMT_HOST: &str = "169.254.77.1";
/// The director's side of that veth, where rvsd serves `/metrics` in the control lab.
const MGMT_DIRECTOR: &str = "169.254.77.2";

#[path = "../ctl/tests/support/prometheus.rs"]
mod prometheus;

mod control_lab {
    use super::*;
    use rvs_ctl::client;
    use rvs_ctl::proto::{
        Change, Forward, Protocol, RealSpec, Request, Response, ServiceKey, ServiceSpec,
    };

    fn key(vip: &str) -> ServiceKey {
        ServiceKey {
            proto: Protocol::Tcp,
            addr: format!("{vip}:80").parse().expect("service address"),
        }
    }

    fn real(addr: &str, forward: Forward, weight: u32) -> RealSpec {
        RealSpec {
            addr: addr.parse().expect("real address"),
            forward,
            weight,
            upper: 0,
            lower: 0,
        }
    }

    /// The lab's configuration: NAT, FULLNAT and an untouched NAT service, each over the
    /// slow-capable servers on port 8081 of both reals; the control socket in the lab.
    fn config(lab: &Lab, fullnat_reals: &[&str]) -> String {
        let dev = |i, role| Pmd::AfPacket.device(i, &lab.iface(role));
        let mut text = format!(
            "[dataplane]\nworkers = 2\nconn_capacity = 4096\n\n[dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
             [ctl]\nsocket = \"{}\"\nmetrics = \"{MGMT_DIRECTOR}:9779\"\n\n\
             [[port]]\nname = \"wan\"\ndevice = \"{}\"\naddresses = [\"10.0.0.1/24\"]\n\n\
             [[port]]\nname = \"lan1\"\ndevice = \"{}\"\naddresses = [\"10.1.1.1/24\"]\n\n\
             [[port]]\nname = \"lan2\"\ndevice = \"{}\"\naddresses = [\"10.1.2.1/24\"]\n",
            lab.dir.join("rvsd.sock").display(),
            dev(0, "dw"),
            dev(1, "d1"),
            dev(2, "d2"),
        );
        for (vip, forward, reals, laddrs) in [
            (NAT_VIP, "nat", &["10.1.1.11", "10.1.2.11"][..], ""),
            (
                FULLNAT_VIP,
                "fullnat",
                fullnat_reals,
                "laddrs = [\"10.9.0.1\", \"10.9.0.2\"]\n",
            ),
            (UNTOUCHED_VIP, "nat", &["10.1.1.11", "10.1.2.11"][..], ""),
        ] {
            text += &format!(
                "\n[[service]]\nproto = \"tcp\"\nvip = \"{vip}\"\nport = 80\nscheduler = \"rr\"\n{laddrs}"
            );
            for ip in reals {
                text += &format!(
                    "[[service.real]]\nip = \"{ip}\"\nport = 8081\nforward = \"{forward}\"\n"
                );
            }
        }
        text
    }

    fn call(lab: &Lab, request: Request) -> Response {
        client::call(&lab.dir.join("rvsd.sock"), request).expect("control request")
    }

    fn apply(lab: &Lab, changes: Vec<Change>) {
        assert_eq!(call(lab, Request::Apply { changes }), Response::Done);
    }

    /// Start a slow download from the client into `file`.
    fn slow_download(lab: &Lab, vip: &str, file: &Path) -> Child {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns("c"),
                "curl",
                "-s",
                "-m",
                "60",
                "-o",
            ])
            .arg(file)
            .arg(format!("http://{vip}/slow"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start a slow download")
    }

    /// Which worker served the last connection from the client port `port` to `vip`, and
    /// which real, from the director's connection listing.
    fn served_by(lab: &Lab, vip: &str, port: u16) -> (u16, String) {
        let Response::Conns { conns, .. } = call(lab, Request::Conns { limit: 10_000 }) else {
            panic!("not a connection listing");
        };
        let c = conns
            .iter()
            .find(|c| c.vip.ip().to_string() == vip && c.client.port() == port)
            .unwrap_or_else(|| panic!("no connection from port {port} to {vip}: {conns:?}"));
        (c.worker, c.real.to_string())
    }

    /// `curl` to the untouched service from client port `port`: (worker, real).
    fn untouched_request(lab: &Lab, port: u16) -> (u16, String) {
        let out = run(&[
            "ip",
            "netns",
            "exec",
            &lab.ns("c"),
            "curl",
            "-s",
            "-m",
            "5",
            "--local-port",
            &port.to_string(),
            &format!("http://{UNTOUCHED_VIP}/"),
        ]);
        assert!(
            out.status.success(),
            "a request to the untouched service failed"
        );
        served_by(lab, UNTOUCHED_VIP, port)
    }

    #[test]
    fn lab_reconfigure_under_load_keeps_every_connection() {
        preflight();
        let _one = ONE_LAB_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut lab = Lab::new('k');
        let mgmt = Mgmt::new(&lab);
        let script = lab.dir.join("slow.py");
        std::fs::write(&script, SLOW_SERVER).expect("slow server script");
        for (real, addr) in [("r1", "10.1.1.11"), ("r2", "10.1.2.11")] {
            let child = Command::new("ip")
                .args(["netns", "exec", &lab.ns(real), "python3"])
                .arg(&script)
                .args([&format!("{real}-8081"), "8081"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a slow server");
            lab.servers.push(child);
            let url = format!("http://{addr}:8081/");
            let deadline = Instant::now() + Duration::from_secs(20);
            while !run(&[
                "ip",
                "netns",
                "exec",
                &lab.ns(real),
                "curl",
                "-s",
                "-m",
                "1",
                &url,
            ])
            .status
            .success()
            {
                assert!(
                    Instant::now() < deadline,
                    "the slow server of {real} did not start"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let path = lab.dir.join("control.toml");
        std::fs::write(&path, config(&lab, &["10.1.1.11", "10.1.2.11"])).expect("config");
        let mut rvsd = Rvsd::start(&lab, &path);

        // The untouched service: each worker's rr has just picked the first real.
        let mut last: std::collections::HashMap<u16, (usize, String)> = Default::default();
        let mut port = 41000u16;
        while last.len() < 2 || last.values().any(|(n, _)| n % 2 == 0) {
            assert!(
                port < 41040,
                "could not get an odd pick count on both workers: {last:?}"
            );
            let (w, real) = untouched_request(&lab, port);
            let e = last.entry(w).or_insert((0, String::new()));
            *e = (e.0 + 1, real);
            port += 1;
        }

        // Slow downloads through NAT and FULLNAT, established before any change.
        let mut downloads = Vec::new();
        for (i, vip) in [NAT_VIP, NAT_VIP, FULLNAT_VIP, FULLNAT_VIP]
            .iter()
            .enumerate()
        {
            let file = lab.dir.join(format!("download-{i}"));
            downloads.push((vip, file.clone(), slow_download(&lab, vip, &file)));
        }
        std::thread::sleep(Duration::from_millis(800));

        // Add a real, change a scheduler and weights, quiesce one real, remove another.
        let (nat, fullnat) = (key(NAT_VIP), key(FULLNAT_VIP));
        apply(
            &lab,
            vec![Change::AddReal {
                service: nat,
                real: real("10.1.1.11:8080", Forward::Nat, 1),
            }],
        );
        apply(
            &lab,
            vec![
                Change::EditService(ServiceSpec {
                    key: fullnat,
                    scheduler: "wrr".into(),
                    flags: vec![],
                    persistence: 0,
                    netmask: 32,
                }),
                Change::EditReal {
                    service: fullnat,
                    real: real("10.1.1.11:8081", Forward::FullNat, 3),
                },
            ],
        );
        apply(
            &lab,
            vec![Change::EditReal {
                service: nat,
                real: real("10.1.2.11:8081", Forward::Nat, 0),
            }],
        );
        apply(
            &lab,
            vec![Change::DeleteReal {
                service: nat,
                addr: "10.1.1.11:8081".parse().expect("address"),
            }],
        );
        // New NAT connections: only the added real (one removed, one quiesced).
        for _ in 0..4 {
            let body = lab
                .get(NAT_VIP)
                .unwrap_or_else(|| panic!("NAT request failed:\n{}", rvsd.log()));
            assert!(
                body.starts_with("r1 "),
                "a new NAT connection went to {body}"
            );
        }
        // FULLNAT under wrr 3:1: 4 new connections split 3:1 over the workers' cycles.
        let mut r1 = 0;
        for _ in 0..8 {
            let body = lab.get(FULLNAT_VIP).expect("FULLNAT request");
            r1 += usize::from(body.starts_with("r1-8081 "));
        }
        assert!(r1 >= 5, "wrr 3:1 gave r1 {r1} of 8 new FULLNAT connections");

        // Reload an edited file: FULLNAT keeps only the second real.
        std::fs::write(&path, config(&lab, &["10.1.2.11"])).expect("edited config");
        assert_eq!(
            call(&lab, Request::ConfigReload { path: None }),
            Response::Done
        );
        for _ in 0..4 {
            let body = lab.get(FULLNAT_VIP).expect("FULLNAT request after reload");
            assert!(
                body.starts_with("r2-8081 "),
                "after the reload a FULLNAT connection went to {body}"
            );
        }

        // Every download established before the changes completes intact.
        let chunk: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
        for (vip, file, mut child) in downloads {
            let status = child.wait().expect("wait for curl");
            let got = std::fs::metadata(&file).map_or(0, |m| m.len());
            assert!(
                status.success(),
                "a slow download from {vip} failed ({status}) after {got} bytes; drops {:?}, conns {:?}:\n{}",
                call(&lab, Request::Drops),
                call(&lab, Request::Conns { limit: 100 }),
                rvsd.log()
            );
            let body = std::fs::read(&file).expect("downloaded file");
            assert_eq!(
                body.len(),
                SLOW_CHUNKS * chunk.len(),
                "{vip}: download truncated"
            );
            assert!(
                body.chunks(chunk.len()).all(|c| c == chunk.as_slice()),
                "{vip}: download corrupted"
            );
        }

        // The untouched service's rr continued where each worker was: the second real.
        let mut next: std::collections::HashMap<u16, String> = Default::default();
        while next.len() < 2 {
            assert!(port < 41080, "could not reach both workers again");
            let (w, real) = untouched_request(&lab, port);
            next.entry(w).or_insert(real);
            port += 1;
        }
        for (w, real) in &next {
            assert_ne!(
                real, &last[w].1,
                "worker {w}: the untouched service's rr position was reset"
            );
        }
        scrape_metrics(&lab);
        prometheus_queries(&lab);
        abuse_the_control_socket(&lab);
        save_clear_restore(&lab);
        let report = rvsd.stop();
        drop(mgmt);
        assert_eq!(report["io"]["tx_refused"].as_u64(), Some(0), "{report:#}");
    }

    /// The management veth; removed on drop (its director side goes with the namespace).
    struct Mgmt(String);

    impl Mgmt {
        fn new(lab: &Lab) -> Mgmt {
            let (host, director) = (lab.iface("mh"), lab.iface("md"));
            must(&[
                "ip",
                "link",
                "add",
                &host,
                "type",
                "veth",
                "peer",
                "name",
                &director,
                "netns",
                &lab.ns("d"),
            ]);
            let mgmt = Mgmt(host.clone());
            must(&[
                "ip",
                "addr",
                "add",
                &format!("{MGMT_HOST}/30"),
                "dev",
                &host,
            ]);
            must(&["ip", "link", "set", &host, "up"]);
            let d = lab.ns("d");
            must(&[
                "ip",
                "-n",
                &d,
                "addr",
                "add",
                &format!("{MGMT_DIRECTOR}/30"),
                "dev",
                &director,
            ]);
            must(&["ip", "-n", &d, "link", "set", &director, "up"]);
            mgmt
        }
    }

    impl Drop for Mgmt {
        fn drop(&mut self) {
            let _ = run(&["ip", "link", "del", &self.0]);
        }
    }

    /// A real Prometheus scrapes rvsd during traffic; PromQL over `rvs_` series.
    fn prometheus_queries(lab: &Lab) {
        let target: std::net::SocketAddr = format!("{MGMT_DIRECTOR}:9779").parse().expect("target");
        let prom = prometheus::Prometheus::start("lab", &[target]).expect("start prometheus");
        prom.wait_targets_up(1, Duration::from_secs(30))
            .expect("rvsd scraped");
        let before = prom
            .query("sum(rvs_service_connections_total{local_address=\"10.0.0.101\"})")
            .expect("query");
        let before = before.first().map_or(0.0, |s| s.value);
        for _ in 0..5 {
            lab.get(FULLNAT_VIP).expect("FULLNAT request");
        }
        let want = before + 5.0;
        prom.wait_for(
            "sum(rvs_service_connections_total{local_address=\"10.0.0.101\"})",
            Duration::from_secs(30),
            |s| s.first().is_some_and(|x| x.value == want),
        )
        .expect("new connections seen by Prometheus");
        let weights = prom
            .query("rvs_backend_weight{local_address=\"10.0.0.100\",proto=\"TCP\"}")
            .expect("weights");
        assert_eq!(weights.len(), 2, "{weights:?}");
        prom.wait_for(
            "sum(rate(rvs_worker_rx_packets_total[5s]))",
            Duration::from_secs(30),
            |s| s.first().is_some_and(|x| x.value > 0.0),
        )
        .expect("a received-packet rate");
        let drops = prom
            .query("sum by (reason) (rvs_worker_drops_total)")
            .expect("drops by reason");
        assert!(
            drops.len() >= 16,
            "every drop reason is a series: {drops:?}"
        );
    }

    /// `/metrics` over the management veth.
    fn metrics() -> String {
        let out = run(&[
            "curl",
            "-s",
            "-m",
            "5",
            &format!("http://{MGMT_DIRECTOR}:9779/metrics"),
        ]);
        assert!(out.status.success(), "scraping /metrics failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The value of the sample whose line starts with `prefix`.
    fn sample(text: &str, prefix: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sample {prefix}:\n{text}"))
    }

    /// The families, with node_exporter's IPVS labels, and counters that move.
    fn scrape_metrics(lab: &Lab) {
        let before = metrics();
        for family in [
            "# TYPE rvs_connections_total counter",
            "# TYPE rvs_incoming_packets_total counter",
            "# TYPE rvs_backend_connections_active gauge",
            "# TYPE rvs_backend_weight gauge",
            "# TYPE rvs_worker_drops_total counter",
            "# TYPE rvs_worker_redirected_packets_total counter",
        ] {
            assert!(before.contains(family), "{family} missing:\n{before}");
        }
        let weight = "rvs_backend_weight{local_address=\"10.0.0.100\",local_port=\"80\",\
                      remote_address=\"10.1.2.11\",remote_port=\"8081\",proto=\"TCP\",local_mark=\"\"}";
        assert_eq!(
            sample(&before, weight),
            1.0,
            "the weight the reloaded file gives"
        );
        let rx = "rvs_worker_rx_packets_total{worker=\"0\"}";
        let conns = "rvs_service_connections_total{local_address=\"10.0.0.101\"";
        let (rx0, conns0) = (sample(&before, rx), sample(&before, conns));
        for _ in 0..3 {
            lab.get(FULLNAT_VIP).expect("FULLNAT request");
        }
        std::thread::sleep(Duration::from_millis(300)); // workers publish every 100 ms
        let after = metrics();
        assert!(sample(&after, rx) > rx0, "received packets did not move");
        assert_eq!(
            sample(&after, conns) - conns0,
            3.0,
            "FULLNAT connections counted"
        );
    }

    /// Send `bytes` as one raw exchange and read the daemon's answer.
    fn raw_exchange(lab: &Lab, bytes: &[u8]) -> rvs_ctl::proto::ResponseEnvelope {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(lab.dir.join("rvsd.sock"))
            .expect("connect to the control socket");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(bytes).expect("send");
        rvs_ctl::frame::read_frame(&mut s, rvs_ctl::frame::MAX_RESPONSE).expect("an answer")
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// Malformed, oversized and wrong-version requests, 50 clients at once, a client that
    /// sends nothing and one that never reads its answers, while connections flow.
    fn abuse_the_control_socket(lab: &Lab) {
        use rvs_ctl::proto::ErrorKind;
        let traffic = {
            let ns = lab.ns("c");
            std::thread::spawn(move || {
                (0..60)
                    .filter(|_| {
                        !run(&[
                            "ip",
                            "netns",
                            "exec",
                            &ns,
                            "curl",
                            "-s",
                            "-m",
                            "5",
                            &format!("http://{NAT_VIP}/"),
                        ])
                        .status
                        .success()
                    })
                    .count()
            })
        };
        // Clients that hold their connection and never read or never send.
        let socket = lab.dir.join("rvsd.sock");
        let silent = std::os::unix::net::UnixStream::connect(&socket).expect("silent client");
        let mut deaf = std::os::unix::net::UnixStream::connect(&socket).expect("deaf client");
        let listing = serde_json::to_vec(&rvs_ctl::proto::RequestEnvelope {
            version: rvs_ctl::proto::VERSION,
            request: Request::Services { service: None },
        })
        .expect("request");
        for _ in 0..200 {
            if std::io::Write::write_all(&mut deaf, &framed(&listing)).is_err() {
                break;
            }
        }
        let refusal = |bytes: &[u8]| match raw_exchange(lab, bytes).result {
            Err(e) => e,
            Ok(r) => panic!("a bad request was answered {r:?}"),
        };
        let e = refusal(&framed(b"{not json"));
        assert_eq!(e.kind, ErrorKind::Malformed, "{e:?}");
        let e = refusal(&framed(br#"{"version":1,"request":{"type":"reboot"}}"#));
        assert_eq!(e.kind, ErrorKind::Malformed, "{e:?}");
        let e = refusal(&framed(br#"{"version":99,"request":{"type":"status"}}"#));
        assert_eq!(e.kind, ErrorKind::Version, "{e:?}");
        assert!(e.message.contains("99"), "{e:?}");
        let mut huge = (64u32 << 20).to_be_bytes().to_vec();
        huge.extend_from_slice(&[b' '; 1024]);
        let e = refusal(&huge);
        assert_eq!(e.kind, ErrorKind::TooLarge, "{e:?}");
        // 50 clients at once, each with a few requests.
        let clients: Vec<_> = (0..50)
            .map(|_| {
                let socket = socket.clone();
                std::thread::spawn(move || {
                    (0..5)
                        .map(|_| client::call(&socket, Request::Status))
                        .find(|r| !matches!(r, Ok(Response::Status(_))))
                        .map(|r| format!("{r:?}"))
                })
            })
            .collect();
        for c in clients {
            if let Some(failure) = c.join().expect("client thread") {
                panic!("a concurrent client failed: {failure}");
            }
        }
        let started = Instant::now();
        call(lab, Request::Status);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the control core stalled"
        );
        assert_eq!(
            traffic.join().expect("traffic"),
            0,
            "connections failed during the abuse"
        );
        drop((silent, deaf));
    }

    /// `rvsadm` next to `rvsd` (built by `cargo test --workspace`).
    fn rvsadm(lab: &Lab, args: &[&str], stdin: Option<&str>) -> String {
        let bin = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name("rvsadm");
        assert!(
            bin.exists(),
            "{} is missing: build the workspace (scripts/test does)",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .arg("--socket")
            .arg(lab.dir.join("rvsd.sock"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rvsadm");
        let input = stdin.unwrap_or("").to_owned();
        let mut pipe = child.stdin.take().expect("stdin");
        std::thread::spawn(move || std::io::Write::write_all(&mut pipe, input.as_bytes()));
        let out = child.wait_with_output().expect("rvsadm output");
        assert!(
            out.status.success(),
            "rvsadm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// IPv4 and IPv6 services with persistence, thresholds and local addresses survive
    /// `rvsadm -S -n`, `-C`, `-R`.
    fn save_clear_restore(lab: &Lab) {
        for cmd in [
            "-A -t [2001:db8::100]:443 -s sh -b sh-port -p 600 -M 64",
            "-P -t [2001:db8::100]:443 -z fd00:9::1",
            "-a -t [2001:db8::100]:443 -r [fd00:1::11]:443 -b -w 5 -x 100 -y 50",
            "-a -t [2001:db8::100]:443 -r [fd00:1::12]:8443 -m -w 2",
            "-A -u 10.0.0.103:53 -s wlc -p",
            "-a -u 10.0.0.103:53 -r 10.1.1.11:53 -m -x 10 -y 5",
            "-e -t 10.0.0.100:80 -r 10.1.2.11:8081 -m -w 4 -x 200",
        ] {
            let args: Vec<&str> = cmd.split_whitespace().collect();
            rvsadm(lab, &args, None);
        }
        let saved = rvsadm(lab, &["-S", "-n"], None);
        let listing = rvsadm(lab, &["-L", "-n", "--thresholds"], None);
        let config = call(lab, Request::ConfigSave);
        assert!(
            saved.contains("-P -t [2001:db8::100]:443 -z fd00:9::1"),
            "{saved}"
        );
        rvsadm(lab, &["-C"], None);
        assert_eq!(
            rvsadm(lab, &["-S", "-n"], None).lines().count(),
            0,
            "-C left services"
        );
        rvsadm(lab, &["-R"], Some(&saved));
        assert_eq!(
            rvsadm(lab, &["-S", "-n"], None),
            saved,
            "-R did not restore -S"
        );
        assert_eq!(rvsadm(lab, &["-L", "-n", "--thresholds"], None), listing);
        // The same services (`-S` lists them sorted, so their order may differ).
        let sorted = |r: Response| {
            let Response::Config(text) = r else {
                panic!("not a configuration");
            };
            let mut c = rvs_dataplane::config::Config::parse(&text, "saved").expect("saved config");
            c.services
                .sort_by_key(|s| format!("{:?} {} {}", s.proto, s.vip, s.port));
            c
        };
        assert_eq!(
            sorted(call(lab, Request::ConfigSave)),
            sorted(config),
            "the running state differs"
        );
    }
}

/// Spoofed SYNs from the client namespace: `argv[1]` interface, `argv[2]` destination
/// MAC, `argv[3]` how many; sources random in 100.64.0.0/10, toward the NAT VIP port 80.
const SYN_FLOOD: &str = r#"
import random, socket, struct, sys
iface, mac, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = s.getsockname()[4]
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t & 0xffff) + (t >> 16)
    return ~((t & 0xffff) + (t >> 16)) & 0xffff
dst = socket.inet_aton("10.0.0.100")
for i in range(count):
    src = struct.pack("!I", (100 << 24) | (64 << 16) | random.getrandbits(22))
    sport = random.randrange(1024, 65536)
    tcp = struct.pack("!HHIIBBHHH", sport, 80, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(mac + src_mac + b"\x08\x00" + ip + tcp)
"#;

/// A bounded live SYN flood (more spoofed SYNs than the table holds), with and without
/// `table_full_evict`: rvsd's memory stays where the preallocated table put it and the
/// refusals are counted; with the defence, every connection a real client opens during and
/// after the flood is served, the flood's embryonic connections giving way.
#[test]
fn lab_af_packet_syn_flood_is_bounded_and_counted() {
    preflight();
    let _one = ONE_LAB_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for evict in [true, false] {
        syn_flood(evict);
    }
}

fn syn_flood(evict: bool) {
    let lab = Lab::new(if evict { 'f' } else { 'g' });
    let config = lab.config(Pmd::AfPacket);
    let mut text = std::fs::read_to_string(&config).expect("lab config");
    text.push_str(&format!("\n[behaviour]\ntable_full_evict = {evict}\n"));
    std::fs::write(&config, text).expect("lab config");
    let mut rvsd = Rvsd::start(&lab, &config);
    assert!(
        lab.get(NAT_VIP).is_some(),
        "served before the flood:\n{}",
        rvsd.log()
    );
    let rss = |rvsd: &Rvsd| {
        std::fs::read_to_string(format!("/proc/{}/status", rvsd.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let rss_before = rss(&rvsd);
    // 20 000 SYNs: more than the 2 x 4096 connections the workers hold.
    let mac = lab.director_mac();
    let (ns, iface) = (lab.ns("c"), lab.iface("cw"));
    let mut flood = Command::new("ip")
        .args([
            "netns", "exec", &ns, "python3", "-c", SYN_FLOOD, &iface, &mac, "20000",
        ])
        .spawn()
        .expect("start the flood");
    // Without the defence, new clients wait out the flood's entries (60 s): one try.
    let tries = if evict { CONNECTIONS } else { 1 };
    let mut served = 0;
    for _ in 0..tries {
        served += usize::from(lab.get(NAT_VIP).is_some());
    }
    assert!(
        flood.wait().expect("flood").success(),
        "the flood script failed"
    );
    for _ in 0..tries {
        served += usize::from(lab.get(NAT_VIP).is_some());
    }
    let rss_after = rss(&rvsd);
    let report = rvsd.stop();
    let table_full = report["dropped"]["table_full"].as_u64().unwrap_or(0);
    let evicted = report["embryonic_evicted"].as_u64().unwrap_or(0);
    println!(
        "syn flood, table_full_evict = {evict}: rvsd RSS {rss_before} -> {rss_after} KiB, \
         {served} of {} client connections served, {} connections made, {evicted} evicted, \
         {table_full} refused (table_full)",
        2 * tries,
        report["connections_created"]
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "rvsd grew by more than 64 MiB: {rss_before} -> {rss_after} KiB"
    );
    if evict {
        assert_eq!(served, 2 * tries, "every real client served: {report:#}");
        assert!(
            evicted > 0,
            "the flood filled the table and gave way: {report:#}"
        );
    } else {
        assert!(table_full > 0, "refusals counted: {report:#}");
        assert_eq!(evicted, 0, "{report:#}");
    }
}
