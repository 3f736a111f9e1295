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
    ha_director, ha_real, HaLab, HA_CLIENT, HA_LADDR, HA_VIP, HA_VIP2, KEEPALIVED_ADDR, PROXY_PORT,
    SLOW_CHUNK, SLOW_CHUNKS, VRID,
};
use rvs_lab::{preflight, Rvsd, Service, HTTP_PORT};

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

/// Starts the synced pair of `lab`, each director with `workers` workers and `services`:
/// director 1 (priority 150) once master, director 2 (100) once backup. Returns both and
/// director 1's configuration file (to start it again).
fn start_synced_pair(lab: &HaLab, workers: u16, services: &[Service]) -> (Rvsd, Rvsd, PathBuf) {
    let slack = Duration::from_secs(2);
    let config = |i, priority| {
        let sync = lab.sync_section(i);
        lab.write_config_workers(i, workers, priority, PAIR_INTERVAL, &sync, services)
    };
    let (c1, c2) = (config(1, 150), config(2, 100));
    let rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let rvsd2 = lab.start_rvsd(2, bin(), &c2);
    wait_rvsd(
        &lab.socket(1),
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack,
    );
    wait_rvsd(&lab.socket(2), "backup", slack);
    (rvsd1, rvsd2, c1)
}

/// The sync failover scenario in lab `tag` with `workers` workers per director.
fn sync_failover(tag: char, workers: u16) {
    preflight();
    let lab = HaLab::new(tag);
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let services = [nat_service(), fullnat_service()];
    let (rvsd1, mut rvsd2, c1) = start_synced_pair(&lab, workers, &services);
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
    let fullnat_ports = ports_owned_in_turn(workers, EACH);
    for port in fullnat_ports {
        downloads.push((HA_VIP, lab.slow_download(HA_VIP, 60)));
        downloads.push((HA_VIP2, lab.slow_download_from(HA_VIP2, 60, port)));
    }
    let y = downloads.len();
    // The backup learns them (each new connection and state change at the master's next
    // tick): it holds every download as an established connection.
    let backup_conns = || match client::call(&sockets[1], Request::Conns { limit: 100 }) {
        Ok(Response::Conns { conns, .. }) => conns,
        other => panic!("conns answered {other:?}"),
    };
    let established = |conns: &[rvs_ctl::proto::ConnInfo]| {
        conns.iter().filter(|c| c.state == "ESTABLISHED").count()
    };
    wait_for(
        "the backup holds the downloads",
        Duration::from_secs(5),
        || established(&backup_conns()) >= y,
    );

    // The backup holds them, each on the worker that owns it (a FULLNAT one on the
    // worker its local port names).
    let held = backup_conns();
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

/// Client ports for `n` FULLNAT connections of the lab client, owned by each of `workers`
/// workers in turn (a FULLNAT service is owned per connection, by a hash of the client's
/// address and port), so that a test with several workers sees connections on each of
/// them rather than on one by chance (1 in 16 for 5 connections over 2 workers); `None`
/// (any port) with one worker.
fn ports_owned_in_turn(workers: u16, n: usize) -> Vec<Option<u16>> {
    if workers <= 1 {
        return vec![None; n];
    }
    let client: std::net::IpAddr = HA_CLIENT.parse().expect("the lab client's address");
    let mut candidates = 20_000u16..;
    (0..n)
        .map(|i| {
            let want = (i % usize::from(workers)) as u16;
            candidates
                .find(|&p| rvs_pipeline::ownership::owner_by_client(client, p, workers) == want)
        })
        .collect()
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

/// The client address services of [`lab_ha_sync_keeps_client_address_features_across_failover`]:
/// PROXY v2 to nginx.
const PP2_VIP: &str = "10.50.0.12";
/// SYN proxy with PROXY v1, to nginx.
const SYN_VIP: &str = "10.50.0.13";
/// TOA, to the reals' plain HTTP server.
const TOA_VIP: &str = "10.50.0.14";
/// The three services' local addresses, in the same order.
const CA_LADDRS: [&str; 3] = ["10.60.0.201", "10.60.0.202", "10.60.0.203"];
/// The file nginx serves for the long downloads: at [`rvs_lab::ha::SLOW_RATE`] (256 KiB/s)
/// 4 MiB take 16 s, twice the time from a download's start to the takeover's end.
const BIG: usize = 4 << 20;
/// Downloads per service.
const PER_SERVICE: usize = 2;

/// The three FULLNAT services over both reals: PROXY v2 and SYN proxy (with PROXY v1)
/// to nginx's PROXY listener, TOA to the plain HTTP server.
fn client_address_services() -> Vec<Service> {
    let fullnat = |vip: &str, laddr: &str, port: u16, keys: &str| {
        Service::new("tcp", vip, 80, "rr")
            .laddrs(&[laddr])
            .real(&ha_real(1), port, "fullnat", 1)
            .real(&ha_real(2), port, "fullnat", 1)
            .keys(keys)
    };
    vec![
        fullnat(
            PP2_VIP,
            CA_LADDRS[0],
            PROXY_PORT,
            "client_address = \"proxy-v2\"",
        ),
        fullnat(
            SYN_VIP,
            CA_LADDRS[1],
            PROXY_PORT,
            "client_address = \"proxy-v1\"\nsynproxy = true",
        ),
        fullnat(TOA_VIP, CA_LADDRS[2], HTTP_PORT, "client_address = \"toa\""),
    ]
}

/// `len` pseudo-random bytes (xorshift: a stream shifted by a few bytes matches nowhere).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the reals' plain HTTP server sends for `GET /slow` (`rvs_lab::ha`'s script).
fn slow_body() -> Vec<u8> {
    let chunk: Vec<u8> = (0..SLOW_CHUNK).map(|i| (i % 251) as u8).collect();
    chunk.repeat(SLOW_CHUNKS)
}

/// A download from the client into `out`, at most `limit_s` seconds; curl prints
/// `BYTES CODE` when done.
fn download_to(lab: &HaLab, url: &str, out: &Path, limit_s: u32) -> std::process::Child {
    std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), "curl", "-s", "-o"])
        .arg(out)
        .args(["-w", "%{size_download} %{http_code}"])
        .args(["-m", &limit_s.to_string(), url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start curl: {e}"))
}

/// One request from the client (at most `timeout_s`): the HTTP code and the client's
/// port, or `None` when it failed.
fn request(lab: &HaLab, url: &str, timeout_s: f64) -> Option<(String, u16)> {
    let out = lab.exec(
        "c",
        &[
            "curl",
            "-s",
            "-m",
            &timeout_s.to_string(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{local_port}",
            url,
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, port) = said.split_once(' ')?;
    if !out.status.success() || code == "000" {
        return None;
    }
    Some((code.to_owned(), port.parse().ok()?))
}

/// Requests `url` until one succeeds (each at most `timeout_s`, for at most `limit`).
fn first_success(lab: &HaLab, url: &str, timeout_s: f64, limit: Duration) -> (String, u16) {
    let start = Instant::now();
    loop {
        if let Some(answer) = request(lab, url, timeout_s) {
            return answer;
        }
        assert!(start.elapsed() < limit, "{url}: no answer within {limit:?}");
    }
}

/// The client's request through `vip` to `/small` on nginx (PROXY protocol): answered,
/// and logged by one of the reals with the client's own address and port from the
/// header, through local address `laddr`.
fn check_logged(lab: &HaLab, vip: &str, laddr: &str, when: &str) -> String {
    let (code, port) = first_success(
        lab,
        &format!("http://{vip}/small"),
        3.0,
        Duration::from_secs(10),
    );
    assert_eq!(code, "200", "{vip} {when}");
    let client = format!("{HA_CLIENT}:{port}");
    // nginx writes the line when it has answered: it is there once curl has its answer,
    // but give the file system a moment on a loaded machine.
    let mut line = None;
    let _ = wait_for("nginx logs the request", Duration::from_secs(5), || {
        line = (1..=2)
            .flat_map(|i| lab.nginx_log(i))
            .find(|l| l.starts_with(&format!("{client} ")) && l.contains(" /small "));
        line.is_some()
    });
    let line = line.unwrap_or_default();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(
        fields,
        [client.as_str(), laddr, "GET", "/small", "200", "6"],
        "{vip} {when}: nginx's line"
    );
    line
}

/// The client's request through the TOA service: answered, and its segments to the real
/// carry TOA with the client's port and address.
fn check_toa(lab: &HaLab, when: &str) -> String {
    let watch = lab.watch_toa(30);
    let (code, port) = first_success(
        lab,
        &format!("http://{TOA_VIP}/"),
        3.0,
        Duration::from_secs(10),
    );
    assert_eq!(code, "200", "TOA {when}");
    let seen = watch.address_for(port, Duration::from_secs(5));
    assert_eq!(
        seen.as_deref(),
        Some(HA_CLIENT),
        "TOA {when}: the option for client port {port}"
    );
    format!("{port} {HA_CLIENT}")
}

/// The backup's ESTABLISHED connections through `vip`.
fn established_through(socket: &Path, vip: &str) -> usize {
    let vip: std::net::IpAddr = vip.parse().expect("a VIP");
    match client::call(socket, Request::Conns { limit: 1000 }).expect("conns") {
        Response::Conns { conns, .. } => conns
            .iter()
            .filter(|c| c.vip.ip() == vip && c.state == "ESTABLISHED")
            .count(),
        other => panic!("conns answered {other:?}"),
    }
}

/// With connection sync, long FULLNAT downloads through a PROXY
/// v2 service, a SYN-proxied PROXY v1 service (both to nginx) and a TOA service survive
/// SIGKILL of the master byte for byte, and the reals learn the client's address for
/// new connections before and after the takeover (nginx's log, the TOA option).
#[test]
fn lab_ha_sync_keeps_client_address_features_across_failover() {
    preflight();
    let mut lab = HaLab::new('a');
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let www = lab.www();
    let big = random_bytes(BIG);
    std::fs::write(www.join("big"), &big).expect("big file");
    std::fs::write(www.join("small"), "small\n").expect("small file");
    for i in 1..=2 {
        lab.start_nginx(i);
    }
    let services = client_address_services();
    let (rvsd1, mut rvsd2, _) = start_synced_pair(&lab, 1, &services);

    // Before: the reals learn the client's address through each service.
    let before = [
        check_logged(&lab, PP2_VIP, CA_LADDRS[0], "before"),
        check_logged(&lab, SYN_VIP, CA_LADDRS[1], "before"),
        check_toa(&lab, "before"),
    ];
    eprintln!("lab: client address before the failover: {before:?}");

    // Long downloads through each: about 19 s with the takeover's gap; a download the
    // new master cannot carry on (a stream shift not synced stalls it) ends at 60 s.
    let started = Instant::now();
    let mut downloads = Vec::new();
    for n in 0..PER_SERVICE {
        for (vip, path, want) in [
            (PP2_VIP, "/slow/big", BIG),
            (SYN_VIP, "/slow/big", BIG),
            (TOA_VIP, "/slow", SLOW_CHUNKS * SLOW_CHUNK),
        ] {
            let out = lab.dir().join(format!("download-{vip}-{n}"));
            let child = download_to(&lab, &format!("http://{vip}{path}"), &out, 60);
            downloads.push((vip, out, want, child));
        }
    }
    // The backup holds every one, established (a sync pass every 250 ms); a second
    // more, so that passes after the handshakes carry each stream's settled state.
    let held = wait_for(
        "the backup holds the downloads, established",
        Duration::from_secs(10),
        || {
            [PP2_VIP, SYN_VIP, TOA_VIP]
                .iter()
                .all(|vip| established_through(&sockets[1], vip) >= PER_SERVICE)
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    for (vip, _, _, child) in &mut downloads {
        assert!(
            child.try_wait().expect("curl").is_none(),
            "{vip}: a download ended before the failover"
        );
    }

    // The master dies.
    let killed = Instant::now();
    let into = started.elapsed();
    rvsd1.kill();
    let took = wait_rvsd(
        &sockets[1],
        "master",
        master_down_at(100, PAIR_INTERVAL) + slack,
    );
    eprintln!(
        "lab: client address: the backup held the downloads {held:?} after they started; \
         master SIGKILLed {into:?} into them, backup master after {took:?}"
    );

    // After: new connections through the new master, the client's address again.
    let after = [
        check_logged(&lab, PP2_VIP, CA_LADDRS[0], "after"),
        check_logged(&lab, SYN_VIP, CA_LADDRS[1], "after"),
        check_toa(&lab, "after"),
    ];
    eprintln!(
        "lab: client address after the failover ({:?} after the kill): {after:?}",
        killed.elapsed()
    );

    // Every download completes, byte for byte.
    let slow = slow_body();
    let mut failed = Vec::new();
    let mut ended = Vec::new();
    for (vip, out, want, child) in downloads {
        let done = child.wait_with_output().expect("wait for curl");
        ended.push(started.elapsed());
        let said = String::from_utf8_lossy(&done.stdout).trim().to_owned();
        let got = std::fs::read(&out).unwrap_or_default();
        let expected: &[u8] = if want == BIG { &big } else { &slow };
        if said != format!("{want} 200") || got != expected {
            let first_diff = got.iter().zip(expected).position(|(a, b)| a != b);
            failed.push(format!(
                "{vip}: curl {} said {said:?}; {} of {want} bytes, first difference at {first_diff:?}",
                done.status,
                got.len()
            ));
        }
    }
    let s2 = sync_status(&sockets[1]);
    eprintln!(
        "lab: client address: {} of {} downloads intact ({PER_SERVICE} each through PROXY v2, \
         SYN proxy + PROXY v1, TOA), ended {ended:?} after they started; failed: {failed:?}\n\
         lab: client address: the survivor's sync {s2:?}",
        PER_SERVICE * 3 - failed.len(),
        PER_SERVICE * 3
    );
    assert!(
        failed.is_empty(),
        "{failed:#?}\n{}\n{}",
        diagnose(&sockets[1]),
        rvsd2.log()
    );
    // nginx logged every long download with the client's address too (the header went
    // before the failover; the bytes after it came through the new master).
    let logged: Vec<String> = (1..=2)
        .flat_map(|i| lab.nginx_log(i))
        .filter(|l| l.contains(" /slow/big "))
        .collect();
    assert_eq!(logged.len(), 2 * PER_SERVICE, "{logged:#?}");
    for line in &logged {
        let f: Vec<&str> = line.split(' ').collect();
        assert!(
            f[0].starts_with(&format!("{HA_CLIENT}:")) && f[4] == "200" && f[5] == BIG.to_string(),
            "{line}"
        );
    }
}

/// The hostile stream at the backup's sync port: frames a second, and how long.
const JUNK_RATE: u32 = 2000;
/// Seconds the hostile stream lasts.
const JUNK_SECONDS: u32 = 10;
/// How much the backup's resident memory may grow over the stream. The sync path
/// allocates nothing per message (fixed queues, a fixed-size frame per place); the
/// margin takes the pages the connection table and the control socket's answers touch
/// for the first time meanwhile, and is far below what keeping anything per junk frame
/// would cost (20 000 frames of 100 to 1 400 bytes).
const RSS_MARGIN_KIB: u64 = 2048;
/// The client endpoint of the connection the forged messages carry: never installed.
const FORGED_CLIENT: &str = "10.50.0.100:40001";

/// The kinds of junk sent at the backup, and the refusal reason each is counted under.
#[derive(Clone, Copy, Debug)]
enum Junk {
    /// From the client's own address, not a peer.
    NotAPeer,
    /// From the master's address, with a wrong UDP checksum.
    BadChecksum,
    /// From the master's address, without a UDP checksum.
    NoChecksum,
    /// From the master's address, well formed and signed with another key.
    WrongKey,
    /// From the master's address, well formed and not signed at all.
    Unsigned,
    /// From the master's address, not a sync message.
    Garbage,
    /// From the master's address, format version 1.
    OldVersion,
    /// A genuine message of the master, captured on the client segment, sent again.
    Replay,
}

impl Junk {
    /// The sync refusal reason (`rvsctl status`) it is counted under.
    fn reason(self) -> &'static str {
        match self {
            Junk::NotAPeer => "source",
            Junk::BadChecksum | Junk::NoChecksum => "checksum",
            Junk::WrongKey | Junk::Unsigned => "auth",
            Junk::Garbage => "malformed",
            Junk::OldVersion => "version",
            Junk::Replay => "replay",
        }
    }
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
fn mac_bytes(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (b, part) in out.iter_mut().zip(mac.split(':')) {
        *b = u8::from_str_radix(part, 16).expect("a MAC address");
    }
    out
}

/// An Ethernet frame to `dst_mac` carrying a UDP datagram `src` -> `dst` between the
/// sync ports, with a correct checksum (the source MAC is the sender's to fill).
fn sync_datagram(dst_mac: [u8; 6], src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let ip = |a: &str| a.parse::<std::net::Ipv4Addr>().expect("IPv4").octets();
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([0; 6], dst_mac)
        .ipv4(ip(src), ip(dst), 64)
        .udp(rvs_config::DEFAULT_SYNC_PORT, rvs_config::DEFAULT_SYNC_PORT)
        .write(&mut out, payload)
        .expect("a datagram");
    out
}

/// Offset of the UDP checksum in [`sync_datagram`]'s frames.
const UDP_CHECKSUM_AT: usize = 14 + 20 + 6;

/// A well-formed format-2 message with one record that, if a backup believed it,
/// would install a FULLNAT connection of [`FORGED_CLIENT`]; signed with `key`, or not
/// signed at all.
fn forged_message(key: Option<&[u8]>) -> Vec<u8> {
    use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};
    use rvs_pipeline::ha::sync_wire::{self, MessageAuth, RecordKind, SchemeTag, Stamp};
    let endpoint = |s: String| s.parse().expect("an endpoint");
    let record = sync_wire::SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Tcp,
        mode: ForwardMode::FullNat,
        state: TcpState::Established,
        timeout_ms: 60_000,
        client: endpoint(FORGED_CLIENT.to_owned()),
        vip: endpoint(format!("{HA_VIP2}:{HTTP_PORT}")),
        real: endpoint(format!("{}:{HTTP_PORT}", ha_real(1))),
        local: Some(endpoint(format!("{HA_LADDR}:40001"))),
        template: None,
        stream: StreamAdjust::default(),
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64;
    let stamp = Stamp {
        workers: 1,
        scheme: SchemeTag::LowBits,
        epoch: now_ms as u32 | 1,
        sequence: 1,
        sent_ms: now_ms,
        request: false,
    };
    let auth = key.map(MessageAuth::new);
    let mut out = [0u8; 1500];
    let len = sync_wire::encode(&stamp, &[record], auth.as_ref(), &mut out).expect("a message");
    out[..len].to_vec()
}

/// The backup's sync refusals by reason.
fn refusals(socket: &Path) -> std::collections::BTreeMap<String, u64> {
    sync_status(socket).refused.into_iter().collect()
}

/// While the pair serves traffic, 10 s of junk at the backup's
/// sync address and port from the client's namespace (from a non-peer, bad and missing
/// UDP checksums, messages signed with another key or not at all, garbage, format 1,
/// replays of the master's genuine messages) install nothing, are counted by reason,
/// crowd out neither VRRP nor the genuine sync (a download that started during the
/// stream survives the takeover), and leave the backup's memory as it was; after
/// SIGKILL of the master, 20 of 20 new connections succeed.
#[test]
fn lab_ha_sync_backup_withstands_a_hostile_sync_stream() {
    preflight();
    let lab = HaLab::new('j');
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let services = [nat_service(), fullnat_service()];
    let (rvsd1, mut rvsd2, _) = start_synced_pair(&lab, 1, &services);
    for vip in [HA_VIP, HA_VIP2] {
        assert!(
            lab.get_from(vip, 2.0).is_some(),
            "{vip}: {}",
            diagnose(&sockets[0])
        );
    }

    // Traffic, and genuine sync messages to capture on their way to the backup.
    let first = lab.dir().join("download-first");
    let url = format!("http://{HA_VIP2}:{HTTP_PORT}/slow");
    let backup = ha_director(2);
    // The master sends a message when connections are made or change state, so the
    // capture listens first, and requests go through until it has its messages (bounded).
    let (genuine, first_child) = std::thread::scope(|s| {
        let capture =
            s.spawn(|| lab.capture_udp("bw2", &backup, rvs_config::DEFAULT_SYNC_PORT, 4, 10));
        let child = download_to(&lab, &url, &first, 60);
        for vip in [HA_VIP, HA_VIP2].iter().cycle().take(40) {
            if capture.is_finished() {
                break;
            }
            let _ = lab.get_from(vip, 2.0);
        }
        (capture.join().expect("the capture"), child)
    });
    assert!(!genuine.is_empty(), "no sync message to the backup seen");

    // The junk, in the order the sender goes round.
    let mac = mac_bytes(&lab.mac("d2", "w2"));
    let master = ha_director(1);
    let other_key = forged_message(Some(b"not the key the directors share"));
    let unsigned = forged_message(None);
    let mut old = unsigned.clone();
    old[4] = 1;
    let mut bad_sum = sync_datagram(mac, &master, &backup, &other_key);
    bad_sum[UDP_CHECKSUM_AT] ^= 0x5a;
    let mut no_sum = sync_datagram(mac, &master, &backup, &other_key);
    no_sum[UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2].fill(0);
    let mut junk = vec![
        (
            Junk::NotAPeer,
            sync_datagram(mac, HA_CLIENT, &backup, &other_key),
        ),
        (Junk::BadChecksum, bad_sum),
        (Junk::NoChecksum, no_sum),
        (
            Junk::WrongKey,
            sync_datagram(mac, &master, &backup, &other_key),
        ),
        (
            Junk::Unsigned,
            sync_datagram(mac, &master, &backup, &unsigned),
        ),
        (
            Junk::Garbage,
            sync_datagram(mac, &master, &backup, &[0x55; 100]),
        ),
        (Junk::OldVersion, sync_datagram(mac, &master, &backup, &old)),
    ];
    junk.extend(genuine.iter().map(|f| (Junk::Replay, f.clone())));
    let frames: Vec<Vec<u8>> = junk.iter().map(|(_, f)| f.clone()).collect();

    let refused_before = refusals(&sockets[1]);
    let s2 = ha_status(&sockets[1]);
    let accepted_before = s2.sync.as_ref().map_or(0, |s| s.peers[0].messages_accepted);
    let rss_before = rvsd2.rss_kib().expect("the backup's RSS");
    let stream_start = Instant::now();
    let sender = lab.send_frames(&frames, JUNK_RATE, JUNK_SECONDS);
    // Requests meanwhile, so that the master has changes to send (it sends connections as
    // they are made and change state): up to 20 over the first half of the stream.
    let half = Duration::from_secs(u64::from(JUNK_SECONDS) / 2);
    for vip in [HA_VIP, HA_VIP2].iter().cycle().take(20) {
        if stream_start.elapsed() >= half {
            break;
        }
        let _ = lab.get_from(vip, 1.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Halfway through, a download that must outlive the takeover.
    if let Some(rest) = half.checked_sub(stream_start.elapsed()) {
        std::thread::sleep(rest);
    }
    let second = lab.dir().join("download-second");
    let mut second_child = download_to(&lab, &url, &second, 60);
    let sent = rvs_lab::ha::sent_counts(sender);
    let streamed = stream_start.elapsed();
    assert_eq!(sent.len(), junk.len());
    // Let the control core take what is queued (it polls every 20 ms).
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rvsd2.rss_kib().expect("the backup's RSS");
    let refused_after = refusals(&sockets[1]);
    let s2 = ha_status(&sockets[1]);

    // Counted by reason: each at least half of what was sent (frames may be lost on a
    // loaded machine: a full receive ring or queue), never more; no other reason.
    let mut expected: std::collections::BTreeMap<&str, u64> = Default::default();
    for ((kind, _), n) in junk.iter().zip(&sent) {
        *expected.entry(kind.reason()).or_default() += n;
    }
    let counted = |reason: &str| {
        refused_after.get(reason).copied().unwrap_or(0)
            - refused_before.get(reason).copied().unwrap_or(0)
    };
    let report: Vec<String> = refused_after
        .keys()
        .filter(|r| counted(r) > 0 || expected.contains_key(r.as_str()))
        .map(|r| {
            format!(
                "{r} {} of {}",
                counted(r),
                expected.get(r.as_str()).copied().unwrap_or(0)
            )
        })
        .collect();
    let accepted = s2.sync.as_ref().map_or(0, |s| s.peers[0].messages_accepted) - accepted_before;
    eprintln!(
        "lab: hostile sync: {} frames in {streamed:?} ({} kinds, {} replayed messages), \
         counted by reason: {report:?}; genuine messages taken meanwhile {accepted}; \
         backup RSS {rss_before} KiB before, {rss_after} KiB after",
        sent.iter().sum::<u64>(),
        junk.len() - genuine.len() + 1,
        genuine.len(),
    );
    for (reason, want) in &expected {
        let got = counted(reason);
        assert!(
            got * 2 >= *want && got <= *want,
            "{reason}: {got} counted of {want} sent: {report:?}\n{}",
            diagnose(&sockets[1])
        );
    }
    for reason in refused_after.keys() {
        assert!(
            counted(reason) == 0 || expected.contains_key(reason.as_str()),
            "refused for {reason} too: {report:?}"
        );
    }
    // VRRP and the genuine sync went on (the requests above made the master send).
    assert_eq!(s2.state, "backup", "{s2:?}");
    assert_eq!(s2.split_brain, 0, "{s2:?}");
    assert!(accepted >= 10, "genuine messages taken: {accepted}: {s2:?}");
    let forged: std::net::SocketAddr = FORGED_CLIENT.parse().expect("an endpoint");
    match client::call(&sockets[1], Request::Conns { limit: 1000 }).expect("conns") {
        Response::Conns { conns, .. } => assert!(
            conns.iter().all(|c| c.client != forged),
            "a forged connection was installed: {conns:?}"
        ),
        other => panic!("conns answered {other:?}"),
    }
    assert!(
        rss_after <= rss_before + RSS_MARGIN_KIB,
        "the backup's RSS grew from {rss_before} to {rss_after} KiB"
    );

    // The master dies: every new connection afterwards succeeds, and the download
    // that began during the stream carries on.
    assert!(
        second_child.try_wait().expect("curl").is_none(),
        "the second download ended before the failover"
    );
    let killed = Instant::now();
    rvsd1.kill();
    let took = wait_rvsd(
        &sockets[1],
        "master",
        master_down_at(100, PAIR_INTERVAL) + slack,
    );
    let mut new_ok = 0;
    for vip in [HA_VIP, HA_VIP2].iter().cycle().take(20) {
        new_ok += usize::from(lab.get_from(vip, 3.0).is_some());
    }
    eprintln!(
        "lab: hostile sync: master SIGKILLed, backup master after {took:?}; {new_ok} of 20 new \
         connections afterwards ({:?} after the kill)",
        killed.elapsed()
    );
    assert_eq!(
        new_ok,
        20,
        "new connections after the takeover: {}\n{}",
        diagnose(&sockets[1]),
        rvsd2.log()
    );
    let slow = slow_body();
    for (name, child, path) in [
        ("first", first_child, first),
        ("second", second_child, second),
    ] {
        let done = child.wait_with_output().expect("wait for curl");
        let said = String::from_utf8_lossy(&done.stdout).trim().to_owned();
        let got = std::fs::read(&path).unwrap_or_default();
        assert!(
            said == format!("{} 200", slow.len()) && got == slow,
            "the {name} download: curl said {said:?}, {} of {} bytes",
            got.len(),
            slow.len()
        );
    }
}

/// Packets a second the flood at the pair aims for, from the client's namespace
/// (50 kpps for 30 s in all, with the real segment's share).
const FLOOD_CLIENT_RATE: u32 = 45_000;
/// Packets a second of the flood from a real's namespace (VRRP on the wrong port).
const FLOOD_REAL_RATE: u32 = 5_000;
/// How long the flood lasts.
const FLOOD_SECONDS: u64 = 30;
/// Advert interval of the pair under the flood, in seconds: the backup takes over
/// after 3.6 s without the master's adverts. What the test guards against, a forged
/// or misdirected advert taken in, makes a director change state at once whatever the
/// interval; the longer interval only keeps a backup that a loaded 2-core machine
/// starves of its receive queue for a second and a half (the flood fills the ring the
/// master's adverts arrive on) from reading that as the master's death.
const FLOOD_PAIR_INTERVAL: f64 = 1.0;
/// The address the forged adverts come from: on the client segment, no director's.
const STRANGER: &str = "10.50.0.7";

/// Where a kind of flood packet is counted: VRRP's or sync's refusals, by reason.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Refused {
    Vrrp(String),
    Sync(String),
}

/// One kind of flood packet: the IPv4 packet, and the refusal each director counts it
/// under (`None`: it does not reach that director).
struct FloodKind {
    packet: Vec<u8>,
    counted: [Option<Refused>; 2],
}

/// An IPv4 address as octets.
fn octets(a: &str) -> [u8; 4] {
    a.parse::<std::net::Ipv4Addr>().expect("IPv4").octets()
}

/// An IPv4 packet of protocol 112 carrying `payload`, `src` -> `dst` with `ttl`.
fn vrrp_packet(src: &str, dst: &str, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv4(octets(src), octets(dst), ttl)
        .write(&mut out, etherparse::IpNumber(112), payload)
        .expect("a packet");
    out
}

/// A VRRPv3 advert of `vrid` at priority 254 (it would win against either director),
/// its checksum right for `src` -> `dst`.
fn advert_message(src: &str, dst: &str, vrid: u8) -> Vec<u8> {
    let vips = [HA_VIP.parse().expect("IPv4")];
    let repr = rvs_packet::wire::VrrpRepr {
        vrid,
        priority: 254,
        max_adver_int: 50,
        addresses: &vips,
    };
    let mut msg = vec![0; repr.len()];
    repr.emit(
        &mut msg,
        src.parse().expect("IPv4"),
        dst.parse().expect("IPv4"),
    )
    .expect("room");
    msg
}

/// A UDP datagram to the sync port, `src` -> `dst`, its checksum right.
fn sync_packet(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv4(octets(src), octets(dst), 64)
        .udp(rvs_config::DEFAULT_SYNC_PORT, rvs_config::DEFAULT_SYNC_PORT)
        .write(&mut out, payload)
        .expect("a datagram");
    out
}

/// The flood from the client segment at a pair in unicast mode: protocol-112 junk and
/// adverts that look valid but are not to be taken, to each director (and to the
/// group, which reaches both), and junk at each one's sync port.
fn client_flood() -> Vec<FloodKind> {
    let vrrp = |r: &str| Some(Refused::Vrrp(r.to_owned()));
    let sync = |r: &str| Some(Refused::Sync(r.to_owned()));
    let group = "224.0.0.18";
    let mut kinds = vec![FloodKind {
        // Multicast, while the pair advertises by unicast.
        packet: vrrp_packet(STRANGER, group, 255, &advert_message(STRANGER, group, VRID)),
        counted: [vrrp("destination"), vrrp("destination")],
    }];
    for d in 1..=2 {
        let (me, peer) = (ha_director(d), ha_director(3 - d));
        let only = |r: Option<Refused>| {
            let mut counted = [None, None];
            counted[d - 1] = r;
            counted
        };
        let mut bad_sum = advert_message(&peer, &me, VRID);
        bad_sum[6] ^= 0x5a;
        let mut v2 = advert_message(&peer, &me, VRID);
        v2[0] = 0x21;
        let mut bad_udp = sync_packet(&peer, &me, &[0x55; 200]);
        bad_udp[20 + 6] ^= 0x5a;
        let stranger_advert = advert_message(STRANGER, &me, VRID);
        kinds.extend([
            FloodKind {
                packet: vrrp_packet(&peer, &me, 64, &advert_message(&peer, &me, VRID)),
                counted: only(vrrp("ttl")),
            },
            FloodKind {
                packet: vrrp_packet(&peer, &me, 255, &[0x31, VRID, 254]),
                counted: only(vrrp("malformed")),
            },
            FloodKind {
                packet: vrrp_packet(&peer, &me, 255, &v2),
                counted: only(vrrp("version")),
            },
            FloodKind {
                packet: vrrp_packet(&peer, &me, 255, &[0xff; 60]),
                counted: only(vrrp("version")),
            },
            FloodKind {
                packet: vrrp_packet(&peer, &me, 255, &bad_sum),
                counted: only(vrrp("checksum")),
            },
            FloodKind {
                packet: vrrp_packet(&peer, &me, 255, &advert_message(&peer, &me, VRID + 1)),
                counted: only(vrrp("vrid")),
            },
            FloodKind {
                packet: vrrp_packet(&me, &me, 255, &advert_message(&me, &me, VRID)),
                counted: only(vrrp("own")),
            },
            FloodKind {
                packet: vrrp_packet(STRANGER, &me, 255, &stranger_advert),
                counted: only(vrrp("source")),
            },
            FloodKind {
                packet: sync_packet(HA_CLIENT, &me, &[0x55; 200]),
                counted: only(sync("source")),
            },
            FloodKind {
                packet: bad_udp,
                counted: only(sync("checksum")),
            },
        ]);
    }
    kinds
}

/// Every refusal of a director, VRRP's and sync's.
fn all_refusals(socket: &Path) -> std::collections::BTreeMap<Refused, u64> {
    let s = ha_status(socket);
    let vrrp = s.refused.iter().map(|(r, n)| (r.clone(), *n, true));
    let sync = s
        .sync
        .iter()
        .flat_map(|y| y.refused.clone())
        .map(|(r, n)| (r, n, false));
    vrrp.chain(sync)
        .map(|(r, n, vrrp)| {
            (
                if vrrp {
                    Refused::Vrrp(r)
                } else {
                    Refused::Sync(r)
                },
                n,
            )
        })
        .collect()
}

/// A synced pair in unicast mode under client traffic while a
/// bounded flood (30 s, aiming at 45 000 packets a second from the client's namespace and
/// 5 000 from a real's) hits both directors: protocol-112 junk, adverts that would win
/// (priority 254) but are to the group, from a stranger, from the director's own
/// address, of another virtual router, with a TTL of 64, a bad checksum, VRRPv2, and on
/// the real-side port; junk at the sync port. No transition on either director, no split
/// brain, every request and a download through the flood succeed, and each director's
/// refusals by reason account for what reached it.
#[test]
fn lab_ha_pair_withstands_a_vrrp_and_sync_flood() {
    preflight();
    let lab = HaLab::new('v');
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let services = [nat_service()];
    let config = |i: usize, priority| {
        let extra = format!(
            "unicast_peers = [\"{}\"]\n{}",
            ha_director(3 - i),
            lab.sync_section(i)
        );
        lab.write_config(i, priority, FLOOD_PAIR_INTERVAL, &extra, &services)
    };
    let (c1, c2) = (config(1, 150), config(2, 100));
    let mut rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let mut rvsd2 = lab.start_rvsd(2, bin(), &c2);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, FLOOD_PAIR_INTERVAL) + slack,
    );
    wait_rvsd(&sockets[1], "backup", slack);
    assert!(lab.get(2.0).is_some(), "{}", diagnose(&sockets[0]));

    let kinds = client_flood();
    let port_kind = {
        let from = "10.60.0.77";
        vrrp_packet(
            from,
            "224.0.0.18",
            255,
            &advert_message(from, "224.0.0.18", VRID),
        )
    };
    let before = [ha_status(&sockets[0]), ha_status(&sockets[1])];
    let refused_before = [all_refusals(&sockets[0]), all_refusals(&sockets[1])];
    let duration = Duration::from_secs(FLOOD_SECONDS);
    let start = Instant::now();
    let client = lab.flood(
        "c",
        HA_CLIENT.parse().expect("IPv4"),
        kinds.iter().map(|k| k.packet.clone()).collect(),
        FLOOD_CLIENT_RATE,
        duration,
    );
    let real = lab.flood(
        "r1",
        ha_real(1).parse().expect("IPv4"),
        vec![port_kind],
        FLOOD_REAL_RATE,
        duration,
    );
    // Traffic through the flood: a download across most of it, and requests one after
    // another until it ends, each given 6 s: a loaded machine loses frames of every kind
    // (a director's receive ring overflows while its worker waits for a core), and TCP
    // takes a lost SYN back after 1 s and again 2 s later. A connection lost to a
    // takeover would not come back at all.
    let download = lab.slow_download(HA_VIP, 60);
    let (mut asked, mut answered) = (0u32, 0u32);
    while start.elapsed() < duration {
        asked += 1;
        answered += u32::from(lab.get(6.0).is_some());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (client, real) = (client.wait(), real.wait());
    let flooded = start.elapsed();
    let done = download.wait_with_output().expect("curl");
    // Let the control cores take what is queued (they poll every 20 ms).
    std::thread::sleep(Duration::from_millis(500));
    let after = [ha_status(&sockets[0]), ha_status(&sockets[1])];
    let refused_after = [all_refusals(&sockets[0]), all_refusals(&sockets[1])];
    eprintln!(
        "lab: flood: client {} packets in {:?} ({:.0}/s, {} refused by the kernel), real {} \
         ({:.0}/s); {answered} of {asked} requests answered during it (flood {flooded:?})",
        client.total(),
        client.elapsed,
        client.rate(),
        client.failed,
        real.total(),
        real.rate(),
    );

    // No transition, no split brain, nothing lost.
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(
            (a.transitions, a.split_brain, a.state.as_str()),
            (b.transitions, 0, b.state.as_str()),
            "director {}: before {b:?}\nafter {a:?}\n{}\n{}",
            i + 1,
            rvsd1.log(),
            rvsd2.log()
        );
    }
    assert_eq!(after[0].state, "master");
    assert_eq!(after[1].master.as_deref(), Some(ha_director(1).as_str()));
    assert_eq!(
        answered,
        asked,
        "requests during the flood\n{}\n{}",
        diagnose(&sockets[0]),
        rvsd1.log()
    );
    let said = String::from_utf8_lossy(&done.stdout).trim().to_owned();
    assert_eq!(
        said,
        format!("{} 200", SLOW_CHUNKS * SLOW_CHUNK),
        "the download through the flood"
    );

    // Counted by reason: what each director was sent, less what a loaded machine lost
    // on the way (a full socket, bridge or receive ring: at most half, as measured
    // here); never more, and no other reason (no junk passed a filter: no `rate`, no
    // `queue_full`).
    let mut expected: [std::collections::BTreeMap<Refused, u64>; 2] = Default::default();
    for (k, n) in kinds.iter().zip(&client.sent) {
        for (d, r) in k.counted.iter().enumerate() {
            if let Some(r) = r {
                *expected[d].entry(r.clone()).or_default() += n;
            }
        }
    }
    for e in &mut expected {
        *e.entry(Refused::Vrrp("port".to_owned())).or_default() += real.total();
    }
    for d in 0..2 {
        let counted = |r: &Refused| {
            refused_after[d].get(r).copied().unwrap_or(0)
                - refused_before[d].get(r).copied().unwrap_or(0)
        };
        let report: Vec<String> = refused_after[d]
            .keys()
            .filter(|r| counted(r) > 0 || expected[d].contains_key(*r))
            .map(|r| {
                let want = expected[d].get(r).copied().unwrap_or(0);
                format!("{r:?} {} of {want}", counted(r))
            })
            .collect();
        eprintln!("lab: flood: director {} counted {report:?}", d + 1);
        for (r, want) in &expected[d] {
            let got = counted(r);
            assert!(
                got * 2 >= *want && got <= *want,
                "director {}: {r:?}: {got} counted of {want} sent: {report:?}",
                d + 1
            );
        }
        for r in refused_after[d].keys() {
            assert!(
                counted(r) == 0 || expected[d].contains_key(r),
                "director {}: refused for {r:?} too: {report:?}",
                d + 1
            );
        }
    }
}

/// `rvsadm ARGS` (next to `rvsd`, built with the workspace) on director `socket`.
fn rvsadm(socket: &Path, args: &str) {
    let bin = bin().with_file_name("rvsadm");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace (scripts/test does)",
        bin.display()
    );
    let out = std::process::Command::new(&bin)
        .arg("--socket")
        .arg(socket)
        .args(args.split_whitespace())
        .output()
        .expect("run rvsadm");
    assert!(
        out.status.success(),
        "rvsadm {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Adds the NAT service on [`HA_VIP2`] over both reals to director `socket` with rvsadm.
fn add_vip2(socket: &Path) {
    let vip = format!("{HA_VIP2}:{HTTP_PORT}");
    rvsadm(socket, &format!("-A -t {vip} -s rr"));
    for i in 1..=2 {
        rvsadm(
            socket,
            &format!("-a -t {vip} -r {}:{HTTP_PORT} -m", ha_real(i)),
        );
    }
}

/// The MAC the client's neighbour table holds for `ip`, if any.
fn client_neighbour(lab: &HaLab, ip: &str) -> Option<String> {
    let out = lab.exec("c", &["ip", "-j", "neigh", "show", ip]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json.get(0)?.get("lladdr")?.as_str().map(str::to_owned)
}

/// A VIP added with rvsadm on both directors moves with
/// mastership. The client's ARP entry for it points at the master's MAC; the master is
/// SIGKILLed; the new master announces the added VIP (gratuitous ARP), and the client
/// reaches it within 3 x advert interval + 1 s without its ARP cache being flushed.
#[test]
fn lab_ha_a_vip_added_at_runtime_moves_with_mastership() {
    preflight();
    let lab = HaLab::new('v');
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
    for socket in &sockets {
        add_vip2(socket);
    }
    for _ in 0..3 {
        assert!(
            lab.get_from(HA_VIP2, 2.0).is_some(),
            "{}",
            diagnose(&sockets[0])
        );
    }
    assert_eq!(
        client_neighbour(&lab, HA_VIP2).as_deref(),
        Some(macs[0].as_str()),
        "the client's ARP entry for the added VIP points at the master"
    );

    let killed = Instant::now();
    rvsd1.kill();
    // Each try at most 0.2 s, so the first success is seen within 0.2 s of being possible.
    let limit = Duration::from_secs(10);
    while lab.get_from(HA_VIP2, 0.2).is_none() {
        assert!(
            killed.elapsed() < limit,
            "the added VIP unreachable {limit:?} after the kill:\n{}\n{}",
            diagnose(&sockets[1]),
            rvsd2.log()
        );
    }
    let reached = killed.elapsed();
    let bound = Duration::from_secs_f64(3.0 * PAIR_INTERVAL + 1.0);
    eprintln!(
        "lab: master SIGKILLed: the client reached the VIP added at run time after {reached:?} \
         (bound 3 x {PAIR_INTERVAL} s + 1 s = {bound:?})"
    );
    assert!(reached <= bound, "{reached:?} > {bound:?}\n{}", rvsd2.log());
    assert_eq!(
        client_neighbour(&lab, HA_VIP2).as_deref(),
        Some(macs[1].as_str()),
        "the new master's announcement moved the client's entry"
    );
    assert_eq!(ha_status(&sockets[1]).state, "master");
}

/// `[announce]` for director `i`: the VIP files in the lab directory, `reload` the argv
/// given (TOML array text).
fn announce_section(lab: &HaLab, i: usize, reload: &str) -> (String, PathBuf) {
    let file = lab.dir().join(format!("d{i}-vips.conf"));
    (
        format!(
            "[announce]\nfile = \"{}\"\nreload = {reload}\n",
            file.display()
        ),
        file,
    )
}

/// The director's `[announce]` status: (pending, failed reloads, announced VIPs).
fn announce_status(socket: &Path) -> (bool, u64, Vec<String>) {
    match client::call(socket, Request::Status).expect("status") {
        Response::Status(s) => {
            let a = s.announce.expect("an [announce] status");
            (a.pending, a.reload_failures, s.announced)
        }
        other => panic!("status answered {other:?}"),
    }
}

/// An `[announce] reload` that hangs for 10 s (a script that
/// sleeps) holds up no advert: while VIP changes on the master wait for it, the backup
/// stays backup and receives the master's adverts at their pace.
#[test]
fn lab_ha_a_hanging_announce_reload_holds_up_no_advert() {
    preflight();
    let lab = HaLab::new('h');
    let sockets = [lab.socket(1), lab.socket(2)];
    let slack = Duration::from_secs(2);
    let hang = r#"["sh", "-c", "sleep 10"]"#;
    let (a1, _) = announce_section(&lab, 1, hang);
    let (a2, backup_file) = announce_section(&lab, 2, hang);
    let c1 = lab.write_config(1, 150, PAIR_INTERVAL, &a1, &[nat_service()]);
    let c2 = lab.write_config(2, 100, PAIR_INTERVAL, &a2, &[nat_service()]);
    let mut rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let mut rvsd2 = lab.start_rvsd(2, bin(), &c2);
    wait_rvsd(
        &sockets[0],
        "master",
        master_down_at(150, PAIR_INTERVAL) + slack,
    );
    wait_rvsd(&sockets[1], "backup", slack);

    let start = Instant::now();
    let received = ha_status(&sockets[1]).adverts_received;
    // Two VIP changes on the master, each a rewrite and a reload that hangs.
    let change = Instant::now();
    add_vip2(&sockets[0]);
    let applied = change.elapsed();
    let mut pending_seen = false;
    let mut removed = false;
    let watch = Duration::from_secs(12);
    while start.elapsed() < watch {
        let (s1, s2) = (ha_status(&sockets[0]), ha_status(&sockets[1]));
        assert_eq!(
            (s1.state.as_str(), s2.state.as_str()),
            ("master", "backup"),
            "after {:?}:\n{}\n{}",
            start.elapsed(),
            rvsd1.log(),
            rvsd2.log()
        );
        pending_seen |= announce_status(&sockets[0]).0;
        if !removed && start.elapsed() > Duration::from_secs(2) {
            rvsadm(&sockets[0], &format!("-D -t {HA_VIP2}:{HTTP_PORT}"));
            removed = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = start.elapsed();
    let got = ha_status(&sockets[1]).adverts_received - received;
    let expected = (elapsed.as_secs_f64() / PAIR_INTERVAL) as u64;
    eprintln!(
        "lab: announce reload hanging 10 s: rvsadm -A/-a answered in {applied:?}; the backup \
         received {got} adverts in {elapsed:?} (one per {PAIR_INTERVAL} s: {expected})"
    );
    assert!(pending_seen, "the master's reload was seen pending");
    // A stalled master would miss 20 of them; allow the edges of the window.
    assert!(got + 2 >= expected, "{got} adverts, {expected} expected");
    assert!(
        applied < Duration::from_secs(5),
        "a change waited for the reload: {applied:?}"
    );
    // Under [ha], only the master announces.
    let backup_routes = std::fs::read_to_string(&backup_file).expect("the backup's file");
    assert!(!backup_routes.contains("route "), "{backup_routes}");
}

/// An `[announce] reload` that fails, then recovers: the change
/// stays pending, is retried, and BIRD (the real routing daemon) ends up with the VIP
/// routes; a VIP added later follows at once; at shutdown they are withdrawn.
#[test]
fn lab_ha_a_failing_announce_reload_is_retried_until_the_routes_converge() {
    preflight();
    let lab = HaLab::new('r');
    let socket = lab.socket(1);
    let bird_ctl = rvs_lab::Bird::socket_in(lab.dir(), "d1");
    let tries = lab.dir().join("reload-tries");
    // Fails the first three times (a routing daemon restarting), then reloads BIRD.
    let script = format!(
        "n=$(cat {0} 2>/dev/null || echo 0); echo $((n+1)) > {0}; [ $n -ge 3 ] && birdc -s {1} configure",
        tries.display(),
        bird_ctl.display()
    );
    let (a1, file) = announce_section(&lab, 1, &format!("[\"sh\", \"-c\", {script:?}]"));
    let c1 = lab.write_config(1, 150, PAIR_INTERVAL, &a1, &[nat_service()]);
    // BIRD runs first, with no route: what it gets, it gets through a reload.
    std::fs::write(&file, "").expect("the announce file");
    let bird = rvs_lab::Bird::start(
        &lab.ns("d1"),
        lab.dir(),
        "d1",
        &format!(
            "router id 10.50.0.1;\nprotocol device {{}}\nprotocol static rvs_vips {{\n  ipv4;\n  include \"{}\";\n}}\n",
            file.display()
        ),
    );
    let rvsd1 = lab.start_rvsd(1, bin(), &c1);
    let became = wait_rvsd(
        &socket,
        "master",
        master_down_at(150, PAIR_INTERVAL) + Duration::from_secs(2),
    );
    let took = bird.wait_route(&format!("{HA_VIP}/32"), true);
    // rvsd reaps the reload at its next control poll.
    wait_for("the reload reaped", Duration::from_secs(5), || {
        !announce_status(&socket).0
    });
    let (_, failures, announced) = announce_status(&socket);
    eprintln!(
        "lab: failing reload: master after {became:?}, BIRD had the VIP route {took:?} later \
         after {failures} failed reloads"
    );
    assert!(failures >= 3, "{failures} failures");
    assert_eq!(announced, [HA_VIP]);
    // Recovered: the next change is taken at once.
    add_vip2(&socket);
    bird.wait_route(&format!("{HA_VIP2}/32"), true);
    wait_for("nothing pending", Duration::from_secs(5), || {
        !announce_status(&socket).0
    });
    assert_eq!(announce_status(&socket).1, failures, "no new failure");
    // SIGTERM: every route is withdrawn.
    rvsd1.stop();
    bird.wait_route(&format!("{HA_VIP}/32"), false);
    bird.wait_route(&format!("{HA_VIP2}/32"), false);
}
