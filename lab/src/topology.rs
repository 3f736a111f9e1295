//! Building and removing the lab: namespaces, veths, the client's direct bridge, addresses,
//! routes, and each real's VIPs, TUN device and servers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::addr::{self, REALS};
use crate::cmd::{must, must_line, run};
use crate::lock::LabLock;
use crate::netns;
use crate::scripts;

/// The port of every real's HTTP server (DR and TUN services use it as their port too).
pub const HTTP_PORT: u16 = 8080;
/// The port of every real's UDP server.
pub const UDP_PORT: u16 = 5353;
/// The routing table that sends DR and TUN replies (from a VIP) over the direct segment.
const DIRECT_TABLE: &str = "100";

/// Namespaces, veths and servers of one lab; everything is removed when it is dropped.
pub struct Lab {
    /// Names of namespaces and interfaces start with this: `rv`, the process id in hex,
    /// and the lab's tag.
    prefix: String,
    namespaces: Vec<String>,
    /// Servers by name (`r1/http`, `r2/udp`, ...).
    servers: Vec<(String, Child)>,
    /// The lab's own directory: scripts, configurations, rvsd's control socket.
    dir: PathBuf,
    _lock: LabLock,
}

impl Lab {
    /// Builds the lab (tag: one character, distinct per lab of a process) once no other
    /// lab runs on the machine, and starts every real's servers.
    pub fn new(tag: char) -> Lab {
        let lock = LabLock::acquire();
        let prefix = format!("rv{:x}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("rvs-lab-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
            servers: Vec::new(),
            dir,
            _lock: lock,
        };
        for (name, text) in [
            ("real_http.py", scripts::HTTP_SERVER),
            ("real_udp.py", scripts::UDP_SERVER),
            ("real_pp2_udp.py", scripts::PP2_UDP_SERVER),
            ("udp_client.py", scripts::UDP_CLIENT),
            ("tun_decap.py", scripts::TUN_DECAP),
        ] {
            std::fs::write(lab.dir.join(name), text).expect("lab script");
        }
        lab.add_namespaces();
        lab.links();
        lab.client();
        for i in 1..=REALS {
            lab.real(i);
        }
        for i in 1..=REALS {
            lab.start_servers(i);
        }
        lab
    }

    /// Namespace `role`: `c` (client), `d` (director), `r1` .. `r3` (reals).
    pub fn ns(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// Interface `role` (at most 15 bytes): `cw`/`dw` the client's and the director's ends
    /// of the wan veth, `rN`/`dN` real N's and the director's ends of real N's veth, `xN`
    /// real N's end of its direct veth to the client's bridge `cb`, `tN` its TUN device.
    pub fn iface(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// The lab's directory (scripts, configurations, rvsd's control socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where rvsd's control socket is in this lab.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("rvsd.sock")
    }

    fn add_namespaces(&mut self) {
        let mut roles = vec!["c".to_owned(), "d".to_owned()];
        roles.extend((1..=REALS).map(addr::real_name));
        for role in roles {
            let ns = self.ns(&role);
            let sysctls: &[&str] = if role == "d" {
                // The director's kernel stays quiet on its veths: no addresses, no IPv6.
                &["net.ipv6.conf.all.disable_ipv6=1"]
            } else {
                // DR and TUN answers reach the client on another interface than the one
                // its route to the VIP uses, and TUN requests arrive on the TUN device:
                // no reverse-path filter. Interfaces made later inherit `default`.
                &[
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                ]
            };
            // Listed first, so that a failed step still removes it.
            self.namespaces.push(ns.clone());
            netns::add(&ns, sysctls);
        }
    }

    /// The veths: client-director (wan), real N-director, real N-client bridge (direct).
    fn links(&self) {
        let (c, d) = (self.ns("c"), self.ns("d"));
        let bridge = self.iface("cb");
        must_line(&format!("ip -n {c} link add {bridge} type bridge"));
        let mut pairs = vec![("c".to_owned(), "cw".to_owned(), "d", "dw".to_owned())];
        for i in 1..=REALS {
            let r = addr::real_name(i);
            pairs.push((r.clone(), r.clone(), "d", format!("d{i}")));
            pairs.push((r, format!("x{i}"), "c", format!("cx{i}")));
        }
        for (a_ns, a, b_ns, b) in &pairs {
            let (a, b) = (self.iface(a), self.iface(b));
            let (a_ns, b_ns) = (self.ns(a_ns), self.ns(b_ns));
            netns::veth(&a_ns, &a, &b_ns, &b);
            if b_ns == d {
                must_line(&format!("ip -n {d} link set {b} up"));
            } else if b_ns == c {
                must_line(&format!("ip -n {c} link set {b} master {bridge} up"));
            }
        }
    }

    fn client(&self) {
        let c = self.ns("c");
        let (cw, cb) = (self.iface("cw"), self.iface("cb"));
        for (a, dev) in [
            (format!("{}/24", addr::CLIENT), &cw),
            (format!("{}/64", addr::CLIENT6), &cw),
            (format!("{}/24", addr::CLIENT_DIRECT), &cb),
        ] {
            must(&["ip", "-n", &c, "addr", "add", &a, "dev", dev, "nodad"]);
        }
        for dev in [&cw, &cb] {
            must(&["ip", "-n", &c, "link", "set", dev, "up"]);
        }
    }

    /// Real `i`: its veth to the director (default routes through it, as NAT needs), its
    /// direct veth to the client (DR and TUN answers, chosen by their source, a VIP), the
    /// DR and TUN VIPs on `lo` without ARP for them, and its TUN device.
    fn real(&self, i: usize) {
        let name = addr::real_name(i);
        let ns = self.ns(&name);
        let (lan, direct, tun) = (
            self.iface(&name),
            self.iface(&format!("x{i}")),
            self.iface(&format!("t{i}")),
        );
        let [gw4, gw6] =
            addr::director_lan(i).map(|a| a.split('/').next().unwrap_or("").to_owned());
        let ip = |args: &[&str]| {
            let mut all = vec!["ip", "-n", &ns];
            all.extend_from_slice(args);
            must(&all);
        };
        ip(&["addr", "add", &format!("{}/24", addr::real(i)), "dev", &lan]);
        ip(&[
            "addr",
            "add",
            &format!("{}/64", addr::real6(i)),
            "dev",
            &lan,
            "nodad",
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", addr::real_direct(i)),
            "dev",
            &direct,
        ]);
        for vip in [addr::DR_VIP, addr::TUN_VIP] {
            ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"]);
        }
        ip(&["tuntap", "add", "dev", &tun, "mode", "tun"]);
        for dev in [&lan, &direct, &tun] {
            ip(&["link", "set", dev, "up"]);
        }
        ip(&["route", "add", "default", "via", &gw4]);
        ip(&["-6", "route", "add", "default", "via", &gw6]);
        ip(&[
            "route",
            "add",
            "default",
            "via",
            addr::CLIENT_DIRECT,
            "table",
            DIRECT_TABLE,
        ]);
        for vip in [addr::DR_VIP, addr::TUN_VIP] {
            ip(&["rule", "add", "from", vip, "table", DIRECT_TABLE]);
        }
        for s in [
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
        ] {
            must(&["ip", "netns", "exec", &ns, "sysctl", "-qw", s]);
        }
    }

    /// Starts real `i`'s HTTP and UDP servers and its decapsulator, and waits until its
    /// HTTP server answers.
    fn start_servers(&mut self, i: usize) {
        let name = addr::real_name(i);
        let tun = self.iface(&format!("t{i}"));
        self.spawn(&name, "decap", &["tun_decap.py", &tun]);
        self.spawn(&name, "udp", &["real_udp.py", &name, &UDP_PORT.to_string()]);
        self.start_http(i);
    }

    /// Starts real `i`'s HTTP server (again, after [`Lab::stop_server`]) and waits until it
    /// answers.
    pub fn start_http(&mut self, i: usize) {
        let name = addr::real_name(i);
        self.spawn(
            &name,
            "http",
            &["real_http.py", &name, &HTTP_PORT.to_string()],
        );
        let url = format!("http://{}:{HTTP_PORT}/", addr::real(i));
        let ns = self.ns(&name);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !run(&["ip", "netns", "exec", &ns, "curl", "-s", "-m", "1", &url])
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

    /// Runs `python3 SCRIPT ARGS...` (a script in the lab's directory, or any path) in
    /// namespace `role` for the lab's life, named `role/kind`.
    pub fn spawn(&mut self, role: &str, kind: &str, script_and_args: &[&str]) {
        let (script, args) = script_and_args.split_first().expect("a script");
        let script = self.dir.join(script);
        let mut argv = vec!["python3", script.to_str().expect("utf-8 path")];
        argv.extend_from_slice(args);
        self.spawn_command(role, kind, &argv);
    }

    /// Runs `argv` in namespace `role` for the lab's life (in the lab's directory), named
    /// `role/kind`: a server that stays in the foreground as one process, so that killing
    /// it leaves nothing behind.
    pub fn spawn_command(&mut self, role: &str, kind: &str, argv: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .args(argv)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {argv:?} in {role}: {e}"));
        self.servers.push((format!("{role}/{kind}"), child));
    }

    /// Stops the server `role/kind` (e.g. `r3/http`): a real whose service is down.
    pub fn stop_server(&mut self, role: &str, kind: &str) {
        let name = format!("{role}/{kind}");
        let at = self
            .servers
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no server {name}"));
        let (_, mut child) = self.servers.remove(at);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, s) in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        netns::remove(&self.namespaces);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
