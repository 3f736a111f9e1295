//! Per-packet cost of the FULLNAT client-address features, on one IPv4 segment already
//! rewritten by FULLNAT: the PROXY sequence shift each way (SACK included on the way
//! out), the PROXY v2 header insertion (first segment), and the TOA option insertion.
//! Each iteration copies the frame into a fresh buffer; `copy_only` is that cost alone.

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};

use criterion::{criterion_main, Criterion};
use etherparse::PacketBuilder;
use rvs_conntrack::{
    ConnId, ConnTable, ConnView, Direction, ForwardMode, NewConn, Proto, StreamAdjust, Timeouts,
};
use rvs_dataplane::config::ClientAddress;
use rvs_dataplane::packet::{HeapBuf, PacketBuf};
use rvs_dataplane::rewrite::client_addr::on_segment;
use rvs_dataplane::wire::{parse_frame, FrameInfo};

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
    rvs_dataplane::rewrite::client_addr::init(&mut t, id, how);
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
    cr.bench_function("client_addr/copy_only", |b| {
        b.iter(|| {
            refill(&mut buf, &later);
            black_box(buf.data());
        })
    });
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
