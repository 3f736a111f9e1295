//! Scaled-out and geo-distributed directors on the two-director lab (`rvs_lab::geo`): a
//! BGP router (BIRD, ECMP) in front of two rvsd directors, each announcing the VIP through
//! its own BIRD over the kernel exception path, with DR reals behind them.
//!
//! - ECMP: both directors' routes reach the router and traffic both; a director whose
//!   reals all fail withdraws and traffic moves to the other; SIGTERM withdraws at once.
//! - Geo: two sites (ASes) announce the VIP, the backup one with its AS prepended; the
//!   client reaches the preferred site, fails over when its reals die or its director is
//!   killed (within the BGP hold time), and comes back when it recovers.
//! - Flow takeover: with `mh` and `sloppy_tcp` on both directors, established DR
//!   connections carried by a director that is killed continue through the other.
//!
//! Each scenario prints what it measured (`lab: ...`). Needs root and the tools
//! `scripts/setup` installs (bird2 among them).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rvs_lab::geo::{director_wan, geo_real, GeoLab, ECHO_PORT, HOLD_TIME, VIP};
use rvs_lab::{preflight, Service, HTTP_PORT};

/// Health probes: every `INTERVAL` seconds, down after `FALL` failures.
const INTERVAL: f64 = 0.5;
const FALL: u32 = 2;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rvsd"))
}

/// The HTTP service on the VIP over reals `reals`, DR, with a TCP health check and
/// `keys` (announce keys, scheduler flags).
fn http_service(reals: &[usize], scheduler: &'static str, keys: &str) -> Service {
    let check =
        format!("kind = \"tcp\"\ninterval = {INTERVAL}\ntimeout = 0.4\nrise = 2\nfall = {FALL}\n");
    let s = Service::new("tcp", VIP, HTTP_PORT, scheduler)
        .keys(keys)
        .check(&check);
    reals
        .iter()
        .fold(s, |s, &i| s.real(&geo_real(i), HTTP_PORT, "dr", 1))
}

/// How many answers each real gave (by name), and failures as `-`.
fn served(answers: &[String], asked: usize) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in answers {
        let name = a.split_whitespace().next().unwrap_or("?");
        *out.entry(name.to_owned()).or_insert(0) += 1;
    }
    if answers.len() < asked {
        out.insert("-".to_owned(), asked - answers.len());
    }
    out
}

/// Acceptance 1: both directors' routes at the router, traffic through both; a
/// director whose reals all fail withdraws (traffic moves to the other) and comes back;
/// SIGTERM withdraws.
#[test]
fn lab_geo_ecmp_directors_announce_and_withdraw() {
    preflight();
    let mut lab = GeoLab::new('e');
    let d1 = lab.write_config(1, &[http_service(&[1], "rr", "")]);
    let d2 = lab.write_config(2, &[http_service(&[2, 3], "rr", "")]);
    let router = lab.start_router();
    let started = Instant::now();
    let (rvsd1, bird1) = lab.start_director(1, bin(), &d1);
    let (mut rvsd2, bird2) = lab.start_director(2, bin(), &d2);
    lab.wait_next_hops(&[1, 2]);
    eprintln!(
        "lab: both directors in the router's ECMP route {:?} after the first rvsd started",
        started.elapsed()
    );
    let route = router.route(&format!("{VIP}/32"));
    assert!(
        route.contains(&director_wan(1)) && route.contains(&director_wan(2)),
        "{route}"
    );

    let answers = lab.burst(40);
    let spread = served(&answers, 40);
    eprintln!("lab: 40 connections through ECMP: {spread:?}");
    assert_eq!(answers.len(), 40, "every request answered: {spread:?}");
    assert!(
        spread.contains_key("r1"),
        "director 1 carried none: {spread:?}"
    );
    assert!(
        spread.get("r2").unwrap_or(&0) + spread.get("r3").unwrap_or(&0) > 0,
        "director 2 carried none: {spread:?}\n{}",
        rvsd2.log()
    );

    // Director 1's only real dies: its health check takes it out, rvsd withdraws the VIP.
    let down = Instant::now();
    lab.stop_server("r1", "http");
    lab.wait_next_hops(&[2]);
    let withdrawn = down.elapsed();
    let answers = lab.burst(20);
    let spread = served(&answers, 20);
    eprintln!(
        "lab: director 1's last real stopped: its route left the router after {withdrawn:?} \
         (health detection included); then 20 connections: {spread:?}"
    );
    assert!(
        withdrawn < Duration::from_secs_f64(INTERVAL * f64::from(FALL) + 5.0),
        "{withdrawn:?}"
    );
    assert!(
        !spread.contains_key("r1") && !spread.contains_key("-"),
        "{spread:?}"
    );

    // It comes back: announced again.
    let up = Instant::now();
    lab.start_http(1);
    lab.wait_next_hops(&[1, 2]);
    eprintln!(
        "lab: director 1's real back: in the ECMP route again after {:?}",
        up.elapsed()
    );

    // Director 2 stops (SIGTERM): its route goes at once, director 1 carries everything.
    let (gone, report) = std::thread::scope(|scope| {
        let watch = scope.spawn(|| lab.wait_next_hops(&[1]));
        let report = rvsd2.stop();
        (watch.join().expect("route watch"), report)
    });
    let answers = lab.burst(20);
    let spread = served(&answers, 20);
    eprintln!(
        "lab: director 2 SIGTERM: route gone after {gone:?}; then 20 connections: {spread:?}"
    );
    assert!(
        gone < Duration::from_secs(3),
        "withdrawn, not timed out: {gone:?}"
    );
    assert_eq!(spread, BTreeMap::from([("r1".to_owned(), 20)]));
    assert!(
        report["kernel_sent"].as_u64().unwrap_or(0) > 0,
        "{report:#}"
    );
    drop((rvsd1, bird1, bird2, router));
}

/// Polls until the router's kernel routes the VIP to `director` only and the client is
/// answered by `real` (requests at most 1 s each, 30 s in all): when each happened.
fn wait_site(lab: &GeoLab, director: usize, real: &str) -> (Duration, Duration) {
    let start = Instant::now();
    let want = vec![director_wan(director)];
    let (mut routed, mut reached) = (None, None);
    while routed.is_none() || reached.is_none() {
        if routed.is_none() && lab.router_next_hops() == want {
            routed = Some(start.elapsed());
        }
        if reached.is_none()
            && lab
                .get()
                .is_some_and(|a| a.split_whitespace().next() == Some(real))
        {
            reached = Some(start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not moved to director {director} ({real}): next hops {:?}",
            lab.router_next_hops()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (routed.unwrap_or_default(), reached.unwrap_or_default())
}

/// Acceptance 2: site A (AS 65001, real r1) and site B (AS 65002, real r2, its AS
/// prepended twice) announce one VIP; the router prefers A. A's reals fail: the client
/// moves to B, and back when they recover; A's director is killed: B within the hold time,
/// A again once it restarts; A's director stops (SIGTERM): B at once.
#[test]
fn lab_geo_preferred_site_fails_over_and_back() {
    preflight();
    let mut lab = GeoLab::new('g');
    let a = lab.write_config(1, &[http_service(&[1], "rr", "")]);
    let b = lab.write_config(2, &[http_service(&[2], "rr", "announce_prepend = 2")]);
    let router = lab.start_router();
    let (rvsd_a, bird_a) = lab.start_director(1, bin(), &a);
    let (rvsd_b, bird_b) = lab.start_director(2, bin(), &b);
    let prefix = format!("{VIP}/32");
    router.wait_for(&prefix, |t| {
        t.contains(&director_wan(1)) && t.contains(&director_wan(2))
    });
    lab.wait_next_hops(&[1]);
    let detail = router.birdc(&["show", "route", &prefix, "all"]);
    assert!(
        detail.contains("BGP.as_path: 65002 65002 65002") && detail.contains("BGP.as_path: 65001"),
        "site B's path is prepended, A's is not:\n{detail}"
    );
    let answers = lab.burst(10);
    assert_eq!(
        served(&answers, 10),
        BTreeMap::from([("r1".to_owned(), 10)])
    );

    // Site A's reals fail.
    lab.stop_server("r1", "http");
    let (routed, reached) = wait_site(&lab, 2, "r2");
    eprintln!(
        "lab: site A's reals stopped: router on site B after {routed:?}, client reached B \
         after {reached:?} (health detection {INTERVAL} s x {FALL} included)"
    );
    let bound = Duration::from_secs_f64(INTERVAL * f64::from(FALL) + 5.0);
    assert!(routed < bound && reached < bound, "{routed:?} {reached:?}");

    // They recover.
    lab.start_http(1);
    let (routed, reached) = wait_site(&lab, 1, "r1");
    eprintln!(
        "lab: site A's reals back: router on A after {routed:?}, client on A after {reached:?}"
    );
    assert!(routed < bound && reached < bound, "{routed:?} {reached:?}");

    // Site A's director dies (SIGKILL): rvsd withdraws nothing; the router moves when the
    // BGP session ends.
    rvsd_a.kill();
    let (routed, reached) = wait_site(&lab, 2, "r2");
    eprintln!(
        "lab: site A's director killed: router on B after {routed:?}, client on B after \
         {reached:?} (BGP hold time {HOLD_TIME} s)"
    );
    let hold = Duration::from_secs(u64::from(HOLD_TIME));
    // The client follows the routers: within one request's timeout of the route change.
    assert!(
        reached <= routed + Duration::from_secs(2),
        "{routed:?} {reached:?}"
    );
    // No later than the hold time (with a margin for a loaded machine). It may come
    // sooner: site A's BIRD, still running, can close the session itself when it sees
    // the dead director's kernel mirror go, and the router then moves at once.
    assert!(routed < hold + Duration::from_secs(3), "{routed:?}");

    // It restarts: its BIRD (still running) peers again over the new kernel mirror.
    let restart = Instant::now();
    let rvsd_a = lab.start_rvsd(1, bin(), &a);
    let started = restart.elapsed();
    let (routed, reached) = wait_site(&lab, 1, "r1");
    eprintln!(
        "lab: site A's director restarted ({started:?} to run): router on A {routed:?} later, \
         client on A after {reached:?}"
    );
    assert!(routed < Duration::from_secs(20), "{routed:?}");

    // An orderly stop (SIGTERM) of site A's director withdraws at once.
    let (moved, report) = std::thread::scope(|scope| {
        let watch = scope.spawn(|| wait_site(&lab, 2, "r2"));
        let report = rvsd_a.stop();
        (watch.join().expect("site watch"), report)
    });
    let (routed, reached) = moved;
    eprintln!(
        "lab: site A's director stopped (SIGTERM): router on B after {routed:?}, client on B \
         after {reached:?}"
    );
    assert!(
        routed < Duration::from_secs(3),
        "withdrawn, not timed out: {routed:?}"
    );
    assert!(
        report["kernel_sent"].as_u64().unwrap_or(0) > 0,
        "{report:#}"
    );
    drop((rvsd_b, bird_a, bird_b, router));
}

/// The client of the flow-takeover test: `python3 - HOST PORT N SECONDS` opens N
/// connections (printing `open PORT` for each, then `ready`), then exchanges a numbered
/// line on each every 0.1 s until SECONDS have passed, checking each echo (`REAL LINE`)
/// and that the real never changes; prints `conn PORT REAL ok|fail:WHY EXCHANGES` each.
const ECHO_CLIENT: &str = r#"
import socket, sys, threading, time
host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(20)
    socks.append(s)
    print("open", s.getsockname()[1], flush=True)
print("ready", flush=True)
deadline = time.monotonic() + seconds
results = [None] * n
def run(i, s):
    lines, seq, real, why = s.makefile("rb"), 0, "-", ""
    while time.monotonic() < deadline and not why:
        line = ("%d %d\n" % (i, seq)).encode()
        try:
            s.sendall(line)
            got = lines.readline()
        except OSError as e:
            why = type(e).__name__
            break
        name, _, rest = got.decode(errors="replace").partition(" ")
        if rest.encode() != line:
            why = "bad-echo"
        elif real not in ("-", name):
            why = "moved-real"
        real = name
        seq += 1
        time.sleep(0.1)
    results[i] = "conn %d %s %s %d" % (s.getsockname()[1], real, "fail:" + why if why else "ok", seq)
    s.close()
threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(socks)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for r in results:
    print(r, flush=True)
"#;

/// Connections the flow-takeover test holds open.
const FLOWS: usize = 30;

/// Client ports of the connections director `i` holds (`rvsctl conns`).
fn carried(lab: &GeoLab, i: usize) -> Vec<u16> {
    use rvs_ctl::client;
    use rvs_ctl::proto::{Request, Response};
    match client::call(&lab.socket(i), Request::Conns { limit: 10_000 }).expect("conns") {
        Response::Conns { conns, .. } => conns.iter().map(|c| c.client.port()).collect(),
        other => panic!("not a connection listing: {other:?}"),
    }
}

/// Acceptance 3: two directors share flows over ECMP with `mh` (by port) and
/// `sloppy_tcp`; one is killed; its established DR connections continue through the
/// other, to the same real, intact.
#[test]
fn lab_geo_ecmp_established_flows_survive_losing_a_director() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    preflight();
    let lab = GeoLab::new('f');
    let service = || {
        (1..=3).fold(
            Service::new("tcp", VIP, ECHO_PORT, "mh").keys("flags = [\"mh-port\"]"),
            |s, i| s.real(&geo_real(i), ECHO_PORT, "dr", 1),
        )
    };
    let d1 = lab.write_config(1, &[service()]);
    let d2 = lab.write_config(2, &[service()]);
    let router = lab.start_router();
    let (rvsd1, bird1) = lab.start_director(1, bin(), &d1);
    let (rvsd2, bird2) = lab.start_director(2, bin(), &d2);
    lab.wait_next_hops(&[1, 2]);

    let script = lab.dir().join("echo_client.py");
    std::fs::write(&script, ECHO_CLIENT).expect("client script");
    let mut client = Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), "python3"])
        .arg(&script)
        .args([VIP, &ECHO_PORT.to_string(), &FLOWS.to_string(), "16"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("echo client");
    let mut lines = BufReader::new(client.stdout.take().expect("stdout")).lines();
    for line in lines.by_ref() {
        if line.expect("client output") == "ready" {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let (on1, on2) = (carried(&lab, 1), carried(&lab, 2));
    eprintln!(
        "lab: {FLOWS} connections: {} on director 1, {} on director 2",
        on1.len(),
        on2.len()
    );
    assert_eq!(on1.len() + on2.len(), FLOWS, "{on1:?} {on2:?}");
    assert!(!on1.is_empty() && !on2.is_empty(), "ECMP used one director");

    // Director 1 dies without a word: the router drops it after the hold time.
    let killed = Instant::now();
    rvsd1.kill();
    lab.wait_next_hops(&[2]);
    eprintln!(
        "lab: director 1 killed: out of the router's route after {:?}",
        killed.elapsed()
    );

    let status = client.wait().expect("client");
    let results: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "client failed: {results:?}");
    let conns: Vec<(u16, String, String, u64)> = results
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 5 && w[0] == "conn").then(|| {
                (
                    w[1].parse().unwrap_or(0),
                    w[2].to_owned(),
                    w[3].to_owned(),
                    w[4].parse().unwrap_or(0),
                )
            })
        })
        .collect();
    assert_eq!(conns.len(), FLOWS, "{results:?}");
    let survived = |on: &[u16]| {
        conns
            .iter()
            .filter(|(port, _, state, _)| on.contains(port) && state == "ok")
            .count()
    };
    let (moved, stayed) = (survived(&on1), survived(&on2));
    eprintln!(
        "lab: survived {moved} of {} connections moved from the killed director, {stayed} of {} \
         that stayed on the other; exchanges per connection {:?}",
        on1.len(),
        on2.len(),
        conns.iter().map(|c| c.3).collect::<Vec<_>>()
    );
    let after = carried(&lab, 2);
    assert!(
        on1.iter().all(|p| after.contains(p)),
        "director 2 took over every moved connection: {after:?}"
    );
    assert_eq!(stayed, on2.len(), "{results:?}");
    assert_eq!(moved, on1.len(), "{results:?}");
    drop((rvsd2, bird1, bird2, router));
}
