//! rvsadm and rvsctl as binaries against a fake daemon: a thread on a Unix socket that speaks
//! the framing and protocol, records each request and answers from a table.

mod common;

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rvs_ctl::frame::{read_frame, write_frame, MAX_REQUEST};
use rvs_ctl::proto::{
    Change, ErrorKind, ErrorReply, Forward, HealthInfo, Protocol, RealSpec, ReloadReport, Request,
    RequestEnvelope, Response, ResponseEnvelope, StatusInfo, WorkerInfo, VERSION,
};

type Answer = Box<dyn Fn(&Request) -> ResponseEnvelope + Send>;

struct FakeDaemon {
    dir: PathBuf,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<RequestEnvelope>>>,
}

impl FakeDaemon {
    fn start(answer: Answer) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rvs-ctl-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("rvsd.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Ok(request) = read_frame::<_, RequestEnvelope>(&mut stream, MAX_REQUEST) else {
                    continue;
                };
                let reply = answer(&request.request);
                seen.lock().unwrap().push(request);
                let _ = write_frame(&mut stream, &reply);
            }
        });
        FakeDaemon {
            dir,
            socket,
            requests,
        }
    }

    fn requests(&self) -> Vec<Request> {
        let seen = self.requests.lock().unwrap();
        assert!(seen.iter().all(|r| r.version == VERSION));
        seen.iter().map(|r| r.request.clone()).collect()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(response: Response) -> ResponseEnvelope {
    ResponseEnvelope {
        version: VERSION,
        result: Ok(response),
    }
}

fn refused(kind: ErrorKind, message: &str) -> ResponseEnvelope {
    ResponseEnvelope {
        version: VERSION,
        result: Err(ErrorReply::new(kind, message)),
    }
}

fn run(bin: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("RVS_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn rvsadm(daemon: &FakeDaemon, args: &[&str]) -> Output {
    let mut all = vec!["--socket", daemon.socket.to_str().unwrap()];
    all.extend_from_slice(args);
    run(env!("CARGO_BIN_EXE_rvsadm"), &all, "")
}

fn rvsctl(daemon: &FakeDaemon, args: &[&str]) -> Output {
    let mut all = vec!["--socket", daemon.socket.to_str().unwrap()];
    all.extend_from_slice(args);
    run(env!("CARGO_BIN_EXE_rvsctl"), &all, "")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

fn services_daemon() -> FakeDaemon {
    FakeDaemon::start(Box::new(|request| match request {
        Request::Status => ok(Response::Status(StatusInfo {
            conn_capacity: 4096,
            ..status()
        })),
        Request::Services { service: None } => ok(Response::Services(common::table())),
        Request::Services { service: Some(key) } => ok(Response::Services(
            common::table()
                .into_iter()
                .filter(|s| s.spec.key == *key)
                .collect(),
        )),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }))
}

#[test]
fn rvsadm_lists_the_table() {
    let daemon = services_daemon();
    let out = rvsadm(&daemon, &["-Ln"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(concat!(
        "IP Virtual Server version 1.2.1 (size=4096)\n",
        "Prot LocalAddress:Port Scheduler Flags\n",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        "TCP  10.0.0.5:443 mh (mh-fallback,mh-port)\n",
        "  -> 192.168.1.20:443             FullNat 1      0          0         \n",
    )));
    assert_eq!(stdout.lines().count(), 13);
    assert_eq!(
        daemon.requests(),
        [Request::Status, Request::Services { service: None }]
    );
}

#[test]
fn rvsadm_lists_one_service_or_says_it_is_missing() {
    let daemon = services_daemon();
    let out = rvsadm(&daemon, &["-L", "-n", "-u", "10.0.0.100:53"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        concat!(
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
            "UDP  10.0.0.100:53 rr\n",
            "  -> 192.168.1.3:53               Route   0      0          7         \n",
        )
    );
    let out = rvsadm(&daemon, &["-L", "-t", "10.9.9.9:80"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "No such service\n");
}

#[test]
fn rvsadm_prints_ipvsadm_messages_for_refusals() {
    let daemon = FakeDaemon::start(Box::new(|_| {
        refused(ErrorKind::NoService, "no service tcp 10.0.0.1:80")
    }));
    let out = rvsadm(
        &daemon,
        &["-a", "-t", "10.0.0.1:80", "-r", "10.1.1.1:8080", "-m"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "Service not defined\n");
    assert_eq!(text(&out.stdout), "");
    let out = rvsadm(&daemon, &["-D", "-t", "10.0.0.1:80"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "No such service\n");
    let expected = RealSpec {
        addr: "10.1.1.1:8080".parse().unwrap(),
        forward: Forward::Nat,
        weight: 1,
        upper: 0,
        lower: 0,
        tunnel: Default::default(),
    };
    let service = common::key(Protocol::Tcp, "10.0.0.1:80");
    assert_eq!(
        daemon.requests(),
        [
            Request::Apply {
                changes: vec![Change::AddReal {
                    service,
                    real: expected
                }]
            },
            Request::Apply {
                changes: vec![Change::DeleteService(service)]
            },
        ]
    );
}

#[test]
fn rvsadm_restore_sends_one_batch() {
    let daemon = FakeDaemon::start(Box::new(|_| ok(Response::Done)));
    let saved = rvs_ctl::adm::save::save(&common::table());
    let socket = daemon.socket.to_str().unwrap();
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &["-R", "--socket", socket],
        &saved,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = daemon.requests();
    assert_eq!(requests.len(), 1);
    assert!(matches!(&requests[0], Request::Apply { changes } if changes.len() == 13));
    // A bad line: nothing is sent.
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &["-R", "--socket", socket],
        "-C\n-a -t 1.1.1.1:80\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("line 2: You need to supply the 'real-server'"));
    assert_eq!(daemon.requests().len(), 1);
}

/// A change the daemon refuses in a `-R` batch is reported at its input line (comments
/// and blank lines counted), with the daemon's words.
#[test]
fn rvsadm_restore_names_the_line_the_daemon_refused() {
    let daemon = FakeDaemon::start(Box::new(|_| ResponseEnvelope {
        version: VERSION,
        result: Err(ErrorReply::new(
            ErrorKind::RealExists,
            "real 10.1.1.1:8080 already exists in tcp 10.0.0.1:80",
        )
        .at_change(2)),
    }));
    let socket = daemon.socket.to_str().unwrap();
    let input = "# saved\n-A -t 10.0.0.1:80 -s rr\n\n-a -t 10.0.0.1:80 -r 10.1.1.1:8080 -m\n\
                 -a -t 10.0.0.1:80 -r 10.1.1.1:8080 -m\n";
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &["-R", "--socket", socket],
        input,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "line 5: real 10.1.1.1:8080 already exists in tcp 10.0.0.1:80\n"
    );
}

/// `ipvsadm -S` without `-n` writes host and service names; `-R` resolves them as
/// ipvsadm does (the host through the resolver, the port from /etc/services).
#[test]
fn rvsadm_restores_ipvsadm_output_with_names() {
    let daemon = FakeDaemon::start(Box::new(|_| ok(Response::Done)));
    let socket = daemon.socket.to_str().unwrap();
    let input = "-A -t 10.0.0.1:http -s wlc\n-a -t 10.0.0.1:http -r localhost:http -m -w 1\n";
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &["-R", "--socket", socket],
        input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let service = common::key(Protocol::Tcp, "10.0.0.1:80");
    let Request::Apply { changes } = &daemon.requests()[0] else {
        panic!("not a batch");
    };
    assert_eq!(changes.len(), 2);
    assert!(matches!(&changes[0], Change::AddService(spec) if spec.key == service));
    assert_eq!(
        changes[1],
        Change::AddReal {
            service,
            real: RealSpec {
                addr: "127.0.0.1:80".parse().unwrap(),
                forward: Forward::Nat,
                weight: 1,
                upper: 0,
                lower: 0,
                tunnel: Default::default(),
            }
        }
    );
    // A name that does not resolve says why, at its line.
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &["-R", "--socket", socket],
        "-A -t 10.0.0.1:nosuchservice-rvs\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "line 1: illegal virtual server address[:port] specified: port \"nosuchservice-rvs\" \
         is not a tcp service in /etc/services\n"
    );
}

/// `-S` asks for the configured table: reals a health check took out are saved too.
#[test]
fn rvsadm_save_asks_for_the_configured_table() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::ConfiguredServices => ok(Response::Services(common::table())),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    let out = rvsadm(&daemon, &["-S", "-n"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        rvs_ctl::adm::save::save(&common::table())
    );
    assert_eq!(daemon.requests(), [Request::ConfiguredServices]);
}

#[test]
fn rvsadm_without_a_daemon_exits_2() {
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &["--socket", "/nonexistent/rvsd.sock", "-Ln"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot reach rvsd at /nonexistent/rvsd.sock"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        env!("CARGO_BIN_EXE_rvsctl"),
        &["--socket", "/nonexistent/rvsd.sock", "status"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn rvsadm_usage_errors_do_not_need_a_daemon() {
    let out = run(
        env!("CARGO_BIN_EXE_rvsadm"),
        &[
            "--socket",
            "/nonexistent/rvsd.sock",
            "-a",
            "-t",
            "1.1.1.1:80",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "You need to supply the 'real-server' option for the 'add-server' command\n"
    );
    let out = run(env!("CARGO_BIN_EXE_rvsadm"), &["-t", "1.1.1.1:80"], "");
    assert_eq!(out.status.code(), Some(255));
    let out = run(env!("CARGO_BIN_EXE_rvsadm"), &["-X", "foo"], "");
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).starts_with("-X: the command comes first"));
    let out = run(env!("CARGO_BIN_EXE_rvsadm"), &["-h"], "");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("/etc/services"));
    assert!(text(&out.stdout).contains("docs/rvsadm.md"));
}

#[test]
fn rvsadm_finds_the_socket_in_the_environment() {
    let daemon = FakeDaemon::start(Box::new(|_| {
        ok(Response::Timeouts(rvs_ctl::proto::TimeoutsInfo {
            tcp: 900,
            tcpfin: 120,
            udp: 300,
        }))
    }));
    let out = Command::new(env!("CARGO_BIN_EXE_rvsadm"))
        .args(["-L", "--timeout"])
        .env("RVS_SOCKET", &daemon.socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "Timeout (tcp tcpfin udp): 900 120 300\n");
}

#[test]
fn clients_report_a_daemon_of_another_version() {
    let daemon = FakeDaemon::start(Box::new(|_| ResponseEnvelope {
        version: VERSION + 1,
        result: Ok(Response::Done),
    }));
    let out = rvsadm(&daemon, &["-C"]);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!(
        "speaks control protocol version {}, this client speaks version {VERSION}",
        VERSION + 1
    );
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
    let out = rvsctl(&daemon, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn clients_print_a_version_refusal() {
    let daemon = FakeDaemon::start(Box::new(|_| {
        refused(
            ErrorKind::Version,
            "client speaks protocol 1, rvsd speaks 2",
        )
    }));
    let out = rvsctl(&daemon, &["workers"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "rvsctl: client speaks protocol 1, rvsd speaks 2\n"
    );
}

fn status() -> StatusInfo {
    StatusInfo {
        version: "0.1.0".into(),
        uptime_s: 42,
        mode: "live".into(),
        config_file: "/etc/rvs/rvs.toml".into(),
        generation: 3,
        workers: 2,
        services: 4,
        reals: 6,
        connections: 1000,
        conn_capacity: 2 * 65536,
        rx_packets: 5,
        tx_packets: 4,
        dropped: 1,
        announced: vec!["10.0.0.100".into()],
        announce_transitions: 1,
        announce: None,
        ha: None,
    }
}

#[test]
fn rvsctl_status_json_and_table() {
    let daemon = FakeDaemon::start(Box::new(|_| ok(Response::Status(status()))));
    let out = rvsctl(&daemon, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let parsed: StatusInfo = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, status());
    let out = rvsctl(&daemon, &["status"]);
    assert!(
        text(&out.stdout).contains("generation:       3\n")
            && text(&out.stdout).contains("announced:        10.0.0.100\n"),
        "{}",
        text(&out.stdout)
    );
}

fn health() -> Vec<HealthInfo> {
    let real = |addr: &str, up: bool, last: &str| HealthInfo {
        service: rvs_ctl::proto::ServiceKey {
            proto: Protocol::Tcp,
            addr: "10.0.0.100:80".parse().unwrap(),
        },
        real: addr.parse().unwrap(),
        kind: "http".into(),
        target: addr.parse().unwrap(),
        up,
        successes: u32::from(up) * 5,
        failures: u32::from(!up) * 3,
        last: last.into(),
        since_s: 12,
        checks: 40,
        transitions: u64::from(!up),
        last_duration_us: 800,
        on_fail: "remove".into(),
        configured_weight: 2,
        weight: 2,
        sorry: None,
    };
    vec![
        real("10.1.0.11:8080", true, "ok"),
        real("10.1.0.12:8080", false, "http: status 503"),
    ]
}

#[test]
fn rvsctl_health_json_and_table() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::Health => ok(Response::Health(health())),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    let out = rvsctl(&daemon, &["health", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let parsed: Vec<HealthInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, health());
    let out = rvsctl(&daemon, &["health"]);
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("SERVICE  "), "{table}");
    assert!(
        lines[2].contains("10.1.0.12:8080") && lines[2].contains("down"),
        "{table}"
    );
    assert!(lines[2].ends_with("http: status 503"), "{table}");
    assert_eq!(daemon.requests(), [Request::Health, Request::Health]);
}

#[test]
fn rvsctl_conns_and_drops() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::Conns { limit } => ok(Response::Conns {
            conns: common::conns_fullnat().into_iter().take(*limit).collect(),
            truncated: *limit < 4,
        }),
        Request::Drops => ok(Response::Drops(vec![
            ("no_route".into(), 3),
            ("ttl".into(), 0),
        ])),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    // `--json` before or after the subcommand; a bare array, the truncation on stderr.
    let out = rvsctl(&daemon, &["--json", "conns", "--limit", "2"]);
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 2);
    assert!(text(&out.stderr).contains("raise --limit"));
    let out = rvsctl(&daemon, &["conns", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let forwards: Vec<&str> = value
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["forward"].as_str())
        .collect();
    assert!(
        forwards.contains(&"fullnat"),
        "one spelling, the file's: {forwards:?}"
    );
    let out = rvsctl(&daemon, &["drops", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value, serde_json::json!({"no_route": 3, "ttl": 0}));
    let out = rvsctl(&daemon, &["conns"]);
    let table = text(&out.stdout);
    assert!(table.starts_with("PROTO  EXPIRE_S  STATE"), "{table}");
    assert!(table.contains("10.1.0.2:1025"));
    let out = rvsctl(&daemon, &["drops"]);
    assert_eq!(
        text(&out.stdout),
        "REASON    COUNT\nno_route  3\nttl       0\n"
    );
    assert_eq!(daemon.requests()[0], Request::Conns { limit: 2 });
    let out = rvsctl(&daemon, &["--json", "drops"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn rvsctl_counters_lists_every_counter_per_worker_and_in_total() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::Workers => ok(Response::Workers(
            (0..2)
                .map(|id| WorkerInfo {
                    id,
                    syn_cookies_sent: 5 + u64::from(id),
                    drops: vec![("no_route".into(), u64::from(id)), ("ttl".into(), 0)],
                    ..WorkerInfo::default()
                })
                .collect(),
        )),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    let out = rvsctl(&daemon, &["counters"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["COUNTER", "W0", "W1", "TOTAL"], "{table}");
    assert_eq!(lines.len(), 1 + WorkerInfo::COUNTERS.len() + 2, "{table}");
    assert!(
        lines.contains(&vec!["syn_cookies_sent", "5", "6", "11"]),
        "{table}"
    );
    assert!(
        lines.contains(&vec!["embryonic_evicted", "0", "0", "0"]),
        "{table}"
    );
    assert_eq!(lines[lines.len() - 2], ["drops", "0", "1", "1"], "{table}");
    assert_eq!(lines[lines.len() - 1], ["drops.no_route", "0", "1", "1"]);
    let out = rvsctl(&daemon, &["counters", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["workers"], serde_json::json!([0, 1]));
    let row = value["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "synproxy_held")
        .expect("a synproxy_held row");
    assert_eq!(row["total"], 0);
    assert_eq!(daemon.requests(), [Request::Workers, Request::Workers]);
    let help = run(env!("CARGO_BIN_EXE_rvsctl"), &["--help"], "");
    assert!(
        text(&help.stdout).contains("Every worker counter, per worker and in total"),
        "{}",
        text(&help.stdout)
    );
}

#[test]
fn rvsctl_config_save_and_reload() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::ConfigSave => ok(Response::Config("[dataplane]\nworkers = 2\n".into())),
        Request::ConfigReload { path: Some(p), .. } if p.ends_with("missing.toml") => refused(
            ErrorKind::Invalid,
            "missing.toml: No such file or directory",
        ),
        Request::ConfigReload { path, dry_run, .. } => ok(Response::Reloaded(ReloadReport {
            file: path.clone().unwrap_or_else(|| "/etc/rvs/rvs.toml".into()),
            applied: !*dry_run,
            generation: 7,
            summary: "services +0 -0 ~0, reals +1 -0 ~0".into(),
            changes: vec!["real 10.1.0.13:80 of tcp 10.0.0.10:80 added".into()],
            runtime_undone: vec![],
        })),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    let out = rvsctl(&daemon, &["config", "save"]);
    assert_eq!(text(&out.stdout), "[dataplane]\nworkers = 2\n");
    let file = daemon.dir.join("saved.toml");
    let out = rvsctl(&daemon, &["config", "save", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "[dataplane]\nworkers = 2\n"
    );
    let out = rvsctl(&daemon, &["config", "reload", "relative/rvs.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let out = rvsctl(&daemon, &["config", "reload"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "reloaded /etc/rvs/rvs.toml (generation 7): services +0 -0 ~0, reals +1 -0 ~0\n  real 10.1.0.13:80 of tcp 10.0.0.10:80 added\n"
    );
    let out = rvsctl(&daemon, &["config", "reload", "missing.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "rvsctl: missing.toml: No such file or directory\n"
    );
    let requests = daemon.requests();
    let expected = std::env::current_dir().unwrap().join("relative/rvs.toml");
    assert_eq!(
        requests[2],
        Request::ConfigReload {
            path: Some(expected.to_str().unwrap().to_string()),
            dry_run: false,
            discard_runtime: false,
        }
    );
    assert_eq!(
        requests[3],
        Request::ConfigReload {
            path: None,
            dry_run: false,
            discard_runtime: false,
        }
    );
    let out = rvsctl(
        &daemon,
        &["config", "reload", "--dry-run", "--discard-runtime"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).starts_with("would reload "),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        daemon.requests()[5],
        Request::ConfigReload {
            path: None,
            dry_run: true,
            discard_runtime: true,
        }
    );
}

/// rvsadm in ipvsadm's place as ldirectord runs it: through a shell (`system()`), as a
/// program named `ipvsadm` given no socket option (`RVS_SOCKET` set, as the wrapper
/// `scripts/ipvsadm-alternative install --socket` writes sets it), its listings read with
/// stderr joined. Each change is one batch; success exits 0, and a refusal exits non-zero
/// with ipvsadm's message (ldirectord logs the call as failed).
#[test]
fn rvsadm_as_ipvsadm_takes_ldirectords_calls() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::Apply { changes } => match changes[..] {
            [Change::DeleteReal { .. }] => refused(ErrorKind::NoReal, "no such real"),
            _ => ok(Response::Done),
        },
        Request::Status => ok(Response::Status(StatusInfo {
            conn_capacity: 4096,
            ..status()
        })),
        Request::Services { service: None } => ok(Response::Services(Vec::new())),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    let ipvsadm = daemon.dir.join("ipvsadm");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rvsadm"), &ipvsadm).unwrap();
    let system = |line: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("{} {line} 2>&1", ipvsadm.display()))
            .env("RVS_SOCKET", &daemon.socket)
            .output()
            .unwrap()
    };
    let listing = system("-L -n");
    assert_eq!(listing.status.code(), Some(0));
    assert_eq!(
        text(&listing.stdout),
        concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        )
    );
    for line in [
        "-A -t 10.0.0.100:80 -s rr -p 300 -M 255.255.255.0 ",
        "-a -t 10.0.0.100:80 -x 0 -y 0 -r 10.1.1.11:8080 -m -w 1",
        "-e -t 10.0.0.100:80 -r 10.1.1.11:8080 -m -w 0",
        "-D -t 10.0.0.100:80",
    ] {
        let out = system(line);
        assert_eq!(out.status.code(), Some(0), "{line}: {}", text(&out.stdout));
        assert_eq!(text(&out.stdout), "", "{line}");
    }
    let out = system("-d -t 10.0.0.100:80 -r 10.1.1.11:8080");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "No such destination\n");
    let applied: Vec<Request> = daemon
        .requests()
        .into_iter()
        .filter(|r| matches!(r, Request::Apply { .. }))
        .collect();
    assert_eq!(applied.len(), 5);
    assert!(applied
        .iter()
        .all(|r| matches!(r, Request::Apply { changes } if changes.len() == 1)));
}

fn content_rules() -> Vec<rvs_ctl::proto::RulesInfo> {
    let rule =
        |host: Option<&str>, path: Option<&str>, group: &str, matches| rvs_ctl::proto::RuleInfo {
            host: host.map(Into::into),
            path_prefix: path.map(Into::into),
            sni: None,
            group: group.into(),
            matches,
        };
    vec![rvs_ctl::proto::RulesInfo {
        key: rvs_ctl::proto::ServiceKey {
            proto: Protocol::Tcp,
            addr: "10.0.0.100:80".parse().unwrap(),
        },
        l7: "http".into(),
        rules: vec![
            rule(Some("img.example.com"), Some("/static/"), "img", 12),
            rule(Some("*.example.com"), None, "web", 7),
        ],
        default_matches: 3,
    }]
}

#[test]
fn rvsctl_rules_json_and_table() {
    let daemon = FakeDaemon::start(Box::new(|request| match request {
        Request::Rules => ok(Response::Rules(content_rules())),
        _ => refused(ErrorKind::Internal, "unexpected"),
    }));
    let out = rvsctl(&daemon, &["rules", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let parsed: Vec<rvs_ctl::proto::RulesInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, content_rules());
    let out = rvsctl(&daemon, &["rules"]);
    let table = text(&out.stdout);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            vec!["SERVICE", "L7", "RULE", "MATCH", "GROUP", "MATCHES"],
            vec![
                "TCP 10.0.0.100:80",
                "http",
                "0",
                "host img.example.com path_prefix /static/",
                "img",
                "12"
            ],
            vec![
                "TCP 10.0.0.100:80",
                "http",
                "1",
                "host *.example.com",
                "web",
                "7"
            ],
            vec!["TCP 10.0.0.100:80", "http", "default", "-", "-", "3"],
        ],
        "{table}"
    );
    assert_eq!(daemon.requests(), [Request::Rules, Request::Rules]);
}
