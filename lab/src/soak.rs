//! `rvs-lab soak`: everything at once on the HA lab, for a given time, on a seeded
//! schedule. Two rvsd directors in a VRRP pair with connection sync (one worker each,
//! af_packet) in front of three reals running nginx, with health checks on every
//! service: NAT, FULLNAT with persistence, FULLNAT with the PROXY protocol v2, FULLNAT
//! with TOA, FULLNAT with the SYN proxy, DR and TUN (the reals answer those straight to
//! the client through the hub: [`HaLab::add_direct_return`]). Each director announces its
//! VIPs through BIRD over BGP to a router namespace while it is master (module
//! `routes`); after each takeover and preemption the soak waits until the router's
//! routes follow the new master. The client keeps up keep-alive and `Connection: close`
//! requests and byte-checked downloads (module `load`), paced wrk runs keep-alive and
//! `Connection: close` (module `wrk`) and uploads checked by length and SHA-256 by an
//! upload server on every real (module `upload`), while events (module `events`)
//! change weights, quiesce, remove and add reals, add and remove a whole service and
//! change a scheduler (module `runtime`), reload an edited configuration (rvsctl or
//! SIGHUP), flap a backend, flood junk with spoofed SYNs at the SYN-proxy and a NAT
//! service beside it (module `synflood`; the SYN-proxy service denies half of its
//! sources, the NAT service limits them as one client) and fail the master over. The
//! summary also gives wrk's counts and the directors' SYN-proxy counters.
//!
//! Every failed connection is classified: within a flapping real's window it is a
//! killed real's, within a removed real's window a removed real's, otherwise it is
//! **lost**. The run also checks that neither rvsd panicked, that each director's
//! per-service connection counts add up to its workers' totals, and that director 2
//! (never restarted) grew its resident memory by at most [`RSS_GROWTH_BOUND_KIB`].
//! [`Summary::render`] ends with `soak: C connections, L lost, F failovers, RSS A -> B
//! KiB` (director 2's memory after the warm-up and at the end).

mod events;
mod load;
mod pair;
mod report;
mod rng;
mod routes;
mod runtime;
mod synflood;
mod upload;
mod wrk;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rvs_ctl::proto::{Forward, Request, Response, WorkerInfo};

use crate::config::Service;
use crate::ha::{ha_real, HaLab, HA_LADDR, HA_VIP, HA_VIP2, PLAIN_PORT, PROXY_PORT};
pub use report::{Class, Summary};

/// Reals in the soak's lab.
pub const REALS: usize = 3;
/// How much director 2's resident memory may grow from the warm-up to the end: its
/// tables and pools are sized at start, so growth beyond this is a leak.
pub const RSS_GROWTH_BOUND_KIB: u64 = 16 * 1024;
/// The load runs this long before memory is first sampled and events begin.
const WARM_UP: Duration = Duration::from_secs(10);
/// Bytes of each download (nginx sends them at [`crate::ha::SLOW_RATE`]: 4 s).
const DOWNLOAD_BYTES: usize = 1 << 20;
/// The load's seed is the run's, changed by this (two streams from one seed).
const LOAD_SEED: u64 = 0x5eed_10ad;
/// The uploads' seed is the run's, changed by this.
const UPLOAD_SEED: u64 = 0x5eed_0b0d;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long the load and the events run.
    pub duration: Duration,
    /// The schedule's seed.
    pub seed: u64,
    /// The rvsd binary (rvsadm's changes go through its control socket).
    pub rvsd: PathBuf,
}

/// One of the soak's services: its VIP and port, how its reals are reached and on
/// which port.
#[derive(Clone, Copy, Debug)]
pub struct Svc {
    /// The VIP.
    pub vip: &'static str,
    /// The service's port.
    pub port: u16,
    /// Where the client's requests go: the VIP, with `:PORT` when the port is not 80.
    pub target: &'static str,
    /// The forwarding method of every real.
    pub forward: Forward,
    /// The reals' port.
    pub real_port: u16,
    /// The scheduler.
    scheduler: &'static str,
    /// Local address and further keys (FULLNAT).
    fullnat: Option<(&'static str, &'static str)>,
    /// Persistence in seconds (0: none).
    persistence: u32,
    /// Allow and deny lists and limits (`docs/config.md`, "Guarding a service").
    guard: &'static str,
}

/// The services: NAT, FULLNAT with persistence (the client's one address: every
/// connection follows its template), FULLNAT with PROXY v2 (to nginx's PROXY listener),
/// FULLNAT with TOA (nginx's plain listener: its kernel ignores the option), FULLNAT
/// with the SYN proxy, DR and TUN (on nginx's plain port: neither changes the
/// destination port).
const SERVICES: [Svc; 7] = [
    Svc {
        vip: HA_VIP,
        port: 80,
        target: HA_VIP,
        forward: Forward::Nat,
        real_port: PLAIN_PORT,
        scheduler: "rr",
        fullnat: None,
        persistence: 0,
        guard: NAT_GUARD,
    },
    Svc {
        vip: HA_VIP2,
        port: 80,
        target: HA_VIP2,
        forward: Forward::FullNat,
        real_port: PLAIN_PORT,
        scheduler: "wlc",
        fullnat: Some((HA_LADDR, "")),
        persistence: 30,
        guard: "",
    },
    Svc {
        vip: "10.50.0.12",
        port: 80,
        target: "10.50.0.12",
        forward: Forward::FullNat,
        real_port: PROXY_PORT,
        scheduler: "rr",
        fullnat: Some(("10.60.0.201", "client_address = \"proxy-v2\"")),
        persistence: 0,
        guard: "",
    },
    Svc {
        vip: "10.50.0.20",
        port: 80,
        target: "10.50.0.20",
        forward: Forward::FullNat,
        real_port: PLAIN_PORT,
        scheduler: "rr",
        fullnat: Some(("10.60.0.220", "client_address = \"toa\"")),
        persistence: 0,
        guard: "",
    },
    Svc {
        vip: "10.50.0.21",
        port: 80,
        target: "10.50.0.21",
        forward: Forward::FullNat,
        real_port: PLAIN_PORT,
        scheduler: "rr",
        fullnat: Some(("10.60.0.221", SYNPROXY)),
        persistence: 0,
        guard: SYNPROXY_GUARD,
    },
    Svc {
        vip: DR_VIP,
        port: PLAIN_PORT,
        target: "10.50.0.22:8082",
        forward: Forward::Dr,
        real_port: PLAIN_PORT,
        scheduler: "wrr",
        fullnat: None,
        persistence: 0,
        guard: "",
    },
    Svc {
        vip: TUN_VIP,
        port: PLAIN_PORT,
        target: "10.50.0.23:8082",
        forward: Forward::Tun,
        real_port: PLAIN_PORT,
        scheduler: "lc",
        fullnat: None,
        persistence: 0,
        guard: "",
    },
];

/// The DR service's VIP (on every real's `lo`).
const DR_VIP: &str = "10.50.0.22";
/// The NAT service's limit: the SYN flood's spoofed sources (all in 198.18.0.0/16) are
/// one client by their /16 and get 200 new connections a second between them, while
/// the load's client (in 10.50.0.0/16) keeps a bucket of its own and never comes near it.
const NAT_GUARD: &str = "client_prefix_v4 = 16\nlimit_new_per_client = 200";
/// The SYN-proxy service's deny list: the upper half of the SYN flood's sources (module
/// `synflood`) gets no cookie.
const SYNPROXY_GUARD: &str = "deny = [\"198.18.8.0/21\"]";
/// The keys of a service with the SYN proxy.
const SYNPROXY: &str = "synproxy = true";
/// The TUN service's VIP (on every real's `lo`).
const TUN_VIP: &str = "10.50.0.23";

impl Svc {
    /// Whether the service has the SYN proxy on.
    fn synproxy(&self) -> bool {
        self.fullnat.is_some_and(|(_, keys)| keys == SYNPROXY)
    }

    /// Its `[[service]]` table: every real at weight 1, an HTTP check on nginx's plain
    /// port (down after 2 failures 0.5 s apart, up after 1 success).
    fn service(&self) -> Service {
        let forward = match self.forward {
            Forward::Nat => "nat",
            Forward::FullNat => "fullnat",
            Forward::Dr => "dr",
            Forward::Tun => "tun",
        };
        let mut s = Service::new("tcp", self.vip, self.port, self.scheduler)
            .persistence(self.persistence)
            .check(&format!(
            "kind = \"http\"\ninterval = 0.5\ntimeout = 0.4\nrise = 1\nfall = 2\nport = {PLAIN_PORT}\npath = \"/\"\n"
        ));
        if !self.guard.is_empty() {
            s = s.keys(self.guard);
        }
        if let Some((laddr, keys)) = self.fullnat {
            s = s.laddrs(&[laddr]);
            if !keys.is_empty() {
                s = s.keys(keys);
            }
        }
        (1..=REALS).fold(s, |s, i| s.real(&ha_real(i), self.real_port, forward, 1))
    }
}

/// Runs the soak: builds the lab (waiting for the lab lock), runs, and says what
/// happened. Panics only where the lab itself cannot be built.
pub fn run(o: &Options) -> Summary {
    crate::preflight();
    let mut lab = HaLab::with_reals('z', REALS);
    let direct: Vec<&str> = SERVICES
        .iter()
        .filter(|s| matches!(s.forward, Forward::Dr | Forward::Tun))
        .map(|s| s.vip)
        .collect();
    lab.add_direct_return(&direct);
    lab.add_router();
    let mut rng = rng::Rng::new(o.seed);
    let expected = rng.bytes(DOWNLOAD_BYTES);
    std::fs::write(lab.www().join("soak.bin"), &expected).expect("the download file");
    std::fs::write(lab.www().join("index.html"), "ok\n").expect("the index file");
    for i in 1..=REALS {
        lab.start_nginx(i);
    }
    let mut summary = Summary::new(o);
    let defs: Vec<Service> = SERVICES.iter().map(Svc::service).collect();
    let mut pair = match pair::Pair::start(&lab, &o.rvsd, &defs) {
        Ok(p) => p,
        Err(e) => {
            summary
                .problems
                .push(format!("the pair did not start: {e}"));
            return summary;
        }
    };
    for s in &SERVICES {
        if let Err(e) = pair::wait_for(
            &format!("{} answers", s.target),
            Duration::from_secs(15),
            || answers(&lab, s.target),
        ) {
            summary.problems.push(e);
            return summary;
        }
    }
    let client = load::Client {
        ns: lab.ns("c"),
        dir: lab.dir().to_owned(),
        vips: SERVICES
            .iter()
            .map(|s| (s.target, "/slow/soak.bin"))
            .collect(),
        expected,
    };
    let bodies = match upload::bodies(lab.dir(), &mut rng) {
        Ok(b) => b,
        Err(e) => {
            summary.problems.push(format!("the upload bodies: {e}"));
            return summary;
        }
    };
    let uploads = match upload::Servers::start(&lab) {
        Ok(s) => s,
        Err(e) => {
            summary.problems.push(e);
            return summary;
        }
    };
    let vips: Vec<&'static str> = SERVICES.iter().map(|s| s.target).collect();
    let wrk_script = lab.dir().join("soak-wrk.lua");
    let start = Instant::now();
    let until = start + o.duration;
    let max_requests = o.duration.as_secs() as usize * 50 + 100;
    let max_runs = o.duration.as_secs() as usize + 10;
    let (attempts, measures) = std::thread::scope(|scope| {
        let load = scope.spawn(|| client.run(o.seed ^ LOAD_SEED, until, max_requests));
        let wrk = scope.spawn(|| wrk::run(&client.ns, &wrk_script, &vips, until, max_runs));
        let posts = scope.spawn(|| {
            upload::run(
                &client.ns,
                &vips,
                &bodies,
                o.seed ^ UPLOAD_SEED,
                until,
                max_runs,
            )
        });
        std::thread::sleep(WARM_UP);
        summary.rss_start = [pair.rss_kib(1), pair.rss_kib(2)];
        let measures = events::Ctx {
            lab: &mut lab,
            pair: &mut pair,
            services: &SERVICES,
            start,
        }
        .run(&mut rng, until);
        let mut attempts = load.join().expect("the load thread");
        let (runs, totals) = wrk.join().expect("the wrk thread");
        attempts.extend(runs);
        attempts.extend(posts.join().expect("the upload thread"));
        summary.wrk = totals;
        (attempts, measures)
    });
    drop(uploads);
    summary.rss_end = [pair.rss_kib(1), pair.rss_kib(2)];
    for i in 1..=2 {
        summary.counters.push(counters(&pair, i));
        summary.drops.push(drops(&pair, i));
        summary.counts.push(counts(&pair, i));
        summary.synproxy.push(synflood::synproxy_counts(&pair, i));
    }
    summary.panics = pair
        .logs()
        .lines()
        .filter(|l| l.contains("panicked"))
        .map(str::to_owned)
        .collect();
    summary.add(&attempts, measures, start);
    summary
}

impl events::Ctx<'_> {
    /// After director `i` became master: waits until the router's routes for every
    /// service's VIP go via it, and records the time (or the problem).
    fn converge(&self, i: usize, m: &mut events::Measures) {
        let vips: Vec<&str> = self.services.iter().map(|s| s.vip).collect();
        match self.pair.routes().wait_via(i, &vips) {
            Ok(took) => m.routes.push((i, took)),
            Err(e) => m.problems.push(format!("route convergence: {e}")),
        }
    }
}

/// Whether `target` (`VIP` or `VIP:PORT`) answers a request from the client.
fn answers(lab: &HaLab, target: &str) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("c"),
            "curl",
            "-s",
            "-m",
            "2",
            "-o",
            "/dev/null",
        ])
        .args(["-w", "%{http_code}", &format!("http://{target}/")])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.stdout == b"200")
}

/// Director `i`'s connections scheduled by its services (their sum, with those of
/// services removed since it started) and created by its workers (their sum).
fn counters(pair: &pair::Pair, i: usize) -> Result<(u64, u64), String> {
    let services = match pair.call(i, Request::Services { service: None })? {
        Response::Services(all) => all.iter().map(|s| s.stats.conns).sum::<u64>() + pair.retired(i),
        other => return Err(format!("services answered {other:?}")),
    };
    let workers = match pair.call(i, Request::Workers)? {
        Response::Workers(all) => all.iter().map(|w| w.conns_created).sum(),
        other => return Err(format!("workers answered {other:?}")),
    };
    Ok((services, workers))
}

/// Director `i`'s counters that are not zero: its workers' (summed), and its VRRP and
/// sync refusals by reason (`ha_refused_*`, `sync_refused_*`).
fn counts(pair: &pair::Pair, i: usize) -> Vec<(String, u64)> {
    let mut all = Vec::new();
    match pair.call(i, Request::Workers) {
        Ok(Response::Workers(workers)) => {
            for c in WorkerInfo::COUNTERS {
                all.push((c.name.to_owned(), workers.iter().map(|w| (c.get)(w)).sum()));
            }
        }
        other => all.push((format!("workers: {other:?}"), 1)),
    }
    if let Ok(ha) = pair.ha(i) {
        all.extend(
            ha.refused
                .iter()
                .map(|(r, n)| (format!("ha_refused_{r}"), *n)),
        );
        let sync = ha.sync.iter().flat_map(|s| s.refused.iter());
        all.extend(sync.map(|(r, n)| (format!("sync_refused_{r}"), *n)));
    }
    all.retain(|(_, n)| *n > 0);
    all
}

/// Director `i`'s drops by reason, those not zero.
fn drops(pair: &pair::Pair, i: usize) -> Vec<(String, u64)> {
    match pair.call(i, Request::Drops) {
        Ok(Response::Drops(d)) => d.into_iter().filter(|(_, n)| *n > 0).collect(),
        other => vec![(format!("{other:?}"), 0)],
    }
}

#[cfg(test)]
mod tests {
    use super::SERVICES;

    #[test]
    fn each_services_target_is_its_vip_and_its_port_off_80() {
        for s in &SERVICES {
            let want = if s.port == 80 {
                s.vip.to_owned()
            } else {
                format!("{}:{}", s.vip, s.port)
            };
            assert_eq!(s.target, want);
        }
    }
}
