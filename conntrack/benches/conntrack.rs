//! Connection table benches at 1k and 1M live connections: lookup hit and miss,
//! insert + remove, and expiry throughput.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rvs_conntrack::{ConnKey, ConnTable, ForwardMode, NewConn, Proto, Timeouts};

const SIZES: [(usize, &str); 2] = [(1_000, "1k"), (1_000_000, "1M")];
/// Prime stride: visits keys out of order so that large tables miss the cache.
const STRIDE: usize = 7919;

fn new_conn(i: usize) -> NewConn {
    let client = Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i as u32));
    NewConn {
        proto: Proto::Tcp,
        client: SocketAddr::new(IpAddr::V4(client), 40000 + (i % 20000) as u16),
        vip: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80),
        local: Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(0xac10_0000u32 + (i / 60000) as u32)),
            (i % 60000) as u16 + 1024,
        )),
        real: SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i % 16) as u8)),
            8080,
        ),
        mode: ForwardMode::FullNat,
        service: 1,
        dest: (i % 16) as u32,
        template: None,
    }
}

fn filled(n: usize, extra: usize, timeouts: Timeouts) -> ConnTable {
    let mut t = ConnTable::new(n + extra, timeouts);
    for d in 0..16 {
        t.set_dest_thresholds(d, 0, 0);
    }
    for i in 0..n {
        t.insert(new_conn(i), 0).expect("insert");
    }
    t
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(1));
    for (n, name) in SIZES {
        let t = filled(n, 0, Timeouts::default());
        eprintln!(
            "{name}: {} bytes/connection all-in, slot {} B ({} MiB for capacity {})",
            t.memory_bytes() / t.capacity(),
            ConnTable::slot_bytes(),
            t.memory_bytes() >> 20,
            t.capacity()
        );
        let hits: Vec<ConnKey> = t
            .iter()
            .flat_map(|(_, c)| [c.original_key(), c.reply_key()])
            .collect();
        let misses: Vec<ConnKey> = (n..2 * n)
            .map(|i| {
                let c = new_conn(i);
                ConnKey {
                    proto: c.proto,
                    src: c.client.ip(),
                    sport: c.client.port(),
                    dst: c.vip.ip(),
                    dport: c.vip.port(),
                }
            })
            .collect();
        for (what, keys) in [("hit", &hits), ("miss", &misses)] {
            g.bench_function(BenchmarkId::new(what, name), |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + STRIDE) % keys.len();
                    black_box(t.lookup(black_box(&keys[i])))
                })
            });
        }
    }
    g.finish();
}

fn insert_remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert_remove");
    g.throughput(Throughput::Elements(1));
    for (n, name) in SIZES {
        let mut t = filled(n, 1, Timeouts::default());
        let fresh: Vec<NewConn> = (n..n + 4096).map(new_conn).collect();
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % fresh.len();
                let id = t.insert(black_box(fresh[i]), 1).expect("insert");
                black_box(t.remove(id))
            })
        });
    }
    g.finish();
}

fn expiry(c: &mut Criterion) {
    let mut g = c.benchmark_group("expire");
    g.sample_size(10);
    let timeouts = Timeouts {
        udp: 300,
        ..Timeouts::default()
    };
    for (n, name) in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        // Connections created evenly over 300 s expire evenly over the next 300 s; the
        // routine walks the clock through those 300 s in 100 ms steps.
        let span_ms = 300_000u64;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched(
                || {
                    let mut t = ConnTable::new(n, timeouts);
                    for i in 0..n {
                        let mut c = new_conn(i);
                        c.proto = Proto::Udp;
                        t.insert(c, i as u64 * span_ms / n as u64).expect("insert");
                    }
                    t
                },
                |mut t| {
                    let mut gone = 0;
                    let mut now = span_ms;
                    while now <= 2 * span_ms + 100 {
                        gone += t.expire(now, |c| {
                            black_box(c);
                        });
                        now += 100;
                    }
                    assert_eq!(gone, n);
                    t
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::lookups, super::insert_remove, super::expiry);
}
criterion_main!(group::benches);
