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
//! first such service of the VIP sets them). Under `[ha]`, VIPs are announced only while
//! the director is master: a backup (and a director that has just started, which is
//! backup until VRRP makes it master) withdraws them, so upstream routers never send
//! traffic to a director that drops it.
//!
//! The files are replaced atomically ([`file`]). The reload command runs beside the
//! control core, never blocking it: it is started, then polled from the control tick,
//! and killed after [`RELOAD_TIMEOUT`]. A change is done only once the reload succeeded;
//! a failed write or reload stays pending and is tried again with back-off
//! ([`FIRST_RETRY`] doubling up to [`LAST_RETRY`]), each failure logged and counted
//! (`rvs_announce_reload_failures_total`, `rvs_announce_pending`). On shutdown every
//! route is withdrawn, retried until a deadline; what could not be done is logged.

mod file;
mod reload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rvs_config::mark_vip;
use rvs_config::{AnnounceConfig, IpNet};
use rvs_conntrack::Proto;
use rvs_pipeline::service::Service;
use rvs_pipeline::snapshot::Snapshot;

use reload::Reload;

/// How long the reload command may run.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the first retry after a failure.
pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between two retries.
pub const LAST_RETRY: Duration = Duration::from_secs(30);
/// How often [`Announcer::withdraw_all`] polls while it waits.
const WITHDRAW_POLL: Duration = Duration::from_millis(10);

/// The routes of every announced VIP (a host prefix) and `[[mark]]` destination prefix.
pub type Routes = BTreeMap<IpNet, RouteAttrs>;

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

/// What a successful reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// Prefixes newly announced.
    pub announced: Vec<IpNet>,
    /// Prefixes withdrawn.
    pub withdrawn: Vec<IpNet>,
}

impl Transition {
    fn between(old: &Routes, new: &Routes) -> Self {
        Self {
            announced: new
                .keys()
                .filter(|v| !old.contains_key(v))
                .copied()
                .collect(),
            withdrawn: old
                .keys()
                .filter(|v| !new.contains_key(v))
                .copied()
                .collect(),
        }
    }
}

/// What [`Announcer::poll`] saw happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The routing daemon took the files: what changed.
    Done(Transition),
    /// Writing the files or the reload failed: why, and when it is tried again.
    Failed {
        /// The error.
        error: String,
        /// Failures in a row.
        in_a_row: u32,
        /// The wait before the next try.
        retry_in: Duration,
    },
}

/// The routes rvsd announces, and the files that say so.
#[derive(Debug)]
pub struct Announcer {
    config: AnnounceConfig,
    /// What the routing daemon has taken (its last reload succeeded); `None` before the
    /// first.
    current: Option<Routes>,
    /// What should be announced.
    wanted: Routes,
    /// The reload running, and the routes the files held when it started.
    running: Option<(Reload, Routes)>,
    /// No try before this (back-off after a failure).
    retry_at: Option<Instant>,
    /// Failures since the last success.
    in_a_row: u32,
    failures: u64,
    transitions: u64,
    timeout: Duration,
}

impl Announcer {
    /// An announcer that has written nothing yet: its first [`poll`](Self::poll)
    /// writes the files (empty until [`want`](Self::want) says otherwise).
    pub fn new(config: AnnounceConfig) -> Self {
        Self {
            config,
            current: None,
            wanted: Routes::new(),
            running: None,
            retry_at: None,
            in_a_row: 0,
            failures: 0,
            transitions: 0,
            timeout: RELOAD_TIMEOUT,
        }
    }

    /// The same announcer with the reload command allowed `timeout` (tests).
    #[cfg(test)]
    fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Its configuration.
    pub fn config(&self) -> &AnnounceConfig {
        &self.config
    }

    /// The prefixes announced now (the routing daemon took them).
    pub fn announced(&self) -> Vec<IpNet> {
        self.current
            .as_ref()
            .map(|c| c.keys().copied().collect())
            .unwrap_or_default()
    }

    /// VIPs announced or withdrawn since start.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Failed writes and reloads since start.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// True while what is wanted is not yet what the routing daemon took.
    pub fn pending(&self) -> bool {
        self.running.is_some() || self.current.as_ref() != Some(&self.wanted)
    }

    /// Announce what `snap` calls for (nothing when `serving` is false: a backup);
    /// [`poll`](Self::poll) carries it out.
    pub fn update(&mut self, snap: &Snapshot, serving: bool) {
        self.want(if serving {
            wanted(snap, self.config.asn)
        } else {
            Routes::new()
        });
    }

    /// Announce exactly `routes` (carried out by [`poll`](Self::poll)).
    pub fn want(&mut self, routes: Routes) {
        self.wanted = routes;
    }

    /// Carry on: reap a finished reload, start the next write and reload when one is
    /// due. Never blocks on the reload command. What happened, if anything.
    pub fn poll(&mut self, now: Instant) -> Option<Event> {
        if let Some((reload, routes)) = self.running.as_mut() {
            let result = reload.poll(now)?;
            let routes = std::mem::take(routes);
            self.running = None;
            return Some(match result {
                Ok(()) => self.done(routes),
                Err(e) => self.failed(e, now),
            });
        }
        if !self.pending() || self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        let wanted = self.wanted.clone();
        let written = file::write_atomically(&self.config.file, &routes_text(&wanted, true))
            .and_then(|()| {
                file::write_atomically(&self.config.file6(), &routes_text(&wanted, false))
            });
        if let Err(e) = written {
            let e = format!("writing {}: {e}", self.config.file.display());
            return Some(self.failed(e, now));
        }
        if self.config.reload.is_empty() {
            return Some(self.done(wanted));
        }
        match Reload::start(&self.config.reload, now, self.timeout) {
            Ok(reload) => {
                self.running = Some((reload, wanted));
                None
            }
            Err(e) => Some(self.failed(e, now)),
        }
    }

    /// Withdraw every route (rvsd stops), trying again until `deadline`: a reload still
    /// running for an older state is killed first. `Err` says what was not done.
    pub fn withdraw_all(&mut self, deadline: Instant) -> Result<Transition, String> {
        self.want(Routes::new());
        if let Some((reload, routes)) = self.running.as_mut() {
            if !routes.is_empty() {
                reload.kill();
                self.running = None;
            }
        }
        // Shutdown does not wait out a back-off meant for a running director.
        self.retry_at = None;
        let before = self.current.clone().unwrap_or_default();
        let mut last = None;
        loop {
            let now = Instant::now();
            if let Some(Event::Failed { error, .. }) = self.poll(now) {
                crate::error!("announce: withdrawal failed: {error}");
                last = Some(error);
                // Within the deadline, a shorter back-off than a running director's.
                self.retry_at = Some(now + FIRST_RETRY);
            }
            if !self.pending() {
                return Ok(Transition::between(&before, &Routes::new()));
            }
            if now >= deadline {
                if let Some((reload, _)) = self.running.as_mut() {
                    reload.kill();
                }
                self.running = None;
                let still = self.announced();
                return Err(format!(
                    "the withdrawal of {still:?} was not confirmed before the shutdown deadline \
                     ({}); the routing daemon may still announce them",
                    last.as_deref()
                        .unwrap_or("the reload command did not finish")
                ));
            }
            std::thread::sleep(WITHDRAW_POLL);
        }
    }

    fn done(&mut self, routes: Routes) -> Event {
        let old = self.current.take().unwrap_or_default();
        let t = Transition::between(&old, &routes);
        self.transitions += (t.announced.len() + t.withdrawn.len()) as u64;
        self.current = Some(routes);
        self.in_a_row = 0;
        self.retry_at = None;
        Event::Done(t)
    }

    fn failed(&mut self, error: String, now: Instant) -> Event {
        self.failures += 1;
        self.in_a_row = self.in_a_row.saturating_add(1);
        let retry_in = FIRST_RETRY
            .saturating_mul(1 << (self.in_a_row - 1).min(16))
            .min(LAST_RETRY);
        self.retry_at = Some(now + retry_in);
        Event::Failed {
            error,
            in_a_row: self.in_a_row,
            retry_in,
        }
    }

    /// When the next try may start (after a failure).
    #[cfg(test)]
    fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

/// Every VIP with a service that may be announced and has a real taking connections,
/// and every destination prefix of a `[[mark]]` rule whose mark service (of the prefix's
/// family) is such a service, with that service's attributes; `asn` is what
/// `announce_prepend` repeats (configuration checks it is there when used).
pub fn wanted(snap: &Snapshot, asn: Option<u32>) -> Routes {
    let mut out = BTreeMap::new();
    let attrs = |svc: &Service| RouteAttrs {
        med: svc.config.announce_med,
        communities: svc.config.announce_communities.clone(),
        prepend: asn
            .map(|a| vec![a; usize::from(svc.config.announce_prepend)])
            .unwrap_or_default(),
    };
    // A sorry server stands in while every real is down: it does not keep the VIP up.
    let up = |svc: &&Service| svc.config.announce && svc.has_real_up();
    for svc in snap.services.list().iter().filter(up) {
        if svc.is_mark() {
            continue;
        }
        let host = IpNet::new(svc.vip.ip(), if svc.vip.is_ipv4() { 32 } else { 128 });
        if let Some(host) = host {
            out.entry(host).or_insert_with(|| attrs(svc));
        }
    }
    for rule in snap.services.mark_rules() {
        for net in &rule.dst {
            let key = mark_vip(rule.mark, !net.is_ipv4());
            let found = snap.services.find(Proto::Tcp, key, 0).map(|(_, s)| s);
            if let Some(svc) = found.filter(up) {
                out.entry(*net).or_insert_with(|| attrs(svc));
            }
        }
    }
    out
}

/// The static routes of one family, in BIRD 2's syntax.
pub fn routes_text(routes: &Routes, v4: bool) -> String {
    let mut text =
        String::from("# Written by rvsd: the VIPs this director announces. Do not edit.\n");
    for (net, attrs) in routes.iter().filter(|(v, _)| v.is_ipv4() == v4) {
        let (vip, len) = (net.addr(), net.prefix_len());
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

    /// A `[[mark]]` rule's prefixes are announced while its mark service has a real up,
    /// with that service's attributes; the mark service's key address never is.
    #[test]
    fn mark_prefixes_are_announced_with_their_service() {
        let text = rvs_config::testbed::TwoPortDirector::new("mem", 64).to_toml()
            + r#"
[[mark]]
mark = 1
dst = ["10.0.5.0/28", "10.0.0.150/32", "2001:db8:5::/64"]

[[mark]]
mark = 2
dst = ["10.0.6.0/24"]

[[service]]
fwmark = 1
announce_med = 7
[[service.real]]
ip = "10.1.0.12"
forward = "nat"

[[service]]
fwmark = 2
"#;
        let config = rvs_config::Config::parse(&text, "t").unwrap();
        let mut ids = rvs_pipeline::service::IdRegistry::default();
        let snap = Snapshot::build(&config, &[], &[], &mut ids).unwrap();
        let routes = wanted(&snap, None);
        let nets: Vec<String> = routes.keys().map(ToString::to_string).collect();
        // Mark 2's service has no real; mark 1 has no IPv6 service.
        assert_eq!(nets, ["10.0.0.150/32", "10.0.5.0/28"]);
        assert!(routes.values().all(|a| a.med == Some(7)));
        let v4 = routes_text(&routes, true);
        assert!(
            v4.contains("route 10.0.5.0/28 blackhole { bgp_med = 7; };\n"),
            "{v4}"
        );
    }

    /// A scratch directory and an `[announce]` whose reload runs `script` (sh) there.
    fn setup(tag: &str, script: &str) -> (std::path::PathBuf, AnnounceConfig) {
        let dir = std::env::temp_dir().join(format!("rvs-announce-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = AnnounceConfig {
            file: dir.join("vips.conf"),
            reload: vec![
                "sh".into(),
                "-c".into(),
                format!("cd {} && {script}", dir.display()),
            ],
            asn: None,
        };
        (dir, config)
    }

    /// Polls until the running reload ends (at most 20 s): what it did.
    fn settle(a: &mut Announcer) -> Option<Event> {
        let start = Instant::now();
        loop {
            let event = a.poll(Instant::now());
            if a.running.is_none() || start.elapsed() > Duration::from_secs(20) {
                return event;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn one() -> Routes {
        [("10.0.0.100".parse().unwrap(), RouteAttrs::default())].into()
    }

    #[test]
    fn the_files_change_only_when_the_routes_do() {
        let (dir, config) = setup("change", "echo x >> reloads");
        assert_eq!(config.file6(), dir.join("vips6.conf"));
        let mut a = Announcer::new(config);
        a.want(one());
        let Some(Event::Done(t)) = settle(&mut a) else {
            panic!("not done")
        };
        assert_eq!(t.announced.len(), 1);
        assert!(!a.pending());
        a.want(one());
        assert_eq!(a.poll(Instant::now()), None, "nothing to do");
        let t = a
            .withdraw_all(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(t.withdrawn.len(), 1);
        let reloads = std::fs::read_to_string(dir.join("reloads")).unwrap();
        assert_eq!(reloads.lines().count(), 2, "reloaded once per change");
        assert!(!std::fs::read_to_string(dir.join("vips.conf"))
            .unwrap()
            .contains("route"));
        assert_eq!(a.transitions(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The reload runs beside the caller: `poll` returns at once while it sleeps, and a
    /// reload that outlives its time is killed and counted as a failure.
    #[test]
    fn the_reload_never_blocks_and_is_killed_at_its_deadline() {
        let (dir, config) = setup("slow", "sleep 5; touch finished");
        let mut a = Announcer::new(config).with_timeout(Duration::from_millis(300));
        a.want(one());
        let start = Instant::now();
        assert_eq!(a.poll(start), None);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(a.pending() && a.announced().is_empty());
        let Some(Event::Failed { error, .. }) = settle(&mut a) else {
            panic!("no failure")
        };
        assert!(error.contains("did not finish"), "{error}");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "killed, not waited for"
        );
        assert_eq!((a.failures(), a.pending()), (1, true));
        assert!(!dir.join("finished").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reload that fails stays pending and is tried again after a back-off that
    /// doubles, until it succeeds: the routing daemon ends up with the routes.
    #[test]
    fn a_failed_reload_is_retried_until_it_succeeds() {
        // Fails twice, then copies the file it was asked to read.
        let (dir, config) = setup(
            "retry",
            "n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; \
             [ $n -ge 2 ] && cp vips.conf taken.conf",
        );
        let mut a = Announcer::new(config);
        a.want(one());
        let mut waits = Vec::new();
        for _ in 0..2 {
            let Some(Event::Failed {
                retry_in, in_a_row, ..
            }) = settle(&mut a)
            else {
                panic!("no failure")
            };
            waits.push((in_a_row, retry_in));
            assert!(a.pending() && a.announced().is_empty());
            // Not before its time.
            assert_eq!(a.poll(Instant::now()), None);
            assert!(a.running.is_none(), "retried before the back-off");
            let at = a.retry_at().expect("a retry is due");
            assert_eq!(a.poll(at), None, "started");
        }
        assert_eq!(waits, [(1, FIRST_RETRY), (2, FIRST_RETRY * 2)]);
        assert!(matches!(settle(&mut a), Some(Event::Done(_))));
        assert!(!a.pending());
        assert_eq!(a.failures(), 2);
        assert_eq!(a.announced(), ["10.0.0.100".parse::<IpNet>().unwrap()]);
        let taken = std::fs::read_to_string(dir.join("taken.conf")).unwrap();
        assert!(taken.contains("route 10.0.0.100/32 blackhole;"), "{taken}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// At shutdown a failed withdrawal is tried again within the deadline; one that never
    /// succeeds ends at the deadline with what was not done.
    #[test]
    fn the_withdrawal_is_retried_within_the_deadline() {
        let (dir, config) = setup(
            "withdraw",
            "n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; [ $n -ne 1 ]",
        );
        let mut a = Announcer::new(config.clone());
        a.want(one());
        assert!(matches!(settle(&mut a), Some(Event::Done(_))));
        let t = a
            .withdraw_all(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(t.withdrawn.len(), 1);
        assert_eq!(std::fs::read_to_string(dir.join("tries")).unwrap(), "3\n");

        let mut config = config;
        config.reload = vec!["false".into()];
        let mut a = Announcer::new(config);
        a.current = Some(one());
        let start = Instant::now();
        let err = a
            .withdraw_all(start + Duration::from_millis(500))
            .unwrap_err();
        assert!(err.contains("10.0.0.100"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(a.failures() >= 2, "retried: {}", a.failures());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
