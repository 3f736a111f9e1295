//! Content switching's parsers target.

use rvs_l7::{first_match, Protocol, Rule, Verdict};

/// The first byte picks the parser (low bit) and the bound (the rest, in 32-byte steps);
/// the other bytes are a connection's first bytes. Each is parsed whole and at a few
/// cuts: a decision or refusal on a prefix must be the whole's, and a decision is
/// matched against rules of both kinds.
pub fn run(data: &[u8]) {
    let Some((&head, stream)) = data.split_first() else {
        return;
    };
    let proto = if head & 1 == 0 {
        Protocol::Http
    } else {
        Protocol::Tls
    };
    let limit = usize::from(head >> 1) * 32 + 1;
    let whole = proto.parse(stream, limit);
    for cut in [
        stream.len() / 2,
        stream.len().saturating_sub(1),
        usize::from(head),
    ] {
        let early = proto.parse(&stream[..cut.min(stream.len())], limit);
        if early != Verdict::NeedMore {
            assert_eq!(early, whole, "a prefix decided otherwise than the whole");
        }
    }
    if let Verdict::Decided(d) = whole {
        let rules = [
            Rule {
                host: "*.example.com".parse().ok(),
                path_prefix: Some("/static/".into()),
                ..Rule::default()
            },
            Rule {
                sni: "api.example.com".parse().ok(),
                ..Rule::default()
            },
        ];
        let _ = first_match(&rules, &d);
    }
}

/// Seeds: a request with a host, an absolute-form request, a ClientHello with a server
/// name split over two records, and bytes of neither.
pub fn seeds() -> Vec<Vec<u8>> {
    let with_head = |head: u8, body: &[u8]| {
        let mut v = vec![head];
        v.extend_from_slice(body);
        v
    };
    let mut hello = vec![3, 3];
    hello.extend([7u8; 32]);
    hello.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
    let name = b"api.example.com";
    let mut sni = vec![0, 0, 0, name.len() as u8 + 5, 0, name.len() as u8 + 3, 0, 0];
    sni.push(name.len() as u8);
    sni.extend(name);
    hello.extend((sni.len() as u16).to_be_bytes());
    hello.extend(&sni);
    let mut msg = vec![1, 0];
    msg.extend((hello.len() as u16).to_be_bytes());
    msg.extend(hello);
    let mut records = Vec::new();
    for part in [&msg[..30], &msg[30..]] {
        records.extend([22, 3, 1, 0, part.len() as u8]);
        records.extend(part);
    }
    vec![
        with_head(
            0xfe,
            b"GET /static/a HTTP/1.1\r\nUser-Agent: x\r\nHost: img.example.com:80\r\n\r\n",
        ),
        with_head(
            0x40,
            b"GET http://a.example.com/x HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n",
        ),
        with_head(0xff, &records),
        with_head(0x21, b"\x80\x01garbage"),
    ]
}
