//! Per-packet cost of flow ownership: the hash owner (no RSS) against the RSS owner
//! (folded symmetric Toeplitz and a table lookup), over 1024 distinct clients per family.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_main, BatchSize, Criterion};
use rvs_pipeline::flow_hash::mix64;
use rvs_pipeline::ownership::owner_by_client;
use rvs_pipeline::rss::{forward_owner, symmetric_key, toeplitz, Reta};

fn clients(v6: bool) -> Vec<(IpAddr, u16)> {
    (0..1024u64)
        .map(|i| {
            let r = mix64(i);
            let ip = if v6 {
                IpAddr::from((u128::from(r) << 64 | u128::from(mix64(r))).to_be_bytes())
            } else {
                IpAddr::from((r as u32).to_be_bytes())
            };
            (ip, 1024 + (r >> 48) as u16 % 60000)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let reta = Reta::round_robin(128, 4);
    let key = symmetric_key(40);
    for (name, v6, vip) in [
        ("v4", false, "10.0.0.100".parse::<IpAddr>().unwrap()),
        ("v6", true, "2001:db8::100".parse().unwrap()),
    ] {
        let flows = clients(v6);
        let mut g = c.benchmark_group(format!("steer/{name}"));
        g.bench_function("hash_owner_1024", |b| {
            b.iter(|| {
                for &(ip, port) in &flows {
                    black_box(owner_by_client(black_box(ip), port, 4));
                }
            })
        });
        g.bench_function("rss_owner_1024", |b| {
            b.iter(|| {
                for &client in &flows {
                    black_box(forward_owner(&reta, black_box(client), (vip, 80)));
                }
            })
        });
        // The bit-by-bit reference, for scale: what the fold saves.
        g.bench_function("toeplitz_bitwise_1024", |b| {
            b.iter_batched(
                || {
                    flows
                        .iter()
                        .map(|&(ip, port)| {
                            let mut t = Vec::with_capacity(36);
                            match (ip, vip) {
                                (IpAddr::V4(a), IpAddr::V4(v)) => {
                                    t.extend(a.octets());
                                    t.extend(v.octets());
                                }
                                (IpAddr::V6(a), IpAddr::V6(v)) => {
                                    t.extend(a.octets());
                                    t.extend(v.octets());
                                }
                                _ => unreachable!("one family per group"),
                            }
                            t.extend(port.to_be_bytes());
                            t.extend(80u16.to_be_bytes());
                            t
                        })
                        .collect::<Vec<_>>()
                },
                |inputs| {
                    for t in &inputs {
                        black_box(toeplitz(&key, black_box(t)));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
