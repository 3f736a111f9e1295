//! `[[mark]]` rules, mark services and port-0 services: what parses, what is written
//! back, and every refusal at its line.

use super::*;

/// The problem and the line it was reported at.
fn problem(text: &str) -> (Problem, usize) {
    let e = Config::parse(text, "rvs.toml").expect_err("refused");
    let line = e.location().expect("a position").line;
    (e.problem().expect("semantic").clone(), line)
}

const MARKS: &str = r#"
[[mark]]
mark = 1
proto = "tcp"
dst = ["10.0.0.100/32", "10.0.5.0/28"]
ports = ["80", "443", "8000-8099"]
src = ["192.0.2.0/24"]

[[mark]]
mark = 2
dst = ["2001:db8::/64"]

[[service]]
fwmark = 1
scheduler = "rr"
persistence = 300
[[service.real]]
ip = "10.1.1.11"
port = 0
forward = "nat"

[[service]]
fwmark = 2
ipv6 = true
[[service.real]]
ip = "2001:db8:1::11"
forward = "dr"

[[service]]
proto = "udp"
vip = "10.0.0.7"
port = 0
[[service.real]]
ip = "10.1.1.12"
forward = "nat"
"#;

#[test]
fn rules_and_mark_services_parse_and_round_trip() {
    let c = Config::parse(MARKS, "t").unwrap();
    assert_eq!(c.marks.len(), 2);
    let m = &c.marks[0];
    assert_eq!((m.mark, m.proto), (1, MarkProto::Tcp));
    assert_eq!(m.ports, [(80, 80), (443, 443), (8000, 8099)]);
    assert_eq!(m.dst[1].to_string(), "10.0.5.0/28");
    assert_eq!(m.src[0].to_string(), "192.0.2.0/24");
    assert_eq!(
        (c.marks[1].proto, c.marks[1].ports.len()),
        (MarkProto::Any, 0)
    );
    let s = &c.services[0];
    assert_eq!(s.fwmark(), Some(1));
    assert!(s.vip.is_ipv4());
    assert_eq!((s.port, s.reals[0].port), (0, 0));
    assert_eq!(c.services[1].fwmark(), Some(2));
    assert!(c.services[1].vip.is_ipv6());
    // A port-0 service needs no persistence.
    assert_eq!((c.services[2].port, c.services[2].persistence), (0, 0));
    assert_eq!(c.services[2].fwmark(), None);
    let again = Config::parse(&to_toml(&c), "saved").unwrap();
    assert_eq!(again, c);
}

#[test]
fn mark_refusals_name_their_line() {
    let cases: Vec<(&str, Problem, usize)> = vec![
        ("[[mark]]\nmark = 0\ndst = [\"10.0.0.1/32\"]\n", Problem::BadMark(0), 2),
        (
            "[[mark]]\nmark = 16777216\ndst = [\"10.0.0.1/32\"]\n",
            Problem::BadMark(16_777_216),
            2,
        ),
        (
            "[[mark]]\nmark = 1\nproto = \"sctp\"\ndst = [\"10.0.0.1/32\"]\n",
            Problem::UnknownMarkProto("sctp".into()),
            3,
        ),
        ("[[mark]]\nmark = 1\ndst = []\n", Problem::MarkWithoutDst, 3),
        (
            "[[mark]]\nmark = 1\ndst = [\"10.0.0.1/32\"]\nports = [\"80\", \"99-90\"]\n",
            Problem::BadPortRange("99-90".into()),
            4,
        ),
        (
            "[[mark]]\nmark = 1\ndst = [\"10.0.0.1/24\"]\n",
            Problem::HostBitsSet {
                value: "10.0.0.1/24".into(),
                network: "10.0.0.0/24".parse().unwrap(),
            },
            3,
        ),
        (
            "[[mark]]\nmark = 1\ndst = [\"10.0.0.0/24\"]\nsrc = [\"bad\"]\n",
            Problem::BadPrefix {
                value: "bad".into(),
                reason: IpNetError::BadAddress,
            },
            4,
        ),
        (
            "[[mark]]\nmark = 3\ndst = [\"10.0.0.1\"]\n\n[[mark]]\nmark = 3\ndst = [\"10.0.0.1\"]\n",
            Problem::DuplicateMarkRule { first_line: 2 },
            6,
        ),
        (
            "[[service]]\nfwmark = 1\nvip = \"10.0.0.1\"\n",
            Problem::ServiceAddressing(", not both"),
            2,
        ),
        (
            "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.1\"\n",
            Problem::ServiceAddressing(" (one is missing)"),
            3,
        ),
        (
            "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.1\"\nport = 1\nipv6 = true\n",
            Problem::Ipv6WithoutFwmark,
            5,
        ),
        (
            "[[service]]\nfwmark = 99999999\n",
            Problem::BadMark(99_999_999),
            2,
        ),
        (
            "[[service]]\nproto = \"tcp\"\nvip = \"0.0.0.5\"\nport = 1\n",
            Problem::ReservedVip("0.0.0.5".parse().unwrap()),
            3,
        ),
        (
            "[[service]]\nfwmark = 4\n\n[[service]]\nfwmark = 4\n",
            Problem::DuplicateService { first_line: 2 },
            5,
        ),
        (
            "[[service]]\nfwmark = 4\n[[service.real]]\nip = \"10.1.0.1\"\nforward = \"nat\"\n[service.check]\nkind = \"tcp\"\n",
            Problem::CheckNeedsPort,
            7,
        ),
    ];
    for (text, want, line) in cases {
        assert_eq!(problem(text), (want, line), "{text}");
    }
}

#[test]
fn a_mark_of_each_family_is_its_own_service() {
    let text = "[[service]]\nfwmark = 4\n\n[[service]]\nfwmark = 4\nipv6 = true\n";
    let c = Config::parse(text, "t").unwrap();
    assert_eq!(c.services.len(), 2);
}
