//! `[ha]` and `[ha.sync]`: defaults, every refusal at its line, and the round trip
//! through `config save`.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;

const PORTS: &str = r#"
[[port]]
name = "wan0"
device = "net_null0"
addresses = ["10.0.0.2/24", "10.0.0.1/24"]

[[port]]
name = "lan0"
device = "net_null1"
addresses = ["10.1.0.2/24", "10.1.0.1/24"]
"#;

fn with_ha(ha: &str) -> String {
    format!("{PORTS}\n{ha}")
}

fn problem(text: &str) -> (Problem, usize) {
    let e = Config::parse(text, "rvs.toml").expect_err("refused");
    let line = e.location().expect("a position").line;
    (e.problem().expect("semantic").clone(), line)
}

/// The 1-based line of the first line holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn defaults_and_every_key() {
    let c = Config::parse(&with_ha("[ha]\nport = \"wan0\"\nvrid = 51\n"), "f").unwrap();
    let ha = c.ha.unwrap();
    assert_eq!(ha.port, PortId(0));
    assert_eq!(ha.source, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(
        (ha.vrid, ha.priority, ha.preempt),
        (51, DEFAULT_PRIORITY, true)
    );
    assert_eq!(ha.advert_interval, DEFAULT_ADVERT_INTERVAL);
    assert!(ha.unicast_peers.is_empty() && ha.floating.is_empty() && ha.sync.is_none());

    let text = with_ha(
        r#"[ha]
port = "wan0"
vrid = 7
priority = 254
advert_interval = 0.25
preempt = false
unicast_peers = ["10.0.0.3"]
notify = ["/bin/echo", "{state}"]
floating = ["10.0.0.2/24", "10.1.0.1/24"]

[ha.sync]
port = "lan0"
address = "10.1.0.2"
peers = ["10.1.0.3"]
"#,
    );
    let c = Config::parse(&text, "f").unwrap();
    let ha = c.ha.clone().unwrap();
    // The first address is floating: adverts come from the next one.
    assert_eq!(ha.source, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(ha.advert_interval, Duration::from_millis(250));
    assert!(!ha.preempt);
    assert_eq!(ha.unicast_peers, [Ipv4Addr::new(10, 0, 0, 3)]);
    assert_eq!(ha.notify, ["/bin/echo", "{state}"]);
    let sync = ha.sync.unwrap();
    assert_eq!(sync.port, PortId(1));
    assert_eq!(sync.udp_port, DEFAULT_SYNC_PORT);
    // `config save` writes it back to an equal configuration.
    let saved = to_toml(&c);
    assert_eq!(Config::parse(&saved, "saved").unwrap(), c, "{saved}");
}

/// A `[ha]` body, the text of the line it is refused at, and the expected problem.
type Case = (&'static str, &'static str, fn(&Problem) -> bool);

#[test]
fn refusals_name_their_line() {
    let cases: &[Case] = &[
        ("vrid = 0", "vrid = 0", |p| *p == Problem::HaVrid),
        ("vrid = 1\npriority = 255", "priority", |p| {
            *p == Problem::HaPriority(255)
        }),
        ("vrid = 1\npriority = 0", "priority", |p| {
            *p == Problem::HaPriority(0)
        }),
        ("vrid = 1\nadvert_interval = 0.005", "advert_interval", |p| {
            matches!(p, Problem::HaAdvertInterval(_))
        }),
        ("vrid = 1\nadvert_interval = 41.0", "advert_interval", |p| {
            matches!(p, Problem::HaAdvertInterval(_))
        }),
        ("vrid = 1\nadvert_interval = 1.234", "advert_interval", |p| {
            matches!(p, Problem::HaAdvertInterval(_))
        }),
        ("vrid = 1\nunicast_peers = [\"2001:db8::2\"]", "unicast_peers", |p| {
            matches!(p, Problem::HaPeerFamily(_))
        }),
        ("vrid = 1\nunicast_peers = [\"10.0.0.1\"]", "unicast_peers", |p| {
            matches!(p, Problem::HaBadPeer(_))
        }),
        ("vrid = 1\nunicast_peers = [\"224.0.0.18\"]", "unicast_peers", |p| {
            matches!(p, Problem::HaBadPeer(_))
        }),
        ("vrid = 1\nfloating = [\"10.0.0.9/24\"]", "floating", |p| {
            matches!(p, Problem::HaFloating(_))
        }),
        (
            "vrid = 1\nfloating = [\"10.0.0.2/24\", \"10.0.0.1/24\"]",
            "port =",
            |p| matches!(p, Problem::HaPortWithoutIpv4(_)),
        ),
        (
            "vrid = 1\n[ha.sync]\nport = \"lan0\"\naddress = \"10.0.0.2\"\npeers = [\"10.1.0.3\"]",
            "address = ",
            |p| matches!(p, Problem::HaSyncAddress(..)),
        ),
        (
            "vrid = 1\n[ha.sync]\nport = \"lan0\"\naddress = \"fd01::2\"\npeers = [\"fd01::3\"]",
            "address = ",
            |p| matches!(p, Problem::HaSyncFamily(_)),
        ),
        (
            "vrid = 1\n[ha.sync]\nport = \"lan0\"\naddress = \"10.1.0.2\"",
            "port = \"lan0\"",
            |p| *p == Problem::HaSyncNoPeers,
        ),
        (
            "vrid = 1\n[ha.sync]\nport = \"lan0\"\naddress = \"10.1.0.2\"\npeers = [\"10.1.0.3\"]\nudp_port = 0",
            "udp_port",
            |p| *p == Problem::Zero("udp_port"),
        ),
    ];
    for (body, at, expected) in cases {
        let text = with_ha(&format!("[ha]\nport = \"wan0\"\n{body}\n"));
        let (p, line) = problem(&text);
        assert!(expected(&p), "{body}: {p:?}");
        let want = if *at == "port =" {
            line_of(&text, "[ha]") + 1
        } else {
            line_of(&text, at)
        };
        assert_eq!(line, want, "{body}: {p}");
    }
    // An unknown port, and an unknown key.
    let text = with_ha("[ha]\nport = \"nope\"\nvrid = 1\n");
    assert!(matches!(problem(&text).0, Problem::UnknownPort(_)));
    let e = Config::parse(
        &with_ha("[ha]\nport = \"wan0\"\nvrid = 1\nvmac = true\n"),
        "f",
    );
    assert!(e.unwrap_err().to_string().contains("vmac"));
}
