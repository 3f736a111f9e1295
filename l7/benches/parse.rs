//! What content switching adds to a new connection: parsing its first bytes and
//! choosing the group (`cargo bench -p rvs-l7`).

use criterion::{black_box, criterion_main, Criterion};
use rvs_l7::{first_match, http, tls, Rule, Verdict};

/// A browser-like request: the host after a few headers.
const REQUEST: &[u8] = b"GET /static/app.js?v=3 HTTP/1.1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\
Host: img.example.com\r\nConnection: keep-alive\r\nCookie: session=0123456789abcdef\r\n\r\n";

/// A ClientHello record of a usual size (488 bytes) with the server name after three
/// other extensions.
fn hello() -> Vec<u8> {
    let mut ext = Vec::new();
    ext.extend([0xff, 0x01, 0, 1, 0]); // renegotiation_info
    ext.extend([0, 10, 0, 8, 0, 6, 0, 29, 0, 23, 0, 24]); // supported_groups
    ext.extend([0, 11, 0, 2, 1, 0]); // ec_point_formats
    let name = b"v2.api.example.com";
    ext.extend([0, 0, 0, name.len() as u8 + 5, 0, name.len() as u8 + 3, 0, 0]);
    ext.push(name.len() as u8);
    ext.extend(name);
    ext.extend([0, 51, 0x01, 0x40]); // key_share, 320 bytes
    ext.extend([0x5a; 320]);
    let mut body = vec![3, 3];
    body.extend([1u8; 32]);
    body.push(32);
    body.extend([2u8; 32]);
    body.extend([0, 32]);
    body.extend([0x13u8; 32]);
    body.extend([1, 0]);
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut msg = vec![1, 0];
    msg.extend((body.len() as u16).to_be_bytes());
    msg.extend(body);
    let mut rec = vec![22, 3, 1];
    rec.extend((msg.len() as u16).to_be_bytes());
    rec.extend(msg);
    rec
}

/// Eight rules, the matching one last.
fn rules(tls: bool) -> Vec<Rule> {
    (0..8)
        .map(|i| {
            let name = if i == 7 {
                if tls {
                    "*.api.example.com"
                } else {
                    "img.example.com"
                }
                .to_owned()
            } else {
                format!("site{i}.example.org")
            };
            let pattern = Some(name.parse().unwrap());
            if tls {
                Rule {
                    sni: pattern,
                    ..Rule::default()
                }
            } else {
                Rule {
                    host: pattern,
                    path_prefix: Some("/static/".into()),
                    ..Rule::default()
                }
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let http_rules = rules(false);
    c.bench_function("l7/http_parse_and_choose", |b| {
        b.iter(|| match http::parse(black_box(REQUEST), 4096) {
            Verdict::Decided(d) => first_match(&http_rules, &d),
            _ => unreachable!(),
        })
    });
    let hello = hello();
    let tls_rules = rules(true);
    c.bench_function("l7/tls_parse_and_choose", |b| {
        b.iter(|| match tls::parse(black_box(&hello), 4096) {
            Verdict::Decided(d) => first_match(&tls_rules, &d),
            _ => unreachable!(),
        })
    });
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default()
            .measurement_time(std::time::Duration::from_secs(3));
        targets = super::bench
    }
}
criterion_main!(group::benches);
