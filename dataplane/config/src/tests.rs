//! Configuration tests: the example file, defaults, every refusal with its line, and
//! never panicking on arbitrary or mutated input.

use std::net::IpAddr;

use proptest::prelude::*;
use rvs_conntrack::{ForwardMode, Proto, Timeouts};
use rvs_schedulers::SchedKind;

use super::*;

const EXAMPLE: &str = include_str!("../../../examples/rvs.toml");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn refused(text: &str) -> ConfigError {
    match Config::parse(text, "rvs.toml") {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

/// The problem and the line it was reported at.
fn problem(text: &str) -> (Problem, usize) {
    let e = refused(text);
    let line = e.location().expect("a position").line;
    (
        e.problem()
            .unwrap_or_else(|| panic!("not semantic: {e}"))
            .clone(),
        line,
    )
}

#[test]
fn the_example_parses() {
    let c = Config::parse(EXAMPLE, "rvs.toml").unwrap();
    assert_eq!(c.dataplane.workers, 2);
    assert_eq!(c.dataplane.conn_capacity, 1_048_576);
    assert!(c.dpdk.eal_args.is_empty(), "{:?}", c.dpdk.eal_args);
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0].mac, Some([2, 0, 0, 0, 0, 1]));
    assert_eq!(c.ports[1].mac, None);
    assert_eq!(c.ports[0].addresses[1].to_string(), "2001:db8::1/64");
    assert_eq!(c.port_id("lan0"), Some(PortId(1)));
    assert_eq!(c.port_id("nope"), None);
    assert_eq!(c.routes[1].prefix.to_string(), "::/0");
    assert_eq!(c.routes[1].via, Some(ip("2001:db8::fffe")));
    assert_eq!(c.routes[1].port, PortId(0));
    assert_eq!(c.neighbors[0].port, PortId(1));
    assert_eq!(c.neighbors[0].mac, [2, 0, 0, 0, 1, 0x11]);
    assert_eq!(c.timeouts, Timeouts::default());
    assert_eq!(c.behaviour, Behaviour::default());
    assert_eq!(c.ctl.metrics, DEFAULT_METRICS);
    assert!(
        c.ctl.metrics.ip().is_loopback(),
        "metrics stay on loopback unless configured"
    );
    let web = &c.services[0];
    assert_eq!(
        (web.proto, web.vip, web.port),
        (Proto::Tcp, ip("10.0.0.100"), 80)
    );
    assert_eq!(web.scheduler, SchedKind::Wrr);
    assert_eq!(web.persistence_prefix, 32);
    assert_eq!(web.laddrs, [ip("10.1.0.2"), ip("10.1.0.3")]);
    assert_eq!(web.reals[1].weight, 2);
    assert_eq!(web.reals[0].forward, ForwardMode::FullNat);
    let v6 = &c.services[1];
    assert_eq!(v6.scheduler, SchedKind::Mh);
    assert!(v6.flags.mh_fallback && !v6.flags.mh_port);
    assert_eq!(v6.sched_params().flags, v6.flags);
    assert_eq!((v6.persistence, v6.persistence_prefix), (360, 64));
    assert_eq!(
        v6.persistence_client(ip("2001:db8:1:2:3::9")),
        ip("2001:db8:1:2::")
    );
    assert_eq!(v6.reals[1].ip, ip("fd00:1::12"));
    let check = web.check.as_ref().expect("web has a check");
    assert_eq!(check.kind, CheckKind::Http);
    assert_eq!((check.rise, check.fall, check.port), (2, 2, Some(8080)));
    assert_eq!(check.path, "/healthz");
    assert_eq!(check.sorry, Some("10.1.0.99:8080".parse().unwrap()));
    assert!(web.reals.iter().all(|r| r.check));
    assert_eq!(v6.check, None);
}

/// A TCP service on 10.0.0.100:80 with two NAT reals (line 9 and 13) and the
/// `[service.check]` lines `check` (from line 5).
fn with_check(check: &str) -> String {
    format!(
        "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n{check}\n\
         [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\ncheck = false\n\
         [[service.real]]\nip = \"10.1.0.12\"\nforward = \"nat\"\n"
    )
}

#[test]
fn checks_take_defaults_and_every_key() {
    let c = Config::parse(&with_check("[service.check]\nkind = \"tcp\""), "c.toml").unwrap();
    let svc = &c.services[0];
    let check = svc.check.as_ref().unwrap();
    assert_eq!(
        (check.interval, check.timeout, check.rise, check.fall),
        (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, 2, 2)
    );
    assert_eq!(
        (check.on_fail, check.port, check.sorry),
        (OnFail::Remove, None, None)
    );
    assert_eq!((check.path.as_str(), check.expect), ("/", DEFAULT_EXPECT));
    assert_eq!((svc.reals[0].check, svc.reals[1].check), (false, true));
    let misc = "[service.check]\nkind = \"misc\"\ninterval = 1\ntimeout = 0.25\nrise = 1\n\
                fall = 5\non_fail = \"inhibit\"\ncommand = [\"check\", \"{ip}\"]\ndynamic = true\n\
                sorry = \"10.1.0.99:80\"";
    let c = Config::parse(&with_check(misc), "c.toml").unwrap();
    let check = c.services[0].check.as_ref().unwrap();
    assert_eq!(check.interval, std::time::Duration::from_secs(1));
    assert_eq!(check.timeout, std::time::Duration::from_millis(250));
    assert_eq!(
        (check.rise, check.fall, check.on_fail),
        (1, 5, OnFail::Inhibit)
    );
    assert_eq!(check.command, ["check", "{ip}"]);
    assert!(check.dynamic);
    let back = Config::parse(&to_toml(&c), "saved.toml").unwrap();
    assert_eq!(back, c, "written back");
    let udp = "[service.check]\nkind = \"udp\"\nsend = \"ping\"\nport = 53";
    let c = Config::parse(&with_check(udp), "c.toml").unwrap();
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
}

#[test]
fn bad_checks_are_refused_at_their_line() {
    let cases: [(&str, Problem, usize); 14] = [
        (
            "kind = \"icmp\"",
            Problem::UnknownCheckKind("icmp".into()),
            6,
        ),
        (
            "kind = \"tcp\"\ninterval = 0",
            Problem::BadSeconds("interval"),
            7,
        ),
        (
            "kind = \"tcp\"\ntimeout = -1.0",
            Problem::BadSeconds("timeout"),
            7,
        ),
        (
            "kind = \"tcp\"\ninterval = 1\ntimeout = 2",
            Problem::TimeoutAboveInterval,
            8,
        ),
        ("kind = \"tcp\"\nrise = 0", Problem::Zero("rise"), 7),
        ("kind = \"tcp\"\nfall = 0", Problem::Zero("fall"), 7),
        (
            "kind = \"tcp\"\non_fail = \"drop\"",
            Problem::UnknownOnFail("drop".into()),
            7,
        ),
        (
            "kind = \"http\"\npath = \"healthz\"",
            Problem::BadPath("healthz".into()),
            7,
        ),
        (
            "kind = \"http\"\nexpect = [300, 200]",
            Problem::BadExpect,
            7,
        ),
        ("kind = \"misc\"", Problem::MissingCommand, 6),
        (
            "kind = \"tcp\"\npath = \"/\"",
            Problem::KeyNotForKind {
                key: "path",
                kind: "tcp",
            },
            7,
        ),
        (
            "kind = \"tcp\"\nsorry = \"10.1.0.99\"",
            Problem::BadSorry("10.1.0.99".into()),
            7,
        ),
        (
            "kind = \"tcp\"\nsorry = \"[fd00::1]:80\"",
            Problem::SorryFamily("[fd00::1]:80".into()),
            7,
        ),
        (
            "kind = \"tcp\"\nsorry = \"10.1.0.12:80\"",
            Problem::SorryIsReal("10.1.0.12:80".into()),
            7,
        ),
    ];
    for (lines, want, line) in cases {
        let text = with_check(&format!("[service.check]\n{lines}"));
        assert_eq!(problem(&text), (want, line), "{lines}");
    }
    let e = refused(&with_check("[service.check]\nkind = \"tcp\"\nrise = 0"));
    assert_eq!(
        e.to_string(),
        "rvs.toml:7:8: service 10.0.0.100:80/tcp: check: `rise` must be at least 1"
    );
}

#[test]
fn from_file_reads_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("rvs-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[dataplane]\nworkers = 0\n").unwrap();
    let e = Config::from_file(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:11: dataplane: `workers` must be at least 1",
            path.display()
        )
    );
    std::fs::write(&path, EXAMPLE).unwrap();
    assert!(Config::from_file(&path).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = Config::from_file(dir.join("missing.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
    assert!(missing.to_string().contains("missing.toml: cannot read"));
}

#[test]
fn an_empty_file_takes_the_defaults() {
    let c = Config::parse("", "empty.toml").unwrap();
    assert_eq!(c.dataplane.workers, DEFAULT_WORKERS);
    assert_eq!(c.dataplane.conn_capacity, DEFAULT_CONN_CAPACITY as usize);
    assert_eq!(c.dataplane.idle, IdlePolicy::Busy);
    assert_eq!(
        c.timeouts,
        Timeouts {
            tcp: 900,
            tcpfin: 120,
            udp: 300
        }
    );
    assert_eq!(c.ctl.socket.to_str(), Some(DEFAULT_SOCKET));
    assert_eq!(c.ctl.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
    assert!(c.ports.is_empty() && c.services.is_empty());
    assert_eq!(
        c.behaviour,
        Behaviour {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            sloppy_tcp: false,
            table_full_evict: false,
            no_real: NoRealAnswer::Icmp,
        }
    );
}

#[test]
fn behaviour_takes_ipvs_sysctls() {
    let text = "[behaviour]\nconn_reuse_mode = 3\nexpire_nodest_conn = true\nexpire_quiescent_template = true\nsloppy_tcp = true\ntable_full_evict = true\nno_real = \"rst\"\n";
    let c = Config::parse(text, "b.toml").unwrap();
    assert_eq!(
        c.behaviour,
        Behaviour {
            conn_reuse_mode: Behaviour::REUSE_ALL,
            expire_nodest_conn: true,
            expire_quiescent_template: true,
            sloppy_tcp: true,
            table_full_evict: true,
            no_real: NoRealAnswer::Rst,
        }
    );
    let c = Config::parse("[behaviour]\nconn_reuse_mode = 0\n", "b.toml").unwrap();
    assert_eq!(c.behaviour.conn_reuse_mode, 0);
    assert!(!c.behaviour.expire_nodest_conn);
    assert_eq!(
        refused("\n[behaviour]\nconn_reuse_mode = 8\n").to_string(),
        "rvs.toml:3:19: behaviour: conn_reuse_mode 8 has unknown bits (expected 0..=3: bit 1 \
         TIME_WAIT and CLOSE, bit 2 also FIN_WAIT)"
    );
}

#[test]
fn service_and_real_defaults() {
    let c = Config::parse(
        "[[service]]\nproto = \"udp\"\nvip = \"2001:db8::5\"\nport = 53\n[[service.real]]\nip = \"2001:db8::6\"\n",
        "t",
    )
    .unwrap();
    let s = &c.services[0];
    assert_eq!(s.proto, Proto::Udp);
    assert_eq!(s.scheduler, SchedKind::Wlc);
    assert_eq!((s.persistence, s.persistence_prefix), (0, 128));
    let r = &s.reals[0];
    assert_eq!(
        (r.port, r.weight, r.forward, r.upper, r.lower),
        (53, 1, ForwardMode::Dr, 0, 0)
    );
}

#[test]
fn the_display_names_file_line_column_object_and_problem() {
    let text = "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n\n[[service.real]]\nip = \"10.1.0.11\"\nport = 8080\n        forward = \"fullnat\"\n";
    assert_eq!(
        refused(text).to_string(),
        "rvs.toml:9:19: service 10.0.0.100:80/tcp: real 10.1.0.11:8080: forward \"fullnat\" needs laddrs in the service"
    );
}

#[test]
fn syntax_and_type_errors_have_positions() {
    let cases = [
        ("[dataplane]\nworkers = 2\nbogus = 1\n", 3, "unknown field `bogus`"),
        ("[dataplane]\nworkers = \"two\"\n", 2, "invalid type"),
        ("[dataplane]\nworkers = 70000\n", 2, "70000"),
        ("[dataplane]\nworkers = -1\n", 2, "-1"),
        ("[[port]]\nname = \"a\"\n", 1, "missing field `device`"),
        ("[dataplane\nworkers = 2\n", 1, ""),
        ("\n\n[nonsense]\n", 3, "unknown field `nonsense`"),
        ("[behaviour]\nconn_reuse_mode = 256\n", 2, "256"),
        ("[behaviour]\nexpire_nodest_conn = 1\n", 2, "invalid type"),
        ("[behaviour]\nexpire_quiescent = true\n", 2, "unknown field `expire_quiescent`"),
        ("[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.1\"\nport = 1\n[[service.real]]\nip = \"10.0.0.2\"\nwieght = 3\n", 7, "wieght"),
    ];
    for (text, line, needle) in cases {
        let e = refused(text);
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
        assert_eq!(e.location().map(|l| l.line), Some(line), "{text}: {e}");
        assert!(
            e.to_string().starts_with(&format!("rvs.toml:{line}:")),
            "{e}"
        );
        assert!(e.to_string().contains(needle), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }
}

const PORTS: &str = "[[port]]\nname = \"wan0\"\ndevice = \"x\"\naddresses = [\"10.0.0.1/24\"]\n";

#[test]
fn top_level_refusals() {
    let cases: Vec<(String, Problem, usize)> = vec![
        ("[dataplane]\nconn_capacity = 0\n".into(), Problem::Zero("conn_capacity"), 2),
        ("[dataplane]\nidle = \"sleep\"\n".into(), Problem::UnknownIdle("sleep".into()), 2),
        ("[dataplane]\nidle = \"backoff\"\nidle_max_us = 0\n".into(),
            Problem::Zero("idle_max_us"), 3),
        ("[dataplane]\nfrag_timeout = 0\n".into(),
            Problem::FragOutOfRange { key: "frag_timeout", value: 0, min: 1, max: 3600 }, 2),
        ("[dataplane]\nworkers = 2\nfrag_fragments = 1\n".into(),
            Problem::FragOutOfRange { key: "frag_fragments", value: 1, min: 2, max: 1024 }, 3),
        ("[dataplane]\nfrag_datagrams = 65537\n".into(),
            Problem::FragOutOfRange { key: "frag_datagrams", value: 65537, min: 1, max: 65536 }, 2),
        ("[dataplane]\nfrag_memory = 1073741825\n".into(),
            Problem::FragOutOfRange { key: "frag_memory", value: 1 << 30 | 1, min: 0, max: 1 << 30 }, 2),
        ("[timeouts]\ntcp = 1\nudp = 0\n".into(), Problem::Zero("udp"), 3),
        ("[behaviour]\nexpire_nodest_conn = true\nconn_reuse_mode = 4\n".into(),
            Problem::BadConnReuseMode(4), 3),
        ("[behaviour]\nconn_reuse_mode = 255\n".into(), Problem::BadConnReuseMode(255), 2),
        ("[behaviour]\nno_real = \"reject\"\n".into(), Problem::UnknownNoReal("reject".into()), 2),
        ("[ctl]\nsocket = \"\"\n".into(), Problem::EmptySocketPath, 2),
        ("[ctl]\nmetrics = \"localhost:1\"\n".into(), Problem::BadSocketAddr("localhost:1".into()), 2),
        ("[ctl]\nshutdown_timeout = 0.0\n".into(), Problem::BadShutdownTimeout, 2),
        ("[ctl]\nshutdown_timeout = 61.0\n".into(), Problem::BadShutdownTimeout, 2),
        (format!("{PORTS}[[port]]\nname = \"wan0\"\ndevice = \"y\"\n"),
            Problem::DuplicatePort { name: "wan0".into(), first_line: 2 }, 6),
        ("[[port]]\nname = \"../x\"\ndevice = \"y\"\n".into(), Problem::BadPortName("../x".into()), 2),
        ("[[port]]\nname = \"a=b\"\ndevice = \"y\"\n".into(), Problem::BadPortName("a=b".into()), 2),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\nkernel = \"sixteen-letters0\"\n".into(),
            Problem::BadKernelInterface("sixteen-letters0".into()), 4),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\nkernel = \"a b\"\n".into(),
            Problem::BadKernelInterface("a b".into()), 4),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\nrss = \"on\"\n".into(),
            Problem::UnknownRss("on".into()), 4),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\nkernel = \"k\"\n[[port]]\nname = \"q\"\ndevice = \"z\"\nkernel = \"k\"\n".into(),
            Problem::DuplicateKernelInterface("k".into()), 8),
        ("[[port]]\nname = \"\"\ndevice = \"y\"\n".into(), Problem::BadPortName(String::new()), 2),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\nmac = \"02:00:00:00:00\"\n".into(),
            Problem::BadMac("02:00:00:00:00".into()), 4),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\nmac = \"ff:ff:ff:ff:ff:ff\"\n".into(),
            Problem::NotUnicastMac("ff:ff:ff:ff:ff:ff".into()), 4),
        ("[[port]]\nname = \"p\"\ndevice = \"y\"\naddresses = [\"10.0.0.1/33\"]\n".into(),
            Problem::BadPrefix { value: "10.0.0.1/33".into(), reason: IpNetError::LengthTooLarge }, 4),
        (format!("{PORTS}[[port]]\nname = \"lan0\"\ndevice = \"y\"\naddresses = [\"10.0.0.1/16\"]\n"),
            Problem::DuplicatePortAddress(ip("10.0.0.1")), 8),
        (format!("{PORTS}[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\nport = \"lan0\"\n"),
            Problem::UnknownPort("lan0".into()), 8),
        (format!("{PORTS}[[route]]\nprefix = \"::/0\"\nvia = \"10.0.0.254\"\nport = \"wan0\"\n"),
            Problem::RouteFamily { prefix: "::/0".parse().unwrap(), via: ip("10.0.0.254") }, 7),
        (format!("{PORTS}[[route]]\nprefix = \"10.9.0.1/16\"\nport = \"wan0\"\n"),
            Problem::HostBitsSet { value: "10.9.0.1/16".into(), network: "10.9.0.0/16".parse().unwrap() }, 6),
        (format!("{PORTS}[[route]]\nprefix = \"10.9.0.0/16\"\nport = \"wan0\"\n[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.0.2\"\nport = \"wan0\"\n"),
            Problem::DuplicateRoute { first_line: 6 }, 9),
        (format!("{PORTS}[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.0.256\"\nport = \"wan0\"\n"),
            Problem::BadAddress("10.0.0.256".into()), 7),
        (format!("{PORTS}[[neighbor]]\nip = \"10.0.0.9\"\nmac = \"02:00:00:00:00:09\"\nport = \"lan9\"\n"),
            Problem::UnknownPort("lan9".into()), 8),
        (format!("{PORTS}[[neighbor]]\nip = \"10.0.0.9\"\nmac = \"02:00:00:00:00:0g\"\nport = \"wan0\"\n"),
            Problem::BadMac("02:00:00:00:00:0g".into()), 7),
        (format!("{PORTS}[[neighbor]]\nip = \"fe80::1\"\nmac = \"02:00:00:00:00:09\"\nport = \"wan0\"\n[[neighbor]]\nip = \"fe80::1\"\nmac = \"02:00:00:00:00:0a\"\nport = \"wan0\"\n"),
            Problem::DuplicateNeighbor { first_line: 6 }, 10),
    ];
    for (text, want, line) in cases {
        assert_eq!(problem(&text), (want, line), "{text}");
    }
}

/// Mistakes the parser once took without a word (each made a director that could not
/// work as meant): refused at their line.
#[test]
fn silent_mistakes_are_refused_at_their_line() {
    let port = |name: &str, device: &str, addresses: &str| {
        format!("[[port]]\nname = \"{name}\"\ndevice = \"{device}\"\naddresses = [{addresses}]\n")
    };
    let wan = port("wan0", "net_af_packet0,iface=veth-wan", "\"10.0.0.1/24\"");
    let cases: Vec<(String, Problem, usize)> = vec![
        (
            port("wan0", "x", "\"10.0.0.1/24\", \"10.0.0.2\""),
            Problem::AddressWithoutPrefix(ip("10.0.0.2")),
            4,
        ),
        (
            format!("{wan}{}", port("lan0", "y", "\"10.0.0.5/24\"")),
            Problem::PrefixOnTwoPorts {
                prefix: "10.0.0.0/24".parse().unwrap(),
                other: "wan0".into(),
            },
            8,
        ),
        (
            format!(
                "{wan}{}",
                port("lan0", "net_af_xdp1,iface=veth-wan,queue_count=1", "")
            ),
            Problem::SharedInterface {
                iface: "veth-wan".into(),
                first_line: 3,
            },
            7,
        ),
        (
            format!("{wan}{}", port("lan0", "net_af_packet0,iface=veth-lan", "")),
            Problem::DuplicateDevice {
                name: "net_af_packet0".into(),
                first_line: 3,
            },
            7,
        ),
        (
            format!(
                "{}{}",
                port("a", "0000:03:00.0", ""),
                port("b", "0000:03:00.0,txq_inline=1", "")
            ),
            Problem::DuplicateDevice {
                name: "0000:03:00.0".into(),
                first_line: 3,
            },
            7,
        ),
        (
            format!(
                "{wan}[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"192.168.5.1\"\nport = \"wan0\"\n"
            ),
            Problem::ViaNotOnLink {
                via: ip("192.168.5.1"),
                port: "wan0".into(),
            },
            7,
        ),
        (
            svc("0.0.0.0", 80, ""),
            Problem::BadVip {
                vip: ip("0.0.0.0"),
                what: "the unspecified address",
            },
            3,
        ),
        (
            svc("255.255.255.255", 80, ""),
            Problem::BadVip {
                vip: ip("255.255.255.255"),
                what: "the broadcast address",
            },
            3,
        ),
        (
            svc("224.0.0.1", 80, ""),
            Problem::BadVip {
                vip: ip("224.0.0.1"),
                what: "a multicast address",
            },
            3,
        ),
        (
            svc("ff02::1", 80, ""),
            Problem::BadVip {
                vip: ip("ff02::1"),
                what: "a multicast address",
            },
            3,
        ),
        (
            svc("::", 80, ""),
            Problem::BadVip {
                vip: ip("::"),
                what: "the unspecified address",
            },
            3,
        ),
        (
            svc("127.0.0.1", 80, ""),
            Problem::BadVip {
                vip: ip("127.0.0.1"),
                what: "a loopback address",
            },
            3,
        ),
        (
            svc(
                "10.0.0.100",
                80,
                "laddrs = [\"10.1.0.2\", \"10.0.0.100\"]\n",
            ),
            Problem::LaddrIsVip(ip("10.0.0.100")),
            5,
        ),
    ];
    for (text, want, line) in cases {
        assert_eq!(problem(&text), (want, line), "{text}");
    }
    assert_eq!(
        refused(&port("wan0", "x", "\"10.0.0.2\"")).to_string(),
        "rvs.toml:4:14: port wan0: address 10.0.0.2 needs the prefix length of its segment, \
         as in \"10.0.0.2/24\" (without one the director cannot reach its neighbours there; \
         write /32 or /128 for the address alone)"
    );
}

/// What the checks above must still let through.
#[test]
fn what_the_mistake_checks_accept() {
    let text = "[[port]]\nname = \"wan0\"\ndevice = \"net_af_packet0,iface=a\"\n\
        addresses = [\"10.0.0.1/16\", \"10.0.0.2/16\", \"10.9.9.9/32\", \"fe80::1/64\"]\n\
        [[port]]\nname = \"lan0\"\ndevice = \"net_af_packet1,iface=b\"\n\
        addresses = [\"10.0.5.1/24\", \"fe80::1:1/64\"]\n\
        [[route]]\nprefix = \"10.8.0.0/16\"\nport = \"lan0\"\n\
        [[route]]\nprefix = \"10.7.0.0/16\"\nvia = \"10.8.0.1\"\nport = \"lan0\"\n\
        [[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"10.0.0.254\"\nport = \"wan0\"\n\
        [[route]]\nprefix = \"::/0\"\nvia = \"fe80::ff\"\nport = \"wan0\"\n\
        [[service]]\nproto = \"tcp\"\nvip = \"10.0.0.1\"\nport = 80\nladdrs = [\"10.0.5.1\"]\n";
    let c = Config::parse(text, "t").unwrap();
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.routes.len(), 4);
    // Devices the parser does not know are not compared (replay and tests name them freely).
    let same =
        "[[port]]\nname = \"a\"\ndevice = \"mem\"\n[[port]]\nname = \"b\"\ndevice = \"mem\"\n";
    assert!(Config::parse(same, "t").is_ok());
}

/// A service header, then `extra` lines.
fn svc(vip: &str, port: u16, extra: &str) -> String {
    format!("[[service]]\nproto = \"tcp\"\nvip = \"{vip}\"\nport = {port}\n{extra}")
}

#[test]
fn service_refusals() {
    let real = "[[service.real]]\nip = \"10.1.0.11\"\nport = 8080\n";
    let cases: Vec<(String, Problem, usize)> = vec![
        (
            "[[service]]\nproto = \"sctp\"\nvip = \"10.0.0.1\"\nport = 1\n".into(),
            Problem::UnknownProto("sctp".into()),
            2,
        ),
        (
            svc("10.0.0.300", 80, ""),
            Problem::BadAddress("10.0.0.300".into()),
            3,
        ),
        (
            svc("10.0.0.1", 80, "scheduler = \"wlcx\"\n"),
            Problem::UnknownScheduler("wlcx".into()),
            5,
        ),
        (
            svc(
                "10.0.0.1",
                80,
                "scheduler = \"sh\"\nflags = [\"sh-port\", \"sh-bogus\"]\n",
            ),
            Problem::UnknownFlag("sh-bogus".into()),
            6,
        ),
        (
            svc("10.0.0.1", 80, "flags = [\"sh-port\"]\n"),
            Problem::FlagNotForScheduler {
                flag: "sh-port".into(),
                scheduler: "wlc",
            },
            5,
        ),
        (
            svc(
                "10.0.0.1",
                80,
                "scheduler = \"sh\"\nflags = [\"mh-port\"]\n",
            ),
            Problem::FlagNotForScheduler {
                flag: "mh-port".into(),
                scheduler: "sh",
            },
            6,
        ),
        (
            svc("10.0.0.1", 80, "persistence_mask = \"255.0.255.0\"\n"),
            Problem::BadPersistenceMask {
                value: "255.0.255.0".into(),
                reason: MaskError::NotContiguous,
            },
            5,
        ),
        (
            svc(
                "2001:db8::100",
                80,
                "persistence_mask = \"255.255.255.0\"\n",
            ),
            Problem::BadPersistenceMask {
                value: "255.255.255.0".into(),
                reason: MaskError::DottedForIpv6,
            },
            5,
        ),
        (
            svc("2001:db8::100", 80, "persistence_mask = \"/129\"\n"),
            Problem::BadPersistenceMask {
                value: "/129".into(),
                reason: MaskError::TooLong,
            },
            5,
        ),
        (
            svc("10.0.0.1", 80, "laddrs = [\"10.1.0.2\", \"fd00::2\"]\n"),
            Problem::LaddrFamily(ip("fd00::2")),
            5,
        ),
        (
            svc("10.0.0.1", 80, "laddrs = [\"10.1.0.2\", \"10.1.0.2\"]\n"),
            Problem::DuplicateLaddr(ip("10.1.0.2")),
            5,
        ),
        (
            format!("{}{}", svc("10.0.0.1", 80, ""), svc("10.0.0.1", 80, "")),
            Problem::DuplicateService { first_line: 3 },
            7,
        ),
        (
            svc("10.0.0.1", 80, &format!("{real}forward = \"masq\"\n")),
            Problem::UnknownForward("masq".into()),
            8,
        ),
        (
            svc(
                "10.0.0.1",
                80,
                &format!("{real}forward = \"nat\"\n{real}forward = \"nat\"\n"),
            ),
            Problem::DuplicateReal { first_line: 6 },
            10,
        ),
        (
            svc("10.0.0.1", 80, &format!("{real}forward = \"fullnat\"\n")),
            Problem::FullnatNeedsLaddrs,
            8,
        ),
        (
            svc(
                "2001:db8::100",
                80,
                &format!("laddrs = [\"::2\"]\n{real}forward = \"fullnat\"\n"),
            ),
            Problem::RealFamily("fullnat"),
            9,
        ),
        (
            svc("2001:db8::100", 80, &format!("{real}forward = \"nat\"\n")),
            Problem::RealFamily("nat"),
            8,
        ),
        (
            svc(
                "2001:db8::100",
                80,
                "[[service.real]]\nip = \"10.1.0.11\"\n",
            ),
            Problem::RealFamily("dr"),
            6,
        ),
        (
            svc("10.0.0.1", 80, real),
            Problem::PortChangeNotPossible {
                forward: "dr",
                real_port: 8080,
                service_port: 80,
            },
            7,
        ),
        (
            svc("10.0.0.1", 80, &format!("{real}forward = \"tun\"\n")),
            Problem::PortChangeNotPossible {
                forward: "tun",
                real_port: 8080,
                service_port: 80,
            },
            7,
        ),
        (
            svc(
                "10.0.0.1",
                80,
                &format!("{real}forward = \"nat\"\nweight = 65536\n"),
            ),
            Problem::WeightTooLarge(65536),
            9,
        ),
        (
            svc(
                "10.0.0.1",
                80,
                &format!("{real}forward = \"nat\"\nupper = 10\nlower = 20\n"),
            ),
            Problem::UpperBelowLower {
                upper: 10,
                lower: 20,
            },
            9,
        ),
    ];
    for (text, want, line) in cases {
        assert_eq!(problem(&text), (want, line), "{text}");
    }
}

#[test]
fn as_path_prepend_needs_the_directors_asn() {
    let announce = "[announce]\nfile = \"v.conf\"\n";
    let text = format!(
        "{announce}{}",
        svc("10.0.0.1", 80, "announce_prepend = 2\n")
    );
    assert_eq!(problem(&text), (Problem::PrependWithoutAsn, 7));
    let text = format!(
        "{announce}asn = 65002\n{}",
        svc("10.0.0.1", 80, "announce_prepend = 17\n")
    );
    assert_eq!(problem(&text), (Problem::PrependTooLong(16), 8));
    let text = format!(
        "{announce}asn = 65002\n{}",
        svc("10.0.0.1", 80, "announce_prepend = 2\n")
    );
    let c = Config::parse(&text, "t").unwrap();
    assert_eq!(c.announce.as_ref().and_then(|a| a.asn), Some(65002));
    assert_eq!(c.services[0].announce_prepend, 2);
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
}

#[test]
fn client_address_holds_the_reals_to_fullnat() {
    // No reals yet: accepted (rvsadm adds them later), and written back.
    let c = Config::parse(&svc("10.0.0.1", 80, "client_address = \"toa\"\n"), "t").unwrap();
    assert_eq!(c.services[0].client_address, ClientAddress::Toa);
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
    // A NAT real is refused at the key's line.
    let nat = svc(
        "10.0.0.1",
        80,
        "client_address = \"toa\"\n[[service.real]]\nip = \"10.0.0.2\"\nforward = \"nat\"\n",
    );
    assert!(matches!(
        problem(&nat).0,
        Problem::ClientAddressNeedsFullnat("toa")
    ));
}

#[test]
fn udp_services_take_proxy_v2_only() {
    let udp = |extra: &str| {
        format!("[[service]]\nproto = \"udp\"\nvip = \"10.0.0.1\"\nport = 53\nladdrs = [\"10.1.0.2\"]\n{extra}")
    };
    let fullnat = "[[service.real]]\nip = \"10.1.0.11\"\nforward = \"fullnat\"\n";
    let c = Config::parse(
        &udp(&format!("client_address = \"proxy-v2\"\n{fullnat}")),
        "t",
    )
    .unwrap();
    assert_eq!(c.services[0].client_address, ClientAddress::ProxyV2);
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
    // TOA and version 1 have no UDP form: refused at the key's line, saying what fits.
    for (name, how) in [("toa", "toa"), ("proxy-v1", "proxy-v1")] {
        let text = udp(&format!("client_address = \"{name}\"\n{fullnat}"));
        assert_eq!(problem(&text), (Problem::ClientAddressTcpOnly(how), 6));
        let msg = refused(&text).to_string();
        assert!(
            msg.contains("TCP services only") && msg.contains("proxy-v2"),
            "{msg}"
        );
    }
    // proxy-v2 still needs FULLNAT reals, and the SYN proxy stays TCP-only.
    let nat = udp(
        "client_address = \"proxy-v2\"\n[[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n",
    );
    assert_eq!(
        problem(&nat),
        (Problem::ClientAddressNeedsFullnat("proxy-v2"), 6)
    );
    assert_eq!(
        problem(&udp(&format!("synproxy = true\n{fullnat}"))),
        (Problem::SynproxyTcpOnly("synproxy"), 6)
    );
}

/// `synproxy`: TCP services whose reals are NAT or FULLNAT, mixed or not (each
/// connection is shifted by itself), written back; a DR or TUN real is refused at the
/// key's line, the message naming the real and why (the director never sees its
/// replies).
#[test]
fn synproxy_takes_nat_and_fullnat_reals_and_refuses_direct_ones() {
    let real = |ip: &str, forward: &str| {
        format!("[[service.real]]\nip = \"{ip}\"\nport = 8080\nforward = \"{forward}\"\n")
    };
    let keys = "laddrs = [\"10.1.0.2\"]\nsynproxy = true\n";
    for reals in [
        real("10.1.0.11", "nat"),
        real("10.1.0.11", "nat") + &real("10.1.0.12", "nat"),
        real("10.1.0.11", "nat") + &real("10.1.0.12", "fullnat"),
        real("10.1.0.11", "fullnat"),
    ] {
        let c = Config::parse(&svc("10.0.0.1", 80, &format!("{keys}{reals}")), "t").unwrap();
        assert!(c.services[0].synproxy, "{reals}");
        assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
        assert_eq!(c.revalidate("running").unwrap(), c);
    }
    for (forward, mode) in [("dr", ForwardMode::Dr), ("tun", ForwardMode::Tun)] {
        // A direct real keeps the service's port.
        let reals = real("10.1.0.11", "nat") + &real("10.1.0.12", forward).replace("8080", "80");
        let text = svc("10.0.0.1", 80, &format!("{keys}{reals}"));
        let e = refused(&text);
        assert_eq!(
            e.problem(),
            Some(&Problem::SynproxyDirectReal {
                key: "synproxy",
                real: "10.1.0.12:80".into(),
                forward: mode,
            })
        );
        assert_eq!(e.location().map(|l| l.line), Some(6));
        let msg = e.to_string();
        assert!(
            msg.contains("rvs.toml:6")
                && msg.contains("10.1.0.12:80 ")
                && msg.contains("never sees its replies"),
            "{msg}"
        );
    }
}

/// `one_packet`: UDP with DR and TUN reals only, refused at the key's line otherwise;
/// written back by `config save`; `scheduler = "twos"` is known.
#[test]
fn one_packet_takes_udp_with_direct_reals() {
    let udp = |extra: &str| {
        format!("[[service]]\nproto = \"udp\"\nvip = \"10.0.0.1\"\nport = 53\nscheduler = \"twos\"\n{extra}")
    };
    let real =
        |forward: &str| format!("[[service.real]]\nip = \"10.1.0.11\"\nforward = \"{forward}\"\n");
    let text = udp(&format!(
        "one_packet = true\n{}{}",
        real("dr"),
        real("tun").replace("10.1.0.11", "10.1.0.12")
    ));
    let c = Config::parse(&text, "t").unwrap();
    assert!(c.services[0].one_packet);
    assert_eq!(c.services[0].scheduler, SchedKind::Twos);
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
    assert!(!Config::parse(&udp(&real("dr")), "t").unwrap().services[0].one_packet);
    for forward in ["nat", "fullnat"] {
        let text = udp(&format!(
            "laddrs = [\"10.1.0.2\"]\none_packet = true\n{}",
            real(forward)
        ));
        assert_eq!(
            problem(&text),
            (Problem::OnePacketNeedsUdpDirect, 7),
            "{forward}"
        );
    }
    let tcp = svc("10.0.0.1", 80, "one_packet = true\n");
    assert_eq!(problem(&tcp).0, Problem::OnePacketNeedsUdpDirect);
    let msg = refused(&tcp).to_string();
    assert!(msg.contains("one_packet needs a UDP service"), "{msg}");
}

#[test]
fn service_acceptances() {
    // tun may cross families; port 0 with persistence; weight 65535 and 0; upper without lower.
    let text = svc(
        "2001:db8::100",
        0,
        "persistence = 60\n[[service.real]]\nip = \"10.1.0.11\"\nforward = \"tun\"\nweight = 65535\n[[service.real]]\nip = \"::5\"\nforward = \"nat\"\nweight = 0\nupper = 10\n",
    );
    let c = Config::parse(&text, "t").unwrap();
    assert_eq!(c.services[0].reals[0].weight, 65535);
    assert_eq!(c.services[0].reals[1].upper, 10);
    // Two services differing only by protocol, two reals differing only by port.
    let mut two = svc("10.0.0.1", 80, "[[service.real]]\nip = \"10.0.0.2\"\n");
    two.push_str("[[service]]\nproto = \"udp\"\nvip = \"10.0.0.1\"\nport = 80\n");
    two.push_str("[[service.real]]\nip = \"10.0.0.2\"\nport = 1\nforward = \"nat\"\n");
    two.push_str("[[service.real]]\nip = \"10.0.0.2\"\nport = 2\nforward = \"nat\"\n");
    assert_eq!(Config::parse(&two, "t").unwrap().services.len(), 2);
    // Dotted and length forms of an IPv4 mask.
    let m = svc(
        "10.0.0.1",
        80,
        "persistence = 5\npersistence_mask = \"255.255.0.0\"\n",
    );
    assert_eq!(
        Config::parse(&m, "t").unwrap().services[0].persistence_prefix,
        16
    );
    let m = svc("10.0.0.1", 80, "persistence_mask = \"24\"\n");
    assert_eq!(
        Config::parse(&m, "t").unwrap().services[0].persistence_prefix,
        24
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    let e = refused("# héllo\n[dataplane]  # ünïcode\nworkers = 0\n");
    assert_eq!(
        e.location(),
        Some(Location {
            line: 3,
            column: 11
        })
    );
    assert_eq!(
        Location::of_offset("aé", 2),
        Location { line: 1, column: 2 }
    );
    assert_eq!(
        Location::of_offset("a\nb", 99),
        Location { line: 2, column: 2 }
    );
}

/// Mutations of the example: delete, insert or replace a run of bytes.
fn mutated() -> impl Strategy<Value = String> {
    let len = EXAMPLE.len();
    (0..len, 0..8usize, "[ -~\n]{0,8}").prop_map(move |(at, del, ins)| {
        let mut b = EXAMPLE.as_bytes().to_vec();
        let end = (at + del).min(b.len());
        b.splice(at..end, ins.bytes());
        String::from_utf8_lossy(&b).into_owned()
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = Config::parse(&text, "fuzz.toml");
    }

    #[test]
    fn mutated_examples_never_panic_and_errors_point_into_the_file(text in mutated()) {
        if let Err(e) = Config::parse(&text, "fuzz.toml") {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("fuzz.toml"));
            if let Some(at) = e.location() {
                prop_assert!(at.line >= 1 && at.line <= text.lines().count() + 1, "{}", msg);
            }
        }
    }
}

#[test]
fn ipv6_in_every_address_field() {
    let text = format!(
        "{PORTS}[[route]]\nprefix = \"2001:db8:5::/48\"\nvia = \"fe80::1\"\nport = \"wan0\"\n\
         [[neighbor]]\nip = \"fe80::1\"\nmac = \"02:00:00:00:00:09\"\nport = \"wan0\"\n\
         [ctl]\nmetrics = \"[::1]:9779\"\n"
    );
    let c = Config::parse(&text, "t").unwrap();
    assert_eq!(c.routes[0].via, Some(ip("fe80::1")));
    assert_eq!(c.neighbors[0].ip, ip("fe80::1"));
    assert_eq!(c.ctl.metrics.to_string(), "[::1]:9779");
}

#[test]
fn idle_backoff_parses_and_is_written_back() {
    let c = Config::parse("[dataplane]\nidle = \"backoff\"\n", "idle.toml").unwrap();
    let default = IdlePolicy::Backoff {
        max_sleep_us: DEFAULT_IDLE_MAX_US,
    };
    assert_eq!(c.dataplane.idle, default);
    let text = "[dataplane]\nidle = \"backoff\"\nidle_max_us = 250\n";
    let c = Config::parse(text, "idle.toml").unwrap();
    assert_eq!(c.dataplane.idle, IdlePolicy::Backoff { max_sleep_us: 250 });
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
}

#[test]
fn fragment_keys_parse_and_are_written_back() {
    let c = Config::parse("", "frag.toml").unwrap();
    assert_eq!(c.dataplane.fragments, FragLimits::default());
    assert_eq!(c.dataplane.fragments.timeout_s, 30, "Linux's ipfrag_time");
    let text =
        "[dataplane]\nfrag_memory = 0\nfrag_datagrams = 9\nfrag_fragments = 5\nfrag_timeout = 7\n";
    let c = Config::parse(text, "frag.toml").unwrap();
    let want = FragLimits {
        memory: 0,
        datagrams: 9,
        fragments: 5,
        timeout_s: 7,
    };
    assert_eq!(c.dataplane.fragments, want);
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
}

#[test]
fn guard_keys_parse_write_back_and_refuse_bad_values() {
    let keys = "allow = [\"10.0.0.7/8\", \"2001:db8::/32\"]\ndeny = [\"192.0.2.0/24\"]\n\
                acl_drop_established = true\nclient_prefix_v4 = 24\nclient_prefix_v6 = 56\n\
                limit_new_per_client = 100\nlimit_conns_per_client = 1000\nlimit_new = 100000\n\
                limit_reset = true\nlimit_clients = 4096\nlimit_overflow = \"refuse\"\n";
    let c = Config::parse(&svc("10.0.0.1", 80, keys), "t").unwrap();
    let g = &c.services[0].guard;
    // Host bits are cleared.
    assert_eq!(g.allow[0].to_string(), "10.0.0.0/8");
    assert_eq!(g.deny.len(), 1);
    assert!(g.acl_drop_established && g.limit_reset);
    assert_eq!((g.client_prefix_v4, g.client_prefix_v6), (24, 56));
    assert_eq!(
        (
            g.limit_new_per_client,
            g.limit_conns_per_client,
            g.limit_new
        ),
        (100, 1000, 100000)
    );
    assert_eq!(
        (g.limit_clients, g.limit_overflow),
        (4096, LimitOverflow::Refuse)
    );
    assert_eq!(g.client_of(ip("10.9.8.7")), ip("10.9.8.0"));
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
    // Absent: nothing guarded, nothing written.
    let plain = Config::parse(&svc("10.0.0.1", 80, ""), "t").unwrap();
    assert_eq!(plain.services[0].guard, GuardConfig::default());
    assert!(!to_toml(&plain).contains("limit_"));

    let (p, _) = problem(&svc("10.0.0.1", 80, "deny = [\"10.0.0.0/33\"]\n"));
    assert!(matches!(p, Problem::BadPrefix { .. }), "{p:?}");
    let (p, _) = problem(&svc("10.0.0.1", 80, "allow = [\"example.org\"]\n"));
    assert!(matches!(p, Problem::BadPrefix { .. }), "{p:?}");
    assert_eq!(
        problem(&svc("10.0.0.1", 80, "client_prefix_v4 = 33\n")).0,
        Problem::ClientPrefixTooLong(32)
    );
    assert_eq!(
        problem(&svc("10.0.0.1", 80, "client_prefix_v6 = 129\n")).0,
        Problem::ClientPrefixTooLong(128)
    );
    assert_eq!(
        problem(&svc("10.0.0.1", 80, "limit_clients = 0\n")).0,
        Problem::BadLimitClients(MAX_LIMIT_CLIENTS)
    );
    assert_eq!(
        problem(&svc("10.0.0.1", 80, "limit_overflow = \"open\"\n")).0,
        Problem::UnknownLimitOverflow("open".into())
    );
}

#[test]
fn port_mtu_defaults_to_1500_and_takes_its_range() {
    let port = |extra: &str| {
        format!("[[port]]\nname = \"p\"\ndevice = \"y\"\naddresses = [\"10.0.0.1/24\"]\n{extra}")
    };
    let mtu = |text: &str| Config::parse(text, "rvs.toml").unwrap().ports[0].mtu;
    assert_eq!(mtu(&port("")), DEFAULT_MTU);
    assert_eq!(mtu(&port("mtu = 68\n")), 68);
    assert_eq!(mtu(&port("mtu = 9000\n")), 9000);
    let v6 = "[[port]]\nname = \"p\"\ndevice = \"y\"\naddresses = [\"10.0.0.1/24\", \"fd00::1/64\"]\nmtu = 1280\n";
    assert_eq!(mtu(v6), 1280);
}

#[test]
fn a_port_mtu_out_of_range_is_refused_at_its_line() {
    let v4 = |mtu: &str| {
        format!(
            "[[port]]\nname = \"p\"\ndevice = \"y\"\naddresses = [\"10.0.0.1/24\"]\nmtu = {mtu}\n"
        )
    };
    let bad = |mtu: u32, min: u16, why: &'static str| Problem::BadMtu {
        mtu,
        min,
        max: MAX_MTU,
        why,
    };
    assert_eq!(problem(&v4("67")), (bad(67, 68, ""), 5));
    assert_eq!(problem(&v4("9001")), (bad(9001, 68, ""), 5));
    assert_eq!(problem(&v4("70000")), (bad(70000, 68, ""), 5));
    let v6 = "[[port]]\nname = \"p\"\ndevice = \"y\"\naddresses = [\"fd00::1/64\"]\nmtu = 1279\n";
    assert_eq!(
        problem(v6),
        (bad(1279, 1280, " (the port has IPv6 addresses)"), 5)
    );
    assert_eq!(
        refused(v6).to_string(),
        "rvs.toml:5:7: port p: `mtu` 1279 out of range: 1280 to 9000 (the port has IPv6 addresses)"
    );
    // Not a number, or negative: a type error with its position.
    for text in [v4("\"big\""), v4("-1")] {
        assert_eq!(refused(&text).location().expect("a position").line, 5);
    }
}

/// A TCP service on 10.0.0.100:80 with one real (from line 5) whose lines after `ip`
/// are `real` (from line 7).
fn with_real(real: &str) -> String {
    format!(
        "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n\
         [[service.real]]\nip = \"10.1.0.11\"\n{real}\n"
    )
}

#[test]
fn tunnel_reals_take_their_type_port_and_checksum() {
    let cases = [
        ("forward = \"tun\"", Tunnel::IPIP),
        ("forward = \"tun\"\ntun_type = \"ipip\"", Tunnel::IPIP),
        (
            "forward = \"tun\"\ntun_type = \"gue\"\ntun_port = 6080",
            Tunnel {
                kind: TunnelKind::Gue,
                port: 6080,
                csum: TunnelCsum::NoCsum,
            },
        ),
        (
            "forward = \"tun\"\ntun_type = \"gue\"\ntun_port = 5555\ntun_csum = \"remcsum\"",
            Tunnel {
                kind: TunnelKind::Gue,
                port: 5555,
                csum: TunnelCsum::RemCsum,
            },
        ),
        (
            "forward = \"tun\"\ntun_type = \"gre\"\ntun_csum = \"csum\"",
            Tunnel {
                kind: TunnelKind::Gre,
                port: 0,
                csum: TunnelCsum::Csum,
            },
        ),
        ("forward = \"nat\"", Tunnel::IPIP),
    ];
    for (lines, want) in cases {
        let c = Config::parse(&with_real(lines), "t.toml").unwrap();
        assert_eq!(c.services[0].reals[0].tunnel, want, "{lines}");
        let back = Config::parse(&to_toml(&c), "saved.toml").unwrap();
        assert_eq!(back, c, "written back: {lines}");
    }
}

#[test]
fn bad_tunnel_keys_are_refused_at_their_line() {
    let cases = [
        // GUE without its port: at tun_type.
        (
            "forward = \"tun\"\ntun_type = \"gue\"",
            Problem::TunPortMissing,
            8,
        ),
        (
            "forward = \"tun\"\ntun_type = \"gue\"\ntun_port = 0",
            Problem::TunPortZero,
            9,
        ),
        // A checksum choice on IPIP (named or by default).
        (
            "forward = \"tun\"\ntun_csum = \"csum\"",
            Problem::TunCsumNotForType {
                csum: TunnelCsum::Csum,
                tun_type: TunnelKind::Ipip,
            },
            8,
        ),
        (
            "forward = \"tun\"\ntun_type = \"ipip\"\ntun_port = 6080",
            Problem::TunPortNotForType(TunnelKind::Ipip),
            9,
        ),
        (
            "forward = \"tun\"\ntun_type = \"gre\"\ntun_csum = \"remcsum\"",
            Problem::TunCsumNotForType {
                csum: TunnelCsum::RemCsum,
                tun_type: TunnelKind::Gre,
            },
            9,
        ),
        (
            "forward = \"tun\"\ntun_type = \"gre\"\ntun_port = 1",
            Problem::TunPortNotForType(TunnelKind::Gre),
            9,
        ),
        // Tunnel keys on a real that is not a tunnel.
        (
            "forward = \"nat\"\ntun_type = \"gue\"\ntun_port = 6080",
            Problem::TunnelKeyNotTun("tun_type"),
            8,
        ),
        (
            "tun_csum = \"csum\"",
            Problem::TunnelKeyNotTun("tun_csum"),
            7,
        ),
        (
            "forward = \"tun\"\ntun_type = \"vxlan\"",
            Problem::UnknownTunType("vxlan".into()),
            8,
        ),
        (
            "forward = \"tun\"\ntun_type = \"gre\"\ntun_csum = \"yes\"",
            Problem::UnknownTunCsum("yes".into()),
            9,
        ),
    ];
    for (lines, want, line) in cases {
        assert_eq!(problem(&with_real(lines)), (want, line), "{lines}");
    }
    let e = refused(&with_real("forward = \"tun\"\ntun_type = \"gue\""));
    assert_eq!(
        e.to_string(),
        "rvs.toml:8:12: service 10.0.0.100:80/tcp: real 10.1.0.11:80: tun_type \"gue\" needs \
         `tun_port` (the real's GUE UDP port)"
    );
}
