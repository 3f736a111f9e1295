//! Connection sync's costs, each with and without sync:
//!
//! - `sync_worker/*/established`: a worker's cost per packet of 100 000 established NAT
//!   connections (ACKs that change no state), without `[ha]` and as a master under
//!   `[ha.sync]` (its tick sends the refresh pass's share);
//! - `sync_worker/*/new_conn`: per SYN of a new client (as master, each is noted and
//!   sent at the next tick);
//! - `sync_control/encode_sign`: the master's control core batching, encoding, signing
//!   (HMAC-SHA256) and framing records, per record.
//!
//! The worker ticks every 1024 packets, its clock 1 ms further each time; the records
//! it queues are taken away between timed runs (the control core's work, timed apart).
//!
//! `cargo bench -p rvs-control --bench sync`

#[path = "common/sync_lab.rs"]
mod sync_lab;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};
use rvs_packet::packet::HeapBuf;
use rvs_pipeline::ha::sync_wire::{RecordKind, SchemeTag, SyncRecord};
use rvs_pipeline::ha::{HaLink, SYNC_RECORDS};
use rvs_pipeline::worker::{CollectIo, Worker};

use sync_lab::*;

const ESTABLISHED: u32 = 100_000;
const TICK_EVERY: usize = 1024;
const NEW_CLIENTS: u32 = 200_000;

/// A worker of `capacity` connections, as a master under `[ha.sync]` when `sync`.
fn director(capacity: usize, sync: bool) -> (Worker<HeapBuf>, Option<Arc<HaLink>>) {
    let mut w = worker(&config(capacity));
    let link = sync.then(|| {
        let (link, _) = director_sync(MASTER, BACKUP, true, rvs_config::DEFAULT_SYNC_REFRESH);
        w.attach_ha(Arc::clone(&link));
        link
    });
    (w, link)
}

/// Runs `frames` (cycled from `*next`) through `w`, ticking every [`TICK_EVERY`]; the
/// time taken, the records the link queued dropped after.
fn run(
    w: &mut Worker<HeapBuf>,
    link: &Option<Arc<HaLink>>,
    frames: &[Vec<u8>],
    next: &mut usize,
    now: &mut u64,
    packets: u64,
) -> Duration {
    let mut io = CollectIo::default();
    let mut took = Duration::ZERO;
    let mut done = 0;
    while done < packets {
        let n = (packets - done).min(TICK_EVERY as u64) as usize;
        let start = Instant::now();
        for _ in 0..n {
            let f = &frames[*next % frames.len()];
            *next += 1;
            w.process(
                rvs_config::PortId(0),
                HeapBuf::from_frame(f).unwrap(),
                *now,
                &mut io,
            );
        }
        *now += 1;
        w.tick(*now, &mut io);
        took += start.elapsed();
        done += n as u64;
        io.sent.clear();
        if let Some(l) = link {
            l.discard_records();
        }
    }
    took
}

fn established(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync_worker");
    g.throughput(Throughput::Elements(1));
    // Both directors are set up before either is measured.
    let mut set_up: Vec<_> = [false, true]
        .into_iter()
        .map(|sync| {
            let (mut w, link) = director(1 << 18, sync);
            let syns: Vec<_> = (0..ESTABLISHED).map(|n| segment(n, true)).collect();
            let acks: Vec<_> = (0..ESTABLISHED).map(|n| segment(n, false)).collect();
            let (mut next, mut now) = (0, 1);
            run(
                &mut w,
                &link,
                &syns,
                &mut next,
                &mut now,
                ESTABLISHED.into(),
            );
            next = 0;
            run(
                &mut w,
                &link,
                &acks,
                &mut next,
                &mut now,
                ESTABLISHED.into(),
            );
            assert_eq!(w.conns().len(), ESTABLISHED as usize);
            (sync, w, link, acks, next, now)
        })
        .collect();
    for (sync, w, link, acks, next, now) in set_up.iter_mut().rev() {
        let name = if *sync { "master" } else { "off" };
        g.bench_function(format!("{name}/established"), |b| {
            b.iter_custom(|iters| run(w, link, acks, next, now, iters))
        });
    }
    for sync in [false, true] {
        let syns: Vec<_> = (0..NEW_CLIENTS).map(|n| segment(n, true)).collect();
        let name = if sync { "master" } else { "off" };
        let (mut w, mut link) = director(1 << 18, sync);
        let (mut next, mut now) = (0usize, 1);
        g.bench_function(format!("{name}/new_conn"), |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    if next >= syns.len() {
                        (w, link) = director(1 << 18, sync);
                        next = 0;
                    }
                    let n = left.min((syns.len() - next) as u64);
                    took += run(&mut w, &link, &syns, &mut next, &mut now, n);
                    left -= n;
                }
                took
            })
        });
    }
    g.finish();
}

fn encode_sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync_control");
    g.throughput(Throughput::Elements(1));
    let (link, mut runner) = director_sync(MASTER, BACKUP, true, Duration::from_secs(30));
    let record = SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Tcp,
        mode: ForwardMode::FullNat,
        state: TcpState::Established,
        timeout_ms: 900_000,
        client: "100.64.1.2:40000".parse().unwrap(),
        vip: "10.0.0.100:80".parse().unwrap(),
        real: "10.1.0.11:80".parse().unwrap(),
        local: Some("10.1.0.200:2048".parse().unwrap()),
        template: None,
        stream: StreamAdjust::default(),
    };
    g.bench_function("encode_sign", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(SYNC_RECORDS as u64);
                for _ in 0..n {
                    link.push_record(record);
                }
                while link.record_room() < SYNC_RECORDS {
                    let start = Instant::now();
                    runner.send(&link, SchemeTag::LowBits, 1_700_000_000_000);
                    took += start.elapsed();
                    while black_box(link.next_to_send()).is_some() {}
                }
                left -= n;
            }
            took
        })
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    established(&mut c);
    encode_sign(&mut c);
}

criterion_main!(benches);
