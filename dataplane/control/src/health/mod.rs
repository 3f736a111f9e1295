//! Health checks on the control core: keepalived's checkers (TCP connect, HTTP GET, UDP,
//! MISC) per real, with interval, timeout, rise and fall, and their effect on
//! scheduling.
//!
//! # How it runs
//!
//! Probes never run on the control core: a scheduler thread keeps a schedule per real
//! and runs the probes on a bounded pool (at most 16 threads; every probe ends within its
//! timeout, so hanging targets stretch intervals at worst, never the control core's
//! loop); results come back through a channel
//! that [`Health::poll`] drains in the control core's tick. A transition changes the
//! [`Overlay`], and the control core publishes a new snapshot of the *configured*
//! [`Config`] under the new overlay, through the same path as every other change: the
//! services a transition does not touch keep their scheduler tables, ids and
//! connections. `config save` writes the configuration, never the overlay.
//!
//! # Semantics (keepalived's, where it has one)
//!
//! - A real starts **up** (keepalived without `alpha`): starting or reloading a director
//!   does not take reals out until probes have passed. It goes down after `fall`
//!   consecutive failures and comes back after `rise` consecutive successes. A real
//!   added by a change starts up too; a real or check removed forgets its state.
//! - Down with `on_fail = "remove"`: the real stays in the configuration and in its
//!   service's table with `available = false`, so the scheduler never picks it; it is
//!   **hidden from `rvsadm -Ln` and `-S`**, as keepalived takes it out of IPVS (so
//!   `rvsadm -S` under failures saves what is being served, as `ipvsadm -S` does under
//!   keepalived). Down with `on_fail = "inhibit"` (`inhibit_on_failure`): weight 0,
//!   listed with weight 0. `rvsctl health` shows every checked real either way.
//! - Connections already on a failed real are left alone: their packets still reach it,
//!   and the client's TCP decides.
//! - MISC with `dynamic`: exit 2..=255 is up with weight `code - 2` until the next such
//!   result; exit 0 is up and keeps the last dynamic weight (the configured one before
//!   any); exit 1 (or any code without `dynamic`) is a failure.
//! - Sorry server: while no real of the service is up (reals with `check = false` count
//!   as up), the sorry server is appended to the service's table with weight 1 and every
//!   real gets weight 0, so each scheduler, hashing ones included, sends every new
//!   connection to it. It is reached with the forwarding mode of the service's first real
//!   (keepalived uses the virtual server's one `lb_kind`), listed by `rvsadm -Ln` while in
//!   use (keepalived adds it to IPVS the same way), and left as soon as one real is up
//!   again; its connections then finish where they are.
//! - Every transition is logged on stderr
//!   (`rvsd: health: service tcp 10.0.0.100:80 real 10.1.0.11:8080 down (http: status 503)`)
//!   and counted per real (`rvs_backend_health_transitions_total`).
//!
//! Checks run on a live director only; replay schedules every real as configured.
//!
//! # Network path
//!
//! Probes are ordinary sockets of the rvsd process (and commands it runs), so they leave
//! through the host kernel's stack and routes, not through the dataplane: the host needs
//! a route to every real's address (a management network, or a kernel interface toward
//! the reals' network). A real that the kernel cannot reach fails its checks (connect
//! errors or timeouts).

mod http;
mod misc;
mod prober;
mod state;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};
use rvs_conntrack::Proto;
use rvs_ctl::proto::{HealthInfo, Protocol, ServiceKey};

use rvs_config::{CheckConfig, CheckKind, Config, OnFail};

use http::HttpCheck;
use misc::MiscUp;
use prober::{Prober, Report, Target};
use rvs_pipeline::overlay::{sorry_in_use, Overlay, RealEffect};
use state::RealState;

/// One probe's verdict: up (with the weight a dynamic misc check set) or why not.
pub type ProbeResult = Result<Option<u32>, ProbeFailure>;

/// Why a probe failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    /// The connection was not made.
    #[error("connect: {0}")]
    Connect(std::io::ErrorKind),
    /// Nothing (or not everything) within the timeout.
    #[error("timed out")]
    TimedOut,
    /// A socket error after connecting.
    #[error("{0}")]
    Io(std::io::ErrorKind),
    /// http: no `HTTP/1.x NNN` status line.
    #[error("no HTTP status line")]
    BadResponse,
    /// http: a status outside the expected range.
    #[error("status {0}")]
    Status(u16),
    /// http: the body lacks the expected text.
    #[error("body lacks the expected text")]
    BodyMissing,
    /// udp: ICMP port unreachable.
    #[error("port unreachable")]
    PortUnreachable,
    /// udp: no reply within the timeout.
    #[error("no reply")]
    NoReply,
    /// misc: an empty command.
    #[error("no command")]
    NoCommand,
    /// misc: the command could not be started.
    #[error("cannot run the command: {0}")]
    Spawn(std::io::ErrorKind),
    /// misc: a failing exit code.
    #[error("exit status {0}")]
    Exit(i32),
    /// misc: ended by a signal.
    #[error("killed by signal {0}")]
    Signal(i32),
}

impl ProbeFailure {
    /// A failed connect (a connect timeout is [`ProbeFailure::TimedOut`]).
    fn connect(e: std::io::Error) -> Self {
        if udp::is_timeout(&e) {
            ProbeFailure::TimedOut
        } else {
            ProbeFailure::Connect(e.kind())
        }
    }

    /// Any other socket error.
    fn io(e: std::io::Error) -> Self {
        ProbeFailure::Io(e.kind())
    }
}

/// Run `check` once against `addr` (on a probe thread: this blocks up to the timeout).
pub fn run_probe(addr: SocketAddr, check: &CheckConfig) -> ProbeResult {
    match check.kind {
        CheckKind::Tcp => tcp::probe(addr, check.timeout).map(|()| None),
        CheckKind::Http => {
            let http = HttpCheck {
                path: &check.path,
                expect: check.expect,
                body: &check.body,
            };
            http::probe(addr, http, check.timeout).map(|()| None)
        }
        CheckKind::Udp => udp::probe(addr, check.send.as_bytes(), check.timeout).map(|()| None),
        CheckKind::Misc => match misc::probe(addr, &check.command, check.dynamic, check.timeout)? {
            MiscUp::Plain => Ok(None),
            MiscUp::Weight(w) => Ok(Some(w)),
        },
    }
}

/// Identifies a checked real: its service (protocol, VIP and port) and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RealKey {
    /// The service's protocol.
    pub proto: Proto,
    /// The service's VIP and port.
    pub vip: SocketAddr,
    /// The real's address and port.
    pub real: SocketAddr,
}

impl std::fmt::Display for RealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = if self.proto == Proto::Udp {
            "udp"
        } else {
            "tcp"
        };
        write!(f, "service {proto} {} real {}", self.vip, self.real)
    }
}

/// Every checked real of `config` with the address its check probes.
fn targets(config: &Config) -> Vec<Target> {
    let mut out = Vec::new();
    for svc in &config.services {
        let Some(check) = &svc.check else { continue };
        let check = Arc::new(check.clone());
        let vip = SocketAddr::new(svc.vip, svc.port);
        for r in svc.reals.iter().filter(|r| r.check) {
            out.push(Target {
                key: RealKey {
                    proto: svc.proto,
                    vip,
                    real: SocketAddr::new(r.ip, r.port),
                },
                addr: SocketAddr::new(r.ip, check.port.unwrap_or(r.port)),
                check: Arc::clone(&check),
            });
        }
    }
    out
}

/// The control core's health checking: the state of every checked real and the prober.
#[derive(Default)]
pub struct Health {
    states: HashMap<RealKey, RealState>,
    prober: Option<(Prober, Receiver<Report>)>,
    /// Services whose sorry server is in use (for logging its changes).
    sorry: HashSet<(Proto, SocketAddr)>,
}

impl Health {
    /// Check the reals `config` asks to check (call after each configuration change):
    /// new reals start up, reals no longer checked are forgotten. The prober starts
    /// with the first checked real.
    pub fn configure(&mut self, config: &Config) {
        let targets = targets(config);
        let now = Instant::now();
        let keys: HashSet<RealKey> = targets.iter().map(|t| t.key).collect();
        self.states.retain(|k, _| keys.contains(k));
        for k in &keys {
            self.states.entry(*k).or_insert_with(|| RealState::new(now));
        }
        if self.prober.is_none() && !targets.is_empty() {
            match Prober::start() {
                Ok(p) => self.prober = Some(p),
                Err(e) => crate::error!("health: cannot start the prober: {e}"),
            }
        }
        if let Some((prober, _)) = &self.prober {
            prober.set_targets(targets);
        }
        self.sorry = sorry_set(config, &self.overlay(config));
    }

    /// Take every result that arrived; log transitions. True when the overlay changed
    /// (the caller then publishes a new snapshot).
    pub fn poll(&mut self, config: &Config) -> bool {
        let Some((_, reports)) = &self.prober else {
            return false;
        };
        let reports: Vec<Report> = reports.try_iter().collect();
        if reports.is_empty() {
            return false;
        }
        let before = self.overlay(config);
        let now = Instant::now();
        let checks = checks_by_service(config);
        for report in reports {
            let (Some(state), Some(check)) = (
                self.states.get_mut(&report.key),
                checks.get(&(report.key.proto, report.key.vip)),
            ) else {
                continue;
            };
            let reason = match &report.result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{}: {e}", check.kind.name()),
            };
            let weight = state.dynamic_weight;
            if state.record(report.result, report.took, check.rise, check.fall, now) {
                if state.up {
                    crate::info!("health: {} up ({reason})", report.key);
                } else {
                    crate::warn!("health: {} down ({reason})", report.key);
                }
            }
            if let Some(w) = state.dynamic_weight.filter(|&w| Some(w) != weight) {
                crate::info!("health: {} weight {w} (misc_dynamic)", report.key);
            }
        }
        let after = self.overlay(config);
        let sorry = sorry_set(config, &after);
        for svc in &config.services {
            let key = (svc.proto, SocketAddr::new(svc.vip, svc.port));
            let Some(addr) = svc.check.as_ref().and_then(|c| c.sorry) else {
                continue;
            };
            let proto = if svc.proto == Proto::Udp {
                "udp"
            } else {
                "tcp"
            };
            match (self.sorry.contains(&key), sorry.contains(&key)) {
                (false, true) => crate::warn!(
                    "health: service {proto} {}: no real up, sorry server {addr} in use",
                    key.1
                ),
                (true, false) => crate::info!(
                    "health: service {proto} {}: a real is up, sorry server {addr} out of use",
                    key.1
                ),
                _ => {}
            }
        }
        self.sorry = sorry;
        before != after
    }

    /// What the checks do to the reals of `config` now.
    pub fn overlay(&self, config: &Config) -> Overlay {
        let mut overlay = Overlay::default();
        for svc in &config.services {
            let Some(check) = &svc.check else { continue };
            let vip = SocketAddr::new(svc.vip, svc.port);
            for r in &svc.reals {
                let real = SocketAddr::new(r.ip, r.port);
                let key = RealKey {
                    proto: svc.proto,
                    vip,
                    real,
                };
                let Some(state) = self.states.get(&key) else {
                    continue;
                };
                let effect = match (state.up, check.on_fail) {
                    (false, OnFail::Remove) => Some(RealEffect::Removed),
                    (false, OnFail::Inhibit) => Some(RealEffect::Inhibited),
                    (true, _) => state.dynamic_weight.map(RealEffect::Weight),
                };
                if let Some(effect) = effect {
                    overlay.set(svc.proto, vip, real, effect);
                }
            }
        }
        overlay
    }

    /// Every checked real of `config`, in configuration order, for `rvsctl health`.
    pub fn infos(&self, config: &Config) -> Vec<HealthInfo> {
        let overlay = self.overlay(config);
        let now = Instant::now();
        let mut out = Vec::new();
        for svc in &config.services {
            let Some(check) = &svc.check else { continue };
            let vip = SocketAddr::new(svc.vip, svc.port);
            let sorry = sorry_in_use(svc, &overlay);
            for r in svc.reals.iter().filter(|r| r.check) {
                let real = SocketAddr::new(r.ip, r.port);
                let key = RealKey {
                    proto: svc.proto,
                    vip,
                    real,
                };
                let Some(state) = self.states.get(&key) else {
                    continue;
                };
                let weight = match overlay.effect(svc.proto, vip, r.ip, r.port) {
                    _ if sorry.is_some() => 0,
                    Some(RealEffect::Inhibited) => 0,
                    Some(RealEffect::Weight(w)) => w,
                    Some(RealEffect::Removed) | None => r.weight,
                };
                out.push(HealthInfo {
                    service: ServiceKey {
                        proto: if svc.proto == Proto::Udp {
                            Protocol::Udp
                        } else {
                            Protocol::Tcp
                        },
                        addr: vip,
                    },
                    real,
                    kind: check.kind.name().to_owned(),
                    target: SocketAddr::new(r.ip, check.port.unwrap_or(r.port)),
                    up: state.up,
                    successes: state.successes,
                    failures: state.failures,
                    last: match &state.last {
                        None => String::new(),
                        Some(Ok(_)) => "ok".to_owned(),
                        Some(Err(e)) => format!("{}: {e}", check.kind.name()),
                    },
                    since_s: now.saturating_duration_since(state.since).as_secs(),
                    checks: state.checks,
                    transitions: state.transitions,
                    last_duration_us: duration_us(state.last_duration),
                    on_fail: match check.on_fail {
                        OnFail::Remove => "remove",
                        OnFail::Inhibit => "inhibit",
                    }
                    .to_owned(),
                    configured_weight: r.weight,
                    weight,
                    sorry,
                });
            }
        }
        out
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Each service's check, by (protocol, VIP and port).
fn checks_by_service(config: &Config) -> HashMap<(Proto, SocketAddr), &CheckConfig> {
    config
        .services
        .iter()
        .filter_map(|s| Some(((s.proto, SocketAddr::new(s.vip, s.port)), s.check.as_ref()?)))
        .collect()
}

/// The services whose sorry server is in use under `overlay`.
fn sorry_set(config: &Config, overlay: &Overlay) -> HashSet<(Proto, SocketAddr)> {
    config
        .services
        .iter()
        .filter(|s| sorry_in_use(s, overlay).is_some())
        .map(|s| (s.proto, SocketAddr::new(s.vip, s.port)))
        .collect()
}
