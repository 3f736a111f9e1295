//! The SYN proxy and content switching with NAT reals through `rvsd --replay`: the
//! director completes the client's handshake with a cookie, then opens the connection
//! to the real from the client's own address (only the destination rewritten), absorbs
//! the real's SYN-ACK, and splices the two sides with the sequence shift, the real's
//! replies coming back through it. Every output frame is compared byte for byte with
//! one built independently by etherparse (checksums included); the refusals (DR and
//! TUN reals, whose replies the director never sees) are checked on rvsd's error.

mod common;

use common::*;
use etherparse::{SlicedPacket, TransportSlice};

/// The MAC the configuration gives real `host` (`testbed::real_mac`: the host's
/// decimal digits as its last byte's hex digits).
fn real_mac(host: u8) -> String {
    format!("02:00:00:00:01:{host:02}")
}

/// One port toward clients, one toward the reals, one SYN-proxied service of each
/// family whose real (.11) is NAT.
fn config() -> String {
    replay_director(1024).real(11).to_toml()
        + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
synproxy = true

[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "nat"

[[service]]
proto = "tcp"
vip = "2001:db8::100"
port = 80
synproxy = true

[[service.real]]
ip = "2001:db8:1::11"
port = 8080
forward = "nat"
"#
}

/// The endpoints of one test connection.
#[derive(Clone, Copy)]
struct Ends {
    client: (&'static str, u16),
    vip: (&'static str, u16),
    real: (&'static str, u16),
}

const V4: Ends = Ends {
    client: ("192.0.2.10", 40000),
    vip: ("10.0.0.100", 80),
    real: ("10.1.0.11", 8080),
};

const V6: Ends = Ends {
    client: ("2001:db8:c::10", 40000),
    vip: ("2001:db8::100", 80),
    real: ("2001:db8:1::11", 8080),
};

fn with(kind: Kind, s: Seg) -> Seg {
    Seg { kind, ..s }
}

/// What the SYN proxy makes up announces this window.
fn made(s: Seg) -> Seg {
    Seg { window: 65535, ..s }
}

fn from_client(e: Ends, s: &Seg) -> Vec<u8> {
    frame((GW_MAC, WAN_MAC), e.client, e.vip, 64, s)
}
/// From the NAT real to the client's own address (the director is its gateway).
fn from_real(e: Ends, s: &Seg) -> Vec<u8> {
    frame((&real_mac(11), LAN_MAC), e.real, e.client, 64, s)
}
/// To the NAT real, still from the client's own address.
fn to_real(e: Ends, s: &Seg) -> Vec<u8> {
    frame((LAN_MAC, &real_mac(11)), e.client, e.real, 63, s)
}
fn to_client(e: Ends, s: &Seg) -> Vec<u8> {
    frame((WAN_MAC, GW_MAC), e.vip, e.client, 63, s)
}

/// The sequence number of the TCP segment in `f`.
fn seq_of(f: &[u8]) -> u32 {
    match SlicedPacket::from_ethernet(f).unwrap().transport {
        Some(TransportSlice::Tcp(t)) => t.sequence_number(),
        _ => panic!("not TCP"),
    }
}

/// The cookie the director answers `e`'s client SYN (ISN 1000, MSS 1460) with at
/// `at` (replay is deterministic).
fn cookie_for(name: &str, cfg: &str, e: Ends, at: f64) -> u32 {
    let run = replay(
        name,
        cfg,
        &[(
            "wan0",
            vec![(secs(at), from_client(e, &syn(1000, None, 1460)))],
        )],
        &[],
    );
    let out = frames(&run.out["wan0"]);
    assert_eq!(out.len(), 1, "one SYN-ACK");
    seq_of(&out[0])
}

/// A SYN-proxied connection to a NAT real: the cookie SYN-ACK, the client's ACK
/// opening the connection (the SYN to the real from the client's address and port),
/// the request sent before the real answered held, the real's SYN-ACK (to the client's
/// address) absorbed and turned into the ACK that completes its handshake, the held
/// request after it, then data, SACK and FIN both ways: the client's acknowledgments
/// (and SACK edges) moved into the real's numbers, the real's sequence numbers into the
/// cookie's; only the destination rewritten toward the real, the source toward the
/// client.
fn handshake_and_shift_case(e: Ends, name: &str) {
    let cfg = config();
    let cookie = cookie_for(&format!("{name}-cookie"), &cfg, e, 1.0);
    let v6 = e.client.0.contains(':');
    let (c_isn, r_isn) = (1000u32, 0xfff0_0000u32);
    let get = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    let reply = b"HTTP/1.0 200 OK\r\n".to_vec();
    let after_get = c_isn + 1 + get.len() as u32;
    let after_reply = cookie + 1 + reply.len() as u32;
    let client_in = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(cookie + 1), &[], b""),
        seg(c_isn + 1, Some(cookie + 1), &[], &get),
        seg(
            after_get,
            Some(after_reply),
            &sack(cookie + 100, cookie + 201),
            b"",
        ),
        with(Kind::Fin, seg(after_get, Some(after_reply), &[], b"")),
        seg(after_get + 1, Some(after_reply + 1), &[], b""),
    ];
    let real_in = [
        syn(r_isn, Some(c_isn + 1), 1460),
        seg(
            r_isn + 1,
            Some(after_get),
            &sack(c_isn + 3, c_isn + 6),
            &reply,
        ),
        with(
            Kind::Fin,
            seg(
                r_isn + 1 + reply.len() as u32,
                Some(after_get + 1),
                &[],
                b"",
            ),
        ),
    ];
    let t = |i: usize| secs(1.0 + i as f64 * 0.01);
    let wan: Vec<Record> = [0, 1, 2, 5, 6, 8]
        .iter()
        .zip(&client_in)
        .map(|(&i, s)| (t(i), from_client(e, s)))
        .collect();
    let lan: Vec<Record> = [3, 4, 7]
        .iter()
        .zip(&real_in)
        .map(|(&i, s)| (t(i), from_real(e, s)))
        .collect();
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);

    // The port's MTU less the IP and TCP headers: a NAT real is given nothing.
    let mss = if v6 { 1500 - 60 } else { 1500 - 40 };
    let want_client = [
        frame(
            (WAN_MAC, GW_MAC),
            e.vip,
            e.client,
            64,
            &made(syn(cookie, Some(c_isn + 1), mss)),
        ),
        to_client(
            e,
            &seg(
                cookie + 1,
                Some(after_get),
                &sack(c_isn + 3, c_isn + 6),
                &reply,
            ),
        ),
        to_client(
            e,
            &with(Kind::Fin, seg(after_reply, Some(after_get + 1), &[], b"")),
        ),
    ];
    let shift = r_isn.wrapping_sub(cookie);
    let after_reply_real = after_reply.wrapping_add(shift);
    let want_real = [
        made(syn(c_isn, None, 1460)),
        made(seg(c_isn + 1, Some(r_isn + 1), &[], b"")),
        seg(c_isn + 1, Some(r_isn + 1), &[], &get),
        seg(
            after_get,
            Some(after_reply_real),
            &sack(r_isn + 100, r_isn + 201),
            b"",
        ),
        with(Kind::Fin, seg(after_get, Some(after_reply_real), &[], b"")),
        seg(after_get + 1, Some(after_reply_real + 1), &[], b""),
    ]
    .map(|s| to_real(e, &s));
    assert_frames(&frames(&run.out["wan0"]), &want_client, "toward the client");
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_eq!(run.summary["syn_cookies_sent"], 1, "{}", run.summary);
    assert_eq!(run.summary["syn_cookies_accepted"], 1, "{}", run.summary);
    assert_eq!(run.summary["connections_created"], 1, "{}", run.summary);
    assert_eq!(run.summary["synproxy_held"], 1, "{}", run.summary);
    assert_eq!(run.summary["synproxy_released"], 1, "{}", run.summary);
    assert_eq!(
        run.summary["dropped"],
        serde_json::json!({}),
        "{}",
        run.summary
    );
}

#[test]
fn nat_real_handshake_data_sack_and_fin_both_ways_v4_v6() {
    handshake_and_shift_case(V4, "synnat-v4");
    handshake_and_shift_case(V6, "synnat-v6");
}

/// Timestamps option with NOP NOP in front.
fn ts_opt(val: u32, ecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend(val.to_be_bytes());
    o.extend(ecr.to_be_bytes());
    o
}

/// The handshake options Linux sends: MSS, SACK-permitted, timestamps, window scale.
fn handshake_opts(mss: u16, ts: (u32, u32), wscale: u8) -> Vec<u8> {
    let mut o = vec![2, 4];
    o.extend(mss.to_be_bytes());
    o.extend([4, 2, 8, 10]);
    o.extend(ts.0.to_be_bytes());
    o.extend(ts.1.to_be_bytes());
    o.extend([1, 3, 3, wscale]);
    o
}

/// The cookie SYN-ACK's sequence number and timestamps (TSval, TSecr), by etherparse.
fn seq_and_ts(f: &[u8]) -> (u32, (u32, u32)) {
    let Some(TransportSlice::Tcp(t)) = SlicedPacket::from_ethernet(f).unwrap().transport else {
        panic!("not TCP")
    };
    let ts = t.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::Timestamp(v, e)) => Some((v, e)),
        _ => None,
    });
    (t.sequence_number(), ts.expect("timestamps offered back"))
}

/// A client offering timestamps, SACK and window scale 8 to a NAT real: the SYN to the
/// real (from the client's address) offers the client's own options, the ACK made from
/// the real's SYN-ACK echoes the real's TSval, and afterwards the real's TSval moves to
/// the cookie's clock toward the client and the client's TSecr back, as with FULLNAT.
fn timestamps_case(e: Ends, name: &str) {
    let cfg = config();
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let (c_ts, r_ts) = (111_111u32, 900_000u32);
    let client_syn = with(
        Kind::Syn,
        seg(c_isn, None, &handshake_opts(1460, (c_ts, 0), 8), b""),
    );
    let run = replay(
        &format!("{name}-cookie"),
        &cfg,
        &[("wan0", vec![(secs(1.0), from_client(e, &client_syn))])],
        &[],
    );
    let (cookie, (t, echo)) = seq_and_ts(&run.out["wan0"][0].1);
    assert_eq!(echo, c_ts, "the client's TSval echoed");
    let reply = b"HTTP/1.0 200 OK\r\n".to_vec();
    let r_next = r_isn + 1 + reply.len() as u32;
    let wan = vec![
        (secs(1.0), from_client(e, &client_syn)),
        (
            secs(1.01),
            from_client(
                e,
                &seg(c_isn + 1, Some(cookie + 1), &ts_opt(c_ts + 1, t), b""),
            ),
        ),
        (
            secs(1.04),
            from_client(
                e,
                &seg(
                    c_isn + 1,
                    Some(cookie + 1 + reply.len() as u32),
                    &ts_opt(c_ts + 9, t + 10),
                    b"",
                ),
            ),
        ),
    ];
    let real_syn_ack = with(
        Kind::Syn,
        seg(
            r_isn,
            Some(c_isn + 1),
            &handshake_opts(1460, (r_ts, c_ts + 1), 7),
            b"",
        ),
    );
    let lan = vec![
        (secs(1.02), from_real(e, &real_syn_ack)),
        (
            secs(1.03),
            from_real(
                e,
                &seg(
                    r_isn + 1,
                    Some(c_isn + 1),
                    &ts_opt(r_ts + 10, c_ts + 1),
                    &reply,
                ),
            ),
        ),
    ];
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let want_real = [
        with(
            Kind::Syn,
            made(seg(
                c_isn,
                None,
                &handshake_opts(1460, (c_ts + 1, 0), 8),
                b"",
            )),
        ),
        // The made-up ACK's window: 65535 in the client's scale (8).
        Seg {
            window: 65535 >> 8,
            ..seg(c_isn + 1, Some(r_isn + 1), &ts_opt(c_ts + 1, r_ts), b"")
        },
        seg(c_isn + 1, Some(r_next), &ts_opt(c_ts + 9, r_ts + 10), b""),
    ]
    .map(|s| to_real(e, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    let want_reply = to_client(
        e,
        &seg(
            cookie + 1,
            Some(c_isn + 1),
            &ts_opt(t + 10, c_ts + 1),
            &reply,
        ),
    );
    let wan_out = frames(&run.out["wan0"]);
    assert_frames(&wan_out[1..], &[want_reply], "toward the client");
}

#[test]
fn nat_real_timestamps_shift_v4_v6() {
    timestamps_case(V4, "synnat-ts-v4");
    timestamps_case(V6, "synnat-ts-v6");
}

/// A NAT real that refuses the connection (a RST to the client's address): the client
/// hears it in its own numbers (the cookie's), from the VIP.
#[test]
fn a_nat_real_refusing_resets_the_client_in_the_cookies_numbers() {
    let e = V4;
    let cfg = config();
    let cookie = cookie_for("synnat-rst-cookie", &cfg, e, 1.0);
    let wan = vec![
        (secs(1.0), from_client(e, &syn(1000, None, 1460))),
        (
            secs(1.01),
            from_client(e, &seg(1001, Some(cookie + 1), &[], b"")),
        ),
    ];
    let lan = vec![(
        secs(1.02),
        from_real(e, &with(Kind::Rst, seg(0, Some(1001), &[], b""))),
    )];
    let run = replay("synnat-rst", &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let want_client = [
        frame(
            (WAN_MAC, GW_MAC),
            e.vip,
            e.client,
            64,
            &made(syn(cookie, Some(1001), 1460)),
        ),
        to_client(e, &with(Kind::Rst, seg(cookie + 1, Some(1001), &[], b""))),
    ];
    assert_frames(&frames(&run.out["wan0"]), &want_client, "toward the client");
    assert_frames(
        &frames(&run.out["lan0"]),
        &[to_real(e, &made(syn(1000, None, 1460)))],
        "toward the real",
    );
}

/// Content switching with NAT reals (and a FULLNAT one in the same service: each
/// connection takes its real's mode): the request's Host chooses the group, the SYN
/// goes to its real from the client's address (or the local address for the FULLNAT
/// real), and after the NAT real's SYN-ACK the held request follows, shifted.
#[test]
fn l7_http_with_nat_reals_chooses_by_host() {
    let cfg = replay_director(1024).real(11).real(12).real(13).to_toml()
        + r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
laddrs = ["10.1.0.2"]
l7 = "http"
[[service.rule]]
host = "img.example.com"
group = "img"
[[service.rule]]
host = "api.example.com"
group = "api"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "nat"
[[service.real]]
ip = "10.1.0.12"
port = 8080
forward = "nat"
group = "img"
[[service.real]]
ip = "10.1.0.13"
port = 8080
forward = "fullnat"
group = "api"
"#;
    let e = |port: u16| Ends {
        client: ("192.0.2.10", port),
        ..V4
    };
    let req = |host: &str| format!("GET /a HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let conns = [
        (e(30001), req("img.example.com"), "10.1.0.12"),
        (e(30002), req("www.example.com"), "10.1.0.11"),
        (e(30003), req("api.example.com"), "10.1.0.13"),
    ];
    let at = |i: usize, step: usize| secs(1.0 + i as f64 * 0.05 + step as f64 * 0.001);
    let syns: Vec<Record> = conns
        .iter()
        .enumerate()
        .map(|(i, (e, _, _))| (at(i, 0), from_client(*e, &syn(1000, None, 1460))))
        .collect();
    let run = replay("synnat-l7-cookies", &cfg, &[("wan0", syns.clone())], &[]);
    let cookies: Vec<u32> = frames(&run.out["wan0"]).iter().map(|f| seq_of(f)).collect();
    assert_eq!(cookies.len(), 3);
    let mut wan = syns;
    for (i, (e, r, _)) in conns.iter().enumerate() {
        let ack = Some(cookies[i] + 1);
        wan.push((at(i, 1), from_client(*e, &seg(1001, ack, &[], b""))));
        wan.push((at(i, 2), from_client(*e, &seg(1001, ack, &[], r))));
    }
    wan.sort_by_key(|(t, _)| *t);
    let run = replay("synnat-l7-a", &cfg, &[("wan0", wan.clone())], &[]);
    let lan = frames(&run.out["lan0"]);
    assert_eq!(lan.len(), 3, "one SYN per connection");
    for (f, (e, _, real)) in lan.iter().zip(&conns) {
        let seen = verify(f);
        assert_eq!(seen.dst.to_string(), *real, "chosen by Host");
        if *real == "10.1.0.13" {
            assert_eq!(
                seen.src.to_string(),
                "10.1.0.2",
                "FULLNAT: the local address"
            );
        } else {
            assert_eq!(
                f,
                &frame(
                    (
                        LAN_MAC,
                        &real_mac(if *real == "10.1.0.12" { 12 } else { 11 })
                    ),
                    e.client,
                    (real, 8080),
                    63,
                    &made(syn(1000, None, 1460)),
                ),
                "NAT: the client's own address and port"
            );
        }
    }
    assert_eq!(run.summary["l7_by_rule"], 2, "{}", run.summary);
    assert_eq!(run.summary["l7_by_default"], 1, "{}", run.summary);

    // The img real answers: the handshake-completing ACK, then the held request,
    // acknowledging the real's numbers.
    let (img, request, _) = &conns[0];
    let img_real = Ends {
        real: ("10.1.0.12", 8080),
        ..*img
    };
    let r_isn = 77_000u32;
    let synack = frame(
        (&real_mac(12), LAN_MAC),
        img_real.real,
        img_real.client,
        64,
        &syn(r_isn, Some(1001), 1460),
    );
    let run = replay(
        "synnat-l7-b",
        &cfg,
        &[("wan0", wan), ("lan0", vec![(at(0, 20), synack)])],
        &[],
    );
    let to_img = |s: &Seg| frame((LAN_MAC, &real_mac(12)), img.client, img_real.real, 63, s);
    let want = [
        made(seg(1001, Some(r_isn + 1), &[], b"")),
        seg(1001, Some(r_isn + 1), &[], request),
    ]
    .map(|s| to_img(&s));
    let lan = frames(&run.out["lan0"]);
    let to_img_real: Vec<Vec<u8>> = lan
        .into_iter()
        .filter(|f| verify(f).dst.to_string() == "10.1.0.12")
        .skip(1)
        .collect();
    assert_frames(&to_img_real, &want, "toward the img real after its SYN-ACK");
    assert_eq!(run.summary["synproxy_released"], 1, "{}", run.summary);
}

/// A config with `key` on a TCP service whose real is forward `forward` (on the
/// service's port, as DR and TUN need).
fn direct_config(key: &str, forward: &str) -> String {
    replay_director(1024).real(11).to_toml()
        + &format!(
            "\n[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n{key}\n\
             [[service.real]]\nip = \"10.1.0.11\"\nport = 80\nforward = \"{forward}\"\n"
        )
}

/// `synproxy` and `l7` on a service with a DR or TUN real: rvsd refuses to start,
/// naming the line, the real and why (the director never sees the real's replies).
#[test]
fn synproxy_and_l7_refuse_dr_and_tun_reals() {
    for key in ["synproxy = true", "l7 = \"http\""] {
        for forward in ["dr", "tun"] {
            let cfg = direct_config(key, forward);
            let line = cfg.lines().position(|l| l == key).expect("the key's line") + 1;
            let dir = test_dir(&format!("synnat-refuse-{}-{forward}", &key[..2]));
            let path = dir.join("rvs.toml");
            std::fs::write(&path, &cfg).unwrap();
            let out = rvsd_replay(&path, "wan0=none.pcap", &dir.join("out"));
            assert!(!out.status.success(), "{key} with {forward} accepted");
            let err = String::from_utf8_lossy(&out.stderr);
            let name = key.split(' ').next().unwrap();
            assert!(
                err.contains(&format!("rvs.toml:{line}:"))
                    && err.contains(&format!(
                        "{name} needs reals with forward = \"nat\" or \"fullnat\""
                    ))
                    && err.contains(&format!("real 10.1.0.11:80 is forward = \"{forward}\""))
                    && err.contains("never sees its replies"),
                "{err}"
            );
        }
    }
}
