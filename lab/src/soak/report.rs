//! The soak's summary: every connection classified, what the events measured, memory,
//! counters and panics; whether the run passed.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::events::{Logged, Measures};
use super::load::Attempt;
use super::pair::{master_down, BACKUP_PRIORITY};
use super::wrk::Totals;
use super::{Options, RSS_GROWTH_BOUND_KIB};

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Its real's server was stopped (a flap) while it ran.
    KilledReal,
    /// A real of its service was removed while it ran.
    RemovedReal,
    /// By design for another reason (none of the current events has one).
    Expected,
    /// None of the above: lost.
    Lost,
}

/// What a takeover may take beyond the backup's master down interval: an advert the
/// master sent just before its SIGKILL is taken in by the backup's VRRP thread at its
/// next 5 ms tick after the intake queue, and restarts the interval only then.
const IN_FLIGHT: Duration = Duration::from_millis(50);

/// Failed connections listed in full, at most (twice as many when lost).
const LISTED: usize = 20;

/// What a soak run saw.
#[derive(Debug, Default)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// How long it ran.
    pub duration: Duration,
    /// Connections started (a keep-alive attempt is one connection).
    pub connections: u64,
    /// Those that completed.
    pub completed: u64,
    /// Failed ones by class: killed real, removed real, expected, lost.
    pub failed: [u64; 4],
    /// The first failed ones, with their class.
    pub failures: Vec<String>,
    /// Downloaded bytes checked against what the reals serve.
    pub bytes_verified: u64,
    /// Attempts by kind (`load::Kind`'s order): keep-alive, close and download
    /// connections, wrk runs keep-alive and close, uploads.
    pub by_kind: [u64; 6],
    /// What wrk counted over its runs.
    pub wrk: Totals,
    /// SYNs the SYN floods sent.
    pub syn_flooded: u64,
    /// What the master counted over each flood (junk and SYNs).
    pub syn_counted: Vec<String>,
    /// Each director's SYN cookies sent and accepted, SYN-proxy segments held and
    /// released, at the end (director 1's since its last restart).
    pub synproxy: Vec<Result<[u64; 4], String>>,
    /// The event log.
    pub events: Vec<Logged>,
    /// Failover takeover times.
    pub takeovers: Vec<Duration>,
    /// Preemption times (director 1 back to master after its start).
    pub preemptions: Vec<Duration>,
    /// Route convergence after each takeover and preemption: the new master, and the
    /// time from its mastership to the router's route for every VIP via it only.
    pub routes: Vec<(usize, Duration)>,
    /// Health check detection times (server stopped -> real down).
    pub detections: Vec<Duration>,
    /// Junk packets flooded.
    pub flooded: u64,
    /// Each director's RSS (KiB) after the warm-up and at the end.
    pub rss_start: [u64; 2],
    /// See [`Summary::rss_start`].
    pub rss_end: [u64; 2],
    /// Each director's (services' connections, workers' connections created).
    pub counters: Vec<Result<(u64, u64), String>>,
    /// Each director's non-zero drops by reason.
    pub drops: Vec<Vec<(String, u64)>>,
    /// Each director's other non-zero counters (workers' counters, VRRP and sync
    /// refusals by reason).
    pub counts: Vec<Vec<(String, u64)>>,
    /// Log lines that say `panicked`.
    pub panics: Vec<String>,
    /// Everything else that went wrong.
    pub problems: Vec<String>,
}

impl Summary {
    /// An empty summary of a run with options `o`.
    pub fn new(o: &Options) -> Summary {
        Summary {
            seed: o.seed,
            duration: o.duration,
            ..Summary::default()
        }
    }

    /// Takes in the load's attempts (`start` when the run started) and the events'
    /// measures.
    pub(super) fn add(&mut self, attempts: &[Attempt], m: Measures, start: Instant) {
        for a in attempts {
            self.connections += 1;
            self.by_kind[a.kind as usize] += 1;
            self.bytes_verified += a.bytes;
            let Some(error) = &a.error else {
                self.completed += 1;
                continue;
            };
            let class = classify(a, &m.log);
            self.failed[class as usize] += 1;
            // Lost ones are what a reader needs: they get room beyond the first few.
            let room = if class == Class::Lost {
                2 * LISTED
            } else {
                LISTED
            };
            if self.failures.len() < room {
                self.failures.push(format!(
                    "{class:?}: {:?} to {} at {:.1} s ({:.1} s long): {error}",
                    a.kind,
                    a.vip,
                    a.span.0.saturating_duration_since(start).as_secs_f64(),
                    (a.span.1 - a.span.0).as_secs_f64()
                ));
            }
        }
        self.events = m.log;
        self.takeovers = m.takeovers;
        self.preemptions = m.preemptions;
        self.routes = m.routes;
        self.detections = m.detections;
        self.flooded = m.flooded;
        self.syn_flooded = m.syn_flooded;
        self.syn_counted = m.syn_counted;
        self.problems.extend(m.problems);
    }

    /// Connections lost.
    pub fn lost(&self) -> u64 {
        self.failed[Class::Lost as usize]
    }

    /// Director 2's memory growth, when it is beyond [`RSS_GROWTH_BOUND_KIB`].
    fn rss_problem(&self) -> Option<String> {
        let [a, b] = [self.rss_start[1], self.rss_end[1]];
        (a == 0 || b == 0 || b > a + RSS_GROWTH_BOUND_KIB).then(|| {
            format!("director 2's RSS {a} -> {b} KiB (bound: +{RSS_GROWTH_BOUND_KIB} KiB)")
        })
    }

    /// Counters that do not add up.
    fn counter_problems(&self) -> Vec<String> {
        self.counters
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Ok((s, w)) if s == w => None,
                Ok((s, w)) => Some(format!(
                    "director {}: services scheduled {s} connections, workers created {w}",
                    i + 1
                )),
                Err(e) => Some(format!("director {}: counters: {e}", i + 1)),
            })
            .collect()
    }

    /// Everything that makes the run fail, lost connections aside.
    pub fn all_problems(&self) -> Vec<String> {
        let mut all = self.problems.clone();
        all.extend(self.rss_problem());
        all.extend(self.counter_problems());
        all.extend(self.panics.iter().map(|p| format!("panic: {p}")));
        let bound = master_down(BACKUP_PRIORITY) + IN_FLIGHT;
        all.extend(self.takeovers.iter().filter(|t| **t > bound).map(|t| {
            format!(
                "a takeover took {:.3} s, beyond 3 x advert interval + skew + {} ms ({:.3} s)",
                t.as_secs_f64(),
                IN_FLIGHT.as_millis(),
                bound.as_secs_f64()
            )
        }));
        if self.connections == 0 {
            all.push("no connection was started".into());
        }
        all
    }

    /// Whether the run passed: nothing lost, nothing else wrong.
    pub fn passed(&self) -> bool {
        self.lost() == 0 && self.all_problems().is_empty()
    }

    /// The summary as printed; its last line is `soak: C connections, L lost, F
    /// failovers, RSS A -> B KiB`.
    pub fn render(&self) -> String {
        let mut t = String::new();
        let secs = |d: &[Duration]| {
            d.iter()
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            t,
            "soak: seed {}, {} s; 2 directors (VRRP + sync, 1 worker each, af_packet), 3 nginx reals; \
             services NAT + per-client limit, FULLNAT + persistence, FULLNAT + PROXY v2, FULLNAT + TOA, FULLNAT + SYN proxy + deny list, \
             DR, TUN, HTTP checks on all; wrk, uploads and downloads; VIPs announced by BIRD over BGP to a router",
            self.seed,
            self.duration.as_secs()
        );
        let _ = writeln!(t, "events:");
        for e in &self.events {
            let _ = writeln!(t, "  +{:7.1}s {}", e.at.as_secs_f64(), e.what);
        }
        let [ka, close, dl, wrk_ka, wrk_close, up] = self.by_kind;
        let [killed, removed, expected, lost] = self.failed;
        let _ = writeln!(
            t,
            "connections: {} started ({ka} keep-alive x5 requests, {close} close, {dl} downloads, \
             {wrk_ka} wrk keep-alive runs, {wrk_close} wrk close runs, {up} uploads), \
             {} completed, failed: {killed} killed real, {removed} removed real, {expected} expected, {lost} lost",
            self.connections, self.completed
        );
        let w = &self.wrk;
        let [connect, read, write, timeout] = w.errors;
        let _ = writeln!(
            t,
            "wrk: {} runs keep-alive, {} close; {} requests; socket errors: connect {connect}, \
             read {read}, write {write}, timeout {timeout}; non-2xx/3xx {}",
            w.runs[0], w.runs[1], w.requests, w.non_2xx
        );
        for f in &self.failures {
            let _ = writeln!(t, "  {f}");
        }
        let _ = writeln!(t, "bytes verified: {}", self.bytes_verified);
        let bound = master_down(BACKUP_PRIORITY);
        let _ = writeln!(
            t,
            "failovers: {} (takeover s from the SIGKILL to director 2's log line: {}, each within 3 x advert interval + skew = {:.3} s (+{} ms for an advert in flight): {}; \
             preemption s after the restart: {})",
            self.takeovers.len(),
            secs(&self.takeovers),
            bound.as_secs_f64(),
            IN_FLIGHT.as_millis(),
            if self.takeovers.iter().all(|t| *t <= bound + IN_FLIGHT) { "yes" } else { "NO" },
            secs(&self.preemptions)
        );
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|(i, d)| format!("d{i} {:.2}", d.as_secs_f64()))
            .collect();
        let _ = writeln!(
            t,
            "route convergence s (the router's route for every VIP via the new master, from its mastership): {}",
            routes.join(" ")
        );
        let _ = writeln!(t, "health detection s: {}", secs(&self.detections));
        let _ = writeln!(t, "junk flooded: {} packets", self.flooded);
        let _ = writeln!(t, "SYN flooded: {} SYNs", self.syn_flooded);
        for c in &self.syn_counted {
            let _ = writeln!(t, "  the master over a flood: {c}");
        }
        for (i, c) in self.synproxy.iter().enumerate() {
            let _ = writeln!(
                t,
                "synproxy director {}: {}",
                i + 1,
                match c {
                    Ok([sent, accepted, held, released]) => format!(
                        "cookies sent {sent}, accepted {accepted}; segments held {held}, released {released}"
                    ),
                    Err(e) => e.clone(),
                }
            );
        }
        let _ = writeln!(
            t,
            "rss KiB: director 1 {} -> {} (restarted at each failover), director 2 {} -> {} (bound +{RSS_GROWTH_BOUND_KIB})",
            self.rss_start[0], self.rss_end[0], self.rss_start[1], self.rss_end[1]
        );
        for (i, c) in self.counters.iter().enumerate() {
            let _ = writeln!(
                t,
                "counters director {}: {}",
                i + 1,
                match c {
                    Ok((s, w)) => format!("services' connections {s}, workers' created {w}"),
                    Err(e) => e.clone(),
                }
            );
        }
        for (i, d) in self.drops.iter().enumerate() {
            let _ = writeln!(t, "drops director {}: {}", i + 1, pairs(d));
        }
        for (i, c) in self.counts.iter().enumerate() {
            let _ = writeln!(t, "counts director {}: {}", i + 1, pairs(c));
        }
        for p in self.all_problems() {
            let _ = writeln!(t, "PROBLEM: {p}");
        }
        let _ = write!(
            t,
            "soak: {} connections, {} lost, {} failovers, RSS {} -> {} KiB",
            self.connections,
            self.lost(),
            self.takeovers.len(),
            self.rss_start[1],
            self.rss_end[1]
        );
        t
    }
}

/// `name=count` pairs, a few to a line.
fn pairs(all: &[(String, u64)]) -> String {
    let items: Vec<String> = all.iter().map(|(k, n)| format!("{k}={n}")).collect();
    items
        .chunks(6)
        .map(|c| c.join(" "))
        .collect::<Vec<_>>()
        .join("\n    ")
}

/// The class of failed attempt `a`: that of the first by-design window it overlaps.
fn classify(a: &Attempt, log: &[Logged]) -> Class {
    log.iter()
        .filter_map(|e| e.window)
        .find(|(from, to, _)| a.span.0 <= *to && *from <= a.span.1)
        .map_or(Class::Lost, |(_, _, class)| class)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Class, Summary};
    use crate::soak::events::{Logged, Measures};
    use crate::soak::load::{Attempt, Kind};

    /// An attempt from `from` to `to` seconds after `t0`, failed when `error`.
    fn attempt(t0: Instant, from: u64, to: u64, error: bool) -> Attempt {
        Attempt {
            kind: Kind::Close,
            vip: "10.50.0.10",
            span: (t0 + Duration::from_secs(from), t0 + Duration::from_secs(to)),
            bytes: if error { 0 } else { 10 },
            error: error.then(|| "curl exit status: 7".to_owned()),
        }
    }

    /// A summary with 100 s of clean memory and counters, and `attempts` against one
    /// flap window from 10 to 20 s.
    fn summary(attempts: &[Attempt], t0: Instant) -> Summary {
        let mut s = Summary {
            rss_start: [1000, 1000],
            rss_end: [1000, 1100],
            counters: vec![Ok((5, 5)), Ok((1, 1))],
            ..Summary::default()
        };
        let log = vec![Logged {
            at: Duration::from_secs(10),
            what: "flap".into(),
            window: Some((
                t0 + Duration::from_secs(10),
                t0 + Duration::from_secs(20),
                Class::KilledReal,
            )),
        }];
        s.add(
            attempts,
            Measures {
                log,
                takeovers: vec![Duration::from_millis(1500)],
                ..Measures::default()
            },
            t0,
        );
        s
    }

    #[test]
    fn a_failure_within_a_flap_is_a_killed_reals_and_outside_it_is_lost() {
        let t0 = Instant::now();
        let within = [attempt(t0, 1, 2, false), attempt(t0, 19, 25, true)];
        let s = summary(&within, t0);
        assert_eq!((s.connections, s.completed, s.failed), (2, 1, [1, 0, 0, 0]));
        assert_eq!(s.bytes_verified, 10);
        assert!(s.passed(), "{}", s.render());
        assert_eq!(
            s.render().lines().last(),
            Some("soak: 2 connections, 0 lost, 1 failovers, RSS 1000 -> 1100 KiB")
        );

        let outside = [attempt(t0, 21, 22, true)];
        let s = summary(&outside, t0);
        assert_eq!(s.lost(), 1);
        assert!(!s.passed());
        assert!(s
            .render()
            .ends_with("soak: 1 connections, 1 lost, 1 failovers, RSS 1000 -> 1100 KiB"));
    }

    #[test]
    fn counters_that_differ_memory_growth_a_panic_and_a_slow_takeover_each_fail_the_run() {
        let t0 = Instant::now();
        let ok = [attempt(t0, 1, 2, false)];
        let mut s = summary(&ok, t0);
        s.counters[1] = Ok((2, 1));
        assert!(!s.passed());
        assert!(s
            .render()
            .contains("PROBLEM: director 2: services scheduled 2"));

        let mut s = summary(&ok, t0);
        s.rss_end[1] = 1000 + super::RSS_GROWTH_BOUND_KIB + 1;
        assert!(!s.passed());

        let mut s = summary(&ok, t0);
        s.panics.push("thread 'w0' panicked at".into());
        assert!(!s.passed());

        let slowest = super::master_down(super::BACKUP_PRIORITY) + super::IN_FLIGHT;
        let mut s = summary(&ok, t0);
        s.takeovers = vec![slowest];
        assert!(s.passed(), "{}", s.render());
        s.takeovers.push(slowest + Duration::from_millis(1));
        assert!(!s.passed());
        assert!(s.render().contains("PROBLEM: a takeover took"));
    }
}
