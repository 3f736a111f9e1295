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
    // keepalived's defaults: a burst of 5, a second one 5 s later, no refresh.
    assert_eq!(
        ha.garp,
        crate::GarpConfig {
            master_repeat: 5,
            master_delay: Duration::from_secs(5),
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
        }
    );

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
garp_master_repeat = 3
garp_master_delay = 0
garp_master_refresh = 60
garp_master_refresh_repeat = 2

[ha.sync]
port = "lan0"
address = "10.1.0.2"
peers = ["10.1.0.3"]
insecure = true
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
    assert_eq!(
        ha.garp,
        crate::GarpConfig {
            master_repeat: 3,
            master_delay: Duration::ZERO,
            master_refresh: Duration::from_secs(60),
            master_refresh_repeat: 2,
        }
    );
    let sync = ha.sync.unwrap();
    assert_eq!(sync.port, PortId(1));
    assert_eq!(sync.udp_port, DEFAULT_SYNC_PORT);
    assert!(sync.insecure && sync.key.is_none() && sync.key_file.is_none());
    assert_eq!(sync.refresh, crate::DEFAULT_SYNC_REFRESH);
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
        ("vrid = 1\ngarp_master_repeat = 0", "garp_master_repeat", |p| {
            *p == Problem::HaGarpRepeat("garp_master_repeat", 0, 100)
        }),
        (
            "vrid = 1\ngarp_master_refresh_repeat = 101",
            "garp_master_refresh_repeat",
            |p| *p == Problem::HaGarpRepeat("garp_master_refresh_repeat", 101, 100),
        ),
        ("vrid = 1\ngarp_master_delay = 86401", "garp_master_delay", |p| {
            *p == Problem::HaGarpSeconds("garp_master_delay", 86401, 86400)
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
        (
            "vrid = 1\n[ha.sync]\nport = \"lan0\"\naddress = \"10.1.0.2\"\npeers = [\"10.1.0.3\"]\ninsecure = true\nrefresh = 0",
            "refresh",
            |p| *p == Problem::HaSyncRefresh(0),
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

/// A folder of its own for this test's key files.
fn key_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rvs-ha-key-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` to `dir/name` with `mode`.
fn write_key(dir: &std::path::Path, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn sync_with(keys: &str) -> String {
    with_ha(&format!(
        "[ha]\nport = \"wan0\"\nvrid = 1\n[ha.sync]\nport = \"lan0\"\naddress = \"10.1.0.2\"\n\
         peers = [\"10.1.0.3\"]\n{keys}\n"
    ))
}

#[test]
fn the_key_file_is_read_and_saved_by_name() {
    let dir = key_dir("read");
    let file = write_key(&dir, "sync.key", b"correct horse battery staple\n", 0o600);
    let text = sync_with(&format!("key_file = {:?}", file.display().to_string()));
    let c = Config::parse(&text, "rvs.toml").unwrap();
    let sync = c.ha.clone().unwrap().sync.unwrap();
    assert_eq!(
        sync.key.as_ref().unwrap().bytes(),
        b"correct horse battery staple"
    );
    assert_eq!(sync.key_file.as_deref(), Some(file.as_path()));
    assert!(!sync.insecure);
    // The key is never shown, and `config save` writes the file's name, not the key.
    assert!(!format!("{c:?}").contains("horse"));
    let saved = to_toml(&c);
    assert!(!saved.contains("horse"), "{saved}");
    assert_eq!(Config::parse(&saved, "saved").unwrap(), c, "{saved}");
    // A relative key_file is found beside the configuration file.
    let conf = dir.join("rvs.toml");
    std::fs::write(&conf, sync_with("key_file = \"sync.key\"")).unwrap();
    let c = Config::from_file(&conf).unwrap();
    assert_eq!(c.ha.unwrap().sync.unwrap().key_file, Some(file.clone()));
    // An edit revalidates with the key it holds: the file may be gone by then.
    let c = Config::parse(&text, "rvs.toml").unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(c.revalidate("running configuration").unwrap(), c);
    assert!(
        Config::parse(&text, "rvs.toml").is_err(),
        "read again: gone"
    );
}

#[test]
fn a_bad_key_file_or_none_is_refused_at_its_line() {
    let dir = key_dir("bad");
    let short = write_key(&dir, "short.key", b"fifteen-bytes!!\n", 0o600);
    let open = write_key(&dir, "open.key", b"sixteen-bytes!!!", 0o644);
    let missing = dir.join("missing.key");
    for (file, want) in [
        (&short, "the key is 15 bytes long; at least 16 are needed"),
        (&open, "mode 0644 gives group or others access"),
        (&missing, "cannot read it"),
    ] {
        let text = sync_with(&format!("key_file = {:?}", file.display().to_string()));
        let e = Config::parse(&text, "rvs.toml").unwrap_err();
        assert!(
            matches!(e.problem(), Some(Problem::HaSyncKeyFile { .. })),
            "{e}"
        );
        let said = e.to_string();
        assert!(said.contains(want), "{said}");
        assert!(said.contains(&file.display().to_string()), "{said}");
        assert!(said.contains("ha.sync: key_file"), "{said}");
        assert_eq!(e.location().unwrap().line, line_of(&text, "key_file"));
    }
    // Neither key nor insecure: refused, and the error says why.
    let text = sync_with("");
    let e = Config::parse(&text, "rvs.toml").unwrap_err();
    assert_eq!(
        e.problem(),
        Some(&Problem::HaSyncNoKey {
            address: "10.1.0.2".parse().unwrap(),
            udp_port: DEFAULT_SYNC_PORT
        })
    );
    let said = e.to_string();
    assert!(said.contains("anyone who can send"), "{said}");
    assert!(said.contains("insecure = true"), "{said}");
    assert_eq!(
        e.location().unwrap().line,
        line_of(&text, "port = \"lan0\"")
    );
    // Both: refused at insecure.
    let good = write_key(&dir, "good.key", b"sixteen-bytes!!!", 0o400);
    let text = sync_with(&format!(
        "key_file = {:?}\ninsecure = true",
        good.display().to_string()
    ));
    let (p, line) = problem(&text);
    assert_eq!(p, Problem::HaSyncKeyAndInsecure);
    assert_eq!(line, line_of(&text, "insecure"));
    // insecure = false is no way around the key.
    assert!(matches!(
        problem(&sync_with("insecure = false")).0,
        Problem::HaSyncNoKey { .. }
    ));
}
