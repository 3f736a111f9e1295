//! The health checkers against servers the test starts on loopback (a TCP listener, a
//! tiny HTTP server answering a chosen status and body, a UDP echo, commands with chosen
//! exit codes, servers that never answer), then rise and fall through the prober as the
//! control core runs it: a real whose server goes away is taken down, and comes back
//! when the server does, while hanging targets next to it change nothing; and a misc
//! check's exit codes driving the overlay (inhibit, dynamic weight, the sorry server).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rvs_config::{CheckConfig, CheckKind, Config, OnFail};
use rvs_control::health::{run_probe, Health, ProbeFailure};

fn check(kind: CheckKind, timeout_ms: u64) -> CheckConfig {
    CheckConfig {
        kind,
        interval: Duration::from_millis(timeout_ms * 2),
        timeout: Duration::from_millis(timeout_ms),
        rise: 2,
        fall: 2,
        port: None,
        on_fail: OnFail::Remove,
        path: "/".into(),
        expect: (200, 399),
        body: String::new(),
        send: String::new(),
        command: Vec::new(),
        dynamic: false,
        sorry: None,
    }
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A TCP server on 127.0.0.1 that answers every connection with `response` (after
/// reading the request) and records the requests; with `None` it accepts and never
/// answers. Stops when dropped (it polls a flag; every loop is bounded by it).
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(response: Option<&'static str>) -> Self {
        Self::start_on("127.0.0.1:0", response)
    }

    fn start_on(addr: &str, response: Option<&'static str>) -> Self {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (flag, log) = (Arc::clone(&stop), Arc::clone(&requests));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut buf = [0u8; 2048];
                        let n = s.read(&mut buf).unwrap_or(0);
                        log.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                        match response {
                            Some(r) => {
                                let _ = s.write_all(r.as_bytes());
                            }
                            None => held.push(s),
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn tcp_connect_is_up_and_a_closed_port_is_down() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = check(CheckKind::Tcp, 500);
    assert_eq!(run_probe(listener.local_addr().unwrap(), &c), Ok(None));
    assert_eq!(
        run_probe(closed_port(), &c),
        Err(ProbeFailure::Connect(std::io::ErrorKind::ConnectionRefused))
    );
}

#[test]
fn http_status_range_and_body() {
    let ok = Server::start(Some(
        "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nI am healthy",
    ));
    let unavailable = Server::start(Some("HTTP/1.0 503 Service Unavailable\r\n\r\n"));
    let not_http = Server::start(Some("SSH-2.0-OpenSSH_9.2\r\n"));
    let mut c = check(CheckKind::Http, 1000);
    c.path = "/status".into();
    assert_eq!(run_probe(ok.addr, &c), Ok(None));
    let request = ok.requests.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("GET /status HTTP/1.1\r\n"),
        "{request:?}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {}\r\n", ok.addr)),
        "{request:?}"
    );
    assert_eq!(
        run_probe(unavailable.addr, &c),
        Err(ProbeFailure::Status(503))
    );
    c.expect = (500, 503);
    assert_eq!(run_probe(unavailable.addr, &c), Ok(None), "expect range");
    c.expect = (200, 299);
    c.body = "healthy".into();
    assert_eq!(run_probe(ok.addr, &c), Ok(None));
    c.body = "ready".into();
    assert_eq!(run_probe(ok.addr, &c), Err(ProbeFailure::BodyMissing));
    assert_eq!(run_probe(not_http.addr, &c), Err(ProbeFailure::BadResponse));
    assert!(matches!(
        run_probe(closed_port(), &c),
        Err(ProbeFailure::Connect(_))
    ));
}

#[test]
fn a_hanging_http_server_times_out_within_the_timeout() {
    let hang = Server::start(None);
    let c = check(CheckKind::Http, 300);
    let start = Instant::now();
    assert_eq!(run_probe(hang.addr, &c), Err(ProbeFailure::TimedOut));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn udp_any_reply_is_up_port_unreachable_and_silence_are_down() {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    echo.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let echo_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, from) = echo.recv_from(&mut buf).unwrap();
        echo.send_to(&buf[..n], from).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let mut c = check(CheckKind::Udp, 500);
    c.send = "ping".into();
    assert_eq!(run_probe(echo_addr, &c), Ok(None));
    assert_eq!(echo_thread.join().unwrap(), "ping");

    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    assert_eq!(run_probe(closed, &c), Err(ProbeFailure::PortUnreachable));

    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    assert_eq!(
        run_probe(silent.local_addr().unwrap(), &c),
        Err(ProbeFailure::NoReply)
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn misc_exit_codes_dynamic_weights_substitution_and_timeout() {
    let target: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut c = check(CheckKind::Misc, 2000);
    let sh = |script: &str| -> Vec<String> {
        ["sh", "-c", script, "check", "{ip}", "{port}"]
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    c.command = sh("exit 0");
    assert_eq!(run_probe(target, &c), Ok(None));
    c.command = sh("exit 1");
    assert_eq!(run_probe(target, &c), Err(ProbeFailure::Exit(1)));
    c.command = sh("exit 7");
    assert_eq!(run_probe(target, &c), Err(ProbeFailure::Exit(7)));
    c.dynamic = true;
    assert_eq!(run_probe(target, &c), Ok(Some(5)), "misc_dynamic: 7 - 2");
    c.command = sh("exit 2");
    assert_eq!(run_probe(target, &c), Ok(Some(0)));
    c.command = sh("exit 1");
    assert_eq!(run_probe(target, &c), Err(ProbeFailure::Exit(1)));
    c.command = sh(r#"test "$1" = 127.0.0.1 && test "$2" = 8080"#);
    assert_eq!(run_probe(target, &c), Ok(None), "{{ip}} and {{port}}");
    c.command = vec!["/nonexistent/check".into()];
    assert_eq!(
        run_probe(target, &c),
        Err(ProbeFailure::Spawn(std::io::ErrorKind::NotFound))
    );
    // A command that hangs is killed at the timeout, with what it started.
    let pid_file = std::env::temp_dir().join(format!("rvs-misc-{}", std::process::id()));
    c.timeout = Duration::from_millis(300);
    c.command = sh(&format!(
        "sleep 30 & echo $! > {}; wait; exit 0",
        pid_file.display()
    ));
    let start = Instant::now();
    assert_eq!(run_probe(target, &c), Err(ProbeFailure::TimedOut));
    assert!(start.elapsed() < Duration::from_secs(3), "killed");
    let pid = std::fs::read_to_string(&pid_file).expect("the script ran");
    let _ = std::fs::remove_file(&pid_file);
    let stat = format!("/proc/{}/stat", pid.trim());
    let gone = (0..100).any(|_| {
        let running = std::fs::read_to_string(&stat)
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        if running {
            std::thread::sleep(Duration::from_millis(20));
        }
        !running
    });
    assert!(gone, "the command's child outlived the timeout");
}

/// A configuration with one TCP service on 10.0.0.100:80 checked by `check_lines`, with
/// the reals `reals` (ip, port).
fn health_config(check_lines: &str, reals: &[SocketAddr]) -> Config {
    let mut text = format!(
        "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n\n[service.check]\n{check_lines}\n"
    );
    for r in reals {
        text.push_str(&format!(
            "\n[[service.real]]\nip = \"{}\"\nport = {}\nforward = \"nat\"\n",
            r.ip(),
            r.port()
        ));
    }
    Config::parse(&text, "health.toml").expect("config")
}

/// Poll `health` (as the control core's tick does) until `done` holds or `limit` passes;
/// returns the time it took.
fn poll_until(
    health: &mut Health,
    config: &Config,
    limit: Duration,
    mut done: impl FnMut(&Health) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let poll = Instant::now();
        health.poll(config);
        assert!(poll.elapsed() < Duration::from_millis(50), "poll blocked");
        if done(health) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn up(health: &Health, config: &Config, real: SocketAddr) -> Option<bool> {
    health
        .infos(config)
        .iter()
        .find(|h| h.real == real)
        .map(|h| h.up)
}

#[test]
fn rise_and_fall_through_the_prober_with_hanging_neighbours() {
    // Ten reals (127.0.0.2 to .11) on a server that accepts and never answers, and one
    // real whose HTTP server the test stops and starts again.
    let hang = Server::start_on("0.0.0.0:0", None);
    let web = Server::start(Some("HTTP/1.1 200 OK\r\n\r\n"));
    let real = web.addr;
    let mut reals = vec![real];
    reals.extend((2..12).map(|i| SocketAddr::new([127, 0, 0, i].into(), hang.addr.port())));
    let config = health_config(
        "kind = \"http\"\ninterval = 0.1\ntimeout = 0.1\nrise = 2\nfall = 3",
        &reals,
    );
    let mut health = Health::default();
    health.configure(&config);
    assert_eq!(up(&health, &config, real), Some(true), "reals start up");
    let hanging_down = poll_until(&mut health, &config, Duration::from_secs(5), |h| {
        h.infos(&config).iter().filter(|i| !i.up).count() == 10
    });
    assert!(hanging_down.is_some(), "{:?}", health.infos(&config));
    let info = |h: &Health| {
        h.infos(&config)
            .into_iter()
            .find(|i| i.real == real)
            .unwrap()
    };
    assert!(
        info(&health).up && info(&health).checks >= 3,
        "{:?}",
        info(&health)
    );
    assert!(health
        .infos(&config)
        .iter()
        .filter(|i| i.real != real)
        .all(|i| i.last == "http: timed out"));

    drop(web);
    let fell = poll_until(&mut health, &config, Duration::from_secs(5), |h| {
        up(h, &config, real) == Some(false)
    })
    .expect("down after fall failures");
    println!("detection: {fell:?} (interval 100 ms x fall 3)");
    assert!(
        info(&health).last.starts_with("http: connect"),
        "{:?}",
        info(&health)
    );
    assert_eq!(info(&health).transitions, 1);
    assert!(health.overlay(&config) != Default::default());

    let _web = Server::start_on(&real.to_string(), Some("HTTP/1.1 200 OK\r\n\r\n"));
    let rose = poll_until(&mut health, &config, Duration::from_secs(5), |h| {
        up(h, &config, real) == Some(true)
    })
    .expect("up after rise successes");
    println!("recovery: {rose:?} (interval 100 ms x rise 2)");
    assert_eq!(info(&health).transitions, 2);
    assert_eq!(info(&health).successes, 2);
}

#[test]
fn misc_results_drive_the_overlay_inhibit_dynamic_weight_and_sorry() {
    use rvs_conntrack::Proto;
    use rvs_pipeline::overlay::RealEffect;

    let code = std::env::temp_dir().join(format!("rvs-misc-code-{}", std::process::id()));
    std::fs::write(&code, "0").unwrap();
    let real: SocketAddr = "10.1.0.11:80".parse().unwrap();
    let config = health_config(
        &format!(
            "kind = \"misc\"\ninterval = 0.05\ntimeout = 0.05\nrise = 1\nfall = 1\n\
             on_fail = \"inhibit\"\ndynamic = true\nsorry = \"10.1.0.99:80\"\n\
             command = [\"sh\", \"-c\", \"exit $(cat {})\"]",
            code.display()
        ),
        &[real],
    );
    let vip: SocketAddr = "10.0.0.100:80".parse().unwrap();
    let effect = |h: &Health| {
        h.overlay(&config)
            .effect(Proto::Tcp, vip, real.ip(), real.port())
    };
    let mut health = Health::default();
    health.configure(&config);
    let limit = Duration::from_secs(5);
    let info = |h: &Health| h.infos(&config).remove(0);
    assert!(poll_until(&mut health, &config, limit, |h| info(h).checks >= 2).is_some());
    assert_eq!((effect(&health), info(&health).weight), (None, 1));

    std::fs::write(&code, "1").unwrap();
    assert!(poll_until(&mut health, &config, limit, |h| !info(h).up).is_some());
    assert_eq!(effect(&health), Some(RealEffect::Inhibited));
    let down = info(&health);
    assert_eq!(down.weight, 0);
    assert_eq!(
        down.sorry,
        Some("10.1.0.99:80".parse().unwrap()),
        "no real up"
    );
    assert_eq!(down.last, "misc: exit status 1");

    std::fs::write(&code, "7").unwrap();
    assert!(poll_until(&mut health, &config, limit, |h| info(h).up).is_some());
    assert_eq!(effect(&health), Some(RealEffect::Weight(5)));
    assert_eq!((info(&health).weight, info(&health).sorry), (5, None));
    let _ = std::fs::remove_file(&code);
}
