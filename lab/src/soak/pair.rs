//! The soak's two directors: one VRRP virtual router (director 1 at priority 150, the
//! master; director 2 at 100) with connection sync, one worker each on af_packet, and a
//! probe path each for their health checks, announcing their VIPs through BIRD (module
//! `routes`), [`CONN_CAPACITY`] connection entries each, and a route for the SYN
//! flood's spoofed sources ([`SINK`]). Runtime changes go to both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rvs_ctl::client;
use rvs_ctl::proto::{Change, HaStatus, Request, Response, ServiceKey};

use crate::config::Service;
use crate::ha::{HaLab, HA_CLIENT};
use crate::rvsd::Rvsd;

use super::routes::Routes;

/// Both directors' advert interval, in seconds.
pub const ADVERT_INTERVAL: f64 = 0.5;
/// Director 2's priority (the backup's).
pub const BACKUP_PRIORITY: u8 = 100;
/// Connection entries of each director's worker: room for the load's closed
/// connections (120 s in TIME_WAIT) and the SYN flood's embryonic ones (60 s in
/// SYN_RECV) at once, with a wide margin (about 19 MiB of table).
const CONN_CAPACITY: u32 = 65_536;
/// A prefix both directors route to the client, whose kernel (not a router) drops what
/// comes for it: the SYN flood's spoofed sources, so that the answers to them (SYN
/// cookies, the reals' SYN-ACKs) are sent and counted rather than dropped unrouted.
pub const SINK: &str = "198.18.0.0/15";
/// Directors' priorities.
const PRIORITY: [u8; 2] = [150, BACKUP_PRIORITY];

/// The master down interval of a backup at `priority` (RFC 5798: 3 x interval + skew).
pub fn master_down(priority: u8) -> Duration {
    let skew = (256.0 - f64::from(priority)) * ADVERT_INTERVAL / 256.0;
    Duration::from_secs_f64(3.0 * ADVERT_INTERVAL + skew)
}

/// The longest director 2 may take to become master once director 1 died (beyond it
/// the event fails): its master down interval and a margin for a loaded machine.
pub fn takeover_bound() -> Duration {
    master_down(PRIORITY[1]) + Duration::from_secs(2)
}

/// Milliseconds a day has.
const DAY_MS: u64 = 86_400_000;

/// Now, as milliseconds since midnight UTC (the clock rvsd's log lines are stamped with).
pub fn day_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64 % DAY_MS)
}

/// From `from` to `to`, both milliseconds since midnight UTC, across midnight too.
pub fn day_ms_between(from: u64, to: u64) -> Duration {
    Duration::from_millis((to + DAY_MS - from) % DAY_MS)
}

/// The time of day (milliseconds since midnight UTC) of an rvsd log line's timestamp
/// (`2026-12-07T15:40:00.123Z ...`).
fn stamp_day_ms(line: &str) -> Option<u64> {
    let clock = line.get(11..23)?;
    let field = |range: std::ops::Range<usize>| clock.get(range)?.parse::<u64>().ok();
    let (h, m, s, ms) = (field(0..2)?, field(3..5)?, field(6..8)?, field(9..12)?);
    Some(((h * 60 + m) * 60 + s) * 1000 + ms)
}

/// The pair; its rvsd processes are killed on drop.
pub struct Pair {
    bin: PathBuf,
    configs: [PathBuf; 2],
    sockets: [PathBuf; 2],
    rvsd: [Option<Rvsd>; 2],
    /// The logs of rvsd processes that were killed.
    past_logs: Vec<String>,
    /// Connections each running director scheduled for services since removed (their
    /// counters went with them).
    retired: [u64; 2],
    /// The routing daemons.
    routes: Routes,
}

/// Waits (at most `limit`, polling every 10 ms) until `done` holds: how long it took.
pub fn wait_for(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<Duration, String> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() >= limit {
            return Err(format!("{what}: not within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(start.elapsed())
}

impl Pair {
    /// Writes both configurations (`services`), starts the routing daemons (the lab has
    /// [`HaLab::add_router`]'s links) and both directors with the rvsd at `bin`, and
    /// waits until director 1 is master and director 2 backup.
    pub fn start(lab: &HaLab, bin: &Path, services: &[Service]) -> Result<Pair, String> {
        let routes = Routes::start(lab);
        let configs = [1, 2].map(|i| {
            lab.add_probe_path(i);
            let extra = format!(
                "{}{}\n[[route]]\nprefix = \"{SINK}\"\nvia = \"{HA_CLIENT}\"\nport = \"wan\"\n",
                lab.sync_section(i),
                routes.announce_section(i)
            );
            let path = lab.write_config(i, PRIORITY[i - 1], ADVERT_INTERVAL, &extra, services);
            // The HA lab's tables are sized for its short tests; the soak's load keeps
            // thousands of entries (TIME_WAIT included) and must never fill them.
            let text = std::fs::read_to_string(&path).expect("the configuration written");
            let sized = text.replacen(
                "conn_capacity = 4096\n",
                &format!("conn_capacity = {CONN_CAPACITY}\n"),
                1,
            );
            assert_ne!(sized, text, "the HA lab's conn_capacity line moved");
            std::fs::write(&path, sized).expect("the configuration");
            path
        });
        let mut pair = Pair {
            bin: bin.to_owned(),
            sockets: [lab.socket(1), lab.socket(2)],
            configs,
            rvsd: [None, None],
            past_logs: Vec::new(),
            retired: [0, 0],
            routes,
        };
        for i in 1..=2 {
            pair.rvsd[i - 1] = Some(lab.start_rvsd(i, &pair.bin, &pair.configs[i - 1]));
        }
        pair.wait_state(
            1,
            "master",
            master_down(PRIORITY[0]) + Duration::from_secs(3),
        )?;
        pair.wait_state(2, "backup", Duration::from_secs(3))?;
        Ok(pair)
    }

    /// Director `i`'s control socket.
    pub fn socket(&self, i: usize) -> &Path {
        &self.sockets[i - 1]
    }

    /// Director `i`'s configuration file.
    pub fn config(&self, i: usize) -> &Path {
        &self.configs[i - 1]
    }

    /// Director `i`'s VRRP status, or why there is none.
    pub fn ha(&self, i: usize) -> Result<HaStatus, String> {
        match client::call(self.socket(i), Request::Status) {
            Ok(Response::Status(s)) => s.ha.map(|h| *h).ok_or_else(|| "no [ha] status".into()),
            Ok(other) => Err(format!("status answered {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Waits until director `i` is in `state`.
    pub fn wait_state(&self, i: usize, state: &str, limit: Duration) -> Result<Duration, String> {
        wait_for(&format!("director {i} {state}"), limit, || {
            self.ha(i).is_ok_and(|h| h.state == state)
        })
    }

    /// Sends `request` to director `i`.
    pub fn call(&self, i: usize, request: Request) -> Result<Response, String> {
        client::call(self.socket(i), request).map_err(|e| format!("director {i}: {e}"))
    }

    /// Applies `changes` to both directors (as rvsadm does).
    pub fn apply(&self, changes: &[Change]) -> Result<(), String> {
        for i in 1..=2 {
            match self.call(
                i,
                Request::Apply {
                    changes: changes.to_vec(),
                },
            )? {
                Response::Done => {}
                other => return Err(format!("director {i}: apply answered {other:?}")),
            }
        }
        Ok(())
    }

    /// Removes the service `key` from both directors (`rvsadm -D`), keeping the count
    /// of connections each scheduled for it in [`Pair::retired`].
    pub fn delete_service(&mut self, key: ServiceKey) -> Result<(), String> {
        // Workers publish their counters every 100 ms: the service's last connections
        // are in its count once a few of those have passed.
        std::thread::sleep(Duration::from_millis(500));
        for i in 1..=2 {
            match self.call(i, Request::Services { service: Some(key) })? {
                Response::Services(s) => {
                    self.retired[i - 1] += s.iter().map(|s| s.stats.conns).sum::<u64>();
                }
                other => return Err(format!("director {i}: services answered {other:?}")),
            }
        }
        self.apply(&[Change::DeleteService(key)])
    }

    /// Connections the running director `i` scheduled for services it no longer has.
    pub fn retired(&self, i: usize) -> u64 {
        self.retired[i - 1]
    }

    /// SIGKILL of director `i` (its log kept) and of its BIRD: its host went down.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut r) = self.rvsd[i - 1].take() {
            self.past_logs.push(r.log());
            r.kill();
        }
        self.routes.crash(i);
    }

    /// Starts director `i` again from its configuration file, its BIRD first.
    pub fn restart(&mut self, lab: &HaLab, i: usize) {
        self.routes.restart(i);
        let r = lab.start_rvsd(i, &self.bin, &self.configs[i - 1]);
        self.rvsd[i - 1] = Some(r);
        self.retired[i - 1] = 0;
    }

    /// The routing daemons.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Director `i`'s process id, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.rvsd[i - 1].as_ref().map(Rvsd::pid)
    }

    /// Director `i`'s resident memory in KiB (0 when it is not running).
    pub fn rss_kib(&self, i: usize) -> u64 {
        self.rvsd[i - 1]
            .as_ref()
            .and_then(Rvsd::rss_kib)
            .unwrap_or(0)
    }

    /// When (milliseconds since midnight UTC, from its log) the running director `i`
    /// last became master.
    pub fn became_master_ms(&mut self, i: usize) -> Option<u64> {
        let log = self.rvsd[i - 1].as_mut()?.log();
        log.lines()
            .rev()
            .find(|l| l.contains(" ha: vrid ") && l.contains("-> master"))
            .and_then(stamp_day_ms)
    }

    /// Every log of every rvsd the pair ran, killed ones included.
    pub fn logs(&mut self) -> String {
        let mut all = self.past_logs.clone();
        for r in self.rvsd.iter_mut().flatten() {
            all.push(r.log());
        }
        all.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{day_ms_between, stamp_day_ms};

    #[test]
    fn log_stamps_give_the_time_of_day_and_spans_cross_midnight() {
        let line = "2026-12-07T15:40:00.123Z rvsd INFO ha: vrid 51 backup -> master (priority 100)";
        assert_eq!(stamp_day_ms(line), Some(((15 * 60 + 40) * 60) * 1000 + 123));
        assert_eq!(stamp_day_ms("ha: vrid 51"), None);
        assert_eq!(day_ms_between(1_000, 2_500), Duration::from_millis(1_500));
        assert_eq!(
            day_ms_between(86_399_500, 700),
            Duration::from_millis(1_200)
        );
    }
}
