//! The control plane's costs: a worker taking up a new configuration between bursts
//! (the pause it puts in forwarding), building that configuration on the control core,
//! and the round trip of control requests over the Unix socket.
//!
//! 100 NAT services of 10 reals each plus one FULLNAT service; the change edits one
//! real's weight (so one scheduler table is rebuilt and 100 are kept).
//!
//! `cargo bench -p rvs-control --bench control`

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_main, BatchSize, Criterion};
use rvs_config::Config;
use rvs_control::{server, Control, WorkerLink};
use rvs_ctl::client;
use rvs_ctl::proto::{Change, Forward, Protocol, RealSpec, Request, ServiceKey};
use rvs_packet::packet::HeapBuf;
use rvs_pipeline::overlay::Overlay;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::update::Published;
use rvs_pipeline::update::{Garbage, Mailbox, Update};
use rvs_pipeline::worker::Worker;

const SERVICES: u32 = 100;
const REALS: u32 = 10;

fn config_text(weight: u32) -> String {
    let mut t = String::from(
        "[dataplane]\nworkers = 1\nconn_capacity = 65536\n\n[[port]]\nname = \"wan\"\ndevice = \"bench\"\naddresses = [\"10.0.0.1/16\"]\n\n[[port]]\nname = \"lan\"\ndevice = \"bench\"\naddresses = [\"10.1.0.1/16\"]\n",
    );
    for s in 0..SERVICES {
        let _ = write!(
            t,
            "\n[[service]]\nproto = \"tcp\"\nvip = \"10.0.{}.{}\"\nport = 80\nscheduler = \"wrr\"\n",
            1 + s / 200,
            1 + s % 200
        );
        for r in 0..REALS {
            let w = if s == 0 && r == 0 { weight } else { 1 };
            let _ = write!(
                t,
                "[[service.real]]\nip = \"10.1.{s}.{}\"\nport = 8080\nforward = \"nat\"\nweight = {w}\n",
                r + 1
            );
        }
    }
    t += "\n[[service]]\nproto = \"tcp\"\nvip = \"10.0.9.1\"\nport = 80\nscheduler = \"rr\"\nladdrs = [\"10.1.255.1\", \"10.1.255.2\"]\n[[service.real]]\nip = \"10.1.254.1\"\nport = 8080\nforward = \"fullnat\"\n";
    t
}

fn config(weight: u32) -> Config {
    Config::parse(&config_text(weight), "bench.toml").expect("config")
}

fn bench(c: &mut Criterion) {
    let mut ids = IdRegistry::default();
    let first = Arc::new(Snapshot::build(&config(1), &[], &[], &mut ids).expect("snapshot"));
    let mut worker: Worker<HeapBuf> = Worker::new(0, Arc::clone(&first), 0);
    let configs = [config(1), config(2)];
    let mut current = first;
    let mut generation = worker.generation();
    let mut next = 0usize;
    let mut g = c.benchmark_group("control");
    g.bench_function("build_update_on_control_core", |b| {
        b.iter(|| {
            let snap = Arc::new(
                current
                    .rebuild(&configs[1], &Overlay::default(), &mut ids)
                    .expect("rebuild"),
            );
            Update::for_worker(2, snap, &current, false, |_| None, (64, 2048))
        })
    });
    g.bench_function("worker_takes_update", |b| {
        b.iter_batched(
            || {
                next ^= 1;
                generation += 1;
                let snap = Arc::new(
                    current
                        .rebuild(&configs[next], &Overlay::default(), &mut ids)
                        .expect("rebuild"),
                );
                let update = Update::for_worker(
                    generation,
                    Arc::clone(&snap),
                    &current,
                    false,
                    |_| None,
                    (64, 2048),
                );
                current = snap;
                update
            },
            |update| -> Garbage { worker.take_update(update) },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    round_trips(c);
}

/// A control core with one stand-in worker that takes every update at once.
fn round_trips(c: &mut Criterion) {
    let config = config(1);
    let mut ids = IdRegistry::default();
    let snap = Arc::new(Snapshot::build(&config, &[], &[], &mut ids).expect("snapshot"));
    let mailbox = Mailbox::new(1);
    let link = WorkerLink {
        mailbox: Arc::clone(&mailbox),
        published: Arc::new(Mutex::new(Published::default())),
        lcore: 1,
        seed: 0,
    };
    let control = Control::new(
        config,
        PathBuf::from("bench.toml"),
        ids,
        snap,
        vec![link],
        Box::new(Vec::new),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = Arc::clone(&stop);
    let stand_in = std::thread::spawn(move || {
        while !worker_stop.load(Ordering::Relaxed) {
            if let Some(u) = mailbox.take() {
                mailbox.taken(u.generation, Garbage::default());
            }
            if let Some(d) = mailbox.dump_to_fill() {
                mailbox.dumped(d);
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    });
    let dir = std::env::temp_dir().join(format!("rvs-bench-control-{}", std::process::id()));
    let socket = dir.join("rvsd.sock");
    let served = server::spawn(&socket, Arc::new(Mutex::new(control))).expect("serve");
    let key = ServiceKey {
        proto: Protocol::Tcp,
        addr: "10.0.1.1:80".parse().expect("vip"),
    };
    let mut weight = 1;
    let mut g = c.benchmark_group("control_request");
    g.bench_function("status", |b| {
        b.iter(|| client::call(&socket, Request::Status).expect("status"))
    });
    g.bench_function("list_101_services_1001_reals", |b| {
        b.iter(|| client::call(&socket, Request::Services { service: None }).expect("list"))
    });
    g.bench_function("apply_one_weight_change", |b| {
        b.iter(|| {
            weight = 3 - weight;
            let real = RealSpec {
                addr: "10.1.0.1:8080".parse().expect("real"),
                forward: Forward::Nat,
                weight,
                upper: 0,
                lower: 0,
                tunnel: Default::default(),
            };
            client::call(
                &socket,
                Request::Apply {
                    changes: vec![Change::EditReal { service: key, real }],
                },
            )
            .expect("apply")
        })
    });
    g.finish();
    stop.store(true, Ordering::SeqCst);
    served.stop();
    let _ = stand_in.join();
    let _ = std::fs::remove_dir_all(&dir);
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented function
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
