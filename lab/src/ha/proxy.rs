//! The client's address in the HA lab: nginx on the reals behind a PROXY protocol
//! listener ([`HaLab::start_nginx`]), and a watcher of the TOA option on the real
//! segment ([`HaLab::watch_toa`]).
//!
//! nginx serves the files of [`HaLab::www`] on [`PROXY_PORT`]; under `/slow/` it sends
//! them at [`SLOW_RATE`] bytes a second, so that a download of a few MiB outlives a
//! failover. Each request is logged as `CLIENT:PORT LOCAL METHOD URI STATUS BYTES`, the
//! client's endpoint being what the PROXY header said ([`HaLab::nginx_log`]). It passes
//! `POST /upload` to [`UPLOAD_PORT`] on the real's loopback (502 when nothing listens).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::{ha_real, HaLab};
use crate::topology::HTTP_PORT;

/// The port nginx listens on in each real, PROXY protocol (v1 or v2) required.
pub const PROXY_PORT: u16 = 8081;
/// The port nginx also listens on in each real, without the PROXY protocol.
pub const PLAIN_PORT: u16 = 8082;
/// The port of a real's upload server on its loopback, to which nginx passes
/// `POST /upload` (bodies up to 4 MiB); started by whoever needs it (the soak).
pub const UPLOAD_PORT: u16 = 8083;
/// Bytes a second nginx sends each response under `/slow/` at.
pub const SLOW_RATE: usize = 256 * 1024;
/// How long nginx may take to answer its first request.
const NGINX_START: Duration = Duration::from_secs(20);

/// nginx for real `name`, files from `dir/www`, logs and state in `dir`.
fn nginx_conf(dir: &str, name: &str) -> String {
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {dir}/nginx-{name}.pid;\nerror_log {dir}/nginx-{name}.err warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
           log_format pp '$proxy_protocol_addr:$proxy_protocol_port $remote_addr $request_method $uri $status $body_bytes_sent';\n\
           access_log {dir}/nginx-{name}.access pp;\n\
           client_body_temp_path {dir}/nginx-{name}-body;\n\
           client_max_body_size 4m;\n\
           server {{\n\
             listen {PROXY_PORT} proxy_protocol;\n\
             listen {PLAIN_PORT};\n\
             root {dir}/www;\n\
             location /slow/ {{ alias {dir}/www/; limit_rate {SLOW_RATE}; }}\n\
             location / {{ }}\n\
             location = /upload {{ proxy_pass http://127.0.0.1:{UPLOAD_PORT}; }}\n\
           }}\n\
         }}\n"
    )
}

/// Reads every IPv4 TCP frame to port PORT on all interfaces of its namespace and prints
/// `PORT ADDRESS` (the client's, as the TOA option carries them) for each one with TOA
/// (option 254, IPv4 form); stops when its stdin closes or after SECONDS. It listens
/// for every protocol and picks IPv4 itself: a frame the bridge forwards reaches only
/// such sockets.
const TOA_WATCH: &str = r#"
import os, socket, struct, sys, threading, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
def orphaned():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    ip = f[14:]
    if f[12:14] != b"\x08\x00" or len(ip) < 40 or ip[0] >> 4 != 4 or ip[9] != 6:
        continue
    tcp = ip[(ip[0] & 15) * 4:]
    if len(tcp) < 20 or struct.unpack("!H", tcp[2:4])[0] != port:
        continue
    opts, i = tcp[20:(tcp[12] >> 4) * 4], 0
    while i + 1 < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        kind, n = opts[i], opts[i + 1]
        if n < 2:
            break
        if kind == 254 and n == 8 and i + 8 <= len(opts):
            cport = struct.unpack("!H", opts[i + 2:i + 4])[0]
            print(cport, socket.inet_ntoa(opts[i + 4:i + 8]), flush=True)
        i += n
"#;

/// A running TOA watcher ([`HaLab::watch_toa`]); stopped on drop.
pub struct ToaWatch {
    child: Child,
    lines: Receiver<String>,
}

impl ToaWatch {
    /// The client address a TOA option gave for client port `port`, once one is seen
    /// (at most `limit` from now).
    pub fn address_for(&self, port: u16, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let want = format!("{port} ");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(addr) = line.strip_prefix(&want) {
                return Some(addr.to_owned());
            }
        }
    }
}

impl Drop for ToaWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HaLab {
    /// The directory nginx serves ([`HaLab::start_nginx`]); made on first use.
    pub fn www(&self) -> std::path::PathBuf {
        let www = self.dir.join("www");
        std::fs::create_dir_all(&www).expect("www");
        www
    }

    /// Starts nginx in real `i` on [`PROXY_PORT`] (see the module's description) and
    /// waits until it answers a request that carries a PROXY header (`/ready`, a 404,
    /// which [`HaLab::nginx_log`] leaves out).
    pub fn start_nginx(&mut self, i: usize) {
        let name = format!("r{i}");
        let dir = self.dir.display().to_string();
        self.www();
        let conf = self.dir.join(format!("nginx-{name}.conf"));
        std::fs::write(&conf, nginx_conf(&dir, &name)).expect("nginx config");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(&name),
                "nginx",
                "-e",
                "stderr",
                "-c",
            ])
            .arg(&conf)
            .args(["-p", &dir])
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start nginx in {name}: {e}"));
        self.servers.push((format!("{name}/nginx"), child));
        let url = format!("http://{}:{PROXY_PORT}/ready", ha_real(i));
        let deadline = Instant::now() + NGINX_START;
        loop {
            let out = self.exec(
                &name,
                &[
                    "curl",
                    "-s",
                    "-m",
                    "1",
                    "--haproxy-protocol",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &url,
                ],
            );
            if out.stdout == b"404" {
                return;
            }
            assert!(Instant::now() < deadline, "nginx in {name} did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops (SIGKILL) the nginx of real `i` that [`HaLab::start_nginx`] started: both
    /// its listeners go, what a health check notices.
    pub fn stop_nginx(&mut self, i: usize) {
        let name = format!("r{i}/nginx");
        if let Some(at) = self.servers.iter().position(|(n, _)| *n == name) {
            let (_, mut child) = self.servers.remove(at);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The lines nginx in real `i` logged, but for its readiness probes.
    pub fn nginx_log(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(format!("nginx-r{i}.access")))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.contains(" /ready "))
            .map(str::to_owned)
            .collect()
    }

    /// Watches the real segment (every port of its bridge, in the hub) for TCP segments
    /// to the reals' [`HTTP_PORT`] that carry TOA, for at most `seconds`.
    pub fn watch_toa(&self, seconds: u32) -> ToaWatch {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns("b"), "python3", "-c", TOA_WATCH])
            .args([&HTTP_PORT.to_string(), &seconds.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start the TOA watcher: {e}"));
        let out = child.stdout.take().expect("the watcher's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = lines.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            ready.as_deref(),
            Ok("ready"),
            "the TOA watcher did not start"
        );
        ToaWatch { child, lines }
    }
}
