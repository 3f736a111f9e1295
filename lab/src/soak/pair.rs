//! The soak's two directors: one VRRP virtual router (director 1 at priority 150, the
//! master; director 2 at 100) with connection sync, one worker each on af_packet, and a
//! probe path each for their health checks, [`CONN_CAPACITY`] connection entries each,
//! and a route for the SYN flood's spoofed sources ([`SINK`]). Runtime changes go to
//! both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rvs_ctl::client;
use rvs_ctl::proto::{Change, HaStatus, Request, Response};

use crate::config::Service;
use crate::ha::{HaLab, HA_CLIENT};
use crate::rvsd::Rvsd;

/// Both directors' advert interval, in seconds.
pub const ADVERT_INTERVAL: f64 = 0.5;
/// Director 2's priority (the backup's).
pub const BACKUP_PRIORITY: u8 = 100;
/// Connection entries of each director's worker: room for the load's closed
/// connections (120 s in TIME_WAIT) and the SYN flood's embryonic ones (60 s in
/// SYN_RECV) at once, with a margin.
const CONN_CAPACITY: u32 = 16384;
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

/// The pair; its rvsd processes are killed on drop.
pub struct Pair {
    bin: PathBuf,
    configs: [PathBuf; 2],
    sockets: [PathBuf; 2],
    rvsd: [Option<Rvsd>; 2],
    /// The logs of rvsd processes that were killed.
    past_logs: Vec<String>,
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
    /// Writes both configurations (`services`), starts both directors with the rvsd at
    /// `bin` and waits until director 1 is master and director 2 backup.
    pub fn start(lab: &HaLab, bin: &Path, services: &[Service]) -> Result<Pair, String> {
        let configs = [1, 2].map(|i| {
            lab.add_probe_path(i);
            let sync = format!(
                "{}\n[[route]]\nprefix = \"{SINK}\"\nvia = \"{HA_CLIENT}\"\nport = \"wan\"\n",
                lab.sync_section(i)
            );
            let path = lab.write_config(i, PRIORITY[i - 1], ADVERT_INTERVAL, &sync, services);
            let text = std::fs::read_to_string(&path).expect("the configuration");
            let text = text.replacen(
                "conn_capacity = 4096\n",
                &format!("conn_capacity = {CONN_CAPACITY}\n"),
                1,
            );
            std::fs::write(&path, text).expect("the configuration");
            path
        });
        let mut pair = Pair {
            bin: bin.to_owned(),
            sockets: [lab.socket(1), lab.socket(2)],
            configs,
            rvsd: [None, None],
            past_logs: Vec::new(),
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

    /// SIGKILL of director `i` (its log kept).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut r) = self.rvsd[i - 1].take() {
            self.past_logs.push(r.log());
            r.kill();
        }
    }

    /// Starts director `i` again from its configuration file.
    pub fn restart(&mut self, lab: &HaLab, i: usize) {
        let r = lab.start_rvsd(i, &self.bin, &self.configs[i - 1]);
        self.rvsd[i - 1] = Some(r);
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

    /// Every log of every rvsd the pair ran, killed ones included.
    pub fn logs(&mut self) -> String {
        let mut all = self.past_logs.clone();
        for r in self.rvsd.iter_mut().flatten() {
            all.push(r.log());
        }
        all.join("\n")
    }
}
