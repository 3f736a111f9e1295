//! What each scenario runs: nginx on the reals, and in the director's namespace rvsd, the
//! kernel's nftables DNAT, or HAProxy.

use std::time::{Duration, Instant};

use crate::addr::{self, REALS};
use crate::cmd::must;
use crate::config::Service;
use crate::topology::Lab;

/// The VIP every balancing scenario serves on port 80.
pub const VIP: &str = "10.0.0.100";
/// The port nginx listens on in every real.
pub const NGINX_PORT: u16 = 80;
/// The two `Host` headers of the content-switching scenarios: the first goes to real 1,
/// the second to real 2.
pub const HOSTS: [&str; 2] = ["a.example", "b.example"];
/// The reals [`HOSTS`] go to, in order.
const HOST_REALS: [usize; 2] = [1, 2];
/// FULLNAT local addresses of the content-switching scenarios' rvsd services.
const LADDRS: [&str; 4] = ["10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4"];

/// Starts nginx in every real, one process each (no master, so that stopping it leaves
/// nothing behind), answering `rN` from memory without logging; waits until each answers.
pub fn start_nginx(lab: &mut Lab) {
    for i in 1..=REALS {
        let name = addr::real_name(i);
        let conf = lab.dir().join(format!("nginx-{name}.conf"));
        let dir = lab.dir().display().to_string();
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\n\
                 pid {dir}/nginx-{name}.pid;\nerror_log {dir}/nginx-{name}.log warn;\n\
                 events {{ worker_connections 16384; }}\n\
                 http {{\n  access_log off;\n  keepalive_requests 10000000;\n\
                 server {{\n    listen {NGINX_PORT} backlog=4096;\n\
                 location / {{ return 200 \"{name}\\n\"; }}\n  }}\n}}\n"
            ),
        )
        .expect("nginx config");
        for s in [
            "net.core.somaxconn=4096",
            "net.ipv4.tcp_max_syn_backlog=4096",
        ] {
            must(&["ip", "netns", "exec", &lab.ns(&name), "sysctl", "-qw", s]);
        }
        let conf = conf.display().to_string();
        lab.spawn_command(
            &name,
            "nginx",
            &["nginx", "-e", "stderr", "-c", &conf, "-p", &dir],
        );
        wait_http(lab, &name, &format!("{}:{NGINX_PORT}", addr::real(i)));
    }
}

/// The client's ephemeral ports widened (a connection-per-request run opens tens of
/// thousands), and its listen queues made as deep as the reals'.
pub fn tune_client(lab: &Lab) {
    for s in [
        "net.ipv4.ip_local_port_range=1024 65535",
        "net.ipv4.tcp_tw_reuse=1",
    ] {
        must(&["ip", "netns", "exec", &lab.ns("c"), "sysctl", "-qw", s]);
    }
}

/// Gives the director's kernel what rvsd otherwise owns: its wan and lan addresses and
/// the VIP, with forwarding on (nftables and HAProxy run in the kernel's stack).
pub fn kernel_director(lab: &Lab) {
    let d = lab.ns("d");
    let wan = lab.iface("dw");
    must(&[
        "ip",
        "-n",
        &d,
        "addr",
        "add",
        addr::DIRECTOR_WAN[0],
        "dev",
        &wan,
    ]);
    must(&[
        "ip",
        "-n",
        &d,
        "addr",
        "add",
        &format!("{VIP}/32"),
        "dev",
        &wan,
    ]);
    for i in 1..=REALS {
        let [lan4, _] = addr::director_lan(i);
        must(&[
            "ip",
            "-n",
            &d,
            "addr",
            "add",
            &lan4,
            "dev",
            &lab.iface(&format!("d{i}")),
        ]);
    }
    for s in [
        "net.ipv4.ip_forward=1",
        "net.ipv4.ip_local_port_range=1024 65535",
        "net.ipv4.tcp_tw_reuse=1",
        "net.core.somaxconn=4096",
    ] {
        must(&["ip", "netns", "exec", &d, "sysctl", "-qw", s]);
    }
}

/// nftables DNAT of the VIP to the reals, round robin (`numgen inc`), in the director's
/// kernel: the kernel's own L4 balancing, conntrack and all.
pub fn start_nftables(lab: &Lab) {
    let map: Vec<String> = (1..=REALS)
        .map(|i| format!("{} : {}", i - 1, addr::real(i)))
        .collect();
    let rules = format!(
        "table ip lb {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
         ip daddr {VIP} tcp dport 80 dnat to numgen inc mod {REALS} map {{ {} }}\n  }}\n}}\n",
        map.join(", ")
    );
    let file = lab.dir().join("lb.nft");
    std::fs::write(&file, rules).expect("nft rules");
    must(&[
        "ip",
        "netns",
        "exec",
        &lab.ns("d"),
        "nft",
        "-f",
        &file.display().to_string(),
    ]);
}

/// HAProxy in TCP mode, round robin over the reals, in the director's namespace; waits
/// until it answers.
pub fn start_haproxy(lab: &mut Lab) {
    let servers: String = (1..=REALS)
        .map(|i| {
            format!(
                "  server {} {}:{NGINX_PORT}\n",
                addr::real_name(i),
                addr::real(i)
            )
        })
        .collect();
    let conf = lab.dir().join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "global\n  maxconn 9000\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 30s\n  timeout server 30s\n\n\
             frontend vip\n  bind {VIP}:80\n  default_backend reals\n\n\
             backend reals\n  balance roundrobin\n{servers}"
        ),
    )
    .expect("haproxy config");
    let conf = conf.display().to_string();
    lab.spawn_command("d", "haproxy", &["haproxy", "-db", "-f", &conf]);
    wait_http(lab, "c", VIP);
}

/// The content-switching scenarios' rvsd service: with `l7`, an `l7 = "http"` service
/// whose rules send each of [`HOSTS`] to a group of one real (no real without a group:
/// another host is reset); without, a plain FULLNAT service over the same reals.
pub fn by_host_service(l7: bool) -> Service {
    let mut s = Service::new("tcp", VIP, 80, "rr").laddrs(&LADDRS);
    if l7 {
        let mut keys = "l7 = \"http\"\n".to_owned();
        for (host, i) in HOSTS.iter().zip(HOST_REALS) {
            keys += &format!("[[service.rule]]\nhost = \"{host}\"\ngroup = \"r{i}\"\n");
        }
        s = s.keys(&keys);
    }
    for i in HOST_REALS {
        let group = if l7 {
            format!("group = \"r{i}\"")
        } else {
            String::new()
        };
        s = s.real_with(&addr::real(i), NGINX_PORT, "fullnat", 1, &group);
    }
    s
}

/// HAProxy in HTTP mode in the director's namespace: a backend of one real per host of
/// [`HOSTS`], chosen by the `Host` header (any other host gets a 503); waits until it
/// answers.
pub fn start_haproxy_http(lab: &mut Lab) {
    let mut frontend = String::new();
    let mut backends = String::new();
    for (host, i) in HOSTS.iter().zip(HOST_REALS) {
        let name = addr::real_name(i);
        frontend += &format!(
            "  acl host_{name} hdr(host) -i {host}\n  use_backend {name} if host_{name}\n"
        );
        backends += &format!(
            "\nbackend {name}\n  server {name} {}:{NGINX_PORT}\n",
            addr::real(i)
        );
    }
    let conf = lab.dir().join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "global\n  maxconn 9000\n\ndefaults\n  mode http\n  timeout connect 5s\n  \
             timeout client 30s\n  timeout server 30s\n\n\
             frontend vip\n  bind {VIP}:80\n{frontend}{backends}"
        ),
    )
    .expect("haproxy config");
    let conf = conf.display().to_string();
    lab.spawn_command("d", "haproxy", &["haproxy", "-db", "-f", &conf]);
    wait_http_as(lab, "c", VIP, Some(HOSTS[0]));
}

/// Asks the VIP for each of [`HOSTS`] 4 times, one connection each, and panics unless
/// each host's real answered all of them (`routed`) or, for a balancer blind to the
/// host, both reals answered.
pub fn check_hosts_reach_their_reals(lab: &Lab, routed: bool) {
    let mut all = Vec::new();
    for (host, i) in HOSTS.iter().zip(HOST_REALS) {
        let url = format!("http://{VIP}/?[1-4]");
        let header = format!("Host: {host}");
        let out = lab.exec(
            "c",
            &[
                "curl",
                "-s",
                "-m",
                "2",
                "-H",
                "Connection: close",
                "-H",
                &header,
                &url,
            ],
        );
        let bodies: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let name = addr::real_name(i);
        assert!(
            bodies.len() == 4 && (!routed || bodies.iter().all(|b| *b == name)),
            "{host} through {VIP}: {bodies:?}, not 4 answers{}",
            if routed {
                format!(" of {name}")
            } else {
                String::new()
            }
        );
        all.extend(bodies);
    }
    let spread = crate::client::spread(&all);
    assert!(
        HOST_REALS.iter().all(|i| spread[i - 1] > 0),
        "not both reals answered through {VIP}: {spread:?}"
    );
}

/// Waits (at most 20 s) until `http://TARGET/` answers from namespace `role`.
pub fn wait_http(lab: &Lab, role: &str, target: &str) {
    wait_http_as(lab, role, target, None);
}

/// [`wait_http`] with the `Host` header `host` when given.
pub fn wait_http_as(lab: &Lab, role: &str, target: &str, host: Option<&str>) {
    let url = format!("http://{target}/");
    let header = host.map(|h| format!("Host: {h}"));
    let mut argv = vec!["curl", "-s", "-f", "-m", "1"];
    if let Some(h) = &header {
        argv.extend(["-H", h.as_str()]);
    }
    argv.push(&url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab.exec(role, &argv).status.success() {
        assert!(
            Instant::now() < deadline,
            "{url} did not answer from {role}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks the VIP `3 × REALS` times, one connection each, and panics unless every real
/// answered: a balancer that cannot reach one real would otherwise show only as a slow run.
pub fn check_every_real_answers(lab: &Lab) {
    // nginx keeps connections open: ask it to close each, or curl reuses the first.
    let url = format!("http://{VIP}/?[1-{}]", 3 * REALS);
    let out = lab.exec(
        "c",
        &["curl", "-s", "-m", "2", "-H", "Connection: close", &url],
    );
    let bodies: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let spread = crate::client::spread(&bodies);
    assert!(
        !spread.contains(&0),
        "not every real answered through {VIP}: {spread:?} from {bodies:?}"
    );
}
