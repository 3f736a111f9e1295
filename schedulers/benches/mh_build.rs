//! Maglev table build at M = 65537 (the paper reports 1.8 ms).

use criterion::{criterion_main, BenchmarkId, Criterion};

use rvs_schedulers::{build, SchedKind, SchedParams};

mod support;
use support::reals;

fn mh_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("mh_build");
    for n in [100, 1000] {
        let reals = reals(n);
        group.bench_function(BenchmarkId::new("m65537", n), |b| {
            b.iter(|| build(SchedKind::Mh, reals.clone(), &SchedParams::default()))
        });
    }
    group.finish();
}

/// Criterion entry point (configured from the command line).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    mh_build(&mut c);
    c.final_summary();
}

criterion_main!(benches);
