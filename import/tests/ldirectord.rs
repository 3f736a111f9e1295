//! `rvsctl import ldirectord`: every keyword the importer reads, what it drops, and
//! malformed files (an error with its line).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::*;
use rvs_config::{CheckKind, OnFail};
use rvs_conntrack::{ForwardMode, Proto};
use rvs_schedulers::SchedKind;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The example file: global options as defaults, each section's own values, real
/// ranges, thresholds, methods, checks and fallback; dropped items by line.
#[test]
fn full_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files/ldirectord/full.cf");
    let import = rvs_import::ldirectord::import(&path, &options()).unwrap();
    let c = parsed(&import);
    assert!(c.ports.is_empty(), "an ldirectord.cf names no interface");
    assert!(import
        .toml
        .contains("add the [[port]] and [[route]] tables"));
    let vips: Vec<(IpAddr, u16, Proto)> = c
        .services
        .iter()
        .map(|s| (s.vip, s.port, s.proto))
        .collect();
    assert_eq!(
        vips,
        [
            (ip("10.0.0.100"), 80, Proto::Tcp),
            (ip("10.0.0.101"), 80, Proto::Tcp),
            (ip("10.0.0.102"), 53, Proto::Udp),
            (ip("10.0.0.103"), 25, Proto::Tcp),
            (ip("10.0.0.104"), 9000, Proto::Tcp),
            (ip("2001:db8::100"), 80, Proto::Tcp),
        ],
        "port 53 is UDP by default; the fwmark section is left out"
    );
    let web = &c.services[0];
    assert_eq!(
        (web.scheduler, web.persistence, web.persistence_prefix),
        (SchedKind::Wlc, 600, 24)
    );
    assert_eq!(
        web.reals
            .iter()
            .map(|r| (r.ip, r.port, r.weight, r.forward, r.lower, r.upper))
            .collect::<Vec<_>>(),
        [
            (ip("10.1.0.11"), 8080, 2, ForwardMode::Nat, 0, 0),
            (ip("10.1.0.12"), 8080, 1, ForwardMode::Nat, 50, 100),
            (ip("10.1.0.13"), 8080, 1, ForwardMode::Nat, 50, 100),
        ]
    );
    let http = web.check.as_ref().unwrap();
    assert_eq!(
        (http.kind, http.path.as_str(), http.body.as_str()),
        (CheckKind::Http, "/healthz", "ok")
    );
    assert_eq!(
        (http.interval, http.timeout),
        (Duration::from_secs(5), Duration::from_secs(4))
    );
    assert_eq!(
        (http.rise, http.fall, http.on_fail),
        (1, 2, OnFail::Inhibit)
    );
    assert_eq!(
        http.sorry,
        Some("10.1.0.99:8080".parse::<SocketAddr>().unwrap())
    );
    let dr = &c.services[1];
    assert_eq!((dr.scheduler, dr.flags.sh_port), (SchedKind::Sh, true));
    assert_eq!(
        dr.reals[1].port, 80,
        "a gate real takes the service's port, as ldirectord sets it"
    );
    let tcp = dr.check.as_ref().unwrap();
    assert_eq!(
        (tcp.kind, tcp.port, tcp.on_fail),
        (CheckKind::Tcp, Some(81), OnFail::Remove)
    );
    assert_eq!(tcp.timeout, Duration::from_secs(3));
    assert_eq!(
        tcp.sorry,
        Some("10.1.0.98:80".parse().unwrap()),
        "the global fallback"
    );
    let on = &c.services[2];
    assert_eq!(on.reals[0].forward, ForwardMode::Tun);
    assert!(!on.reals[0].check, "checktype = on: always up");
    assert_eq!(
        on.check.as_ref().unwrap().sorry,
        Some("10.1.0.98:53".parse().unwrap())
    );
    let smtp = c.services[3].check.as_ref().unwrap();
    assert_eq!((smtp.kind, smtp.fall), (CheckKind::Tcp, 3));
    let ext = c.services[4].check.as_ref().unwrap();
    assert_eq!(
        ext.command,
        [
            "/usr/local/bin/check",
            "two words",
            "10.0.0.104",
            "9000",
            "{ip}",
            "{port}"
        ]
    );
    assert_eq!(c.services[5].reals[0].ip, ip("2001:db8:1::11"));
    let got = lines(&import.dropped);
    for (line, words) in [
        (7, "like the service's first real (tun)"),
        (7, "like the service's first real (nat)"),
        (8, "autoreload"),
        (9, "logfile"),
        (10, "checkcount"),
        (26, "emailalert"),
        (40, "service = smtp"),
        (54, "firewall mark"),
    ] {
        assert!(
            dropped_at(&import.dropped, line, words),
            "line {line} {words}: {got:#?}"
        );
    }
    assert_eq!(got.len(), 8, "{got:#?}");
}

/// A receive string that is a regular expression, a timeout over the interval, a
/// fallback forwarded otherwise than the reals, ping and off checks: each listed.
#[test]
fn approximations_listed() {
    let text = "checkinterval=2\n\
        virtual=10.0.0.100:80\n\
        \treal=10.1.0.11:80 gate 1 \"/a\", \"b\"\n\
        \treal=10.1.0.12:80 gate 1 \"/other\", \"b\"\n\
        \treceive=\"^ok$\"\n\
        \tfallback=10.1.0.99 masq\n\
        \thttpmethod=HEAD\n\
        \tvirtualhost=www.example\n\
        \tops=yes\n\
        \tchecktype=3\n\
        virtual=10.0.0.101:81\n\
        \treal=10.1.0.21:81 gate\n\
        \tchecktype=ping\n\
        virtual=10.0.0.102:81\n\
        \treal=10.1.0.21:81 gate\n\
        \tchecktype=off\n\
        \tscheduler=random\n";
    let (c, dropped) = ldirectord(text);
    let got = lines(&dropped);
    for (line, words) in [
        (3, "differ"),
        (4, "differ"),
        (5, "regular expression"),
        (6, "fallback forwarding nat"),
        (7, "GET"),
        (8, "Host"),
        (9, "one-packet"),
        (10, "checktype = 3"),
        (10, "longer than checkinterval"),
        (13, "ICMP"),
        (16, "off"),
        (17, "random"),
    ] {
        assert!(
            dropped_at(&dropped, line, words),
            "line {line} {words}: {got:#?}"
        );
    }
    let http = c.services[0].check.as_ref().unwrap();
    assert_eq!((http.path.as_str(), http.body.as_str()), ("/", ""));
    assert_eq!(http.timeout, Duration::from_secs(2));
    assert_eq!(c.services[2].scheduler, SchedKind::Wrr);
}

/// Malformed files: an error naming the line, as ldirectord's own.
#[test]
fn malformed_files() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 bridge\n",
            2,
            "gate, masq or ipip",
        ),
        (
            "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 gate 1 junk\n",
            2,
            "Invalid real server line",
        ),
        (
            "virtual=10.0.0.1:80\n\treal=host.example:80 gate\n",
            2,
            "not an IP address",
        ),
        (
            "virtual=10.0.0.1:80\n\tchecktype=sometimes\n",
            2,
            "checktype must be",
        ),
        (
            "virtual=10.0.0.1:80\n\tprotocol=sctp\n",
            2,
            "protocol must be",
        ),
        ("virtual=10.0.0.1:80\n\tquiescent=maybe\n", 2, "yes' or 'no"),
        (
            "virtual=10.0.0.1:80\n\trequest=unquoted\n",
            2,
            "double quotes",
        ),
        (
            "virtual=10.0.0.1:80\n\tservice=gopher\n",
            2,
            "unknown service",
        ),
        (
            "virtual=10.0.0.1:80\n\tpersistent=60\n\tnetmask=255.0.255.0\n",
            3,
            "netmask",
        ),
        ("virtual=10.0.0.1:80\n\tscheduler=WRR\n", 2, "lowercase"),
        (
            "virtual=10.0.0.1:80\n\tfrobnicate=1\n",
            2,
            "unknown command",
        ),
        (
            "virtual=10.0.0.1:80\n\n\treal=10.1.0.1:80 gate\n",
            3,
            "blank line ends",
        ),
        ("virtual=10.0.0.1:gopher\n", 1, "well-known"),
        ("virtual=[2001:db8::1]:80\n", 1, "virtual6"),
        (
            "virtual6=[2001:db8::1]:80\n\treal=[2001:db8::2]:80 gate\n",
            2,
            "real6",
        ),
        ("checkinterval=0\n", 1, "checkinterval"),
        ("connecttimeout=3\n", 1, "deprecated"),
        ("whatever\n", 1, "unknown command"),
        (
            "virtual=10.0.0.1:80\n\treal=10.1.0.9->10.1.0.1:80 gate\n",
            2,
            "range",
        ),
    ];
    for (text, line, words) in cases {
        assert_malformed(&ldirectord_err(text), *line, words);
    }
}
