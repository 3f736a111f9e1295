//! The parsers over requests and hellos built here, fed every prefix and every split:
//! a prefix of a deciding input needs more (never a wrong decision), the whole decides,
//! and what follows a decision never changes it.

use proptest::prelude::*;
use rvs_l7::{http, tls, Decision, Refusal, Verdict};

const LIMIT: usize = 4096;

/// A ClientHello handshake message with `extensions` (type, body), as RFC 8446 lays it
/// out (no record header).
fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([7u8; 32]); // random
    body.push(32);
    body.extend([9u8; 32]); // session id
    body.extend([0, 4, 0x13, 0x01, 0x13, 0x02]); // cipher suites
    body.extend([1, 0]); // compression: null
    let mut ext = Vec::new();
    for (kind, data) in extensions {
        ext.extend(kind.to_be_bytes());
        ext.extend((data.len() as u16).to_be_bytes());
        ext.extend(data);
    }
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut msg = vec![1];
    msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend(body);
    msg
}

fn server_name(name: &str) -> (u16, Vec<u8>) {
    let mut entry = vec![0];
    entry.extend((name.len() as u16).to_be_bytes());
    entry.extend(name.as_bytes());
    let mut list = (entry.len() as u16).to_be_bytes().to_vec();
    list.extend(entry);
    (0, list)
}

/// `msg` in handshake records cut at `cuts` (offsets into `msg`, ascending).
fn records(msg: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([&msg.len()]) {
        let end = end.min(msg.len());
        if end > start {
            out.extend([22, 3, 1]);
            out.extend(((end - start) as u16).to_be_bytes());
            out.extend(&msg[start..end]);
            start = end;
        }
    }
    out
}

fn typical_hello(sni: Option<&str>) -> Vec<u8> {
    let mut ext = vec![(43u16, vec![2, 3, 4]), (10, vec![0, 2, 0, 29])];
    if let Some(s) = sni {
        ext.push(server_name(s));
    }
    ext.push((51, vec![0x5a; 1200])); // a large key share after the name
    hello(&ext)
}

fn sni_of(v: Verdict<'_>) -> Option<String> {
    match v {
        Verdict::Decided(Decision::Tls { sni }) => sni.map(|n| n.to_string()),
        other => panic!("not decided: {other:?}"),
    }
}

/// Every strict prefix of `data` needs more; `data` itself gives `whole`.
fn every_prefix_needs_more(parse: fn(&[u8], usize) -> Verdict<'_>, data: &[u8], decided_at: usize) {
    for n in 0..decided_at {
        assert_eq!(
            parse(&data[..n], LIMIT),
            Verdict::NeedMore,
            "prefix of {n} bytes"
        );
    }
}

#[test]
fn tls_server_name_at_every_record_split() {
    let msg = typical_hello(Some("API.example.com"));
    for cut in 0..=msg.len() {
        let data = records(&msg, &[cut]);
        assert_eq!(
            sni_of(tls::parse(&data, LIMIT)).as_deref(),
            Some("api.example.com"),
            "cut {cut}"
        );
    }
    // Decided at the end of the name: the key share after it is never needed.
    let data = records(&msg, &[]);
    let name_end = data
        .windows(15)
        .position(|w| w == b"API.example.com")
        .unwrap()
        + 15;
    every_prefix_needs_more(tls::parse, &data, name_end);
    assert!(matches!(
        tls::parse(&data[..name_end], LIMIT),
        Verdict::Decided(_)
    ));
}

#[test]
fn tls_hello_in_one_byte_records() {
    let msg = typical_hello(Some("a.example"));
    let cuts: Vec<usize> = (1..msg.len()).collect();
    let data = records(&msg, &cuts);
    assert_eq!(
        sni_of(tls::parse(&data, 1 << 16)).as_deref(),
        Some("a.example")
    );
    // Six bytes on the wire for each of the hello's: over a smaller bound before the
    // name ends, refused, not misread.
    assert_eq!(tls::parse(&data, 256), Verdict::Refused(Refusal::Oversized));
    assert_eq!(tls::parse(&data[..255], 256), Verdict::NeedMore);
}

#[test]
fn tls_without_server_name_decides_at_the_end_of_the_extensions() {
    let data = records(&typical_hello(None), &[]);
    every_prefix_needs_more(tls::parse, &data, data.len());
    assert_eq!(sni_of(tls::parse(&data, LIMIT)), None);
    // No extensions at all.
    let mut bare = hello(&[]);
    bare.truncate(bare.len() - 2);
    let n = bare.len() as u32 - 4;
    bare[1..4].copy_from_slice(&n.to_be_bytes()[1..]);
    assert_eq!(sni_of(tls::parse(&records(&bare, &[]), LIMIT)), None);
}

#[test]
fn tls_refusals() {
    let refused = |d: &[u8]| match tls::parse(d, LIMIT) {
        Verdict::Refused(r) => r,
        other => panic!("{d:?}: {other:?}"),
    };
    assert_eq!(refused(b"GET / HTTP/1.1\r\n"), Refusal::NotTls);
    assert_eq!(refused(&[22, 2]), Refusal::NotTls);
    assert_eq!(refused(&[22, 3, 1, 0, 0]), Refusal::NotTls, "empty record");
    assert_eq!(
        refused(&[22, 3, 1, 0x40, 1]),
        Refusal::NotTls,
        "record over 2^14"
    );
    assert_eq!(
        refused(&[22, 3, 1, 0, 4, 2, 0, 0, 0]),
        Refusal::BadHello,
        "not a ClientHello"
    );
    let mut msg = typical_hello(Some("x.example"));
    // An extension longer than the extensions.
    let at = msg.windows(2).position(|w| w == [0, 43]).unwrap();
    msg[at + 2..at + 4].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(refused(&records(&msg, &[])), Refusal::BadHello);
    // A record of another type between the hello's records.
    let msg = typical_hello(Some("x.example"));
    let mut data = records(&msg[..20], &[]);
    data.extend([23, 3, 3, 0, 1, 0]);
    assert_eq!(refused(&data), Refusal::NotTls);
    let bad = typical_hello(Some("x y"));
    assert_eq!(refused(&records(&bad, &[])), Refusal::BadHost);
}

#[test]
fn http_request_split_at_every_byte() {
    let req = b"GET /static/a.css HTTP/1.1\r\nUser-Agent: t\r\nHost: Img.Example.com:8080\r\nCookie: c\r\n\r\n";
    let host_end = req.windows(6).position(|w| w == b"8080\r\n").unwrap() + 6;
    every_prefix_needs_more(http::parse, req, host_end);
    for n in host_end..=req.len() {
        match http::parse(&req[..n], LIMIT) {
            Verdict::Decided(Decision::Http { host, path }) => {
                assert_eq!(host.unwrap().to_string(), "img.example.com");
                assert_eq!(path, b"/static/a.css");
            }
            other => panic!("{n}: {other:?}"),
        }
    }
}

#[test]
fn http_oversized_header_before_host() {
    let mut req = b"GET / HTTP/1.1\r\nCookie: ".to_vec();
    req.extend(vec![b'c'; LIMIT]);
    req.extend(b"\r\nHost: a\r\n\r\n");
    assert_eq!(
        http::parse(&req, LIMIT),
        Verdict::Refused(Refusal::Oversized)
    );
    assert_eq!(http::parse(&req[..LIMIT - 1], LIMIT), Verdict::NeedMore);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: no panic, and a decision never changes as bytes are added.
    #[test]
    fn any_bytes_decide_stably(data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
        for parse in [http::parse as fn(&[u8], usize) -> Verdict<'_>, tls::parse] {
            let cut = cut.min(data.len());
            let early = parse(&data[..cut], 512);
            let late = parse(&data, 512);
            match early {
                Verdict::Decided(_) | Verdict::Refused(_) => prop_assert_eq!(early, late),
                Verdict::NeedMore => {}
            }
        }
    }

    /// A hello with any name, cut into records anywhere, gives that name.
    #[test]
    fn hello_cut_anywhere(name in "[a-z0-9]{1,20}(\\.[a-z0-9]{1,20}){0,3}", mut cuts in proptest::collection::vec(0usize..1400, 0..6)) {
        let msg = typical_hello(Some(&name));
        cuts.sort_unstable();
        let data = records(&msg, &cuts);
        prop_assert_eq!(sni_of(tls::parse(&data, LIMIT)), Some(name));
    }

    /// A request with any host, case and port decides its host lowercased, portless.
    #[test]
    fn request_host_any_case_and_port(name in "[a-zA-Z0-9]{1,20}(\\.[a-zA-Z0-9-]{1,20}){0,3}", port in proptest::option::of(0u16..), lf_only in any::<bool>()) {
        let eol = if lf_only { "\n" } else { "\r\n" };
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let req = format!("POST /x HTTP/1.0{eol}hOsT:\t{name}{port}{eol}{eol}");
        match http::parse(req.as_bytes(), LIMIT) {
            Verdict::Decided(Decision::Http { host, path }) => {
                prop_assert_eq!(host.unwrap().to_string(), name.to_ascii_lowercase());
                prop_assert_eq!(path, b"/x");
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Valid inputs with a few bytes changed: no panic, and decisions stay stable as
    /// bytes are added (the cut anywhere).
    #[test]
    fn damaged_inputs_decide_stably(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let req = b"GET http://a.example/x HTTP/1.1\r\nHost: b.example:80\r\n\r\n".to_vec();
        let hello = records(&typical_hello(Some("c.example")), &[40]);
        for (mut data, parse) in [(req, http::parse as fn(&[u8], usize) -> Verdict<'_>), (hello, tls::parse)] {
            for (at, b) in &edits {
                let i = at.index(data.len());
                data[i] = *b;
            }
            let cut = cut.index(data.len() + 1);
            let early = parse(&data[..cut], LIMIT);
            if early != Verdict::NeedMore {
                prop_assert_eq!(early, parse(&data, LIMIT));
            }
        }
    }
}
