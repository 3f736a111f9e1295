//! The sync message format: the layout byte by byte, the round trip, and every refusal.

use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};

use super::record::{FLAG_LOCAL, FLAG_TEMPLATE};
use super::*;

fn fullnat() -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Tcp,
        mode: ForwardMode::FullNat,
        state: TcpState::Established,
        timeout_ms: 899_500,
        client: "10.50.0.100:40000".parse().unwrap(),
        vip: "10.50.0.10:80".parse().unwrap(),
        real: "10.60.0.11:8080".parse().unwrap(),
        local: Some("10.9.0.1:1025".parse().unwrap()),
        template: None,
        stream: StreamAdjust {
            kind: 3,
            flags: 7,
            inserted: 28,
            client_isn: 0x0102_0304,
            syn_proxy: 6,
            server_shift: 0x1112_1314,
            ts_shift: 0x2122_2324,
        },
    }
}

fn nat6_with_template() -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Udp,
        mode: ForwardMode::Nat,
        state: TcpState::None,
        timeout_ms: 300_000,
        client: "[fd00::2]:5000".parse().unwrap(),
        vip: "[fd00::10]:53".parse().unwrap(),
        real: "[fd01::11]:53".parse().unwrap(),
        local: None,
        template: Some("[fd00::]:0".parse().unwrap()),
        stream: StreamAdjust::default(),
    }
}

fn stamp(workers: u16, sequence: u32) -> Stamp {
    Stamp {
        workers,
        scheme: SchemeTag::LowBits,
        epoch: 0xdead_beef,
        sequence,
        sent_ms: 1_700_000_000_123,
        request: false,
    }
}

fn expect(workers: u16) -> Expect {
    Expect {
        workers,
        scheme: SchemeTag::LowBits,
    }
}

fn key() -> MessageAuth {
    MessageAuth::new(b"a key of at least sixteen bytes")
}

#[test]
fn a_batch_round_trips_and_fits_a_datagram() {
    let batch = [fullnat(), nat6_with_template()];
    let mut buf = [0u8; 1500];
    let len = encode(&stamp(2, 7), &batch, Some(&key()), &mut buf).unwrap();
    assert_eq!(len, HEADER_LEN + 2 * RECORD_LEN);
    assert_eq!((HEADER_LEN, RECORD_LEN), (64, 120));
    let h = open(&buf[..len], Some(&key()), expect(2)).unwrap();
    assert_eq!(h.stamp, stamp(2, 7));
    assert_eq!((h.auth, h.count), (AuthKind::HmacSha256, 2));
    let back: Vec<_> = records(&buf[..len], h).collect::<Result<_, _>>().unwrap();
    assert_eq!(back, batch);
    // The header, byte by byte.
    let mut want = Vec::new();
    want.extend_from_slice(b"RVSS");
    want.extend_from_slice(&[2, 1, 0, 2, 1, 0, 0, 0]);
    want.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    want.extend_from_slice(&7u32.to_be_bytes());
    want.extend_from_slice(&1_700_000_000_123u64.to_be_bytes());
    want.extend_from_slice(&[0, 2, 0, 120]);
    assert_eq!(&buf[..32], &want[..]);
    // The first record.
    let r = &buf[HEADER_LEN..];
    assert_eq!(&r[..8], &[1, 6, 2, 1, FLAG_LOCAL, 3, 7, 6]);
    assert_eq!(&r[8..12], &899_500u32.to_be_bytes());
    assert_eq!(
        &r[12..28],
        &[1, 2, 3, 4, 0x11, 0x12, 0x13, 0x14, 0x21, 0x22, 0x23, 0x24, 0, 28, 0, 0]
    );
    assert_eq!(
        &r[28 + 10..28 + 18],
        &[0xff, 0xff, 10, 50, 0, 100, 0x9c, 0x40],
        "the client, IPv4 mapped, and its port"
    );
    assert_eq!(&r[82 + 12..82 + 18], &[10, 9, 0, 1, 0x04, 0x01], "local");
    assert_eq!(&r[100..120], &[0; 20], "no template");
    assert_eq!(buf[HEADER_LEN + RECORD_LEN + 4], FLAG_TEMPLATE);
    // A full batch fits a 1500-byte IP packet; one more does not.
    let full = [fullnat(); MAX_RECORDS];
    let len = encode(&stamp(1, 0), &full, Some(&key()), &mut buf).unwrap();
    assert!(len + 28 <= 1500);
    assert_eq!(MAX_RECORDS, 11);
    let over = [fullnat(); MAX_RECORDS + 1];
    assert_eq!(encode(&stamp(1, 0), &over, None, &mut buf), None);
    assert_eq!(encode(&stamp(1, 0), &batch, None, &mut buf[..100]), None);
}

/// A backup's request for everything: a signed header without records, flag bit 0 of
/// byte 9; other flag bits are refused.
#[test]
fn a_request_is_a_flagged_header_without_records() {
    let mut buf = [0u8; 1500];
    let asking = Stamp {
        request: true,
        ..stamp(2, 3)
    };
    let len = encode(&asking, &[], Some(&key()), &mut buf).unwrap();
    assert_eq!((len, buf[9]), (HEADER_LEN, 1));
    let h = open(&buf[..len], Some(&key()), expect(2)).unwrap();
    assert!(h.stamp.request);
    assert_eq!(h.count, 0);
    buf[9] = 3;
    assert_eq!(header::parse(&buf[..len]), Err(SyncError::Magic));
}

#[test]
fn only_the_key_opens_a_signed_message() {
    let mut buf = [0u8; 1500];
    let len = encode(&stamp(1, 1), &[fullnat()], Some(&key()), &mut buf).unwrap();
    let msg = &buf[..len];
    let other = MessageAuth::new(b"another key, sixteen bytes or more");
    assert_eq!(open(msg, Some(&other), expect(1)), Err(SyncError::BadTag));
    // Any changed byte, the records' included, fails the tag.
    let mut changed = msg.to_vec();
    changed[HEADER_LEN + 9] ^= 0x80;
    assert_eq!(
        open(&changed, Some(&key()), expect(1)),
        Err(SyncError::BadTag)
    );
    // An unsigned message to a director with a key: refused, and the error says why.
    let len = encode(&stamp(1, 1), &[fullnat()], None, &mut buf).unwrap();
    let unsigned = &buf[..len];
    assert_eq!(&unsigned[TAG_AT..TAG_AT + TAG_LEN], &[0; TAG_LEN]);
    let e = open(unsigned, Some(&key()), expect(1)).unwrap_err();
    assert_eq!(e, SyncError::Unsigned);
    assert!(e.to_string().contains("insecure = true"), "{e}");
    // A director without a key (insecure) checks no tag.
    assert!(open(unsigned, None, expect(1)).is_ok());
    assert_eq!(e.refusal(), crate::ha::refusal::SyncRefusal::Auth);
}

#[test]
fn refusals_are_clear() {
    let mut buf = [0u8; 1500];
    let len = encode(&stamp(4, 1), &[fullnat()], Some(&key()), &mut buf).unwrap();
    let e = open(&buf[..len], Some(&key()), expect(2)).unwrap_err();
    assert_eq!(e, SyncError::Workers { theirs: 4, ours: 2 });
    assert!(e.to_string().contains("4 workers, this director 2"), "{e}");
    // Another local port scheme.
    let rss = Expect {
        workers: 4,
        scheme: SchemeTag::Rss { table: 128 },
    };
    let e = open(&buf[..len], Some(&key()), rss).unwrap_err();
    assert!(matches!(e, SyncError::Scheme { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("by the low bits of the port (flows owned by hash), this director by RSS queue (a redirection table of 128 entries)"),
        "{e}"
    );
    // Lengths: short, long, truncated header.
    assert_eq!(header::parse(&buf[..len - 1]), Err(SyncError::Truncated));
    assert_eq!(header::parse(&buf[..len + 1]), Err(SyncError::Truncated));
    assert_eq!(header::parse(&buf[..10]), Err(SyncError::Truncated));
    // Version 1, another magic, unknown codes.
    let mut other = buf;
    other[4] = 1;
    let e = header::parse(&other[..len]).unwrap_err();
    assert_eq!(e, SyncError::Version { theirs: 1, ours: 2 });
    assert!(e.to_string().contains("version 1, this director speaks 2"));
    let mut other = buf;
    other[5] = 9;
    assert_eq!(header::parse(&other[..len]), Err(SyncError::Magic));
    let mut other = buf;
    other[8] = 9;
    assert_eq!(header::parse(&other[..len]), Err(SyncError::Magic));
    let mut other = buf;
    other[31] = 104;
    assert_eq!(header::parse(&other[..len]), Err(SyncError::Magic));
    other[0] = b'X';
    assert_eq!(header::parse(&other[..len]), Err(SyncError::Magic));
    // A bad record is refused, the next still read.
    let len = encode(&stamp(4, 1), &[fullnat(), fullnat()], None, &mut buf).unwrap();
    buf[HEADER_LEN + 2] = 9;
    let h = open(&buf[..len], None, expect(4)).unwrap();
    let got: Vec<_> = records(&buf[..len], h).collect();
    assert_eq!(got, [Err(SyncError::Record), Ok(fullnat())]);
    // FULLNAT without its local endpoint, a template of another family: refused.
    let mut r = fullnat();
    r.local = None;
    let mut t = nat6_with_template();
    t.template = Some("10.0.0.0:0".parse().unwrap());
    for bad in [r, t] {
        let len = encode(&stamp(4, 1), &[bad], None, &mut buf).unwrap();
        let h = open(&buf[..len], None, expect(4)).unwrap();
        assert_eq!(records(&buf[..len], h).next(), Some(Err(SyncError::Record)));
    }
}

proptest::proptest! {
    #[test]
    fn any_bytes_are_refused_or_read_never_a_panic(bytes in proptest::collection::vec(0u8..=255, 0..800)) {
        let workers = bytes.get(6..8).map_or(0, |w| u16::from_be_bytes([w[0], w[1]]));
        let scheme = header::parse(&bytes).map_or(SchemeTag::LowBits, |h| h.stamp.scheme);
        for auth in [None, Some(key())] {
            if let Ok(h) = open(&bytes, auth.as_ref(), Expect { workers, scheme }) {
                for r in records(&bytes, h) {
                    let _ = r;
                }
            }
        }
    }
}
