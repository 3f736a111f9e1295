//! TCP segments for replay tests, built with etherparse: flags, sequence, acknowledgment,
//! raw options, payload and window, framed between two MACs; and frame-by-frame
//! comparison of rvsd's output with them.

use etherparse::PacketBuilder;

use super::{mac, verify, Record};

/// TCP flags of a [`Seg`] (ACK is set by its acknowledgment number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Syn,
    Fin,
    Rst,
}

/// A TCP segment: flags, sequence, acknowledgment (none: ACK off), raw options,
/// payload, window.
#[derive(Clone)]
pub struct Seg {
    pub kind: Kind,
    pub seq: u32,
    pub ack: Option<u32>,
    pub opts: Vec<u8>,
    pub payload: Vec<u8>,
    pub window: u16,
}

/// A segment without SYN, FIN or RST, window 64240.
pub fn seg(seq: u32, ack: Option<u32>, opts: &[u8], payload: &[u8]) -> Seg {
    Seg {
        kind: Kind::Plain,
        seq,
        ack,
        opts: opts.to_vec(),
        payload: payload.to_vec(),
        window: 64240,
    }
}

/// A SYN (a SYN-ACK with `ack`) offering `mss`.
pub fn syn(seq: u32, ack: Option<u32>, mss: u16) -> Seg {
    let m = mss.to_be_bytes();
    Seg {
        kind: Kind::Syn,
        ..seg(seq, ack, &[2, 4, m[0], m[1]], b"")
    }
}

/// The frame of `s` from `src` to `dst` between the MACs, with `ttl`.
pub fn frame(macs: (&str, &str), src: (&str, u16), dst: (&str, u16), ttl: u8, s: &Seg) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(mac(macs.0), mac(macs.1));
    let ip = match (
        src.0.parse::<std::net::IpAddr>().unwrap(),
        dst.0.parse::<std::net::IpAddr>().unwrap(),
    ) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => eth.ipv4(a.octets(), b.octets(), ttl),
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => eth.ipv6(a.octets(), b.octets(), ttl),
        _ => panic!("mixed families"),
    };
    let mut t = ip.tcp(src.1, dst.1, s.seq, s.window);
    t = match s.kind {
        Kind::Plain => t,
        Kind::Syn => t.syn(),
        Kind::Fin => t.fin(),
        Kind::Rst => t.rst(),
    };
    if let Some(a) = s.ack {
        t = t.ack(a);
    }
    let t = t.options_raw(&s.opts).expect("options fit");
    let mut out = Vec::new();
    t.write(&mut out, &s.payload).expect("build");
    out
}

/// The frames of a capture, without their times.
pub fn frames(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|(_, f)| f.clone()).collect()
}

/// Compare frame by frame (each one's checksums verified), naming the first that
/// differs.
pub fn assert_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        verify(g);
        assert_eq!(g, w, "{what}: frame {i} differs");
    }
    assert_eq!(got.len(), want.len(), "{what}: frame count");
}

/// SACK option (NOP NOP SACK) with one block.
pub fn sack(l: u32, r: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 5, 10];
    o.extend(l.to_be_bytes());
    o.extend(r.to_be_bytes());
    o
}
