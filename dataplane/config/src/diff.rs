//! What differs between two configurations, item by item: the services, their reals and
//! the timeouts, the parts that a reload applies and that rvsadm changes at runtime.
//!
//! The control core logs a reload's and a runtime change's [`ConfigDiff`], and keeps the
//! difference between the file it loaded and the running configuration (the runtime
//! changes) so that a reload can say which of them it would undo ([`ConfigDiff::undone_by`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use rvs_conntrack::{Proto, Timeouts};

use crate::{forward_name, Config, RealConfig, ServiceConfig};

/// A service, as the diff names it: protocol, VIP and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceRef {
    /// TCP or UDP (0 and 1, for ordering).
    udp: bool,
    /// The VIP.
    vip: IpAddr,
    /// The port.
    port: u16,
}

impl ServiceRef {
    fn of(s: &ServiceConfig) -> Self {
        Self {
            udp: s.proto == Proto::Udp,
            vip: s.vip,
            port: s.port,
        }
    }

    fn find<'a>(&self, config: &'a Config) -> Option<&'a ServiceConfig> {
        config.services.iter().find(|s| Self::of(s) == *self)
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = if self.udp { "udp" } else { "tcp" };
        write!(f, "{proto} {}", SocketAddr::new(self.vip, self.port))
    }
}

/// One thing a diff may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    /// A service's own settings (scheduler, persistence, local addresses, ...).
    Service(ServiceRef),
    /// One real of a service.
    Real(ServiceRef, SocketAddr),
    /// `[timeouts]` (`ipvsadm --set`).
    Timeouts,
}

/// What happened to an [`Item`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// In the new configuration only.
    Added,
    /// In the old configuration only.
    Removed,
    /// In both, different: what differs, `field old -> new`.
    Changed(Vec<String>),
}

/// One item that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The item.
    pub item: Item,
    /// How it differs.
    pub change: Change,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item {
            Item::Service(s) => write!(f, "service {s}")?,
            Item::Real(s, r) => write!(f, "real {r} of {s}")?,
            Item::Timeouts => write!(f, "timeouts")?,
        }
        match &self.change {
            Change::Added => write!(f, " added"),
            Change::Removed => write!(f, " removed"),
            Change::Changed(fields) => write!(f, ": {}", fields.join(", ")),
        }
    }
}

/// Every item that differs between two configurations, services in the order of the
/// old file then the new, each service's own settings before its reals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// The differences.
    pub differences: Vec<Difference>,
}

impl ConfigDiff {
    /// What turns `old` into `new`.
    pub fn between(old: &Config, new: &Config) -> Self {
        let mut differences = Vec::new();
        let mut keys: Vec<ServiceRef> = old.services.iter().map(ServiceRef::of).collect();
        for s in &new.services {
            let k = ServiceRef::of(s);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for k in keys {
            let (a, b) = (k.find(old), k.find(new));
            if let Some(change) = service_change(a, b) {
                differences.push(Difference {
                    item: Item::Service(k),
                    change,
                });
            }
            let none: &[RealConfig] = &[];
            let (ra, rb) = (a.map_or(none, |s| &s.reals), b.map_or(none, |s| &s.reals));
            let mut reals: Vec<SocketAddr> = ra.iter().map(real_addr).collect();
            reals.extend(
                rb.iter()
                    .map(real_addr)
                    .filter(|r| !ra.iter().any(|x| real_addr(x) == *r)),
            );
            for r in reals {
                let find = |list: &[RealConfig]| list.iter().find(|x| real_addr(x) == r).cloned();
                if let Some(change) = real_change(find(ra).as_ref(), find(rb).as_ref()) {
                    differences.push(Difference {
                        item: Item::Real(k, r),
                        change,
                    });
                }
            }
        }
        if old.timeouts != new.timeouts {
            differences.push(Difference {
                item: Item::Timeouts,
                change: Change::Changed(vec![format!(
                    "{} -> {}",
                    timeouts_text(old.timeouts),
                    timeouts_text(new.timeouts)
                )]),
            });
        }
        Self { differences }
    }

    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    /// The differences of this diff (made from `running`, e.g. the runtime changes since
    /// the file was loaded) that loading `next` instead of `running` would undo: items
    /// whose value in `next` is not their value in `running`.
    pub fn undone_by(&self, running: &Config, next: &Config) -> Vec<Difference> {
        self.differences
            .iter()
            .filter(|d| !same_item(d.item, running, next))
            .cloned()
            .collect()
    }

    /// One line: how many services and reals were added, removed and changed.
    pub fn summary(&self) -> String {
        let count = |service: bool, want: fn(&Change) -> bool| {
            self.differences
                .iter()
                .filter(|d| matches!(d.item, Item::Service(_)) == service)
                .filter(|d| d.item != Item::Timeouts && want(&d.change))
                .count()
        };
        let added = |c: &Change| matches!(c, Change::Added);
        let removed = |c: &Change| matches!(c, Change::Removed);
        let changed = |c: &Change| matches!(c, Change::Changed(_));
        let mut text = format!(
            "services +{} -{} ~{}, reals +{} -{} ~{}",
            count(true, added),
            count(true, removed),
            count(true, changed),
            count(false, added),
            count(false, removed),
            count(false, changed)
        );
        if self.differences.iter().any(|d| d.item == Item::Timeouts) {
            text.push_str(", timeouts changed");
        }
        text
    }
}

fn real_addr(r: &RealConfig) -> SocketAddr {
    SocketAddr::new(r.ip, r.port)
}

fn timeouts_text(t: Timeouts) -> String {
    format!("tcp {} tcpfin {} udp {}", t.tcp, t.tcpfin, t.udp)
}

/// Whether `item` has the same value in both configurations (absent in both counts).
fn same_item(item: Item, a: &Config, b: &Config) -> bool {
    match item {
        Item::Service(k) => service_change(k.find(a), k.find(b)).is_none(),
        Item::Real(k, r) => {
            let find = |c: &Config| {
                k.find(c)
                    .and_then(|s| s.reals.iter().find(|x| real_addr(x) == r))
                    .cloned()
            };
            real_change(find(a).as_ref(), find(b).as_ref()).is_none()
        }
        Item::Timeouts => a.timeouts == b.timeouts,
    }
}

fn service_change(a: Option<&ServiceConfig>, b: Option<&ServiceConfig>) -> Option<Change> {
    // A field `service_fields` does not name still counts.
    let own = |s: &ServiceConfig| ServiceConfig {
        reals: Vec::new(),
        ..s.clone()
    };
    change_of(a, b, service_fields, |a, b| own(a) == own(b))
}

fn real_change(a: Option<&RealConfig>, b: Option<&RealConfig>) -> Option<Change> {
    change_of(a, b, real_fields, |a, b| a == b)
}

/// How `b` differs from `a` (either absent): added, removed, or changed in the fields
/// `fields` names (`name old -> new`), or in `settings` when only others differ (`same`
/// compares everything).
fn change_of<T>(
    a: Option<&T>,
    b: Option<&T>,
    fields: fn(&T) -> Vec<(&'static str, String)>,
    same: impl Fn(&T, &T) -> bool,
) -> Option<Change> {
    let (a, b) = match (a, b) {
        (None, None) => return None,
        (None, Some(_)) => return Some(Change::Added),
        (Some(_), None) => return Some(Change::Removed),
        (Some(a), Some(b)) => (a, b),
    };
    let named: Vec<String> = fields(a)
        .into_iter()
        .zip(fields(b))
        .filter(|((_, old), (_, new))| old != new)
        .map(|((name, old), (_, new))| format!("{name} {old} -> {new}"))
        .collect();
    if !named.is_empty() {
        return Some(Change::Changed(named));
    }
    (!same(a, b)).then(|| Change::Changed(vec!["settings".to_owned()]))
}

/// A service's own settings as a diff names them.
fn service_fields(s: &ServiceConfig) -> Vec<(&'static str, String)> {
    let announce = (
        s.announce,
        s.announce_med,
        s.announce_prepend,
        &s.announce_communities,
    );
    vec![
        ("scheduler", s.scheduler.name().to_owned()),
        ("flags", s.flags.to_string()),
        ("persistence", s.persistence.to_string()),
        ("persistence_prefix", s.persistence_prefix.to_string()),
        ("laddrs", format!("{:?}", s.laddrs)),
        ("announce", format!("{announce:?}")),
        ("check", format!("{:?}", s.check)),
        ("client_address", format!("{:?}", s.client_address)),
        ("synproxy", format!("{:?}", (s.synproxy, s.synproxy_wscale))),
        ("one_packet", s.one_packet.to_string()),
        ("l7", l7_settings(s.l7.as_ref())),
        ("allow", format!("{} prefixes", s.guard.allow.len())),
        ("deny", format!("{} prefixes", s.guard.deny.len())),
        ("guard", guard_settings(&s.guard)),
    ]
}

/// Content switching as a diff names it: protocol, timeout and rules in order.
fn l7_settings(l7: Option<&crate::L7Config>) -> String {
    let Some(l) = l7 else {
        return "off".to_owned();
    };
    let rules: Vec<String> = l.rules.iter().map(crate::write::rule_text).collect();
    format!(
        "{} {:?} [{}]",
        l.protocol.name(),
        l.timeout.as_secs_f64(),
        rules.join(", ")
    )
}

/// A guard's settings but its lists, as a diff names them.
fn guard_settings(g: &crate::GuardConfig) -> String {
    format!(
        "{:?}",
        (
            g.acl_drop_established,
            (g.client_prefix_v4, g.client_prefix_v6),
            (
                g.limit_new_per_client,
                g.limit_conns_per_client,
                g.limit_new
            ),
            (g.limit_reset, g.limit_clients, g.limit_overflow),
        )
    )
}

/// A real's settings as a diff names them.
fn real_fields(r: &RealConfig) -> Vec<(&'static str, String)> {
    vec![
        ("weight", r.weight.to_string()),
        ("forward", forward_name(r.forward).to_owned()),
        ("thresholds", format!("{}/{}", r.upper, r.lower)),
        ("check", r.check.to_string()),
        ("tunnel", tunnel_text(&r.tunnel)),
        ("group", format!("{:?}", r.group)),
    ]
}

/// A real's tunnel as a diff names it: `ipip`, `gue:6080:csum`, `gre:nocsum`.
fn tunnel_text(t: &super::Tunnel) -> String {
    match t.kind {
        super::TunnelKind::Ipip => "ipip".to_owned(),
        super::TunnelKind::Gue => format!("gue:{}:{}", t.port, t.csum.name()),
        super::TunnelKind::Gre => format!("gre:{}", t.csum.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[port]]
name = "wan"
device = "net_null0"
addresses = ["10.0.0.2/24"]

[[service]]
proto = "tcp"
vip = "10.0.0.10"
port = 80
scheduler = "rr"

[[service.real]]
ip = "10.1.0.11"
port = 80
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
port = 80
forward = "nat"
"#;

    fn parse(text: &str) -> Config {
        Config::parse(text, "rvs.toml").unwrap()
    }

    #[test]
    fn a_diff_names_each_item_and_counts_them() {
        let old = parse(BASE);
        let mut new = old.clone();
        new.services[0].scheduler = rvs_schedulers::SchedKind::Wrr;
        new.services[0].reals[0].weight = 0;
        new.services[0].reals.remove(1);
        let added = RealConfig {
            ip: "10.1.0.13".parse().unwrap(),
            ..new.services[0].reals[0].clone()
        };
        new.services[0].reals.push(added);
        let mut extra = new.services[0].clone();
        extra.port = 443;
        new.services.push(extra);
        new.timeouts.tcp = 30;
        let d = ConfigDiff::between(&old, &new);
        let lines: Vec<String> = d.differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "service tcp 10.0.0.10:80: scheduler rr -> wrr",
                "real 10.1.0.11:80 of tcp 10.0.0.10:80: weight 1 -> 0",
                "real 10.1.0.12:80 of tcp 10.0.0.10:80 removed",
                "real 10.1.0.13:80 of tcp 10.0.0.10:80 added",
                "service tcp 10.0.0.10:443 added",
                "real 10.1.0.11:80 of tcp 10.0.0.10:443 added",
                "real 10.1.0.13:80 of tcp 10.0.0.10:443 added",
                "timeouts: tcp 900 tcpfin 120 udp 300 -> tcp 30 tcpfin 120 udp 300",
            ]
        );
        assert_eq!(
            d.summary(),
            "services +1 -0 ~1, reals +3 -1 ~1, timeouts changed"
        );
        assert!(ConfigDiff::between(&old, &old).is_empty());
    }

    #[test]
    fn a_file_that_carries_a_runtime_change_does_not_undo_it() {
        let loaded = parse(BASE);
        let mut running = loaded.clone();
        running.services[0].reals[0].weight = 0;
        let mut extra = running.services[0].clone();
        extra.port = 443;
        running.services.push(extra);
        let runtime = ConfigDiff::between(&loaded, &running);
        // The same file again undoes all of them.
        let undone = runtime.undone_by(&running, &loaded);
        assert_eq!(undone.len(), runtime.differences.len());
        // A file edited to carry the quiesced real (but not the new service) undoes only
        // the service and its reals.
        let mut edited = loaded.clone();
        edited.services[0].reals[0].weight = 0;
        let undone: Vec<String> = runtime
            .undone_by(&running, &edited)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            undone,
            [
                "service tcp 10.0.0.10:443 added",
                "real 10.1.0.11:80 of tcp 10.0.0.10:443 added",
                "real 10.1.0.12:80 of tcp 10.0.0.10:443 added",
            ]
        );
        // The running state saved to the file undoes nothing.
        assert!(runtime.undone_by(&running, &running).is_empty());
    }
}
