//! `rvsctl import keepalived`: every keyword the importer reads, what it drops, includes,
//! comments and quoting, and malformed files (an error with its line).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use rvs_config::{CheckKind, OnFail};
use rvs_conntrack::{ForwardMode, Proto};
use rvs_import::keepalived::{self, Includes};
use rvs_import::ImportError;
use rvs_schedulers::SchedKind;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn files() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files/keepalived")
}

/// The whole example file with its include: every carried keyword lands in the parsed
/// configuration, and every dropped one is listed with its file and line.
#[test]
fn full_file_with_include() {
    let import = keepalived::import(&files().join("full.conf"), &options()).unwrap();
    let c = parsed(&import);
    // global_defs lvs_timeouts.
    assert_eq!(
        (
            c.ports.len(),
            c.ports[0].name.as_str(),
            c.ports[1].name.as_str()
        ),
        (2, "wan", "lan")
    );
    assert_eq!(c.ports[0].device, "net_af_packet0,iface=eth0");
    // vrrp_instance.
    let ha = c.ha.as_ref().expect("[ha]");
    assert_eq!((ha.vrid, ha.priority, ha.preempt), (51, 150, false));
    assert_eq!(ha.advert_interval, Duration::from_secs(1));
    assert_eq!(ha.unicast_peers, vec![Ipv4Addr::new(10, 0, 0, 3)]);
    assert_eq!(ha.source, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(
        ha.floating.len(),
        1,
        "the service VIP moves by itself; 10.1.0.1 floats"
    );
    assert_eq!(ha.floating[0].to_string(), "10.1.0.1/24");
    assert_eq!(
        (ha.garp.master_delay, ha.garp.master_repeat),
        (Duration::from_secs(3), 2)
    );
    assert_eq!(ha.notify[..2], ["/bin/sh".to_string(), "-c".to_string()]);
    assert!(ha.notify[2].contains("master) /usr/local/bin/to-master 'now please'"));
    assert!(ha.notify[2].contains("backup) /usr/local/bin/to-backup"));
    assert_eq!(ha.notify[4], "{state}");
    // The included file's services come first (the include is above them), one per
    // address of the virtual_server_group.
    let vips: Vec<(IpAddr, u16)> = c.services.iter().map(|s| (s.vip, s.port)).collect();
    assert_eq!(
        vips,
        [
            (ip("10.0.0.101"), 443),
            (ip("10.0.0.102"), 443),
            (ip("10.0.0.110"), 53),
            (ip("10.0.0.100"), 80)
        ]
    );
    let dr = &c.services[0];
    assert_eq!(dr.scheduler, SchedKind::Mh);
    assert!(dr.flags.mh_port && dr.flags.mh_fallback);
    assert!(dr.reals.iter().all(|r| r.forward == ForwardMode::Dr));
    let check = dr.check.as_ref().unwrap();
    assert_eq!(
        (check.kind, check.port, check.fall),
        (CheckKind::Tcp, Some(443), 2)
    );
    assert_eq!(
        (check.interval, check.timeout),
        (Duration::from_secs(3), Duration::from_secs(1))
    );
    let fnat = &c.services[2];
    assert_eq!((fnat.proto, fnat.scheduler), (Proto::Udp, SchedKind::Rr));
    assert_eq!(fnat.laddrs, vec![ip("10.1.0.2"), ip("10.1.0.3")]);
    assert_eq!(fnat.reals[0].forward, ForwardMode::FullNat);
    let misc = fnat.check.as_ref().unwrap();
    assert_eq!(misc.kind, CheckKind::Misc);
    assert_eq!(misc.command, ["/usr/local/bin/check-dns", "10.1.0.31"]);
    assert!(misc.dynamic);
    assert_eq!((misc.timeout, misc.fall), (Duration::from_secs(3), 1));
    let web = &c.services[3];
    assert_eq!(
        (web.scheduler, web.persistence, web.persistence_prefix),
        (SchedKind::Wrr, 300, 24)
    );
    assert_eq!(
        web.reals
            .iter()
            .map(|r| (r.ip, r.port, r.weight, r.forward, r.upper, r.lower))
            .collect::<Vec<_>>(),
        [
            (ip("10.1.0.11"), 8080, 3, ForwardMode::Nat, 1000, 800),
            (ip("10.1.0.12"), 8080, 1, ForwardMode::Nat, 0, 0)
        ]
    );
    let http = web.check.as_ref().unwrap();
    assert_eq!(
        (http.kind, http.path.as_str(), http.expect),
        (CheckKind::Http, "/healthz", (200, 200))
    );
    assert_eq!(
        (http.on_fail, http.rise, http.fall),
        (OnFail::Inhibit, 1, 3)
    );
    assert_eq!(http.interval, Duration::from_secs(5));
    assert_eq!(http.timeout, Duration::from_secs(2));
    assert_eq!(
        http.sorry,
        Some("10.1.0.99:8080".parse::<SocketAddr>().unwrap())
    );
    // What was dropped, by line.
    let got = lines(&import.dropped);
    assert_eq!(got.len(), 5, "{got:#?}");
    for (line, words) in [
        (3, "router_id"),
        (11, "state MASTER"),
        (26, "notify_fault"),
        (49, "digest"),
        (70, "fwmark"),
    ] {
        assert!(
            dropped_at(&import.dropped, line, words),
            "line {line} {words}: {got:#?}"
        );
    }
    assert!(import
        .dropped
        .iter()
        .all(|d| d.loc.file.ends_with("full.conf")));
    assert_eq!(c.timeouts.tcp, 7200);
    assert_eq!((c.timeouts.tcpfin, c.timeouts.udp), (60, 120));
}

/// Keywords not in the example file, each carried over or listed.
#[test]
fn more_keywords() {
    let text = r#"
global_defs {
    lvs_sync_daemon eth0 VI_1
}
vrrp_instance VI_2 {
    state BACKUP
    interface eth0
    virtual_router_id 7
    priority 255
    advert_int 0.5
    version 3
    unicast_src_ip 10.0.0.2
    virtual_ipaddress_excluded {
        10.0.0.50/24
    }
    notify /usr/local/bin/notify
    notify_stop /usr/local/bin/stop
    authentication {
        auth_type PASS
    }
}
virtual_server 10.0.0.100 0
{
    persistence_timeout
    lb_kind TUN
    quorum 2
    hysteresis 1
    quorum_up /bin/true
    alpha
    real_server 10.1.0.11 {
        inhibit_on_failure yes
        SSL_GET {
            url {
                path /
            }
        }
    }
}
virtual_server 10.0.0.101 53 {
    protocol UDP
    lb_algo random
    sorry_server 10.1.0.99
    real_server 10.1.0.11 53 {
        weight 70000
        notify_up /bin/true
        SMTP_CHECK {
        }
    }
}
virtual_server 10.0.0.102 7 {
    protocol UDP
    real_server 10.1.0.11 7 {
        UDP_CHECK {
            payload 00ff
        }
    }
    real_server 10.1.0.12 7 {
        UDP_CHECK {
            payload 00ff
            retry 0
        }
    }
}
virtual_server 10.0.0.103 80 {
    protocol SCTP
}
"#;
    let (c, dropped) = keepalived(text);
    let got = lines(&dropped);
    let ha = c.ha.as_ref().unwrap();
    assert_eq!((ha.vrid, ha.priority), (7, 254));
    assert_eq!(ha.advert_interval, Duration::from_millis(500));
    assert_eq!(ha.floating[0].to_string(), "10.0.0.50/24");
    assert!(
        ha.notify[2].contains("master) /usr/local/bin/notify INSTANCE 'VI_2' MASTER 254"),
        "{:?}",
        ha.notify
    );
    let tun = &c.services[0];
    assert_eq!(
        (tun.port, tun.persistence),
        (0, 360),
        "persistence_timeout alone is 6 minutes"
    );
    assert_eq!(tun.reals[0].forward, ForwardMode::Tun);
    assert_eq!(
        tun.reals[0].port, 0,
        "a real without port takes the service's"
    );
    let ssl = tun.check.as_ref().unwrap();
    assert_eq!((ssl.kind, ssl.on_fail), (CheckKind::Tcp, OnFail::Inhibit));
    assert_eq!(
        (ssl.interval, ssl.timeout),
        (Duration::from_secs(60), Duration::from_secs(5))
    );
    let udp = &c.services[1];
    assert_eq!((udp.proto, udp.scheduler), (Proto::Udp, SchedKind::Wlc));
    assert_eq!(udp.reals[0].weight, 65535);
    assert!(
        !udp.reals[0].check,
        "SMTP_CHECK is not carried: the real is unchecked"
    );
    let sorry = udp.check.as_ref().unwrap();
    assert_eq!(
        sorry.sorry,
        Some("10.1.0.99:53".parse().unwrap()),
        "the sorry port is the service's"
    );
    let udp_check = c.services[2].check.as_ref().unwrap();
    assert_eq!(udp_check.kind, CheckKind::Udp);
    assert_eq!(c.services.len(), 3, "the SCTP service is left out");
    for (line, words) in [
        (3, "lvs_sync_daemon"),
        (9, "priority 255"),
        (17, "notify_stop"),
        (18, "authentication"),
        (26, "quorum"),
        (27, "hysteresis"),
        (28, "quorum_up"),
        (29, "alpha"),
        (32, "SSL_GET"),
        (33, "url"),
        (41, "random"),
        (44, "weight"),
        (45, "notify_up"),
        (46, "SMTP_CHECK"),
        (54, "payload"),
        (58, "differs"),
        (59, "payload"),
        (65, "SCTP"),
    ] {
        assert!(
            dropped_at(&dropped, line, words),
            "line {line} {words}: {got:#?}"
        );
    }
}

/// Comments (`#` and `!` anywhere outside quotes), quotes joining words, escapes inside
/// quotes, braces on a line of their own or touching words.
#[test]
fn comments_quoting_and_braces() {
    let text = "virtual_server 10.0.0.100 80 { ! a comment\n\
        lb_algo rr # another\n\
        real_server 10.1.0.11 80{\n\
        MISC_CHECK\n\
        {\n\
        misc_path \"/bin/check\\x20me 'a b' #not!a comment\"\n\
        }}\n\
        real_server 10.1.0.12 80 { weight 2 }\n\
        }\n";
    let (c, dropped) = keepalived(text);
    assert!(dropped.is_empty(), "{:?}", lines(&dropped));
    let s = &c.services[0];
    assert_eq!(s.scheduler, SchedKind::Rr);
    assert_eq!(s.reals[1].weight, 2);
    let check = s.check.as_ref().unwrap();
    assert_eq!(
        check.command,
        ["/bin/check", "me", "a b", "#not!a", "comment"]
    );
    // Quotes join what touches them: ab"c d"e is one word.
    let (c, _) = keepalived("virtual_server 10.0.0.100 80 {\nreal_server 10.1.0.11 80 {\nMISC_CHECK {\nmisc_path ab\"c d\"e\n}\n}\n}\n");
    assert_eq!(c.services[0].check.as_ref().unwrap().command, ["abc", "de"]);
}

/// A DR real whose port differs from the service's takes the service's (IPVS ignores
/// it), and says so; a real whose check differs from the first real's is listed.
#[test]
fn dr_port_and_mixed_checks() {
    let text = "virtual_server 10.0.0.100 80 {\n\
        lb_kind DR\n\
        real_server 10.1.0.11 8080 {\n\
        TCP_CHECK {\n\
        }\n\
        }\n\
        real_server 10.1.0.12 80 {\n\
        HTTP_GET {\n\
        url {\n\
        path /x\n\
        status_code 200-299 301\n\
        }\n\
        url {\n\
        path /y\n\
        }\n\
        }\n\
        }\n\
        real_server 10.1.0.13 80 {\n\
        }\n\
        }\n";
    let (c, dropped) =
        keepalived(&text.replace("lb_kind DR\n", "lb_kind DR\nsorry_server 10.1.0.99 8080\n"));
    let s = &c.services[0];
    assert_eq!(s.reals[0].port, 80);
    assert_eq!(
        s.check.as_ref().unwrap().sorry,
        Some("10.1.0.99:80".parse().unwrap())
    );
    assert!(
        dropped_at(&dropped, 3, "sorry_server port 8080"),
        "{:?}",
        lines(&dropped)
    );
    assert!(!s.reals[2].check);
    assert!(s.reals[1].check);
    assert_eq!(s.check.as_ref().unwrap().kind, CheckKind::Tcp);
    let got = lines(&dropped);
    for (line, words) in [
        (4, "keeps the service port"),
        (9, "differs"),
        (12, "status_code"),
        (14, "further `url`"),
    ] {
        assert!(
            dropped_at(&dropped, line, words),
            "line {line} {words}: {got:#?}"
        );
    }
}

/// Timers inherit from the checker, the real, the virtual server; a timeout longer than
/// the interval is cut to it and listed; delay_before_retry is listed.
#[test]
fn check_timers() {
    let text = "virtual_server 10.0.0.100 80 {\n\
        delay_loop 2\n\
        retry 4\n\
        real_server 10.1.0.11 80 {\n\
        connect_timeout 3\n\
        TCP_CHECK {\n\
        delay_before_retry 1\n\
        }\n\
        }\n\
        }\n";
    let (c, dropped) = keepalived(text);
    let check = c.services[0].check.as_ref().unwrap();
    assert_eq!(
        (check.interval, check.timeout, check.fall),
        (Duration::from_secs(2), Duration::from_secs(2), 5)
    );
    assert!(
        dropped_at(&dropped, 6, "longer than `delay_loop`"),
        "{:?}",
        lines(&dropped)
    );
    assert!(
        dropped_at(&dropped, 6, "delay_before_retry"),
        "{:?}",
        lines(&dropped)
    );
}

/// Without the director's own address (`--address`), [ha] cannot be made: it is left out
/// and listed with a hint; the services stay.
#[test]
fn vrrp_without_own_address() {
    let text = "global_defs {\nvrrp_version 3\n}\nvrrp_instance V {\ninterface eth5\nvirtual_router_id 9\nunicast_src_ip 10.9.0.2\n}\n";
    let (c, dropped) = keepalived(text);
    assert!(c.ha.is_none());
    assert!(
        dropped_at(&dropped, 4, "--address eth5="),
        "{:?}",
        lines(&dropped)
    );
    assert!(dropped_at(&dropped, 4, "10.9.0.2"), "{:?}", lines(&dropped));
    // keepalived's default VRRP version is 2, which rvs does not speak.
    let (_, dropped) = keepalived("vrrp_instance V {\ninterface eth0\nvirtual_router_id 9\n}\n");
    assert!(dropped_at(&dropped, 1, "VRRPv3"), "{:?}", lines(&dropped));
}

/// Conditional lines and parameter definitions are listed, not guessed.
#[test]
fn conditional_and_parameters_listed() {
    let (_, dropped) = keepalived("global_defs {\n@main router_id x\n}\n$X=1\n");
    assert!(dropped_at(&dropped, 2, "conditional"));
    assert!(dropped_at(&dropped, 4, "parameter"));
}

/// Malformed files: an error naming the line, never a panic.
#[test]
fn malformed_files() {
    let cases: &[(&str, usize, &str)] = &[
        ("virtual_server 10.0.0.1 80 {\nreal_server 10.1.0.1 80 {\n", 2, "not closed"),
        ("}\n", 1, "closes no block"),
        ("{\n", 1, "without a keyword"),
        ("virtual_server 10.0.0.1 80 {\nlb_kind XX\n}\n", 2, "NAT, DR, TUN or FNAT"),
        ("virtual_server host.example 80 {\n}\n", 1, "not an IP address"),
        ("virtual_server 10.0.0.1 99999 {\n}\n", 1, "not a port"),
        ("virtual_server 10.0.0.1 80 {\nreal_server 10.1.0.1 80 {\nweight x\n}\n}\n", 3, "weight"),
        ("virtual_server 10.0.0.1 80 {\nmisc \"open\n}\n", 2, "not closed on its line"),
        ("vrrp_instance V {\ninterface eth0\n}\n", 1, "virtual_router_id"),
        ("vrrp_instance V {\nvirtual_router_id 300\n}\n", 2, "1 to 255"),
        ("vrrp_instance V {\nvirtual_router_id 1\nstate WHATEVER\n}\n", 3, "MASTER or BACKUP"),
        ("virtual_server group nope {\n}\n", 1, "no virtual_server_group"),
        ("virtual_server_group g {\n10.0.0.1-0 80\n}\nvirtual_server group g {\n}\n", 2, "range"),
        ("virtual_server_group g {\n10.0.0.0/8 80\n}\nvirtual_server group g {\n}\n", 2, "at most"),
        ("virtual_server 10.0.0.1 80 {\nladdr_group_name x\n}\n", 2, "no local_address_group"),
        ("virtual_server 10.0.0.1 80 {\npersistence_timeout 60\npersistence_granularity 255.0.255.0\n}\n", 3, "netmask"),
        ("virtual_server 10.0.0.1 80 {\nreal_server 10.1.0.1 80 {\nHTTP_GET {\nurl {\nstatus_code 700\n}\n}\n}\n}\n", 5, "status_code"),
        ("global_defs {\nlvs_timeouts tcp 0\n}\n", 2, "lvs_timeouts"),
        ("virtual_server_group g {\n::/0 80\n}\nvirtual_server group g {\n}\n", 2, "at most"),
        ("include\n", 1, "one file name"),
        ("virtual_server 10.0.0.1 80 {\nlb_kind TUN type gue\n}\n", 2, "needs a port"),
        ("virtual_server 10.0.0.1 80 {\nlb_kind TUN type gre remcsum\n}\n", 2, "remote checksum"),
        ("virtual_server 10.0.0.1 80 {\nlb_kind TUN csum\n}\n", 2, "ipip tunnel takes no checksum"),
        ("virtual_server 10.0.0.1 80 {\nlb_kind TUN type vxlan\n}\n", 2, "unknown tunnel type"),
        ("virtual_server 10.0.0.1 80 {\nlb_kind TUN type gue port 0\n}\n", 2, "1..65535"),
    ];
    for (text, line, words) in cases {
        let err = keepalived_err(text);
        assert_malformed(&err, *line, words);
    }
    // Deep nesting is refused, not recursed into.
    let deep = "a {\n".repeat(100);
    assert_malformed(&keepalived_err(&deep), 33, "nest deeper");
}

/// A file rvs itself refuses (a DR real in the other family) is an error quoting rvs's
/// validation, not a configuration that rvsd would refuse.
#[test]
fn configuration_rvs_refuses() {
    let err = keepalived_err("virtual_server 10.0.0.1 80 {\nreal_server 2001:db8::1 80 {\n}\n}\n");
    assert!(matches!(err, ImportError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("refused by rvs"), "{err}");
}

/// A scratch folder of this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rvs-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    dir
}

/// Includes: glob patterns in name order, brace expansion, paths relative to the
/// including file's folder, a missing file listed, an include loop refused.
#[test]
fn includes() {
    let dir = scratch("includes");
    let vs =
        |vip: &str| format!("virtual_server {vip} 80 {{\nreal_server 10.1.0.1 80 {{\n}}\n}}\n");
    std::fs::write(
        dir.join("main.conf"),
        "include sub/*.conf\ninclude \"sub/{x,y}.inc\"\ninclude none/*.conf\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/b.conf"), vs("10.0.0.2")).unwrap();
    // Relative to sub/, where a.conf is.
    std::fs::write(
        dir.join("sub/a.conf"),
        format!("{}include deeper/c.conf\n", vs("10.0.0.1")),
    )
    .unwrap();
    std::fs::write(dir.join("sub/deeper/c.conf"), vs("10.0.0.3")).unwrap();
    std::fs::write(dir.join("sub/y.inc"), vs("10.0.0.5")).unwrap();
    std::fs::write(dir.join("sub/x.inc"), vs("10.0.0.4")).unwrap();
    let import = keepalived::import(&dir.join("main.conf"), &options()).unwrap();
    let c = parsed(&import);
    let vips: Vec<String> = c.services.iter().map(|s| s.vip.to_string()).collect();
    assert_eq!(
        vips,
        ["10.0.0.1", "10.0.0.3", "10.0.0.2", "10.0.0.4", "10.0.0.5"]
    );
    assert_eq!(
        lines(&import.dropped),
        ["3: `include none/*.conf` matches no file"]
    );
    // Errors in an included file name that file and its line.
    std::fs::write(
        dir.join("sub/deeper/c.conf"),
        "virtual_server 10.0.0.3 80 {\nlb_kind X\n}\n",
    )
    .unwrap();
    let err = keepalived::import(&dir.join("main.conf"), &options()).unwrap_err();
    match &err {
        ImportError::Malformed { loc, .. } => {
            assert!(loc.file.ends_with("sub/deeper/c.conf"), "{err}");
            assert_eq!(loc.line, 2);
        }
        other => panic!("{other}"),
    }
    // A loop.
    std::fs::write(dir.join("sub/deeper/c.conf"), "include ../a.conf\n").unwrap();
    let err = keepalived::import(&dir.join("main.conf"), &options()).unwrap_err();
    assert!(err.to_string().contains("include loop"), "{err}");
    // Text given alone reads no include.
    let import =
        keepalived::import_text("include /etc/*\n", "t", &options(), Includes::Skip).unwrap();
    assert!(dropped_at(&import.dropped, 1, "not read"));
    let missing = keepalived::import(&dir.join("nothing.conf"), &options()).unwrap_err();
    assert!(matches!(missing, ImportError::Read { .. }), "{missing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--port` renames an interface's port, `--device` sets its device; a bad name is an
/// option error.
#[test]
fn port_options() {
    let mut o = options();
    o.devices.push(("eth0".into(), "0000:03:00.0".into()));
    let text = "vrrp_instance V {\nversion 3\ninterface eth0\nvirtual_router_id 9\n}\n";
    let import = keepalived::import_text(text, "k", &o, Includes::Skip).unwrap();
    let c = parsed(&import);
    assert_eq!(
        (c.ports[0].name.as_str(), c.ports[0].device.as_str()),
        ("wan", "0000:03:00.0")
    );
    assert!(import.dropped.is_empty(), "{:?}", lines(&import.dropped));
    o.ports = vec![("eth0".into(), "bad name".into())];
    let err = keepalived::import_text(text, "k", &o, Includes::Skip).unwrap_err();
    assert!(matches!(err, ImportError::Option(_)), "{err}");
}

/// `lvs_method TUN type gue port N csum` (keepalived 2.1+, on a virtual server or a real)
/// becomes the real's `tun_type`, `tun_port` and `tun_csum`.
#[test]
fn tunnel_types_are_carried() {
    use rvs_config::{Tunnel, TunnelCsum, TunnelKind};
    let text = r#"
virtual_server 10.0.0.100 80 {
    lvs_method TUN type gue port 6080 remcsum
    real_server 10.1.0.11 80 {
    }
    real_server 10.1.0.12 80 {
        lvs_method TUN type gre csum
    }
    real_server 10.1.0.13 80 {
        lb_kind TUN type ipip
    }
}
"#;
    let (c, dropped) = keepalived(text);
    assert!(dropped.is_empty(), "{dropped:?}");
    let tunnels: Vec<Tunnel> = c.services[0].reals.iter().map(|r| r.tunnel).collect();
    assert_eq!(
        tunnels,
        [
            Tunnel {
                kind: TunnelKind::Gue,
                port: 6080,
                csum: TunnelCsum::RemCsum
            },
            Tunnel {
                kind: TunnelKind::Gre,
                port: 0,
                csum: TunnelCsum::Csum
            },
            Tunnel::IPIP,
        ]
    );
}
