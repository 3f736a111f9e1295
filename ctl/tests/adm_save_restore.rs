//! `-S` output pinned to ipvsadm's save formats, and `-S` fed back through the `-R` parser
//! giving the changes that rebuild the same table (IPv4 and IPv6, persistence and masks,
//! scheduler flags, thresholds, FULLNAT local addresses, tunnels).

mod common;

use rvs_ctl::adm::address::SystemNames;
use rvs_ctl::adm::list::{sorted_reals, sorted_services};
use rvs_ctl::adm::restore::parse_restore;
use rvs_ctl::adm::save::save;
use rvs_ctl::adm::sched_flags;
use rvs_ctl::proto::{Change, ServiceInfo};

/// ipvsadm's rule formats: "-A %s -s %s", then " -p %u", " -M %s" (dotted for IPv4, "%i" for
/// IPv6) when persistent, " -b %s" scheduler flags; reals "-a %s -r %s %s -w %d"; service
/// as "-t|-u addr:port" ([addr]:port for IPv6). rvs's additions: "-P %s -z %s" per local
/// address between the service and its reals, " -x %u -y %u" when a threshold is set, and
/// "-b" for a FULLNAT real. A tunnel real as ipvsadm 1.31's `print_tunnel_rule` writes it:
/// " --tun-type %s" always (ipip too), then for gue " --tun-port %d %s" and for gre " %s"
/// with the checksum option.
const SAVED: &str = concat!(
    "-A -t 10.0.0.5:443 -s mh -b mh-fallback,mh-port\n",
    "-P -t 10.0.0.5:443 -z 10.1.0.9\n",
    "-a -t 10.0.0.5:443 -r 192.168.1.20:443 -b -w 1\n",
    "-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0\n",
    "-P -t 10.0.0.100:80 -z 10.1.0.2\n",
    "-P -t 10.0.0.100:80 -z 10.1.0.3\n",
    "-a -t 10.0.0.100:80 -r 192.168.1.2:80 -m -w 1\n",
    "-a -t 10.0.0.100:80 -r 192.168.1.10:8080 -b -w 100 -x 5000 -y 4000\n",
    "-A -u 10.0.0.100:53 -s rr\n",
    "-a -u 10.0.0.100:53 -r 192.168.1.3:53 -g -w 0\n",
    "-A -t [2001:db8::100]:443 -s sh -p 1800 -M 64 -b sh-fallback,sh-port\n",
    "-a -t [2001:db8::100]:443 -r [2001:db8::11]:443 -g -w 2\n",
    "-a -t [2001:db8::100]:443 -r [2001:db8::12]:443 -i -w 3 --tun-type ipip\n",
);

#[test]
fn save_numeric() {
    assert_eq!(save(&common::table()), SAVED);
    assert_eq!(save(&[]), "");
}

/// The changes that rebuild `table`, in `-S` order.
fn rebuild(table: &[ServiceInfo]) -> Vec<Change> {
    let mut changes = Vec::new();
    for service in sorted_services(table, false) {
        let mut spec = service.spec.clone();
        spec.flags = sched_flags::canonical(&spec.scheduler, &spec.flags);
        let key = spec.key;
        changes.push(Change::AddService(spec));
        for addr in &service.laddrs {
            changes.push(Change::AddLaddr {
                service: key,
                addr: *addr,
            });
        }
        for real in sorted_reals(service, false) {
            changes.push(Change::AddReal {
                service: key,
                real: real.spec,
            });
        }
    }
    changes
}

/// A one-packet service: ipvsadm 1.31's rule format writes its listing word, `" ops"`,
/// after the persistence and before `-b`; rvsadm's `-R` takes the word back as `-o`.
#[test]
fn one_packet_twos_service_saves_and_restores() {
    let mut svc = common::service(
        common::key(rvs_ctl::proto::Protocol::Udp, "10.0.0.100:53"),
        "twos",
        &[],
        300,
        24,
        &[],
        [0; 5],
        [0; 5],
        &[common::R::new(
            "192.168.1.3:53",
            rvs_ctl::proto::Forward::Dr,
            2,
        )],
    );
    svc.spec.one_packet = true;
    let table = vec![svc];
    let saved = save(&table);
    assert_eq!(
        saved,
        concat!(
            "-A -u 10.0.0.100:53 -s twos -p 300 -M 255.255.255.0 ops\n",
            "-a -u 10.0.0.100:53 -r 192.168.1.3:53 -g -w 2\n",
        )
    );
    let restored = parse_restore(&saved, &SystemNames)
        .expect("-S output must restore")
        .changes;
    assert_eq!(restored, rebuild(&table));
    // Without persistence the word follows the scheduler.
    let mut plain = table;
    plain[0].spec.persistence = 0;
    plain[0].spec.netmask = 32;
    let saved = save(&plain);
    assert!(
        saved.starts_with("-A -u 10.0.0.100:53 -s twos ops\n"),
        "{saved}"
    );
    let restored = parse_restore(&saved, &SystemNames).unwrap().changes;
    assert_eq!(restored, rebuild(&plain));
}

#[test]
fn save_then_restore_gives_the_same_changes() {
    let table = common::table();
    let restored = parse_restore(&save(&table), &SystemNames)
        .expect("-S output must restore")
        .changes;
    assert_eq!(restored, rebuild(&table));
    assert_eq!(restored.len(), 13);
}

#[test]
fn restore_skips_blank_and_comment_lines_and_takes_every_change() {
    let text = "\n# saved by hand\n-C\n--set 900 120 300\n  -A -t 10.0.0.1:80 -s rr  \n-E -t 10.0.0.1:80 -s wrr\n-e -t 10.0.0.1:80 -r 10.1.1.1 -m\n-d -t 10.0.0.1:80 -r 10.1.1.1\n-Q -t 10.0.0.1:80 -z 10.2.0.1\n-D -t 10.0.0.1:80\n";
    let changes = parse_restore(text, &SystemNames).unwrap().changes;
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| match c {
            Change::Clear => "clear",
            Change::SetTimeouts(_) => "set",
            Change::AddService(_) => "add-service",
            Change::EditService(_) => "edit-service",
            Change::EditReal { .. } => "edit-real",
            Change::DeleteReal { .. } => "delete-real",
            Change::DeleteLaddr { .. } => "delete-laddr",
            Change::DeleteService(_) => "delete-service",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "clear",
            "set",
            "add-service",
            "edit-service",
            "edit-real",
            "delete-real",
            "delete-laddr",
            "delete-service"
        ]
    );
}

#[test]
fn restore_names_the_bad_line() {
    let e = parse_restore("-A -t 10.0.0.1:80\n\n-a -t 10.0.0.1:80\n", &SystemNames).unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(
        e.to_string(),
        "line 3: You need to supply the 'real-server' option for the 'add-server' command"
    );
    for (text, line) in [
        ("-L -n\n", 1),
        ("-C\n-S\n", 2),
        ("-C\n-R\n", 2),
        ("-C\n-Z\n", 2),
        ("-C\n-G\n", 2),
    ] {
        assert_eq!(
            parse_restore(text, &SystemNames).unwrap_err().line,
            line,
            "{text:?}"
        );
    }
}

/// A service of tunnel reals of every kind, and a NAT real beside them.
fn tunnel_table() -> Vec<ServiceInfo> {
    use rvs_ctl::proto::{Forward, TunCsum, TunType, TunnelSpec};
    let mut svc = common::service(
        common::key(rvs_ctl::proto::Protocol::Tcp, "10.0.0.100:80"),
        "rr",
        &[],
        0,
        32,
        &[],
        [0; 5],
        [0; 5],
        &[
            common::R::new("10.1.0.11:80", Forward::Tun, 1),
            common::R::new("10.1.0.12:80", Forward::Tun, 2),
            common::R::new("10.1.0.13:80", Forward::Tun, 3),
            common::R::new("[2001:db8::14]:80", Forward::Tun, 4),
            common::R::new("10.1.0.15:8080", Forward::Nat, 5),
        ],
    );
    let t = |kind, port, csum| TunnelSpec { kind, port, csum };
    svc.reals[1].spec.tunnel = t(TunType::Gue, 6080, TunCsum::Nocsum);
    svc.reals[2].spec.tunnel = t(TunType::Gue, 6081, TunCsum::Remcsum);
    svc.reals[3].spec.tunnel = t(TunType::Gre, 0, TunCsum::Csum);
    svc.reals[4].spec.upper = 7;
    vec![svc]
}

/// ipvsadm 1.31's `print_tunnel_rule`: "-a %s -r %s %s -w %d --tun-type %s" for ipip,
/// "... --tun-type %s --tun-port %d %s" for gue, "... --tun-type %s %s" for gre, the last
/// `%s` being `--tun-nocsum`, `--tun-csum` or `--tun-remcsum`; other reals unchanged.
#[test]
fn tunnel_reals_save_as_ipvsadm_and_restore() {
    let table = tunnel_table();
    let saved = save(&table);
    assert_eq!(
        saved,
        concat!(
            "-A -t 10.0.0.100:80 -s rr\n",
            "-a -t 10.0.0.100:80 -r 10.1.0.11:80 -i -w 1 --tun-type ipip\n",
            "-a -t 10.0.0.100:80 -r 10.1.0.12:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-nocsum\n",
            "-a -t 10.0.0.100:80 -r 10.1.0.13:80 -i -w 3 --tun-type gue --tun-port 6081 --tun-remcsum\n",
            "-a -t 10.0.0.100:80 -r 10.1.0.15:8080 -m -w 5 -x 7 -y 0\n",
            "-a -t 10.0.0.100:80 -r [2001:db8::14]:80 -i -w 4 --tun-type gre --tun-csum\n",
        )
    );
    let restored = parse_restore(&saved, &SystemNames)
        .expect("-S output must restore")
        .changes;
    assert_eq!(restored, rebuild(&table));
}
