//! Golden tests: every rvsadm listing against text derived by hand from ipvsadm 1.31's printf
//! formats (quoted above each expected text). The fixture (tests/common) is in the daemon's
//! order; listings sort it as ipvsadm does: IPv4 before IPv6, TCP before UDP, then address
//! and port, and reals by address and port.

mod common;

use rvs_ctl::adm::args::ListFormat;
use rvs_ctl::adm::list;
use rvs_ctl::proto::{Protocol, TimeoutsInfo};

fn fmt() -> ListFormat {
    ListFormat::default()
}

/// `-Ln`. Header "IP Virtual Server version %d.%d.%d (size=%d)\n"; service "%-4s %s" (proto,
/// addr; IPv6 as [addr]:port) then " %s" scheduler, " (%s)" flags in bit order
/// (fallback before port), " persistent %u", " mask %s" (dotted for IPv4, "%i" prefix for
/// IPv6); real "  -> %-28s %-7s %-6d %-10u %-10u\n" (trailing blanks kept).
const LN: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port Scheduler Flags\n",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    "TCP  10.0.0.5:443 mh (mh-fallback,mh-port)\n",
    "  -> 192.168.1.20:443             FullNat 1      0          0         \n",
    "TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0\n",
    "  -> 192.168.1.2:80               Masq    1      12         34        \n",
    "  -> 192.168.1.10:8080            FullNat 100    1234567    0         \n",
    "UDP  10.0.0.100:53 rr\n",
    "  -> 192.168.1.3:53               Route   0      0          7         \n",
    "TCP  [2001:db8::100]:443 sh (sh-fallback,sh-port) persistent 1800 mask 64\n",
    "  -> [2001:db8::11]:443           Route   2      5          6         \n",
    "  -> [2001:db8::12]:443           Tunnel  3      0          0         \n",
);

/// `--stats`: title "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n"; service "%-33s",
/// real "  -> %-28s", each followed by five print_largenum: "%9llu" below 10^8, else
/// "%8lluK" (/10^3) below 10^9, "%8lluM" (/10^6) below 10^11, "%8lluG" (/10^9) below 10^14,
/// else "%8lluT" (/10^12).
const STATS: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
    "  -> RemoteAddress:Port\n",
    "TCP  10.0.0.5:443                        0        0        0        0        0\n",
    "  -> 192.168.1.20:443                    0        0        0        0        0\n",
    "TCP  10.0.0.100:80                     123  123456K 99999999   12345M     123T\n",
    "  -> 192.168.1.2:80                    100      200      300      400      500\n",
    "  -> 192.168.1.10:8080               5000G        0        1  100000K        0\n",
    "UDP  10.0.0.100:53                       0        0        0        0        0\n",
    "  -> 192.168.1.3:53                      0        0        0        0        0\n",
    "TCP  [2001:db8::100]:443                 1        2        3        4        5\n",
    "  -> [2001:db8::11]:443                  1        1        1        1        1\n",
    "  -> [2001:db8::12]:443                  0        0        0        0        0\n",
);

/// `--stats --exact`: print_largenum prints "%*llu" with width 9, or digits + 1 when longer.
const STATS_EXACT: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
    "  -> RemoteAddress:Port\n",
    "TCP  10.0.0.5:443                        0        0        0        0        0\n",
    "  -> 192.168.1.20:443                    0        0        0        0        0\n",
    "TCP  10.0.0.100:80                     123 123456789 99999999 12345678901 123456789012345\n",
    "  -> 192.168.1.2:80                    100      200      300      400      500\n",
    "  -> 192.168.1.10:8080            5000000000000        0        1 100000000        0\n",
    "UDP  10.0.0.100:53                       0        0        0        0        0\n",
    "  -> 192.168.1.3:53                      0        0        0        0        0\n",
    "TCP  [2001:db8::100]:443                 1        2        3        4        5\n",
    "  -> [2001:db8::11]:443                  1        1        1        1        1\n",
    "  -> [2001:db8::12]:443                  0        0        0        0        0\n",
);

/// `--rate`: title as --stats with CPS InPPS OutPPS InBPS OutBPS; service "%-33s" + five
/// print_largenum; real "  -> %-28s %8llu %8llu %8llu" (no suffixes) + print_largenum for the
/// two byte rates.
const RATE: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
    "  -> RemoteAddress:Port\n",
    "TCP  10.0.0.5:443                        0        0        0        0        0\n",
    "  -> 192.168.1.20:443                    0        0        0        0        0\n",
    "TCP  10.0.0.100:80                       7  100000K       42  999999K    1000M\n",
    "  -> 192.168.1.2:80                      1        2        3        4        5\n",
    "  -> 192.168.1.10:8080            123456789        0        0     100T        0\n",
    "UDP  10.0.0.100:53                       0        0        0        0        0\n",
    "  -> 192.168.1.3:53                      0        0        0        0        0\n",
    "TCP  [2001:db8::100]:443                 0        0        0        0        0\n",
    "  -> [2001:db8::11]:443                  0        0        0        0        0\n",
    "  -> [2001:db8::12]:443                  0        0        0        0        0\n",
);

/// `--rate --exact`.
const RATE_EXACT: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
    "  -> RemoteAddress:Port\n",
    "TCP  10.0.0.5:443                        0        0        0        0        0\n",
    "  -> 192.168.1.20:443                    0        0        0        0        0\n",
    "TCP  10.0.0.100:80                       7 100000000       42 999999999 1000000000\n",
    "  -> 192.168.1.2:80                      1        2        3        4        5\n",
    "  -> 192.168.1.10:8080            123456789        0        0 100000000000000        0\n",
    "UDP  10.0.0.100:53                       0        0        0        0        0\n",
    "  -> 192.168.1.3:53                      0        0        0        0        0\n",
    "TCP  [2001:db8::100]:443                 0        0        0        0        0\n",
    "  -> [2001:db8::11]:443                  0        0        0        0        0\n",
    "  -> [2001:db8::12]:443                  0        0        0        0        0\n",
);

/// `--thresholds`: title "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n"; service
/// lines as -Ln; real "  -> %-28s %-10u %-10u %-10u %-10u\n" (upper, lower, active, inactive).
const THRESHOLDS: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n",
    "  -> RemoteAddress:Port\n",
    "TCP  10.0.0.5:443 mh (mh-fallback,mh-port)\n",
    "  -> 192.168.1.20:443             0          0          0          0         \n",
    "TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0\n",
    "  -> 192.168.1.2:80               0          0          12         34        \n",
    "  -> 192.168.1.10:8080            5000       4000       1234567    0         \n",
    "UDP  10.0.0.100:53 rr\n",
    "  -> 192.168.1.3:53               0          0          0          7         \n",
    "TCP  [2001:db8::100]:443 sh (sh-fallback,sh-port) persistent 1800 mask 64\n",
    "  -> [2001:db8::11]:443           0          0          5          6         \n",
    "  -> [2001:db8::12]:443           0          0          0          0         \n",
);

/// `--persistent-conn`: title "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n";
/// real "  -> %-28s %-9u %-11u %-10u %-10u\n" (weight, templates, active, inactive).
const PERSISTENT_CONN: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n",
    "  -> RemoteAddress:Port\n",
    "TCP  10.0.0.5:443 mh (mh-fallback,mh-port)\n",
    "  -> 192.168.1.20:443             1         0           0          0         \n",
    "TCP  10.0.0.100:80 wlc persistent 360 mask 255.255.255.0\n",
    "  -> 192.168.1.2:80               1         3           12         34        \n",
    "  -> 192.168.1.10:8080            100       0           1234567    0         \n",
    "UDP  10.0.0.100:53 rr\n",
    "  -> 192.168.1.3:53               0         0           0          7         \n",
    "TCP  [2001:db8::100]:443 sh (sh-fallback,sh-port) persistent 1800 mask 64\n",
    "  -> [2001:db8::11]:443           2         0           5          6         \n",
    "  -> [2001:db8::12]:443           3         0           0          0         \n",
);

/// `-Lnc`: "IPVS connection entries\n", "pro expire %-11s %-18s %-18s %s\n", rows
/// "%-3s %-6s %-11s %-18s %-18s %s\n" with expire "%02d:%02d" (minutes, seconds).
const CONNS_PLAIN: &str = concat!(
    "IPVS connection entries\n",
    "pro expire state       source             virtual            destination\n",
    "TCP 14:59  ESTABLISHED 203.0.113.7:51000  10.0.0.100:80      192.168.1.2:80\n",
    "UDP 00:05  UDP         203.0.113.8:5353   10.0.0.100:53      192.168.1.3:53\n",
    "TCP 01:00  SYN_RECV    [2001:db8:ff::1]:40000 [2001:db8::100]:443 [2001:db8::11]:443\n",
);

/// `-Lnc` with a FULLNAT connection: a "%-18s" local column before the destination
/// ("-" for connections without one), as DPVS orders source, virtual, local, destination.
const CONNS_FULLNAT: &str = concat!(
    "IPVS connection entries\n",
    "pro expire state       source             virtual            local              destination\n",
    "TCP 14:59  ESTABLISHED 203.0.113.7:51000  10.0.0.100:80      -                  192.168.1.2:80\n",
    "UDP 00:05  UDP         203.0.113.8:5353   10.0.0.100:53      -                  192.168.1.3:53\n",
    "TCP 01:00  SYN_RECV    [2001:db8:ff::1]:40000 [2001:db8::100]:443 -                  [2001:db8::11]:443\n",
    "TCP 100:00 ESTABLISHED 203.0.113.9:1234   10.0.0.100:80      10.1.0.2:1025      192.168.1.10:8080\n",
);

/// `-Lnc --persistent-conn`: title "pro expire %-11s %-18s %-18s %-18s %-16s %s\n" with
/// "pe name" and "pe_data"; rows without persistence-engine data keep the plain form.
const CONNS_PC: &str = concat!(
    "IPVS connection entries\n",
    "pro expire state       source             virtual            destination        pe name          pe_data\n",
    "TCP 14:59  ESTABLISHED 203.0.113.7:51000  10.0.0.100:80      192.168.1.2:80\n",
    "UDP 00:05  UDP         203.0.113.8:5353   10.0.0.100:53      192.168.1.3:53\n",
    "TCP 01:00  SYN_RECV    [2001:db8:ff::1]:40000 [2001:db8::100]:443 [2001:db8::11]:443\n",
);

/// `-G` (DPVS): title "%-20s %-8s %s\n", service "%-20s %-8u \n", address "%-20s %-8s %s\n".
const LADDRS: &str = concat!(
    "VIP:VPORT            TOTAL    LADDR\n",
    "10.0.0.5:443         1        \n",
    "                              10.1.0.9\n",
    "10.0.0.100:80        2        \n",
    "                              10.1.0.2\n",
    "                              10.1.0.3\n",
    "10.0.0.100:53        0        \n",
    "[2001:db8::100]:443  0        \n",
);

#[test]
fn list_numeric() {
    assert_eq!(list::services(&common::table(), &fmt(), Some(4096)), LN);
}

#[test]
fn list_stats_suffixes() {
    let f = ListFormat {
        stats: true,
        ..fmt()
    };
    assert_eq!(list::services(&common::table(), &f, Some(4096)), STATS);
}

#[test]
fn list_stats_exact() {
    let f = ListFormat {
        stats: true,
        exact: true,
        ..fmt()
    };
    assert_eq!(
        list::services(&common::table(), &f, Some(4096)),
        STATS_EXACT
    );
}

#[test]
fn list_rate() {
    let f = ListFormat {
        rate: true,
        ..fmt()
    };
    assert_eq!(list::services(&common::table(), &f, Some(4096)), RATE);
}

#[test]
fn list_rate_exact() {
    let f = ListFormat {
        rate: true,
        exact: true,
        ..fmt()
    };
    assert_eq!(list::services(&common::table(), &f, Some(4096)), RATE_EXACT);
}

#[test]
fn stats_win_over_rate_as_in_ipvsadm() {
    let f = ListFormat {
        stats: true,
        rate: true,
        ..fmt()
    };
    assert_eq!(list::services(&common::table(), &f, Some(4096)), STATS);
}

#[test]
fn list_thresholds() {
    let f = ListFormat {
        thresholds: true,
        ..fmt()
    };
    assert_eq!(list::services(&common::table(), &f, Some(4096)), THRESHOLDS);
}

#[test]
fn list_persistent_conn() {
    let f = ListFormat {
        persistent_conn: true,
        ..fmt()
    };
    assert_eq!(
        list::services(&common::table(), &f, Some(4096)),
        PERSISTENT_CONN
    );
}

/// `-L -t VIP:PORT` prints the title and the one service, without the version line.
#[test]
fn list_one_service() {
    let table = common::table();
    let one: Vec<_> = table
        .iter()
        .filter(|s| s.spec.key == common::key(Protocol::Udp, "10.0.0.100:53"))
        .cloned()
        .collect();
    let expected = concat!(
        "Prot LocalAddress:Port Scheduler Flags\n",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        "UDP  10.0.0.100:53 rr\n",
        "  -> 192.168.1.3:53               Route   0      0          7         \n",
    );
    assert_eq!(list::services(&one, &fmt(), None), expected);
}

/// A one-packet service lists " ops" after the persistence, as ipvsadm 1.31's
/// `if (flags & IP_VS_SVC_F_ONEPACKET) printf(" ops")`; `twos` is listed by name.
#[test]
fn list_one_packet_twos_service() {
    let mut table = common::table();
    let udp = table
        .iter_mut()
        .find(|s| s.spec.key == common::key(Protocol::Udp, "10.0.0.100:53"))
        .unwrap();
    udp.spec.scheduler = "twos".into();
    udp.spec.one_packet = true;
    let one = vec![udp.clone()];
    let expected = concat!(
        "Prot LocalAddress:Port Scheduler Flags\n",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        "UDP  10.0.0.100:53 twos ops\n",
        "  -> 192.168.1.3:53               Route   0      0          7         \n",
    );
    assert_eq!(list::services(&one, &fmt(), None), expected);
    let udp = &mut table
        .iter_mut()
        .find(|s| s.spec.key == common::key(Protocol::Udp, "10.0.0.100:53"))
        .unwrap()
        .spec;
    (udp.persistence, udp.netmask) = (60, 16);
    let text = list::services(&table, &fmt(), Some(4096));
    assert!(
        text.contains("UDP  10.0.0.100:53 twos persistent 60 mask 255.255.0.0 ops\n"),
        "{text}"
    );
}

/// `--nosort` keeps the daemon's order.
#[test]
fn list_nosort() {
    let f = ListFormat {
        nosort: true,
        ..fmt()
    };
    let text = list::services(&common::table(), &f, Some(4096));
    let services: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("TCP") || l.starts_with("UDP"))
        .map(|l| l.split(' ').nth(2).unwrap_or_default())
        .collect();
    assert_eq!(
        services,
        [
            "[2001:db8::100]:443",
            "10.0.0.100:53",
            "10.0.0.100:80",
            "10.0.0.5:443"
        ]
    );
}

#[test]
fn list_empty_table() {
    let expected = concat!(
        "IP Virtual Server version 1.2.1 (size=4096)\n",
        "Prot LocalAddress:Port Scheduler Flags\n",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    );
    assert_eq!(list::services(&[], &fmt(), Some(4096)), expected);
    // The size is the director's connection capacity, whatever it is.
    assert!(list::services(&[], &fmt(), Some(2 * 1_048_576))
        .starts_with("IP Virtual Server version 1.2.1 (size=2097152)\n"));
}

/// "Timeout (tcp tcpfin udp): %d %d %d\n"
#[test]
fn list_timeouts() {
    let t = TimeoutsInfo {
        tcp: 900,
        tcpfin: 120,
        udp: 300,
    };
    assert_eq!(
        list::timeouts(&t),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
}

#[test]
fn list_conns_without_local_addresses() {
    assert_eq!(list::conns(&common::conns_plain(), &fmt()), CONNS_PLAIN);
}

#[test]
fn list_conns_with_local_addresses() {
    assert_eq!(list::conns(&common::conns_fullnat(), &fmt()), CONNS_FULLNAT);
}

#[test]
fn list_conns_persistent_conn_title() {
    let f = ListFormat {
        persistent_conn: true,
        ..fmt()
    };
    assert_eq!(list::conns(&common::conns_plain(), &f), CONNS_PC);
}

#[test]
fn list_laddrs() {
    assert_eq!(list::laddrs(&common::table(), false), LADDRS);
    assert_eq!(list::laddrs(&[], false), "");
}

/// print_largenum at each boundary.
#[test]
fn largenum_boundaries() {
    let cases: [(u64, &str); 10] = [
        (0, "        0"),
        (99_999_999, " 99999999"),
        (100_000_000, "  100000K"),
        (999_999_999, "  999999K"),
        (1_000_000_000, "    1000M"),
        (99_999_999_999, "   99999M"),
        (100_000_000_000, "     100G"),
        (99_999_999_999_999, "   99999G"),
        (100_000_000_000_000, "     100T"),
        (u64::MAX, "18446744T"),
    ];
    for (n, text) in cases {
        assert_eq!(list::largenum(n, false), text, "{n}");
    }
    assert_eq!(list::largenum(12_345_678, true), " 12345678");
    assert_eq!(list::largenum(123_456_789, true), " 123456789");
    assert_eq!(list::largenum(u64::MAX, true), " 18446744073709551615");
}

/// `-Ln --tun-info`: title "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port
/// Forward TunnelInfo    Weight ActiveConn InActConn\n"; real "  -> %-28s %-7s %-13s %-6d
/// %-10u %-10u\n" with `fwd_tun_info`: "ipip", "gue:%d:%s", "gre:%s" (flags "-c", "+c",
/// "r+c"), "n/a" for a real that is not a tunnel.
#[test]
fn tun_info_listing() {
    use rvs_ctl::proto::{Forward, TunCsum, TunType, TunnelSpec};
    let mut svc = common::service(
        common::key(Protocol::Tcp, "10.0.0.100:80"),
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
            common::R::new("10.1.0.14:80", Forward::Tun, 4),
            common::R::new("10.1.0.15:8080", Forward::Nat, 5),
        ],
    );
    let t = |kind, port, csum| TunnelSpec { kind, port, csum };
    svc.reals[1].spec.tunnel = t(TunType::Gue, 6080, TunCsum::Nocsum);
    svc.reals[2].spec.tunnel = t(TunType::Gue, 65535, TunCsum::Remcsum);
    svc.reals[3].spec.tunnel = t(TunType::Gre, 0, TunCsum::Csum);
    svc.reals[3].active = 12;
    let format = ListFormat {
        tun_info: true,
        ..fmt()
    };
    assert_eq!(
        list::services(&[svc.clone()], &format, Some(4096)),
        concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n",
            "TCP  10.0.0.100:80 rr\n",
            "  -> 10.1.0.11:80                 Tunnel  ipip          1      0          0         \n",
            "  -> 10.1.0.12:80                 Tunnel  gue:6080:-c   2      0          0         \n",
            "  -> 10.1.0.13:80                 Tunnel  gue:65535:r+c 3      0          0         \n",
            "  -> 10.1.0.14:80                 Tunnel  gre:+c        4      12         0         \n",
            "  -> 10.1.0.15:8080               Masq    n/a           5      0          0         \n",
        )
    );
    // Without --tun-info the listing is ipvsadm's plain one.
    let plain = list::services(&[svc], &fmt(), None);
    assert!(
        plain.contains("  -> 10.1.0.12:80                 Tunnel  2      0          0         \n")
    );
}
