//! Cost of IP fragment reassembly, per fragment received:
//! - `fragments/table`: the reassembly table alone (file a fragment, put the datagram
//!   together when whole), 4,000-byte datagrams in three fragments;
//! - `fragments/table_flood`: the table under a flood of first fragments that never
//!   complete, every slot taken: each one gives up the oldest datagram for itself;
//! - `fragments/nat_udp_4000`: the same datagrams through the whole worker (NAT, an
//!   established UDP connection): parse, file, put together, look up, rewrite, cut into
//!   three fragments again and transmit;
//! - `fragments/nat_udp_1500_unfragmented`: a 1,500-byte datagram of the same
//!   connection, unfragmented, for comparison (per packet).
//!
//! Frames are built before timing and go through the staged burst path in bursts of 32.
//! `cargo bench -p rvs-pipeline --bench fragments`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_main, Criterion, Throughput};
use etherparse::{IpFragOffset, Ipv4Header, PacketBuilder};
use rvs_config::testbed::{TwoPortDirector, GATEWAY_MAC, WAN_MAC};
use rvs_config::{Config, FragLimits, PortId};
use rvs_packet::fragment::piece;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_packet::wire::parse_frame;
use rvs_pipeline::reassembly::{Added, Reassembly};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::{Io, Worker};

const WAN: PortId = PortId(0);
const BURST: usize = 32;
/// Datagrams built before timing (their identifications cycle).
const DATAGRAMS: u16 = 4096;

fn worker() -> Worker<HeapBuf> {
    let text = TwoPortDirector::new("bench", 65_536)
        .gateway()
        .real(11)
        .to_toml()
        + "\n[[service]]\nproto = \"udp\"\nvip = \"10.0.0.100\"\nport = 53\n\
           [[service.real]]\nip = \"10.1.0.11\"\nport = 5353\nforward = \"nat\"\n";
    let config = Config::parse(&text, "bench.toml").expect("bench config");
    let snap =
        Snapshot::build(&config, &[], &[false; 2], &mut IdRegistry::default()).expect("snapshot");
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

/// A UDP datagram of `ip_len` bytes of IP from 100.64.0.1:40000 to the VIP's port 53.
fn datagram(ip_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4([100, 64, 0, 1], [10, 0, 0, 100], 64)
        .udp(40000, 53)
        .write(&mut out, &vec![0x5a; ip_len - 28])
        .expect("frame");
    out
}

/// `frame` cut into fragments of 1,480 data bytes identified by `id` (etherparse).
fn fragments(frame: &[u8], id: u16) -> Vec<Vec<u8>> {
    let (h, _) = Ipv4Header::from_slice(&frame[14..]).expect("ipv4");
    let payload = &frame[34..];
    payload
        .chunks(1480)
        .enumerate()
        .map(|(i, data)| {
            let mut f = h.clone();
            f.identification = id;
            f.dont_fragment = false;
            f.fragment_offset = IpFragOffset::try_new((i * 185) as u16).expect("offset");
            f.more_fragments = (i + 1) * 1480 < payload.len();
            f.total_len = (20 + data.len()) as u16;
            f.header_checksum = f.calc_header_checksum();
            let mut out = frame[..14].to_vec();
            f.write(&mut out).expect("header");
            out.extend_from_slice(data);
            out
        })
        .collect()
}

/// Every fragment of [`DATAGRAMS`] datagrams of 4,000 bytes, in order.
fn all_fragments() -> Vec<Vec<u8>> {
    let whole = datagram(4000);
    (0..DATAGRAMS)
        .flat_map(|id| fragments(&whole, id))
        .collect()
}

fn table(c: &mut Criterion) {
    let frames = all_fragments();
    let infos: Vec<_> = frames
        .iter()
        .map(|f| parse_frame(f).expect("parse"))
        .collect();
    let mut r = Reassembly::new(FragLimits::default());
    let mut g = c.benchmark_group("fragments");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    let mut now = 1_000;
    g.bench_function("table", |b| {
        b.iter(|| {
            let (f, info) = (&frames[i], &infos[i]);
            i = (i + 1) % frames.len();
            now += 1;
            let p = piece(f, info).expect("a fragment");
            if let Added::Whole(w) = r.add(&p, f, WAN, now / 1000) {
                let (buf, len) = r.take_whole(w);
                black_box(buf[len - 1]);
                r.give_back(buf);
            }
        })
    });
    // A flood: first fragments only, each of a new datagram.
    let firsts: Vec<usize> = (0..frames.len()).step_by(3).collect();
    let mut r = Reassembly::new(FragLimits::default());
    let mut at = 0;
    let mut id = 0u32;
    g.bench_function("table_flood", |b| {
        b.iter(|| {
            let k = firsts[at];
            at = (at + 1) % firsts.len();
            id = id.wrapping_add(1);
            let mut p = piece(&frames[k], &infos[k]).expect("a fragment");
            p.key.id = id;
            black_box(r.add(&p, &frames[k], WAN, 1));
            black_box(r.take_evicted());
        })
    });
    g.finish();
}

/// Through the worker, in bursts: `frames` cycled, `per` frames per timed element.
fn through_worker(c: &mut Criterion, name: &str, frames: &[Vec<u8>]) {
    let mut w = worker();
    let mut io = SinkIo::default();
    let mut g = c.benchmark_group("fragments");
    g.throughput(Throughput::Elements(BURST as u64));
    let mut at = 0;
    let now_ms = 1_000_000;
    g.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..BURST {
                let mut buf = io.pool.pop().unwrap_or_default();
                buf.set_frame(&frames[at]).expect("fits");
                at = (at + 1) % frames.len();
                w.stage(WAN, buf, now_ms, &mut io);
            }
            w.run_staged(now_ms, &mut io);
        })
    });
    g.finish();
    let c = w.counters();
    assert_eq!(c.drops.iter().sum::<u64>(), 0, "nothing dropped");
}

fn nat(c: &mut Criterion) {
    through_worker(c, "nat_udp_4000", &all_fragments());
    through_worker(c, "nat_udp_1500_unfragmented", &[datagram(1500)]);
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    table(&mut c);
    nat(&mut c);
}

criterion_main!(benches);
