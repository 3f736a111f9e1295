//! A real Prometheus server for tests: started on loopback with a generated configuration in
//! a fresh temporary directory, queried through its HTTP API, killed on drop.
//!
//! Needs only std and serde_json, so any test crate of the workspace can include this file
//! (`#[path = ".../support/prometheus.rs"] mod prometheus;`). The binary is `prometheus` on
//! the `PATH` (`scripts/setup` installs it) unless [`BINARY_ENV`] names another.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The environment variable that names the Prometheus binary to run.
pub const BINARY_ENV: &str = "RVS_PROMETHEUS";
/// The job name every target is scraped under (the `job` label).
pub const JOB: &str = "rvs";
/// How long [`Prometheus::start`] waits for the server to be ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often waits poll.
const POLL: Duration = Duration::from_millis(200);
/// Times [`Prometheus::start`] tries, each on a fresh port (another process may take the one
/// picked before Prometheus binds it).
const START_ATTEMPTS: usize = 3;

/// What went wrong with the test server.
#[derive(Debug)]
pub enum PromError {
    /// Setting up its directory or starting the process failed.
    Io(String, std::io::Error),
    /// It exited or never became ready; its log is attached.
    NotReady(String),
    /// The HTTP exchange with it failed or its answer was not understood.
    Api(String),
    /// A wait ran out; the last answer is attached.
    Timeout(String),
}

impl fmt::Display for PromError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromError::Io(what, e) => write!(f, "prometheus: {what}: {e}"),
            PromError::NotReady(log) => write!(f, "prometheus did not become ready; log:\n{log}"),
            PromError::Api(what) => write!(f, "prometheus API: {what}"),
            PromError::Timeout(what) => write!(f, "prometheus: timed out: {what}"),
        }
    }
}

impl std::error::Error for PromError {}

/// One element of an instant vector (or a scalar, with no labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Its labels, `__name__` included when the query keeps it.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A running Prometheus; killed and its directory removed on drop.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second under job [`JOB`], with its storage
    /// in a fresh directory named after `name`, and waits until it is ready.
    pub fn start(name: &str, targets: &[SocketAddr]) -> Result<Prometheus, PromError> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rvs-prometheus-{}-{}-{name}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| PromError::Io(format!("create {dir:?}"), e))?;
        let config = dir.join("prometheus.yml");
        fs::write(&config, config_text(targets))
            .map_err(|e| PromError::Io(format!("write {config:?}"), e))?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::launch(&dir, &config) {
                Ok(p) => return Ok(p),
                Err(e) => last = Some(e),
            }
        }
        let _ = fs::remove_dir_all(&dir);
        Err(last.unwrap_or_else(|| PromError::NotReady(String::new())))
    }

    fn launch(dir: &Path, config: &Path) -> Result<Prometheus, PromError> {
        let addr = free_port()?;
        let log_path = dir.join("prometheus.log");
        let log = fs::File::create(&log_path)
            .map_err(|e| PromError::Io(format!("create {log_path:?}"), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| PromError::Io("clone log".into(), e))?;
        let binary = std::env::var(BINARY_ENV).unwrap_or_else(|_| "prometheus".into());
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                PromError::Io(
                    format!("run {binary} (install it with scripts/setup, or set {BINARY_ENV})"),
                    e,
                )
            })?;
        let mut prom = Prometheus {
            child,
            dir: dir.to_path_buf(),
            addr,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = prom.child.try_wait() {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                // Keep the directory for the next attempt: forget it before drop removes it.
                prom.dir = PathBuf::new();
                return Err(PromError::NotReady(format!("exited with {status}\n{log}")));
            }
            if matches!(prom.get("/-/ready"), Ok((200, _))) {
                return Ok(prom);
            }
            if Instant::now() >= deadline {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                prom.dir = PathBuf::new();
                return Err(PromError::NotReady(log));
            }
            thread::sleep(POLL);
        }
    }

    /// The first line of `prometheus --version`.
    pub fn version() -> Result<String, PromError> {
        let binary = std::env::var(BINARY_ENV).unwrap_or_else(|_| "prometheus".into());
        let out = Command::new(&binary)
            .arg("--version")
            .output()
            .map_err(|e| PromError::Io(format!("run {binary} --version"), e))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Ok(text.lines().next().unwrap_or_default().to_string())
    }

    /// Where its web interface and API listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Evaluates `promql` now (`/api/v1/query`); a scalar comes back as one unlabelled sample.
    pub fn query(&self, promql: &str) -> Result<Vec<Sample>, PromError> {
        let (status, body) = self.get(&format!("/api/v1/query?query={}", encode(promql)))?;
        let json: Value = serde_json::from_str(&body)
            .map_err(|e| PromError::Api(format!("{promql}: HTTP {status}: {e}: {body}")))?;
        if json["status"] != "success" {
            return Err(PromError::Api(format!("{promql}: HTTP {status}: {body}")));
        }
        let data = &json["data"];
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .ok_or_else(|| PromError::Api(format!("{promql}: no result in {body}")))?
                .iter()
                .map(|item| sample(item, &item["value"], promql))
                .collect(),
            Some("scalar") => Ok(vec![sample(&Value::Null, &data["result"], promql)?]),
            other => Err(PromError::Api(format!("{promql}: result type {other:?}"))),
        }
    }

    /// Polls `promql` until `done` accepts its result or `timeout` runs out.
    pub fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        done: impl Fn(&[Sample]) -> bool,
    ) -> Result<Vec<Sample>, PromError> {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql);
            match &result {
                Ok(samples) if done(samples) => return result,
                _ if Instant::now() >= deadline => {
                    return Err(PromError::Timeout(format!(
                        "{promql} after {timeout:?}, last: {result:?}"
                    )))
                }
                _ => thread::sleep(POLL),
            }
        }
    }

    /// Waits until every one of `targets` scrapes have succeeded (`up` is 1 for each).
    pub fn wait_targets_up(&self, targets: usize, timeout: Duration) -> Result<(), PromError> {
        let query = format!("up{{job=\"{JOB}\"}}");
        self.wait_for(&query, timeout, |s| {
            s.len() == targets && s.iter().all(|x| x.value == 1.0)
        })
        .map(|_| ())
    }

    /// One HTTP/1.0 GET on loopback: (status, body).
    fn get(&self, path: &str) -> Result<(u16, String), PromError> {
        let api =
            |what: &str, e: std::io::Error| PromError::Api(format!("GET {path}: {what}: {e}"));
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| api("connect", e))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))))
            .map_err(|e| api("timeouts", e))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr)
            .map_err(|e| api("write", e))?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| api("read", e))?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| PromError::Api(format!("GET {path}: no head in {text:?}")))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| PromError::Api(format!("GET {path}: bad status line {head:?}")))?;
        Ok((status, body.to_string()))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn config_text(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

/// A loopback address with a port free at the time of asking.
fn free_port() -> Result<SocketAddr, PromError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| PromError::Io("find a free port".into(), e))
}

/// One result element: labels from `item["metric"]`, value from `[time, "value"]`.
fn sample(item: &Value, value: &Value, promql: &str) -> Result<Sample, PromError> {
    let labels = item["metric"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let value = value[1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| PromError::Api(format!("{promql}: bad value {value}")))?;
    Ok(Sample { labels, value })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
