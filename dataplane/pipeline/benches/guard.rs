//! Cost of guarding a service, through the whole worker pipeline (parse, lookup or
//! schedule, rewrite, route, transmit; NAT, IPv4), in staged bursts of 32:
//! - `first_packet/*`: a SYN from a client the table has not seen (the connection is
//!   made): on an unguarded service, with a deny list of 1, 1,000 and 100,000
//!   disjoint prefixes (none of which holds the clients, so every SYN is looked up and
//!   admitted), and with every limit on (high enough to admit every SYN, so the buckets
//!   and the client table are read and written each time);
//! - `later_packet/*`: an ACK of one of 4,096 established connections, on the
//!   unguarded service and on one with 100,000 prefixes and limits: a later packet is
//!   never checked, so both equal the cost before guarding existed;
//! - `refused_set/*`: the compiled lists' lookup alone.
//!
//! Frames are built before timing; connections made by a timed chunk are expired,
//! untimed, before the next. `cargo bench -p rvs-pipeline --bench guard`.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use rvs_config::testbed::{TwoPortDirector, GATEWAY_MAC, WAN_MAC};
use rvs_config::{Config, PortId};
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{Io, Worker};

const WAN: PortId = PortId(0);
const VIP: [u8; 4] = [10, 0, 0, 100];
/// New clients per timed chunk (the table holds them all).
const CHUNK: u32 = 16_384;
/// Established connections the later packets cycle over.
const ESTABLISHED: u32 = 4096;
const BURST: usize = 32;

/// Every limit on, high enough never to refuse.
const LIMITS: &str = "limit_new_per_client = 1000000\nlimit_conns_per_client = 1000\n\
                      limit_new = 100000000\nlimit_clients = 65536\n";

/// `n` disjoint /24s (every other one from 20.0.0.0, so none merge), none holding a
/// client (100.64.0.0 on).
fn deny_list(n: u32) -> String {
    let nets: Vec<String> = (0..n)
        .map(|i| {
            let a = (20u32 << 24) + i * 512;
            format!("\"{}/24\"", std::net::Ipv4Addr::from(a))
        })
        .collect();
    format!("deny = [{}]\n", nets.join(", "))
}

/// The director with one NAT service on port 80 carrying `guard` keys.
fn config(guard: &str) -> Config {
    let text = TwoPortDirector::new("bench", 65_536)
        .gateway()
        .real(11)
        .to_toml()
        + &format!(
            "\n[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\nscheduler = \"rr\"\n\
             {guard}\n[[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n"
        );
    Config::parse(&text, "bench.toml").expect("bench config")
}

fn worker(guard: &str) -> Worker<HeapBuf> {
    let snap = Snapshot::build(&config(guard), &[], &[false; 2], &mut IdRegistry::default())
        .expect("snapshot");
    Worker::new(0, Arc::new(snap), 0)
}

/// Recycles what is sent.
#[derive(Default)]
struct SinkIo {
    pool: Vec<HeapBuf>,
}

impl Io for SinkIo {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(self.pool.pop().unwrap_or_default())
    }

    fn send(&mut self, _port: PortId, buf: HeapBuf) {
        black_box(buf.data()[0]);
        self.pool.push(buf);
    }
}

/// A SYN or an ACK from client `i` (100.64.x.y:40000) to the VIP.
fn segment(i: u32, syn: bool) -> Vec<u8> {
    let src = (0x6440_0000u32 + i).to_be_bytes();
    let t = PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4(src, VIP, 64)
        .tcp(40000, 80, 1, 64240);
    let t = if syn { t.syn() } else { t.ack(1) };
    let mut out = Vec::new();
    t.write(&mut out, &[]).expect("frame");
    out
}

/// Hand `frames` to the worker at `now_ms` in bursts; the time it took.
fn drive(w: &mut Worker<HeapBuf>, io: &mut SinkIo, frames: &[Vec<u8>], now_ms: u64) -> Duration {
    let start = Instant::now();
    for burst in frames.chunks(BURST) {
        for f in burst {
            let mut buf = io.pool.pop().unwrap_or_default();
            buf.set_frame(f).expect("fits");
            w.stage(WAN, buf, now_ms, io);
        }
        w.run_staged(now_ms, io);
    }
    start.elapsed()
}

fn first_packet(c: &mut Criterion) {
    let syns: Vec<Vec<u8>> = (0..CHUNK).map(|i| segment(i, true)).collect();
    let mut g = c.benchmark_group("first_packet");
    g.throughput(Throughput::Elements(1));
    let cases = [
        ("unguarded", String::new()),
        ("acl_1", deny_list(1)),
        ("acl_1000", deny_list(1000)),
        ("acl_100000", deny_list(100_000)),
        ("limits", LIMITS.to_owned()),
        ("acl_100000_limits", deny_list(100_000) + LIMITS),
    ];
    for (name, guard) in cases {
        let mut w = worker(&guard);
        let mut io = SinkIo::default();
        let mut now_ms = 1_000_000u64;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(CHUNK as usize);
                    spent += drive(&mut w, &mut io, &syns[..n], now_ms);
                    left -= n;
                    // Untimed: every connection made expires (SYN_RECV, 60 s).
                    now_ms += 3_600_000;
                    while !w.conns().is_empty() {
                        w.tick(now_ms, &mut io);
                        now_ms += 1;
                    }
                }
                spent
            });
        });
    }
    g.finish();
}

fn later_packet(c: &mut Criterion) {
    let acks: Vec<Vec<u8>> = (0..ESTABLISHED).map(|i| segment(i, false)).collect();
    let mut g = c.benchmark_group("later_packet");
    g.throughput(Throughput::Elements(1));
    for (name, guard) in [
        ("unguarded", String::new()),
        ("acl_100000_limits", deny_list(100_000) + LIMITS),
    ] {
        let mut w = worker(&guard);
        let mut io = SinkIo::default();
        let now_ms = 1_000_000u64;
        let syns: Vec<Vec<u8>> = (0..ESTABLISHED).map(|i| segment(i, true)).collect();
        drive(&mut w, &mut io, &syns, now_ms);
        assert_eq!(w.conns().len(), ESTABLISHED as usize);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(acks.len());
                    spent += drive(&mut w, &mut io, &acks[..n], now_ms);
                    left -= n;
                }
                spent
            });
        });
    }
    g.finish();
}

fn refused_set(c: &mut Criterion) {
    use rvs_pipeline::guard::RefusedSet;
    let mut g = c.benchmark_group("refused_set");
    let probes: Vec<IpAddr> = (0..4096u32)
        .map(|i| {
            IpAddr::V4((0x1400_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761) >> 4)).into())
        })
        .collect();
    for n in [1u32, 1000, 100_000] {
        let deny: Vec<rvs_config::IpNet> = (0..n)
            .map(|i| {
                let a = std::net::Ipv4Addr::from((20u32 << 24) + i * 512);
                rvs_config::IpNet::new(a.into(), 24).expect("prefix")
            })
            .collect();
        let set = RefusedSet::build(&[], &deny);
        let mut k = 0;
        g.bench_function(format!("lookup_{n}"), |b| {
            b.iter(|| {
                k = (k + 1) % probes.len();
                black_box(set.refuses(black_box(probes[k])))
            });
        });
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    first_packet(&mut c);
    later_packet(&mut c);
    refused_set(&mut c);
}

criterion_main!(benches);
