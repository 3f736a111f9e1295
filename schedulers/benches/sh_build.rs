//! sh/dh bucket table build (65536 buckets filled by weighted rendezvous) for 10, 100 and
//! 1000 reals.

use criterion::{criterion_main, BenchmarkId, Criterion};
use std::net::{IpAddr, Ipv4Addr};

use rvs_schedulers::{build, RealServer, SchedKind, SchedParams};

/// `n` reals with weights 1..=4.
fn reals(n: u32) -> Vec<RealServer> {
    (0..n)
        .map(|i| RealServer {
            id: i,
            addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            port: 80,
            weight: 1 + i % 4,
            upper: 0,
            lower: 0,
            available: true,
        })
        .collect()
}

fn sh_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("sh_build");
    for n in [10, 100, 1000] {
        let reals = reals(n);
        group.bench_function(BenchmarkId::new("b65536", n), |b| {
            b.iter(|| build(SchedKind::Sh, reals.clone(), &SchedParams::default()))
        });
    }
    group.finish();
}

/// Criterion entry point (configured from the command line).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    sh_build(&mut c);
    c.final_summary();
}

criterion_main!(benches);
