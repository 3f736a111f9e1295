//! A [`Config`] written back as a configuration file (`rvsctl config save`).
//!
//! The text parses back to an equal [`Config`]: every key is written, defaults included,
//! so a saved file does not change meaning if a default changes later.

use std::fmt::Write;
use std::net::IpAddr;

use rvs_conntrack::{ForwardMode, Proto};

use super::forward::forward_name;
use super::service::DEFAULT_SYNPROXY_WSCALE;
use super::{
    CheckConfig, CheckKind, ClientAddress, Config, GuardConfig, HaConfig, IdlePolicy, OnFail,
    RealConfig, RssMode, ServiceConfig, Tunnel, TunnelCsum, TunnelKind, DEFAULT_MTU,
};
use rvs_packet::wire::MacAddr;

/// The configuration as TOML text.
pub fn to_toml(config: &Config) -> String {
    let mut out = String::new();
    let w = &mut out;
    // Writing to a String cannot fail; `let _` keeps the code free of unwraps.
    let _ = writeln!(
        w,
        "# rvsd configuration written by rvsd from its running state"
    );
    let _ = writeln!(w, "\n[dataplane]");
    let _ = writeln!(w, "workers = {}", config.dataplane.workers);
    let _ = writeln!(w, "conn_capacity = {}", config.dataplane.conn_capacity);
    let _ = writeln!(w, "idle = {}", quote(&config.dataplane.idle.to_string()));
    if let IdlePolicy::Backoff { max_sleep_us } = config.dataplane.idle {
        let _ = writeln!(w, "idle_max_us = {max_sleep_us}");
    }
    let f = config.dataplane.fragments;
    let _ = writeln!(w, "frag_memory = {}", f.memory);
    let _ = writeln!(w, "frag_datagrams = {}", f.datagrams);
    let _ = writeln!(w, "frag_fragments = {}", f.fragments);
    let _ = writeln!(w, "frag_timeout = {}", f.timeout_s);
    let _ = writeln!(w, "\n[dpdk]");
    let _ = writeln!(w, "eal_args = {}", strings(&config.dpdk.eal_args));
    for p in &config.ports {
        let _ = writeln!(w, "\n[[port]]");
        let _ = writeln!(w, "name = {}", quote(&p.name));
        let _ = writeln!(w, "device = {}", quote(&p.device));
        if let Some(mac) = p.mac {
            let _ = writeln!(w, "mac = {}", quote(&MacAddr(mac).to_string()));
        }
        let addrs: Vec<String> = p.addresses.iter().map(ToString::to_string).collect();
        let _ = writeln!(w, "addresses = {}", strings(&addrs));
        if let Some(kernel) = &p.kernel {
            let _ = writeln!(w, "kernel = {}", quote(kernel));
        }
        let rss = match p.rss {
            RssMode::Auto => "auto",
            RssMode::Off => "off",
        };
        let _ = writeln!(w, "rss = {}", quote(rss));
        if p.mtu != DEFAULT_MTU {
            let _ = writeln!(w, "mtu = {}", p.mtu);
        }
    }
    for r in &config.routes {
        let _ = writeln!(w, "\n[[route]]");
        let _ = writeln!(w, "prefix = {}", quote(&r.prefix.to_string()));
        if let Some(via) = r.via {
            let _ = writeln!(w, "via = {}", quote(&via.to_string()));
        }
        let _ = writeln!(w, "port = {}", quote(&config.ports[r.port.index()].name));
    }
    for n in &config.neighbors {
        let _ = writeln!(w, "\n[[neighbor]]");
        let _ = writeln!(w, "ip = {}", quote(&n.ip.to_string()));
        let _ = writeln!(w, "mac = {}", quote(&MacAddr(n.mac).to_string()));
        let _ = writeln!(w, "port = {}", quote(&config.ports[n.port.index()].name));
    }
    let t = config.timeouts;
    let _ = writeln!(w, "\n[timeouts]");
    let _ = writeln!(w, "tcp = {}\ntcpfin = {}\nudp = {}", t.tcp, t.tcpfin, t.udp);
    let b = config.behaviour;
    let _ = writeln!(w, "\n[behaviour]");
    let _ = writeln!(w, "conn_reuse_mode = {}", b.conn_reuse_mode);
    let _ = writeln!(w, "expire_nodest_conn = {}", b.expire_nodest_conn);
    let _ = writeln!(
        w,
        "expire_quiescent_template = {}",
        b.expire_quiescent_template
    );
    let _ = writeln!(w, "sloppy_tcp = {}", b.sloppy_tcp);
    let _ = writeln!(w, "table_full_evict = {}", b.table_full_evict);
    let _ = writeln!(w, "no_real = {}", quote(b.no_real.name()));
    let _ = writeln!(w, "\n[ctl]");
    let socket = config.ctl.socket.display().to_string();
    let _ = writeln!(w, "socket = {}", quote(&socket));
    let _ = writeln!(w, "metrics = {}", quote(&config.ctl.metrics.to_string()));
    let _ = writeln!(
        w,
        "shutdown_timeout = {:?}",
        config.ctl.shutdown_timeout.as_secs_f64()
    );
    if let Some(a) = &config.announce {
        let _ = writeln!(w, "\n[announce]");
        let _ = writeln!(w, "file = {}", quote(&a.file.display().to_string()));
        let _ = writeln!(w, "reload = {}", strings(&a.reload));
        if let Some(asn) = a.asn {
            let _ = writeln!(w, "asn = {asn}");
        }
    }
    if let Some(ha) = &config.ha {
        high_availability(w, config, ha);
    }
    for m in &config.marks {
        mark(w, m);
    }
    for s in &config.services {
        service(w, s);
    }
    out
}

fn high_availability(w: &mut String, config: &Config, ha: &HaConfig) {
    let port_name = |id: crate::PortId| quote(&config.ports[id.index()].name);
    let _ = writeln!(w, "\n[ha]");
    let _ = writeln!(w, "port = {}", port_name(ha.port));
    let _ = writeln!(w, "vrid = {}", ha.vrid);
    let _ = writeln!(w, "priority = {}", ha.priority);
    let centis = ha.advert_interval.as_millis() / 10;
    let _ = writeln!(w, "advert_interval = {}.{:02}", centis / 100, centis % 100);
    let _ = writeln!(w, "preempt = {}", ha.preempt);
    let peers: Vec<String> = ha.unicast_peers.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(w, "unicast_peers = {}", strings(&peers));
    let _ = writeln!(w, "notify = {}", strings(&ha.notify));
    let floating: Vec<String> = ha.floating.iter().map(|f| f.to_string()).collect();
    let _ = writeln!(w, "floating = {}", strings(&floating));
    let _ = writeln!(w, "garp_master_repeat = {}", ha.garp.master_repeat);
    let _ = writeln!(w, "garp_master_delay = {}", ha.garp.master_delay.as_secs());
    let _ = writeln!(
        w,
        "garp_master_refresh = {}",
        ha.garp.master_refresh.as_secs()
    );
    let _ = writeln!(
        w,
        "garp_master_refresh_repeat = {}",
        ha.garp.master_refresh_repeat
    );
    if let Some(s) = &ha.sync {
        let _ = writeln!(w, "\n[ha.sync]");
        let _ = writeln!(w, "port = {}", port_name(s.port));
        let _ = writeln!(w, "address = {}", quote(&s.address.to_string()));
        let peers: Vec<String> = s.peers.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(w, "peers = {}", strings(&peers));
        let _ = writeln!(w, "udp_port = {}", s.udp_port);
        if let Some(file) = &s.key_file {
            let _ = writeln!(w, "key_file = {}", quote(&file.display().to_string()));
        }
        if s.insecure {
            let _ = writeln!(w, "insecure = true");
        }
        let _ = writeln!(w, "refresh = {}", s.refresh.as_secs());
    }
}

fn mark(w: &mut String, m: &crate::MarkRule) {
    let nets = |l: &[crate::IpNet]| strings(&l.iter().map(ToString::to_string).collect::<Vec<_>>());
    let _ = writeln!(w, "\n[[mark]]");
    let _ = writeln!(w, "mark = {}", m.mark);
    let _ = writeln!(w, "proto = {}", quote(m.proto.name()));
    let _ = writeln!(w, "dst = {}", nets(&m.dst));
    if !m.ports.is_empty() {
        let _ = writeln!(w, "ports = {}", strings(&m.port_names()));
    }
    if !m.src.is_empty() {
        let _ = writeln!(w, "src = {}", nets(&m.src));
    }
}

fn service(w: &mut String, s: &ServiceConfig) {
    let _ = writeln!(w, "\n[[service]]");
    if let Some(mark) = s.fwmark() {
        let _ = writeln!(w, "fwmark = {mark}");
        if s.vip.is_ipv6() {
            let _ = writeln!(w, "ipv6 = true");
        }
    } else {
        let proto = if s.proto == Proto::Udp { "udp" } else { "tcp" };
        let _ = writeln!(w, "proto = {}", quote(proto));
        let _ = writeln!(w, "vip = {}", quote(&s.vip.to_string()));
        let _ = writeln!(w, "port = {}", s.port);
    }
    let _ = writeln!(w, "scheduler = {}", quote(s.scheduler.name()));
    let _ = writeln!(w, "persistence = {}", s.persistence);
    let _ = writeln!(
        w,
        "persistence_mask = {}",
        quote(&s.persistence_prefix.to_string())
    );
    let _ = writeln!(w, "flags = {}", strings(&flag_names(s)));
    let laddrs: Vec<String> = s.laddrs.iter().map(IpAddr::to_string).collect();
    let _ = writeln!(w, "laddrs = {}", strings(&laddrs));
    let _ = writeln!(w, "announce = {}", s.announce);
    if let Some(med) = s.announce_med {
        let _ = writeln!(w, "announce_med = {med}");
    }
    if s.announce_prepend > 0 {
        let _ = writeln!(w, "announce_prepend = {}", s.announce_prepend);
    }
    let communities: Vec<String> = s
        .announce_communities
        .iter()
        .map(|(a, v)| format!("{a}:{v}"))
        .collect();
    let _ = writeln!(w, "announce_communities = {}", strings(&communities));
    if s.client_address != ClientAddress::None {
        let _ = writeln!(w, "client_address = {}", quote(s.client_address.name()));
    }
    if s.synproxy {
        let _ = writeln!(w, "synproxy = true");
    }
    if s.one_packet {
        let _ = writeln!(w, "one_packet = true");
    }
    if s.synproxy_wscale != DEFAULT_SYNPROXY_WSCALE {
        let _ = writeln!(w, "synproxy_wscale = {}", s.synproxy_wscale);
    }
    if let Some(l) = &s.l7 {
        let _ = writeln!(w, "l7 = {}", quote(l.protocol.name()));
        if l.timeout != crate::DEFAULT_L7_TIMEOUT {
            let _ = writeln!(w, "l7_timeout = {:?}", l.timeout.as_secs_f64());
        }
    }
    guard(w, &s.guard);
    if let Some(c) = &s.check {
        check(w, c);
    }
    for r in s.l7.iter().flat_map(|l| &l.rules) {
        rule(w, r);
    }
    for r in &s.reals {
        real(w, r);
    }
}

/// The guard keys that differ from their defaults.
fn guard(w: &mut String, g: &GuardConfig) {
    let d = GuardConfig::default();
    let nets = |l: &[crate::IpNet]| strings(&l.iter().map(ToString::to_string).collect::<Vec<_>>());
    if !g.allow.is_empty() {
        let _ = writeln!(w, "allow = {}", nets(&g.allow));
    }
    if !g.deny.is_empty() {
        let _ = writeln!(w, "deny = {}", nets(&g.deny));
    }
    if g.acl_drop_established {
        let _ = writeln!(w, "acl_drop_established = true");
    }
    let numbers = [
        (
            "client_prefix_v4",
            g.client_prefix_v4.into(),
            d.client_prefix_v4.into(),
        ),
        (
            "client_prefix_v6",
            g.client_prefix_v6.into(),
            d.client_prefix_v6.into(),
        ),
        ("limit_new_per_client", g.limit_new_per_client, 0),
        ("limit_conns_per_client", g.limit_conns_per_client, 0),
        ("limit_new", g.limit_new, 0),
        ("limit_clients", g.limit_clients, d.limit_clients),
    ];
    for (key, value, default) in numbers {
        if value != default {
            let _ = writeln!(w, "{key} = {value}");
        }
    }
    if g.limit_reset {
        let _ = writeln!(w, "limit_reset = true");
    }
    if g.limit_overflow != d.limit_overflow {
        let _ = writeln!(w, "limit_overflow = {}", quote(g.limit_overflow.name()));
    }
}

fn check(w: &mut String, c: &CheckConfig) {
    let _ = writeln!(w, "\n[service.check]");
    let _ = writeln!(w, "kind = {}", quote(c.kind.name()));
    let _ = writeln!(w, "interval = {:?}", c.interval.as_secs_f64());
    let _ = writeln!(w, "timeout = {:?}", c.timeout.as_secs_f64());
    let _ = writeln!(w, "rise = {}\nfall = {}", c.rise, c.fall);
    if let Some(port) = c.port {
        let _ = writeln!(w, "port = {port}");
    }
    let on_fail = match c.on_fail {
        OnFail::Remove => "remove",
        OnFail::Inhibit => "inhibit",
    };
    let _ = writeln!(w, "on_fail = {}", quote(on_fail));
    match c.kind {
        CheckKind::Tcp => {}
        CheckKind::Http => {
            let _ = writeln!(w, "path = {}", quote(&c.path));
            let _ = writeln!(w, "expect = [{}, {}]", c.expect.0, c.expect.1);
            let _ = writeln!(w, "body = {}", quote(&c.body));
        }
        CheckKind::Udp => {
            let _ = writeln!(w, "send = {}", quote(&c.send));
        }
        CheckKind::Misc => {
            let _ = writeln!(w, "command = {}", strings(&c.command));
            let _ = writeln!(w, "dynamic = {}", c.dynamic);
        }
    }
    if let Some(sorry) = c.sorry {
        let _ = writeln!(w, "sorry = {}", quote(&sorry.to_string()));
    }
}

fn real(w: &mut String, r: &RealConfig) {
    let _ = writeln!(w, "\n[[service.real]]");
    let _ = writeln!(w, "ip = {}", quote(&r.ip.to_string()));
    let _ = writeln!(w, "port = {}", r.port);
    let _ = writeln!(w, "weight = {}", r.weight);
    let _ = writeln!(w, "forward = {}", quote(forward_name(r.forward)));
    let _ = writeln!(w, "upper = {}\nlower = {}", r.upper, r.lower);
    let _ = writeln!(w, "check = {}", r.check);
    if r.forward == ForwardMode::Tun && r.tunnel != Tunnel::IPIP {
        let t = &r.tunnel;
        let _ = writeln!(w, "tun_type = {}", quote(t.kind.name()));
        // A port only GUE takes is written all the same, for the parser to refuse.
        if t.kind == TunnelKind::Gue || t.port != 0 {
            let _ = writeln!(w, "tun_port = {}", t.port);
        }
        if t.kind != TunnelKind::Ipip || t.csum != TunnelCsum::NoCsum {
            let _ = writeln!(w, "tun_csum = {}", quote(t.csum.name()));
        }
    }
    if let Some(g) = &r.group {
        let _ = writeln!(w, "group = {}", quote(g));
    }
}

fn rule(w: &mut String, r: &crate::L7Rule) {
    let _ = writeln!(w, "\n[[service.rule]]");
    if let Some(h) = &r.rule.host {
        let _ = writeln!(w, "host = {}", quote(&h.to_string()));
    }
    if let Some(p) = &r.rule.path_prefix {
        let _ = writeln!(w, "path_prefix = {}", quote(p));
    }
    if let Some(s) = &r.rule.sni {
        let _ = writeln!(w, "sni = {}", quote(&s.to_string()));
    }
    let _ = writeln!(w, "group = {}", quote(&r.group));
}

/// A rule as one line (`host=img.example.com path_prefix=/static/ -> img`), as diffs
/// and `rvsctl` show it.
pub fn rule_text(r: &crate::L7Rule) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &r.rule.host {
        parts.push(format!("host={h}"));
    }
    if let Some(p) = &r.rule.path_prefix {
        parts.push(format!("path_prefix={p}"));
    }
    if let Some(s) = &r.rule.sni {
        parts.push(format!("sni={s}"));
    }
    format!("{} -> {}", parts.join(" "), r.group)
}

/// The scheduler flags of `s` as the file names them (`SchedFlags`' own names).
pub fn flag_names(s: &ServiceConfig) -> Vec<String> {
    s.flags
        .to_string()
        .split(',')
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_round_trips() {
        let text = include_str!("../../../examples/rvs.toml");
        let config = Config::parse(text, "rvs.toml").unwrap();
        let written = to_toml(&config);
        let back = Config::parse(&written, "saved.toml").unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn rss_defaults_to_auto_and_off_round_trips() {
        let text = "[[port]]\nname = \"a\"\ndevice = \"x\"\n[[port]]\nname = \"b\"\ndevice = \"y\"\nrss = \"off\"\n";
        let config = Config::parse(text, "r.toml").unwrap();
        assert_eq!(config.ports[0].rss, RssMode::Auto);
        assert_eq!(config.ports[1].rss, RssMode::Off);
        assert_eq!(Config::parse(&to_toml(&config), "saved").unwrap(), config);
    }

    #[test]
    fn a_port_mtu_round_trips_and_the_default_is_not_written() {
        let text = "[[port]]\nname = \"a\"\ndevice = \"x\"\nmtu = 9000\n[[port]]\nname = \"b\"\ndevice = \"y\"\n";
        let config = Config::parse(text, "m.toml").unwrap();
        let saved = to_toml(&config);
        assert_eq!(Config::parse(&saved, "saved").unwrap(), config);
        assert_eq!(saved.matches("mtu = ").count(), 1, "{saved}");
        assert!(saved.contains("mtu = 9000\n"), "{saved}");
    }

    #[test]
    fn a_kernel_mirror_round_trips() {
        let text = "[[port]]\nname = \"wan0\"\ndevice = \"x\"\nkernel = \"rvs-wan0\"\n";
        let config = Config::parse(text, "k.toml").unwrap();
        assert_eq!(config.ports[0].kernel.as_deref(), Some("rvs-wan0"));
        assert_eq!(Config::parse(&to_toml(&config), "saved").unwrap(), config);
        let mirrors: Vec<_> = config
            .kernel_mirrors()
            .map(|(m, k, _)| (m.0, k.0))
            .collect();
        assert_eq!(mirrors, vec![(0, 1)]);
        assert_eq!(
            config.ports[0].kernel_device(0).as_deref(),
            Some("net_tap0,iface=rvs-wan0")
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
