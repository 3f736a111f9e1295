//! Per-packet cost of the whole worker pipeline (parse, lookup or schedule, rewrite,
//! route, neighbour, transmit), per forwarding mode, with 1M connections of that mode in
//! the worker's table.
//!
//! For each mode the same run measures:
//! - `1M_random`: every one of the 1M connections visited once per pass, in a random
//!   order fixed at set-up: the table does not fit in cache, so this is what a director
//!   with many active clients pays;
//! - `64_hot`: 64 of the same connections visited round-robin: the table's hot part fits
//!   in cache (the number older benches reported);
//! - `new_conn`: a SYN from a client the table has not seen, with the 1M connections in
//!   the table (connections per second);
//! - `new_conn_expiring`: the same, plus the expiry of as many old connections (what a
//!   full table at steady state pays per new connection).
//!
//! Time is the bench thread's time on a CPU (`/proc/thread-self/schedstat`; wall time
//! where that is unreadable): on a shared machine, time spent descheduled does not count,
//! though other loads' use of the caches does. A poll-mode worker owns its core, so the
//! two agree there.
//!
//! Every frame is built once, before timing, and laid out in the order it is sent; the
//! timed loop copies each into a pooled buffer (as a NIC writes an mbuf) and hands it to
//! the worker, which transmits it into a sink that touches and recycles it. Excluded
//! from every number: NIC receive and transmit (descriptor rings, DMA, mbuf allocation),
//! steering between workers, the poll loop's clock and timer work (`tick` runs only
//! between samples), and, except in `new_conn_expiring`, the expiry of the new
//! connections (untimed, between chunks).
//!
//! The tables sit where rvsd with hugepages puts them: in the hugepage pool when it has
//! room, else in transparent hugepages (`RVS_TABLE_PAGES=normal` for ordinary 4 KiB
//! pages, `transparent` to skip the pool); each mode's set-up prints which.
//!
//! The tunnel modes: `tun` (IPIP), `gue` (GUE without checksum), `gue_csum` (GUE with
//! the UDP checksum computed in software over the whole datagram) and `gre`.
//!
//! `cargo bench -p rvs-runtime --bench pipeline` (about 3 minutes; each mode's set-up
//! builds and preloads 1M connections). Filter with a mode name:
//! `cargo bench -p rvs-runtime --bench pipeline -- fullnat`.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use rvs_config::testbed::{real_mac, TwoPortDirector, GATEWAY_MAC, LAN_MAC, WAN_MAC};
use rvs_config::{Config, PortId};
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{Io, Worker};

/// Large tables as rvsd makes them (see `rvs_dpdk::tables`).
#[global_allocator]
static ALLOC: rvs_dpdk::TableAlloc = rvs_dpdk::TableAlloc;

/// Connections preloaded into the table before measuring.
const CONNS: u32 = 1_000_000;

/// Connections of the hot set.
const HOT: u32 = 64;

/// Frames handed to the worker per call, as one receive burst.
const BURST: usize = 32;

/// New connections made between two (untimed) expiries: within the table's headroom.
const NEW_CONN_CHUNK: u64 = 50_000;

const WAN: PortId = PortId(0);
const LAN: PortId = PortId(1);
const REAL_MAC: [u8; 6] = real_mac(11);
const VIP: [u8; 4] = [10, 0, 0, 100];
const REAL: [u8; 4] = [10, 1, 0, 11];

/// The configuration: one service per mode, 20 local addresses (1.2M local ports) for
/// FULLNAT, timeouts long enough that nothing preloaded expires during a run.
fn config() -> String {
    let laddrs: Vec<String> = (100..120).map(|i| format!("\"10.1.0.{i}\"")).collect();
    TwoPortDirector::new("bench", 1_100_000)
        .gateway()
        .real(11)
        .to_toml()
        + &format!(
            r#"
[timeouts]
tcp = 1000000
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
laddrs = [{laddrs}]
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

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 84
scheduler = "wrr"
[[service.real]]
ip = "10.1.0.11"
forward = "tun"
tun_type = "gue"
tun_port = 6080

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 85
scheduler = "wrr"
[[service.real]]
ip = "10.1.0.11"
forward = "tun"
tun_type = "gue"
tun_port = 6080
tun_csum = "csum"

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 86
scheduler = "wrr"
[[service.real]]
ip = "10.1.0.11"
forward = "tun"
tun_type = "gre"
"#,
            laddrs = laddrs.join(", ")
        )
}

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

/// Frames of one length, back to back, in sending order.
struct Frames {
    bytes: Vec<u8>,
    len: usize,
}

impl Frames {
    fn new(frames: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let mut bytes = Vec::new();
        let mut len = 0;
        for f in frames {
            len = f.len();
            bytes.extend_from_slice(&f);
        }
        assert!(len > 0 && bytes.len() % len == 0, "frames of one length");
        Self { bytes, len }
    }

    fn count(&self) -> usize {
        self.bytes.len() / self.len
    }

    fn get(&self, i: usize) -> &[u8] {
        &self.bytes[i * self.len..(i + 1) * self.len]
    }
}

/// A TCP segment: a SYN, or an ACK.
fn tcp(macs: ([u8; 6], [u8; 6]), src: ([u8; 4], u16), dst: ([u8; 4], u16), syn: bool) -> Vec<u8> {
    let t = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1, 64240);
    let t = if syn { t.syn() } else { t.ack(1) };
    let mut out = Vec::new();
    t.write(&mut out, &[]).expect("frame");
    out
}

/// A UDP datagram.
fn udp(macs: ([u8; 6], [u8; 6]), src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut out, b"q")
        .expect("frame");
    out
}

/// Client `i`'s endpoint: 100.x.y.z, one port per client.
fn client(i: u32) -> ([u8; 4], u16) {
    ((0x6400_0000u32 + i).to_be_bytes(), 40000)
}

/// A permutation of `0..n`, fixed by `seed` (splitmix64 driving Fisher-Yates).
fn shuffled(n: u32, mut seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    for i in (1..v.len()).rev() {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        v.swap(i, (z % (i as u64 + 1)) as usize);
    }
    v
}

/// One forwarding mode under test.
#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    udp: bool,
    vport: u16,
    /// Whether replies come through the director (NAT, FULLNAT) and are measured.
    replies: bool,
    /// Whether new connections are measured.
    new_conns: bool,
}

const MODES: [Mode; 8] = [
    Mode {
        name: "nat",
        udp: false,
        vport: 80,
        replies: false,
        new_conns: true,
    },
    Mode {
        name: "fullnat",
        udp: false,
        vport: 81,
        replies: true,
        new_conns: true,
    },
    Mode {
        name: "dr",
        udp: false,
        vport: 82,
        replies: false,
        new_conns: false,
    },
    Mode {
        name: "tun",
        udp: false,
        vport: 83,
        replies: false,
        new_conns: false,
    },
    Mode {
        name: "gue",
        udp: false,
        vport: 84,
        replies: false,
        new_conns: false,
    },
    Mode {
        name: "gue_csum",
        udp: false,
        vport: 85,
        replies: false,
        new_conns: false,
    },
    Mode {
        name: "gre",
        udp: false,
        vport: 86,
        replies: false,
        new_conns: false,
    },
    Mode {
        name: "udp_nat",
        udp: true,
        vport: 53,
        replies: true,
        // The preloaded datagrams' timeout is the new ones' too: nothing would make
        // room for them between chunks.
        new_conns: false,
    },
];

impl Mode {
    /// A packet from client `i` to the service: the opening one, or a later one.
    fn client_packet(&self, i: u32, open: bool) -> Vec<u8> {
        let dst = (VIP, self.vport);
        if self.udp {
            udp((GATEWAY_MAC, WAN_MAC), client(i), dst)
        } else {
            tcp((GATEWAY_MAC, WAN_MAC), client(i), dst, open)
        }
    }
}

/// The bench thread's time on a CPU, or wall time where the kernel does not say.
#[derive(Clone, Copy)]
enum Clock {
    Cpu(u64),
    Wall(Instant),
}

impl Clock {
    fn now() -> Self {
        let on_cpu = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        match on_cpu {
            Some(ns) => Clock::Cpu(ns),
            None => Clock::Wall(Instant::now()),
        }
    }

    fn elapsed(self) -> Duration {
        match (self, Clock::now()) {
            (Clock::Cpu(a), Clock::Cpu(b)) => Duration::from_nanos(b.saturating_sub(a)),
            (Clock::Wall(a), _) => a.elapsed(),
            (Clock::Cpu(_), Clock::Wall(_)) => unreachable!("schedstat went away"),
        }
    }
}

/// Hand `frames[i]` for every `i` in `order` (cycled from `*at`) to the worker, `n`
/// frames in all, as receive bursts of [`BURST`].
fn drive(
    w: &mut Worker<HeapBuf>,
    io: &mut SinkIo,
    port: PortId,
    frames: &Frames,
    at: &mut usize,
    n: u64,
    now: u64,
) -> Duration {
    let count = frames.count();
    let start = Clock::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(BURST as u64);
        left -= k;
        for _ in 0..k {
            let buf = io.rx(frames.get(*at));
            *at += 1;
            if *at == count {
                *at = 0;
            }
            w.stage(port, buf, now, io);
        }
        w.run_staged(now, io);
    }
    start.elapsed()
}

/// A worker whose table holds [`CONNS`] connections of `mode`, each past its opening
/// packet (TCP: SYN then ACK, so ESTABLISHED), at time `now`.
fn loaded_worker(mode: &Mode, now: u64) -> (Worker<HeapBuf>, SinkIo) {
    let config = Config::parse(&config(), "bench.toml").expect("config");
    let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).expect("snapshot");
    rvs_dpdk::prefer_hugetlb(true);
    let mut w = rvs_dpdk::tables(|| Worker::new(0, Arc::new(snap), 0));
    let memory = rvs_dpdk::table_memory();
    println!(
        "tables: {} MiB from the hugepage pool, {} MiB transparent hugepages requested, {} MiB in all",
        memory.hugetlb_bytes >> 20,
        memory.transparent_bytes >> 20,
        w.conns().memory_bytes() >> 20
    );
    let mut io = SinkIo::default();
    for i in 0..CONNS {
        let buf = io.rx(&mode.client_packet(i, true));
        w.process(WAN, buf, now, &mut io);
        if !mode.udp {
            let buf = io.rx(&mode.client_packet(i, false));
            w.process(WAN, buf, now, &mut io);
        }
    }
    assert_eq!(w.conns().len(), CONNS as usize, "preload");
    (w, io)
}

/// Replies from the real to every connection, in random order, and to the hot ones.
fn replies(w: &Worker<HeapBuf>, order: &[u32]) -> (Frames, Frames) {
    let mut by_client = vec![None; CONNS as usize];
    for (_, c) in w.conns().iter() {
        let IpAddr::V4(ip) = c.client.ip() else {
            unreachable!("IPv4 clients")
        };
        let i = u32::from(ip) - 0x6400_0000;
        let to = c.local.unwrap_or(c.client);
        let IpAddr::V4(to_ip) = to.ip() else {
            unreachable!("IPv4 replies")
        };
        let src = (REAL, c.real.port());
        let dst = (to_ip.octets(), to.port());
        by_client[i as usize] = Some(match c.proto {
            rvs_conntrack::Proto::Udp => udp((REAL_MAC, LAN_MAC), src, dst),
            _ => tcp((REAL_MAC, LAN_MAC), src, dst, false),
        });
    }
    let frame = |i: u32| by_client[i as usize].clone().expect("a reply per client");
    (
        Frames::new(order.iter().map(|&i| frame(i))),
        Frames::new((0..HOT).map(frame)),
    )
}

/// Opening packets (SYNs, or datagrams) of `n` clients never seen, numbered on from
/// `*seq`.
fn new_clients(mode: &Mode, seq: &mut u32, n: u64) -> Frames {
    Frames::new((0..n).map(|_| {
        *seq = seq.wrapping_add(1);
        let [a, b, c, d] = seq.to_be_bytes();
        let src = ([172, 16 + a % 16, b, c], 1024 + u16::from(d));
        let dst = (VIP, mode.vport);
        if mode.udp {
            udp((GATEWAY_MAC, WAN_MAC), src, dst)
        } else {
            tcp((GATEWAY_MAC, WAN_MAC), src, dst, true)
        }
    }))
}

fn bench_mode(c: &mut Criterion, mode: &Mode) {
    let mut clock = 1_000;
    let (mut w, mut io) = loaded_worker(mode, clock);
    let order = shuffled(CONNS, 0x5eed);
    let random_in = Frames::new(order.iter().map(|&i| mode.client_packet(i, false)));
    let hot_in = Frames::new((0..HOT).map(|i| mode.client_packet(i, false)));
    let mut sets = vec![("in", WAN, random_in, hot_in)];
    if mode.replies {
        let (random_out, hot_out) = replies(&w, &order);
        sets.push(("out", LAN, random_out, hot_out));
    }
    let mut g = c.benchmark_group(format!("pipeline/{}", mode.name));
    g.throughput(Throughput::Elements(1));
    for (dir, port, random, hot) in &sets {
        for (name, frames) in [("1M_random", random), ("64_hot", hot)] {
            let mut at = 0;
            g.bench_function(format!("{dir}/{name}"), |b| {
                b.iter_custom(|n| drive(&mut w, &mut io, *port, frames, &mut at, n, clock))
            });
        }
    }
    if mode.new_conns {
        // A SYN (a datagram) from a client never seen. Between chunks the clock jumps
        // past SYN_RECV's timeout, so the new ones expire and free their local ports; the
        // preloaded connections stay. `new_conn` leaves that expiry out of the time;
        // `new_conn_expiring` counts it, as a director whose full table sheds one old
        // connection per new one pays it.
        let mut seq = 0u32;
        for (name, time_expiry) in [("new_conn", false), ("new_conn_expiring", true)] {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let n = left.min(NEW_CONN_CHUNK);
                        left -= n;
                        let frames = new_clients(mode, &mut seq, n);
                        let mut at = 0;
                        spent += drive(&mut w, &mut io, WAN, &frames, &mut at, n, clock);
                        clock += 61_000;
                        let start = Clock::now();
                        while w.conns().len() > CONNS as usize {
                            clock += 1;
                            w.tick(clock, &mut io);
                        }
                        if time_expiry {
                            spent += start.elapsed();
                        }
                    }
                    spent
                })
            });
        }
    }
    g.finish();
    let counters = w.counters();
    assert_eq!(
        counters.dropped(),
        0,
        "the bench must measure forwarding, not drops: {:?}",
        counters.summary().dropped
    );
}

fn bench(c: &mut Criterion) {
    for mode in &MODES {
        bench_mode(c, mode);
    }
}

/// Short warm-up and measurement: every number here is a mean over millions of
/// packets, and each mode's set-up already takes seconds.
fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group! {
        name = benches;
        config = super::quick();
        targets = super::bench
    }
}
criterion_main!(group::benches);
