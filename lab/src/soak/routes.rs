//! The soak's VIP announcement: BIRD in each director's namespace takes the static
//! routes rvsd writes (`[announce]`, only the master announces under `[ha]`) and
//! exports them over BGP, on the director's kernel link ([`crate::ha::uplink_addr`]), to
//! a BIRD router in the router namespace. After each takeover and each preemption the
//! soak waits until the router's route for every VIP goes via the new master, and only
//! via it: the convergence time.
//!
//! A failover takes the master's host down: its BIRD is SIGKILLed with its rvsd (a
//! BIRD left running would go on announcing what the dead rvsd last wrote), and the
//! router sees the session close. The host comes back with no route announced (its
//! file emptied, as a `/run` that a restart clears), BIRD first, then rvsd.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bird::Bird;
use crate::ha::{router_addr, uplink_addr, HaLab, HA_DIRECTORS};

/// The router's AS number.
const ROUTER_AS: u32 = 65000;
/// The directors' AS number (both).
const DIRECTOR_AS: u32 = 65001;
/// Timers of every BGP session: hold time 3 s (BIRD's least), keepalives every second,
/// a failed session retried after a second or two (not BIRD's default minute), and no
/// graceful restart (a dead director's routes go with its session).
const SESSION: &str = "hold time 3;\n  keepalive time 1;\n  connect delay time 1;\n  \
                       connect retry time 1;\n  error wait time 1, 2;\n  graceful restart off;";
/// How long the router's routes may take to follow a new master (the new master's
/// reload, a BGP update; after a preemption also the restarted director's session).
pub const CONVERGENCE_LIMIT: Duration = Duration::from_secs(20);

/// The routing daemons: the router's and each director's; all killed on drop.
pub struct Routes {
    dir: PathBuf,
    namespaces: [String; HA_DIRECTORS],
    router: Bird,
    directors: [Option<Bird>; HA_DIRECTORS],
}

impl Routes {
    /// Starts the router's BIRD (a session with each director, every route imported)
    /// and each director's (no route announced yet) in `lab`, which has
    /// [`HaLab::add_router`]'s links.
    pub fn start(lab: &HaLab) -> Routes {
        let mut config = format!("router id {};\nprotocol device {{}}\n", router_addr(1));
        for i in 1..=HA_DIRECTORS {
            config += &format!(
                "protocol bgp d{i} {{\n  local {} as {ROUTER_AS};\n  neighbor {} as {DIRECTOR_AS};\n  \
                 {SESSION}\n  ipv4 {{ import all; export none; }};\n}}\n",
                router_addr(i),
                uplink_addr(i),
            );
        }
        let mut routes = Routes {
            dir: lab.dir().to_owned(),
            namespaces: [1, 2].map(|i| lab.ns(&format!("d{i}"))),
            router: Bird::start(&lab.ns("g"), lab.dir(), "g", &config),
            directors: [None, None],
        };
        for i in 1..=HA_DIRECTORS {
            routes.restart(i);
        }
        routes
    }

    /// The file of director `i`'s announced routes.
    fn file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("d{i}-vips.conf"))
    }

    /// Director `i`'s `[announce]` section: its file, reloaded by `birdc configure`.
    pub fn announce_section(&self, i: usize) -> String {
        format!(
            "[announce]\nfile = \"{}\"\nreload = [\"birdc\", \"-s\", \"{}\", \"configure\"]\n",
            self.file(i).display(),
            Bird::socket_in(&self.dir, &format!("d{i}")).display()
        )
    }

    /// SIGKILL of director `i`'s BIRD (its host went down).
    pub fn crash(&mut self, i: usize) {
        self.directors[i - 1] = None;
    }

    /// Starts director `i`'s BIRD with no route announced: the static routes of its
    /// file (emptied first), exported to the router.
    pub fn restart(&mut self, i: usize) {
        self.directors[i - 1] = None;
        std::fs::write(self.file(i), "").expect("the announce file");
        let config = format!(
            "router id {me};\nprotocol device {{}}\n\
             protocol static rvs_vips {{\n  ipv4;\n  include \"{}\";\n}}\n\
             protocol bgp uplink {{\n  local {me} as {DIRECTOR_AS};\n  neighbor {} as {ROUTER_AS};\n  \
             {SESSION}\n  ipv4 {{ import none; export where source = RTS_STATIC; }};\n}}\n",
            self.file(i).display(),
            router_addr(i),
            me = uplink_addr(i),
        );
        let ns = &self.namespaces[i - 1];
        self.directors[i - 1] = Some(Bird::start(ns, &self.dir, &format!("d{i}"), &config));
    }

    /// Waits (at most [`CONVERGENCE_LIMIT`]) until the router's route for every one of
    /// `vips` goes via director `i` and via no other: how long it took, or the table
    /// when it did not.
    pub fn wait_via(&self, i: usize, vips: &[&str]) -> Result<Duration, String> {
        let start = Instant::now();
        let want = vec![uplink_addr(i)];
        loop {
            let table = self.router.birdc(&["show", "route"]);
            let hops = next_hops(&table);
            let pending: Vec<&&str> = vips
                .iter()
                .filter(|v| hops.get(&format!("{v}/32")) != Some(&want))
                .collect();
            if pending.is_empty() {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= CONVERGENCE_LIMIT {
                return Err(format!(
                    "the router's routes for {pending:?} not via director {i} only within \
                     {CONVERGENCE_LIMIT:?}:\n{table}\n{}",
                    self.router.birdc(&["show", "protocols"])
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The next hops of each prefix in `birdc show route` output (a prefix heads its first
/// route's line; each route's next hop follows on a `via` line).
fn next_hops(table: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut hops = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut prefix: Option<String> = None;
    for line in table.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if !line.starts_with(char::is_whitespace) && first.contains('/') {
            prefix = Some(first.to_owned());
            hops.entry(first.to_owned()).or_default();
        } else if first == "via" {
            if let (Some(p), Some(hop)) = (&prefix, words.next()) {
                hops.entry(p.clone()).or_default().push(hop.to_owned());
            }
        }
    }
    hops
}

#[cfg(test)]
mod tests {
    use super::next_hops;

    #[test]
    fn next_hops_lists_every_route_of_each_prefix() {
        let table = "BIRD 2.0.12 ready.\nTable master4:\n\
            10.50.0.10/32        unicast [d1 18:30:00.123] * (100) [AS65001i]\n\
            \tvia 10.70.1.2 on rv1zg1\n\
            \x20                    unicast [d2 18:30:01.456] (100) [AS65001i]\n\
            \tvia 10.70.2.2 on rv1zg2\n\
            10.50.0.11/32        unicast [d2 18:30:01.456] * (100) [AS65001i]\n\
            \tvia 10.70.2.2 on rv1zg2\n";
        let hops = next_hops(table);
        assert_eq!(hops["10.50.0.10/32"], ["10.70.1.2", "10.70.2.2"]);
        assert_eq!(hops["10.50.0.11/32"], ["10.70.2.2"]);
        assert_eq!(hops.len(), 2);
    }
}
