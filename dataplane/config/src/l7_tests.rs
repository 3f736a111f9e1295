//! Content switching's keys: what is accepted and written back, and each refusal at its
//! line.

use super::*;

fn service(keys: &str, rules: &str, reals: &str) -> String {
    format!(
        "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\nladdrs = [\"10.0.1.1\"]\n\
         {keys}{rules}{reals}"
    )
}

fn real(ip: &str, group: Option<&str>) -> String {
    let group = group
        .map(|g| format!("group = \"{g}\"\n"))
        .unwrap_or_default();
    format!("[[service.real]]\nip = \"{ip}\"\nport = 8080\nforward = \"fullnat\"\n{group}")
}

fn rule(body: &str) -> String {
    format!("[[service.rule]]\n{body}")
}

fn problem(text: &str) -> (Problem, usize) {
    let e = Config::parse(text, "rvs.toml").expect_err("accepted");
    let line = e.location().expect("a position").line;
    (e.problem().expect("semantic").clone(), line)
}

#[test]
fn http_rules_and_groups_are_read_and_written_back() {
    let text = service(
        "l7 = \"http\"\nl7_timeout = 2.5\n",
        &(rule("host = \"IMG.example.com\"\npath_prefix = \"/static/\"\ngroup = \"img\"\n")
            + &rule("host = \"*.example.com\"\ngroup = \"web\"\n")),
        &(real("10.1.1.11", Some("img"))
            + &real("10.1.1.12", Some("web"))
            + &real("10.1.1.13", None)),
    );
    let c = Config::parse(&text, "rvs.toml").unwrap();
    let s = &c.services[0];
    assert!(s.synproxy, "l7 turns the SYN proxy on");
    let l7 = s.l7.as_ref().unwrap();
    assert_eq!(l7.protocol, rvs_l7::Protocol::Http);
    assert_eq!(l7.timeout, Duration::from_millis(2500));
    assert_eq!(l7.rules.len(), 2);
    assert_eq!(
        rule_text(&l7.rules[0]),
        "host=img.example.com path_prefix=/static/ -> img"
    );
    assert_eq!(rule_text(&l7.rules[1]), "host=*.example.com -> web");
    assert_eq!(s.reals[0].group.as_deref(), Some("img"));
    assert_eq!(s.reals[2].group, None);
    let saved = to_toml(&c);
    assert_eq!(Config::parse(&saved, "saved.toml").unwrap(), c, "{saved}");
    assert_eq!(c.revalidate("running").unwrap(), c);
}

#[test]
fn tls_rules_take_server_names() {
    let text = service(
        "l7 = \"tls\"\n",
        &rule("sni = \"api.example.com\"\ngroup = \"api\"\n"),
        &(real("10.1.1.11", Some("api")) + &real("10.1.1.12", None)),
    );
    let c = Config::parse(&text, "rvs.toml").unwrap();
    let l7 = c.services[0].l7.as_ref().unwrap();
    assert_eq!(l7.protocol, rvs_l7::Protocol::Tls);
    assert_eq!(l7.timeout, DEFAULT_L7_TIMEOUT);
    assert_eq!(Config::parse(&to_toml(&c), "saved.toml").unwrap(), c);
}

#[test]
fn refusals_name_the_line() {
    let web = real("10.1.1.11", Some("web"));
    let plain = real("10.1.1.11", None);
    let cases: Vec<(String, Problem, usize)> = vec![
        (
            service("l7 = \"ftp\"\n", "", &plain),
            Problem::UnknownL7("ftp".into()),
            6,
        ),
        (
            service("l7_timeout = 1.0\n", "", &plain),
            Problem::NeedsL7("l7_timeout"),
            6,
        ),
        (
            service("", &rule("host = \"a\"\ngroup = \"web\"\n"), &web),
            Problem::NeedsL7("[[service.rule]]"),
            8,
        ),
        (
            service("", "", &web),
            Problem::NeedsL7("a real's group"),
            10,
        ),
        (
            service("l7 = \"http\"\nsynproxy = false\n", "", &plain),
            Problem::L7WithoutSynproxy,
            7,
        ),
        (
            service("l7 = \"http\"\nl7_timeout = 0.0\n", "", &plain),
            Problem::BadL7Timeout,
            7,
        ),
        (
            service(
                "l7 = \"http\"\n",
                &rule("sni = \"a\"\ngroup = \"web\"\n"),
                &web,
            ),
            Problem::BadRule("sni is for l7 = \"tls\"; an http rule has host, path_prefix or both"),
            8,
        ),
        (
            service("l7 = \"http\"\n", &rule("group = \"web\"\n"), &web),
            Problem::BadRule("an http rule needs host, path_prefix or both"),
            8,
        ),
        (
            service(
                "l7 = \"tls\"\n",
                &rule("host = \"a\"\ngroup = \"web\"\n"),
                &web,
            ),
            Problem::BadRule("a tls rule matches the server name only (sni)"),
            8,
        ),
        (
            service(
                "l7 = \"http\"\n",
                &rule("path_prefix = \"static\"\ngroup = \"web\"\n"),
                &web,
            ),
            Problem::BadPathPrefix("static".into()),
            8,
        ),
        (
            service(
                "l7 = \"http\"\n",
                &rule("host = \"a b\"\ngroup = \"web\"\n"),
                &web,
            ),
            Problem::BadHostPattern(
                "\"a b\" is not a host name nor `*.` and one (an IP literal, a DNS name)".into(),
            ),
            8,
        ),
        (
            service(
                "l7 = \"http\"\n",
                &rule("host = \"a\"\ngroup = \"img\"\n"),
                &web,
            ),
            Problem::EmptyGroup("img".into()),
            9,
        ),
        (
            service("l7 = \"http\"\n", "", &real("10.1.1.11", Some("no space"))),
            Problem::BadGroupName("no space".into()),
            11,
        ),
    ];
    for (text, want, line) in cases {
        assert_eq!(problem(&text), (want, line), "{text}");
    }
    // The SYN proxy's reach: TCP with NAT or FULLNAT reals, mixed or not; a DR or TUN
    // real is refused at the key's line, named.
    let with = |forward: &str| real("10.1.1.11", None).replace("fullnat", forward);
    let mixed = with("nat") + &real("10.1.1.12", Some("img"));
    let rules = rule("host = \"img\"\ngroup = \"img\"\n");
    let c = Config::parse(&service("l7 = \"http\"\n", &rules, &mixed), "rvs.toml").unwrap();
    assert!(c.services[0].synproxy && c.services[0].l7.is_some());
    assert_eq!(c.revalidate("running").unwrap(), c);
    for (forward, mode) in [("dr", ForwardMode::Dr), ("tun", ForwardMode::Tun)] {
        // A direct real keeps the service's port.
        let text = service("l7 = \"http\"\n", "", &with(forward).replace("8080", "80"));
        assert_eq!(
            problem(&text),
            (
                Problem::SynproxyDirectReal {
                    key: "l7",
                    real: "10.1.1.11:80".into(),
                    forward: mode,
                },
                6
            )
        );
        let msg = Config::parse(&text, "rvs.toml").unwrap_err().to_string();
        assert!(
            msg.contains("rvs.toml:6") && msg.contains("l7 needs reals") && msg.contains(forward),
            "{msg}"
        );
    }
    let udp = service("l7 = \"http\"\n", "", "").replace("\"tcp\"", "\"udp\"");
    assert_eq!(problem(&udp), (Problem::SynproxyTcpOnly("l7"), 6));
}
