//! Per-packet cost of the whole worker pipeline (parse, lookup or schedule, rewrite,
//! route, neighbour, transmit) for each forwarding mode, with 1M connections in the
//! worker's table: an established flow in each direction, and a new connection.
//!
//! `cargo bench -p rvs-dataplane --bench pipeline`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use etherparse::PacketBuilder;
use rvs_dataplane::config::{Config, PortId};
use rvs_dataplane::packet::{HeapBuf, PacketBuf};
use rvs_dataplane::service::IdRegistry;
use rvs_dataplane::snapshot::Snapshot;
use rvs_dataplane::worker::{Io, Worker};

/// Connections preloaded into the table before measuring.
const PRELOAD: u32 = 1_000_000;

/// New connections made between two (untimed) expiries: within the table's headroom and
/// the two local addresses' ports.
const NEW_CONN_CHUNK: u64 = 50_000;

const WAN: PortId = PortId(0);
const LAN: PortId = PortId(1);
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const REAL_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0x11];

const CONFIG: &str = r#"
[dataplane]
workers = 1
conn_capacity = 1200000

[[port]]
name = "wan0"
device = "bench"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24"]

[[port]]
name = "lan0"
device = "bench"
mac = "02:00:00:00:00:02"
addresses = ["10.1.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
port = "wan0"

[[neighbor]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:fe"
port = "wan0"

[[neighbor]]
ip = "10.1.0.11"
mac = "02:00:00:00:01:11"
port = "lan0"

[timeouts]
udp = 1000000

[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 53
scheduler = "rr"
[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wrr"
[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 81
scheduler = "wrr"
laddrs = ["10.1.0.2", "10.1.0.3"]
[[service.real]]
ip = "10.1.0.11"
forward = "fullnat"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 82
scheduler = "wrr"
[[service.real]]
ip = "10.1.0.11"
forward = "dr"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 83
scheduler = "wrr"
[[service.real]]
ip = "10.1.0.11"
forward = "tun"
"#;

/// Takes what is sent back into its buffer pool, after touching it (as a NIC reads it),
/// so buffers are recycled as mbufs are.
#[derive(Default)]
struct SinkIo {
    pool: Vec<HeapBuf>,
    sent: u64,
}

impl SinkIo {
    /// A buffer holding `frame`, from the pool when it has one.
    fn rx(&mut self, frame: &[u8]) -> HeapBuf {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.set_frame(frame).expect("fits");
        buf
    }
}

impl Io for SinkIo {
    type Buf = HeapBuf;

    fn alloc(&mut self) -> Option<HeapBuf> {
        Some(self.pool.pop().unwrap_or_default())
    }

    fn send(&mut self, _port: PortId, buf: HeapBuf) {
        self.sent += u64::from(black_box(buf.data()[0]) | 1);
        self.pool.push(buf);
    }
}

fn tcp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    syn: bool,
) -> Vec<u8> {
    let t = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1, 64240);
    let t = if syn { t.syn() } else { t.ack(1) };
    let mut out = Vec::new();
    t.write(&mut out, &[0u8; 64]).expect("frame");
    out
}

fn client(i: u32) -> [u8; 4] {
    (0x6400_0000u32 + i).to_be_bytes() // 100.x.y.z
}

/// A worker with `PRELOAD` UDP connections, at time `now` ms.
fn loaded_worker() -> (Worker<HeapBuf>, SinkIo, u64) {
    let config = Config::parse(CONFIG, "bench.toml").expect("config");
    let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).expect("snapshot");
    let mut w = Worker::new(0, Arc::new(snap), 0);
    let mut io = SinkIo::default();
    let mut frame = Vec::new();
    for i in 0..PRELOAD {
        frame.clear();
        PacketBuilder::ethernet2(GW_MAC, WAN_MAC)
            .ipv4(client(i), [10, 0, 0, 100], 64)
            .udp(1000 + (i % 7) as u16, 53)
            .write(&mut frame, b"q")
            .expect("udp");
        let buf = io.rx(&frame);
        w.process(WAN, buf, 1_000, &mut io);
    }
    assert_eq!(w.conns().len(), PRELOAD as usize, "preload");
    (w, io, 1_000)
}

/// Process `frame` on `port` once per iteration (buffer refilled each time, as from a NIC).
fn per_packet(
    w: &mut Worker<HeapBuf>,
    io: &mut SinkIo,
    now: u64,
    port: PortId,
    frame: &[u8],
    iters: u64,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let buf = io.rx(frame);
        w.process(port, buf, now, io);
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let (mut w, mut io, mut clock) = loaded_worker();
    let mut g = c.benchmark_group("pipeline_1M_conns");
    g.sample_size(30);
    for (mode, vport) in [("nat", 80u16), ("fullnat", 81), ("dr", 82), ("tun", 83)] {
        // One established flow: the client's SYN, then its ACKs.
        let now = clock;
        let cl = ([198, 51, 100, 1], 50000 + vport);
        w.process(
            WAN,
            HeapBuf::from_frame(&tcp(GW_MAC, WAN_MAC, cl, ([10, 0, 0, 100], vport), true)).unwrap(),
            now,
            &mut io,
        );
        let ack = tcp(GW_MAC, WAN_MAC, cl, ([10, 0, 0, 100], vport), false);
        g.bench_function(format!("{mode}/established_in"), |b| {
            b.iter_custom(|iters| per_packet(&mut w, &mut io, now, WAN, &ack, iters))
        });
        if mode == "nat" || mode == "fullnat" {
            let conn = w
                .conns()
                .iter()
                .map(|(_, c)| *c)
                .find(|c| c.client.port() == cl.1)
                .expect("flow");
            let to = conn.local.unwrap_or(conn.client);
            let std::net::IpAddr::V4(to_ip) = to.ip() else {
                unreachable!()
            };
            let reply = tcp(
                REAL_MAC,
                LAN_MAC,
                ([10, 1, 0, 11], conn.real.port()),
                (to_ip.octets(), to.port()),
                false,
            );
            g.bench_function(format!("{mode}/established_out"), |b| {
                b.iter_custom(|iters| per_packet(&mut w, &mut io, now, LAN, &reply, iters))
            });
        }
        // New connections: a SYN from a fresh client port each time. Between samples the
        // clock jumps past SYN_RECV's timeout so they expire (untimed) and free their ports.
        let mut seq = 0u32;
        g.bench_function(format!("{mode}/new_connection"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(NEW_CONN_CHUNK);
                    left -= n;
                    let frames: Vec<Vec<u8>> = (0..n)
                        .map(|_| {
                            seq = seq.wrapping_add(1);
                            let [a, b, c, d] = seq.to_be_bytes();
                            let src = ([172, 16 + a % 16, b, c], 1024 + u16::from(d));
                            tcp(GW_MAC, WAN_MAC, src, ([10, 0, 0, 100], vport), true)
                        })
                        .collect();
                    let start = Instant::now();
                    for f in &frames {
                        let buf = io.rx(f);
                        w.process(WAN, buf, clock, &mut io);
                    }
                    spent += start.elapsed();
                    clock += 61_000;
                    w.tick(clock, &mut io);
                }
                spent
            })
        });
    }
    g.finish();
    let c = w.counters();
    assert_eq!(
        c.dropped(),
        0,
        "the bench must measure forwarding, not drops: {:?}",
        c.summary().dropped
    );
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
