//! The soak's events, one at a time on the seed's schedule, each one undone before the
//! next: weight changes and quiescing, a real removed and added back, a configuration
//! reload of an edited file (rvsctl or SIGHUP, and back), a backend flap under health
//! checks, a whole service added and removed and a scheduler changed (module
//! `runtime`), a failover (SIGKILL of the master, its restart, preemption back) and a
//! bounded junk flood with a SYN flood beside it (module `synflood`). Each is logged
//! with its time; those whose failures are by design leave a window that classifies the
//! failed connections within it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rvs_ctl::proto::{
    Change, Forward, Protocol, RealSpec, Request, Response, ServiceKey, ServiceSpec,
};

use super::pair::{self, takeover_bound, wait_for, Pair};
use super::rng::Rng;
use super::synflood;
use super::{Class, Svc};
use crate::ha::{ha_director, ha_real, HaLab, HA_CLIENT, HA_VIP, VRID};

/// Room an event needs before the end of the run (a failover takes the most).
pub const ROOM: Duration = Duration::from_secs(25);
/// How long a change is held before it is undone.
const HOLD: Duration = Duration::from_secs(4);
/// The first failover, after this much of the run (or half the run when shorter).
const FIRST_FAILOVER: Duration = Duration::from_secs(60);
/// Failovers after the first, one every this long.
const FAILOVER_EVERY: Duration = Duration::from_secs(180);
/// How long health checks may take to see a real go down or come back (interval 0.5 s,
/// fall 2, rise 1, timeout 0.4 s: about 1.5 s) with a margin.
const DETECTION_LIMIT: Duration = Duration::from_secs(10);
/// The junk flood's rate (packets a second) and length.
const FLOOD_RATE: u32 = 2000;
const FLOOD_FOR: Duration = Duration::from_secs(5);

/// One logged event.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Seconds since the run started.
    pub at: Duration,
    /// What happened.
    pub what: String,
    /// The span in which failures are by design, and their class.
    pub window: Option<Window>,
}

/// A span in which failures are by design, and their class.
pub type Window = (Instant, Instant, Class);

/// What the events measured.
#[derive(Debug, Default)]
pub struct Measures {
    /// Every event, in order.
    pub log: Vec<Logged>,
    /// Time from the master's SIGKILL (sent) to director 2 master, for each failover.
    pub takeovers: Vec<Duration>,
    /// Time from director 1's restart (its `running` line) to it being master again.
    pub preemptions: Vec<Duration>,
    /// After each takeover and preemption: the new master, and the time from its
    /// mastership to the router's route for every VIP via it only.
    pub routes: Vec<(usize, Duration)>,
    /// Time from a real's server stopping to every check of it down.
    pub detections: Vec<Duration>,
    /// Junk packets the floods sent.
    pub flooded: u64,
    /// SYNs the SYN floods sent (module `synflood`).
    pub syn_flooded: u64,
    /// What director 1 (the master) counted over each flood.
    pub syn_counted: Vec<String>,
    /// What went wrong in the events themselves.
    pub problems: Vec<String>,
}

/// The event kinds, in the order the schedule draws from.
#[derive(Clone, Copy, Debug)]
enum Event {
    Weight,
    Quiesce,
    Remove,
    Reload,
    Flap,
    Flood,
    Service,
    Scheduler,
    Failover,
}

const DRAWN: [Event; 8] = [
    Event::Weight,
    Event::Quiesce,
    Event::Remove,
    Event::Reload,
    Event::Flap,
    Event::Flood,
    Event::Service,
    Event::Scheduler,
];

/// What the events work on.
pub struct Ctx<'a> {
    /// The lab (its reals' servers are stopped and started).
    pub lab: &'a mut HaLab,
    /// The directors.
    pub pair: &'a mut Pair,
    /// The services.
    pub services: &'a [Svc],
    /// When the run started.
    pub start: Instant,
}

impl Ctx<'_> {
    /// Runs events on `rng`'s schedule until `until` leaves no [`ROOM`]: what happened.
    pub fn run(&mut self, rng: &mut Rng, until: Instant) -> Measures {
        let mut m = Measures::default();
        let total = until.saturating_duration_since(self.start);
        let mut next_failover = self.start + FIRST_FAILOVER.min(total / 2);
        // The drawn kinds are dealt from a shuffled deck, dealt again when empty: each
        // kind comes once in every round of them, even in a short run.
        let mut deck: Vec<Event> = Vec::new();
        loop {
            let gap = Duration::from_secs(rng.between(3, 8));
            let at = Instant::now() + gap;
            if until.saturating_duration_since(at) < ROOM {
                break;
            }
            std::thread::sleep(gap);
            let event = if Instant::now() >= next_failover {
                next_failover += FAILOVER_EVERY;
                Event::Failover
            } else {
                if deck.is_empty() {
                    deck = DRAWN.to_vec();
                    for i in (1..deck.len()).rev() {
                        deck.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                }
                deck.pop().expect("a dealt deck")
            };
            let began = Instant::now();
            let outcome = self.event(event, rng, &mut m);
            let (what, window) = match outcome {
                Ok(done) => done,
                Err(e) => {
                    m.problems.push(format!("{event:?}: {e}"));
                    (format!("{event:?} FAILED: {e}"), None)
                }
            };
            let line = Logged {
                at: began - self.start,
                what,
                window,
            };
            eprintln!("soak: +{:.1}s {}", line.at.as_secs_f64(), line.what);
            m.log.push(line);
        }
        m
    }

    /// Runs one event: what it did, and its window when its failures are by design.
    fn event(
        &mut self,
        event: Event,
        rng: &mut Rng,
        m: &mut Measures,
    ) -> Result<(String, Option<Window>), String> {
        let s = rng.below(self.services.len() as u64) as usize;
        let r = rng.between(1, self.lab.reals() as u64) as usize;
        let svc = &self.services[s];
        let spec = |weight| svc.real_spec(r, weight);
        match event {
            Event::Weight | Event::Quiesce => {
                let w = match event {
                    Event::Quiesce => 0,
                    _ => rng.between(2, 5) as u32,
                };
                self.pair.apply(&[Change::EditReal {
                    service: svc.key(),
                    real: spec(w),
                }])?;
                std::thread::sleep(HOLD);
                self.pair.apply(&[Change::EditReal {
                    service: svc.key(),
                    real: spec(1),
                }])?;
                Ok((
                    format!(
                        "{} r{r} of {}: weight {w}, then 1",
                        if w == 0 { "quiesce" } else { "weight" },
                        svc.vip
                    ),
                    None,
                ))
            }
            Event::Remove => {
                let from = Instant::now();
                let addr = spec(1).addr;
                self.pair.apply(&[Change::DeleteReal {
                    service: svc.key(),
                    addr,
                }])?;
                std::thread::sleep(HOLD);
                // Back where the file has it: every real after it removed and added again.
                let mut back = Vec::new();
                for later in r + 1..=self.lab.reals() {
                    back.push(Change::DeleteReal {
                        service: svc.key(),
                        addr: svc.real_spec(later, 1).addr,
                    });
                }
                for again in r..=self.lab.reals() {
                    back.push(Change::AddReal {
                        service: svc.key(),
                        real: svc.real_spec(again, 1),
                    });
                }
                self.pair.apply(&back)?;
                Ok((
                    format!("remove r{r} from {}, add it back", svc.vip),
                    Some((
                        from,
                        Instant::now() + Duration::from_secs(1),
                        Class::RemovedReal,
                    )),
                ))
            }
            Event::Reload => {
                let w = rng.between(2, 5);
                let sighup = rng.below(2) == 1;
                self.reload_both(sighup, |text| {
                    text.replacen("weight = 1\n", &format!("weight = {w}\n"), 1)
                })?;
                std::thread::sleep(HOLD);
                self.reload_both(sighup, |text| text)?;
                let how = if sighup {
                    "SIGHUP"
                } else {
                    "rvsctl config reload"
                };
                Ok((format!("{how}: first real's weight {w}, then back"), None))
            }
            Event::Flap => {
                let from = Instant::now();
                self.lab.stop_nginx(r);
                let down = wait_for("checks see the real down", DETECTION_LIMIT, || {
                    self.checked(r, false)
                })?;
                m.detections.push(down);
                std::thread::sleep(Duration::from_secs(2));
                self.lab.start_nginx(r);
                let up = wait_for("checks see the real up", DETECTION_LIMIT, || {
                    self.checked(r, true)
                })?;
                Ok((
                    format!(
                        "flap r{r}: nginx stopped, down after {down:?}; started, up after {up:?}"
                    ),
                    Some((
                        from,
                        Instant::now() + Duration::from_secs(1),
                        Class::KilledReal,
                    )),
                ))
            }
            Event::Flood => {
                let before = synflood::Snapshot::take(self.pair, 1)?;
                let syn = self.lab.flood(
                    "c",
                    HA_CLIENT.parse().expect("IPv4"),
                    synflood::packets(&self.syn_targets()),
                    synflood::RATE,
                    synflood::FOR,
                );
                let report = self
                    .lab
                    .flood(
                        "c",
                        HA_CLIENT.parse().expect("IPv4"),
                        junk(),
                        FLOOD_RATE,
                        FLOOD_FOR,
                    )
                    .wait();
                m.flooded += report.total();
                let syn = syn.wait();
                m.syn_flooded += syn.total();
                let after = synflood::Snapshot::take(self.pair, 1)?;
                let counted = after.since(&before);
                m.syn_counted.push(counted.clone());
                // The guards met the flood: the SYN-proxy service's deny list and the NAT
                // service's per-client limit each refused part of it.
                for reason in ["acl_denied", "rate_limited"] {
                    if after.dropped_since(&before, reason) == 0 {
                        return Err(format!("the SYN flood met no {reason} refusal: {counted}"));
                    }
                }
                Ok((
                    format!(
                        "junk flood: {} packets at {:.0}/s; SYN flood: {} SYNs at {:.0}/s to {:?}; \
                         director 1 counted: {counted}",
                        report.total(),
                        report.rate(),
                        syn.total(),
                        syn.rate(),
                        self.syn_targets()
                    ),
                    None,
                ))
            }
            Event::Service => self.add_and_remove_service(),
            Event::Scheduler => self.change_scheduler(svc),
            Event::Failover => {
                let killed = Instant::now();
                let killed_at = pair::day_ms_now();
                self.pair.kill(1);
                self.pair.wait_state(2, "master", takeover_bound())?;
                // Director 2's own log says when it took over (to the millisecond);
                // polling its status would add up to a poll's worth.
                let polled = killed.elapsed();
                let mut took = None;
                let _ = wait_for("director 2's log line", Duration::from_secs(2), || {
                    took = self
                        .pair
                        .became_master_ms(2)
                        .map(|at| pair::day_ms_between(killed_at, at))
                        .filter(|t| *t <= polled);
                    took.is_some()
                });
                let took = took.unwrap_or(polled);
                m.takeovers.push(took);
                self.converge(2, m);
                std::thread::sleep(Duration::from_secs(2));
                let lab: &HaLab = self.lab;
                self.pair.restart(lab, 1);
                let back =
                    self.pair
                        .wait_state(1, "master", takeover_bound() + Duration::from_secs(3))?;
                m.preemptions.push(back);
                self.converge(1, m);
                self.pair.wait_state(2, "backup", Duration::from_secs(3))?;
                Ok((
                    format!("failover: director 1 SIGKILLed, director 2 master after {took:?}; director 1 back, master again {back:?} after its start ({:?} in all)", killed.elapsed()),
                    None,
                ))
            }
        }
    }

    /// The SYN flood's targets: the SYN-proxy services' VIPs and the first NAT service's.
    fn syn_targets(&self) -> Vec<Ipv4Addr> {
        let proxied = self.services.iter().filter(|s| s.synproxy());
        let nat = self.services.iter().find(|s| s.forward == Forward::Nat);
        proxied
            .chain(nat)
            .map(|s| s.vip.parse().expect("IPv4"))
            .collect()
    }

    /// Whether every check of real `r` (on the master) is up (`up`) or down.
    fn checked(&self, r: usize, up: bool) -> bool {
        let ip: std::net::IpAddr = ha_real(r).parse().expect("IPv4");
        match self.pair.call(1, Request::Health) {
            Ok(Response::Health(all)) => {
                let mine: Vec<_> = all.iter().filter(|h| h.real.ip() == ip).collect();
                !mine.is_empty() && mine.iter().all(|h| h.up == up)
            }
            _ => false,
        }
    }

    /// Writes each director's file as `edit` makes it and reloads it there (`sighup`:
    /// by SIGHUP, seen applied when the configuration generation moves; otherwise as
    /// `rvsctl config reload` does); the file is then put back as it was.
    fn reload_both(&self, sighup: bool, edit: impl Fn(String) -> String) -> Result<(), String> {
        for i in 1..=2 {
            let path = self.pair.config(i);
            let base = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            std::fs::write(path, edit(base.clone())).map_err(|e| e.to_string())?;
            let reloaded = if sighup {
                self.sighup(i)
            } else {
                match self.pair.call(
                    i,
                    Request::ConfigReload {
                        path: None,
                        dry_run: false,
                        discard_runtime: false,
                    },
                )? {
                    Response::Reloaded(_) => Ok(()),
                    other => Err(format!("director {i}: reload answered {other:?}")),
                }
            };
            // The file as it was: what director 1 starts from after a failover.
            std::fs::write(path, base).map_err(|e| e.to_string())?;
            reloaded?;
        }
        Ok(())
    }

    /// SIGHUP to director `i`, and a wait until its configuration generation moves.
    fn sighup(&self, i: usize) -> Result<(), String> {
        let generation = || match self.pair.call(i, Request::Status) {
            Ok(Response::Status(s)) => s.generation,
            _ => 0,
        };
        let before = generation();
        let pid = self.pair.pid(i).ok_or("not running")?.to_string();
        let out = std::process::Command::new("sh")
            .args(["-c", "kill -HUP \"$1\"", "sh", &pid])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "kill -HUP {pid}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        wait_for(
            &format!("director {i} applies the file on SIGHUP"),
            Duration::from_secs(5),
            || generation() > before,
        )
        .map(|_| ())
    }
}

impl Svc {
    /// The service as rvsadm's `-A`/`-E` give it, with `scheduler`.
    pub fn spec(&self, scheduler: &str) -> ServiceSpec {
        ServiceSpec {
            key: self.key(),
            scheduler: scheduler.to_owned(),
            flags: Vec::new(),
            persistence: self.persistence,
            netmask: 32,
            one_packet: false,
        }
    }

    /// The service's key.
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            proto: Protocol::Tcp,
            addr: SocketAddr::new(self.vip.parse().expect("IPv4"), self.port),
        }
    }

    /// Real `r` of the service with `weight`.
    pub fn real_spec(&self, r: usize, weight: u32) -> RealSpec {
        RealSpec {
            addr: SocketAddr::new(ha_real(r).parse().expect("IPv4"), self.real_port),
            forward: self.forward,
            weight,
            upper: 0,
            lower: 0,
            tunnel: Default::default(),
        }
    }
}

/// An IPv4 packet (its header checksum left to the kernel) of `proto` with `payload`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, ttl, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// The junk: protocol-112 garbage to the VRRP group and to each director, UDP garbage at
/// each director's sync port, and truncated TCP to the VIP.
fn junk() -> Vec<Vec<u8>> {
    let client: Ipv4Addr = HA_CLIENT.parse().expect("IPv4");
    let group = Ipv4Addr::new(224, 0, 0, 18);
    let garbage = [0x31, VRID, 254, 1, 0, 50, 0xde, 0xad, 10, 50, 0, 10];
    let mut out = vec![ipv4(client, group, 255, 112, &garbage)];
    for i in 1..=2 {
        let d: Ipv4Addr = ha_director(i).parse().expect("IPv4");
        out.push(ipv4(client, d, 255, 112, &garbage[..7]));
        let mut udp = Vec::new();
        udp.extend_from_slice(&8848u16.to_be_bytes());
        udp.extend_from_slice(&8848u16.to_be_bytes());
        udp.extend_from_slice(&24u16.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(b"soak junk sync!!");
        out.push(ipv4(client, d, 64, 17, &udp));
    }
    out.push(ipv4(
        client,
        HA_VIP.parse().expect("IPv4"),
        64,
        6,
        &[0, 80, 0],
    ));
    out
}
