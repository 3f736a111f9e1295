//! Firewall-mark services through rvsadm: `-A -f N` (and `-6`), `-a/-e/-d -f N -r ...`,
//! `-E`, `-D`; listed as ipvsadm 1.31 prints them (`FWM  N`, `FWM  N IPv6`, after the
//! addressed services, by mark); saved as `-A -f N ...` (`-f N -6`) and restored.

mod common;

use rvs_ctl::adm::address::SystemNames;
use rvs_ctl::adm::args::{self, Action, ListFormat, Parsed};
use rvs_ctl::adm::list;
use rvs_ctl::adm::restore::parse_restore;
use rvs_ctl::adm::save::save;
use rvs_ctl::proto::{Change, Forward, Protocol, ServiceKey};

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

fn refusal(line: &str) -> String {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    match args::parse(&words, &SystemNames) {
        Err(e) => {
            assert_eq!(e.status, 2, "{line}");
            e.message
        }
        Ok(other) => panic!("{line}: accepted as {other:?}"),
    }
}

/// A table with an addressed service and three mark services, in the daemon's order.
fn table() -> Vec<rvs_ctl::proto::ServiceInfo> {
    let mut m2 = common::service(
        ServiceKey::fwmark(2, false),
        "rr",
        &[],
        300,
        24,
        &[],
        [0; 5],
        [0; 5],
        &[
            common::R::new("10.1.1.12:0", Forward::Nat, 1),
            common::R::new("10.1.1.11:0", Forward::Nat, 2),
        ],
    );
    m2.reals[0].active = 3;
    let m1v6 = common::service(
        ServiceKey::fwmark(1, true),
        "wlc",
        &[],
        0,
        128,
        &[],
        [0; 5],
        [0; 5],
        &[common::R::new("[2001:db8:1::11]:0", Forward::Dr, 1)],
    );
    let m1 = common::service(
        ServiceKey::fwmark(1, false),
        "sh",
        &["sh-port"],
        0,
        32,
        &[],
        [0; 5],
        [0; 5],
        &[common::R::new("10.1.1.13:8080", Forward::Nat, 1)],
    );
    let plain = common::service(
        common::key(Protocol::Tcp, "10.0.0.100:80"),
        "wlc",
        &[],
        0,
        32,
        &[],
        [0; 5],
        [0; 5],
        &[common::R::new("192.168.1.2:80", Forward::Nat, 1)],
    );
    vec![m2, m1v6, plain, m1]
}

#[test]
fn mark_services_list_byte_exact() {
    let expected = concat!(
        "Prot LocalAddress:Port Scheduler Flags\n",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        "TCP  10.0.0.100:80 wlc\n",
        "  -> 192.168.1.2:80               Masq    1      0          0         \n",
        "FWM  1 sh (sh-port)\n",
        "  -> 10.1.1.13:8080               Masq    1      0          0         \n",
        "FWM  1 IPv6 wlc\n",
        "  -> [2001:db8:1::11]:0           Route   1      0          0         \n",
        "FWM  2 rr persistent 300 mask 255.255.255.0\n",
        "  -> 10.1.1.11:0                  Masq    2      0          0         \n",
        "  -> 10.1.1.12:0                  Masq    1      3          0         \n",
    );
    assert_eq!(
        list::services(&table(), &ListFormat::default(), None),
        expected
    );
    // --stats pads the name to 33 columns as for an address.
    let stats = ListFormat {
        stats: true,
        ..ListFormat::default()
    };
    let text = list::services(&table()[..1], &stats, None);
    assert!(
        text.contains(&format!("{:<33}{:>9}", "FWM  2", 0)),
        "{text}"
    );
}

const SAVED: &str = concat!(
    "-A -t 10.0.0.100:80 -s wlc\n",
    "-a -t 10.0.0.100:80 -r 192.168.1.2:80 -m -w 1\n",
    "-A -f 1 -s sh -b sh-port\n",
    "-a -f 1 -r 10.1.1.13:8080 -m -w 1\n",
    "-A -f 1 -6 -s wlc\n",
    "-a -f 1 -6 -r [2001:db8:1::11]:0 -g -w 1\n",
    "-A -f 2 -s rr -p 300 -M 255.255.255.0\n",
    "-a -f 2 -r 10.1.1.11:0 -m -w 2\n",
    "-a -f 2 -r 10.1.1.12:0 -m -w 1\n",
);

#[test]
fn mark_services_save_and_restore() {
    assert_eq!(save(&table()), SAVED);
    let changes = parse_restore(SAVED, &SystemNames)
        .expect("-S output restores")
        .changes;
    assert_eq!(changes.len(), 9);
    let Change::AddService(spec) = &changes[6] else {
        panic!("{:?}", changes[6]);
    };
    assert_eq!(spec.key, ServiceKey::fwmark(2, false));
    assert_eq!((spec.persistence, spec.netmask), (300, 24));
    let Change::AddReal { service, real } = &changes[5] else {
        panic!("{:?}", changes[5]);
    };
    assert_eq!(*service, ServiceKey::fwmark(1, true));
    assert_eq!(real.addr, "[2001:db8:1::11]:0".parse().unwrap());
}

#[test]
fn every_command_takes_a_mark() {
    let k = ServiceKey::fwmark(7, false);
    assert!(
        matches!(change("-E -f 7 -s rr -p"), Change::EditService(s) if s.key == k && s.persistence == 360)
    );
    assert_eq!(change("-D -f 7"), Change::DeleteService(k));
    assert!(
        matches!(change("-e -f 7 -r 10.1.0.11:80 -m -w 3"), Change::EditReal { service, real } if service == k && real.weight == 3)
    );
    assert_eq!(
        change("-d -f 7 -r 10.1.0.11"),
        Change::DeleteReal {
            service: k,
            addr: "10.1.0.11:0".parse().unwrap()
        }
    );
    assert!(
        matches!(change("--add-service --fwmark-service=16777215"), Change::AddService(s) if s.key.mark() == Some(16_777_215))
    );
    // A port-0 service needs no persistence in rvs (ipvsadm refuses it without -p).
    assert!(
        matches!(change("-A -t 10.0.0.1:0"), Change::AddService(s) if s.key.addr.port() == 0 && s.persistence == 0)
    );
}

#[test]
fn bad_marks_are_refused() {
    assert_eq!(refusal("-A -f 0"), "invalid fwmark value `0' specified");
    assert_eq!(refusal("-A -f x1"), "invalid fwmark value `x1' specified");
    assert_eq!(
        refusal("-A -f 16777216"),
        "rvs takes firewall marks 1..=16777215, not 16777216"
    );
    assert_eq!(refusal("-A -6 -t 10.0.0.1:80"), "-6 used before -f");
    assert_eq!(
        refusal("-A -f 1 -t 10.0.0.1:80"),
        "multiple 'service-address' options specified"
    );
}

#[test]
fn a_mark_key_is_never_an_address_key() {
    for m in [1, 2, 16_777_215] {
        for v6 in [false, true] {
            assert_eq!(ServiceKey::fwmark(m, v6).mark(), Some(m));
        }
    }
    for addr in ["10.0.0.1:0", "0.0.0.0:0", "0.0.0.1:80", "[::1]:0"] {
        assert_eq!(common::key(Protocol::Tcp, addr).mark(), None, "{addr}");
    }
    assert_eq!(common::key(Protocol::Udp, "0.0.0.1:0").mark(), None);
}
