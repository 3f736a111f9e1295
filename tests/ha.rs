//! High availability on the HA lab (`rvs_lab::ha`): rvsd's VRRPv3 against a real
//! keepalived in one virtual router, and two rvsd directors failing over.
//!
//! Each scenario prints what it measured (`lab: ...`). Needs root and the tools
//! `scripts/setup` installs (keepalived among them).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rvs_ctl::client;
use rvs_ctl::proto::{HaStatus, Request, Response};
use rvs_lab::ha::{
    ha_director, ha_real, HaLab, HA_LADDR, HA_VIP, HA_VIP2, KEEPALIVED_ADDR, SLOW_CHUNK,
    SLOW_CHUNKS,
};
use rvs_lab::{preflight, Service, HTTP_PORT};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rvsd"))
}

/// The NAT service on the VIP over both reals.
fn nat_service() -> Service {
    Service::new("tcp", HA_VIP, HTTP_PORT, "rr")
        .real(&ha_real(1), HTTP_PORT, "nat", 1)
        .real(&ha_real(2), HTTP_PORT, "nat", 1)
}

/// Director's `[ha]` status through its control socket.
fn ha_status(socket: &Path) -> HaStatus {
    match client::call(socket, Request::Status).expect("status") {
        Response::Status(s) => *s.ha.expect("an [ha] block in the status"),
        other => panic!("status answered {other:?}"),
    }
}

/// The director's non-zero drops by reason, and its neighbours: what a failure shows.
fn diagnose(socket: &Path) -> String {
    let drops = match client::call(socket, Request::Drops) {
        Ok(Response::Drops(d)) => format!(
            "{:?}",
            d.into_iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    };
    let neigh = client::call(socket, Request::Neighbors);
    format!("drops {drops}\nneighbours {neigh:?}")
}

/// Waits (at most `limit`) until `done` holds, polling every 10 ms: how long it took.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// Waits until director `socket` is in `state`.
fn wait_rvsd(socket: &Path, state: &str, limit: Duration) -> Duration {
    wait_for(&format!("rvsd {state}"), limit, || {
        ha_status(socket).state == state
    })
}

/// Waits until keepalived's last notified state is `state`.
fn wait_keepalived(lab: &HaLab, state: &str, limit: Duration) -> Duration {
    wait_for(&format!("keepalived {state}"), limit, || {
        lab.keepalived_states().last().map(String::as_str) == Some(state)
    })
}

/// Advert interval of both routers in the keepalived test, in seconds.
const INTERVAL: f64 = 1.0;

/// Master down interval of a backup at `priority` (RFC 5798: 3 x interval + skew).
fn master_down(priority: u8) -> Duration {
    master_down_at(priority, INTERVAL)
}

/// [`master_down`] with an advert interval of `interval` seconds.
fn master_down_at(priority: u8, interval: f64) -> Duration {
    let skew = (256.0 - f64::from(priority)) * interval / 256.0;
    Duration::from_secs_f64(3.0 * interval + skew)
}

/// The director's count of drops for `reason`.
fn drops(socket: &Path, reason: &str) -> u64 {
    match client::call(socket, Request::Drops).expect("drops") {
        Response::Drops(d) => d.iter().find(|(r, _)| r == reason).map_or(0, |(_, n)| *n),
        other => panic!("drops answered {other:?}"),
    }
}

/// Acceptance 2: rvsd and keepalived in one virtual router see each other's adverts, the
/// higher priority is master as priorities change, and a backup rvsd answers no ARP for
/// the VIP.
#[test]
fn lab_ha_interoperates_with_keepalived() {
    preflight();
    let lab = HaLab::new('k');
    let rvsd_mac = lab.mac("d1", "w1");
    let keepalived_mac = lab.mac("k", "k0");
    let socket: PathBuf = lab.socket(1);
    let slack = Duration::from_secs(2);

    // keepalived alone becomes master.
    let keepalived = lab.start_keepalived(100, INTERVAL);
    let alone = wait_keepalived(&lab, "MASTER", master_down(100) + slack);
    eprintln!("lab: keepalived alone became master after {alone:?}");

    // rvsd at 150 preempts it.
    let high = lab.write_config(1, 150, INTERVAL, "", &[nat_service()]);
    let started = Instant::now();
    let mut rvsd = lab.start_rvsd(1, bin(), &high);
    wait_keepalived(&lab, "BACKUP", master_down(150) + slack * 2);
    wait_rvsd(&socket, "master", slack);
    eprintln!(
        "lab: rvsd (150) took over from keepalived (100) {:?} after it started",
        started.elapsed()
    );
    let s = ha_status(&socket);
    assert!(
        s.adverts_received > 0 && s.adverts_refused == 0,
        "rvsd took keepalived's adverts: {s:?}"
    );
    // keepalived stays backup: it takes rvsd's adverts.
    std::thread::sleep(master_down(100) + Duration::from_millis(500));
    assert_eq!(
        lab.keepalived_states().last().map(String::as_str),
        Some("BACKUP"),
        "keepalived: {:?}\n{}",
        lab.keepalived_states(),
        lab.keepalived_log()
    );
    assert_eq!(lab.arp_answers(HA_VIP), [rvsd_mac.as_str()], "rvsd master");
    let answer = lab
        .get(2.0)
        .unwrap_or_else(|| panic!("{}\n{}", diagnose(&socket), rvsd.log()));
    assert!(answer.starts_with('r'), "{answer}");

    // SIGTERM: rvsd leaves with priority 0, keepalived takes over at once (skew time).
    let stopping = Instant::now();
    rvsd.stop();
    let quick = wait_keepalived(&lab, "MASTER", slack);
    eprintln!(
        "lab: rvsd stopped (priority 0): keepalived master {:?} after SIGTERM",
        stopping.elapsed()
    );
    assert!(quick < Duration::from_secs_f64(INTERVAL + 1.0), "{quick:?}");
    assert_eq!(lab.arp_answers(HA_VIP), [keepalived_mac.as_str()]);

    // rvsd back at 50: it stays backup, sees keepalived's adverts, answers no ARP.
    let low = lab.write_config(1, 50, INTERVAL, "", &[nat_service()]);
    let mut rvsd = lab.start_rvsd(1, bin(), &low);
    std::thread::sleep(master_down(50) + Duration::from_millis(500));
    let s = ha_status(&socket);
    assert_eq!(s.state, "backup", "{s:?}\n{}", rvsd.log());
    assert_eq!(s.master.as_deref(), Some(KEEPALIVED_ADDR), "{s:?}");
    assert!(s.adverts_received >= 3 && s.adverts_sent == 0, "{s:?}");
    assert_eq!(
        lab.arp_answers(HA_VIP),
        [keepalived_mac.as_str()],
        "rvsd backup"
    );

    // keepalived dies without a word: rvsd takes over after its master down interval.
    let killed = Instant::now();
    lab.crash_keepalived(keepalived);
    let took = wait_rvsd(&socket, "master", master_down(50) + slack);
    eprintln!(
        "lab: keepalived SIGKILLed: rvsd (50) master after {took:?} (master down interval {:?})",
        master_down(50)
    );
    // The timer runs from the last advert, at most an interval before the kill.
    let earliest = master_down(50) - Duration::from_secs_f64(INTERVAL + 0.1);
    assert!(killed.elapsed() >= earliest, "{took:?}");
    assert_eq!(lab.arp_answers(HA_VIP), [rvsd_mac.as_str()]);
    assert!(lab.get(2.0).is_some(), "{}", rvsd.log());

    // keepalived back at 200 preempts rvsd.
    let back = Instant::now();
    let _keepalived = lab.start_keepalived(200, INTERVAL);
    wait_rvsd(&socket, "backup", master_down(200) + slack);
    wait_keepalived(&lab, "MASTER", slack);
    eprintln!(
        "lab: keepalived (200) back: rvsd backup {:?} after keepalived started",
        back.elapsed()
    );
    assert_eq!(lab.arp_answers(HA_VIP), [keepalived_mac]);
    let s = ha_status(&socket);
    assert!(s.transitions >= 2 && s.split_brain == 0, "{s:?}");
    let states = std::fs::read_to_string(lab.notify_file(1)).unwrap_or_default();
    assert!(
        states.lines().any(|l| l == "master"),
        "rvsd notify: {states}"
    );
    eprintln!(
        "lab: rvsd notified states {:?}",
        states.lines().collect::<Vec<_>>()
    );
}

/// Advert interval of the two rvsd directors, in seconds.
const PAIR_INTERVAL: f64 = 0.5;

/// Requests until one succeeds (each at most `timeout_s`), for at most `limit`: how
/// long until a new connection succeeded.
fn first_answer(lab: &HaLab, timeout_s: f64, limit: Duration) -> Duration {
    let start = Instant::now();
    while lab.get(timeout_s).is_none() {
        assert!(
            start.elapsed() < limit,
            "no new connection within {limit:?}"
        );
    }
    start.elapsed()
}

/// Two rvsd directors, no connection sync: SIGKILL of the master, the backup takes over
/// within its master down interval and new connections succeed through it; the first
/// comes back and, with preemption, takes the VIP back.
#[test]
fn lab_ha_two_directors_fail_over() {
    preflight();
    let lab = HaLab::new('f');
    let macs = [lab.mac("d1", "w1"), lab.mac("d2", "w2")];
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let c1 = lab.write_config(1, 150, PAIR_INTERVAL, "", &[nat_service()]);
    let c2 = lab.write_config(2, 100, PAIR_INTERVAL, "", &[nat_service()]);
    let rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let mut rvsd2 = lab.start_rvsd(2, bin(), &c2);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack,
    );
    wait_rvsd(&sockets[1], "backup", slack);
    assert_eq!(lab.arp_answers(HA_VIP), [macs[0].as_str()]);
    assert!(
        drops(&sockets[1], "ha_backup") > 0,
        "the backup counts what it withholds"
    );
    for _ in 0..5 {
        let answer = lab
            .get(2.0)
            .unwrap_or_else(|| panic!("{}", diagnose(&sockets[0])));
        assert!(answer.starts_with('r'), "{answer}");
    }
    let s2 = ha_status(&sockets[1]);
    assert_eq!(
        s2.master.as_deref(),
        Some(ha_director(1).as_str()),
        "{s2:?}"
    );

    // The master dies.
    let killed = Instant::now();
    rvsd1.kill();
    let took = wait_rvsd(
        &sockets[1],
        "master",
        master_down_at(100, PAIR_INTERVAL) + slack,
    );
    let served = first_answer(&lab, 0.5, Duration::from_secs(10)) + took;
    let bound = master_down_at(100, PAIR_INTERVAL);
    eprintln!(
        "lab: master SIGKILLed: backup master after {took:?} (bound: 3 x {PAIR_INTERVAL} s + skew = \
         {bound:?}), first new connection through it after {served:?} (from the kill: {:?})",
        killed.elapsed()
    );
    // Measured through the status socket: the 20 ms control poll and this loop's own.
    assert!(
        took <= bound + Duration::from_millis(200),
        "{took:?} > {bound:?}"
    );
    assert_eq!(lab.arp_answers(HA_VIP), [macs[1].as_str()]);
    for _ in 0..5 {
        assert!(
            lab.get(2.0).is_some(),
            "{}\n{}",
            diagnose(&sockets[1]),
            rvsd2.log()
        );
    }

    // It comes back and takes the VIP back (preemption).
    let back = Instant::now();
    let rvsd1 = lab.start_rvsd(1, bin(), &c1);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack,
    );
    wait_rvsd(&sockets[1], "backup", slack);
    eprintln!(
        "lab: the first director back: master again {:?} after it started",
        back.elapsed()
    );
    assert_eq!(lab.arp_answers(HA_VIP), [macs[0].as_str()]);
    let served = first_answer(&lab, 0.5, Duration::from_secs(10));
    eprintln!("lab: first new connection after the preemption in {served:?}");
    for _ in 0..5 {
        assert!(lab.get(2.0).is_some(), "{}", diagnose(&sockets[0]));
    }
    let s1 = ha_status(&sockets[0]);
    assert_eq!(s1.split_brain, 0, "{s1:?}");
    drop(rvsd1);
}

/// The FULLNAT service on the second VIP over both reals.
fn fullnat_service() -> Service {
    Service::new("tcp", HA_VIP2, HTTP_PORT, "rr")
        .laddrs(&[HA_LADDR])
        .real(&ha_real(1), HTTP_PORT, "fullnat", 1)
        .real(&ha_real(2), HTTP_PORT, "fullnat", 1)
}

/// The sync counters of a director.
fn sync_status(socket: &Path) -> rvs_ctl::proto::HaSyncStatus {
    ha_status(socket).sync.expect("a sync block in the status")
}

/// Acceptance 1: with connection sync, slow NAT and FULLNAT downloads survive the
/// master's SIGKILL and its return (preemption), and new connections succeed throughout.
#[test]
fn lab_ha_sync_keeps_connections_across_failover() {
    sync_failover('s', 1);
}

/// [`lab_ha_sync_keeps_connections_across_failover`] with two workers per director:
/// each synced connection lands on the worker that owns it.
#[test]
fn lab_ha_sync_keeps_connections_across_failover_two_workers() {
    sync_failover('w', 2);
}

/// The sync failover scenario in lab `tag` with `workers` workers per director.
fn sync_failover(tag: char, workers: u16) {
    preflight();
    let lab = HaLab::new(tag);
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let services = [nat_service(), fullnat_service()];
    let config = |i, priority| {
        let sync = lab.sync_section(i);
        lab.write_config_workers(i, workers, priority, PAIR_INTERVAL, &sync, &services)
    };
    let (c1, c2) = (config(1, 150), config(2, 100));
    let rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let mut rvsd2 = lab.start_rvsd(2, bin(), &c2);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack,
    );
    wait_rvsd(&sockets[1], "backup", slack);
    for vip in [HA_VIP, HA_VIP2] {
        assert!(
            lab.get_from(vip, 2.0).is_some(),
            "{vip}: {}",
            diagnose(&sockets[0])
        );
    }

    // Long-lived downloads through both services.
    const EACH: usize = 4;
    let mut downloads: Vec<(&str, std::process::Child)> = Vec::new();
    for _ in 0..EACH {
        for vip in [HA_VIP, HA_VIP2] {
            downloads.push((vip, lab.slow_download(vip, 60)));
        }
    }
    let y = downloads.len();
    // The backup learns them (each new connection at the master's next tick).
    wait_for(
        "the backup installs the downloads",
        Duration::from_secs(5),
        || sync_status(&sockets[1]).installed >= y as u64,
    );

    // The backup holds them, each on the worker that owns it (a FULLNAT one on the
    // worker its local port names).
    let held = match client::call(&sockets[1], Request::Conns { limit: 100 }).expect("conns") {
        Response::Conns { conns, .. } => conns,
        other => panic!("conns answered {other:?}"),
    };
    let owners: std::collections::BTreeSet<u16> = held.iter().map(|c| c.worker).collect();
    eprintln!(
        "lab: sync: the backup holds {} connections on workers {owners:?}",
        held.len()
    );
    assert!(held.len() >= y, "{held:?}");
    for c in held.iter().filter(|c| c.local.is_some()) {
        let port = c.local.map_or(0, |l| l.port());
        assert_eq!(port % workers, c.worker, "{c:?}");
    }
    if workers > 1 {
        assert!(owners.len() > 1, "every connection on one worker: {held:?}");
    }

    // The master dies.
    let killed = Instant::now();
    rvsd1.kill();
    let took = wait_rvsd(
        &sockets[1],
        "master",
        master_down_at(100, PAIR_INTERVAL) + slack,
    );
    let served = first_answer(&lab, 0.5, Duration::from_secs(10));
    eprintln!(
        "lab: sync: master SIGKILLed: backup master after {took:?}, first new connection {:?} after the kill",
        killed.elapsed()
    );
    let _ = served;
    let mut new_ok = 0;
    for vip in [HA_VIP, HA_VIP2].iter().cycle().take(10) {
        new_ok += usize::from(lab.get_from(vip, 2.0).is_some());
    }
    assert_eq!(
        new_ok,
        10,
        "new connections after the takeover: {}",
        diagnose(&sockets[1])
    );

    // It comes back and preempts; the downloads carry on again.
    std::thread::sleep(Duration::from_secs(1));
    let back = Instant::now();
    let rvsd1 = lab.start_rvsd(1, bin(), &c1);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack * 2,
    );
    wait_rvsd(&sockets[1], "backup", slack);
    eprintln!(
        "lab: sync: the first director back, master again {:?} after it started; it had installed {:?}",
        back.elapsed(),
        sync_status(&sockets[0])
    );
    let mut new_ok = 0;
    for vip in [HA_VIP, HA_VIP2].iter().cycle().take(10) {
        new_ok += usize::from(lab.get_from(vip, 2.0).is_some());
    }

    // Every download completes intact (curl checks the length it was promised).
    let want = format!("{} 200", SLOW_CHUNKS * SLOW_CHUNK);
    let mut survived = 0;
    let mut failed = Vec::new();
    for (vip, child) in downloads {
        let out = child.wait_with_output().expect("wait for curl");
        let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && said == want {
            survived += 1;
        } else {
            failed.push(format!("{vip}: {} {said}", out.status));
        }
    }
    eprintln!(
        "lab: sync ({workers} worker(s)): survived {survived} of {y} long-lived downloads \
         ({EACH} NAT, {EACH} FULLNAT) across SIGKILL of the master and its return; failed: {failed:?}"
    );
    eprintln!(
        "lab: sync: director 1 {:?}\nlab: sync: director 2 {:?}",
        sync_status(&sockets[0]),
        sync_status(&sockets[1])
    );
    assert_eq!(
        new_ok,
        10,
        "new connections after the return: {}",
        diagnose(&sockets[0])
    );
    assert_eq!(survived, y, "{failed:?}\n{}", rvsd2.log());
    drop(rvsd1);
}

/// Directors with different worker counts: the backup refuses the sync messages (a
/// connection would land on the wrong worker), says why once in its log, counts them.
#[test]
fn lab_ha_sync_refuses_a_worker_count_mismatch() {
    preflight();
    let lab = HaLab::new('m');
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let services = [nat_service()];
    let c1 = lab.write_config_workers(1, 1, 150, PAIR_INTERVAL, &lab.sync_section(1), &services);
    let c2 = lab.write_config_workers(2, 2, 100, PAIR_INTERVAL, &lab.sync_section(2), &services);
    let _rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let mut rvsd2 = lab.start_rvsd(2, bin(), &c2);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack,
    );
    let mut download = lab.slow_download(HA_VIP, 20);
    wait_for("the backup refuses sync", Duration::from_secs(5), || {
        sync_status(&sockets[1]).messages_refused > 0
    });
    let s = sync_status(&sockets[1]);
    assert_eq!((s.records_received, s.installed), (0, 0), "{s:?}");
    let log = rvsd2.log();
    let said: Vec<&str> = log.lines().filter(|l| l.contains("ha.sync")).collect();
    eprintln!("lab: sync between 1 and 2 workers: {said:?}");
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(
        said[0].contains("the sender runs 1 workers, this director 2"),
        "{said:?}"
    );
    let _ = download.kill();
    let _ = download.wait();
}

/// Acceptance 2 with unicast adverts both ways (keepalived's `unicast_peer`, rvsd's
/// `unicast_peers`): each takes the other's, the higher priority is master, SIGTERM
/// hands over at once.
#[test]
fn lab_ha_interoperates_with_keepalived_over_unicast() {
    preflight();
    let lab = HaLab::new('u');
    let socket = lab.socket(1);
    let slack = Duration::from_secs(2);
    let keepalived = lab.start_keepalived_to(100, INTERVAL, &[1]);
    wait_keepalived(&lab, "MASTER", master_down(100) + slack);
    let peers = format!("unicast_peers = [\"{KEEPALIVED_ADDR}\"]");
    let config = lab.write_config(1, 150, INTERVAL, &peers, &[nat_service()]);
    let started = Instant::now();
    let rvsd = lab.start_rvsd(1, bin(), &config);
    wait_keepalived(&lab, "BACKUP", master_down(150) + slack * 2);
    wait_rvsd(&socket, "master", slack);
    eprintln!(
        "lab: unicast: rvsd (150) took over from keepalived (100) {:?} after it started",
        started.elapsed()
    );
    let s = ha_status(&socket);
    assert!(
        s.adverts_received > 0 && s.adverts_refused == 0,
        "rvsd took keepalived's unicast adverts: {s:?}"
    );
    std::thread::sleep(master_down(100) + Duration::from_millis(500));
    assert_eq!(
        lab.keepalived_states().last().map(String::as_str),
        Some("BACKUP"),
        "keepalived takes rvsd's unicast adverts:\n{}",
        lab.keepalived_log()
    );
    let stopping = Instant::now();
    rvsd.stop();
    wait_keepalived(&lab, "MASTER", slack);
    eprintln!(
        "lab: unicast: rvsd stopped (priority 0): keepalived master {:?} after SIGTERM",
        stopping.elapsed()
    );
    keepalived.stop();
}
