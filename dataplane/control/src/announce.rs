//! VIP announcement through the operator's routing daemon (`[announce]`).
//!
//! rvsd keeps the set of VIPs to announce in files the daemon includes, one static route
//! per VIP (`/32` or `/128`), and runs the reload command after each rewrite. For BIRD 2:
//!
//! ```text
//! protocol static rvs_vips4 {
//!   ipv4;
//!   include "/etc/bird/rvs-vips.conf";
//! }
//! protocol static rvs_vips6 {
//!   ipv6;
//!   include "/etc/bird/rvs-vips6.conf";
//! }
//! ```
//! with `reload = ["birdc", "configure"]` and the BGP protocols exporting
//! `source = RTS_STATIC` routes (the `include` lines stand on their own lines).
//!
//! A VIP is announced while one of its services that may be announced
//! (`announce = true`, the default) has a real that takes connections (available and of
//! non-zero weight, as health checks leave it; a sorry server does not count). A
//! service's `announce_med`, `announce_communities` and `announce_prepend` (`[announce]
//! asn` repeated that many times at the head of the AS path) go on its VIP's route (the
//! first such service of the VIP sets them). Every change is logged;
//! the files are replaced atomically (written beside, then renamed); on shutdown every
//! route is withdrawn.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rvs_config::AnnounceConfig;
use rvs_pipeline::snapshot::Snapshot;

/// How long the reload command may run.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The BGP attributes of one announced VIP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteAttrs {
    /// MED.
    pub med: Option<u32>,
    /// Communities (AS, value).
    pub communities: Vec<(u16, u16)>,
    /// AS numbers prepended to the path, in order.
    pub prepend: Vec<u32>,
}

/// What the announcer did on an update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// VIPs newly announced.
    pub announced: Vec<IpAddr>,
    /// VIPs withdrawn.
    pub withdrawn: Vec<IpAddr>,
}

/// The routes rvsd announces, and the files that say so.
#[derive(Debug)]
pub struct Announcer {
    config: AnnounceConfig,
    current: Option<BTreeMap<IpAddr, RouteAttrs>>,
    transitions: u64,
}

impl Announcer {
    /// An announcer that has written nothing yet.
    pub fn new(config: AnnounceConfig) -> Self {
        Self {
            config,
            current: None,
            transitions: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &AnnounceConfig {
        &self.config
    }

    /// The VIPs announced now.
    pub fn announced(&self) -> Vec<IpAddr> {
        self.current
            .as_ref()
            .map(|c| c.keys().copied().collect())
            .unwrap_or_default()
    }

    /// VIPs announced or withdrawn since start.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Bring the files in line with what `snap` calls for (nothing when `healthy` is
    /// false); rewrite and reload only when that changed.
    pub fn update(&mut self, snap: &Snapshot, healthy: bool) -> Result<Transition, String> {
        let wanted = if healthy {
            wanted(snap, self.config.asn)
        } else {
            BTreeMap::new()
        };
        self.apply(wanted)
    }

    /// Withdraw every route (rvsd stops).
    pub fn withdraw_all(&mut self) -> Result<Transition, String> {
        self.apply(BTreeMap::new())
    }

    fn apply(&mut self, wanted: BTreeMap<IpAddr, RouteAttrs>) -> Result<Transition, String> {
        let empty = BTreeMap::new();
        let current = self.current.as_ref().unwrap_or(&empty);
        if self.current.is_some() && *current == wanted {
            return Ok(Transition::default());
        }
        let transition = Transition {
            announced: wanted
                .keys()
                .filter(|v| !current.contains_key(v))
                .copied()
                .collect(),
            withdrawn: current
                .keys()
                .filter(|v| !wanted.contains_key(v))
                .copied()
                .collect(),
        };
        write_atomically(&self.config.file, &routes_text(&wanted, true))?;
        write_atomically(&self.config.file6(), &routes_text(&wanted, false))?;
        self.current = Some(wanted);
        self.transitions += (transition.announced.len() + transition.withdrawn.len()) as u64;
        run_reload(&self.config.reload)?;
        Ok(transition)
    }
}

/// Every VIP with a service that may be announced and has a real taking connections;
/// `asn` is what `announce_prepend` repeats (configuration checks it is there when used).
pub fn wanted(snap: &Snapshot, asn: Option<u32>) -> BTreeMap<IpAddr, RouteAttrs> {
    let mut out = BTreeMap::new();
    for svc in snap.services.list() {
        // A sorry server stands in while every real is down: it does not keep the VIP up.
        let sorry = svc.config.check.as_ref().and_then(|c| c.sorry);
        let up =
            svc.sched.reals().iter().any(|r| {
                r.available && r.weight > 0 && Some(SocketAddr::new(r.addr, r.port)) != sorry
            });
        if svc.config.announce && up {
            out.entry(svc.vip.ip()).or_insert_with(|| RouteAttrs {
                med: svc.config.announce_med,
                communities: svc.config.announce_communities.clone(),
                prepend: asn
                    .map(|a| vec![a; usize::from(svc.config.announce_prepend)])
                    .unwrap_or_default(),
            });
        }
    }
    out
}

/// The static routes of one family, in BIRD 2's syntax.
pub fn routes_text(routes: &BTreeMap<IpAddr, RouteAttrs>, v4: bool) -> String {
    let mut text =
        String::from("# Written by rvsd: the VIPs this director announces. Do not edit.\n");
    for (vip, attrs) in routes.iter().filter(|(v, _)| v.is_ipv4() == v4) {
        let len = if v4 { 32 } else { 128 };
        let mut cmds = String::new();
        if let Some(med) = attrs.med {
            let _ = write!(cmds, " bgp_med = {med};");
        }
        for (a, v) in &attrs.communities {
            let _ = write!(cmds, " bgp_community.add(({a},{v}));");
        }
        for asn in &attrs.prepend {
            let _ = write!(cmds, " bgp_path.prepend({asn});");
        }
        if cmds.is_empty() {
            let _ = writeln!(text, "route {vip}/{len} blackhole;");
        } else {
            let _ = writeln!(text, "route {vip}/{len} blackhole {{{cmds} }};");
        }
    }
    text
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("rvsd-new");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Run the reload command, bounded in time; its failure is reported, not fatal.
fn run_reload(argv: &[String]) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(());
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("running {}: {e}", argv.join(" ")))?;
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{} exited with {status}", argv.join(" "))),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not finish in {RELOAD_TIMEOUT:?}",
                    argv.join(" ")
                ));
            }
            Err(e) => return Err(format!("waiting for {}: {e}", argv.join(" "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_written_per_family_with_their_attributes() {
        let mut routes = BTreeMap::new();
        routes.insert(
            "10.0.0.100".parse().unwrap(),
            RouteAttrs {
                med: Some(100),
                communities: vec![(65000, 1)],
                prepend: vec![65001, 65001],
            },
        );
        routes.insert("10.0.0.101".parse().unwrap(), RouteAttrs::default());
        routes.insert("2001:db8::100".parse().unwrap(), RouteAttrs::default());
        let v4 = routes_text(&routes, true);
        assert!(v4.contains(
            "route 10.0.0.100/32 blackhole { bgp_med = 100; bgp_community.add((65000,1)); \
             bgp_path.prepend(65001); bgp_path.prepend(65001); };\n"
        ));
        assert!(v4.contains("route 10.0.0.101/32 blackhole;\n"));
        assert!(!v4.contains("2001:db8"));
        assert!(routes_text(&routes, false).contains("route 2001:db8::100/128 blackhole;\n"));
    }

    #[test]
    fn the_files_change_only_when_the_routes_do() {
        let dir = std::env::temp_dir().join(format!("rvs-announce-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("reloads");
        let config = AnnounceConfig {
            file: dir.join("vips.conf"),
            reload: vec![
                "sh".into(),
                "-c".into(),
                format!("echo x >> {}", marker.display()),
            ],
            asn: None,
        };
        assert_eq!(config.file6(), dir.join("vips6.conf"));
        let mut a = Announcer::new(config);
        let one: BTreeMap<IpAddr, RouteAttrs> =
            [("10.0.0.100".parse().unwrap(), RouteAttrs::default())].into();
        let t = a.apply(one.clone()).unwrap();
        assert_eq!(t.announced.len(), 1);
        assert_eq!(a.apply(one).unwrap(), Transition::default());
        let t = a.withdraw_all().unwrap();
        assert_eq!(t.withdrawn.len(), 1);
        let reloads = std::fs::read_to_string(&marker).unwrap();
        assert_eq!(reloads.lines().count(), 2, "reloaded once per change");
        assert!(!std::fs::read_to_string(dir.join("vips.conf"))
            .unwrap()
            .contains("route"));
        assert_eq!(a.transitions(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
