//! FULLNAT client address through `rvsd --replay`: TOA and PROXY protocol v1/v2, and the
//! SYN proxy; every output frame compared byte for byte with one built independently by
//! etherparse.

mod common;

use common::*;

/// The MAC the configuration gives real .11 (`testbed::real_mac`).
const REAL_MAC: &str = "02:00:00:00:01:11";

/// One port toward clients, one toward the real, one FULLNAT service of each family.
fn config(client_address: &str) -> String {
    config_at(client_address, 1500)
}

/// [`config`] with both ports at `mtu`.
fn config_at(client_address: &str, mtu: u16) -> String {
    replay_director(1024).real(11).mtu(mtu).to_toml()
        + &format!(
            r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
laddrs = ["10.1.0.2"]
client_address = "{client_address}"

[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "2001:db8::100"
port = 80
laddrs = ["2001:db8:1::2"]
client_address = "{client_address}"

[[service.real]]
ip = "2001:db8:1::11"
port = 8080
forward = "fullnat"
"#
        )
}

/// The endpoints of one test connection.
#[derive(Clone, Copy)]
struct Ends {
    client: (&'static str, u16),
    vip: (&'static str, u16),
    local: (&'static str, u16),
    real: (&'static str, u16),
}

const V4: Ends = Ends {
    client: ("192.0.2.10", 40000),
    vip: ("10.0.0.100", 80),
    local: ("10.1.0.2", 0),
    real: ("10.1.0.11", 8080),
};

const V6: Ends = Ends {
    client: ("2001:db8:c::10", 40000),
    vip: ("2001:db8::100", 80),
    local: ("2001:db8:1::2", 0),
    real: ("2001:db8:1::11", 8080),
};

fn from_client(e: Ends, s: &Seg) -> Vec<u8> {
    frame((GW_MAC, WAN_MAC), e.client, e.vip, 64, s)
}
fn from_real(e: Ends, lport: u16, s: &Seg) -> Vec<u8> {
    frame((REAL_MAC, LAN_MAC), e.real, (e.local.0, lport), 64, s)
}
fn to_real(e: Ends, lport: u16, s: &Seg) -> Vec<u8> {
    frame((LAN_MAC, REAL_MAC), (e.local.0, lport), e.real, 63, s)
}
fn to_client(e: Ends, s: &Seg) -> Vec<u8> {
    frame((WAN_MAC, GW_MAC), e.vip, e.client, 63, s)
}

/// The local port the director picks for `e`'s client (replay is deterministic).
fn local_port(name: &str, cfg: &str, e: Ends) -> u16 {
    let run = replay(
        name,
        cfg,
        &[(
            "wan0",
            vec![(secs(1.0), from_client(e, &syn(1000, None, 1460)))],
        )],
        &[],
    );
    verify(&run.out["lan0"][0].1).sport
}

/// SACK option with one block whose edges sit at odd offsets in the header
/// (NOP SACK ... NOP): their checksum updates take the byte-swapped path.
fn sack_odd(l: u32, r: u32) -> Vec<u8> {
    let mut o = vec![1, 5, 10];
    o.extend(l.to_be_bytes());
    o.extend(r.to_be_bytes());
    o.push(1);
    o
}

fn proxy_header(version: u8, e: Ends) -> Vec<u8> {
    let v6 = e.client.0.contains(':');
    if version == 1 {
        let fam = if v6 { "TCP6" } else { "TCP4" };
        return format!(
            "PROXY {fam} {} {} {} {}\r\n",
            e.client.0, e.vip.0, e.client.1, e.vip.1
        )
        .into_bytes();
    }
    let mut h = vec![13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10, 0x21];
    let addr = |s: &str| -> Vec<u8> {
        match s.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        }
    };
    let (fam, len): (u8, u16) = if v6 { (0x21, 36) } else { (0x11, 12) };
    h.push(fam);
    h.extend(len.to_be_bytes());
    h.extend(addr(e.client.0));
    h.extend(addr(e.vip.0));
    h.extend(e.client.1.to_be_bytes());
    h.extend(e.vip.1.to_be_bytes());
    h
}

/// One PROXY connection: handshake, header in the third ACK, two client segments, the
/// real's partial and full acknowledgments with SACK, and the first segment again.
fn proxy_case(version: u8, e: Ends, name: &str) {
    let cfg = config(&format!("proxy-v{version}"));
    let lport = local_port(&format!("{name}-port"), &cfg, e);
    let h = proxy_header(version, e);
    let n = h.len() as u32;
    let with_header = |payload: &[u8]| [h.as_slice(), payload].concat();
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let get = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    let more = b"more".to_vec();
    let second = c_isn + 1 + get.len() as u32;

    let client_in = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(r_isn + 1), &[], b""),
        seg(c_isn + 1, Some(r_isn + 1), &[], &get),
        seg(
            second,
            Some(r_isn + 1),
            &sack(r_isn + 100, r_isn + 200),
            &more,
        ),
        seg(c_isn + 1, Some(r_isn + 1), &[], &get),
    ];
    let real_in = [
        syn(r_isn, Some(c_isn + 1), 1460),
        seg(r_isn + 1, Some(c_isn + 1 + n / 2), &[], b""),
        seg(
            r_isn + 1,
            Some(c_isn + 1 + n + 4),
            &sack(c_isn + 1 + n + 10, second + n + 4),
            b"HTTP/1.0 200 OK\r\n",
        ),
    ];
    let t = |i: usize| secs(1.0 + i as f64 * 0.01);
    let wan: Vec<Record> = [0, 2, 4, 6, 7]
        .iter()
        .zip(&client_in)
        .map(|(&i, s)| (t(i), from_client(e, s)))
        .collect();
    let lan: Vec<Record> = [1, 3, 5]
        .iter()
        .zip(&real_in)
        .map(|(&i, s)| (t(i), from_real(e, lport, s)))
        .collect();
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);

    let want_real = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(r_isn + 1), &[], &with_header(b"")),
        seg(c_isn + 1, Some(r_isn + 1), &[], &with_header(&get)),
        seg(
            second + n,
            Some(r_isn + 1),
            &sack(r_isn + 100, r_isn + 200),
            &more,
        ),
        seg(c_isn + 1, Some(r_isn + 1), &[], &with_header(&get)),
    ]
    .map(|s| to_real(e, lport, &s));
    let want_client = [
        syn(r_isn, Some(c_isn + 1), 1460 - n as u16),
        seg(r_isn + 1, Some(c_isn + 1), &[], b""),
        seg(
            r_isn + 1,
            Some(c_isn + 5),
            &sack(c_isn + 11, second + 4),
            b"HTTP/1.0 200 OK\r\n",
        ),
    ]
    .map(|s| to_client(e, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_frames(&frames(&run.out["wan0"]), &want_client, "toward the client");
    assert_eq!(run.summary["proxy_headers_sent"], 3, "{}", run.summary);
}

/// The PROXY header's room check follows `[[port]] mtu`: at 1400, first data that fills
/// the MTU with the header goes with it; one byte more is dropped (`too_big`), where a
/// 1500 MTU would have carried it.
fn proxy_room_case(e: Ends, name: &str) {
    let mtu = 1400usize;
    let cfg = config_at("proxy-v2", 1400);
    let lport = local_port(&format!("{name}-port"), &cfg, e);
    let h = proxy_header(2, e);
    let ip_hdr = if e.client.0.contains(':') { 40 } else { 20 };
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let fits = vec![b'f'; mtu - ip_hdr - 20 - h.len()];
    let over = vec![b'o'; fits.len() + 1];
    let client_in = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(r_isn + 1), &[], &over),
        seg(c_isn + 1, Some(r_isn + 1), &[], &fits),
    ];
    let real_in = [syn(r_isn, Some(c_isn + 1), 1460)];
    let wan: Vec<Record> = [0, 2, 3]
        .iter()
        .zip(&client_in)
        .map(|(&i, s)| (secs(1.0 + f64::from(i) * 0.01), from_client(e, s)))
        .collect();
    let lan = vec![(secs(1.01), from_real(e, lport, &real_in[0]))];
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let with_header = [h.as_slice(), &fits].concat();
    let want_real = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(r_isn + 1), &[], &with_header),
    ]
    .map(|s| to_real(e, lport, &s));
    let got = frames(&run.out["lan0"]);
    assert_frames(&got, &want_real, "toward the real");
    assert_eq!(got[1].len(), 14 + mtu, "the header fills the MTU");
    assert_eq!(run.summary["dropped"]["too_big"], 1, "{}", run.summary);
}

#[test]
fn proxy_header_room_follows_the_port_mtu_v4_v6() {
    proxy_room_case(V4, "proxy-mtu1400-v4");
    proxy_room_case(V6, "proxy-mtu1400-v6");
}

#[test]
fn proxy_v1_header_shift_sack_and_retransmission_v4_v6() {
    proxy_case(1, V4, "pp1-v4");
    proxy_case(1, V6, "pp1-v6");
}

#[test]
fn proxy_v2_header_shift_sack_and_retransmission_v4_v6() {
    proxy_case(2, V4, "pp2-v4");
    proxy_case(2, V6, "pp2-v6");
}

fn toa_option(e: Ends) -> Vec<u8> {
    let mut o = vec![254, 0];
    o.extend(e.client.1.to_be_bytes());
    match e.client.0.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(a) => o.extend(a.octets()),
        std::net::IpAddr::V6(a) => o.extend(a.octets()),
    }
    o[1] = o.len() as u8;
    o
}

/// One TOA connection: the option rides in the third ACK and the client's segments until
/// the real sends data; a segment with full options and one at the port's MTU go without
/// it.
fn toa_case(e: Ends, name: &str, mtu: u16) {
    let cfg = config_at("toa", mtu);
    let lport = local_port(&format!("{name}-port"), &cfg, e);
    let toa = toa_option(e);
    let with_toa = |opts: &[u8]| [opts, toa.as_slice()].concat();
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let v6 = e.client.0.contains(':');
    // 40 option bytes (timestamps padded with NOPs up to the limit).
    let full_opts: Vec<u8> = [vec![1u8; 30], vec![8, 10, 0, 0, 0, 1, 0, 0, 0, 2]].concat();
    // A segment exactly at the MTU.
    let at_mtu = vec![b'x'; usize::from(mtu) - if v6 { 40 } else { 20 } - 20];
    let client_in = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(r_isn + 1), &[], b""),
        seg(c_isn + 1, Some(r_isn + 1), &[], b"hello"),
        seg(c_isn + 6, Some(r_isn + 1), &full_opts, b"full"),
        seg(c_isn + 10, Some(r_isn + 1), &[], &at_mtu),
        seg(
            c_isn + 10 + at_mtu.len() as u32,
            Some(r_isn + 6),
            &[],
            b"late",
        ),
    ];
    let real_in = [
        syn(r_isn, Some(c_isn + 1), 1460),
        seg(r_isn + 1, Some(c_isn + 6), &[], b"hello"),
    ];
    let t = |i: usize| secs(1.0 + i as f64 * 0.01);
    let wan: Vec<Record> = [0, 2, 3, 4, 5, 7]
        .iter()
        .zip(&client_in)
        .map(|(&i, s)| (t(i), from_client(e, s)))
        .collect();
    let lan: Vec<Record> = [1, 6]
        .iter()
        .zip(&real_in)
        .map(|(&i, s)| (t(i), from_real(e, lport, s)))
        .collect();
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let mut want_real = client_in.clone();
    want_real[1].opts = with_toa(&[]);
    want_real[2].opts = with_toa(&[]);
    let want_real = want_real.map(|s| to_real(e, lport, &s));
    let mut want_client = real_in.clone();
    want_client[0] = syn(r_isn, Some(c_isn + 1), 1460 - toa.len() as u16);
    let want_client = want_client.map(|s| to_client(e, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_frames(&frames(&run.out["wan0"]), &want_client, "toward the client");
    assert_eq!(run.summary["toa_added"], 2, "{}", run.summary);
    assert_eq!(run.summary["toa_skipped"], 2, "{}", run.summary);
}

#[test]
fn toa_v4_v6_placement_and_no_room() {
    toa_case(V4, "toa-v4", 1500);
    toa_case(V6, "toa-v6", 1500);
}

/// The TOA room check follows `[[port]] mtu`: at 1400 a 1400-byte segment goes without
/// the option (it would have fit under 1500).
#[test]
fn toa_room_follows_the_port_mtu_v4_v6() {
    toa_case(V4, "toa-mtu1400-v4", 1400);
    toa_case(V6, "toa-mtu1400-v6", 1400);
}

#[test]
fn client_address_needs_a_fullnat_tcp_service() {
    let cfg = config("proxy-v2").replace("forward = \"fullnat\"", "forward = \"nat\"");
    let dir = test_dir("client-addr-nat");
    let path = dir.join("rvs.toml");
    // The first service's `client_address` line, counted from 1.
    let line = 1 + cfg
        .lines()
        .position(|l| l.starts_with("client_address"))
        .expect("a client_address line");
    std::fs::write(&path, cfg).unwrap();
    let out = rvsd_replay(&path, "wan0=none.pcap", &dir.join("out"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("client_address \"proxy-v2\" needs a service whose reals are all"),
        "{err}"
    );
    assert!(
        err.contains(&format!("rvs.toml:{line}:")),
        "names the line: {err}"
    );
}

/// The configuration with `synproxy = true` on both services.
fn synproxy_config(client_address: &str) -> String {
    config(client_address).replace("client_address = ", "synproxy = true\nclient_address = ")
}

/// A segment with the window the SYN proxy announces in what it makes up.
fn proxy_made(s: Seg) -> Seg {
    Seg { window: 65535, ..s }
}

/// The cookie SYN-ACK the director answers `e`'s client SYN (ISN 1000, MSS 1460) with
/// at `at`: its sequence number.
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
    let tcp = etherparse::SlicedPacket::from_ethernet(&out[0]).unwrap();
    match tcp.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => t.sequence_number(),
        _ => panic!("not TCP"),
    }
}

/// A SYN-proxied PROXY v2 connection: the cookie SYN-ACK (no entry made), the client's
/// ACK opening the connection (the director's SYN to the real), client data before the
/// real answered dropped, the real's SYN-ACK turned into the client's ACK with the
/// header, then both shifts (the real's numbers by the ISN difference, the client's by
/// the header) with SACK blocks both ways (edges at odd offsets).
fn synproxy_case(e: Ends, name: &str) {
    let cfg = synproxy_config("proxy-v2");
    let lport = local_port(&format!("{name}-port"), &config("proxy-v2"), e);
    let cookie = cookie_for(&format!("{name}-cookie"), &cfg, e, 1.0);
    let v6 = e.client.0.contains(':');
    let h = proxy_header(2, e);
    let n = h.len() as u32;
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let get = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    let reply = b"HTTP/1.0 200 OK\r\n".to_vec();
    let after_get = c_isn + 1 + get.len() as u32;
    let client_in = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(cookie + 1), &[], b""),
        seg(c_isn + 1, Some(cookie + 1), &[], &get),
        seg(c_isn + 1, Some(cookie + 1), &[], &get),
        seg(
            after_get,
            Some(cookie + 1 + reply.len() as u32),
            &sack_odd(cookie + 100, cookie + 201),
            b"",
        ),
    ];
    let real_in = [
        syn(r_isn, Some(c_isn + 1), 1460),
        seg(
            r_isn + 1,
            Some(after_get + n),
            &sack_odd(c_isn + 1 + n + 2, c_isn + 1 + n + 5),
            &reply,
        ),
    ];
    let t = |i: usize| secs(1.0 + i as f64 * 0.01);
    let wan: Vec<Record> = [0, 1, 2, 4, 6]
        .iter()
        .zip(&client_in)
        .map(|(&i, s)| (t(i), from_client(e, s)))
        .collect();
    let lan: Vec<Record> = [3, 5]
        .iter()
        .zip(&real_in)
        .map(|(&i, s)| (t(i), from_real(e, lport, s)))
        .collect();
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);

    // The port's MTU less the IP and TCP headers and the longest v2 header.
    let mss = if v6 { 1500 - 60 - 52 } else { 1500 - 40 - 28 };
    let syn_ack = proxy_made(syn(cookie, Some(c_isn + 1), mss));
    let want_client = [
        frame((WAN_MAC, GW_MAC), e.vip, e.client, 64, &syn_ack),
        to_client(
            e,
            &seg(
                cookie + 1,
                Some(after_get),
                &sack_odd(c_isn + 3, c_isn + 6),
                &reply,
            ),
        ),
    ];
    let want_real = [
        proxy_made(syn(c_isn, None, 1460)),
        proxy_made(seg(c_isn + 1, Some(r_isn + 1), &[], &h)),
        seg(
            c_isn + 1,
            Some(r_isn + 1),
            &[],
            &[h.as_slice(), &get].concat(),
        ),
        seg(
            c_isn + 1,
            Some(r_isn + 1),
            &[],
            &[h.as_slice(), &get].concat(),
        ),
        seg(
            after_get + n,
            Some(r_isn + 1 + reply.len() as u32),
            &sack_odd(r_isn + 100, r_isn + 201),
            b"",
        ),
    ]
    .map(|s| to_real(e, lport, &s));
    assert_frames(&frames(&run.out["wan0"]), &want_client, "toward the client");
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_eq!(run.summary["syn_cookies_sent"], 1, "{}", run.summary);
    assert_eq!(run.summary["syn_cookies_accepted"], 1, "{}", run.summary);
    assert_eq!(run.summary["connections_created"], 1, "{}", run.summary);
    assert_eq!(run.summary["proxy_headers_sent"], 3, "{}", run.summary);
    assert_eq!(run.summary["synproxy_held"], 1, "{}", run.summary);
    assert_eq!(run.summary["synproxy_released"], 1, "{}", run.summary);
    assert!(
        run.summary["dropped"].get("synproxy_waiting").is_none(),
        "{}",
        run.summary
    );
}

/// The client's request rides in the cookie ACK and one more segment comes before the
/// real's SYN-ACK: both are held and follow the handshake-completing ACK to the real,
/// shifted, the first one with the PROXY header as on a connection without the proxy.
fn synproxy_held_case(e: Ends, client_address: &str, name: &str) {
    let cfg = synproxy_config(client_address);
    let lport = local_port(&format!("{name}-port"), &config(client_address), e);
    let cookie = cookie_for(&format!("{name}-cookie"), &cfg, e, 1.0);
    let h = match client_address {
        "proxy-v1" => proxy_header(1, e),
        "proxy-v2" => proxy_header(2, e),
        _ => Vec::new(),
    };
    let n = h.len() as u32;
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    let more = b"Accept: */*\r\n\r\n".to_vec();
    let after_get = c_isn + 1 + get.len() as u32;
    let wan = vec![
        (secs(1.0), from_client(e, &syn(c_isn, None, 1460))),
        (
            secs(1.01),
            from_client(e, &seg(c_isn + 1, Some(cookie + 1), &[], &get)),
        ),
        (
            secs(1.02),
            from_client(e, &seg(after_get, Some(cookie + 1), &[], &more)),
        ),
    ];
    let lan = vec![(
        secs(1.03),
        from_real(e, lport, &syn(r_isn, Some(c_isn + 1), 1460)),
    )];
    let run = replay(name, &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let want_real = [
        proxy_made(syn(c_isn, None, 1460)),
        proxy_made(seg(c_isn + 1, Some(r_isn + 1), &[], &h)),
        seg(
            c_isn + 1,
            Some(r_isn + 1),
            &[],
            &[h.as_slice(), &get].concat(),
        ),
        seg(after_get + n, Some(r_isn + 1), &[], &more),
    ]
    .map(|s| to_real(e, lport, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_eq!(
        run.out["wan0"].len(),
        1,
        "only the cookie SYN-ACK to the client"
    );
    assert_eq!(run.summary["synproxy_held"], 2, "{}", run.summary);
    assert_eq!(run.summary["synproxy_released"], 2, "{}", run.summary);
    assert_eq!(
        run.summary["dropped"],
        serde_json::json!({}),
        "{}",
        run.summary
    );
}

#[test]
fn synproxy_holds_the_cookie_ack_data_and_early_segments_until_the_real_answers() {
    synproxy_held_case(V4, "none", "syn-held-v4");
    synproxy_held_case(V6, "none", "syn-held-v6");
    synproxy_held_case(V4, "proxy-v1", "syn-held-pp1-v4");
    synproxy_held_case(V6, "proxy-v2", "syn-held-pp2-v6");
}

/// A waiting connection holds at most two segments; the third, and data-less client
/// segments, are dropped as `synproxy_waiting` (the client sends them again).
#[test]
fn synproxy_drops_what_it_cannot_hold() {
    let e = V4;
    let cfg = synproxy_config("none");
    let cookie = cookie_for("syn-full-cookie", &cfg, e, 1.0);
    let c = 1001u32;
    let wan = vec![
        (secs(1.0), from_client(e, &syn(1000, None, 1460))),
        (
            secs(1.01),
            from_client(e, &seg(c, Some(cookie + 1), &[], b"a")),
        ),
        (
            secs(1.02),
            from_client(e, &seg(c + 1, Some(cookie + 1), &[], b"b")),
        ),
        (
            secs(1.03),
            from_client(e, &seg(c + 2, Some(cookie + 1), &[], b"c")),
        ),
        (
            secs(1.04),
            from_client(e, &seg(c + 3, Some(cookie + 1), &[], b"")),
        ),
    ];
    let run = replay("syn-full", &cfg, &[("wan0", wan)], &[]);
    assert_eq!(run.out["lan0"].len(), 1, "only the SYN to the real");
    assert_eq!(run.summary["synproxy_held"], 2, "{}", run.summary);
    assert_eq!(
        run.summary["dropped"]["synproxy_waiting"], 2,
        "{}",
        run.summary
    );
}

#[test]
fn synproxy_handshake_and_shift_with_proxy_v2_v4_v6() {
    synproxy_case(V4, "syn-v4");
    synproxy_case(V6, "syn-v6");
}

/// SYNs toward a SYN-proxied service make no connection; an ACK whose cookie is wrong
/// (off by one, from another tuple, or with no SYN before it) or too old is dropped as
/// `synproxy_bad_cookie`, and nothing reaches the real.
#[test]
fn synproxy_drops_invalid_cookies_and_keeps_no_state_for_syns() {
    let cfg = synproxy_config("none");
    let e = V4;
    let cookie = cookie_for("syn-bad-cookie", &cfg, e, 1.0);
    let other = Ends {
        client: ("192.0.2.10", 40001),
        ..e
    };
    let mut wan: Vec<Record> = (0..50u16)
        .map(|i| {
            let from = Ends {
                client: ("192.0.2.77", 20000 + i),
                ..e
            };
            (secs(1.0), from_client(from, &syn(7, None, 1460)))
        })
        .collect();
    wan.extend([
        (secs(1.0), from_client(e, &syn(1000, None, 1460))),
        (
            secs(1.1),
            from_client(e, &seg(1001, Some(cookie + 2), &[], b"")),
        ),
        (
            secs(1.1),
            from_client(other, &seg(1001, Some(cookie + 1), &[], b"")),
        ),
        (secs(1.1), from_client(e, &seg(4242, Some(777), &[], b""))),
        // Two counters (128 s) later the cookie is stale.
        (
            secs(130.0),
            from_client(e, &seg(1001, Some(cookie + 1), &[], b"")),
        ),
    ]);
    let run = replay("syn-bad", &cfg, &[("wan0", wan)], &[]);
    assert!(
        !run.out.get("lan0").is_some_and(|o| !o.is_empty()),
        "nothing to the real"
    );
    assert_eq!(run.out["wan0"].len(), 51, "a SYN-ACK per SYN");
    assert_eq!(run.summary["syn_cookies_sent"], 51, "{}", run.summary);
    assert_eq!(run.summary["connections_created"], 0, "{}", run.summary);
    assert_eq!(
        run.summary["dropped"]["synproxy_bad_cookie"], 4,
        "{}",
        run.summary
    );
    // The same ACK in time opens the connection.
    let wan = vec![
        (secs(1.0), from_client(e, &syn(1000, None, 1460))),
        (
            secs(60.0),
            from_client(e, &seg(1001, Some(cookie + 1), &[], b"")),
        ),
    ];
    let run = replay("syn-good", &cfg, &[("wan0", wan)], &[]);
    assert_eq!(run.summary["connections_created"], 1, "{}", run.summary);
    assert_eq!(run.out["lan0"].len(), 1, "the SYN to the real");
}

/// The SYN proxy takes NAT reals as well as FULLNAT ones (their replies come back
/// through the director), but not a DR real, whose replies it never sees: refused at the
/// key's line, naming the real.
#[test]
fn synproxy_needs_reals_whose_replies_come_back() {
    let nat = synproxy_config("none").replace("forward = \"fullnat\"", "forward = \"nat\"");
    let run = replay("synproxy-nat", &nat, &[("wan0", Vec::new())], &[]);
    assert_eq!(run.summary["connections_created"], 0, "{}", run.summary);
    let dr = synproxy_config("none").replace(
        "port = 8080\nforward = \"fullnat\"",
        "port = 80\nforward = \"dr\"",
    );
    let line = dr.lines().position(|l| l == "synproxy = true").unwrap() + 1;
    let dir = test_dir("synproxy-dr");
    let path = dir.join("rvs.toml");
    std::fs::write(&path, dr).unwrap();
    let out = rvsd_replay(&path, "wan0=none.pcap", &dir.join("out"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("rvs.toml:{line}:"))
            && err.contains("synproxy needs reals with forward = \"nat\" or \"fullnat\"")
            && err.contains("real 10.1.0.11:80 is forward = \"dr\"")
            && err.contains("never sees its replies"),
        "{err}"
    );
}

/// The SYN proxy with TOA: the cookie SYN-ACK's MSS leaves room for the option, and the
/// ACK the director makes from the real's SYN-ACK carries it.
#[test]
fn synproxy_with_toa_v4() {
    let e = V4;
    let cfg = synproxy_config("toa");
    let lport = local_port("syn-toa-port", &config("toa"), e);
    let cookie = cookie_for("syn-toa-cookie", &cfg, e, 1.0);
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let wan = vec![
        (secs(1.0), from_client(e, &syn(c_isn, None, 1460))),
        (
            secs(1.01),
            from_client(e, &seg(c_isn + 1, Some(cookie + 1), &[], b"")),
        ),
    ];
    let lan = vec![(
        secs(1.02),
        from_real(e, lport, &syn(r_isn, Some(c_isn + 1), 1460)),
    )];
    let run = replay("syn-toa", &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let syn_ack = proxy_made(syn(cookie, Some(c_isn + 1), 1500 - 40 - 8));
    assert_frames(
        &frames(&run.out["wan0"]),
        &[frame((WAN_MAC, GW_MAC), e.vip, e.client, 64, &syn_ack)],
        "toward the client",
    );
    let want_real = [
        proxy_made(syn(c_isn, None, 1460)),
        proxy_made(seg(c_isn + 1, Some(r_isn + 1), &toa_option(e), b"")),
    ]
    .map(|s| to_real(e, lport, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_eq!(run.summary["toa_added"], 1, "{}", run.summary);
}

/// The handshake-completing ACK that carried the PROXY header is lost: the real, still
/// in SYN_RECV, sends its SYN-ACK again, the client answers with an ACK (a duplicate or
/// a challenge ACK), and that ACK carries the header again.
#[test]
fn proxy_header_rides_again_when_the_first_ack_is_lost() {
    let e = V4;
    let cfg = config("proxy-v1");
    let lport = local_port("pp-lost-port", &cfg, e);
    let h = proxy_header(1, e);
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let wan = vec![
        (secs(1.0), from_client(e, &syn(c_isn, None, 1460))),
        (
            secs(1.02),
            from_client(e, &seg(c_isn + 1, Some(r_isn + 1), &[], b"")),
        ),
        (
            secs(2.02),
            from_client(e, &seg(c_isn + 1, Some(r_isn + 1), &[], b"")),
        ),
    ];
    let lan = vec![
        (
            secs(1.01),
            from_real(e, lport, &syn(r_isn, Some(c_isn + 1), 1460)),
        ),
        (
            secs(2.01),
            from_real(e, lport, &syn(r_isn, Some(c_isn + 1), 1460)),
        ),
    ];
    let run = replay("pp-lost", &cfg, &[("wan0", wan), ("lan0", lan)], &[]);
    let want_real = [
        syn(c_isn, None, 1460),
        seg(c_isn + 1, Some(r_isn + 1), &[], &h),
        seg(c_isn + 1, Some(r_isn + 1), &[], &h),
    ]
    .map(|s| to_real(e, lport, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    assert_eq!(run.summary["proxy_headers_sent"], 2, "{}", run.summary);
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

/// The director's answer to `s` from `e`'s client at 1 s.
fn syn_ack_to(name: &str, cfg: &str, e: Ends, s: &Seg) -> Vec<u8> {
    let run = replay(
        name,
        cfg,
        &[("wan0", vec![(secs(1.0), from_client(e, s))])],
        &[],
    );
    let out = frames(&run.out["wan0"]);
    assert_eq!(out.len(), 1, "one SYN-ACK");
    out[0].clone()
}

/// The SYN-ACK's sequence number and timestamps option (TSval, TSecr), read with
/// etherparse.
fn seq_and_ts(frame: &[u8]) -> (u32, Option<(u32, u32)>) {
    let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let ts = t.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::Timestamp(v, e)) => Some((v, e)),
        _ => None,
    });
    (t.sequence_number(), ts)
}

/// A client that offers timestamps, SACK and window scale 8: the cookie SYN-ACK offers
/// them back (window scale `synproxy_wscale` = 7 by default) with the client's window
/// scale and SACK-permitted in its TSval's low bits; the director's SYN to the real
/// offers the client's own options; the ACK made from the real's SYN-ACK echoes its
/// TSval; afterwards the real's TSval moves to the cookie's clock toward the client and
/// the client's TSecr back. A client without timestamps gets the MSS only.
fn synproxy_options_case(e: Ends, name: &str) {
    let cfg = synproxy_config("none");
    let lport = local_port(&format!("{name}-port"), &config("none"), e);
    let v6 = e.client.0.contains(':');
    let (c_isn, r_isn) = (1000u32, 5000u32);
    let (c_ts, r_ts) = (111_111u32, 900_000u32);
    let client_syn = Seg {
        kind: Kind::Syn,
        ..seg(c_isn, None, &handshake_opts(1460, (c_ts, 0), 8), b"")
    };
    let answer = syn_ack_to(&format!("{name}-cookie"), &cfg, e, &client_syn);
    let (cookie, ts) = seq_and_ts(&answer);
    let (t, echo) = ts.expect("timestamps offered back");
    assert_eq!(echo, c_ts, "the client's TSval echoed");
    assert_eq!(
        t & 0x3f,
        0x10 | 8,
        "SACK-permitted and window scale 8 in the TSval"
    );
    let mss = 1500 - if v6 { 60 } else { 40 };
    let want = Seg {
        kind: Kind::Syn,
        ..proxy_made(seg(
            cookie,
            Some(c_isn + 1),
            &handshake_opts(mss, (t, c_ts), 7),
            b"",
        ))
    };
    assert_frames(
        &[answer],
        &[frame((WAN_MAC, GW_MAC), e.vip, e.client, 64, &want)],
        "the cookie SYN-ACK",
    );

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
    let real_syn_ack = Seg {
        kind: Kind::Syn,
        ..seg(
            r_isn,
            Some(c_isn + 1),
            &handshake_opts(1460, (r_ts, c_ts + 1), 7),
            b"",
        )
    };
    let lan = vec![
        (secs(1.02), from_real(e, lport, &real_syn_ack)),
        (
            secs(1.03),
            from_real(
                e,
                lport,
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
    let to_real_syn = handshake_opts(1460, (c_ts + 1, 0), 8);
    let want_real = [
        Seg {
            kind: Kind::Syn,
            ..proxy_made(seg(c_isn, None, &to_real_syn, b""))
        },
        // The made-up ACK's window: 65535 in the client's scale (8).
        Seg {
            window: 65535 >> 8,
            ..seg(c_isn + 1, Some(r_isn + 1), &ts_opt(c_ts + 1, r_ts), b"")
        },
        seg(c_isn + 1, Some(r_next), &ts_opt(c_ts + 9, r_ts + 10), b""),
    ]
    .map(|s| to_real(e, lport, &s));
    assert_frames(&frames(&run.out["lan0"]), &want_real, "toward the real");
    let want_client = [
        frame((WAN_MAC, GW_MAC), e.vip, e.client, 64, &want),
        to_client(
            e,
            &seg(
                cookie + 1,
                Some(c_isn + 1),
                &ts_opt(t + 10, c_ts + 1),
                &reply,
            ),
        ),
    ];
    assert_frames(&frames(&run.out["wan0"]), &want_client, "toward the client");

    // No timestamps: the MSS only, whatever else the client offers.
    let mut no_ts = vec![2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 8];
    no_ts.extend([1, 1, 1, 1]);
    let plain = Seg {
        kind: Kind::Syn,
        ..seg(c_isn, None, &no_ts, b"")
    };
    let answer = syn_ack_to(&format!("{name}-plain"), &cfg, e, &plain);
    let (cookie, ts) = seq_and_ts(&answer);
    assert_eq!(ts, None);
    let want = proxy_made(syn(cookie, Some(c_isn + 1), mss));
    assert_frames(
        &[answer],
        &[frame((WAN_MAC, GW_MAC), e.vip, e.client, 64, &want)],
        "the MSS-only SYN-ACK",
    );
}

#[test]
fn synproxy_negotiates_timestamps_sack_and_window_scale_v4_v6() {
    synproxy_options_case(V4, "syn-opts-v4");
    synproxy_options_case(V6, "syn-opts-v6");
}

/// `synproxy_wscale` is the window scale announced to clients with timestamps (at most
/// 14).
#[test]
fn synproxy_wscale_is_configured_per_service() {
    let e = V4;
    let cfg =
        synproxy_config("none").replace("synproxy = true", "synproxy = true\nsynproxy_wscale = 9");
    let client_syn = Seg {
        kind: Kind::Syn,
        ..seg(1000, None, &handshake_opts(1460, (5, 0), 2), b"")
    };
    let answer = syn_ack_to("syn-wscale", &cfg, e, &client_syn);
    let p = etherparse::SlicedPacket::from_ethernet(&answer).unwrap();
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let ws = t.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::WindowScale(w)) => Some(w),
        _ => None,
    });
    assert_eq!(ws, Some(9));

    let bad =
        synproxy_config("none").replace("synproxy = true", "synproxy = true\nsynproxy_wscale = 15");
    let dir = test_dir("synproxy-wscale");
    let path = dir.join("rvs.toml");
    std::fs::write(&path, bad).unwrap();
    let out = rvsd_replay(&path, "wan0=none.pcap", &dir.join("out"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("synproxy_wscale must be at most 14"), "{err}");
}
