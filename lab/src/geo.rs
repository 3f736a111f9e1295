//! The two-director lab: a BGP router spreading a VIP over two directors (or preferring
//! one of two sites), each director an rvsd with BIRD on its kernel mirror, and shared
//! DR reals behind them.
//!
//! ```text
//!  client ns c            router ns g (BIRD AS 65000, ECMP)         director ns d1, d2
//!  10.10.0.2 --veth-- 10.10.0.1                                      (rvsd + BIRD AS 6500N)
//!                     10.20.N.1 --veth gN .. wN-- wan 10.20.N.2 (rvsd port; kernel mirror kN)
//!                     bridge gb 10.30.0.254/24
//!                       |-- lN ------------------ lan 10.30.0.N (rvsd port)
//!                       |-- rM  real ns rM 10.30.0.1M, VIP 10.40.0.1 on lo   (M = 1, 2, 3)
//! ```
//!
//! - **Routes.** Each director's BIRD peers with the router over the director's kernel
//!   mirror of its wan port (the exception path) and exports the static routes rvsd
//!   writes (`[announce]`). The router's BIRD merges equal BGP routes into one multipath
//!   kernel route (`merge paths`), and its kernel hashes flows over the next hops by
//!   their ports (`fib_multipath_hash_policy = 1`). BGP hold time [`HOLD_TIME`] seconds;
//!   a session that failed is retried after a second or two, not BIRD's default minute.
//! - **DR.** Every real holds [`VIP`] on `lo` (`arp_ignore=1`, `arp_announce=2`) and
//!   routes by default through the router: answers go straight back to the client, so a
//!   flow that moves to the other director keeps its real when both run `mh` with
//!   `sloppy_tcp` ([`GeoLab::write_config`] turns it on).
//! - **Health checks.** A director's kernel reaches the reals through its mirror and the
//!   router (a route [`GeoLab::start_director`] adds), so probes need no extra link.
//!
//! The reals serve HTTP on [`crate::HTTP_PORT`] (`NAME CLIENT`) and a line echo on
//! [`ECHO_PORT`] (`NAME LINE`). Everything is named with the process id and a tag, and
//! removed on drop; the machine-wide lab lock is held for the lab's life.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bird::Bird;
use crate::cmd::{must, must_line, run};
use crate::config::Service;
use crate::lock::LabLock;
use crate::netns;
use crate::rvsd::Rvsd;
use crate::scripts;
use crate::topology::HTTP_PORT;

/// The VIP both directors serve.
pub const VIP: &str = "10.40.0.1";
/// The port of every real's line echo server.
pub const ECHO_PORT: u16 = 7000;
/// Directors in the lab.
pub const DIRECTORS: usize = 2;
/// Reals in the lab.
pub const GEO_REALS: usize = 3;
/// The router's AS number.
pub const ROUTER_AS: u32 = 65000;
/// BGP hold time between the router and each director, in seconds (BIRD's minimum is 3).
pub const HOLD_TIME: u32 = 3;
/// The client's address.
pub const GEO_CLIENT: &str = "10.10.0.2";
/// The router's address on the reals' segment (their default gateway).
const ROUTER_LAN: &str = "10.30.0.254";

/// Director `i`'s AS number (`65001`, `65002`): two sites, or two directors of one.
pub fn director_as(i: usize) -> u32 {
    ROUTER_AS + i as u32
}

/// Director `i`'s wan address (its rvsd port's, and its kernel mirror's).
pub fn director_wan(i: usize) -> String {
    format!("10.20.{i}.2")
}

/// The router's address toward director `i`.
fn router_wan(i: usize) -> String {
    format!("10.20.{i}.1")
}

/// Real `i`'s address.
pub fn geo_real(i: usize) -> String {
    format!("10.30.0.1{i}")
}

/// The two-director lab; removed when dropped.
pub struct GeoLab {
    prefix: String,
    namespaces: Vec<String>,
    servers: Vec<(String, Child)>,
    dir: PathBuf,
    _lock: LabLock,
}

impl GeoLab {
    /// Builds the lab (tag: one character) once no other lab runs, and starts every
    /// real's servers.
    pub fn new(tag: char) -> GeoLab {
        let lock = LabLock::acquire();
        let prefix = format!("rv{:x}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("rvs-lab-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        let mut lab = GeoLab {
            prefix,
            namespaces: Vec::new(),
            servers: Vec::new(),
            dir,
            _lock: lock,
        };
        for (name, text) in [
            ("real_http.py", scripts::HTTP_SERVER),
            ("real_echo.py", scripts::ECHO_SERVER),
        ] {
            std::fs::write(lab.dir.join(name), text).expect("lab script");
        }
        lab.add_namespaces();
        lab.router_and_client();
        for i in 1..=DIRECTORS {
            lab.director_links(i);
        }
        for i in 1..=GEO_REALS {
            lab.real(i);
        }
        for i in 1..=GEO_REALS {
            let name = format!("r{i}");
            lab.spawn(
                &name,
                "echo",
                &["real_echo.py", &name, &ECHO_PORT.to_string()],
            );
            lab.start_http(i);
        }
        lab
    }

    /// Namespace `role`: `c` (client), `g` (router), `d1`, `d2`, `r1` .. `r3`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// Interface `role`: `cg`/`gc` client-router, `gN`/`wN` router-director N, `lN`
    /// director N's lan end, `gb` the bridge, `xM`/`rM` real M's bridge port and end,
    /// `kN` director N's kernel mirror.
    pub fn iface(&self, role: &str) -> String {
        format!("{}{role}", self.prefix)
    }

    /// The lab's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Director `i`'s control socket.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.dir.join(format!("rvsd-d{i}.sock"))
    }

    fn add_namespaces(&mut self) {
        let mut roles = vec!["c".to_owned(), "g".to_owned()];
        roles.extend((1..=DIRECTORS).map(|i| format!("d{i}")));
        roles.extend((1..=GEO_REALS).map(|i| format!("r{i}")));
        for role in roles {
            let ns = self.ns(&role);
            let sysctls: &[&str] = match role.as_bytes()[0] {
                // The directors' kernels keep to their mirrors: no IPv6 chatter on the
                // DPDK ports' veths.
                b'd' => &["net.ipv6.conf.all.disable_ipv6=1"],
                // The router sees DR answers (from the VIP) on the reals' segment while
                // its route to the VIP points at the directors: no reverse-path filter.
                b'g' => &[
                    "net.ipv4.ip_forward=1",
                    "net.ipv4.fib_multipath_hash_policy=1",
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                ],
                _ => &[
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                ],
            };
            // Listed first, so that a failed step still removes it.
            self.namespaces.push(ns.clone());
            netns::add(&ns, sysctls);
        }
    }

    /// A veth `a` in `a_ns` to `b` in `b_ns`, offloads off (wire-sized frames).
    fn veth(&self, a_ns: &str, a: &str, b_ns: &str, b: &str) {
        let (a_ns, b_ns, a, b) = (self.ns(a_ns), self.ns(b_ns), self.iface(a), self.iface(b));
        netns::veth(&a_ns, &a, &b_ns, &b);
    }

    /// Client-router veth, the router's bridge for the reals' segment.
    fn router_and_client(&self) {
        let (c, g) = (self.ns("c"), self.ns("g"));
        self.veth("c", "cg", "g", "gc");
        let (cg, gc, gb) = (self.iface("cg"), self.iface("gc"), self.iface("gb"));
        must_line(&format!("ip -n {c} addr add {GEO_CLIENT}/24 dev {cg}"));
        must_line(&format!("ip -n {c} link set {cg} up"));
        must_line(&format!("ip -n {c} route add default via 10.10.0.1"));
        must_line(&format!("ip -n {g} addr add 10.10.0.1/24 dev {gc}"));
        must_line(&format!("ip -n {g} link set {gc} up"));
        must_line(&format!("ip -n {g} link add {gb} type bridge"));
        must_line(&format!("ip -n {g} addr add {ROUTER_LAN}/24 dev {gb}"));
        must_line(&format!("ip -n {g} link set {gb} up"));
    }

    /// Director `i`'s wan veth to the router and lan veth into the bridge; its ends stay
    /// without kernel addresses (rvsd's ports).
    fn director_links(&self, i: usize) {
        let (g, d) = (self.ns("g"), self.ns(&format!("d{i}")));
        self.veth("g", &format!("g{i}"), &format!("d{i}"), &format!("w{i}"));
        self.veth("g", &format!("b{i}"), &format!("d{i}"), &format!("l{i}"));
        let (gi, bi, gb) = (
            self.iface(&format!("g{i}")),
            self.iface(&format!("b{i}")),
            self.iface("gb"),
        );
        must_line(&format!("ip -n {g} addr add {}/24 dev {gi}", router_wan(i)));
        must_line(&format!("ip -n {g} link set {gi} up"));
        must_line(&format!("ip -n {g} link set {bi} master {gb} up"));
        for end in ["w", "l"] {
            must_line(&format!(
                "ip -n {d} link set {} up",
                self.iface(&format!("{end}{i}"))
            ));
        }
    }

    /// Real `i` on the bridge, the VIP on `lo` without ARP for it, default via the router.
    fn real(&self, i: usize) {
        let (g, r) = (self.ns("g"), self.ns(&format!("r{i}")));
        self.veth("g", &format!("x{i}"), &format!("r{i}"), &format!("r{i}"));
        let (x, dev, gb) = (
            self.iface(&format!("x{i}")),
            self.iface(&format!("r{i}")),
            self.iface("gb"),
        );
        must_line(&format!("ip -n {g} link set {x} master {gb} up"));
        must_line(&format!("ip -n {r} addr add {}/24 dev {dev}", geo_real(i)));
        must_line(&format!("ip -n {r} addr add {VIP}/32 dev lo"));
        must_line(&format!("ip -n {r} link set {dev} up"));
        must_line(&format!("ip -n {r} route add default via {ROUTER_LAN}"));
        for s in [
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
        ] {
            must(&["ip", "netns", "exec", &r, "sysctl", "-qw", s]);
        }
    }

    /// Starts real `i`'s HTTP server (again, after [`GeoLab::stop_server`]) and waits
    /// until it answers.
    pub fn start_http(&mut self, i: usize) {
        let name = format!("r{i}");
        self.spawn(
            &name,
            "http",
            &["real_http.py", &name, &HTTP_PORT.to_string()],
        );
        let url = format!("http://{}:{HTTP_PORT}/", geo_real(i));
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

    /// Runs `python3 SCRIPT ARGS...` (a script in the lab's directory) in namespace
    /// `role` for the lab's life, named `role/kind`.
    pub fn spawn(&mut self, role: &str, kind: &str, script_and_args: &[&str]) {
        let (script, args) = script_and_args.split_first().expect("a script");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "python3"])
            .arg(self.dir.join(script))
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script} in {role}: {e}"));
        self.servers.push((format!("{role}/{kind}"), child));
    }

    /// Stops the server `role/kind` (e.g. `r1/http`).
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

    /// Runs `args` in namespace `role`.
    pub fn exec(&self, role: &str, args: &[&str]) -> std::process::Output {
        let ns = self.ns(role);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// One HTTP request from the client to the VIP (at most a second): the answer
    /// (`NAME CLIENT`), or `None`.
    pub fn get(&self) -> Option<String> {
        let url = format!("http://{VIP}:{HTTP_PORT}/");
        let out = self.exec("c", &["curl", "-s", "-m", "1", &url]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `count` requests to the VIP from the client, each on its own connection (a new
    /// source port, so a new ECMP hash), at most 2 s each: the answers, one line each.
    pub fn burst(&self, count: usize) -> Vec<String> {
        let url = format!("http://{VIP}:{HTTP_PORT}/?[1-{count}]");
        let out = self.exec("c", &["curl", "-s", "-m", "2", "--no-keepalive", &url]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The next hops of the router kernel's route to the VIP (director wan addresses),
    /// sorted; empty without a route.
    pub fn router_next_hops(&self) -> Vec<String> {
        let out = self.exec("g", &["ip", "-j", "route", "show", &format!("{VIP}/32")]);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let route = &json[0];
        let mut hops: Vec<String> = match route["nexthops"].as_array() {
            Some(list) => list
                .iter()
                .filter_map(|h| h["gateway"].as_str().map(str::to_owned))
                .collect(),
            None => route["gateway"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect(),
        };
        hops.sort();
        hops
    }

    /// Waits (at most 30 s) until the router's next hops to the VIP are director wan
    /// addresses of `directors`: how long it took.
    pub fn wait_next_hops(&self, directors: &[usize]) -> Duration {
        let mut want: Vec<String> = directors.iter().map(|&i| director_wan(i)).collect();
        want.sort();
        let start = Instant::now();
        loop {
            let hops = self.router_next_hops();
            if hops == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the router's next hops to {VIP} stayed {hops:?}, not {want:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes director `i`'s configuration: one worker, its wan port (kernel mirror `kI`
    /// for BGP) and lan port, `sloppy_tcp`, `[announce]` for its BIRD with its AS number,
    /// and `services`.
    pub fn write_config(&self, i: usize, services: &[Service]) -> PathBuf {
        let routes = self.dir.join(format!("vips-d{i}.conf"));
        let bird = Bird::socket_in(&self.dir, &format!("d{i}"));
        let mut text = format!(
            "[dataplane]\nworkers = 1\nconn_capacity = 4096\n\n\
             [dpdk]\neal_args = [\"--no-pci\", \"--no-telemetry\"]\n\n\
             [behaviour]\nsloppy_tcp = true\n\n\
             [ctl]\nsocket = \"{}\"\n\n\
             [announce]\nfile = \"{}\"\nreload = [\"birdc\", \"-s\", \"{}\", \"configure\"]\nasn = {}\n\n\
             [[port]]\nname = \"wan\"\ndevice = \"net_af_packet0,iface={}\"\naddresses = [\"{}/24\"]\nkernel = \"{}\"\n\n\
             [[port]]\nname = \"lan\"\ndevice = \"net_af_packet1,iface={}\"\naddresses = [\"10.30.0.{i}/24\"]\n",
            self.socket(i).display(),
            routes.display(),
            bird.display(),
            director_as(i),
            self.iface(&format!("w{i}")),
            director_wan(i),
            self.iface(&format!("k{i}")),
            self.iface(&format!("l{i}")),
        );
        for s in services {
            text += &s.toml();
        }
        let path = self.dir.join(format!("d{i}.toml"));
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The router's BIRD: a session with each director, BGP routes into the kernel,
    /// equal ones merged into one multipath route.
    pub fn start_router(&self) -> Bird {
        let mut config = String::from(
            "router id 10.10.0.1;\nprotocol device {}\n\
             protocol kernel {\n  ipv4 { import none; export all; };\n  merge paths on;\n}\n",
        );
        for i in 1..=DIRECTORS {
            config += &format!(
                "protocol bgp d{i} {{\n  local {} as {ROUTER_AS};\n  neighbor {} as {};\n\
                 hold time {HOLD_TIME};\n  keepalive time 1;\n  connect retry time 1;\n  error wait time 1, 2;\n\
                 ipv4 {{ import all; export none; }};\n}}\n",
                router_wan(i),
                director_wan(i),
                director_as(i)
            );
        }
        Bird::start(&self.ns("g"), &self.dir, "g", &config)
    }

    /// Starts director `i`: [`GeoLab::start_rvsd`], then [`GeoLab::start_bird`].
    pub fn start_director(&self, i: usize, bin: &Path, config: &Path) -> (Rvsd, Bird) {
        let rvsd = self.start_rvsd(i, bin, config);
        (rvsd, self.start_bird(i))
    }

    /// Starts director `i`'s rvsd (`bin`, `config`) and gives its kernel a route to the
    /// reals through the router (over the kernel mirror rvsd made) for health checks.
    pub fn start_rvsd(&self, i: usize, bin: &Path, config: &Path) -> Rvsd {
        let ns = self.ns(&format!("d{i}"));
        let rvsd = Rvsd::start_in(&ns, bin, config);
        must_line(&format!(
            "ip -n {ns} route replace 10.30.0.0/24 via {}",
            router_wan(i)
        ));
        rvsd
    }

    /// Starts director `i`'s BIRD: the static routes rvsd writes, exported to the router
    /// over the kernel mirror (start it after rvsd, which makes both).
    pub fn start_bird(&self, i: usize) -> Bird {
        let wan = director_wan(i);
        Bird::start(
            &self.ns(&format!("d{i}")),
            &self.dir,
            &format!("d{i}"),
            &format!(
                "router id {wan};\nprotocol device {{}}\n\
                 protocol static rvs_vips {{\n  ipv4;\n  include \"{}\";\n}}\n\
                 protocol bgp uplink {{\n  local {wan} as {};\n  neighbor {} as {ROUTER_AS};\n\
                 hold time {HOLD_TIME};\n  keepalive time 1;\n  connect retry time 1;\n  error wait time 1, 2;\n\
                 ipv4 {{ import none; export where source = RTS_STATIC; }};\n}}\n",
                self.dir.join(format!("vips-d{i}.conf")).display(),
                director_as(i),
                router_wan(i),
            ),
        )
    }
}

impl Drop for GeoLab {
    fn drop(&mut self) {
        for (_, s) in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        netns::remove(&self.namespaces);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
