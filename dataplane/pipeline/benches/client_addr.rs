//! Per-packet cost of the FULLNAT client-address features, on one IPv4 segment already
//! rewritten by FULLNAT: the PROXY sequence shift each way (SACK included on the way
//! out), the PROXY v2 header insertion (first segment), and the TOA option insertion;
//! and the SYN proxy's: a cookie made and checked, a client SYN turned into the cookie
//! SYN-ACK, and the sequence shift each way once both halves are open; and the PROXY v2
//! datagram header put in front of a 64-byte UDP datagram. Each iteration
//! but the cookie ones copies the frame into a fresh buffer; `copy_only` is that cost
//! alone.

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};

use criterion::{criterion_main, Criterion};
use etherparse::PacketBuilder;
use rvs_config::ClientAddress;
use rvs_conntrack::{
    ConnId, ConnKey, ConnTable, ConnView, Direction, ForwardMode, NewConn, Proto, StreamAdjust,
    Timeouts,
};
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_packet::wire::{parse_frame, FrameInfo};
use rvs_pipeline::client_addr::{on_datagram, on_segment};
use rvs_pipeline::synproxy::{self, CookieKey};

const MTU: usize = 1500;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A segment between `src` and `dst` with `seq`, `ack`, raw options and 64 bytes.
fn frame(src: SocketAddr, dst: SocketAddr, seq: u32, syn: bool, opts: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!()
    };
    let mut t = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(s.octets(), d.octets(), 63)
        .tcp(src.port(), dst.port(), seq, 65535);
    if syn {
        t = t.syn();
    }
    let t = t.ack(5001).options_raw(opts).unwrap();
    let mut v = Vec::new();
    t.write(&mut v, if syn { &[] } else { &[0x5a; 64] })
        .unwrap();
    v
}

fn conn(how: ClientAddress) -> (ConnId, ConnTable) {
    let mut t = ConnTable::new(16, Timeouts::default());
    let id = t
        .insert(
            NewConn {
                proto: Proto::Tcp,
                client: sa("192.0.2.10:40000"),
                vip: sa("10.0.0.100:80"),
                local: Some(sa("10.1.0.2:5001")),
                real: sa("10.1.0.11:8080"),
                mode: ForwardMode::FullNat,
                service: 1,
                dest: 1,
                template: None,
            },
            0,
        )
        .unwrap();
    rvs_pipeline::client_addr::init(&mut t, id, how);
    (id, t)
}

/// Refill `b` (allocated once) with `f`.
fn refill(b: &mut HeapBuf, f: &[u8]) {
    b.trim(b.len());
    b.append(f.len()).unwrap();
    b.data_mut().copy_from_slice(f);
}

/// Run `f` once on a fresh copy in `b`; returns the stream state after.
fn run(
    b: &mut HeapBuf,
    f: &[u8],
    info: &FrameInfo,
    c: &ConnView<'_>,
    st: StreamAdjust,
    dir: Direction,
) -> StreamAdjust {
    let mut st = st;
    refill(b, f);
    on_segment(b, info, c, &mut st, dir, MTU).unwrap();
    black_box(b.data());
    st
}

fn bench(cr: &mut Criterion) {
    let (local, real) = (sa("10.1.0.2:5001"), sa("10.1.0.11:8080"));
    let (vip, client) = (sa("10.0.0.100:80"), sa("192.0.2.10:40000"));
    let syn = frame(local, real, 1000, true, &[]);
    let first = frame(local, real, 1001, false, &[]);
    let later = frame(local, real, 2001, false, &[]);
    let sack = [1, 1, 5, 10, 0, 0, 0x07, 0xd0, 0, 0, 0x0b, 0xb8];
    let reply = frame(vip, client, 5001, false, &sack);
    let info = |f: &[u8]| parse_frame(f).unwrap();
    let mut buf = HeapBuf::new();

    for how in [ClientAddress::ProxyV2, ClientAddress::Toa] {
        let (id, t) = conn(how);
        let c = t.view(id);
        let after_syn = run(
            &mut buf,
            &syn,
            &info(&syn),
            &c,
            c.stream(),
            Direction::Original,
        );
        let established = run(
            &mut buf,
            &first,
            &info(&first),
            &c,
            after_syn,
            Direction::Original,
        );
        let name = how.name();
        let (fi, li, ri) = (info(&first), info(&later), info(&reply));
        cr.bench_function(&format!("client_addr/{name}/first_segment"), |b| {
            b.iter(|| run(&mut buf, &first, &fi, &c, after_syn, Direction::Original))
        });
        cr.bench_function(&format!("client_addr/{name}/later_segment_in"), |b| {
            b.iter(|| run(&mut buf, &later, &li, &c, established, Direction::Original))
        });
        cr.bench_function(&format!("client_addr/{name}/reply_with_sack"), |b| {
            b.iter(|| run(&mut buf, &reply, &ri, &c, established, Direction::Reply))
        });
    }
    syn_proxy(cr, &mut buf);
    udp_datagram(cr, &mut buf);
    cr.bench_function("client_addr/copy_only", |b| {
        b.iter(|| {
            refill(&mut buf, &later);
            black_box(buf.data());
        })
    });
}

/// The PROXY v2 header in front of a UDP datagram of a `proxy-v2` FULLNAT connection.
fn udp_datagram(cr: &mut Criterion, buf: &mut HeapBuf) {
    let mut t = ConnTable::new(16, Timeouts::default());
    let id = t
        .insert(
            NewConn {
                proto: Proto::Udp,
                client: sa("192.0.2.10:40000"),
                vip: sa("10.0.0.100:53"),
                local: Some(sa("10.1.0.2:5001")),
                real: sa("10.1.0.11:5353"),
                mode: ForwardMode::FullNat,
                service: 1,
                dest: 1,
                template: None,
            },
            0,
        )
        .unwrap();
    rvs_pipeline::client_addr::init(&mut t, id, ClientAddress::ProxyV2);
    let c = t.view(id);
    let mut f = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 1, 0, 2], [10, 1, 0, 11], 63)
        .udp(5001, 5353)
        .write(&mut f, &[0x5a; 64])
        .unwrap();
    let info = parse_frame(&f).unwrap();
    let st = c.stream();
    cr.bench_function("client_addr/proxy-v2/udp_datagram", |b| {
        b.iter(|| {
            refill(buf, &f);
            on_datagram(buf, &info, &c, &st, Direction::Original).unwrap();
            black_box(buf.data());
        })
    });
}

/// The SYN proxy's per-packet work.
fn syn_proxy(cr: &mut Criterion, buf: &mut HeapBuf) {
    let (vip, client) = (sa("10.0.0.100:80"), sa("192.0.2.10:40000"));
    let (local, real) = (sa("10.1.0.2:5001"), sa("10.1.0.11:8080"));
    let key = ConnKey {
        proto: Proto::Tcp,
        src: client.ip(),
        sport: client.port(),
        dst: vip.ip(),
        dport: vip.port(),
    };
    let cookies = CookieKey::new(1);
    let now = 1_000_000;
    let cookie = cookies.make(&key, 1000, 3, now);
    cr.bench_function("synproxy/cookie_make", |b| {
        b.iter(|| cookies.make(black_box(&key), black_box(1000), 3, now))
    });
    cr.bench_function("synproxy/cookie_check", |b| {
        b.iter(|| cookies.check(black_box(&key), 1000, black_box(cookie), now))
    });
    let mss = [2, 4, 0x05, 0xb4];
    let syn = frame(client, vip, 1000, true, &mss);
    let si = parse_frame(&syn).unwrap();
    cr.bench_function("synproxy/answer_syn", |b| {
        b.iter(|| {
            refill(buf, &syn);
            synproxy::answer_syn(buf, &si, &key, &cookies, 1432, 7, now).unwrap();
            black_box(buf.data());
        })
    });
    // MSS, SACK-permitted, timestamps, window scale: the options go in the TSval.
    let full = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let syn_ts = frame(client, vip, 1000, true, &full);
    let sti = parse_frame(&syn_ts).unwrap();
    cr.bench_function("synproxy/answer_syn_with_timestamps", |b| {
        b.iter(|| {
            refill(buf, &syn_ts);
            synproxy::answer_syn(buf, &sti, &key, &cookies, 1432, 7, now).unwrap();
            black_box(buf.data());
        })
    });
    cr.bench_function("synproxy/hold_and_release", |b| {
        let mut held = synproxy::HeldSegments::new(1024);
        b.iter(|| {
            let id = rvs_conntrack::ConnId(black_box(77));
            held.hold(id, 5, synproxy::held::PER_CONN, 1usize, |_, _| true, |_| ())
                .unwrap();
            held.release(id, 5, |x| {
                black_box(x);
            });
        })
    });
    // Both halves open: the real's SYN-ACK taken, the shift noted.
    let (id, t) = conn(ClientAddress::None);
    let c = t.view(id);
    let mut open = c.stream();
    let mut ack = synproxy::CookieAck {
        client_isn: 1000,
        cookie,
        mss: 1460,
        carries_data: false,
        timestamps: None,
        wscale: None,
        sack: false,
    };
    synproxy::sent_syn(&mut open, &ack);
    let syn_ack = frame(real, local, 5000, true, &mss);
    refill(buf, &syn_ack);
    synproxy::ack_from_synack(buf, &parse_frame(&syn_ack).unwrap(), &key, &mut open).unwrap();
    // The same with timestamps on.
    let mut open_ts = c.stream();
    ack.timestamps = Some((9, 0x1234_5678));
    synproxy::sent_syn(&mut open_ts, &ack);
    let syn_ack_ts = frame(real, local, 5000, true, &full);
    refill(buf, &syn_ack_ts);
    let sati = parse_frame(&syn_ack_ts).unwrap();
    synproxy::ack_from_synack(buf, &sati, &key, &mut open_ts).unwrap();
    let ts = [1, 1, 8, 10, 0, 0, 0, 10, 0, 0, 0, 9];
    let later_ts = frame(local, real, 2001, false, &ts);
    let reply_ts = frame(vip, client, 5001, false, &ts);
    let (lti, rti) = (
        parse_frame(&later_ts).unwrap(),
        parse_frame(&reply_ts).unwrap(),
    );
    cr.bench_function("synproxy/shift_in_with_timestamps", |b| {
        b.iter(|| run(buf, &later_ts, &lti, &c, open_ts, Direction::Original))
    });
    cr.bench_function("synproxy/shift_out_with_timestamps", |b| {
        b.iter(|| run(buf, &reply_ts, &rti, &c, open_ts, Direction::Reply))
    });
    let later = frame(local, real, 2001, false, &[]);
    let sack = [1, 1, 5, 10, 0, 0, 0x07, 0xd0, 0, 0, 0x0b, 0xb8];
    let later_sack = frame(local, real, 2001, false, &sack);
    let reply = frame(vip, client, 5001, false, &[]);
    let (li, lsi, ri) = (
        parse_frame(&later).unwrap(),
        parse_frame(&later_sack).unwrap(),
        parse_frame(&reply).unwrap(),
    );
    cr.bench_function("synproxy/shift_in", |b| {
        b.iter(|| run(buf, &later, &li, &c, open, Direction::Original))
    });
    cr.bench_function("synproxy/shift_in_with_sack", |b| {
        b.iter(|| run(buf, &later_sack, &lsi, &c, open, Direction::Original))
    });
    cr.bench_function("synproxy/shift_out", |b| {
        b.iter(|| run(buf, &reply, &ri, &c, open, Direction::Reply))
    });
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
