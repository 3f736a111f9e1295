//! The soak's wrk load: wrk runs one after another in the client's namespace, each for
//! [`RUN`] on one VIP (the VIPs in turn), alternately keep-alive and with `Connection:
//! close`. The CPU stays modest: one thread, [`CONNECTIONS`] connections, each waiting
//! [`DELAY_MS`] between its requests (a Lua `delay`), and [`GAP`] between runs. A
//! request may take [`TIMEOUT`], long enough to ride out a failover. Each run is an
//! attempt of the load spanning the run, failed when wrk counted any socket error
//! (connect, read, write, timeout) or a response that was not 2xx/3xx. wrk does not
//! count the requests still under way when its run ends; the next run starts afresh.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::load::{Attempt, Kind};

/// Each run's length.
const RUN: Duration = Duration::from_secs(4);
/// Pause between runs.
const GAP: Duration = Duration::from_millis(500);
/// Connections of a run (one thread).
const CONNECTIONS: u32 = 2;
/// Milliseconds each connection waits between two requests.
const DELAY_MS: u32 = 25;
/// How long a request may take (a failover takes about 2 s, a SYN lost in it is sent
/// again after 1 s and 3 s).
const TIMEOUT: Duration = Duration::from_secs(8);

/// What wrk counted, over all runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Runs keep-alive and with `Connection: close`.
    pub runs: [u64; 2],
    /// Requests completed.
    pub requests: u64,
    /// Socket errors: connect, read, write, timeout.
    pub errors: [u64; 4],
    /// Responses not 2xx or 3xx.
    pub non_2xx: u64,
}

impl Totals {
    /// Adds one run's counts.
    fn add(&mut self, other: &Totals) {
        for i in 0..2 {
            self.runs[i] += other.runs[i];
        }
        for i in 0..4 {
            self.errors[i] += other.errors[i];
        }
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
    }
}

/// What one run's output says, or `None` when it has no request count.
fn parse(out: &str) -> Option<Totals> {
    let mut t = Totals::default();
    let mut seen = false;
    for line in out.lines().map(str::trim) {
        if let Some(n) = line
            .split_once(" requests in ")
            .and_then(|(n, _)| n.parse().ok())
        {
            t.requests = n;
            seen = true;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            for (i, part) in rest.split(',').enumerate().take(4) {
                t.errors[i] = part
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse().ok())?;
            }
        } else if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            t.non_2xx = n.trim().parse().ok()?;
        }
    }
    seen.then_some(t)
}

/// Runs wrk from namespace `ns` at `vips` (each `VIP` or `VIP:PORT`) in turn until `until` (at most `max` runs);
/// `script` is where its Lua script is written. Every run as an attempt, and the totals.
pub fn run(
    ns: &str,
    script: &std::path::Path,
    vips: &[&'static str],
    until: Instant,
    max: usize,
) -> (Vec<Attempt>, Totals) {
    let mut attempts = Vec::new();
    let mut totals = Totals::default();
    if let Err(e) = std::fs::write(
        script,
        format!("function delay()\n  return {DELAY_MS}\nend\n"),
    ) {
        attempts.push(Attempt {
            kind: Kind::Wrk,
            vip: vips[0],
            span: (Instant::now(), Instant::now()),
            bytes: 0,
            error: Some(format!("the wrk script: {e}")),
        });
        return (attempts, totals);
    }
    for n in 0..max {
        if Instant::now() + RUN >= until {
            break;
        }
        let vip = vips[(n / 2) % vips.len()];
        let close = n % 2 == 1;
        let mut c = Command::new("ip");
        // wrk's first connection is a blocking connect(2), which the kernel retries
        // for minutes when nothing answers: the whole run is bounded from outside.
        let limit = (RUN + TIMEOUT * 2).as_secs().to_string();
        c.args([
            "netns", "exec", ns, "timeout", "-k", "5", &limit, "wrk", "-t1",
        ])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{}s", RUN.as_secs()))
        .arg(format!("--timeout={}s", TIMEOUT.as_secs()))
        .arg("-s")
        .arg(script);
        if close {
            c.args(["-H", "Connection: close"]);
        }
        let start = Instant::now();
        let out = c
            .arg(format!("http://{vip}/"))
            .stdin(Stdio::null())
            .output();
        let end = Instant::now();
        let error = match out {
            Err(e) => Some(format!("wrk: {e}")),
            Ok(o) => match parse(&String::from_utf8_lossy(&o.stdout)) {
                None => Some(format!(
                    "wrk {}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Some(mut t) => {
                    t.runs[usize::from(close)] = 1;
                    totals.add(&t);
                    let [connect, read, write, timeout] = t.errors;
                    (t.errors.iter().sum::<u64>() + t.non_2xx > 0).then(|| {
                        format!(
                            "{} requests; socket errors: connect {connect}, read {read}, \
                             write {write}, timeout {timeout}; non-2xx/3xx {}",
                            t.requests, t.non_2xx
                        )
                    })
                }
            },
        };
        attempts.push(Attempt {
            kind: if close { Kind::WrkClose } else { Kind::Wrk },
            vip,
            span: (start, end),
            bytes: 0,
            error,
        });
        std::thread::sleep(GAP);
    }
    (attempts, totals)
}

#[cfg(test)]
mod tests {
    use super::{parse, Totals};

    #[test]
    fn a_runs_counts_and_errors_are_read_from_its_output() {
        let out = "Running 4s test @ http://10.50.0.10/\n  1 threads and 2 connections\n  \
                   Thread Stats   Avg      Stdev     Max   +/- Stdev\n    \
                   Latency     1.10ms  300.00us   5.00ms   90.00%\n  \
                   301 requests in 4.00s, 75.00KB read\n  \
                   Socket errors: connect 1, read 2, write 3, timeout 4\n  \
                   Non-2xx or 3xx responses: 5\nRequests/sec:     75.20\n";
        assert_eq!(
            parse(out),
            Some(Totals {
                runs: [0, 0],
                requests: 301,
                errors: [1, 2, 3, 4],
                non_2xx: 5
            })
        );
        let clean = "  12 requests in 4.00s, 3.00KB read\nRequests/sec: 3.00\n";
        assert_eq!(
            parse(clean),
            Some(Totals {
                requests: 12,
                ..Totals::default()
            })
        );
        assert_eq!(parse("unable to connect\n"), None);
    }
}
