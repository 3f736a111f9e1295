//! A director with several workers in memory, for the tests of what steering and the
//! control core's updates do across workers: a real [`Control`] with one mailbox per
//! worker, every frame handed to the worker [`steer::owner`] names, and TCP frames
//! built and read back with etherparse (an independent parser).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use rvs_config::{Config, PortId};
use rvs_control::{Control, WorkerLink};
use rvs_ctl::proto::{Change, Request, Response, ServiceInfo};
use rvs_packet::drop::DropReason;
use rvs_packet::packet::HeapBuf;
use rvs_packet::wire::parse_frame;
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::rss::Reta;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::steer;
use rvs_pipeline::update::Published;
use rvs_pipeline::update::{Garbage, Mailbox, Update};
use rvs_pipeline::worker::{CollectIo, Worker};

/// `wan0`, toward the clients.
pub const WAN: PortId = PortId(0);
/// `lan0`, toward the reals.
pub const LAN: PortId = PortId(1);

/// The MAC of client `10.0.0.{host}` on `wan0`.
pub fn mac_of_client(host: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0xc0, host]
}

/// The MAC of real `10.1.0.{host}` on `lan0`.
pub fn mac_of_real(host: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, host]
}

/// `[dataplane]` with `workers` workers and room for 4096 connections, `wan0`
/// (10.0.0.1/24) and `lan0` (10.1.0.1/24) on in-memory devices, the clients
/// `10.0.0.{host}` and the reals `10.1.0.{host}` as static neighbours with
/// [`mac_of_client`] and [`mac_of_real`]. Tests append their services.
pub fn ports_and_neighbours(
    workers: u16,
    clients: impl IntoIterator<Item = u8>,
    reals: impl IntoIterator<Item = u8>,
) -> String {
    let mut text = format!(
        "[dataplane]\nworkers = {workers}\nconn_capacity = 4096\n\
         [[port]]\nname = \"wan0\"\ndevice = \"mem\"\nmac = \"02:00:00:00:00:01\"\n\
         addresses = [\"10.0.0.1/24\"]\n\
         [[port]]\nname = \"lan0\"\ndevice = \"mem\"\nmac = \"02:00:00:00:00:02\"\n\
         addresses = [\"10.1.0.1/24\"]\n"
    );
    for host in clients {
        text += &format!(
            "[[neighbor]]\nip = \"10.0.0.{host}\"\nmac = \"02:00:00:00:c0:{host:02x}\"\n\
             port = \"wan0\"\n"
        );
    }
    for host in reals {
        text += &format!(
            "[[neighbor]]\nip = \"10.1.0.{host}\"\nmac = \"02:00:00:00:01:{host:02x}\"\n\
             port = \"lan0\"\n"
        );
    }
    text
}

/// How the director's flows are owned.
#[derive(Clone, Copy, Debug)]
pub enum Owned {
    /// By steering's hash of the flow.
    ByHash,
    /// By a round-robin RSS redirection table of 128 entries.
    ByRss,
}

/// A director in memory: the control core, its workers, and stand-ins for the worker
/// lcores' mailbox polling that keep each update for the test to hand its worker.
pub struct Director {
    control: Control,
    workers: Vec<Worker<HeapBuf>>,
    /// What steering reads: the snapshot every worker forwards with.
    pub snap: Arc<Snapshot>,
    posted: Vec<Arc<Mutex<Vec<Update>>>>,
    /// Each worker's slot of published counters, which the control core reads.
    published: Vec<Arc<Mutex<Published>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    io: CollectIo,
    now_ms: u64,
    file: PathBuf,
}

impl Director {
    /// `workers` workers under the configuration `text` (which names as many), its
    /// flows owned as `owned` says.
    pub fn new(text: &str, workers: u16, owned: Owned) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let file =
            std::env::temp_dir().join(format!("rvs-multi-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&file, text).expect("config file");
        let config = Config::from_file(&file).expect("config");
        let mut ids = IdRegistry::default();
        let mut snap = Snapshot::build(&config, &[], &[], &mut ids).expect("snapshot");
        if let Owned::ByRss = owned {
            snap = snap.with_rss(Reta::round_robin(128, workers));
        }
        let snap = Arc::new(snap);
        let stop = Arc::new(AtomicBool::new(false));
        let (mut links, mut posted, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        let mut published = Vec::new();
        for w in 0..workers {
            let mailbox = Mailbox::new(1);
            let slot = Arc::new(Mutex::new(Published::default()));
            published.push(Arc::clone(&slot));
            links.push(WorkerLink {
                mailbox: Arc::clone(&mailbox),
                published: slot,
                lcore: u32::from(w) + 1,
                seed: u64::from(w),
            });
            let kept = Arc::new(Mutex::new(Vec::new()));
            posted.push(Arc::clone(&kept));
            let stop = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(u) = mailbox.take() {
                        let generation = u.generation;
                        kept.lock().unwrap().push(*u);
                        mailbox.taken(generation, Garbage::default());
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            }));
        }
        let workers = (0..workers)
            .map(|w| Worker::new(w, Arc::clone(&snap), u64::from(w)))
            .collect();
        let control = Control::new(
            config,
            file.clone(),
            ids,
            Arc::clone(&snap),
            links,
            Box::new(Vec::new),
        );
        Self {
            control,
            workers,
            snap,
            posted,
            published,
            stop,
            threads,
            io: CollectIo::default(),
            now_ms: 1_000_000,
            file,
        }
    }

    /// How many workers it has.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Apply `changes` as rvsadm does, and hand every worker the updates it was posted.
    pub fn apply(&mut self, changes: Vec<Change>) {
        let done = self.control.handle(Request::Apply { changes });
        assert_eq!(done, Ok(Response::Done));
        self.hand_updates();
    }

    /// Rewrite the director's configuration file with `text` and reload it as
    /// `rvsctl config reload` and SIGHUP do; hand every worker its updates.
    pub fn reload(&mut self, text: &str) {
        std::fs::write(&self.file, text).expect("config file");
        let done = self.control.handle(Request::ConfigReload {
            path: None,
            dry_run: false,
            discard_runtime: false,
        });
        assert!(matches!(done, Ok(Response::Reloaded(_))), "{done:?}");
        self.hand_updates();
    }

    /// Hand every worker the updates the control core posted it (each was posted one).
    fn hand_updates(&mut self) {
        for (w, posted) in self.posted.iter().enumerate() {
            let updates: Vec<_> = posted.lock().unwrap().drain(..).collect();
            assert!(!updates.is_empty(), "worker {w} was posted the change");
            for u in updates {
                self.snap = Arc::clone(&u.snap);
                drop(self.workers[w].take_update(u));
            }
        }
    }

    /// The worker steering names for `frame`.
    pub fn owner(&self, frame: &[u8]) -> u16 {
        let info = parse_frame(frame).expect("the pipeline parses it");
        steer::owner(&self.snap, &info).expect("a flow has an owner")
    }

    /// Receive `frame` on `port`: steering's owner and what that worker sent.
    pub fn receive(&mut self, port: PortId, frame: &[u8]) -> (u16, Vec<(PortId, HeapBuf)>) {
        let owner = self.owner(frame);
        self.now_ms += 1;
        let buf = HeapBuf::from_frame(frame).expect("fits");
        self.workers[usize::from(owner)].process(port, buf, self.now_ms, &mut self.io);
        (owner, self.io.sent.drain(..).collect())
    }

    /// Drops for `reason`, all workers.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.workers
            .iter()
            .map(|w| w.counters().drops[reason.index()])
            .sum()
    }

    /// Run the configuration's `[ha]` (and `[ha.sync]`) through a new link that the
    /// control core and every worker share, as a live director does: the link.
    pub fn attach_ha(&mut self) -> Arc<HaLink> {
        let config = Config::from_file(&self.file).expect("config");
        let ha = config.ha.as_ref().expect("an [ha] section");
        let link = Arc::new(HaLink::of_config(ha, config.dataplane.workers));
        for w in &mut self.workers {
            w.attach_ha(Arc::clone(&link));
        }
        let macs: Vec<[u8; 6]> = self.snap.ports.iter().map(|p| p.mac).collect();
        self.control.attach_ha(Arc::clone(&link), &macs);
        link
    }

    /// The control core's poll of `[ha]`: it takes what the workers handed over.
    pub fn tick_ha(&mut self) {
        self.control.tick_ha();
    }

    /// The control core's poll of `[announce]`: it follows the VRRP state and carries
    /// the routing daemon's reload on.
    pub fn tick_announce(&mut self) {
        self.control.tick_announce();
    }

    /// Every worker's tick (a backup's workers install what sync queued for them); what
    /// they sent is dropped.
    pub fn tick_workers(&mut self) {
        self.now_ms += 1;
        for w in &mut self.workers {
            w.tick(self.now_ms, &mut self.io);
        }
        self.io.sent.clear();
    }

    /// Each worker's FULLNAT local port pools, and the ports synced connections hold
    /// in the pools of `laddr`.
    pub fn local_ports(&self, laddr: std::net::IpAddr) -> Vec<(usize, Option<usize>)> {
        self.workers
            .iter()
            .map(|w| (w.local_ports().pools(), w.local_ports().held(laddr)))
            .collect()
    }

    /// Connections in the tables, all workers.
    pub fn conns(&self) -> Vec<rvs_conntrack::Conn> {
        self.workers
            .iter()
            .flat_map(|w| w.conns().iter().map(|(_, c)| c))
            .collect()
    }

    /// Every worker publishes its counters for the control core, as a worker lcore does
    /// between its poll rounds.
    pub fn publish(&self) {
        for (w, slot) in self.workers.iter().zip(&self.published) {
            w.publish_to(&mut slot.lock().unwrap());
        }
    }

    /// What `rvsadm -Ln --stats` lists: every service with its reals and counters.
    pub fn services(&mut self) -> Vec<ServiceInfo> {
        match self.control.handle(Request::Services { service: None }) {
            Ok(Response::Services(list)) => list,
            other => panic!("services: {other:?}"),
        }
    }

    /// What `rvsctl status` shows.
    pub fn status(&mut self) -> rvs_ctl::proto::StatusInfo {
        match self.control.handle(Request::Status) {
            Ok(Response::Status(s)) => s,
            other => panic!("status: {other:?}"),
        }
    }

    /// What the Prometheus endpoint shows.
    pub fn metrics(&self) -> String {
        rvs_control::metrics::render(&self.control.metrics_input())
    }

    /// Connections made, all workers.
    pub fn conns_created(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.counters().conns_created)
            .sum()
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// A TCP segment with `payload`; `syn` alone for a SYN, else ACK (with SYN for a
/// SYN-ACK when `syn`, with PSH when it carries data).
pub fn segment(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    syn: bool,
    ack: bool,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1000, 64240);
    let tcp = match (syn, ack) {
        (true, false) => tcp.syn(),
        (true, true) => tcp.syn().ack(1),
        _ if payload.is_empty() => tcp.ack(1),
        _ => tcp.ack(1).psh(),
    };
    let mut frame = Vec::new();
    tcp.write(&mut frame, payload).expect("frame");
    frame
}

/// What a TCP frame the director sent carries.
#[derive(Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its Ethernet destination.
    pub dst_mac: [u8; 6],
    /// Its IPv4 source and TCP source port.
    pub src: ([u8; 4], u16),
    /// Its IPv4 destination and TCP destination port.
    pub dst: ([u8; 4], u16),
    /// Its TCP payload.
    pub payload: Vec<u8>,
}

/// Read a TCP frame the director sent, its IPv4 and TCP checksums checked.
pub fn sent_tcp(frame: &[u8]) -> Sent {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse reads it");
    let Some(LinkSlice::Ethernet2(eth)) = p.link else {
        panic!("not Ethernet II");
    };
    let Some(NetSlice::Ipv4(v4)) = p.net else {
        panic!("not IPv4");
    };
    let ip = v4.header();
    assert_eq!(
        ip.header_checksum(),
        ip.to_header().calc_header_checksum(),
        "IPv4 header checksum"
    );
    let Some(TransportSlice::Tcp(tcp)) = p.transport else {
        panic!("not TCP");
    };
    let want = tcp
        .calc_checksum_ipv4(ip.source(), ip.destination())
        .expect("fits");
    assert_eq!(tcp.checksum(), want, "TCP checksum");
    Sent {
        dst_mac: eth.destination(),
        src: (ip.source(), tcp.source_port()),
        dst: (ip.destination(), tcp.destination_port()),
        payload: tcp.payload().to_vec(),
    }
}
