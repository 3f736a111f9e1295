//! Whole-pipeline tests through `rvsd --replay`: captures in, captures out, every output
//! frame checked by etherparse (fields and checksums).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::*;

const WAN_MAC: &str = "02:00:00:00:00:01";
const LAN_MAC: &str = "02:00:00:00:00:02";
const GW_MAC: &str = "02:00:00:00:00:fe";
const REAL1_MAC: &str = "02:00:00:00:01:11";
const REAL2_MAC: &str = "02:00:00:00:01:12";

/// Two ports (clients behind a gateway on wan0, two reals on lan0) and one service.
fn config(service: &str) -> String {
    format!(
        r#"
[dataplane]
workers = 1
conn_capacity = 4096

[[port]]
name = "wan0"
device = "replay"
mac = "{WAN_MAC}"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]

[[port]]
name = "lan0"
device = "replay"
mac = "{LAN_MAC}"
addresses = ["10.1.0.1/24", "2001:db8:1::1/64"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
port = "wan0"

[[route]]
prefix = "::/0"
via = "2001:db8::fe"
port = "wan0"

[[neighbor]]
ip = "10.0.0.254"
mac = "{GW_MAC}"
port = "wan0"

[[neighbor]]
ip = "2001:db8::fe"
mac = "{GW_MAC}"
port = "wan0"

[[neighbor]]
ip = "10.1.0.11"
mac = "{REAL1_MAC}"
port = "lan0"

[[neighbor]]
ip = "10.1.0.12"
mac = "{REAL2_MAC}"
port = "lan0"

[[neighbor]]
ip = "2001:db8:1::11"
mac = "{REAL1_MAC}"
port = "lan0"

[[neighbor]]
ip = "2001:db8:1::12"
mac = "{REAL2_MAC}"
port = "lan0"

[timeouts]
tcp = 900
tcpfin = 120
udp = 5

{service}
"#
    )
}

/// A client address from a number (198.18.0.0/15, benchmarking space).
fn client(i: u32) -> String {
    IpAddr::from((0xc612_0000u32 + 1 + i).to_be_bytes()).to_string()
}

fn count_by_dst(frames: &[Record]) -> BTreeMap<IpAddr, usize> {
    let mut m = BTreeMap::new();
    for (_, f) in frames {
        *m.entry(verify(f).dst).or_default() += 1;
    }
    m
}

#[test]
fn fullnat_1000_connections_every_reply_maps_back_to_its_client() {
    let cfg = config(
        r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.2", "10.1.0.3"]

[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"

[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "fullnat"
"#,
    );
    let n = 1000u32;
    let syns: Vec<Record> = (0..n)
        .map(|i| {
            let frame = tcp(
                GW_MAC,
                WAN_MAC,
                (&client(i % 250), 20000 + i as u16),
                ("10.0.0.100", 80),
                SYN,
                b"",
            );
            (secs(1.0 + f64::from(i) * 0.001), frame)
        })
        .collect();

    // Pass 1: the SYNs alone show where each connection went (replay is deterministic).
    let first = replay("fullnat-1", &cfg, &[("wan0", syns.clone())], &[]);
    let toward_reals = &first.out["lan0"];
    assert_eq!(toward_reals.len(), n as usize);
    let mut replies = Vec::new();
    let mut expected = BTreeMap::new();
    for (i, (ts, frame)) in toward_reals.iter().enumerate() {
        assert_eq!(*ts, syns[i].0, "each output carries its cause's timestamp");
        let seen = verify(frame);
        assert!(["10.1.0.2", "10.1.0.3"].contains(&seen.src.to_string().as_str()));
        assert_eq!(seen.dport, 8080);
        assert_eq!(seen.src_mac, mac(LAN_MAC));
        let real_mac = if seen.dst.to_string() == "10.1.0.11" {
            REAL1_MAC
        } else {
            REAL2_MAC
        };
        assert_eq!(seen.dst_mac, mac(real_mac));
        assert_eq!(seen.ttl, 63, "forwarding decrements the TTL");
        // The real answers its peer, the local address.
        let reply = tcp(
            real_mac,
            LAN_MAC,
            (&seen.dst.to_string(), seen.dport),
            (&seen.src.to_string(), seen.sport),
            SYNACK,
            b"",
        );
        let ts = secs(5.0 + i as f64 * 0.001);
        expected.insert(ts, (client(i as u32 % 250), 20000 + i as u16));
        replies.push((ts, reply));
    }
    let mut lports: Vec<_> = toward_reals
        .iter()
        .map(|(_, f)| {
            let s = verify(f);
            (s.src, s.sport)
        })
        .collect();
    lports.sort();
    lports.dedup();
    assert_eq!(
        lports.len(),
        n as usize,
        "every connection has its own local endpoint"
    );

    // Pass 2: the same SYNs, then every real's answer.
    let second = replay("fullnat-2", &cfg, &[("wan0", syns), ("lan0", replies)], &[]);
    assert_eq!(
        second.out["lan0"], first.out["lan0"],
        "replay is deterministic"
    );
    let back = &second.out["wan0"];
    assert_eq!(back.len(), n as usize, "every reply comes back");
    for (ts, frame) in back {
        let seen = verify(frame);
        let (cip, cport) = &expected[ts];
        assert_eq!(seen.src.to_string(), "10.0.0.100");
        assert_eq!(seen.sport, 80);
        assert_eq!(&seen.dst.to_string(), cip);
        assert_eq!(seen.dport, *cport);
        assert_eq!(seen.dst_mac, mac(GW_MAC));
        assert_eq!(seen.src_mac, mac(WAN_MAC));
    }
    assert_eq!(second.summary["connections_created"], n);
    assert_eq!(second.summary["dropped"], serde_json::json!({}));
}

#[test]
fn wrr_3_to_1_over_400_connections_is_exactly_300_to_100() {
    let cfg = config(
        r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wrr"

[[service.real]]
ip = "10.1.0.11"
weight = 3
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
weight = 1
forward = "nat"
"#,
    );
    let syns: Vec<Record> = (0..400u32)
        .map(|i| {
            let f = tcp(
                GW_MAC,
                WAN_MAC,
                (&client(i), 40000),
                ("10.0.0.100", 80),
                SYN,
                b"",
            );
            (secs(1.0 + f64::from(i) * 0.01), f)
        })
        .collect();
    let run = replay("wrr", &cfg, &[("wan0", syns)], &[]);
    let by_real = count_by_dst(&run.out["lan0"]);
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(by_real.get(&ip("10.1.0.11")), Some(&300));
    assert_eq!(by_real.get(&ip("10.1.0.12")), Some(&100));
    for (_, f) in &run.out["lan0"] {
        let s = verify(f);
        assert_eq!(
            s.dport, 80,
            "NAT keeps the port when the real has the service's"
        );
    }
}

/// Reals reached by each client: every client must map to exactly one.
fn reals_per_client(out: &[Record], clients: &[(String, u16)]) -> BTreeMap<String, Vec<IpAddr>> {
    let mut m: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for ((_, f), (c, _)) in out.iter().zip(clients) {
        let real = verify(f).dst;
        let v = m.entry(c.clone()).or_default();
        if !v.contains(&real) {
            v.push(real);
        }
    }
    m
}

fn nat_service(scheduler: &str, extra: &str) -> String {
    config(&format!(
        r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "{scheduler}"
{extra}

[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
forward = "nat"
"#
    ))
}

/// 21 clients (odd, so plain rr moves each one between the two reals), 6 connections
/// each (different source ports), interleaved.
fn many_clients() -> (Vec<Record>, Vec<(String, u16)>) {
    let mut records = Vec::new();
    let mut who = Vec::new();
    for round in 0..6u16 {
        for c in 0..21u32 {
            let port = 30000 + round * 100 + c as u16;
            let f = tcp(
                GW_MAC,
                WAN_MAC,
                (&client(c), port),
                ("10.0.0.100", 80),
                SYN,
                b"",
            );
            records.push((secs(1.0 + records.len() as f64 * 0.01), f));
            who.push((client(c), port));
        }
    }
    (records, who)
}

#[test]
fn persistence_and_sh_keep_each_client_on_one_real() {
    let (syns, who) = many_clients();
    for (name, cfg) in [
        ("persist", nat_service("rr", "persistence = 300")),
        ("sh", nat_service("sh", "")),
    ] {
        let run = replay(name, &cfg, &[("wan0", syns.clone())], &[]);
        let out = &run.out["lan0"];
        assert_eq!(out.len(), syns.len(), "{name}: every SYN forwarded");
        let per = reals_per_client(out, &who);
        for (c, reals) in &per {
            assert_eq!(reals.len(), 1, "{name}: client {c} went to {reals:?}");
        }
        let used: std::collections::BTreeSet<_> = per.values().map(|r| r[0]).collect();
        assert_eq!(used.len(), 2, "{name}: clients spread over both reals");
    }
    // Without persistence rr alternates, so the same clients do reach both reals.
    let run = replay("rr", &nat_service("rr", ""), &[("wan0", syns)], &[]);
    let per = reals_per_client(&run.out["lan0"], &who);
    assert!(
        per.values().any(|r| r.len() == 2),
        "rr without persistence moves clients"
    );
}

#[test]
fn a_flow_idle_past_its_timeout_is_scheduled_afresh() {
    let cfg = config(
        r#"
[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 53
scheduler = "rr"

[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service.real]]
ip = "10.1.0.12"
forward = "nat"
"#,
    );
    let dgram = |t: f64| {
        let f = udp(
            GW_MAC,
            WAN_MAC,
            (&client(1), 5353),
            ("10.0.0.100", 53),
            b"query",
        );
        (secs(t), f)
    };
    // udp timeout is 5 s: 1.0 and 4.0 share a connection; 12.0 comes 8 s after the last.
    let run = replay(
        "idle",
        &cfg,
        &[("wan0", vec![dgram(1.0), dgram(4.0), dgram(12.0)])],
        &[],
    );
    let out = &run.out["lan0"];
    assert_eq!(out.len(), 3);
    let reals: Vec<IpAddr> = out.iter().map(|(_, f)| verify(f).dst).collect();
    assert_eq!(
        reals[0], reals[1],
        "within the timeout the flow keeps its real"
    );
    assert_ne!(reals[1], reals[2], "after the timeout rr schedules afresh");
    assert_eq!(verify(&out[0].1).payload, b"query");
    assert_eq!(run.summary["connections_created"], 2);
    assert_eq!(run.summary["connections_expired"], 1);
}
