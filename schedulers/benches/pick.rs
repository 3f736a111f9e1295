//! `pick` per scheduler, with 10 and 1000 reals.

use criterion::{criterion_main, BenchmarkId, Criterion};

use rvs_schedulers::{build, Flow, SchedFlags, SchedKind, SchedParams};

mod support;
use support::{client_flow, cluster};

/// 1024 flows from distinct clients and ports to a handful of destinations.
fn flows() -> Vec<Flow> {
    (0..1024u32)
        .map(|k| Flow {
            client_port: 1024 + k as u16,
            dest: std::net::IpAddr::V4(std::net::Ipv4Addr::new(172, 16, 0, (k % 64) as u8)),
            now_ms: u64::from(k),
            ..client_flow(k)
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let flows = flows();
    let params = SchedParams {
        flags: SchedFlags::parse("sh-port,mh-port").expect("known flags"),
        ..SchedParams::default()
    };
    let mut group = c.benchmark_group("pick");
    for kind in SchedKind::ALL {
        for n in [10, 1000] {
            let (reals, loads) = cluster(n);
            let s = build(kind, reals, &params).expect("valid table");
            let mut state = s.new_state();
            let mut k = 0;
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter(|| {
                    k = (k + 1) & 1023;
                    s.pick(&mut state, &flows[k], &loads)
                })
            });
        }
    }
    group.finish();
}

/// Criterion entry point (configured from the command line).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    pick(&mut c);
    c.final_summary();
}

criterion_main!(benches);
