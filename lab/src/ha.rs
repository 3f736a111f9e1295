//! The high-availability lab: directors of one VRRP virtual router on a shared client
//! segment and a shared real segment, and a keepalived host on the client segment.
//!
//! ```text
//!  hub ns b: bridge cb (client segment 10.50.0.0/24), bridge rb (real segment 10.60.0.0/24)
//!  client ns c   c0 10.50.0.100 --------------------------- cb
//!  director dN   wN (rvsd port wan, 10.50.0.N) ------------- cb      (N = 1, 2)
//!                lN (rvsd port lan, 10.60.0.N + floating 10.60.0.254) -- rb
//!  keepalived k  k0 10.50.0.3 (the VIP on it while master) -- cb
//!  real ns rM    rM 10.60.0.1M, default via 10.60.0.254 ---- rb      (M = 1, 2; more
//!                                                                     with_reals)
//!  probe path    pN 10.60.0.3N (director N's kernel) -------- rb      (add_probe_path)
//! ```
//!
//! - The VIP [`HA_VIP`] is on the client segment: the client reaches it by ARP, so
//!   whoever answers ARP for it (the master) carries the traffic.
//! - The reals' default gateway is [`FLOATING`], a port address that moves with
//!   mastership (`[ha] floating`): NAT answers go back through the master.
//! - The directors' ports have no kernel addresses; their kernels have IPv6 off. The
//!   keepalived host is an ordinary kernel: keepalived puts the VIP on `k0` as master.
//!
//! The reals serve HTTP on [`crate::HTTP_PORT`] (`NAME CLIENT`); a test may start nginx
//! on them too, behind a PROXY protocol listener on [`PROXY_PORT`]
//! ([`HaLab::start_nginx`]), watch the real segment for TOA ([`HaLab::watch_toa`]),
//! capture frames on the client segment and send its own from the client
//! ([`HaLab::capture_udp`], [`HaLab::send_frames`]), or flood raw IPv4 packets from any
//! of its namespaces ([`HaLab::flood`]). Two additions are opt-in: a direct return
//! path through the hub for DR and TUN services ([`HaLab::add_direct_return`]), and a
//! BGP router namespace linked to each director's kernel ([`HaLab::add_router`]).
//! Everything is named with the process id and a tag, removed on drop; the lab lock is
//! held for its life.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::{must, must_line, run};
use crate::config::Service;
use crate::lock::LabLock;
use crate::netns;
use crate::rvsd::Rvsd;
use crate::topology::HTTP_PORT;

mod direct;
mod flood;
mod frames;
mod proxy;
mod router;

pub use direct::{HUB_CLIENT_SIDE, HUB_REAL_SIDE};
pub use flood::{Flood, FloodReport};
pub use frames::sent_counts;
pub use proxy::{ToaWatch, PLAIN_PORT, PROXY_PORT, SLOW_RATE, UPLOAD_PORT};
pub use router::{router_addr, uplink_addr};

/// The VIP of the virtual router (on the client segment).
pub const HA_VIP: &str = "10.50.0.10";
/// A second VIP (the FULLNAT service's in the sync test).
pub const HA_VIP2: &str = "10.50.0.11";
/// A FULLNAT local address, on the real segment.
pub const HA_LADDR: &str = "10.60.0.200";
/// The reals' gateway: a port address of the master (`[ha] floating`).
pub const FLOATING: &str = "10.60.0.254";
/// The client's address.
pub const HA_CLIENT: &str = "10.50.0.100";
/// The keepalived host's address.
pub const KEEPALIVED_ADDR: &str = "10.50.0.3";
/// The virtual router id everyone uses.
pub const VRID: u8 = 51;
/// Directors in the lab.
pub const HA_DIRECTORS: usize = 2;
/// Reals in the lab ([`HaLab::new`]; [`HaLab::with_reals`] builds more).
pub const HA_REALS: usize = 2;
/// How long keepalived may take to start.
const KEEPALIVED_START: Duration = Duration::from_secs(10);

/// Director `i`'s address on the client segment (its wan port's, the adverts' source).
pub fn ha_director(i: usize) -> String {
    format!("10.50.0.{i}")
}

/// Real `i`'s address.
pub fn ha_real(i: usize) -> String {
    format!("10.60.0.1{i}")
}

/// Director `i`'s kernel address on the real segment ([`HaLab::add_probe_path`]).
pub fn probe_addr(i: usize) -> String {
    format!("10.60.0.3{i}")
}

/// Chunks a slow download carries ([`HaLab::slow_download`]).
pub const SLOW_CHUNKS: usize = 100;
/// Bytes in each chunk.
pub const SLOW_CHUNK: usize = 16384;

/// A real's HTTP server: `real_http.py NAME PORT`; `GET /` answers `NAME CLIENT`, `GET
/// /slow` sends [`SLOW_CHUNKS`] chunks of [`SLOW_CHUNK`] bytes 0.15 s apart (15 s: a
/// long-lived connection across failovers). It exits when its stdin closes.
const REAL_HTTP: &str = r#"
import http.server, os, sys, threading, time
name, port = sys.argv[1], int(sys.argv[2])
chunk = bytes(i % 251 for i in range(16384))
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", str(100 * len(chunk)))
            self.end_headers()
            for _ in range(100):
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

/// Sends an ARP request for an address and prints the sender MAC of every reply that
/// came within a second, one a line: who answers ARP for it (raw socket, no helper).
const ARP_WHO: &str = r#"
import socket, struct, sys, time
iface, target = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((iface, 0))
mac = s.getsockname()[4][:6]
me = socket.inet_aton(sys.argv[3])
tip = socket.inet_aton(target)
req = b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
req += mac + me + b"\x00" * 6 + tip
s.send(req)
end = time.time() + 1.0
seen = []
while True:
    left = end - time.time()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        f = s.recv(128)
    except socket.timeout:
        break
    if len(f) >= 42 and f[20:22] == b"\x00\x02" and f[28:32] == tip:
        m = ":".join("%02x" % b for b in f[22:28])
        if m not in seen:
            seen.append(m)
for m in seen:
    print(m)
"#;

/// A keepalived running in the lab's keepalived namespace; stopped on drop.
pub struct Keepalived {
    child: Child,
    /// The pid file of its VRRP process (the one that sends adverts).
    vrrp_pid: PathBuf,
}

impl Keepalived {
    /// SIGKILL of its VRRP process, then of the parent: keepalived dies without a
    /// priority-0 advert. (Killing only the parent is a clean stop: the VRRP process
    /// notices and leaves with priority 0.) With `--dont-respawn` the parent does not
    /// start a new VRRP process in between.
    pub fn kill(mut self) {
        let pid = std::fs::read_to_string(&self.vrrp_pid).unwrap_or_default();
        let pid = pid.trim();
        assert!(!pid.is_empty(), "keepalived wrote no VRRP pid file");
        must(&["sh", "-c", "kill -KILL \"$1\"", "sh", pid]);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: keepalived leaves with a priority-0 advert; waits until it has exited.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        must(&["sh", "-c", "kill -TERM \"$1\"", "sh", &pid]);
        let _ = self.child.wait();
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The high-availability lab; removed when dropped.
pub struct HaLab {
    prefix: String,
    namespaces: Vec<String>,
    servers: Vec<(String, Child)>,
    dir: PathBuf,
    reals: usize,
    _lock: LabLock,
}

impl HaLab {
    /// Builds the lab (tag: one character) once no other lab runs, and starts the
    /// reals' HTTP servers.
    pub fn new(tag: char) -> HaLab {
        HaLab::with_reals(tag, HA_REALS)
    }

    /// [`HaLab::new`] with `reals` reals (`r1` .. `rN`, at most 9).
    pub fn with_reals(tag: char, reals: usize) -> HaLab {
        assert!((1..=9).contains(&reals), "1 to 9 reals");
        let lock = LabLock::acquire();
        let prefix = format!("rv{:x}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("rvs-lab-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let mut lab = HaLab {
            prefix,
            namespaces: Vec::new(),
            servers: Vec::new(),
            dir,
            reals,
            _lock: lock,
        };
        for (name, text) in [("real_http.py", REAL_HTTP), ("arp_who.py", ARP_WHO)] {
            std::fs::write(lab.dir.join(name), text).expect("lab script");
        }
        lab.add_namespaces();
        lab.hub_and_client();
        for i in 1..=HA_DIRECTORS {
            lab.director_links(i);
        }
        lab.keepalived_host();
        for i in 1..=reals {
            lab.real(i);
        }
        for i in 1..=reals {
            lab.start_http(i);
        }
        lab
    }

    /// Namespace `role`: `b` (hub), `c` (client), `d1`, `d2`, `k` (keepalived), `r1`, `r2`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// Interface `role`: `c0` the client's, `wN`/`lN` director N's wan and lan, `k0`
    /// keepalived's, `rM` real M's; `cb`/`rb` the bridges.
    pub fn iface(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// The lab's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reals in this lab.
    pub fn reals(&self) -> usize {
        self.reals
    }

    /// Director `i`'s control socket.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.dir.join(format!("rvsd-d{i}.sock"))
    }

    /// The file director `i`'s notify command appends each new state to.
    pub fn notify_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("d{i}.states"))
    }

    /// The file keepalived's notify script appends each new state to.
    pub fn keepalived_file(&self) -> PathBuf {
        self.dir.join("keepalived.states")
    }

    fn add_namespaces(&mut self) {
        let mut roles = vec!["b".to_owned(), "c".to_owned(), "k".to_owned()];
        roles.extend((1..=HA_DIRECTORS).map(|i| format!("d{i}")));
        roles.extend((1..=self.reals).map(|i| format!("r{i}")));
        for role in roles {
            let ns = self.ns(&role);
            let mut sysctls = vec![
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ];
            if matches!(role.as_bytes()[0], b'b' | b'd') {
                // No kernel chatter on the bridges and the DPDK ports' veths.
                sysctls.push("net.ipv6.conf.all.disable_ipv6=1");
            }
            // Listed first, so that a failed step still removes it.
            self.namespaces.push(ns.clone());
            netns::add(&ns, &sysctls);
        }
    }

    /// A veth `a` in namespace `a_ns` whose peer `b` is a port of bridge `bridge` in the
    /// hub; offloads off (wire-sized frames).
    fn bridged(&self, a_ns: &str, a: &str, b: &str, bridge: &str) {
        let (a_ns, hub) = (self.ns(a_ns), self.ns("b"));
        let (a, b, bridge) = (self.iface(a), self.iface(b), self.iface(bridge));
        netns::veth(&a_ns, &a, &hub, &b);
        must_line(&format!("ip -n {hub} link set {b} master {bridge} up"));
        must_line(&format!("ip -n {a_ns} link set {a} up"));
    }

    /// The two bridges and the client on the client segment.
    fn hub_and_client(&self) {
        let hub = self.ns("b");
        for bridge in ["cb", "rb"] {
            let bridge = self.iface(bridge);
            must_line(&format!(
                "ip -n {hub} link add {bridge} type bridge mcast_snooping 0"
            ));
            must_line(&format!("ip -n {hub} link set {bridge} up"));
        }
        self.bridged("c", "c0", "bc", "cb");
        let (c, c0) = (self.ns("c"), self.iface("c0"));
        must_line(&format!("ip -n {c} addr add {HA_CLIENT}/24 dev {c0}"));
    }

    /// Director `i`'s wan veth on the client bridge and lan veth on the real bridge; its
    /// ends stay without kernel addresses (rvsd's ports).
    fn director_links(&self, i: usize) {
        let d = format!("d{i}");
        self.bridged(&d, &format!("w{i}"), &format!("bw{i}"), "cb");
        self.bridged(&d, &format!("l{i}"), &format!("bl{i}"), "rb");
    }

    /// The keepalived host on the client bridge.
    fn keepalived_host(&self) {
        self.bridged("k", "k0", "bk", "cb");
        let (k, k0) = (self.ns("k"), self.iface("k0"));
        must_line(&format!("ip -n {k} addr add {KEEPALIVED_ADDR}/24 dev {k0}"));
    }

    /// Real `i` on the real bridge, default via the floating gateway.
    fn real(&self, i: usize) {
        let r = format!("r{i}");
        self.bridged(&r, &r, &format!("bx{i}"), "rb");
        let (ns, dev) = (self.ns(&r), self.iface(&r));
        must_line(&format!("ip -n {ns} addr add {}/24 dev {dev}", ha_real(i)));
        must_line(&format!("ip -n {ns} route add default via {FLOATING}"));
    }

    /// Gives director `i`'s kernel (not its DPDK ports) an address on the real segment,
    /// [`probe_addr`]: the path its health checks' probes take to the reals.
    pub fn add_probe_path(&self, i: usize) {
        let d = format!("d{i}");
        let p = format!("p{i}");
        self.bridged(&d, &p, &format!("bp{i}"), "rb");
        let (ns, dev) = (self.ns(&d), self.iface(&p));
        must_line(&format!(
            "ip -n {ns} addr add {}/24 dev {dev}",
            probe_addr(i)
        ));
    }

    /// Starts real `i`'s HTTP server and waits until it answers.
    pub fn start_http(&mut self, i: usize) {
        let name = format!("r{i}");
        let script = self.dir.join("real_http.py");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(&name), "python3"])
            .arg(&script)
            .args([&name, &HTTP_PORT.to_string()])
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start the HTTP server of {name}: {e}"));
        self.servers.push((format!("{name}/http"), child));
        let url = format!("http://{}:{HTTP_PORT}/", ha_real(i));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .exec(&name, &["curl", "-s", "-m", "1", &url])
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "the HTTP server of {name} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops real `i`'s HTTP server (started by [`HaLab::start_http`]): its port then
    /// refuses connections, as a real whose service died.
    pub fn stop_http(&mut self, i: usize) {
        let name = format!("r{i}/http");
        if let Some(at) = self.servers.iter().position(|(n, _)| *n == name) {
            let (_, mut child) = self.servers.remove(at);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `args` in namespace `role`.
    pub fn exec(&self, role: &str, args: &[&str]) -> std::process::Output {
        let ns = self.ns(role);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The MAC address of interface `role` (in namespace `ns_role`).
    pub fn mac(&self, ns_role: &str, role: &str) -> String {
        let out = self.exec(ns_role, &["ip", "-j", "link", "show", &self.iface(role)]);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("ip -j link output");
        json[0]["address"].as_str().expect("an address").to_owned()
    }

    /// The MACs that answer an ARP request for `ip` from the client within a second.
    pub fn arp_answers(&self, ip: &str) -> Vec<String> {
        let script = self.dir.join("arp_who.py");
        let out = self.exec(
            "c",
            &[
                "python3",
                script.to_str().expect("utf-8 path"),
                &self.iface("c0"),
                ip,
                HA_CLIENT,
            ],
        );
        assert!(
            out.status.success(),
            "arp_who.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Starts a slow download (`GET /slow`, see [`SLOW_CHUNKS`]) from the client through
    /// `vip`, at most `limit_s` seconds; curl prints `BYTES CODE` when done.
    pub fn slow_download(&self, vip: &str, limit_s: u32) -> Child {
        self.slow_download_from(vip, limit_s, None)
    }

    /// [`slow_download`](Self::slow_download) from the client port `local_port` when one
    /// is given (the test then knows which worker owns the connection).
    pub fn slow_download_from(&self, vip: &str, limit_s: u32, local_port: Option<u16>) -> Child {
        let url = format!("http://{vip}:{HTTP_PORT}/slow");
        let port = local_port.map(|p| p.to_string());
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns("c"),
                "curl",
                "-s",
                "-o",
                "/dev/null",
            ])
            .args(port.iter().flat_map(|p| ["--local-port", p.as_str()]))
            .args([
                "-w",
                "%{size_download} %{http_code}",
                "-m",
                &limit_s.to_string(),
                &url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start curl: {e}"))
    }

    /// One HTTP request from the client to the VIP (at most `timeout_s` seconds): the
    /// answer (`NAME CLIENT`), or `None`.
    pub fn get(&self, timeout_s: f64) -> Option<String> {
        self.get_from(HA_VIP, timeout_s)
    }

    /// [`HaLab::get`] through `vip`.
    pub fn get_from(&self, vip: &str, timeout_s: f64) -> Option<String> {
        let url = format!("http://{vip}:{HTTP_PORT}/");
        let out = self.exec(
            "c",
            &[
                "curl",
                "-s",
                "-m",
                &timeout_s.to_string(),
                "--no-keepalive",
                &url,
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `[ha.sync]` for director `i`: over the wan port, from its wan address to the
    /// other director's, authenticated with [`HaLab::sync_key_file`].
    pub fn sync_section(&self, i: usize) -> String {
        let peer = if i == 1 { 2 } else { 1 };
        format!(
            "[ha.sync]\nport = \"wan\"\naddress = \"{}\"\npeers = [\"{}\"]\nkey_file = \"{}\"\n",
            ha_director(i),
            ha_director(peer),
            self.sync_key_file().display()
        )
    }

    /// The key both directors sign their sync messages with: a file in the lab's
    /// directory, made on first use with mode 0600 (rvsd refuses a key file that group
    /// or others may read).
    pub fn sync_key_file(&self) -> PathBuf {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = self.dir.join("sync.key");
        if !path.exists() {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .expect("sync key file");
            // Not secret (a throwaway lab), only long enough: 32 bytes from the prefix.
            writeln!(f, "{:0>32}", self.prefix).expect("sync key");
        }
        // The mode a process umask could not have widened, set again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("sync key mode");
        path
    }

    /// Writes director `i`'s configuration: one worker, the wan port (VRRP, the VIP) and
    /// the lan port (with the floating gateway), `[ha]` with `priority` and
    /// `advert_interval` seconds (its notify appends each state to
    /// [`HaLab::notify_file`]), `extra` TOML lines, and `services`.
    pub fn write_config(
        &self,
        i: usize,
        priority: u8,
        advert_interval: f64,
        extra: &str,
        services: &[Service],
    ) -> PathBuf {
        self.write_config_workers(i, 1, priority, advert_interval, extra, services)
    }

    /// [`HaLab::write_config`] with `workers` workers.
    pub fn write_config_workers(
        &self,
        i: usize,
        workers: u16,
        priority: u8,
        advert_interval: f64,
        extra: &str,
        services: &[Service],
    ) -> PathBuf {
        let notify = self.notify_file(i);
        let mut text = format!(
            "[dataplane]\nworkers = {workers}\nconn_capacity = 4096\n\n\
             [dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
             [ctl]\nsocket = \"{}\"\n\n\
             [[port]]\nname = \"wan\"\ndevice = \"net_af_packet0,iface={}\"\naddresses = [\"{}/24\"]\n\n\
             [[port]]\nname = \"lan\"\ndevice = \"net_af_packet1,iface={}\"\naddresses = [\"10.60.0.{i}/24\", \"{FLOATING}/24\"]\n\n\
             [ha]\nport = \"wan\"\nvrid = {VRID}\npriority = {priority}\nadvert_interval = {advert_interval}\n\
             preempt = true\nfloating = [\"{FLOATING}/24\"]\n\
             notify = [\"sh\", \"-c\", \"echo {{state}} >> {}\"]\n{extra}\n",
            self.socket(i).display(),
            self.iface(&format!("w{i}")),
            ha_director(i),
            self.iface(&format!("l{i}")),
            notify.display(),
        );
        for s in services {
            text += &s.toml();
        }
        let path = self.dir.join(format!("d{i}.toml"));
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Starts director `i`'s rvsd (`bin`, `config`).
    pub fn start_rvsd(&self, i: usize, bin: &Path, config: &Path) -> Rvsd {
        Rvsd::start_in(&self.ns(&format!("d{i}")), bin, config)
    }

    /// Starts keepalived (VRRPv3, the VIP, `priority`, `advert_interval` seconds,
    /// preemption, multicast adverts) in the keepalived namespace, in the foreground with
    /// its own pid files; its notify script appends each state to
    /// [`HaLab::keepalived_file`]. Waits until its first state is written.
    pub fn start_keepalived(&self, priority: u8, advert_interval: f64) -> Keepalived {
        self.start_keepalived_to(priority, advert_interval, &[])
    }

    /// [`HaLab::start_keepalived`] sending its adverts to `unicast_peers` (director
    /// numbers) instead of the multicast group.
    pub fn start_keepalived_to(
        &self,
        priority: u8,
        advert_interval: f64,
        unicast_peers: &[usize],
    ) -> Keepalived {
        let unicast = if unicast_peers.is_empty() {
            String::new()
        } else {
            let peers: Vec<String> = unicast_peers.iter().map(|&i| ha_director(i)).collect();
            format!(
                "  unicast_src_ip {KEEPALIVED_ADDR}\n  unicast_peer {{\n    {}\n  }}\n",
                peers.join("\n    ")
            )
        };
        let states = self.keepalived_file();
        let script = self.dir.join("keepalived-notify.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# TYPE NAME STATE PRIORITY\necho \"$3\" >> {}\n",
                states.display()
            ),
        )
        .expect("notify script");
        must(&["chmod", "0755", script.to_str().expect("utf-8 path")]);
        let conf = self.dir.join("keepalived.conf");
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n  router_id lab_{prefix}\n  vrrp_version 3\n  script_user root\n}}\n\
                 vrrp_instance lab {{\n  state BACKUP\n  interface {iface}\n  virtual_router_id {VRID}\n\
                 priority {priority}\n  advert_int {advert_interval}\n  notify {script}\n{unicast}\
                 virtual_ipaddress {{\n    {HA_VIP}/24\n  }}\n}}\n",
                prefix = self.prefix,
                iface = self.iface("k0"),
                script = script.display(),
            ),
        )
        .expect("keepalived config");
        let lines_before = self.keepalived_states().len();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("keepalived.log"))
            .expect("keepalived log");
        let pid = |name: &str| self.dir.join(format!("keepalived-{name}.pid"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns("k"), "keepalived"])
            .args(["-n", "-l", "-D", "--vrrp", "--dont-respawn", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(pid("main"))
            .arg("-r")
            .arg(pid("vrrp"))
            .arg("-c")
            .arg(pid("checkers"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("keepalived log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start keepalived: {e}"));
        let keepalived = Keepalived {
            child,
            vrrp_pid: pid("vrrp"),
        };
        let deadline = Instant::now() + KEEPALIVED_START;
        while self.keepalived_states().len() == lines_before {
            assert!(
                Instant::now() < deadline,
                "keepalived wrote no state within {KEEPALIVED_START:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        keepalived
    }

    /// What keepalived logged (all its runs in this lab).
    pub fn keepalived_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("keepalived.log")).unwrap_or_default()
    }

    /// keepalived crashes ([`Keepalived::kill`]) with its host: the VIP it left on `k0`
    /// goes too (a dead host answers no ARP).
    pub fn crash_keepalived(&self, keepalived: Keepalived) {
        keepalived.kill();
        let _ = self.exec(
            "k",
            &[
                "ip",
                "addr",
                "del",
                &format!("{HA_VIP}/24"),
                "dev",
                &self.iface("k0"),
            ],
        );
    }

    /// Every state keepalived's notify script wrote, in order (`BACKUP`, `MASTER`, ...).
    pub fn keepalived_states(&self) -> Vec<String> {
        std::fs::read_to_string(self.keepalived_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for HaLab {
    fn drop(&mut self) {
        for (_, s) in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        netns::remove(&self.namespaces);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
