//! rvsadm as ldirectord uses ipvsadm: every command line Debian's ldirectord (4.12) builds,
//! word for word as its shell splits them, and the two listings it reads back (`-L -n` and
//! `-L -n --thresholds`), read here the way ldirectord reads them: it skips three lines,
//! then takes a service line as protocol, address, scheduler and optional `persistent N`
//! and `mask M`, a real line (`  -> `) as address, forwarding name (`Masq`, `Route`,
//! `Tunnel`) and weight, and from `--thresholds` a real's upper and lower thresholds. The
//! lab test `tests/ldirectord.rs` runs ldirectord itself.

mod common;

use common::{key, service, R};
use rvs_ctl::adm::address::SystemNames;
use rvs_ctl::adm::args::{self, Action, ListFormat, Parsed};
use rvs_ctl::adm::list;
use rvs_ctl::proto::{Change, Forward, Protocol, RealSpec, ServiceInfo, ServiceKey, ServiceSpec};

/// The change a command line asks for, split on blanks as `system()`'s shell splits it.
fn change(line: &str) -> Change {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    match args::parse(&words, &SystemNames) {
        Ok(Parsed::Run(inv)) => match inv.action {
            Action::Apply(c) => c,
            other => panic!("{line}: {other:?}"),
        },
        other => panic!("{line}: {other:?}"),
    }
}

fn refusal(line: &str) -> (String, u8) {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    match args::parse(&words, &SystemNames) {
        Err(e) => (e.message.clone(), e.status),
        Ok(other) => panic!("{line}: accepted as {other:?}"),
    }
}

fn tcp(addr: &str) -> ServiceKey {
    key(Protocol::Tcp, addr)
}

fn svc(key: ServiceKey, scheduler: &str, flags: &[&str], persistence: u32, mask: u8) -> Change {
    Change::AddService(ServiceSpec {
        key,
        scheduler: scheduler.to_string(),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        persistence,
        netmask: mask,
        one_packet: false,
    })
}

fn real(addr: &str, forward: Forward, weight: u32, upper: u32, lower: u32) -> RealSpec {
    RealSpec {
        addr: addr.parse().unwrap(),
        forward,
        weight,
        upper,
        lower,
        tunnel: Default::default(),
    }
}

/// ldirectord's virtual-service flags: `PROTO VIP ` then `-s SCHED `, `-p N `, `-M MASK `
/// and `-b FLAGS ` as configured (each with its trailing blank); `-A` when `-L -n` did
/// not list the service, `-E` when it did.
#[test]
fn virtual_service_commands() {
    let web = tcp("10.0.0.100:80");
    assert_eq!(
        change("-A -t 10.0.0.100:80 -s wrr "),
        svc(web, "wrr", &[], 0, 32)
    );
    assert_eq!(
        change("-A -t 10.0.0.100:80 -s rr -p 300 -M 255.255.255.0 "),
        svc(web, "rr", &[], 300, 24)
    );
    assert_eq!(
        change("-A -t 10.0.0.100:80 -s sh -b sh-port "),
        svc(web, "sh", &["sh-port"], 0, 32)
    );
    assert_eq!(
        change("-A -u 10.0.0.100:53 -s rr -p 60 "),
        svc(key(Protocol::Udp, "10.0.0.100:53"), "rr", &[], 60, 32)
    );
    assert_eq!(
        change("-A -t [2001:db8::100]:443 -s wlc "),
        svc(tcp("[2001:db8::100]:443"), "wlc", &[], 0, 128)
    );
    // The service exists: the same flags with -E.
    let Change::AddService(spec) = svc(web, "wlc", &[], 300, 24) else {
        unreachable!()
    };
    assert_eq!(
        change("-E -t 10.0.0.100:80 -s wlc -p 300 -M 255.255.255.0 "),
        Change::EditService(spec)
    );
    // Stopping, or a virtual service gone from the configuration.
    assert_eq!(change("-D -t 10.0.0.100:80"), Change::DeleteService(web));
}

/// ldirectord's real-server commands: restore (`-x U -y L` before `-r`, then the
/// forwarding flag and `-w`), quiesce (`-w 0`), re-add quiesced, delete.
#[test]
fn real_server_commands() {
    let web = tcp("10.0.0.100:80");
    let add = |r| Change::AddReal {
        service: web,
        real: r,
    };
    let edit = |r| Change::EditReal {
        service: web,
        real: r,
    };
    // A real (or the fallback) comes up.
    assert_eq!(
        change("-a -t 10.0.0.100:80 -x 0 -y 0 -r 10.1.1.11:8080 -m -w 1"),
        add(real("10.1.1.11:8080", Forward::Nat, 1, 0, 0))
    );
    assert_eq!(
        change("-a -t 10.0.0.100:80 -x 500 -y 400 -r 10.1.2.11:80 -g -w 3"),
        add(real("10.1.2.11:80", Forward::Dr, 3, 500, 400))
    );
    // A DR or tunnel real listed without a port takes the service's (ldirectord then
    // finds it under the service's port in the listing).
    assert_eq!(
        change("-a -t 10.0.0.100:80 -x 0 -y 0 -r 10.1.3.11:0 -i -w 1"),
        add(real("10.1.3.11:80", Forward::Tun, 1, 0, 0))
    );
    // Its weight or thresholds changed, or it was quiesced.
    assert_eq!(
        change("-e -t 10.0.0.100:80 -x 0 -y 0 -r 10.1.1.11:8080 -m -w 2"),
        edit(real("10.1.1.11:8080", Forward::Nat, 2, 0, 0))
    );
    // It went down with quiescent = yes; readdquiescent = yes adds it back at weight 0.
    assert_eq!(
        change("-e -t 10.0.0.100:80 -r 10.1.1.11:8080 -m -w 0"),
        edit(real("10.1.1.11:8080", Forward::Nat, 0, 0, 0))
    );
    assert_eq!(
        change("-a -t 10.0.0.100:80 -r 10.1.1.11:8080 -m -w 0"),
        add(real("10.1.1.11:8080", Forward::Nat, 0, 0, 0))
    );
    // An unknown forwarding method gives a blank where the flag goes: ipvsadm's default,
    // direct routing.
    assert_eq!(
        change("-a -t 10.0.0.100:80 -x 0 -y 0 -r 10.1.2.11:80   -w 1"),
        add(real("10.1.2.11:80", Forward::Dr, 1, 0, 0))
    );
    // It went down with quiescent = no, or the fallback is no longer needed.
    assert_eq!(
        change("-d -t 10.0.0.100:80 -r 10.1.1.11:8080"),
        Change::DeleteReal {
            service: web,
            addr: "10.1.1.11:8080".parse().unwrap()
        }
    );
    assert_eq!(
        change("-d -t [2001:db8::100]:443 -r [2001:db8::11]:443"),
        Change::DeleteReal {
            service: tcp("[2001:db8::100]:443"),
            addr: "[2001:db8::11]:443".parse().unwrap()
        }
    );
}

/// Firewall-mark services as ldirectord writes them (`protocol = fwm`: `-f MARK`, with
/// `-6` for IPv6) and one-packet scheduling (`ops = yes`) are taken.
#[test]
fn fwmark_and_ops_are_taken() {
    let Change::AddService(spec) = change("-A -f 1 -s rr ") else {
        panic!("not an added service");
    };
    assert_eq!(spec.key, ServiceKey::fwmark(1, false));
    let Change::AddService(spec) = change("-A -f 1 -6 -s rr ") else {
        panic!("not an added service");
    };
    assert_eq!((spec.key, spec.netmask), (ServiceKey::fwmark(1, true), 128));
    let Change::AddReal { service, real } = change("-a -f 1 -r 10.1.1.11 -g -w 1") else {
        panic!("not an added real");
    };
    assert_eq!(service.mark(), Some(1));
    assert_eq!(real.addr, "10.1.1.11:0".parse().unwrap());
    let (message, status) = refusal("-A -6 -f 1 -s rr ");
    assert_eq!((message.as_str(), status), ("-6 used before -f", 2));

    let Change::AddService(spec) = change("-A -u 10.0.0.100:53 -o -s rr ") else {
        panic!("not an added service");
    };
    assert!(spec.one_packet && spec.scheduler == "rr");
}

/// A service as ldirectord reads it from `-L -n` and `-L -n --thresholds`.
#[derive(Debug, PartialEq)]
struct Read {
    proto: String,
    addr: String,
    scheduler: String,
    persistent: Option<u32>,
    mask: Option<String>,
    /// Address, forwarding method (ldirectord's words), weight, upper, lower.
    reals: Vec<(String, &'static str, u32, u32, u32)>,
}

/// Reads `-L -n` and `-L -n --thresholds` as ldirectord does.
fn read_as_ldirectord(plain: &str, thresholds: &str) -> Vec<Read> {
    let mut out: Vec<Read> = Vec::new();
    for line in plain.lines().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(rest) = line.strip_prefix("  -> ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let forward = match words[1] {
                "Masq" => "masq",
                "Route" => "gate",
                "Tunnel" => "ipip",
                other => panic!("ldirectord knows no forwarding {other:?}"),
            };
            let weight = words[2].parse().unwrap();
            let service = out.last_mut().expect("a real inside a service");
            service
                .reals
                .push((words[0].to_string(), forward, weight, 0, 0));
        } else {
            assert!(line.starts_with(char::is_alphanumeric), "{line:?}");
            let after = |word: &str| {
                let at = words.iter().position(|w| *w == word)?;
                words.get(at + 1).map(|w| w.to_string())
            };
            out.push(Read {
                proto: words[0].to_string(),
                addr: words[1].to_string(),
                scheduler: words[2].to_string(),
                persistent: after("persistent").map(|p| p.parse().unwrap()),
                mask: after("mask"),
                reals: Vec::new(),
            });
        }
    }
    let mut service = None;
    for line in thresholds.lines().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("  -> ") {
            let s: &mut Read = &mut out[service.expect("a real inside a service")];
            let real = s.reals.iter_mut().find(|r| r.0 == words[1]).unwrap();
            real.3 = words[2].parse().unwrap();
            real.4 = words[3].parse().unwrap();
        } else {
            service = out
                .iter()
                .position(|s| s.proto == words[0] && s.addr == words[1]);
        }
    }
    out
}

/// What an ldirectord.cf of a NAT, a DR and a tunnel service leaves in rvsd: persistence
/// with a netmask, a quiesced real, thresholds, and an IPv6 service.
fn ldirectord_table() -> Vec<ServiceInfo> {
    vec![
        service(
            tcp("[2001:db8::100]:443"),
            "wlc",
            &[],
            0,
            128,
            &[],
            [0; 5],
            [0; 5],
            &[R::new("[2001:db8::11]:443", Forward::Dr, 1)],
        ),
        service(
            tcp("10.0.0.100:80"),
            "rr",
            &[],
            300,
            24,
            &[],
            [0; 5],
            [0; 5],
            &[
                R {
                    active: 3,
                    ..R::new("10.1.1.11:8080", Forward::Nat, 1)
                },
                R::new("10.1.2.11:8080", Forward::Nat, 0),
            ],
        ),
        service(
            tcp("10.0.0.110:8080"),
            "wrr",
            &[],
            60,
            32,
            &[],
            [0; 5],
            [0; 5],
            &[
                R {
                    upper: 500,
                    lower: 400,
                    ..R::new("10.1.1.11:8080", Forward::Dr, 2)
                },
                R::new("10.1.3.11:8080", Forward::Tun, 1),
            ],
        ),
    ]
}

#[test]
fn listings_read_back_as_configured() {
    let table = ldirectord_table();
    let plain = list::services(&table, &ListFormat::default(), Some(4096));
    let thresholds = ListFormat {
        thresholds: true,
        ..ListFormat::default()
    };
    let thresholds = list::services(&table, &thresholds, Some(4096));
    let real = |a: &str, f, w, u, l| (a.to_string(), f, w, u, l);
    assert_eq!(
        read_as_ldirectord(&plain, &thresholds),
        [
            Read {
                proto: "TCP".into(),
                addr: "10.0.0.100:80".into(),
                scheduler: "rr".into(),
                persistent: Some(300),
                mask: Some("255.255.255.0".into()),
                reals: vec![
                    real("10.1.1.11:8080", "masq", 1, 0, 0),
                    real("10.1.2.11:8080", "masq", 0, 0, 0),
                ],
            },
            Read {
                proto: "TCP".into(),
                addr: "10.0.0.110:8080".into(),
                scheduler: "wrr".into(),
                persistent: Some(60),
                mask: None,
                reals: vec![
                    real("10.1.1.11:8080", "gate", 2, 500, 400),
                    real("10.1.3.11:8080", "ipip", 1, 0, 0),
                ],
            },
            Read {
                proto: "TCP".into(),
                addr: "[2001:db8::100]:443".into(),
                scheduler: "wlc".into(),
                persistent: None,
                mask: None,
                reals: vec![real("[2001:db8::11]:443", "gate", 1, 0, 0)],
            },
        ]
    );
    // Byte for byte, ipvsadm 1.31's layout ("%-4s %s %s", " persistent %u", " mask %s";
    // reals "  -> %-28s %-7s %-6d %-10u %-10u\n", with --thresholds
    // "  -> %-28s %-10u %-10u %-10u %-10u\n").
    assert_eq!(
        plain,
        concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
            "TCP  10.0.0.100:80 rr persistent 300 mask 255.255.255.0\n",
            "  -> 10.1.1.11:8080               Masq    1      3          0         \n",
            "  -> 10.1.2.11:8080               Masq    0      0          0         \n",
            "TCP  10.0.0.110:8080 wrr persistent 60\n",
            "  -> 10.1.1.11:8080               Route   2      0          0         \n",
            "  -> 10.1.3.11:8080               Tunnel  1      0          0         \n",
            "TCP  [2001:db8::100]:443 wlc\n",
            "  -> [2001:db8::11]:443           Route   1      0          0         \n",
        )
    );
    assert_eq!(
        thresholds.lines().nth(7),
        Some("  -> 10.1.1.11:8080               500        400        0          0         ")
    );
}

/// An empty table: ldirectord's first `-L -n` at start, before it adds anything.
#[test]
fn empty_listing_has_the_three_lines_ldirectord_skips() {
    let plain = list::services(&[], &ListFormat::default(), Some(4096));
    assert_eq!(plain.lines().count(), 3);
    assert!(read_as_ldirectord(&plain, &plain).is_empty());
}
