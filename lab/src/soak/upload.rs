//! The soak's byte-checked uploads: an upload server on every real (on its loopback, at
//! [`UPLOAD_PORT`], where nginx passes `POST /upload`) answers each body with its length
//! and SHA-256; the client posts seeded random bodies of [`SIZES`] through the services,
//! one after another at [`RATE`] (each one lasts seconds, so failovers and flaps meet
//! them), and checks both. Each upload is an attempt of the load.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::load::{Attempt, Kind};
use super::rng::Rng;
use crate::ha::{HaLab, UPLOAD_PORT};

/// The sizes of the bodies posted (one file each, seeded).
pub const SIZES: [usize; 3] = [256 << 10, 512 << 10, 1 << 20];
/// The rate curl sends a body at, bytes a second: 1 to 4 s an upload.
const RATE: &str = "256K";
/// The longest an upload may take.
const UPLOAD_LIMIT_S: u32 = 60;
/// Pause between two uploads.
const PACE: Duration = Duration::from_millis(200);

/// `upload.py PORT`: answers `POST` with `LENGTH SHA256\n` of the body it read (its
/// `Content-Length`); exits when its stdin closes.
const UPLOAD_SERVER: &str = r#"
import hashlib, http.server, os, sys, threading
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        left, h, n = int(self.headers.get("Content-Length", "0")), hashlib.sha256(), 0
        while left > 0:
            b = self.rfile.read(min(left, 65536))
            if not b:
                break
            h.update(b)
            n += len(b)
            left -= len(b)
        body = ("%d %s\n" % (n, h.hexdigest())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

/// The upload servers of the reals; stopped on drop.
pub struct Servers(Vec<Child>);

impl Servers {
    /// Starts the upload server on each of `lab`'s reals and waits until each answers.
    pub fn start(lab: &HaLab) -> Result<Servers, String> {
        let script = lab.dir().join("upload.py");
        std::fs::write(&script, UPLOAD_SERVER).map_err(|e| e.to_string())?;
        let mut servers = Servers(Vec::new());
        for i in 1..=lab.reals() {
            let role = format!("r{i}");
            let child = Command::new("ip")
                .args(["netns", "exec", &lab.ns(&role), "python3"])
                .arg(&script)
                .arg(UPLOAD_PORT.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("start the upload server of {role}: {e}"))?;
            servers.0.push(child);
            let url = format!("http://127.0.0.1:{UPLOAD_PORT}/");
            super::pair::wait_for(
                &format!("the upload server of {role} answers"),
                Duration::from_secs(20),
                || {
                    lab.exec(&role, &["curl", "-s", "-m", "1", "-d", "x", &url])
                        .stdout
                        .starts_with(b"1 ")
                },
            )?;
        }
        Ok(servers)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A body to post: its file and the answer it must get.
pub struct Body {
    file: PathBuf,
    answer: String,
}

/// Writes one seeded body of each of [`SIZES`] into `dir`, with the answer each must get
/// (its SHA-256 from `sha256sum`, an independent implementation).
pub fn bodies(dir: &Path, rng: &mut Rng) -> Result<Vec<Body>, String> {
    SIZES
        .iter()
        .map(|&len| {
            let file = dir.join(format!("soak-upload-{len}"));
            std::fs::write(&file, rng.bytes(len)).map_err(|e| e.to_string())?;
            let out = Command::new("sha256sum")
                .arg(&file)
                .output()
                .map_err(|e| format!("sha256sum: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let hash = text.split_whitespace().next().unwrap_or_default();
            if hash.len() != 64 {
                return Err(format!("sha256sum said {text:?}"));
            }
            Ok(Body {
                file,
                answer: format!("{len} {hash}"),
            })
        })
        .collect()
}

/// Posts `bodies` one after another to the VIPs (seeded choices) from namespace `ns`
/// until `until` (at most `max`): every attempt.
pub fn run(
    ns: &str,
    vips: &[&'static str],
    bodies: &[Body],
    seed: u64,
    until: Instant,
    max: usize,
) -> Vec<Attempt> {
    let mut rng = Rng::new(seed);
    let mut attempts = Vec::new();
    for _ in 0..max {
        if Instant::now() >= until {
            break;
        }
        let vip = vips[rng.below(vips.len() as u64) as usize];
        let body = &bodies[rng.below(bodies.len() as u64) as usize];
        attempts.push(post(ns, vip, body));
        std::thread::sleep(PACE);
    }
    attempts
}

/// One upload of `body` through `vip`, its answer checked.
fn post(ns: &str, vip: &'static str, body: &Body) -> Attempt {
    let start = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-s", "--limit-rate", RATE])
        .args(["-m", &UPLOAD_LIMIT_S.to_string()])
        .args(["-H", "Content-Type: application/octet-stream"])
        .arg("--data-binary")
        .arg(format!("@{}", body.file.display()))
        .arg(format!("http://{vip}/upload"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let end = Instant::now();
    let (bytes, error) = match out {
        Err(e) => (0, Some(format!("curl: {e}"))),
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stdout);
            if o.status.success() && said.trim() == body.answer {
                let len = body.answer.split(' ').next().unwrap_or("0");
                (len.parse().unwrap_or(0), None)
            } else {
                let said: String = said.trim().chars().take(80).collect();
                (
                    0,
                    Some(format!(
                        "curl {} answered {said:?}, not {:?}",
                        o.status, body.answer
                    )),
                )
            }
        }
    };
    Attempt {
        kind: Kind::Upload,
        vip,
        span: (start, end),
        bytes,
        error,
    }
}
