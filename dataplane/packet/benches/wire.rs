//! Per-packet cost of the packet layer: `parse_frame` and the NAT / FULLNAT rewrites.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_main, Criterion};
use etherparse::PacketBuilder;
use rvs_packet::rewrite::{fullnat_in, fullnat_out, nat_in};
use rvs_packet::wire::parse_frame;

const PAYLOAD: &[u8] = &[0x5a; 64];

fn tcp_v4() -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([192, 0, 2, 10], [10, 0, 0, 100], 64)
        .tcp(40000, 80, 1, 65535)
        .ack(1);
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    v
}

fn tcp_v6() -> Vec<u8> {
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let mut dst = src;
    src[15] = 0x10;
    dst[15] = 0x64;
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(src, dst, 64)
        .tcp(40000, 80, 1, 65535)
        .ack(1);
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    v
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn bench(c: &mut Criterion) {
    for (name, frame, local, real, vip, client) in [
        (
            "v4",
            tcp_v4(),
            sa("10.1.0.2:5001"),
            sa("10.1.0.11:8080"),
            sa("10.0.0.100:80"),
            sa("192.0.2.10:40000"),
        ),
        (
            "v6",
            tcp_v6(),
            sa("[2001:db8:1::2]:5001"),
            sa("[2001:db8:1::11]:8080"),
            sa("[2001:db8::64]:80"),
            sa("[2001:db8::10]:40000"),
        ),
    ] {
        let info = parse_frame(&frame).unwrap();
        let mut work = frame.clone();
        c.bench_function(&format!("parse_frame/tcp_{name}"), |b| {
            b.iter(|| parse_frame(black_box(&frame)).unwrap())
        });
        c.bench_function(&format!("copy_only/tcp_{name}"), |b| {
            b.iter(|| work.copy_from_slice(black_box(&frame)))
        });
        c.bench_function(&format!("nat_in/tcp_{name}"), |b| {
            b.iter(|| {
                work.copy_from_slice(&frame);
                nat_in(black_box(&mut work), &info, real).unwrap()
            })
        });
        c.bench_function(&format!("fullnat_in/tcp_{name}"), |b| {
            b.iter(|| {
                work.copy_from_slice(&frame);
                fullnat_in(black_box(&mut work), &info, local, real).unwrap()
            })
        });
        c.bench_function(&format!("fullnat_out/tcp_{name}"), |b| {
            b.iter(|| {
                work.copy_from_slice(&frame);
                fullnat_out(black_box(&mut work), &info, vip, client).unwrap()
            })
        });
        c.bench_function(&format!("parse_and_fullnat_in/tcp_{name}"), |b| {
            b.iter(|| {
                work.copy_from_slice(&frame);
                let info = parse_frame(black_box(&work)).unwrap();
                fullnat_in(&mut work, &info, local, real).unwrap()
            })
        });
    }
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
