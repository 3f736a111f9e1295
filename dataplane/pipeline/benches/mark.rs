//! Cost of the `[[mark]]` rules per packet, at 1, 100 and 10,000 rules:
//! - `resolve/*`: [`Services::resolve`] of a TCP packet's service, what a packet that
//!   may open a connection pays (and steering, when rules exist): the compiled rules,
//!   then the addressed services. Packets cycle over 4,096 tuples: a quarter to a rule's
//!   port, a quarter to a port of its address no rule names, a quarter from a source its
//!   rule does not take (every fourth rule has a source prefix), a quarter to addresses
//!   no rule names.
//! - `no_rules`: the same lookup with no rules (an addressed service's packet).
//! - `build/*`: compiling the rules (the control core, once per snapshot).
//!
//! Rule `i` marks TCP to its own /32 on ports 80, 443 and 8000-8099 with mark `i % 64 +
//! 1`, every mark having a NAT service. `cargo bench -p rvs-pipeline --bench mark`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_main, Criterion};
use rvs_config::{Config, MarkRule};
use rvs_conntrack::Proto;
use rvs_pipeline::mark::MarkTable;
use rvs_pipeline::service::{IdRegistry, Services};

const MARKS: u32 = 64;

/// The address rule `i` names.
fn rule_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from((10u32 << 24) + (i << 4) + 1)
}

fn config(rules: u32) -> Config {
    let mut text = String::new();
    for i in 0..rules {
        let src = if i % 4 == 3 {
            "src = [\"198.51.100.0/24\"]\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "[[mark]]\nmark = {}\nproto = \"tcp\"\ndst = [\"{}/32\"]\nports = [\"80\", \"443\", \"8000-8099\"]\n{src}",
            i % MARKS + 1,
            rule_addr(i)
        ));
    }
    for m in 1..=MARKS {
        text.push_str(&format!(
            "[[service]]\nfwmark = {m}\n[[service.real]]\nip = \"10.200.0.{m}\"\nforward = \"nat\"\n"
        ));
    }
    text.push_str("[[service]]\nproto = \"tcp\"\nvip = \"10.100.0.1\"\nport = 80\n[[service.real]]\nip = \"10.200.1.1\"\nforward = \"nat\"\n");
    Config::parse(&text, "bench.toml").expect("bench config")
}

/// 4,096 (src, dst, dport) tuples, mixed as the module says.
fn tuples(rules: u32) -> Vec<(IpAddr, IpAddr, u16)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..4096u32)
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % u64::from(rules)) as u32;
            let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, (x >> 20) as u8));
            let inside = IpAddr::V4(Ipv4Addr::new(198, 51, 100, (x >> 28) as u8));
            let dst = IpAddr::V4(rule_addr(i));
            match k % 4 {
                0 => (
                    if i % 4 == 3 { inside } else { client },
                    dst,
                    [80, 443, 8042][(x >> 40) as usize % 3],
                ),
                1 => (client, dst, 22),
                2 => (client, dst, 80),
                _ => (client, IpAddr::V4(Ipv4Addr::new(10, 100, 0, 1)), 80),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mark");
    for rules in [1u32, 100, 10_000] {
        let config = config(rules);
        let services = Services::rebuild(
            &config.services,
            &config.marks,
            &mut IdRegistry::default(),
            None,
            &Default::default(),
        )
        .expect("services");
        let probes = tuples(rules);
        let mut k = 0;
        g.bench_function(format!("resolve/{rules}"), |b| {
            b.iter(|| {
                k = (k + 1) & 4095;
                let (s, d, p) = probes[k];
                black_box(
                    services
                        .resolve(Proto::Tcp, black_box(s), black_box(d), p)
                        .map(|(i, _)| i),
                )
            });
        });
        let marks: Vec<MarkRule> = config.marks.clone();
        g.bench_function(format!("build/{rules}"), |b| {
            b.iter(|| {
                black_box(MarkTable::build(black_box(&marks), |m, v6| {
                    (!v6).then_some(m as usize)
                }))
            });
        });
    }
    let config = config(1);
    let plain = Services::build(&config.services, &mut IdRegistry::default()).expect("services");
    let probes = tuples(1);
    let mut k = 0;
    g.bench_function("no_rules", |b| {
        b.iter(|| {
            k = (k + 1) & 4095;
            let (s, d, p) = probes[k];
            black_box(
                plain
                    .resolve(Proto::Tcp, black_box(s), black_box(d), p)
                    .map(|(i, _)| i),
            )
        });
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
