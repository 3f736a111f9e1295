//! Lab: content switching through rvsd on `net_af_packet` (two workers), in front of
//! nginx reals that each answer `GROUP REAL SCHEME`. One nginx process per group and
//! real, listening on the group's HTTP port and TLS port (one self-signed certificate
//! made by the test for every name), so that stopping one takes exactly one real of one
//! group out, in both services.
//!
//! ```text
//!  client 10.0.0.2 -- rvsd -- VIP 10.0.0.120:80  l7 = "http", laddr 10.9.1.1
//!                               rule 0 host img.example.com + path_prefix /static/ -> img
//!                               rule 1 host *.example.com                         -> web
//!                               rule 2 path_prefix /api/                          -> api
//!                             VIP 10.0.0.121:443 l7 = "tls", laddr 10.9.1.2
//!                               rule 0 sni img.example.com -> img
//!                               rule 1 sni *.example.com   -> web
//!  groups (reals): img r1 r2, web r2 r3, api r3 r1, no group (default) r1 r3
//! ```
//!
//! Requests with different `Host` headers, paths and server names (curl, `openssl
//! s_client`) reach their group every time, both reals of each; one real of a group
//! stopped goes out by health check and comes back when started; a slowloris client
//! (600 connections that send part of a request line and stall) is reset by `l7_timeout`
//! or pushed out of the waiting places (`l7_waiting_full`) while every other request is
//! served; `rvsctl rules` and `/metrics` count each rule's matches.
//!
//! Needs root and the tools `scripts/setup` installs (nginx and openssl among them); one
//! lab at a time on the machine.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rvs_ctl::client;
use rvs_ctl::proto::{HealthInfo, Request, Response, RulesInfo};
use rvs_lab::{addr, must, preflight, Lab, Pmd, Rvsd, Service};

const HTTP_VIP: &str = "10.0.0.120";
const TLS_VIP: &str = "10.0.0.121";
const HTTP_LADDR: &str = "10.9.1.1";
const TLS_LADDR: &str = "10.9.1.2";
/// The address the director's `/metrics` listens on, in its namespace.
const METRICS: &str = "127.0.0.1:9779";
/// How long a client may take to send what decides (the services' `l7_timeout`).
const L7_TIMEOUT_S: f64 = 2.0;
/// Health checks: seconds between probes, failures to go down, successes to come back.
const INTERVAL: f64 = 0.5;
const FALL: u32 = 2;
const RISE: u32 = 2;
/// The slowloris client's connections: more than one worker's 256 waiting places even
/// when the two workers share them evenly.
const SLOW_CONNECTIONS: usize = 600;

/// A group of reals: its name (`default`: the reals without a group), the lab reals
/// serving it, and its nginx ports for HTTP and TLS.
struct Group {
    name: &'static str,
    reals: [usize; 2],
    http_port: u16,
    tls_port: u16,
}

const GROUPS: [Group; 4] = [
    Group {
        name: "img",
        reals: [1, 2],
        http_port: 8101,
        tls_port: 8401,
    },
    Group {
        name: "web",
        reals: [2, 3],
        http_port: 8102,
        tls_port: 8402,
    },
    Group {
        name: "api",
        reals: [3, 1],
        http_port: 8103,
        tls_port: 8403,
    },
    Group {
        name: "default",
        reals: [1, 3],
        http_port: 8100,
        tls_port: 8400,
    },
];

/// An HTTP request: its `Host`, its path, an absolute-form target instead of the path
/// when set, the group it must reach and the rule that sends it there (`default`: none).
struct HttpCase {
    host: &'static str,
    path: &'static str,
    absolute: Option<&'static str>,
    group: &'static str,
    rule: &'static str,
}

const HTTP_CASES: [HttpCase; 10] = [
    HttpCase {
        host: "img.example.com",
        path: "/static/logo.png",
        absolute: None,
        group: "img",
        rule: "0",
    },
    // Host compared without case and without the port.
    HttpCase {
        host: "IMG.Example.COM:80",
        path: "/static/a/b.css",
        absolute: None,
        group: "img",
        rule: "0",
    },
    // The host alone does not take it to img: the path does not match rule 0.
    HttpCase {
        host: "img.example.com",
        path: "/index.html",
        absolute: None,
        group: "web",
        rule: "1",
    },
    HttpCase {
        host: "www.example.com",
        path: "/",
        absolute: None,
        group: "web",
        rule: "1",
    },
    HttpCase {
        host: "deep.www.example.com",
        path: "/static/x",
        absolute: None,
        group: "web",
        rule: "1",
    },
    // `*.example.com` is not `example.com` itself.
    HttpCase {
        host: "example.com",
        path: "/api/v1/users",
        absolute: None,
        group: "api",
        rule: "2",
    },
    HttpCase {
        host: "other.test",
        path: "/api/",
        absolute: None,
        group: "api",
        rule: "2",
    },
    // An absolute-form target gives the host, whatever `Host` says.
    HttpCase {
        host: "other.test",
        path: "/",
        absolute: Some("http://img.example.com/static/z"),
        group: "img",
        rule: "0",
    },
    HttpCase {
        host: "other.test",
        path: "/",
        absolute: None,
        group: "default",
        rule: "default",
    },
    HttpCase {
        host: "example.com",
        path: "/apix",
        absolute: None,
        group: "default",
        rule: "default",
    },
];

/// How a TLS request names its server.
#[derive(Clone, Copy)]
enum Sni {
    /// `openssl s_client -servername NAME`.
    SClient(&'static str),
    /// `openssl s_client -noservername`.
    SClientNone,
    /// `curl --resolve NAME:443:VIP https://NAME/`.
    Curl(&'static str),
    /// `curl https://VIP/`: an address, so no server name.
    CurlNone,
}

/// A TLS request, the group it must reach and the rule that sends it there.
struct TlsCase {
    sni: Sni,
    group: &'static str,
    rule: &'static str,
}

const TLS_CASES: [TlsCase; 6] = [
    TlsCase {
        sni: Sni::SClient("img.example.com"),
        group: "img",
        rule: "0",
    },
    TlsCase {
        sni: Sni::Curl("img.example.com"),
        group: "img",
        rule: "0",
    },
    TlsCase {
        sni: Sni::Curl("www.example.com"),
        group: "web",
        rule: "1",
    },
    TlsCase {
        sni: Sni::SClient("other.test"),
        group: "default",
        rule: "default",
    },
    TlsCase {
        sni: Sni::SClientNone,
        group: "default",
        rule: "default",
    },
    TlsCase {
        sni: Sni::CurlNone,
        group: "default",
        rule: "default",
    },
];

/// Holds part of a request line on each of COUNT connections for at most SECONDS, then
/// prints `open N` (connections made), `closed N` (those the director ended: a reset or
/// an end of stream) and `failed N` (connections refused or not made).
const SLOWLORIS: &str = r#"
import resource, select, socket, sys, time
host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 64)), hard))
deadline = time.monotonic() + seconds
socks, failed = {}, 0
for _ in range(count):
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(b"GET /slo")
        s.setblocking(False)
        socks[s.fileno()] = s
    except OSError:
        failed += 1
print("open", len(socks), flush=True)
poll = select.poll()
for fd in socks:
    poll.register(fd, select.POLLIN)
left, closed = len(socks), 0
while left and time.monotonic() < deadline:
    for fd, _ in poll.poll(200):
        try:
            data = socks[fd].recv(4096)
        except OSError:
            data = b""
        if not data:
            closed += 1
            left -= 1
            poll.unregister(fd)
print("closed", closed, flush=True)
print("failed", failed, flush=True)
for s in socks.values():
    s.close()
"#;

/// The group `name`.
fn group(name: &str) -> &'static Group {
    GROUPS
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

/// The nginx configuration of group `g` on real `real`: HTTP on its HTTP port, TLS on
/// its TLS port, each answering `GROUP REAL SCHEME`.
fn nginx_conf(dir: &str, g: &Group, real: &str) -> String {
    let name = format!("{real}-{}", g.name);
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {dir}/nginx-{name}.pid;\nerror_log {dir}/nginx-{name}.err warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
           access_log off;\n\
           server {{\n\
             listen {http};\n\
             listen {tls} ssl;\n\
             ssl_certificate {dir}/lab.crt;\n\
             ssl_certificate_key {dir}/lab.key;\n\
             location / {{ return 200 \"{group} {real} $scheme\\n\"; }}\n\
           }}\n\
         }}\n",
        http = g.http_port,
        tls = g.tls_port,
        group = g.name,
    )
}

/// The certificate every nginx serves: self-signed, for every name the test asks.
fn make_certificate(lab: &Lab) {
    let dir = lab.dir();
    must(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=lab.example",
        "-addext",
        "subjectAltName=DNS:img.example.com,DNS:*.example.com,DNS:other.test",
        "-keyout",
        &dir.join("lab.key").display().to_string(),
        "-out",
        &dir.join("lab.crt").display().to_string(),
    ]);
}

/// Starts the nginx of group `g` on real `i` (named `nginx-GROUP`) and waits until it
/// answers on its HTTP port.
fn start_nginx(lab: &mut Lab, g: &Group, i: usize) {
    let real = addr::real_name(i);
    let dir = lab.dir().display().to_string();
    let conf = lab.dir().join(format!("nginx-{real}-{}.conf", g.name));
    std::fs::write(&conf, nginx_conf(&dir, g, &real)).expect("nginx config");
    let conf = conf.display().to_string();
    lab.spawn_command(
        &real,
        &format!("nginx-{}", g.name),
        &["nginx", "-e", "stderr", "-c", &conf, "-p", &dir],
    );
    let url = format!("http://{}:{}/", addr::real(i), g.http_port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab
        .exec(&real, &["curl", "-s", "-f", "-m", "1", &url])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "nginx of {} in {real} did not answer",
            g.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The two services: every group's reals (the default group's without `group`), rules
/// as the module says, health checks of every real.
fn services() -> [Service; 2] {
    let check = |kind: &str| {
        format!(
            "kind = \"{kind}\"\ninterval = {INTERVAL}\ntimeout = 0.4\nrise = {RISE}\nfall = {FALL}\n"
        )
    };
    let reals = |mut s: Service, port: fn(&Group) -> u16| {
        for g in &GROUPS {
            let lines = if g.name == "default" {
                String::new()
            } else {
                format!("group = \"{}\"", g.name)
            };
            for i in g.reals {
                s = s.real_with(&addr::real(i), port(g), "fullnat", 1, &lines);
            }
        }
        s
    };
    let http = Service::new("tcp", HTTP_VIP, 80, "rr")
        .laddrs(&[HTTP_LADDR])
        .keys(&format!(
            "l7 = \"http\"\nl7_timeout = {L7_TIMEOUT_S:.1}\n\
             [[service.rule]]\nhost = \"img.example.com\"\npath_prefix = \"/static/\"\ngroup = \"img\"\n\
             [[service.rule]]\nhost = \"*.example.com\"\ngroup = \"web\"\n\
             [[service.rule]]\npath_prefix = \"/api/\"\ngroup = \"api\"\n"
        ))
        .check(&(check("http") + "path = \"/\"\n"));
    let tls = Service::new("tcp", TLS_VIP, 443, "rr")
        .laddrs(&[TLS_LADDR])
        .keys(&format!(
            "l7 = \"tls\"\nl7_timeout = {L7_TIMEOUT_S:.1}\n\
             [[service.rule]]\nsni = \"img.example.com\"\ngroup = \"img\"\n\
             [[service.rule]]\nsni = \"*.example.com\"\ngroup = \"web\"\n"
        ))
        .check(&check("tcp"));
    [reals(http, |g| g.http_port), reals(tls, |g| g.tls_port)]
}

/// The answer `GROUP REAL SCHEME` read back: the group and the real.
fn answer(text: &str) -> Option<(String, String)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        [g, r, _] => Some((g.to_owned(), r.to_owned())),
        _ => None,
    }
}

/// One HTTP request of `case` through the HTTP VIP: the group and real that answered,
/// or why it failed.
fn http_request(lab: &Lab, case: &HttpCase) -> Result<(String, String), String> {
    let url = format!("http://{HTTP_VIP}{}", case.path);
    let host = format!("Host: {}", case.host);
    let mut args = vec!["curl", "-s", "-S", "-f", "-m", "5", "-H", &host];
    if let Some(target) = case.absolute {
        args.extend(["--request-target", target]);
    }
    args.push(&url);
    let out = lab.exec("c", &args);
    let body = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "curl {} {}: {}",
            case.host,
            case.path,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    answer(&body).ok_or_else(|| format!("unreadable answer {body:?}"))
}

/// One TLS request of `case` through the TLS VIP: the group and real that answered, or
/// why it failed.
fn tls_request(lab: &Lab, case: &TlsCase) -> Result<(String, String), String> {
    let connect = format!("{TLS_VIP}:443");
    let out = match case.sni {
        Sni::SClient(_) | Sni::SClientNone => {
            let name = match case.sni {
                Sni::SClient(n) => format!("-servername {n}"),
                _ => "-noservername".to_owned(),
            };
            let line = format!(
                "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet \
                 -connect {connect} {name} 2>/dev/null"
            );
            lab.exec("c", &["sh", "-c", &line])
        }
        Sni::Curl(n) => {
            let resolve = format!("{n}:443:{TLS_VIP}");
            let url = format!("https://{n}/");
            lab.exec(
                "c",
                &[
                    "curl",
                    "-s",
                    "-S",
                    "-f",
                    "-k",
                    "-m",
                    "5",
                    "--resolve",
                    &resolve,
                    &url,
                ],
            )
        }
        Sni::CurlNone => {
            let url = format!("https://{TLS_VIP}/");
            lab.exec("c", &["curl", "-s", "-S", "-f", "-k", "-m", "5", &url])
        }
    };
    // s_client's exit status says little (how the server closed): the answer decides.
    let text = String::from_utf8_lossy(&out.stdout);
    match answer(&text) {
        Some(a) => Ok(a),
        None => Err(format!(
            "{}: {text:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// What the test asked and what answered, for the per-rule counts and the spread.
#[derive(Default)]
struct Tally {
    /// Requests per (service `http`/`tls`, rule).
    rules: BTreeMap<(&'static str, &'static str), u64>,
    /// Answers per (group, real).
    served: BTreeMap<(String, String), usize>,
}

impl Tally {
    /// Records an answer of a request `case_group` by `rule` of `service`, after checking
    /// that the group's own nginx answered it.
    fn record(
        &mut self,
        service: &'static str,
        rule: &'static str,
        case_group: &str,
        got: (String, String),
        what: &str,
    ) {
        assert_eq!(got.0, case_group, "{what}: answered by {got:?}");
        let g = group(case_group);
        assert!(
            g.reals.iter().any(|i| addr::real_name(*i) == got.1),
            "{what}: answered by {got:?}, not a real of {case_group}"
        );
        *self.rules.entry((service, rule)).or_default() += 1;
        *self.served.entry(got).or_default() += 1;
    }
}

/// Every HTTP case `times` times, each answered by its group (panics otherwise).
fn http_round(lab: &Lab, rvsd: &mut Rvsd, tally: &mut Tally, times: usize) {
    for case in &HTTP_CASES {
        for n in 0..times {
            let what = format!(
                "http Host {} {} (request {n})",
                case.host,
                case.absolute.unwrap_or(case.path)
            );
            let got = http_request(lab, case)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
            tally.record("http", case.rule, case.group, got, &what);
        }
    }
}

/// Every TLS case `times` times, each answered by its group (panics otherwise).
fn tls_round(lab: &Lab, rvsd: &mut Rvsd, tally: &mut Tally, times: usize) {
    for case in &TLS_CASES {
        for n in 0..times {
            let what = format!("tls {} (request {n})", sni_name(case.sni));
            let got = tls_request(lab, case)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
            tally.record("tls", case.rule, case.group, got, &what);
        }
    }
}

fn sni_name(sni: Sni) -> String {
    match sni {
        Sni::SClient(n) => format!("s_client -servername {n}"),
        Sni::SClientNone => "s_client -noservername".to_owned(),
        Sni::Curl(n) => format!("curl {n}"),
        Sni::CurlNone => "curl by address".to_owned(),
    }
}

/// `rvsctl`/`rvsadm` (`name`, next to rvsd) on the lab's socket: its standard output.
fn ctl(lab: &Lab, name: &str, args: &[&str]) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace (scripts/test does)",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("--socket")
        .arg(lab.socket())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a failure message shows of the director.
fn diagnostics(lab: &Lab, rvsd: &mut Rvsd) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}",
        ctl(lab, "rvsctl", &["drops"]),
        ctl(lab, "rvsctl", &["counters"]),
        ctl(lab, "rvsctl", &["health"]),
        ctl(lab, "rvsadm", &["-L", "-n", "--stats"]),
        rvsd.log()
    )
}

fn health(lab: &Lab) -> Vec<HealthInfo> {
    match client::call(&lab.socket(), Request::Health).expect("health request") {
        Response::Health(list) => list,
        other => panic!("not a health listing: {other:?}"),
    }
}

/// Polls `rvsctl health` until every real at `ip` on `ports` is `up` (bounded).
fn wait_health(lab: &Lab, ip: &str, ports: &[u16], up: bool, limit: Duration) {
    let start = Instant::now();
    loop {
        let list = health(lab);
        let done = ports.iter().all(|p| {
            list.iter()
                .any(|h| h.real.ip().to_string() == ip && h.real.port() == *p && h.up == up)
        });
        if done {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{ip} {ports:?} not {} after {limit:?}: {list:?}",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Drops by reason, summed over the workers.
fn drops(lab: &Lab) -> BTreeMap<String, u64> {
    match client::call(&lab.socket(), Request::Drops).expect("drops request") {
        Response::Drops(list) => list.into_iter().collect(),
        other => panic!("not drops: {other:?}"),
    }
}

/// `l7_resets`, summed over the workers (`rvsctl --json counters`).
fn l7_resets(lab: &Lab) -> u64 {
    match client::call(&lab.socket(), Request::Workers).expect("workers request") {
        Response::Workers(list) => list.iter().map(|w| w.l7_resets).sum(),
        other => panic!("not workers: {other:?}"),
    }
}

fn rules(lab: &Lab) -> Vec<RulesInfo> {
    match client::call(&lab.socket(), Request::Rules).expect("rules request") {
        Response::Rules(list) => list,
        other => panic!("not rules: {other:?}"),
    }
}

/// The match counts `rvsctl rules` gives, as the tally keys them.
fn rule_counts(list: &[RulesInfo]) -> BTreeMap<(&'static str, &'static str), u64> {
    const NUMBERS: [&str; 3] = ["0", "1", "2"];
    let mut counts = BTreeMap::new();
    for s in list {
        let service = if s.key.addr.port() == 80 {
            "http"
        } else {
            "tls"
        };
        for (r, n) in s.rules.iter().zip(NUMBERS) {
            counts.insert((service, n), r.matches);
        }
        counts.insert((service, "default"), s.default_matches);
    }
    counts
}

/// `/metrics` from the director's namespace.
fn metrics(lab: &Lab) -> String {
    let out = lab.exec(
        "d",
        &[
            "curl",
            "-s",
            "-f",
            "-m",
            "5",
            &format!("http://{METRICS}/metrics"),
        ],
    );
    assert!(out.status.success(), "scraping /metrics failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `rvs_service_content_rule_matches_total` for `rule` of the service at
/// `vip:port`.
fn metric_matches(text: &str, vip: &str, port: u16, rule: &str) -> Option<u64> {
    let prefix = format!(
        "rvs_service_content_rule_matches_total{{local_address=\"{vip}\",local_port=\"{port}\",proto=\"TCP\",rule=\"{rule}\","
    );
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Every group's both reals answered at least once in `tally`.
fn assert_spread(tally: &Tally, what: &str) {
    for g in &GROUPS {
        for i in g.reals {
            let key = (g.name.to_owned(), addr::real_name(i));
            assert!(
                tally.served.get(&key).copied().unwrap_or(0) > 0,
                "{what}: {} of {} never answered: {:?}",
                key.1,
                g.name,
                tally.served
            );
        }
    }
}

/// Stops the nginx of `img` on r1 and checks that it goes out of both services by
/// health check, that img's requests then all go to r2, and that it comes back.
fn kill_and_revive(lab: &mut Lab, rvsd: &mut Rvsd, tally: &mut Tally) {
    let img = group("img");
    let ip = addr::real(1);
    let ports = [img.http_port, img.tls_port];
    let down_limit = Duration::from_secs_f64(INTERVAL * f64::from(FALL) + 2.0 * INTERVAL + 5.0);
    lab.stop_server("r1", "nginx-img");
    wait_health(lab, &ip, &ports, false, down_limit);
    let listed = ctl(lab, "rvsadm", &["-L", "-n"]);
    for p in ports {
        assert!(
            !listed.contains(&format!("{ip}:{p} ")),
            "{ip}:{p} is down but listed:\n{listed}"
        );
    }
    let mut during = Tally::default();
    for case in HTTP_CASES.iter().filter(|c| c.group == "img") {
        for n in 0..4 {
            let what = format!("img with r1 down, http {} {n}", case.host);
            let got = http_request(lab, case)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
            assert_eq!(got.1, "r2", "{what}: {got:?}");
            during.record("http", case.rule, case.group, got, &what);
        }
    }
    for case in TLS_CASES.iter().filter(|c| c.group == "img") {
        for n in 0..4 {
            let what = format!("img with r1 down, {} {n}", sni_name(case.sni));
            let got = tls_request(lab, case)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
            assert_eq!(got.1, "r2", "{what}: {got:?}");
            during.record("tls", case.rule, case.group, got, &what);
        }
    }
    for (k, v) in during.rules {
        *tally.rules.entry(k).or_default() += v;
    }

    start_nginx(lab, img, 1);
    let up_limit = Duration::from_secs_f64(INTERVAL * f64::from(RISE) + 2.0 * INTERVAL + 10.0);
    wait_health(lab, &ip, &ports, true, up_limit);
    let listed = ctl(lab, "rvsadm", &["-L", "-n"]);
    for p in ports {
        assert!(
            listed.contains(&format!("{ip}:{p} ")),
            "{ip}:{p} is up again but not listed:\n{listed}"
        );
    }
    let mut after = Tally::default();
    for case in HTTP_CASES.iter().filter(|c| c.group == "img") {
        for n in 0..4 {
            let what = format!("img with r1 back, http {} {n}", case.host);
            let got = http_request(lab, case)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
            after.record("http", case.rule, case.group, got, &what);
        }
    }
    let back: Vec<_> = after.served.keys().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        back,
        ["r1", "r2"],
        "img after r1 came back: {:?}",
        after.served
    );
    for (k, v) in after.rules {
        *tally.rules.entry(k).or_default() += v;
    }
}

/// The slowloris client holds part of a request line on [`SLOW_CONNECTIONS`] connections while
/// every case is asked once more: all served. Its connections are reset (by
/// `l7_timeout`, or pushed out when a worker's waiting places are all taken).
fn slowloris(lab: &Lab, rvsd: &mut Rvsd, tally: &mut Tally) {
    let drops_before = drops(lab);
    let resets_before = l7_resets(lab);
    let script = lab.dir().join("slowloris.py");
    std::fs::write(&script, SLOWLORIS).expect("slowloris script");
    let hold = L7_TIMEOUT_S + 4.0;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), "python3"])
        .arg(&script)
        .args([
            HTTP_VIP,
            "80",
            &SLOW_CONNECTIONS.to_string(),
            &format!("{hold}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the slowloris client");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let limit = Instant::now() + Duration::from_secs(60);
    let next = |lines: &mut Vec<String>| {
        let left = limit.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the slowloris client said no more than {lines:?}"));
        lines.push(line.clone());
        line
    };
    let opened = next(&mut lines);
    let held: usize = opened
        .strip_prefix("open ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("slowloris: {opened:?}"));
    // Every connection is made by the SYN proxy: none is refused.
    assert_eq!(held, SLOW_CONNECTIONS, "slowloris opened {held}");

    // Others are served meanwhile (the client's connections wait their turn no longer
    // than their own request takes).
    let started = Instant::now();
    for case in &HTTP_CASES {
        let what = format!("during slowloris: http Host {} {}", case.host, case.path);
        let got = http_request(lab, case)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
        tally.record("http", case.rule, case.group, got, &what);
    }
    for case in &TLS_CASES {
        let what = format!("during slowloris: {}", sni_name(case.sni));
        let got = tls_request(lab, case)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diagnostics(lab, rvsd)));
        tally.record("tls", case.rule, case.group, got, &what);
    }
    println!(
        "l7 lab: {} requests during slowloris in {:?}",
        HTTP_CASES.len() + TLS_CASES.len(),
        started.elapsed()
    );

    let closed_line = next(&mut lines);
    let failed_line = next(&mut lines);
    let _ = child.kill();
    let _ = child.wait();
    let closed: usize = closed_line
        .strip_prefix("closed ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("slowloris: {lines:?}"));
    println!("l7 lab: slowloris {lines:?}");
    assert_eq!(failed_line, "failed 0", "slowloris: {lines:?}");

    // Every slow connection was ended by the director: pushed out of a full table or
    // timed out, each with a reset.
    let start = Instant::now();
    loop {
        let after = drops(lab);
        let rose = |reason: &str| {
            after
                .get(reason)
                .copied()
                .unwrap_or(0)
                .saturating_sub(drops_before.get(reason).copied().unwrap_or(0))
        };
        let (timeout, full) = (rose("l7_timeout"), rose("l7_waiting_full"));
        let resets = l7_resets(lab).saturating_sub(resets_before);
        if timeout > 0
            && full > 0
            && timeout + full >= SLOW_CONNECTIONS as u64
            && resets >= SLOW_CONNECTIONS as u64
        {
            println!("l7 lab: slowloris ended by l7_timeout {timeout}, l7_waiting_full {full}, resets {resets}; the client saw {closed} closed");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "slowloris: l7_timeout +{timeout}, l7_waiting_full +{full}, l7_resets +{resets}, \
             client {lines:?}\n{}",
            diagnostics(lab, rvsd)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The client heard of (nearly) every reset while it held them (a reset lost on the
    // way would leave one open: a wide margin).
    assert!(
        closed >= SLOW_CONNECTIONS * 9 / 10,
        "slowloris: the client saw {closed} of {SLOW_CONNECTIONS} ended: {lines:?}"
    );
}

/// `rvsctl rules` and `/metrics` count what the test asked, rule by rule.
fn check_rule_counts(lab: &Lab, rvsd: &mut Rvsd, tally: &Tally) {
    let start = Instant::now();
    let counts = loop {
        let counts = rule_counts(&rules(lab));
        if counts == tally.rules {
            break counts;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rvsctl rules counted {counts:?}, the test asked {:?}\n{}\n{}",
            tally.rules,
            ctl(lab, "rvsctl", &["rules"]),
            diagnostics(lab, rvsd)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("l7 lab: rule matches {counts:?}");
    // The table shows each rule with what it matches and its count.
    let table = ctl(lab, "rvsctl", &["rules"]);
    let want = tally
        .rules
        .get(&("http", "0"))
        .copied()
        .unwrap_or(0)
        .to_string();
    assert!(
        table.lines().any(|l| l.contains(&format!("{HTTP_VIP}:80"))
            && l.contains("host img.example.com path_prefix /static/")
            && l.split_whitespace().last() == Some(want.as_str())),
        "rule 0 of the HTTP service with {want} matches in\n{table}"
    );
    let text = metrics(lab);
    for ((service, rule), n) in &tally.rules {
        let (vip, port) = if *service == "http" {
            (HTTP_VIP, 80)
        } else {
            (TLS_VIP, 443)
        };
        assert_eq!(
            metric_matches(&text, vip, port, rule),
            Some(*n),
            "/metrics: {service} rule {rule}\n{}",
            text.lines()
                .filter(|l| l.starts_with("rvs_service_content_rule_matches_total"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn lab_af_packet_content_switching_by_host_path_and_sni_with_health_and_slowloris() {
    preflight();
    let mut lab = Lab::new('7');
    lab.add_probe_path();
    make_certificate(&lab);
    for g in &GROUPS {
        for i in g.reals {
            start_nginx(&mut lab, g, i);
        }
    }
    let config = lab.write_config("l7", Pmd::AfPacket, Some(METRICS), &services());
    let mut rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);
    let limit = Duration::from_secs(20);
    for g in &GROUPS {
        for i in g.reals {
            wait_health(
                &lab,
                &addr::real(i),
                &[g.http_port, g.tls_port],
                true,
                limit,
            );
        }
    }

    let mut tally = Tally::default();
    http_round(&lab, &mut rvsd, &mut tally, 4);
    tls_round(&lab, &mut rvsd, &mut tally, 3);
    assert_spread(&tally, "first rounds");

    kill_and_revive(&mut lab, &mut rvsd, &mut tally);
    slowloris(&lab, &mut rvsd, &mut tally);
    check_rule_counts(&lab, &mut rvsd, &tally);

    rvsd.stop();
}
