//! Whole-pipeline tests through `rvsd --replay`: captures in, captures out, every output
//! frame checked by etherparse (fields and checksums).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::*;

/// The MACs the configuration gives reals .11 and .12 (`testbed::real_mac`).
const REAL1_MAC: &str = "02:00:00:00:01:11";
/// See [`REAL1_MAC`].
const REAL2_MAC: &str = "02:00:00:00:01:12";

/// Two ports (clients behind a gateway on wan0, two reals on lan0) and one service.
fn config(service: &str) -> String {
    replay_director(4096).real(11).real(12).to_toml()
        + &format!(
            r#"
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

fn fullnat_config() -> String {
    config(
        r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
laddrs = ["10.1.0.2"]

[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"
"#,
    )
}

fn syns(n: u32) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let f = tcp(
                GW_MAC,
                WAN_MAC,
                (&client(i), 3000),
                ("10.0.0.100", 80),
                SYN,
                b"",
            );
            (secs(1.0 + f64::from(i)), f)
        })
        .collect()
}

#[test]
fn the_same_seed_gives_identical_captures_and_another_seed_other_local_ports() {
    let cfg = fullnat_config();
    let run = |name: &str, seed: &str| {
        let r = replay(name, &cfg, &[("wan0", syns(20))], &["--seed", seed]);
        raw_outputs(&r.dir.join("out"))
    };
    let a = run("seed-a", "1");
    let b = run("seed-b", "1");
    let c = run("seed-c", "2");
    assert_eq!(a, b, "same inputs and seed: byte-identical captures");
    assert_eq!(
        a["wan0.pcap"], c["wan0.pcap"],
        "nothing was sent on wan0 either way"
    );
    assert_ne!(
        a["lan0.pcap"], c["lan0.pcap"],
        "another seed picks other local ports"
    );
}

#[test]
fn unknown_neighbours_are_resolved_from_replies_in_the_captures() {
    // No static neighbour for 10.1.0.13: the SYN waits for ARP.
    let cfg = config(
        r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"

[[service.real]]
ip = "10.1.0.13"
forward = "nat"
"#,
    );
    let syn = tcp(
        GW_MAC,
        WAN_MAC,
        (&client(0), 3000),
        ("10.0.0.100", 80),
        SYN,
        b"",
    );
    let real_mac = mac("02:00:00:00:01:13");
    let mut arp_reply = Vec::new();
    arp_reply.extend_from_slice(&mac(LAN_MAC));
    arp_reply.extend_from_slice(&real_mac);
    arp_reply.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    arp_reply.extend_from_slice(&real_mac);
    arp_reply.extend_from_slice(&[10, 1, 0, 13]);
    arp_reply.extend_from_slice(&mac(LAN_MAC));
    arp_reply.extend_from_slice(&[10, 1, 0, 1]);
    let run = replay(
        "arp",
        &cfg,
        &[
            ("wan0", vec![(secs(1.0), syn)]),
            ("lan0", vec![(secs(1.5), arp_reply)]),
        ],
        &[],
    );
    let out = &run.out["lan0"];
    // Unanswered, the neighbour is asked again every 200 ms; the replay clock moves with
    // the frames, so the request due at 1.2 s goes out with the reply's frame at 1.5 s,
    // just before the reply is learned.
    assert_eq!(out.len(), 3, "an ARP request, a second one, then the SYN");
    for (i, t) in [(0, 1.0), (1, 1.5)] {
        let (ts, request) = &out[i];
        assert_eq!(*ts, secs(t));
        assert_eq!(&request[0..6], &[0xff; 6], "broadcast");
        assert_eq!(&request[12..14], &[0x08, 0x06], "ARP");
        assert_eq!(&request[20..22], &[0, 1], "request");
        assert_eq!(&request[38..42], &[10, 1, 0, 13], "asks for the real");
    }
    let (t2, forwarded) = &out[2];
    assert_eq!(*t2, secs(1.5), "stamped with the reply that released it");
    let seen = verify(forwarded);
    assert_eq!(seen.dst_mac, real_mac);
    assert_eq!(seen.dst.to_string(), "10.1.0.13");
    assert_eq!(run.summary["neighbor_requests"], 2);
    assert_eq!(run.summary["neighbors_learned"], 1);
}

#[test]
fn a_malformed_capture_fails_naming_the_file() {
    let dir = test_dir("bad-capture");
    let cfg = dir.join("rvs.toml");
    std::fs::write(&cfg, fullnat_config()).unwrap();
    let bad = dir.join("garbage.pcap");
    std::fs::write(&bad, b"this is not a capture at all").unwrap();
    let replay_arg = format!("wan0={}", bad.display());
    let out = rvsd_replay(&cfg, &replay_arg, &dir.join("out"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.pcap"), "{err}");
    assert!(out.stdout.is_empty(), "no summary for a failed replay");
}

#[test]
fn an_invalid_configuration_is_refused_with_its_file_and_line() {
    let dir = test_dir("bad-config");
    let text = fullnat_config().replace("scheduler = \"rr\"", "scheduler = \"fastest\"");
    let line = text.lines().position(|l| l.contains("fastest")).unwrap() + 1;
    let cfg = dir.join("rvs.toml");
    std::fs::write(&cfg, text).unwrap();
    let input = dir.join("in.pcap");
    write_pcap(&input, &syns(1));
    let replay_arg = format!("wan0={}", input.display());
    let out = rvsd_replay(&cfg, &replay_arg, &dir.join("out"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("rvs.toml:{line}:")), "{err}");
    assert!(err.contains("fastest"), "{err}");
    assert!(
        !dir.join("out").exists(),
        "nothing is written for a refused configuration"
    );

    let unknown_port = format!("dmz0={}", input.display());
    std::fs::write(&cfg, fullnat_config()).unwrap();
    let out = rvsd_replay(&cfg, &unknown_port, &dir.join("out"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dmz0"));
}

#[test]
fn a_persistence_template_lives_as_long_as_the_connections_it_controls() {
    // persistence 10 s; the first connection stays established for 20 s; a second
    // connection from the same client at 21 s must still reach the first one's real.
    let cfg = nat_service("rr", "persistence = 10");
    let c = client(7);
    let at = |t: f64, sport: u16, flags: Flags| {
        let f = tcp(GW_MAC, WAN_MAC, (&c, sport), ("10.0.0.100", 80), flags, b"");
        (secs(t), f)
    };
    let mut input = vec![at(1.0, 4000, SYN)];
    input.extend((1..=4).map(|k| at(1.0 + 5.0 * f64::from(k), 4000, ACK)));
    input.push(at(21.5, 4001, SYN));
    let run = replay("persist-alive", &cfg, &[("wan0", input)], &[]);
    let out = &run.out["lan0"];
    assert_eq!(out.len(), 6);
    let first = verify(&out[0].1).dst;
    let second = verify(&out[5].1);
    assert_eq!(second.sport, 4001);
    assert_eq!(second.dst, first, "a template in use must not expire");
}

/// A service of two reals under `[behaviour] conn_reuse_mode = MODE` (plus `extra`
/// service lines), forwarding with `forward`.
fn reuse_config(mode: u8, forward: &str, extra: &str) -> String {
    config(&format!(
        r#"
[behaviour]
conn_reuse_mode = {mode}

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
{extra}

[[service.real]]
ip = "10.1.0.11"
forward = "{forward}"

[[service.real]]
ip = "10.1.0.12"
forward = "{forward}"
"#
    ))
}

/// A segment from client 1, port `sport`, to the VIP at `t` seconds.
fn from_client(t: f64, sport: u16, flags: Flags) -> Record {
    let f = tcp(
        GW_MAC,
        WAN_MAC,
        (&client(1), sport),
        ("10.0.0.100", 80),
        flags,
        b"",
    );
    (secs(t), f)
}

/// A NAT segment from real 1 (10.1.0.11:80) to client 1, port `dport`, at `t` seconds.
fn from_real1(t: f64, dport: u16, flags: Flags) -> Record {
    let f = tcp(
        REAL1_MAC,
        LAN_MAC,
        ("10.1.0.11", 80),
        (&client(1), dport),
        flags,
        b"",
    );
    (secs(t), f)
}

/// The real (by destination MAC: DR keeps the VIP as destination) each frame toward the
/// reals went to, in order.
fn reals_reached(run: &ReplayRun) -> Vec<&'static str> {
    run.out["lan0"]
        .iter()
        .map(|(_, f)| match verify(f).dst_mac {
            m if m == mac(REAL1_MAC) => "real1",
            m if m == mac(REAL2_MAC) => "real2",
            other => panic!("a frame to {other:x?}"),
        })
        .collect()
}

const RST: Flags = Flags {
    syn: false,
    ack: false,
    fin: false,
    rst: true,
};

/// A NAT connection from client 1 port 5000 to real 1, closed down to TIME_WAIT (`close`
/// false) or reset to CLOSE (`close` true), then a new SYN on the same port at 10 s.
fn closed_then_syn(close: bool) -> (Vec<Record>, Vec<Record>) {
    let mut wan = vec![from_client(1.0, 5000, SYN), from_client(1.2, 5000, ACK)];
    let mut lan = vec![from_real1(1.1, 5000, SYNACK)];
    if close {
        wan.push(from_client(2.0, 5000, RST)); // ESTABLISHED -> CLOSE
    } else {
        wan.push(from_client(2.0, 5000, FINACK)); // -> CLOSE_WAIT
        lan.push(from_real1(2.1, 5000, FINACK)); // -> TIME_WAIT
        wan.push(from_client(2.2, 5000, ACK));
    }
    wan.push(from_client(10.0, 5000, SYN));
    (wan, lan)
}

#[test]
fn a_new_syn_on_a_time_wait_or_close_entry_is_scheduled_afresh_unless_mode_0() {
    for close in [false, true] {
        let state = if close { "CLOSE" } else { "TIME_WAIT" };
        let (wan, lan) = closed_then_syn(close);
        let sent = wan.len();
        let fresh = replay(
            &format!("reuse-1-{close}"),
            &reuse_config(1, "nat", ""),
            &[("wan0", wan.clone()), ("lan0", lan.clone())],
            &[],
        );
        let reached = reals_reached(&fresh);
        assert_eq!(
            reached.len(),
            sent,
            "{state}: every client segment forwarded"
        );
        assert!(
            reached[..sent - 1].iter().all(|r| *r == "real1"),
            "{state}: {reached:?}"
        );
        assert_eq!(
            reached[sent - 1],
            "real2",
            "{state}: mode 1: the new SYN is a new connection, rr's next pick"
        );
        let s = &fresh.summary;
        assert_eq!(s["connections_created"], 2, "{state}: {s}");
        assert_eq!(s["connections_reused"], 1, "{state}: {s}");
        assert_eq!(
            s["connections_expired"], 1,
            "{state}: the old entry went: {s}"
        );
        assert_eq!(s["dropped"], serde_json::json!({}), "{state}: {s}");
        let last = verify(&fresh.out["lan0"][sent - 1].1);
        assert_eq!(
            (last.dst.to_string().as_str(), last.sport),
            ("10.1.0.12", 5000)
        );

        let kept = replay(
            &format!("reuse-0-{close}"),
            &reuse_config(0, "nat", ""),
            &[("wan0", wan), ("lan0", lan)],
            &[],
        );
        let reached = reals_reached(&kept);
        assert_eq!(
            reached,
            vec!["real1"; sent],
            "{state}: mode 0 keeps the old real"
        );
        assert_eq!(kept.summary["connections_created"], 1, "{state}");
        assert_eq!(kept.summary["connections_reused"], 0, "{state}");
    }
}

#[test]
fn bit_2_lets_a_new_syn_replace_a_direct_routing_entry_in_fin_wait() {
    // DR: the director sees only the client's side; a client FIN from ESTABLISHED is
    // FIN_WAIT, the last state it sees before the client reuses the port.
    let wan = vec![
        from_client(1.0, 6000, SYN),
        from_client(1.1, 6000, ACK),
        from_client(2.0, 6000, FINACK),
        from_client(5.0, 6000, SYN),
    ];
    let run = |mode: u8| {
        let r = replay(
            &format!("finwait-{mode}"),
            &reuse_config(mode, "dr", ""),
            &[("wan0", wan.clone())],
            &[],
        );
        (reals_reached(&r), r.summary)
    };
    let (reached, s) = run(3);
    assert_eq!(reached, ["real1", "real1", "real1", "real2"], "mode 3");
    assert_eq!(
        (
            s["connections_created"].as_u64(),
            s["connections_reused"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (reached, s) = run(1);
    assert_eq!(reached, ["real1"; 4], "mode 1 leaves FIN_WAIT alone");
    assert_eq!(
        (
            s["connections_created"].as_u64(),
            s["connections_reused"].as_u64()
        ),
        (Some(1), Some(0))
    );
}

#[test]
fn a_persistent_service_keeps_the_template_real_for_a_reused_port() {
    let (wan, lan) = closed_then_syn(false);
    let sent = wan.len();
    let run = replay(
        "reuse-persistent",
        &reuse_config(1, "nat", "persistence = 300"),
        &[("wan0", wan), ("lan0", lan)],
        &[],
    );
    // rr's next pick would be real 2: the template's real 1 wins, on the old entry.
    assert_eq!(reals_reached(&run), vec!["real1"; sent]);
    assert_eq!(run.summary["connections_created"], 1);
    assert_eq!(run.summary["connections_reused"], 0);
}
