//! Neighbours that do not answer, logged by the control core from the events each worker
//! publishes (the workers never log): a line when a neighbour fails, at most once per
//! [`NEIGH_LOG_INTERVAL`] per neighbour, and a line when one that was logged as failed
//! answers again.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rvs_config::PortId;
use rvs_pipeline::neigh::{NeighEvents, NeighLimits};

/// The shortest time between two failure lines about one neighbour.
pub const NEIGH_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What was logged about one neighbour.
#[derive(Clone, Copy, Debug, Default)]
struct Note {
    /// When a failure line was last written.
    logged_at: Option<Instant>,
    /// A failure line was written and no answer has been logged since.
    reported: bool,
}

/// The control core's memory of the neighbour events it has read and logged.
#[derive(Debug, Default)]
pub struct NeighLog {
    /// Per worker: the events already read (its [`NeighEvents::total`]).
    read: Vec<u64>,
    notes: HashMap<(PortId, IpAddr), Note>,
}

/// One line to log: a failure (a warning) or an answer after one (information).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighLine {
    /// True for a failure.
    pub failed: bool,
    /// The text.
    pub text: String,
}

impl NeighLog {
    /// The lines to log at `now` for the events in `workers` (one entry per worker, in
    /// worker order) not read yet; `port_name` names a port. Several workers failing the
    /// same neighbour make one line.
    pub fn lines<'a>(
        &mut self,
        workers: impl IntoIterator<Item = &'a NeighEvents>,
        port_name: impl Fn(PortId) -> String,
        now: Instant,
    ) -> Vec<NeighLine> {
        let mut out = Vec::new();
        for (w, events) in workers.into_iter().enumerate() {
            if self.read.len() <= w {
                self.read.resize(w + 1, 0);
            }
            // A worker restarted from zero (never in rvsd) would only be read again.
            let seen = if events.total() < self.read[w] {
                0
            } else {
                self.read[w]
            };
            for e in events.since(seen) {
                let note = self.notes.entry((e.port, e.ip)).or_default();
                let port = port_name(e.port);
                if e.failed {
                    let due = !matches!(note.logged_at,
                        Some(at) if now.duration_since(at) < NEIGH_LOG_INTERVAL);
                    if due {
                        note.logged_at = Some(now);
                        note.reported = true;
                        out.push(NeighLine {
                            failed: true,
                            text: format!(
                                "neighbour {} on port {port} did not answer for {} s: packets \
                                 to it are dropped (neighbor_unresolved)",
                                e.ip,
                                NeighLimits::default().pending_timeout_ms / 1000
                            ),
                        });
                    }
                } else if note.reported {
                    note.reported = false;
                    out.push(NeighLine {
                        failed: false,
                        text: format!("neighbour {} on port {port} answers again", e.ip),
                    });
                }
            }
            self.read[w] = events.total();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_pipeline::neigh::NeighEvent;

    fn event(ip: &str, failed: bool) -> NeighEvent {
        NeighEvent {
            port: PortId(1),
            ip: ip.parse().unwrap(),
            failed,
        }
    }

    fn texts(lines: Vec<NeighLine>) -> Vec<String> {
        lines.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn a_failure_is_logged_at_most_once_a_minute_per_neighbour_and_its_answer_once() {
        let name = |p: PortId| format!("lan{}", p.0);
        let (mut w0, mut w1) = (NeighEvents::default(), NeighEvents::default());
        let mut log = NeighLog::default();
        let t0 = Instant::now();
        assert!(log.lines([&w0, &w1], name, t0).is_empty());
        let failed = "neighbour 10.1.0.99 on port lan1 did not answer for 3 s: packets to it \
                      are dropped (neighbor_unresolved)";
        // Both workers fail it: one line.
        w0.push(event("10.1.0.99", true));
        w1.push(event("10.1.0.99", true));
        let lines = log.lines([&w0, &w1], name, t0);
        assert_eq!(texts(lines.clone()), [failed]);
        assert!(lines[0].failed);
        assert!(
            log.lines([&w0, &w1], name, t0).is_empty(),
            "events are read once"
        );
        // Failing again within the minute: nothing; another neighbour has its own budget.
        w0.push(event("10.1.0.99", true));
        w0.push(event("10.1.0.98", true));
        let lines = texts(log.lines([&w0, &w1], name, t0 + Duration::from_secs(30)));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("neighbour 10.1.0.98 "), "{lines:?}");
        // A minute after the first line: logged again.
        w1.push(event("10.1.0.99", true));
        let at = t0 + NEIGH_LOG_INTERVAL;
        assert_eq!(texts(log.lines([&w0, &w1], name, at)), [failed]);
        // It answers (on both workers): one line.
        w0.push(event("10.1.0.99", false));
        w1.push(event("10.1.0.99", false));
        let lines = log.lines([&w0, &w1], name, at);
        assert_eq!(
            texts(lines.clone()),
            ["neighbour 10.1.0.99 on port lan1 answers again"]
        );
        assert!(!lines[0].failed);
        // It fails within the minute (not logged), then answers: nothing to say.
        w0.push(event("10.1.0.99", true));
        w0.push(event("10.1.0.99", false));
        assert!(log
            .lines([&w0, &w1], name, at + Duration::from_secs(5))
            .is_empty());
    }

    #[test]
    fn events_overwritten_before_they_were_read_are_skipped() {
        let mut w0 = NeighEvents::default();
        let mut log = NeighLog::default();
        for k in 0..20u8 {
            w0.push(event(&format!("10.1.0.{k}"), true));
        }
        let lines = log.lines([&w0], |_| "lan1".into(), Instant::now());
        assert_eq!(lines.len(), rvs_pipeline::neigh::NEIGH_EVENTS);
        assert!(lines[0].text.starts_with("neighbour 10.1.0.12 "));
    }
}
