//! `rvs-lab compare`: rvsd side by side with the kernel's nftables DNAT and HAProxy, and
//! with the ceiling (the client straight to the reals), on the same lab, the same nginx
//! reals and the same wrk load.
//!
//! Every scenario runs once per round in a freshly built lab (TIME_WAIT left on the reals
//! by one run would spoil the next), the order rotated each round; only ratios between
//! runs of the same round are compared, since this kind of machine is noisy. Each run
//! records requests/s, the 99th percentile latency, errors, and the whole machine's CPU
//! time per request (the client's, the reals' and the director's together: what the
//! balancer adds shows as the difference to the ceiling).
//!
//! The content-switching scenarios ([`Scenario::CONTENT_SWITCHING`]) send every wrk
//! thread's requests with one of two `Host` headers (the threads take them in turn), to
//! two of the reals: an rvsd L7 service with a rule per host, the same reals behind a
//! plain FULLNAT service, and HAProxy in HTTP mode choosing a backend per host.

mod cpu;
mod report;
mod servers;
mod wrk;

use std::path::PathBuf;

use crate::addr::{self, REALS};
use crate::config::{Pmd, Service};
use crate::rvsd::Rvsd;
use crate::topology::Lab;

pub use report::{render, run_line, summarise, Summary};
pub use wrk::{Load, Wrk};

/// One way to get the client's requests to the reals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The client straight to the reals over the lab's direct segment (each wrk thread to
    /// one real): the ceiling.
    Direct,
    /// rvsd (NAT, rr, one worker) on `net_af_xdp` ports.
    RvsdAfXdp,
    /// rvsd (NAT, rr, one worker) on `net_af_packet` ports.
    RvsdAfPacket,
    /// The director's kernel: nftables DNAT, `numgen inc` round robin.
    Nftables,
    /// HAProxy 2.6 in TCP mode, round robin, in the director's kernel stack.
    Haproxy,
    /// rvsd (one worker, `net_af_xdp`): an `l7 = "http"` FULLNAT service with a rule per
    /// `Host` (`a.example`, `b.example`), each to a group of one real.
    RvsdL7,
    /// rvsd (one worker, `net_af_xdp`): the same two reals behind a plain FULLNAT
    /// service (rr, no SYN proxy), blind to the host.
    RvsdFullnat,
    /// HAProxy 2.6 in HTTP mode choosing a backend (one real each) by `Host`.
    HaproxyHttp,
}

impl Scenario {
    /// Every scenario, the ceiling first.
    pub const ALL: [Scenario; 8] = [
        Scenario::Direct,
        Scenario::RvsdAfXdp,
        Scenario::RvsdAfPacket,
        Scenario::Nftables,
        Scenario::Haproxy,
        Scenario::RvsdL7,
        Scenario::RvsdFullnat,
        Scenario::HaproxyHttp,
    ];

    /// The layer-4 comparison (what `rvs-lab compare` runs by default), the ceiling first.
    pub const L4: [Scenario; 5] = [
        Scenario::Direct,
        Scenario::RvsdAfXdp,
        Scenario::RvsdAfPacket,
        Scenario::Nftables,
        Scenario::Haproxy,
    ];

    /// Content switching by `Host`: rvsd's L7 service against the same reals behind its
    /// plain FULLNAT service and behind HAProxy in HTTP mode.
    pub const CONTENT_SWITCHING: [Scenario; 3] = [
        Scenario::RvsdL7,
        Scenario::RvsdFullnat,
        Scenario::HaproxyHttp,
    ];

    /// True when its requests carry the two `Host` headers of content switching.
    pub fn by_host(self) -> bool {
        Scenario::CONTENT_SWITCHING.contains(&self)
    }

    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Direct => "direct",
            Scenario::RvsdAfXdp => "rvsd-af_xdp",
            Scenario::RvsdAfPacket => "rvsd-af_packet",
            Scenario::Nftables => "nftables",
            Scenario::Haproxy => "haproxy",
            Scenario::RvsdL7 => "rvsd-l7",
            Scenario::RvsdFullnat => "rvsd-fullnat",
            Scenario::HaproxyHttp => "haproxy-http",
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Rounds; every scenario and load runs once per round.
    pub rounds: usize,
    /// The scenarios (the ceiling is added when missing: the ratios need it).
    pub scenarios: Vec<Scenario>,
    /// The loads.
    pub loads: Vec<Load>,
    /// wrk's threads, connections and run time.
    pub wrk: Wrk,
    /// The rvsd binary.
    pub rvsd: PathBuf,
}

/// One run: a scenario under a load in a round.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The round (from 0).
    pub round: usize,
    /// The scenario.
    pub scenario: Scenario,
    /// The load.
    pub load: Load,
    /// What wrk reported.
    pub wrk: wrk::WrkResult,
    /// CPU-seconds the whole machine was busy during the run.
    pub cpu_seconds: f64,
    /// The share of the machine's CPU that was busy during the run (0 to 1).
    pub cpu_share: f64,
}

impl Sample {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        if self.wrk.seconds > 0.0 {
            self.wrk.requests as f64 / self.wrk.seconds
        } else {
            0.0
        }
    }

    /// Whole-machine CPU time per request, in microseconds.
    pub fn cpu_us_per_request(&self) -> f64 {
        if self.wrk.requests == 0 {
            return 0.0;
        }
        self.cpu_seconds * 1e6 / self.wrk.requests as f64
    }
}

/// Runs every round; `progress` hears of each run as it ends.
pub fn run(options: &Options, mut progress: impl FnMut(&Sample)) -> Vec<Sample> {
    crate::cmd::preflight();
    for tool in ["wrk", "nginx", "nft", "haproxy"] {
        assert!(
            crate::cmd::run(&["sh", "-c", &format!("command -v {tool}")])
                .status
                .success(),
            "the comparison needs {tool}: run scripts/setup"
        );
    }
    assert!(wrk::installed(), "wrk does not run");
    let mut scenarios = options.scenarios.clone();
    if !scenarios.contains(&Scenario::Direct) {
        scenarios.insert(0, Scenario::Direct);
    }
    let units: Vec<(Scenario, Load)> = scenarios
        .iter()
        .flat_map(|s| options.loads.iter().map(move |l| (*s, *l)))
        .collect();
    let ticks = cpu::ticks_per_second();
    let mut samples = Vec::new();
    for round in 0..options.rounds {
        let shift = round % units.len().max(1);
        for (scenario, load) in units[shift..].iter().chain(&units[..shift]) {
            let sample = run_one(options, round, *scenario, *load, ticks);
            progress(&sample);
            samples.push(sample);
        }
    }
    samples
}

/// Starts rvsd (one worker) on `pmd` ports with `service` and waits until the VIP
/// answers (a request for the first of [`servers::HOSTS`]).
fn start_rvsd(lab: &Lab, options: &Options, pmd: Pmd, service: Service) -> Rvsd {
    let config = lab.write_config_sized("compare", pmd, (1, 1 << 20), None, &[service]);
    let rvsd = Rvsd::start(lab, &options.rvsd, &config);
    servers::wait_http_as(lab, "c", servers::VIP, Some(servers::HOSTS[0]));
    rvsd
}

/// One run in a lab of its own.
fn run_one(options: &Options, round: usize, scenario: Scenario, load: Load, ticks: f64) -> Sample {
    let mut lab = Lab::new('q');
    servers::tune_client(&lab);
    servers::start_nginx(&mut lab);
    let mut hosts = Vec::new();
    let mut target = servers::VIP.to_owned();
    let rvsd = match scenario {
        Scenario::Direct => {
            hosts = (1..=REALS).map(addr::real_direct).collect();
            target = hosts[0].clone();
            None
        }
        Scenario::RvsdAfXdp | Scenario::RvsdAfPacket => {
            let pmd = if scenario == Scenario::RvsdAfXdp {
                Pmd::AfXdp
            } else {
                Pmd::AfPacket
            };
            let service =
                Service::new("tcp", servers::VIP, 80, "rr").all_reals(servers::NGINX_PORT, "nat");
            Some(start_rvsd(&lab, options, pmd, service))
        }
        Scenario::RvsdL7 | Scenario::RvsdFullnat => {
            let service = servers::by_host_service(scenario == Scenario::RvsdL7);
            Some(start_rvsd(&lab, options, Pmd::AfXdp, service))
        }
        Scenario::Nftables => {
            servers::kernel_director(&lab);
            servers::start_nftables(&lab);
            servers::wait_http(&lab, "c", servers::VIP);
            None
        }
        Scenario::Haproxy => {
            servers::kernel_director(&lab);
            servers::start_haproxy(&mut lab);
            None
        }
        Scenario::HaproxyHttp => {
            servers::kernel_director(&lab);
            servers::start_haproxy_http(&mut lab);
            None
        }
    };
    if scenario.by_host() {
        servers::check_hosts_reach_their_reals(&lab, scenario != Scenario::RvsdFullnat);
    } else if scenario != Scenario::Direct {
        servers::check_every_real_answers(&lab);
    }
    let host_headers: &[&str] = if scenario.by_host() {
        &servers::HOSTS
    } else {
        &[]
    };
    let before = cpu::CpuTimes::now();
    let result = options.wrk.run(&lab, &target, &hosts, host_headers, load);
    let after = cpu::CpuTimes::now();
    if let Some(rvsd) = rvsd {
        let report = rvsd.stop();
        let mut summary = report.clone();
        if let Some(map) = summary.as_object_mut() {
            map.remove("workers");
        }
        eprintln!(
            "compare: {} {} rvsd: {summary}",
            scenario.name(),
            load.name()
        );
    }
    Sample {
        round,
        scenario,
        load,
        wrk: result,
        cpu_seconds: after.busy_seconds_since(&before, ticks),
        cpu_share: after.busy_share_since(&before),
    }
}
