//! wrk, the HTTP load generator, run in the client's namespace; and what it printed.

use crate::cmd::run;
use crate::topology::Lab;

/// How a run's connections carry requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Keep-alive: each connection carries requests until the run ends.
    KeepAlive,
    /// `Connection: close`: one request per connection, so requests/s are connections/s.
    Close,
}

impl Load {
    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Load::KeepAlive => "keep-alive",
            Load::Close => "close",
        }
    }
}

/// wrk's settings for one run.
#[derive(Clone, Copy, Debug)]
pub struct Wrk {
    /// Threads (also how many hosts a per-thread target spreads over).
    pub threads: usize,
    /// Connections open at once, over all threads.
    pub connections: usize,
    /// Run time in seconds.
    pub seconds: u32,
}

/// What a wrk run reported.
#[derive(Clone, Copy, Debug, Default)]
pub struct WrkResult {
    /// Requests completed.
    pub requests: u64,
    /// The run's length in seconds, as wrk measured it.
    pub seconds: f64,
    /// The 99th percentile of request latency, in microseconds.
    pub p99_us: f64,
    /// Socket errors (connect, read, write, timeout) and non-2xx/3xx answers.
    pub errors: u64,
}

impl Wrk {
    /// Runs wrk from the client to `http://TARGET/`; with `hosts`, each thread instead
    /// connects to one of them in turn (a Lua `setup` sets the thread's address), which
    /// is how the ceiling reaches every real directly with the same client load; with
    /// `host_headers`, each thread sends one of them as its `Host`, in turn (set before
    /// the thread makes its request, which wrk then sends unchanged: no Lua per request).
    pub fn run(
        &self,
        lab: &Lab,
        target: &str,
        hosts: &[String],
        host_headers: &[&str],
        load: Load,
    ) -> WrkResult {
        let mut args: Vec<String> = [
            "wrk",
            "--latency",
            "--timeout",
            "2s",
            "-t",
            &self.threads.to_string(),
            "-c",
            &self.connections.to_string(),
            "-d",
            &format!("{}s", self.seconds),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if load == Load::Close {
            args.extend(["-H".to_owned(), "Connection: close".to_owned()]);
        }
        if !hosts.is_empty() || !host_headers.is_empty() {
            let script = lab.dir().join("hosts.lua");
            std::fs::write(&script, hosts_script(hosts, host_headers)).expect("wrk script");
            args.extend(["-s".to_owned(), script.display().to_string()]);
        }
        args.push(format!("http://{target}/"));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lab.exec("c", &argv);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&text).unwrap_or_else(|| panic!("unreadable wrk output:\n{text}"))
    }
}

/// A wrk script whose threads take the `hosts` (addresses, port 80) in turn, and the
/// `host_headers` in turn; either list may be empty.
fn hosts_script(hosts: &[String], host_headers: &[&str]) -> String {
    let quoted = |v: &mut dyn Iterator<Item = &str>| {
        v.map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")
    };
    format!(
        "local hosts = {{{}}}\nlocal names = {{{}}}\nlocal n = 0\n\
         function setup(thread)\n  n = n + 1\n  \
         if #hosts > 0 then thread.addr = wrk.lookup(hosts[(n - 1) % #hosts + 1], \"80\")[1] end\n  \
         if #names > 0 then thread:set(\"host_header\", names[(n - 1) % #names + 1]) end\nend\n\
         function init(args)\n  if host_header then wrk.headers[\"Host\"] = host_header end\nend\n",
        quoted(&mut hosts.iter().map(String::as_str)),
        quoted(&mut host_headers.iter().copied()),
    )
}

/// Reads wrk's report: `N requests in Ts`, the `99%` latency line, socket errors and
/// non-2xx/3xx answers.
fn parse(text: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut saw_total = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", t, ..] => {
                r.requests = n.parse().ok()?;
                r.seconds = duration_us(t.trim_end_matches(','))? / 1e6;
                saw_total = true;
            }
            ["99%", v] => r.p99_us = duration_us(v)?,
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().ok()?,
            _ => {}
        }
    }
    saw_total.then_some(r)
}

/// `1.50ms`, `820.00us`, `2.00s`, `1.00m` in microseconds.
fn duration_us(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(n * scale)
}

/// Runs `wrk --version` (which exits non-zero) to check that wrk is installed.
pub fn installed() -> bool {
    String::from_utf8_lossy(&run(&["sh", "-c", "wrk --version 2>&1 || true"]).stdout)
        .starts_with("wrk ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 2s test @ http://10.0.0.100/
  3 threads and 48 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  500.00us  10.00ms   80.00%
    Req/Sec     5.00k   100.00     6.00k    70.00%
  Latency Distribution
     50%    1.10ms
     75%    1.30ms
     90%    1.60ms
     99%  820.50us
  30000 requests in 2.00s, 4.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  15000.00
Transfer/sec:      2.00MB
";

    #[test]
    fn reads_requests_latency_and_errors() {
        let r = parse(REPORT).expect("parsed");
        assert_eq!(r.requests, 30000);
        assert_eq!(r.seconds, 2.0);
        assert_eq!(r.p99_us, 820.5);
        assert_eq!(r.errors, 10);
    }

    #[test]
    fn the_script_gives_threads_addresses_and_host_headers_in_turn() {
        let both = hosts_script(&["10.2.0.11".to_owned()], &["a.example", "b.example"]);
        assert!(both.contains("local hosts = {\"10.2.0.11\"}"), "{both}");
        assert!(
            both.contains("local names = {\"a.example\", \"b.example\"}"),
            "{both}"
        );
        let none = hosts_script(&[], &["a.example"]);
        assert!(none.contains("local hosts = {}"), "{none}");
    }

    #[test]
    fn a_report_without_totals_is_unreadable() {
        assert!(parse("unable to connect to 10.0.0.100:80 Connection refused").is_none());
    }
}
