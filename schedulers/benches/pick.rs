//! `pick` per scheduler, with 10 and 1000 reals.

use criterion::{criterion_main, BenchmarkId, Criterion};
use std::net::{IpAddr, Ipv4Addr};

use rvs_schedulers::{build, Flow, RealLoad, RealServer, SchedFlags, SchedKind, SchedParams};

/// `n` reals with weights 1..=4 and a spread of connection counts.
pub fn cluster(n: u32) -> (Vec<RealServer>, Vec<RealLoad>) {
    (0..n)
        .map(|i| {
            let real = RealServer {
                id: i,
                addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
                port: 80,
                weight: 1 + i % 4,
                upper: 0,
                lower: 0,
                available: true,
            };
            let load = RealLoad {
                active: (i * 7) % 13,
                inactive: (i * 11) % 17,
                overloaded: false,
            };
            (real, load)
        })
        .unzip()
}

/// 1024 flows from distinct clients to a handful of destinations.
pub fn flows() -> Vec<Flow> {
    (0..1024u32)
        .map(|k| Flow {
            client: IpAddr::V4(Ipv4Addr::from(
                k.wrapping_mul(2_654_435_761).wrapping_add(0x6400_0000),
            )),
            client_port: 1024 + k as u16,
            dest: IpAddr::V4(Ipv4Addr::new(172, 16, 0, (k % 64) as u8)),
            dest_port: 80,
            now_ms: u64::from(k),
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
