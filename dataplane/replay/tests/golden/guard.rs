//! Guarded services: allow and deny lists over IPv4 and IPv6 with overlapping prefixes,
//! limits on new and open connections over simulated time (exact admitted counts), a
//! full limit table, the RST answering a refused SYN, and reloads that leave established
//! connections alone (or not, with `acl_drop_established`).

use std::collections::BTreeSet;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::frames::*;
use crate::lab::{self, Lab};
use crate::scenarios::Scenario;
use rvs_packet::drop::DropReason;

/// The guard scenarios, each returning the drop reasons its labs counted.
pub const ALL: [(&str, Scenario); 4] = [
    ("allow and deny", allow_and_deny),
    ("new connection rates", rates),
    ("open connections and a full table", open_conns_and_overflow),
    ("reload and established connections", reload),
];

/// The id the first service appended to the fixture gets (the fixture has 15).
const FIRST_ADDED: usize = 15;

/// The fixture with a NAT service on port 90 of both VIPs, `keys` added to each.
fn with_guard(keys: &str) -> String {
    let mut text = lab::config_text(lab::DEFAULT_CAPACITY);
    for (vip, real) in [
        ("10.0.0.100", "10.1.0.11"),
        ("2001:db8::100", "2001:db8:1::11"),
    ] {
        text.push_str(&format!(
            "\n[[service]]\nproto = \"tcp\"\nvip = \"{vip}\"\nport = 90\nscheduler = \"rr\"\n\
             {keys}\n[[service.real]]\nip = \"{real}\"\nport = 8080\nforward = \"nat\"\n"
        ));
    }
    text
}

fn v4_syn(client: [u8; 4], sport: u16) -> Vec<u8> {
    v4_tcp(GW, WAN, client, VIP, sport, 90, SYN, 64)
}

fn v6_syn(client: [u8; 16], sport: u16) -> Vec<u8> {
    v6_tcp(C6_MAC, WAN, client, VIP6, sport, 90, SYN, 64)
}

/// Whether the packet reached the real (one frame out on lan0).
fn forwarded(out: &[(&str, Vec<u8>)]) -> bool {
    matches!(out, [("lan0", _)])
}

/// Deny wins over allow; an allow list admits only what it names, in either family;
/// overlapping and nested prefixes of either list combine.
pub fn allow_and_deny() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&with_guard(
        r#"allow = ["198.51.100.0/24", "198.51.100.0/25", "2001:db8::/64", "2001:db8::c0/122"]
deny = ["198.51.100.16/28", "198.51.100.20/30", "2001:db8::c0/124", "2001:db8::/120"]"#,
    ));
    let v4 = [
        ([198, 51, 100, 10], true),
        ([198, 51, 100, 16], false),
        ([198, 51, 100, 20], false),
        ([198, 51, 100, 31], false),
        ([198, 51, 100, 32], true),
        ([198, 51, 100, 255], true),
        ([198, 51, 101, 1], false),
        ([198, 51, 99, 255], false),
    ];
    for (i, (client, admitted)) in v4.into_iter().enumerate() {
        let out = lab.send("wan0", &v4_syn(client, 40000 + i as u16));
        assert_eq!(forwarded(&out), admitted, "{client:?}: {out:?}");
    }
    let v6_cases = [
        (v6(0, 0xc1), false), // in the denied /124 (and in 2001:db8::/120)
        (v6(0, 0x1c1), true), // in the /64, past the denied /120
        (v6(0, 0xff), false), // in 2001:db8::/120
        (v6(0, 0x101), true), // past it (::100 is the VIP)
        (v6(5, 1), false),    // outside every allow prefix
    ];
    for (i, (client, admitted)) in v6_cases.into_iter().enumerate() {
        let out = lab.send("wan0", &v6_syn(client, 41000 + i as u16));
        assert_eq!(forwarded(&out), admitted, "{client:?}: {out:?}");
    }
    assert_eq!(lab.drop_count(DropReason::AclDenied), 5 + 3);
    let t = lab.service_traffic();
    assert_eq!((t[FIRST_ADDED].acl_denied, t[FIRST_ADDED].conns), (5, 3));
    assert_eq!(
        (t[FIRST_ADDED + 1].acl_denied, t[FIRST_ADDED + 1].conns),
        (3, 2)
    );
    // A SYN refused under `limit_reset` is answered by a RST from the VIP's port.
    let mut rst = Lab::new(lab::DEFAULT_CAPACITY);
    rst.reconfigure(&with_guard(
        "deny = [\"198.51.100.0/24\"]\nlimit_reset = true",
    ));
    let out = rst.send("wan0", &v4_syn(C1, 40000));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, "wan0");
    check_frame(&out[0].1).expect("a well-formed RST");
    let p = SlicedPacket::from_ethernet(&out[0].1).expect("parses");
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    assert_eq!(ip.header().source(), VIP);
    assert_eq!(ip.header().destination(), C1);
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        panic!("not TCP")
    };
    assert!(tcp.rst() && tcp.ack() && !tcp.syn());
    assert_eq!((tcp.source_port(), tcp.destination_port()), (90, 40000));
    // What the SYN took: its sequence number (1000), one for the SYN, five of data.
    assert_eq!(tcp.acknowledgment_number(), 1000 + 1 + 5);
    assert_eq!(rst.counters().refused_reset, 1);
    assert_eq!(rst.drop_count(DropReason::AclDenied), 1);
    // A UDP service's first datagram is checked alike; a refused one is only dropped,
    // `limit_reset` or not.
    let mut udp = Lab::new(lab::DEFAULT_CAPACITY);
    let mut text = lab::config_text(lab::DEFAULT_CAPACITY);
    text.push_str(
        "\n[[service]]\nproto = \"udp\"\nvip = \"10.0.0.100\"\nport = 91\nscheduler = \"rr\"\n\
         deny = [\"198.51.100.10/32\"]\nlimit_reset = true\n\
         [[service.real]]\nip = \"10.1.0.11\"\nport = 5353\nforward = \"nat\"\n",
    );
    udp.reconfigure(&text);
    let denied = v4_udp(GW, WAN, C1, VIP, 5000, 91, 64);
    assert!(udp.send("wan0", &denied).is_empty());
    assert_eq!(udp.drop_count(DropReason::AclDenied), 1);
    assert_eq!(udp.counters().refused_reset, 0);
    let admitted = v4_udp(GW, WAN, C2, VIP, 5000, 91, 64);
    assert!(forwarded(&udp.send("wan0", &admitted)));
    [&lab, &rst, &udp]
        .iter()
        .flat_map(|l| l.drops().into_keys())
        .collect()
}

/// A client sending 200 SYNs a second for three seconds against a limit of 20 a second
/// gets its full bucket (20) and then 20 a second; another client is unaffected; the
/// service's own limit is shared by all its clients.
pub fn rates() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&with_guard("limit_new_per_client = 20"));
    let (mut fast, mut slow) = (0, 0);
    for k in 0..600u16 {
        // One step is 5 ms: `send` moves the clock 1 ms, then 4 more.
        fast += u32::from(forwarded(&lab.send("wan0", &v4_syn(C1, 10000 + k))));
        if k % 100 == 0 {
            slow += u32::from(forwarded(&lab.send("wan0", &v4_syn(C2, 20000 + k))));
            lab.advance_ms(3);
        } else {
            lab.advance_ms(4);
        }
    }
    // 20 at once, then a token every 50 ms over the 2.995 s that follow.
    assert_eq!(fast, 20 + 59);
    assert_eq!(slow, 6);
    assert_eq!(lab.drop_count(DropReason::RateLimited), 600 - 79);
    assert_eq!(lab.service_traffic()[FIRST_ADDED].rate_limited, 600 - 79);
    // The whole service: 50 a second, whoever the clients are. One SYN a millisecond
    // from 200 clients: 50 at once, then one every 20 ms over the 199 ms that follow.
    let mut service = Lab::new(lab::DEFAULT_CAPACITY);
    service.reconfigure(&with_guard("limit_new = 50"));
    let admitted = (0..200u16)
        .filter(|&i| {
            let client = [198, 51, 100, (i % 250) as u8];
            forwarded(&service.send("wan0", &v4_syn(client, 30000 + i)))
        })
        .count();
    assert_eq!(admitted, 50 + 9);
    [&lab, &service]
        .iter()
        .flat_map(|l| l.drops().into_keys())
        .collect()
}

/// Open connections per client are counted in and out; a full limit table admits the
/// client it has no room for, or refuses it under `limit_overflow = "refuse"`.
pub fn open_conns_and_overflow() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&with_guard("limit_conns_per_client = 2\nlimit_clients = 8"));
    assert!(forwarded(&lab.send("wan0", &v4_syn(C1, 40000))));
    assert!(forwarded(&lab.send("wan0", &v4_syn(C1, 40001))));
    assert!(lab.send("wan0", &v4_syn(C1, 40002)).is_empty());
    assert_eq!(lab.drop_count(DropReason::ConnLimited), 1);
    assert_eq!(lab.service_traffic()[FIRST_ADDED].conn_limited, 1);
    // Both connections time out (SYN_RECV: 60 s); the client may open two again.
    lab.advance_ms(120_000);
    assert!(forwarded(&lab.send("wan0", &v4_syn(C1, 40003))));
    assert_eq!(lab.conns_len(), 1);
    assert!(forwarded(&lab.send("wan0", &v4_syn(C1, 40004))));
    assert!(lab.send("wan0", &v4_syn(C1, 40005)).is_empty());
    assert_eq!(lab.drop_count(DropReason::ConnLimited), 2);

    // A table of one set of 8 places: 8 clients with an open connection fill it.
    let fill = |lab: &mut Lab| {
        for i in 0..8u8 {
            assert!(forwarded(
                &lab.send("wan0", &v4_syn([198, 51, 100, 100 + i], 40000))
            ));
        }
    };
    let ninth = [198, 51, 100, 200];
    let mut open = Lab::new(lab::DEFAULT_CAPACITY);
    open.reconfigure(&with_guard("limit_conns_per_client = 2\nlimit_clients = 8"));
    fill(&mut open);
    assert!(
        forwarded(&open.send("wan0", &v4_syn(ninth, 40000))),
        "fails open"
    );
    assert_eq!(open.counters().limit_table_full, 1);
    let mut closed = Lab::new(lab::DEFAULT_CAPACITY);
    closed.reconfigure(&with_guard(
        "limit_conns_per_client = 2\nlimit_clients = 8\nlimit_overflow = \"refuse\"",
    ));
    fill(&mut closed);
    assert!(
        closed.send("wan0", &v4_syn(ninth, 40000)).is_empty(),
        "fails closed"
    );
    assert_eq!(closed.counters().limit_table_full, 1);
    assert_eq!(closed.drop_count(DropReason::RateLimited), 1);
    [&lab, &open, &closed]
        .iter()
        .flat_map(|l| l.drops().into_keys())
        .collect()
}

/// A reload that denies a client with an established connection leaves the connection
/// alone, and a reload that keeps a service's limit table keeps its counts; with
/// `acl_drop_established = true` the next packet of a refused client's connection ends it.
pub fn reload() -> BTreeSet<DropReason> {
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&with_guard("limit_conns_per_client = 1"));
    assert!(forwarded(&lab.send("wan0", &v4_syn(C1, 40000))));
    let ack = v4_tcp(GW, WAN, C1, VIP, 40000, 90, ACK, 64);
    // Another client denied, the same limits: C1's open connection still counts.
    lab.reconfigure(&with_guard(
        "deny = [\"198.51.100.20/32\"]\nlimit_conns_per_client = 1",
    ));
    assert!(forwarded(&lab.send("wan0", &ack)), "established: kept");
    assert!(
        lab.send("wan0", &v4_syn(C1, 40001)).is_empty(),
        "over its one connection"
    );
    assert_eq!(lab.drop_count(DropReason::ConnLimited), 1);
    lab.reconfigure(&with_guard(
        "deny = [\"198.51.100.0/24\"]\nlimit_conns_per_client = 1",
    ));
    assert!(forwarded(&lab.send("wan0", &ack)), "established: kept");
    assert!(
        lab.send("wan0", &v4_syn(C1, 40001)).is_empty(),
        "new: denied"
    );
    assert_eq!(lab.drop_count(DropReason::AclDenied), 1);
    lab.reconfigure(&with_guard(
        "deny = [\"198.51.100.0/24\"]\nacl_drop_established = true",
    ));
    assert!(lab.send("wan0", &ack).is_empty(), "established: ended");
    assert_eq!(lab.drop_count(DropReason::AclDenied), 2);
    assert_eq!(lab.conns_len(), 0);
    // The lists lifted, the client connects again.
    lab.reconfigure(&with_guard("acl_drop_established = true"));
    assert!(forwarded(&lab.send("wan0", &v4_syn(C1, 40002))));
    [&lab].iter().flat_map(|l| l.drops().into_keys()).collect()
}

#[test]
fn allow_and_deny_lists_across_families_and_overlapping_prefixes() {
    allow_and_deny();
}

#[test]
fn rate_limits_admit_exact_counts_over_simulated_time() {
    rates();
}

#[test]
fn open_connections_per_client_and_a_full_limit_table() {
    open_conns_and_overflow();
}

#[test]
fn reloads_keep_established_connections_unless_told_otherwise() {
    reload();
}
