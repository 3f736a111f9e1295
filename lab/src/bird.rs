//! BIRD 2 in a lab namespace: the directors' routing daemon and the lab's BGP router.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::run;

/// How long a route may take to appear or go.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(30);

/// A BIRD daemon in a namespace, its control socket in a lab directory; killed on drop.
pub struct Bird {
    child: Child,
    socket: PathBuf,
}

impl Bird {
    /// Starts `bird -f` in namespace `ns` with `config`, its files (`bird-NAME.conf`,
    /// `.ctl`, `.pid`) in `dir`.
    pub fn start(ns: &str, dir: &Path, name: &str, config: &str) -> Bird {
        let conf = dir.join(format!("bird-{name}.conf"));
        std::fs::write(&conf, config).expect("bird config");
        let socket = Bird::socket_in(dir, name);
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "bird", "-f", "-c"])
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join(format!("bird-{name}.pid")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bird (scripts/setup installs bird2)");
        Bird { child, socket }
    }

    /// The control socket of the BIRD named `name` in `dir` (for a reload command written
    /// before it starts).
    pub fn socket_in(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("bird-{name}.ctl"))
    }

    /// Its control socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `birdc ARGS...`: what it printed.
    pub fn birdc(&self, args: &[&str]) -> String {
        let socket = self.socket.display().to_string();
        let mut all = vec!["birdc", "-s", &socket];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&run(&all).stdout).into_owned()
    }

    /// `birdc show route PREFIX`, as BIRD prints it.
    pub fn route(&self, prefix: &str) -> String {
        self.birdc(&["show", "route", prefix])
    }

    /// Waits until the route for `prefix` is there (`want`) or gone: how long it took.
    pub fn wait_route(&self, prefix: &str, want: bool) -> Duration {
        self.wait_for(prefix, |table| table.contains(prefix) == want)
    }

    /// Waits until `birdc show route PREFIX` satisfies `done`: how long it took.
    pub fn wait_for(&self, prefix: &str, done: impl Fn(&str) -> bool) -> Duration {
        let started = Instant::now();
        loop {
            let table = self.route(prefix);
            if done(&table) {
                return started.elapsed();
            }
            if started.elapsed() >= ROUTE_TIMEOUT {
                panic!(
                    "route {prefix} never reached the state waited for:\n{table}\n{}",
                    self.birdc(&["show", "protocols", "all"])
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
