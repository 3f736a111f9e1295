//! sh/dh bucket table build (65536 buckets filled by weighted rendezvous) for 10, 100 and
//! 1000 reals.

use criterion::{criterion_main, BenchmarkId, Criterion};

use rvs_schedulers::{build, SchedKind, SchedParams};

mod support;
use support::reals;

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
