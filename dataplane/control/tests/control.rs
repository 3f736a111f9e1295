//! The control core without DPDK: change batches, their refusals, reloads, and what the
//! workers are handed (one stand-in worker thread takes every update and records it).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rvs_config::testbed::TwoPortDirector;
use rvs_config::Config;
use rvs_control::{Control, WorkerLink};
use rvs_ctl::proto::{
    Change, ErrorKind, Forward, Protocol, RealSpec, Request, Response, ServiceKey, ServiceSpec,
    Stats,
};
use rvs_pipeline::service::{IdRegistry, Retired};
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::traffic::{Traffic, TrafficTable};
use rvs_pipeline::update::Published;
use rvs_pipeline::update::{Garbage, Mailbox};

/// Two services on the two-port director: FULLNAT with a local address, and NAT.
fn config() -> String {
    TwoPortDirector::new("mem", 1024).to_toml()
        + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.2"]
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "10.0.0.101"
port = 80
scheduler = "rr"
[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "nat"
"#
}

/// What the stand-in worker saw of each update: generation, whether the probed address
/// is steered as a local address, whether the first service hands it out.
type Seen = Vec<(u64, bool, bool)>;

struct Harness {
    control: Control,
    seen: Arc<Mutex<Seen>>,
    /// What the stand-in worker publishes (the tests write it).
    published: Arc<Mutex<Published>>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    file: PathBuf,
}

impl Harness {
    fn new(probe: IpAddr) -> Self {
        Self::with(&config(), probe)
    }

    /// A control core over configuration `text` (its first service's local addresses
    /// are watched for `probe`).
    fn with(text: &str, probe: IpAddr) -> Self {
        // One file per harness: tests run in parallel and some rewrite theirs.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let file =
            std::env::temp_dir().join(format!("rvs-control-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&file, text).expect("config file");
        let config = Config::from_file(&file).expect("config");
        let mut ids = IdRegistry::default();
        let snap = Arc::new(Snapshot::build(&config, &[], &[], &mut ids).expect("snapshot"));
        let mailbox = Mailbox::new(1);
        let published = Arc::new(Mutex::new(Published::default()));
        let link = WorkerLink {
            mailbox: Arc::clone(&mailbox),
            published: Arc::clone(&published),
            lcore: 1,
            seed: 0,
        };
        let control = Control::new(
            config,
            file.clone(),
            ids,
            snap,
            vec![link],
            Box::new(Vec::new),
        );
        let (seen, stop) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let worker = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                if let Some(u) = mailbox.take() {
                    let steered = u.snap.services.is_laddr(probe);
                    let handed = u
                        .snap
                        .services
                        .list()
                        .first()
                        .is_some_and(|s| s.laddrs.contains(&probe));
                    seen2.lock().unwrap().push((u.generation, steered, handed));
                    mailbox.taken(u.generation, Garbage::default());
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        Self {
            control,
            seen,
            published,
            stop,
            worker: Some(worker),
            file,
        }
    }

    fn apply(&mut self, changes: Vec<Change>) -> Result<Response, rvs_ctl::proto::ErrorReply> {
        self.control.handle(Request::Apply { changes })
    }

    fn saved(&mut self) -> String {
        match self.control.handle(Request::ConfigSave) {
            Ok(Response::Config(text)) => text,
            other => panic!("not a configuration: {other:?}"),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

fn key(vip: &str) -> ServiceKey {
    ServiceKey {
        proto: Protocol::Tcp,
        addr: format!("{vip}:80").parse().unwrap(),
    }
}

fn real(addr: &str, forward: Forward) -> RealSpec {
    RealSpec {
        addr: addr.parse().unwrap(),
        forward,
        weight: 1,
        upper: 0,
        lower: 0,
        tunnel: Default::default(),
    }
}

#[test]
fn a_new_local_address_is_steered_everywhere_before_its_ports_are_handed_out() {
    let probe: IpAddr = "10.1.0.3".parse().unwrap();
    let mut h = Harness::new(probe);
    let changes = vec![Change::AddLaddr {
        service: key("10.0.0.100"),
        addr: probe,
    }];
    assert_eq!(h.apply(changes), Ok(Response::Done));
    assert_eq!(
        *h.seen.lock().unwrap(),
        vec![(2, true, false), (3, true, true)]
    );
}

#[test]
fn a_refused_batch_changes_nothing() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let before = h.saved();
    let batch = vec![
        Change::AddReal {
            service: key("10.0.0.101"),
            real: real("10.1.0.13:8080", Forward::Nat),
        },
        Change::AddReal {
            service: key("10.0.0.101"),
            real: real("10.1.0.13:8080", Forward::Nat),
        },
    ];
    assert_eq!(h.apply(batch).unwrap_err().kind, ErrorKind::RealExists);
    // Valid change by change, invalid as a whole: FULLNAT needs a local address.
    let batch = vec![Change::AddReal {
        service: key("10.0.0.101"),
        real: real("10.1.0.13:8080", Forward::FullNat),
    }];
    let e = h.apply(batch).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("10.1.0.13:8080"), "{e:?}");
    assert_eq!(h.saved(), before);
    assert!(
        h.seen.lock().unwrap().is_empty(),
        "a refused batch reached a worker"
    );
}

#[test]
fn ipvsadm_refusals_have_their_kinds() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let spec = |vip: &str| ServiceSpec {
        key: key(vip),
        scheduler: "wlc".into(),
        flags: vec![],
        persistence: 0,
        netmask: 32,
        one_packet: false,
    };
    assert_eq!(
        h.apply(vec![Change::AddService(spec("10.0.0.100"))])
            .unwrap_err()
            .kind,
        ErrorKind::ServiceExists
    );
    assert_eq!(
        h.apply(vec![Change::DeleteService(key("10.0.0.9"))])
            .unwrap_err()
            .kind,
        ErrorKind::NoService
    );
    let gone = Change::DeleteReal {
        service: key("10.0.0.101"),
        addr: "10.1.0.99:80".parse().unwrap(),
    };
    assert_eq!(h.apply(vec![gone]).unwrap_err().kind, ErrorKind::NoReal);
    let dup = Change::AddLaddr {
        service: key("10.0.0.100"),
        addr: "10.1.0.2".parse().unwrap(),
    };
    assert_eq!(h.apply(vec![dup]).unwrap_err().kind, ErrorKind::LaddrExists);
    let mut bad = spec("10.0.0.102");
    bad.scheduler = "fastest".into();
    assert_eq!(
        h.apply(vec![Change::AddService(bad)]).unwrap_err().kind,
        ErrorKind::Invalid
    );
    let mut flags = spec("10.0.0.102");
    flags.flags = vec!["mh-port".into()];
    assert_eq!(
        h.apply(vec![Change::AddService(flags)]).unwrap_err().kind,
        ErrorKind::Invalid
    );
}

/// `rvsctl config reload [FILE] [--dry-run] [--discard-runtime]`.
fn reload(path: Option<&Path>, dry_run: bool, discard_runtime: bool) -> Request {
    Request::ConfigReload {
        path: path.map(|p| p.to_str().unwrap().to_owned()),
        dry_run,
        discard_runtime,
    }
}

/// A service added, a real quiesced and the timeouts set, as rvsadm does.
fn runtime_changes(h: &mut Harness) {
    let extra = ServiceSpec {
        key: key("10.0.0.102"),
        scheduler: "rr".into(),
        flags: vec![],
        persistence: 0,
        netmask: 32,
        one_packet: false,
    };
    h.apply(vec![
        Change::AddService(extra),
        Change::EditReal {
            service: key("10.0.0.101"),
            real: RealSpec {
                weight: 0,
                ..real("10.1.0.12:8080", Forward::Nat)
            },
        },
        Change::SetTimeouts(rvs_ctl::proto::TimeoutsInfo {
            tcp: 30,
            tcpfin: 20,
            udp: 10,
        }),
    ])
    .unwrap();
}

#[test]
fn a_reload_that_would_undo_runtime_changes_is_refused_naming_them() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    runtime_changes(&mut h);
    let before = h.saved();
    // The unchanged file would remove the service, put the real back to weight 1 and the
    // timeouts back to their defaults.
    let e = h.control.handle(reload(None, false, false)).unwrap_err();
    for part in [
        "would undo 3 change(s) made at runtime",
        "service tcp 10.0.0.102:80 added",
        "real 10.1.0.12:8080 of tcp 10.0.0.101:80: weight 1 -> 0",
        "timeouts",
        "--discard-runtime",
        "nothing was applied",
    ] {
        assert!(e.message.contains(part), "{part:?} not in {e:?}");
    }
    assert_eq!(h.saved(), before, "a refused reload changed the state");
    // A dry run says the same and applies nothing.
    match h.control.handle(reload(None, true, false)) {
        Ok(Response::Reloaded(r)) => {
            assert!(!r.applied);
            assert_eq!(r.runtime_undone.len(), 3, "{r:?}");
            assert_eq!(
                r.summary,
                "services +0 -1 ~0, reals +0 -0 ~1, timeouts changed"
            );
        }
        other => panic!("dry run: {other:?}"),
    }
    assert_eq!(h.saved(), before, "a dry run changed the state");
    // Discarded explicitly, they are gone.
    match h.control.handle(reload(None, false, true)) {
        Ok(Response::Reloaded(r)) => assert!(r.applied && r.runtime_undone.len() == 3),
        other => panic!("reload --discard-runtime: {other:?}"),
    }
    let after = h.saved();
    assert!(
        !after.contains("10.0.0.102") && !after.contains("weight = 0"),
        "{after}"
    );
    // Nothing left to undo: the next plain reload goes through.
    assert!(h.control.handle(reload(None, false, false)).is_ok());
}

#[test]
fn runtime_changes_saved_into_the_file_survive_reloads() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    runtime_changes(&mut h);
    let saved = h.saved();
    std::fs::write(&h.file, &saved).unwrap();
    match h.control.handle(reload(None, false, false)) {
        Ok(Response::Reloaded(r)) => {
            assert!(r.changes.is_empty() && r.runtime_undone.is_empty(), "{r:?}")
        }
        other => panic!("reload of the saved state: {other:?}"),
    }
    assert_eq!(h.saved(), saved);
}

#[test]
fn a_reload_of_another_file_makes_it_the_one_later_reloads_read() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let other = h.file.with_extension("other.toml");
    std::fs::write(
        &other,
        config().replace("scheduler = \"rr\"", "scheduler = \"wlc\""),
    )
    .unwrap();
    // Refused: the first file stays the one read.
    std::fs::write(&other, "[dataplane]\nworkers = 0\n").unwrap();
    assert!(h
        .control
        .handle(reload(Some(&other), false, false))
        .is_err());
    assert_eq!(h.control.config_file(), h.file.as_path());
    std::fs::write(
        &other,
        config().replace("scheduler = \"rr\"", "scheduler = \"wlc\""),
    )
    .unwrap();
    assert!(h.control.handle(reload(Some(&other), false, false)).is_ok());
    assert_eq!(h.control.config_file(), other.as_path());
    // The next reload without a file (SIGHUP) reads the other file: an edit there shows.
    std::fs::write(
        &other,
        config().replace("scheduler = \"rr\"", "scheduler = \"sh\""),
    )
    .unwrap();
    assert!(h.control.handle(reload(None, false, false)).is_ok());
    assert!(h.saved().contains("scheduler = \"sh\""));
    std::fs::remove_file(&other).unwrap();
}

/// A refusal names the change of the batch it comes from (rvsadm -R prints its line):
/// changes refused as they are applied, and problems found in the whole result, blamed on
/// the last change of the service (and real) they are in.
#[test]
fn a_refusal_names_the_change_it_comes_from() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let spec = |vip: &str, scheduler: &str| ServiceSpec {
        key: key(vip),
        scheduler: scheduler.into(),
        flags: vec![],
        persistence: 0,
        netmask: 32,
        one_packet: false,
    };
    let add = |vip: &str, rip: &str, forward| Change::AddReal {
        service: key(vip),
        real: real(rip, forward),
    };
    let cases: Vec<(Vec<Change>, usize, &str)> = vec![
        (
            vec![
                Change::AddService(spec("10.0.0.120", "rr")),
                add("10.0.0.120", "10.1.0.21:80", Forward::Nat),
                add("10.0.0.120", "10.1.0.21:80", Forward::Nat),
            ],
            2,
            "real 10.1.0.21:80 already exists in tcp 10.0.0.120:80",
        ),
        (
            vec![
                Change::AddService(spec("10.0.0.120", "rr")),
                add("10.0.0.121", "10.1.0.21:80", Forward::Nat),
            ],
            1,
            "no service tcp 10.0.0.121:80",
        ),
        (
            vec![Change::AddService(spec("10.0.0.120", "bogus"))],
            0,
            "unknown scheduler \"bogus\"",
        ),
        (
            vec![
                Change::AddService(spec("10.0.0.120", "rr")),
                add("10.0.0.120", "10.1.0.21:80", Forward::FullNat),
                Change::AddService(spec("10.0.0.122", "rr")),
                add("10.0.0.122", "10.1.0.22:80", Forward::Nat),
            ],
            1,
            "service 10.0.0.120:80/tcp: real 10.1.0.21:80: forward \"fullnat\" needs laddrs \
             in the service: add one with rvsadm -P -t 10.0.0.120:80 -z ADDRESS",
        ),
        (
            vec![
                Change::AddService(spec("10.0.0.122", "rr")),
                Change::AddService(spec("224.0.0.1", "rr")),
            ],
            1,
            "service 224.0.0.1:80/tcp: VIP 224.0.0.1 is a multicast address, which cannot be \
             a service's address",
        ),
        (
            vec![Change::AddLaddr {
                service: key("10.0.0.100"),
                addr: "10.0.0.100".parse().unwrap(),
            }],
            0,
            "service 10.0.0.100:80/tcp: local address 10.0.0.100 is the service's VIP: the \
             connections to the reals need another address of the director",
        ),
    ];
    for (batch, index, message) in cases {
        let e = h.apply(batch.clone()).unwrap_err();
        assert_eq!(
            (e.change, e.message.as_str()),
            (Some(index), message),
            "{batch:?}"
        );
    }
    for vip in ["0.0.0.0", "255.255.255.255", "224.0.0.1"] {
        let e = h
            .apply(vec![Change::AddService(spec(vip, "rr"))])
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid, "{vip}");
        assert!(e.message.contains(&format!("VIP {vip} is")), "{e:?}");
    }
}

/// `rvsadm -S` saves what is configured: a real a health check took out is saved with its
/// configured weight, so that save, clear and restore bring it back.
#[test]
fn save_clear_restore_keeps_a_real_a_health_check_took_out() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_port = up.local_addr().unwrap().port();
    let text = TwoPortDirector::new("mem", 1024).to_toml()
        + &format!(
            r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wrr"

[service.check]
kind = "tcp"
interval = 0.05
timeout = 0.04
rise = 1
fall = 1
sorry = "127.0.0.2:{up_port}"

[[service.real]]
ip = "127.0.0.1"
port = {closed}
forward = "nat"
weight = 3

[[service.real]]
ip = "127.0.0.1"
port = {up_port}
forward = "nat"
weight = 2
"#
        );
    let mut h = Harness::with(&text, "10.1.0.3".parse().unwrap());
    let down = format!("127.0.0.1:{closed}");
    let start = std::time::Instant::now();
    loop {
        h.control.tick_health();
        let Ok(Response::Health(list)) = h.control.handle(Request::Health) else {
            panic!("no health listing");
        };
        if list.iter().any(|r| r.real.to_string() == down && !r.up) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{list:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let reals = |h: &mut Harness, request| match h.control.handle(request) {
        Ok(Response::Services(list)) => list[0]
            .reals
            .iter()
            .map(|r| (r.spec.addr.to_string(), r.spec.weight))
            .collect::<Vec<_>>(),
        other => panic!("not a listing: {other:?}"),
    };
    let configured = vec![(down.clone(), 3), (format!("127.0.0.1:{up_port}"), 2)];
    assert_eq!(
        reals(&mut h, Request::Services { service: None }),
        [(format!("127.0.0.1:{up_port}"), 2)],
        "-Ln hides the real that is down"
    );
    assert_eq!(reals(&mut h, Request::ConfiguredServices), configured);
    let Ok(Response::Services(table)) = h.control.handle(Request::ConfiguredServices) else {
        panic!("no configured listing");
    };
    let saved = rvs_ctl::adm::save::save(&table);
    assert!(
        saved.contains(&format!("-a -t 10.0.0.100:80 -r {down} -m -w 3")),
        "{saved}"
    );
    assert_eq!(h.apply(vec![Change::Clear]), Ok(Response::Done));
    assert_eq!(reals_count(&mut h), 0);
    let restore = rvs_ctl::adm::restore::parse_restore(&saved, &rvs_ctl::adm::address::NumericOnly)
        .expect("-S output restores");
    assert_eq!(h.apply(restore.changes), Ok(Response::Done));
    // -S writes reals in ipvsadm's order (by address and port).
    let mut back = reals(&mut h, Request::ConfiguredServices);
    back.sort();
    let mut want = configured;
    want.sort();
    assert_eq!(back, want, "the real is back");
}

fn reals_count(h: &mut Harness) -> usize {
    match h.control.handle(Request::ConfiguredServices) {
        Ok(Response::Services(list)) => list.iter().map(|s| s.reals.len()).sum(),
        other => panic!("not a listing: {other:?}"),
    }
}

#[test]
fn a_reload_applies_services_and_refuses_what_needs_a_restart() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    std::fs::write(
        &h.file,
        config().replace("scheduler = \"rr\"", "scheduler = \"wrr\""),
    )
    .unwrap();
    match h.control.handle(reload(None, false, false)) {
        Ok(Response::Reloaded(r)) => {
            assert!(r.applied, "{r:?}");
            assert_eq!(r.changes.len(), 2, "{r:?}");
            assert!(r.changes[0].ends_with("scheduler rr -> wrr"), "{r:?}");
        }
        other => panic!("reload: {other:?}"),
    }
    assert!(h.saved().contains("scheduler = \"wrr\""));
    std::fs::write(&h.file, config().replace("workers = 1", "workers = 2")).unwrap();
    let e = h.control.handle(reload(None, false, false)).unwrap_err();
    assert!(
        e.message.contains("[dataplane]") && e.message.contains("nothing was applied"),
        "{e:?}"
    );
    assert!(
        h.saved().contains("scheduler = \"wrr\""),
        "a refused reload changed the state"
    );
    std::fs::write(&h.file, "[dataplane]\nworkers = 0\n").unwrap();
    let e = h.control.handle(reload(None, false, false)).unwrap_err();
    assert!(e.message.contains(":2:"), "the file's line is named: {e:?}");
}

/// A port's MTU is given to its device and sizes the packet buffers at start: a reload
/// that changes it is refused, naming `[[port]]`, and nothing is applied.
#[test]
fn a_reload_that_changes_a_port_mtu_needs_a_restart() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let jumbo = TwoPortDirector::new("mem", 1024).mtu(9000).to_toml();
    let text = config().replace(&TwoPortDirector::new("mem", 1024).to_toml(), &jumbo);
    assert!(text.contains("mtu = 9000"), "{text}");
    std::fs::write(
        &h.file,
        text.replace("scheduler = \"rr\"", "scheduler = \"wrr\""),
    )
    .unwrap();
    let e = h.control.handle(reload(None, false, false)).unwrap_err();
    assert!(
        e.message.contains("[[port]]") && e.message.contains("nothing was applied"),
        "{e:?}"
    );
    assert!(
        !h.saved().contains("wrr") && !h.saved().contains("mtu"),
        "a refused reload changed the state"
    );
}

#[test]
fn the_saved_state_reads_back_as_the_same_configuration() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    h.apply(vec![
        Change::AddReal {
            service: key("10.0.0.101"),
            real: real("10.1.0.13:8080", Forward::Nat),
        },
        Change::SetTimeouts(rvs_ctl::proto::TimeoutsInfo {
            tcp: 60,
            tcpfin: 0,
            udp: 30,
        }),
    ])
    .unwrap();
    let saved = h.saved();
    let back = Config::parse(&saved, "saved").expect("the saved file parses");
    assert_eq!(back.services[1].reals.len(), 2);
    assert_eq!(
        (back.timeouts.tcp, back.timeouts.tcpfin, back.timeouts.udp),
        (60, 120, 30)
    );
    assert_eq!(rvs_config::to_toml(&back), saved);
}

/// The statistics `rvsadm -Ln --stats` shows for real `addr` of service `vip`.
fn real_stats(h: &mut Harness, vip: &str, addr: &str) -> Stats {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    match h.control.handle(Request::Services {
        service: Some(key(vip)),
    }) {
        Ok(Response::Services(list)) => {
            list[0]
                .reals
                .iter()
                .find(|r| r.spec.addr == addr)
                .expect("the real is listed")
                .stats
        }
        other => panic!("not a service listing: {other:?}"),
    }
}

#[test]
fn a_real_added_again_after_its_id_was_freed_starts_its_statistics_at_zero() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let add = || Change::AddReal {
        service: key("10.0.0.101"),
        real: real("10.1.0.13:8080", Forward::Nat),
    };
    h.apply(vec![add()]).unwrap();
    // Ids are handed out lowest first: the two configured reals have 0 and 1.
    let id = 2;
    {
        let mut p = h.published.lock().unwrap();
        p.traffic = TrafficTable::with_capacity(64, 256);
        p.traffic.dests[id] = Traffic {
            conns: 5,
            inpkts: 50,
            outpkts: 40,
            inbytes: 5000,
            outbytes: 4000,
            ..Traffic::default()
        };
        p.generation = h.control.generation();
    }
    assert_eq!(real_stats(&mut h, "10.0.0.101", "10.1.0.13:8080").conns, 5);
    h.apply(vec![Change::DeleteReal {
        service: key("10.0.0.101"),
        addr: "10.1.0.13:8080".parse().unwrap(),
    }])
    .unwrap();
    // Not before the worker has published under the configuration without the real (a
    // connection it made before could still point at it).
    assert_eq!(h.control.retire_ids(), Retired::default());
    h.published.lock().unwrap().generation = h.control.generation();
    assert_eq!(h.control.retire_ids().dests, [id as u32]);
    // Added again: the freed id, the old counts still in the worker's table, none shown.
    h.apply(vec![add()]).unwrap();
    assert_eq!(
        real_stats(&mut h, "10.0.0.101", "10.1.0.13:8080"),
        Stats::default()
    );
    h.published.lock().unwrap().traffic.dests[id].conns += 1;
    assert_eq!(real_stats(&mut h, "10.0.0.101", "10.1.0.13:8080").conns, 1);
}

/// The statistics `rvsadm -Ln --stats` shows for service `vip`.
fn service_stats(h: &mut Harness, vip: &str) -> Stats {
    match h.control.handle(Request::Services {
        service: Some(key(vip)),
    }) {
        Ok(Response::Services(list)) => list[0].stats,
        other => panic!("not a service listing: {other:?}"),
    }
}

/// A service removed and added again before its id is freed (its connections still
/// hold it) gets the same id back, yet shows no count of its earlier self, as a new
/// IPVS service starts at 0.
#[test]
fn a_service_added_again_while_its_id_is_held_starts_its_statistics_at_zero() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let spec = ServiceSpec {
        key: key("10.0.0.120"),
        scheduler: "rr".into(),
        flags: vec![],
        persistence: 0,
        netmask: 32,
        one_packet: false,
    };
    let add = vec![
        Change::AddService(spec.clone()),
        Change::AddReal {
            service: spec.key,
            real: real("10.1.0.13:8080", Forward::Nat),
        },
    ];
    h.apply(add.clone()).unwrap();
    // Ids are handed out lowest first: the two configured services have 0 and 1.
    let id = 2;
    {
        let mut p = h.published.lock().unwrap();
        p.traffic = TrafficTable::with_capacity(64, 256);
        p.traffic.services[id].conns = 11;
        p.generation = h.control.generation();
    }
    assert_eq!(service_stats(&mut h, "10.0.0.120").conns, 11);
    h.apply(vec![Change::DeleteService(spec.key)]).unwrap();
    // No retire_ids: the id stays held, as connections of the service would hold it.
    h.apply(add).unwrap();
    assert_eq!(service_stats(&mut h, "10.0.0.120"), Stats::default());
    h.published.lock().unwrap().traffic.services[id].conns += 1;
    assert_eq!(service_stats(&mut h, "10.0.0.120").conns, 1);
}

/// `rvsadm -A -u VIP:53 -s twos -o`: taken on a UDP service, listed back with its flag and
/// written by `config save`; rvsd refuses it on a TCP service and refuses a NAT real on
/// a one-packet service, changing nothing.
#[test]
fn one_packet_from_rvsadm_is_held_to_udp_and_direct_reals() {
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let udp = ServiceKey {
        proto: Protocol::Udp,
        addr: "10.0.0.110:53".parse().unwrap(),
    };
    let spec = ServiceSpec {
        key: udp,
        scheduler: "twos".into(),
        flags: vec![],
        persistence: 0,
        netmask: 32,
        one_packet: true,
    };
    h.apply(vec![
        Change::AddService(spec.clone()),
        Change::AddReal {
            service: udp,
            real: real("10.1.0.21:53", Forward::Dr),
        },
    ])
    .unwrap();
    let listed = match h.control.handle(Request::Services { service: Some(udp) }) {
        Ok(Response::Services(s)) => s,
        other => panic!("not services: {other:?}"),
    };
    assert_eq!(listed[0].spec, spec);
    let saved = h.saved();
    assert!(saved.contains("scheduler = \"twos\""), "{saved}");
    assert!(saved.contains("one_packet = true"), "{saved}");
    let nat = Change::AddReal {
        service: udp,
        real: real("10.1.0.22:53", Forward::Nat),
    };
    let e = h.apply(vec![nat]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(
        e.message.contains("one_packet needs a UDP service"),
        "{e:?}"
    );
    let tcp = ServiceSpec {
        key: key("10.0.0.111"),
        ..spec
    };
    let e = h.apply(vec![Change::AddService(tcp)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("one_packet"), "{e:?}");
    assert_eq!(h.saved(), saved, "refused changes left nothing behind");
}

/// A SYN-proxied service with a NAT real (`synproxy = true` in the file): rvsadm adds
/// another NAT real and a FULLNAT one (each connection takes its real's mode); a DR real
/// is refused, the message naming it and why, and nothing changes.
#[test]
fn rvsadm_adds_nat_reals_to_a_syn_proxied_service_but_not_direct_ones() {
    let text = config().replace(
        "vip = \"10.0.0.101\"\nport = 80\nscheduler = \"rr\"\n",
        "vip = \"10.0.0.101\"\nport = 80\nscheduler = \"rr\"\nladdrs = [\"10.1.0.3\"]\nsynproxy = true\n",
    );
    let mut h = Harness::with(&text, "10.1.0.3".parse().unwrap());
    let svc = key("10.0.0.101");
    h.apply(vec![
        Change::AddReal {
            service: svc,
            real: real("10.1.0.13:8080", Forward::Nat),
        },
        Change::AddReal {
            service: svc,
            real: real("10.1.0.14:8080", Forward::FullNat),
        },
    ])
    .unwrap();
    let saved = h.saved();
    assert!(saved.contains("synproxy = true"), "{saved}");
    assert!(saved.contains("ip = \"10.1.0.14\""), "{saved}");
    let dr = Change::AddReal {
        service: svc,
        real: real("10.1.0.15:80", Forward::Dr),
    };
    let e = h.apply(vec![dr]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(
        e.message
            .contains("synproxy needs reals with forward = \"nat\" or \"fullnat\"")
            && e.message.contains("10.1.0.15:80")
            && e.message.contains("never sees its replies"),
        "{e:?}"
    );
    assert_eq!(h.saved(), saved, "the refused real left nothing behind");
}

#[test]
fn tunnel_reals_from_rvsadm_are_listed_saved_and_checked() {
    use rvs_ctl::proto::{TunCsum, TunType, TunnelSpec};
    let mut h = Harness::new("10.1.0.3".parse().unwrap());
    let svc = ServiceKey {
        proto: Protocol::Tcp,
        addr: "10.0.0.112:80".parse().unwrap(),
    };
    let gue = TunnelSpec {
        kind: TunType::Gue,
        port: 6080,
        csum: TunCsum::Remcsum,
    };
    let gue_real = RealSpec {
        tunnel: gue,
        ..real("10.1.0.21:80", Forward::Tun)
    };
    h.apply(vec![
        Change::AddService(ServiceSpec {
            key: svc,
            scheduler: "rr".into(),
            flags: vec![],
            persistence: 0,
            netmask: 32,
            one_packet: false,
        }),
        Change::AddReal {
            service: svc,
            real: gue_real,
        },
    ])
    .unwrap();
    let listed = match h.control.handle(Request::Services { service: Some(svc) }) {
        Ok(Response::Services(s)) => s,
        other => panic!("not services: {other:?}"),
    };
    assert_eq!(listed[0].reals[0].spec, gue_real, "listed as given");
    let saved = h.saved();
    assert!(
        saved.contains("tun_type = \"gue\"\ntun_port = 6080\ntun_csum = \"remcsum\""),
        "{saved}"
    );
    // -e without tunnel options makes the real IPIP again, as ipvsadm's -e does.
    h.apply(vec![Change::EditReal {
        service: svc,
        real: real("10.1.0.21:80", Forward::Tun),
    }])
    .unwrap();
    assert!(!h.saved().contains("tun_type"), "{}", h.saved());
    // What the file refuses, the protocol refuses too (a client other than rvsadm).
    let before = h.saved();
    for (tunnel, words) in [
        (
            TunnelSpec {
                kind: TunType::Gue,
                port: 0,
                csum: TunCsum::Nocsum,
            },
            "tun_port",
        ),
        (
            TunnelSpec {
                kind: TunType::Gre,
                port: 0,
                csum: TunCsum::Remcsum,
            },
            "remcsum",
        ),
        (
            TunnelSpec {
                kind: TunType::Ipip,
                port: 6080,
                csum: TunCsum::Nocsum,
            },
            "tun_port",
        ),
    ] {
        let bad = Change::EditReal {
            service: svc,
            real: RealSpec {
                tunnel,
                ..real("10.1.0.21:80", Forward::Tun)
            },
        };
        let e = h.apply(vec![bad]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains(words), "{e:?}");
    }
    assert_eq!(h.saved(), before, "refused changes left nothing behind");
}

/// Mark services through the control core as rvsadm makes them: added with their reals,
/// listed by their key, saved as `fwmark = N`, their rules shown by `rvsctl marks`; a
/// reload that changes the rules is applied and reported.
#[test]
fn mark_services_are_added_listed_saved_and_their_rules_reloaded() {
    let rules = "\n[[mark]]\nmark = 1\nproto = \"tcp\"\ndst = [\"10.0.0.150/32\"]\nports = [\"80\", \"443\"]\n";
    let text = config() + rules;
    let mut h = Harness::with(&text, "10.1.0.3".parse().unwrap());
    let k = ServiceKey::fwmark(1, false);
    h.apply(vec![
        Change::AddService(ServiceSpec {
            key: k,
            scheduler: "rr".into(),
            flags: vec![],
            persistence: 300,
            netmask: 32,
            one_packet: false,
        }),
        Change::AddReal {
            service: k,
            real: real("10.1.0.13:0", Forward::Nat),
        },
    ])
    .unwrap();
    let Ok(Response::Services(list)) = h.control.handle(Request::Services { service: Some(k) })
    else {
        panic!("no listing");
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.key.mark(), Some(1));
    assert_eq!(list[0].spec.persistence, 300);
    assert_eq!(list[0].reals[0].spec.addr, "10.1.0.13:0".parse().unwrap());
    let saved = h.saved();
    assert!(saved.contains("[[mark]]\nmark = 1\nproto = \"tcp\"\ndst = [\"10.0.0.150/32\"]\nports = [\"80\", \"443\"]\n"), "{saved}");
    assert!(
        saved.contains("[[service]]\nfwmark = 1\nscheduler = \"rr\"\npersistence = 300\n"),
        "{saved}"
    );
    let Ok(Response::Marks(marks)) = h.control.handle(Request::Marks) else {
        panic!("no marks");
    };
    assert_eq!(marks.len(), 1);
    assert_eq!(
        (marks[0].mark, marks[0].services.as_slice()),
        (1, [k].as_slice())
    );
    // The file, with the runtime changes saved into it, then the rule widened.
    std::fs::write(
        &h.file,
        saved.replace(
            "ports = [\"80\", \"443\"]",
            "ports = [\"80\", \"443\", \"8000-8099\"]",
        ),
    )
    .unwrap();
    let Ok(Response::Reloaded(report)) = h.control.handle(reload(None, false, false)) else {
        panic!("not reloaded");
    };
    assert!(report.applied);
    assert!(
        report.changes.iter().any(|c| c == "[[mark]] changed"),
        "{:?}",
        report.changes
    );
    let Ok(Response::Marks(marks)) = h.control.handle(Request::Marks) else {
        panic!("no marks");
    };
    assert_eq!(marks[0].ports, ["80", "443", "8000-8099"]);
    // A mark service is deleted by its mark.
    h.apply(vec![Change::DeleteService(k)]).unwrap();
    assert!(!h.saved().contains("fwmark = 1"));
}

/// A content-switching service on the two-port director: rule 0 by host, rule 1 by path.
const L7_SERVICE: &str = r#"
[[service]]
proto = "tcp"
vip = "10.0.0.102"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.2"]
l7 = "http"
[[service.rule]]
host = "img.example.com"
group = "img"
[[service.rule]]
path_prefix = "/api/"
group = "api"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"
[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "fullnat"
group = "img"
[[service.real]]
ip = "10.1.0.13"
port = 8080
forward = "fullnat"
group = "api"
"#;

fn rules(h: &mut Harness) -> Vec<rvs_ctl::proto::RulesInfo> {
    match h.control.handle(Request::Rules) {
        Ok(Response::Rules(list)) => list,
        other => panic!("no rules: {other:?}"),
    }
}

/// `rvsctl rules` lists each content-switching service's rules in order with their
/// groups and the workers' match counts of the current generation, which the metrics
/// export too; a reload that changes the rules lists the new ones.
#[test]
fn content_rules_are_listed_with_their_match_counts_and_reloaded() {
    let text = config() + L7_SERVICE;
    let mut h = Harness::with(&text, "10.1.0.3".parse().unwrap());
    let list = rules(&mut h);
    assert_eq!(
        list.len(),
        1,
        "only the content-switching service: {list:?}"
    );
    let s = &list[0];
    assert_eq!(s.key.addr, "10.0.0.102:80".parse().unwrap());
    assert_eq!(s.l7, "http");
    let shown: Vec<_> = s
        .rules
        .iter()
        .map(|r| {
            (
                r.host.as_deref(),
                r.path_prefix.as_deref(),
                r.group.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (Some("img.example.com"), None, "img"),
            (None, Some("/api/"), "api")
        ]
    );
    assert!(s.rules.iter().all(|r| r.matches == 0) && s.default_matches == 0);

    // The worker's counts (rule 0, rule 1, default) of the current generation.
    {
        let mut p = h.published.lock().unwrap();
        p.generation = h.control.generation();
        p.rule_matches = vec![5, 1, 2];
    }
    let list = rules(&mut h);
    let counts: Vec<u64> = list[0].rules.iter().map(|r| r.matches).collect();
    assert_eq!(
        (counts.as_slice(), list[0].default_matches),
        (&[5, 1][..], 2)
    );
    assert_eq!(h.control.metrics_input().rules, list);
    let text = rvs_control::metrics::render::render(&h.control.metrics_input());
    assert!(
        text.contains(
            "rvs_service_content_rule_matches_total{local_address=\"10.0.0.102\",\
             local_port=\"80\",proto=\"TCP\",rule=\"0\",group=\"img\"} 5"
        ),
        "{text}"
    );

    // The rules changed by a reload: the new ones are listed; the worker's counts,
    // laid out by the previous generation, are not read until it publishes again.
    std::fs::write(&h.file, text_with_rule(&text_of(&h), "*.example.com")).unwrap();
    let Ok(Response::Reloaded(report)) = h.control.handle(reload(None, false, false)) else {
        panic!("not reloaded");
    };
    assert!(report.applied, "{report:?}");
    let list = rules(&mut h);
    assert_eq!(list[0].rules[0].host.as_deref(), Some("*.example.com"));
    assert!(list[0].rules.iter().all(|r| r.matches == 0) && list[0].default_matches == 0);
}

fn text_of(h: &Harness) -> String {
    std::fs::read_to_string(&h.file).unwrap()
}

fn text_with_rule(text: &str, host: &str) -> String {
    text.replace("host = \"img.example.com\"", &format!("host = \"{host}\""))
}
