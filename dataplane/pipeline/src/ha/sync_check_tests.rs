//! Each check of a synced record, refused by its reason; good records pass with their
//! time left cut to this director's timeouts.

use std::net::SocketAddr;

use rvs_config::testbed::TwoPortDirector;
use rvs_config::Config;
use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};

use super::*;
use crate::service::IdRegistry;

/// A persistent NAT service (.100, 300 s), a FULLNAT one with TOA (.101, local address
/// 10.1.0.200), a UDP NAT one (.102:53), a SYN-proxied NAT one (.103);
/// `[timeouts] tcp = 600`.
fn snapshot() -> Snapshot {
    let text = TwoPortDirector::new("mem", 64)
        .client()
        .real(11)
        .real(12)
        .to_toml()
        + r#"
[timeouts]
tcp = 600

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
persistence = 300

[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
forward = "dr"

[[service]]
proto = "tcp"
vip = "10.0.0.101"
port = 80
laddrs = ["10.1.0.200"]
client_address = "toa"

[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"

[[service]]
proto = "udp"
vip = "10.0.0.102"
port = 53

[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.103"
port = 80
synproxy = true

[[service.real]]
ip = "10.1.0.11"
forward = "nat"
"#;
    let config = Config::parse(&text, "check.toml").unwrap();
    Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn nat() -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Tcp,
        mode: ForwardMode::Nat,
        state: TcpState::Established,
        timeout_ms: 500_000,
        client: addr("10.0.0.2:40000"),
        vip: addr("10.0.0.100:80"),
        real: addr("10.1.0.11:80"),
        local: None,
        template: Some(addr("10.0.0.2:0")),
        stream: StreamAdjust::default(),
    }
}

fn fullnat() -> SyncRecord {
    SyncRecord {
        mode: ForwardMode::FullNat,
        vip: addr("10.0.0.101:80"),
        local: Some(addr("10.1.0.200:2048")),
        template: None,
        stream: StreamAdjust {
            kind: stream_kind(rvs_config::ClientAddress::Toa),
            flags: 1,
            client_isn: 77,
            ..StreamAdjust::default()
        },
        ..nat()
    }
}

/// A connection of the SYN-proxied NAT service, its real answered (sequence and clock
/// shifts).
fn nat_proxied() -> SyncRecord {
    SyncRecord {
        vip: addr("10.0.0.103:80"),
        template: None,
        stream: StreamAdjust {
            syn_proxy: 6,
            server_shift: 0x1234_5678,
            ts_shift: 99,
            ..StreamAdjust::default()
        },
        ..nat()
    }
}

fn tpl() -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Template,
        state: TcpState::None,
        timeout_ms: 200_000,
        client: addr("10.0.0.2:0"),
        template: None,
        ..nat()
    }
}

#[test]
fn good_records_pass_with_their_time_left() {
    let snap = snapshot();
    let c = conn(&nat(), &snap).unwrap();
    assert_eq!((c.timeout_ms, c.clamped), (500_000, false));
    assert!(c.template.is_some());
    let c = conn(&fullnat(), &snap).unwrap();
    assert_eq!(c.template, None);
    assert!(
        conn(&nat_proxied(), &snap).is_ok(),
        "SYN proxy shifts on NAT"
    );
    let t = template(&tpl(), &snap).unwrap();
    assert_eq!((t.timeout_ms, t.clamped), (200_000, false));
    let udp = SyncRecord {
        proto: Proto::Udp,
        state: TcpState::None,
        vip: addr("10.0.0.102:53"),
        real: addr("10.1.0.11:53"),
        template: None,
        ..nat()
    };
    assert_eq!(
        conn(&udp, &snap).unwrap().timeout_ms,
        300_000,
        "cut to udp 300 s"
    );
}

#[test]
fn an_absurd_time_left_is_cut_to_the_states_timeout() {
    let snap = snapshot();
    let days_49 = SyncRecord {
        timeout_ms: u32::MAX,
        ..nat()
    };
    let c = conn(&days_49, &snap).unwrap();
    assert_eq!((c.timeout_ms, c.clamped), (600_000, true), "[timeouts] tcp");
    let closing = SyncRecord {
        state: TcpState::TimeWait,
        ..days_49
    };
    assert_eq!(conn(&closing, &snap).unwrap().timeout_ms, 120_000);
    let t = SyncRecord {
        timeout_ms: u32::MAX,
        ..tpl()
    };
    let c = template(&t, &snap).unwrap();
    assert_eq!((c.timeout_ms, c.clamped), (300_000, true), "persistence");
}

#[test]
fn each_bad_record_is_refused_by_its_reason() {
    let snap = snapshot();
    let cases: Vec<(SyncRecord, SyncRefusal)> = vec![
        (
            SyncRecord {
                vip: addr("10.0.0.100:81"),
                ..nat()
            },
            SyncRefusal::Service,
        ),
        (
            SyncRecord {
                proto: Proto::Udp,
                ..nat()
            },
            SyncRefusal::Service,
        ),
        (
            SyncRecord {
                real: addr("10.1.0.13:80"),
                ..nat()
            },
            SyncRefusal::Real,
        ),
        (
            SyncRecord {
                real: addr("10.1.0.12:80"),
                ..nat()
            },
            SyncRefusal::ForwardMode,
        ),
        (
            SyncRecord {
                proto: Proto::Udp,
                vip: addr("10.0.0.102:53"),
                real: addr("10.1.0.11:53"),
                template: None,
                ..nat()
            },
            SyncRefusal::State,
        ),
        (
            SyncRecord {
                local: Some(addr("10.1.0.1:2048")),
                ..fullnat()
            },
            SyncRefusal::LocalAddress,
        ),
        (
            SyncRecord {
                template: Some(addr("10.0.0.3:0")),
                ..nat()
            },
            SyncRefusal::Template,
        ),
        (
            SyncRecord {
                template: Some(addr("10.0.0.2:0")),
                ..fullnat()
            },
            SyncRefusal::Template,
        ),
        (
            SyncRecord {
                stream: StreamAdjust {
                    syn_proxy: 2,
                    ..fullnat().stream
                },
                ..fullnat()
            },
            SyncRefusal::Stream,
        ),
        (
            SyncRecord {
                stream: fullnat().stream,
                ..nat()
            },
            SyncRefusal::Stream,
        ),
        // SYN proxy shifts on a NAT service without the proxy.
        (
            SyncRecord {
                stream: nat_proxied().stream,
                ..nat()
            },
            SyncRefusal::Stream,
        ),
        // A client address kind on a SYN-proxied NAT connection: its real gets none.
        (
            SyncRecord {
                stream: StreamAdjust {
                    kind: stream_kind(rvs_config::ClientAddress::Toa),
                    ..nat_proxied().stream
                },
                ..nat_proxied()
            },
            SyncRefusal::Stream,
        ),
        // Shifts without the SYN proxy's progress.
        (
            SyncRecord {
                stream: StreamAdjust {
                    syn_proxy: 0,
                    ..nat_proxied().stream
                },
                ..nat_proxied()
            },
            SyncRefusal::Stream,
        ),
        (tpl(), SyncRefusal::Record),
    ];
    for (r, want) in cases {
        assert_eq!(conn(&r, &snap), Err(want), "{r:?}");
    }
    let templates: Vec<(SyncRecord, SyncRefusal)> = vec![
        (
            SyncRecord {
                vip: addr("10.0.0.101:80"),
                mode: ForwardMode::FullNat,
                ..tpl()
            },
            SyncRefusal::Template,
        ),
        (
            SyncRecord {
                client: addr("10.0.0.2:443"),
                ..tpl()
            },
            SyncRefusal::Template,
        ),
        (
            SyncRecord {
                state: TcpState::Established,
                ..tpl()
            },
            SyncRefusal::State,
        ),
        (
            SyncRecord {
                local: Some(addr("10.1.0.200:2048")),
                ..tpl()
            },
            SyncRefusal::Record,
        ),
        (nat(), SyncRefusal::Record),
    ];
    for (r, want) in templates {
        assert_eq!(template(&r, &snap), Err(want), "{r:?}");
    }
}

/// A connection of a persistent mark service whose real is on port 0, synced with the
/// address and port its client used, finds the mark service through the rules (as its
/// packets do) and its real on that port; its template names the mark's key address. A
/// connection the rules do not take (another port) is refused for its service.
#[test]
fn a_mark_connection_and_its_template_find_their_service_through_the_rules() {
    let text = TwoPortDirector::new("mem", 64).client().real(11).to_toml()
        + r#"
[[mark]]
mark = 1
proto = "tcp"
dst = ["10.0.0.150/32"]
ports = ["80", "443"]

[[service]]
fwmark = 1
persistence = 300

[[service.real]]
ip = "10.1.0.11"
forward = "nat"
"#;
    let config = Config::parse(&text, "mark.toml").unwrap();
    let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap();
    let svc = snap.services.list()[0].id;
    let r = SyncRecord {
        vip: addr("10.0.0.150:443"),
        real: addr("10.1.0.11:443"),
        ..nat()
    };
    let checked = conn(&r, &snap).expect("a mark connection");
    assert_eq!(checked.service, svc);
    assert_eq!(checked.template.map(|t| t.port), Some(0));
    let wrong_port = SyncRecord {
        real: addr("10.1.0.11:80"),
        ..r
    };
    assert_eq!(conn(&wrong_port, &snap), Err(SyncRefusal::Real));
    let unmarked = SyncRecord {
        vip: addr("10.0.0.150:22"),
        real: addr("10.1.0.11:22"),
        ..r
    };
    assert_eq!(conn(&unmarked, &snap), Err(SyncRefusal::Service));
    let t = SyncRecord {
        kind: RecordKind::Template,
        state: TcpState::None,
        client: addr("10.0.0.2:0"),
        vip: SocketAddr::new(rvs_config::mark_vip(1, false), 0),
        real: addr("10.1.0.11:0"),
        template: None,
        ..r
    };
    assert_eq!(template(&t, &snap).expect("its template").service, svc);
}
