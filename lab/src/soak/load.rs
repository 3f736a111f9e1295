//! The soak's load from the client namespace: keep-alive requests (several on one
//! connection), `Connection: close` requests, and byte-checked downloads started
//! continuously (a few at a time), each attempt recorded with its time span and how it
//! ended. Every loop is bounded in count and time.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::rng::Rng;

/// Requests one keep-alive attempt sends on its connection.
const KEEP_ALIVE_REQUESTS: usize = 5;
/// Downloads under way at a time.
const DOWNLOADS: usize = 3;
/// The longest a request may take (SYN retransmits across a failover included).
const REQUEST_LIMIT_S: u32 = 15;
/// The longest a download may take.
const DOWNLOAD_LIMIT_S: u32 = 60;
/// Pause between two requests: the client leaves CPU to the directors.
const PACE: Duration = Duration::from_millis(20);

/// What an attempt was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`KEEP_ALIVE_REQUESTS`] requests on one connection.
    KeepAlive,
    /// One request with `Connection: close`.
    Close,
    /// A byte-checked download.
    Download,
    /// A keep-alive wrk run (module `wrk`).
    Wrk,
    /// A wrk run with `Connection: close`.
    WrkClose,
    /// A byte-checked upload (module `upload`).
    Upload,
}

/// One connection the client tried, and how it went.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// What it was.
    pub kind: Kind,
    /// The service it went to: `VIP`, or `VIP:PORT` off port 80.
    pub vip: &'static str,
    /// When it started and ended.
    pub span: (Instant, Instant),
    /// Bytes it received and checked (downloads).
    pub bytes: u64,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
}

/// Where the load runs: the client's namespace, a directory for downloads, the VIPs
/// with the path of the download on each.
pub struct Client {
    /// The client's namespace.
    pub ns: String,
    /// Where downloads are written (and removed once checked).
    pub dir: PathBuf,
    /// Each service (`VIP`, or `VIP:PORT` off port 80) with its download path.
    pub vips: Vec<(&'static str, &'static str)>,
    /// What every download must receive.
    pub expected: Vec<u8>,
}

/// A download under way.
struct Download {
    child: Child,
    file: PathBuf,
    vip: &'static str,
    start: Instant,
}

impl Client {
    /// `curl ARGS` in the client namespace.
    fn curl(&self) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, "curl", "-s"])
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Runs the load until `until` (at most `max` requests): every attempt.
    pub fn run(&self, seed: u64, until: Instant, max: usize) -> Vec<Attempt> {
        let mut rng = Rng::new(seed);
        let mut attempts = Vec::new();
        let mut running: Vec<Download> = Vec::new();
        let mut started = 0usize;
        for n in 0..max {
            if Instant::now() >= until {
                break;
            }
            let mut i = 0;
            while i < running.len() {
                if matches!(running[i].child.try_wait(), Ok(None)) {
                    i += 1;
                } else {
                    let mut done = running.swap_remove(i);
                    attempts.push(self.finish(&mut done));
                }
            }
            while running.len() < DOWNLOADS {
                let (vip, path) = self.vips[rng.below(self.vips.len() as u64) as usize];
                running.push(self.download(vip, path, started));
                started += 1;
            }
            let (vip, _) = self.vips[rng.below(self.vips.len() as u64) as usize];
            let kind = if n % 2 == 0 {
                Kind::KeepAlive
            } else {
                Kind::Close
            };
            attempts.push(self.request(kind, vip));
            std::thread::sleep(PACE);
        }
        for mut d in running {
            let _ = d.child.wait();
            attempts.push(self.finish(&mut d));
        }
        attempts
    }

    /// One keep-alive or close attempt through `vip`.
    fn request(&self, kind: Kind, vip: &'static str) -> Attempt {
        let url = format!("http://{vip}/");
        let mut c = self.curl();
        c.args(["-m", &REQUEST_LIMIT_S.to_string(), "-w", "%{http_code}\\n"]);
        let count = if kind == Kind::KeepAlive {
            KEEP_ALIVE_REQUESTS
        } else {
            c.args(["-H", "Connection: close"]);
            1
        };
        for _ in 0..count {
            c.args(["-o", "/dev/null", &url]);
        }
        let start = Instant::now();
        let out = c.output();
        let end = Instant::now();
        let error = match out {
            Err(e) => Some(format!("curl: {e}")),
            Ok(o) => {
                let codes = String::from_utf8_lossy(&o.stdout);
                let ok = codes.lines().filter(|l| *l == "200").count();
                (!o.status.success() || ok != count)
                    .then(|| format!("curl {} codes {:?}", o.status, codes.trim()))
            }
        };
        Attempt {
            kind,
            vip,
            span: (start, end),
            bytes: 0,
            error,
        }
    }

    /// Starts download `n` of `path` through `vip`.
    fn download(&self, vip: &'static str, path: &str, n: usize) -> Download {
        let file = self.dir.join(format!("soak-download-{n}"));
        let child = self
            .curl()
            .arg("-o")
            .arg(&file)
            .args(["-m", &DOWNLOAD_LIMIT_S.to_string()])
            .arg(format!("http://{vip}{path}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start curl: {e}"));
        Download {
            child,
            file,
            vip,
            start: Instant::now(),
        }
    }

    /// A finished download, its bytes checked; the file removed.
    fn finish(&self, d: &mut Download) -> Attempt {
        let status = d.child.wait();
        let end = Instant::now();
        let got = std::fs::read(&d.file).unwrap_or_default();
        let _ = std::fs::remove_file(&d.file);
        let error = match status {
            Err(e) => Some(format!("curl: {e}")),
            Ok(s) if !s.success() => Some(format!("curl {s} after {} bytes", got.len())),
            Ok(_) if got != self.expected => Some(format!(
                "{} bytes, not the {} expected (or different)",
                got.len(),
                self.expected.len()
            )),
            Ok(_) => None,
        };
        Attempt {
            kind: Kind::Download,
            vip: d.vip,
            span: (d.start, end),
            bytes: if error.is_none() { got.len() as u64 } else { 0 },
            error,
        }
    }
}
