//! Scaled-out and geo-distributed directors on the two-director lab (`rvs_lab::geo`): a
//! BGP router (BIRD, ECMP) in front of two rvsd directors, each announcing the VIP through
//! its own BIRD over the kernel exception path, with DR reals behind them.
//!
//! - ECMP: both directors' routes reach the router and traffic both; a director whose
//!   reals all fail withdraws and traffic moves to the other; SIGTERM withdraws at once.
//! - Geo: two sites (ASes) announce the VIP, the backup one with its AS prepended; the
//!   client reaches the preferred site, fails over when its reals die or its director is
//!   killed (BGP hold time), and comes back when it recovers.
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
    let stop = Instant::now();
    let report = rvsd2.stop();
    lab.wait_next_hops(&[1]);
    let gone = stop.elapsed();
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
