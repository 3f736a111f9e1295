//! Debian's ldirectord, unmodified, running rvsd through rvsadm standing in for ipvsadm:
//! the path an LVS operator with years of `ldirectord.cf` takes to rvs.
//!
//! The test starts ldirectord (from apt, `supervised = yes`, so it stays a child of the
//! test) in the lab's director namespace, in a mount namespace of its own where
//! `scripts/ipvsadm-alternative install` has put rvsadm at `/sbin/ipvsadm`: `/sbin`,
//! dpkg's database and `/run` are overlays on a tmpfs there, so the machine's files
//! are never touched and everything is gone when ldirectord exits. ldirectord's checks
//! leave through the director's kernel (the lab's probe path).
//!
//! Three virtual services: HTTP through NAT (`quiescent = no`, a fallback server), HTTP
//! through DR (`quiescent = yes`, weights) and HTTP through an IPIP tunnel (`quiescent =
//! yes`, `persistent` with a `netmask`). ldirectord adds the reals; a real's server stops
//! and ldirectord takes it out of the NAT service and quiesces it (weight 0) in the
//! others; it comes back in all; a client is served throughout but for requests in flight
//! at the stop or sent before rvsd's table said so. With every real down the NAT
//! service serves from the fallback. rvsd's file reloaded with `--discard-runtime` drops
//! ldirectord's services; ldirectord's reload (SIGHUP) adds them back. On SIGTERM
//! ldirectord deletes what it added.
//! Every ipvsadm call ldirectord made succeeded (it logs those that did not).
//!
//! Needs root and the tools `scripts/setup` installs; one lab at a time on the machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_ctl::client;
use rvs_ctl::proto::{Request, Response};
use rvs_lab::{addr, preflight, Lab, Pmd, Rvsd, HTTP_PORT};

/// The NAT service's VIP (port 80).
const NAT_VIP: &str = "10.0.0.100";
/// The port of the fallback server on real 1.
const FALLBACK_PORT: u16 = 8081;
/// ldirectord's check interval and timeout, seconds.
const CHECK_SECONDS: u64 = 1;
/// How long ldirectord may take to act on a change of a real's server.
const DETECT_LIMIT: Duration = Duration::from_secs(30);
/// A request's time limit (curl `-m`): a request sent just before rvsd's table changed
/// may fail up to this late.
const REQUEST_LIMIT_SECS: u64 = 2;
/// The tunnel service's persistence, seconds.
const TUN_PERSISTENCE: u32 = 300;
/// Most requests the client sends.
const MAX_REQUESTS: usize = 3000;

/// rvsd's table: per service (`ip:port`), its reals as `(ip:port, weight)`.
type Table = Vec<(String, Vec<(String, u32)>)>;

fn table(lab: &Lab) -> Table {
    let services = match client::call(&lab.socket(), Request::Services { service: None }) {
        Ok(Response::Services(s)) => s,
        other => panic!("listing services: {other:?}"),
    };
    let mut out: Table = services
        .into_iter()
        .map(|s| {
            let mut reals: Vec<(String, u32)> = s
                .reals
                .iter()
                .map(|r| (r.spec.addr.to_string(), r.spec.weight))
                .collect();
            reals.sort();
            (s.spec.key.addr.to_string(), reals)
        })
        .collect();
    out.sort();
    out
}

/// The reals of `service` in `table` (empty when the service is missing).
fn reals<'a>(table: &'a Table, service: &str) -> &'a [(String, u32)] {
    table
        .iter()
        .find(|(s, _)| s == service)
        .map_or(&[], |(_, r)| r.as_slice())
}

/// Waits until rvsd's table satisfies `ok`; the moment it did.
fn wait_for(lab: &Lab, ld: &Ldirectord, what: &str, ok: impl Fn(&Table) -> bool) -> Instant {
    let deadline = Instant::now() + DETECT_LIMIT;
    loop {
        let t = table(lab);
        if ok(&t) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "ldirectord did not make {what} within {DETECT_LIMIT:?}; rvsd's table: {t:?}\n\
             ldirectord's log:\n{}",
            ld.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ldirectord running in the director's namespace with rvsadm as its ipvsadm.
struct Ldirectord {
    child: Child,
    log: PathBuf,
}

/// What runs ldirectord: private overlays over `/sbin` (wherever it points) and dpkg's
/// database and a private `/run`, all on a tmpfs at `$1`; the install step `$2` puts
/// rvsadm `$4` with socket `$3` in ipvsadm's place; then ldirectord with `$5`.
const LAUNCH: &str = r#"set -e
top=$1
mount -t tmpfs rvs-ldirectord "$top"
for dir in "$(readlink -f /sbin)" /var/lib/dpkg; do
    name=$(echo "$dir" | tr / _)
    mkdir -p "$top/$name/upper" "$top/$name/work"
    mount -t overlay rvs-ldirectord \
        -o "lowerdir=$dir,upperdir=$top/$name/upper,workdir=$top/$name/work" "$dir"
done
mount -t tmpfs rvs-ldirectord /run
"$2" install --socket "$3" "$4"
exec ldirectord "$5" start
"#;

impl Ldirectord {
    /// Starts ldirectord with `config` (a file in the lab's directory).
    fn start(lab: &Lab, config: &Path) -> Ldirectord {
        let rvsadm = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name("rvsadm");
        assert!(
            rvsadm.exists(),
            "{} is missing: build the workspace (scripts/test does)",
            rvsadm.display()
        );
        let install = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ipvsadm-alternative");
        let top = lab.dir().join("ldirectord-root");
        std::fs::create_dir_all(&top).expect("overlay dir");
        let log = lab.dir().join("ldirectord.log");
        let out = std::fs::File::create(&log).expect("ldirectord log");
        let err = out.try_clone().expect("ldirectord log");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.ns("d"), "sh", "-c", LAUNCH, "sh"])
            .arg(&top)
            .arg(&install)
            .arg(lab.socket())
            .arg(&rvsadm)
            .arg(config)
            .env_remove("RVS_SOCKET")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start ldirectord");
        Ldirectord { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`HUP`: reload the configuration, `TERM`: stop).
    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "SIG{signal} to ldirectord");
    }

    /// Sends SIGTERM and waits (bounded) for ldirectord to exit: its log.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait ldirectord") {
                assert!(
                    status.success(),
                    "ldirectord exited {status}:\n{}",
                    self.log()
                );
                return self.log();
            }
            assert!(
                Instant::now() < deadline,
                "ldirectord did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ldirectord {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `ldirectord.cf`: NAT on port 80 (HTTP check, real removed when down, fallback)
/// and DR on the lab's DR VIP (connect check, real quiesced when down, weights 1 2 1).
fn ldirectord_cf() -> String {
    let reals = |f: &dyn Fn(usize) -> String| -> String {
        (1..=addr::REALS)
            .map(|i| format!("\treal = {}\n", f(i)))
            .collect()
    };
    let nat_reals = reals(&|i| format!("{}:{HTTP_PORT} masq 1", addr::real(i)));
    let dr_reals = reals(&|i| {
        let weight = if i == 2 { 2 } else { 1 };
        format!("{}:{HTTP_PORT} gate {weight}", addr::real(i))
    });
    let tun_reals = reals(&|i| format!("{}:{HTTP_PORT} ipip", addr::real(i)));
    format!(
        "# Written by rvs's ldirectord lab test.\n\
         checktimeout = {CHECK_SECONDS}\n\
         checkinterval = {CHECK_SECONDS}\n\
         autoreload = no\n\
         supervised = yes\n\
         quiescent = yes\n\
         \n\
         virtual = {NAT_VIP}:80\n\
         {nat_reals}\
         \tfallback = {}:{FALLBACK_PORT} masq\n\
         \tservice = http\n\
         \tchecktype = negotiate\n\
         \trequest = \"/\"\n\
         \treceive = \"r[0-9]\"\n\
         \tscheduler = rr\n\
         \tprotocol = tcp\n\
         \tquiescent = no\n\
         \n\
         virtual = {}:{HTTP_PORT}\n\
         {dr_reals}\
         \tchecktype = connect\n\
         \tscheduler = wrr\n\
         \tprotocol = tcp\n\
         \n\
         virtual = {}:{HTTP_PORT}\n\
         {tun_reals}\
         \tchecktype = connect\n\
         \tscheduler = rr\n\
         \tpersistent = {TUN_PERSISTENCE}\n\
         \tnetmask = 255.255.255.0\n\
         \tprotocol = tcp\n",
        addr::real(1),
        addr::DR_VIP,
        addr::TUN_VIP,
    )
}

/// One client request: when it was sent and answered (or given up), to which VIP, and the
/// answer (`None`: failed, with curl's exit status and message in `error`).
struct Sent {
    at: Instant,
    done: Instant,
    target: String,
    answer: Option<String>,
    error: String,
}

/// Sends requests to `targets` in turn, one connection each, until `stop` (at most
/// [`MAX_REQUESTS`]).
fn client_loop(ns: String, targets: Vec<String>, stop: Arc<AtomicBool>) -> Vec<Sent> {
    let mut sent = Vec::new();
    for n in 0..MAX_REQUESTS {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let target = targets[n % targets.len()].clone();
        let at = Instant::now();
        let url = format!("http://{target}/");
        let limit = REQUEST_LIMIT_SECS.to_string();
        let out = rvs_lab::run(&[
            "ip", "netns", "exec", &ns, "curl", "-sS", "-m", &limit, &url,
        ]);
        let answer = out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned());
        let error = format!(
            "{} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        sent.push(Sent {
            at,
            done: Instant::now(),
            target,
            answer,
            error,
        });
        std::thread::sleep(Duration::from_millis(10));
    }
    sent
}

#[test]
fn lab_ldirectord_drives_rvsd_through_rvsadm() {
    preflight();
    assert!(
        Path::new("/usr/sbin/ldirectord").exists(),
        "ldirectord is missing: run scripts/setup"
    );
    let mut lab = Lab::new('l');
    lab.add_probe_path();
    lab.spawn(
        "r1",
        "fallback",
        &["real_http.py", "fallback", &FALLBACK_PORT.to_string()],
    );
    let rvsd_config = lab.write_config("ldirectord", Pmd::AfPacket, None, &[]);
    // The client's persistence template on a quiesced real is given up at its next use
    // (IPVS's sysctl of the same name), as the README advises with `quiescent = yes`.
    let mut text = std::fs::read_to_string(&rvsd_config).expect("rvsd config");
    text.push_str("\n[behaviour]\nexpire_quiescent_template = true\n");
    std::fs::write(&rvsd_config, text).expect("rvsd config");
    let rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &rvsd_config);
    let cf = lab.dir().join("rvs-lab.cf");
    std::fs::write(&cf, ldirectord_cf()).expect("write ldirectord.cf");

    let nat = format!("{NAT_VIP}:80");
    let dr = format!("{}:{HTTP_PORT}", addr::DR_VIP);
    let real = |i: usize| format!("{}:{HTTP_PORT}", addr::real(i));
    let fallback = format!("{}:{FALLBACK_PORT}", addr::real(1));
    let all_nat: Vec<(String, u32)> = (1..=addr::REALS).map(|i| (real(i), 1)).collect();
    let dr_weights = |w3: u32| vec![(real(1), 1), (real(2), 2), (real(3), w3)];
    let tun = format!("{}:{HTTP_PORT}", addr::TUN_VIP);
    let tun_weights = |w3: u32| vec![(real(1), 1), (real(2), 1), (real(3), w3)];
    let all_up = |t: &Table| {
        reals(t, &nat) == all_nat.as_slice()
            && reals(t, &dr) == dr_weights(1).as_slice()
            && reals(t, &tun) == tun_weights(1).as_slice()
    };

    let ld = Ldirectord::start(&lab, &cf);
    wait_for(&lab, &ld, "every service with every real", all_up);
    let persistence = match client::call(&lab.socket(), Request::Services { service: None }) {
        Ok(Response::Services(s)) => s
            .iter()
            .find(|s| s.spec.key.addr.to_string() == tun)
            .map(|s| (s.spec.persistence, s.spec.netmask)),
        other => panic!("listing services: {other:?}"),
    };
    assert_eq!(persistence, Some((TUN_PERSISTENCE, 24)), "-p and -M");

    // A client on both services while real 3's server stops and comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (ns, stop) = (lab.ns("c"), Arc::clone(&stop));
        let targets = vec![NAT_VIP.to_owned(), dr.clone(), tun.clone()];
        std::thread::spawn(move || client_loop(ns, targets, stop))
    };
    std::thread::sleep(Duration::from_secs(2));
    let stopped = Instant::now();
    lab.stop_server("r3", "http");
    let without_r3: Vec<(String, u32)> = all_nat[..2].to_vec();
    let detected = wait_for(&lab, &ld, "real 3 out (NAT) and quiesced (DR, TUN)", |t| {
        reals(t, &nat) == without_r3.as_slice()
            && reals(t, &dr) == dr_weights(0).as_slice()
            && reals(t, &tun) == tun_weights(0).as_slice()
    });
    std::thread::sleep(Duration::from_secs(2));
    lab.start_http(3);
    let back = wait_for(&lab, &ld, "real 3 back in every service", all_up);
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    let sent = client.join().expect("client thread");

    // Failures only of requests in flight at the stop or sent between the stop and the
    // table saying so (plus a request's limit).
    let window_end = detected + Duration::from_secs(REQUEST_LIMIT_SECS + 1);
    let failed: Vec<(f64, &str, &str)> = sent
        .iter()
        .filter(|s| s.answer.is_none())
        .map(|s| {
            let at = s.at.duration_since(sent[0].at).as_secs_f64();
            (at, s.target.as_str(), s.error.as_str())
        })
        .collect();
    let outside = sent
        .iter()
        .filter(|s| s.answer.is_none() && (s.done < stopped || s.at > window_end))
        .count();
    assert_eq!(
        outside,
        0,
        "{} requests, failed outside the detection window ({:.1} s .. {:.1} s): {failed:?}\n{}",
        sent.len(),
        stopped.duration_since(sent[0].at).as_secs_f64(),
        window_end.duration_since(sent[0].at).as_secs_f64(),
        ld.log()
    );
    let served_by = |from: Instant, until: Instant, target: &str, name: &str| {
        sent.iter()
            .filter(|s| s.at > from && s.at < until && s.target == target)
            .filter_map(|s| s.answer.as_deref())
            .filter(|a| a.split_whitespace().next() == Some(name))
            .count()
    };
    let end = Instant::now();
    // The tunnel service is persistent: one real answers the client before the stop, and
    // one (another if its real was real 3: the quiesced template is given up) after.
    let tun_answered_by = |from: Instant, until: Instant| {
        let names: std::collections::BTreeSet<&str> = sent
            .iter()
            .filter(|s| s.at > from && s.at < until && s.target == tun)
            .filter_map(|s| s.answer.as_deref()?.split_whitespace().next())
            .collect();
        names
    };
    for (from, until) in [(sent[0].at, stopped), (window_end, end)] {
        let names = tun_answered_by(from, until);
        assert_eq!(
            names.len(),
            1,
            "{tun}: persistent, yet answered by {names:?}"
        );
    }
    for target in [NAT_VIP, dr.as_str()] {
        assert!(
            served_by(sent[0].at, stopped, target, "r3") > 0,
            "{target}: real 3 served before it stopped"
        );
        assert!(
            served_by(back, end, target, "r3") > 0,
            "{target}: real 3 serves again once back"
        );
    }
    eprintln!("failed: {failed:?}");
    eprintln!(
        "{} requests, {} failed, all within {:.1} s of real 3's stop (detected after {:.1} s)",
        sent.len(),
        failed.len(),
        (window_end - stopped).as_secs_f64(),
        (detected - stopped).as_secs_f64()
    );

    // Every real down: the NAT service serves from the fallback, which goes again once
    // a real is back.
    for i in 1..=addr::REALS {
        lab.stop_server(&addr::real_name(i), "http");
    }
    wait_for(&lab, &ld, "the NAT service on its fallback alone", |t| {
        reals(t, &nat) == [(fallback.clone(), 1)]
    });
    let answer = lab.get(NAT_VIP).unwrap_or_default();
    assert!(answer.starts_with("fallback "), "{answer:?}");
    lab.start_http(1);
    wait_for(&lab, &ld, "real 1 in place of the fallback", |t| {
        reals(t, &nat) == [(real(1), 1)]
    });
    for i in 2..=addr::REALS {
        lab.start_http(i);
    }
    wait_for(&lab, &ld, "every real back", all_up);

    // rvsd's file reloaded without ldirectord's services (the README's advice for an
    // edited file): ldirectord's reload adds them back, and every real once checked.
    let rvsctl = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name("rvsctl");
    let reload = Command::new(&rvsctl)
        .arg("--socket")
        .arg(lab.socket())
        .args(["config", "reload", "--discard-runtime"])
        .output()
        .expect("run rvsctl");
    assert!(
        reload.status.success(),
        "rvsctl config reload --discard-runtime: {}",
        String::from_utf8_lossy(&reload.stderr)
    );
    assert_eq!(table(&lab), Table::new(), "the file has no service");
    ld.signal("HUP");
    wait_for(&lab, &ld, "every service and real after its reload", all_up);

    // ldirectord deletes what it added when it stops.
    let log = ld.stop();
    assert_eq!(table(&lab), Table::new(), "left after ldirectord stopped");
    assert!(
        !log.contains(") failed"),
        "an ipvsadm call ldirectord made failed:\n{log}"
    );
    assert!(log.contains("Added virtual server"), "{log}");
    let report = rvsd.stop();
    assert_eq!(report["io"]["tx_refused"].as_u64(), Some(0), "{report:#}");
}
