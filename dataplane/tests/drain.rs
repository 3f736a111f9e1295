//! Established connections survive configuration edits on a director with several
//! workers, as under IPVS: deleting a service (`ipvsadm -D`, its VIP goes with it) or a
//! real (`ipvsadm -d`) leaves the connections already made forwarding to their real
//! until they end. Each edit goes through the control core's change path and reaches
//! every worker as the update the control core built for it; each frame is handed to the
//! worker steering names ([`steer::owner`]), which must be the worker holding its
//! connection. Frames are built and checked (addresses, ports, checksums) with
//! etherparse.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use etherparse::{Icmpv4Type, LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use rvs_ctl::proto::{Change, Protocol, Request, Response, ServiceKey};
use rvs_dataplane::config::{Config, PortId};
use rvs_dataplane::control::{Control, WorkerLink};
use rvs_dataplane::drop::DropReason;
use rvs_dataplane::live::Published;
use rvs_dataplane::packet::{HeapBuf, PacketBuf};
use rvs_dataplane::rss::Reta;
use rvs_dataplane::service::IdRegistry;
use rvs_dataplane::snapshot::Snapshot;
use rvs_dataplane::steer;
use rvs_dataplane::update::{Garbage, Mailbox, Update};
use rvs_dataplane::wire::parse_frame;
use rvs_dataplane::worker::{CollectIo, Worker};

const WAN: PortId = PortId(0);
const LAN: PortId = PortId(1);
const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const LADDR: [u8; 4] = [10, 1, 0, 2];
const ROUTER: [u8; 4] = [10, 0, 0, 254];
/// Clients 10.0.0.2 ..= 10.0.0.5, each from several ports.
const CLIENT_HOSTS: std::ops::RangeInclusive<u8> = 2..=5;
const CLIENT_PORTS: std::ops::Range<u16> = 20000..20012;

/// How a service reaches its reals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Nat,
    FullNat,
    Dr,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Nat, Mode::FullNat, Mode::Dr];

    /// The VIP of this mode's service (one service per VIP, port 80).
    fn vip(self) -> [u8; 4] {
        [10, 0, 0, 100 + self as u8]
    }

    /// The last octets of its two reals (10.1.0.x).
    fn reals(self) -> [u8; 2] {
        [11 + self as u8, 14 + self as u8]
    }

    /// The port its reals listen on (DR keeps the VIP's port).
    fn real_port(self) -> u16 {
        if self == Mode::Dr {
            80
        } else {
            8080
        }
    }

    fn forward(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
            Mode::Dr => "dr",
        }
    }
}

fn mac_of_client(host: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0xc0, host]
}

fn mac_of_real(host: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, host]
}

fn config(workers: u16, behaviour: &str) -> String {
    let mut text = format!(
        "[dataplane]\nworkers = {workers}\nconn_capacity = 4096\n\
         [[port]]\nname = \"wan0\"\ndevice = \"mem\"\nmac = \"02:00:00:00:00:01\"\n\
         addresses = [\"10.0.0.1/24\"]\n\
         [[port]]\nname = \"lan0\"\ndevice = \"mem\"\nmac = \"02:00:00:00:00:02\"\n\
         addresses = [\"10.1.0.1/24\"]\n[behaviour]\n{behaviour}\n"
    );
    for host in CLIENT_HOSTS {
        text += &format!(
            "[[neighbor]]\nip = \"10.0.0.{host}\"\nmac = \"02:00:00:00:c0:{host:02x}\"\n\
             port = \"wan0\"\n"
        );
    }
    for mode in Mode::ALL {
        for host in mode.reals() {
            text += &format!(
                "[[neighbor]]\nip = \"10.1.0.{host}\"\nmac = \"02:00:00:00:01:{host:02x}\"\n\
                 port = \"lan0\"\n"
            );
        }
    }
    for mode in Mode::ALL {
        let [a, b, c, d] = mode.vip();
        text += &format!(
            "[[service]]\nproto = \"tcp\"\nvip = \"{a}.{b}.{c}.{d}\"\nport = 80\n\
             scheduler = \"rr\"\n"
        );
        if mode == Mode::FullNat {
            text += "laddrs = [\"10.1.0.2\"]\n";
        }
        for host in mode.reals() {
            text += &format!(
                "[[service.real]]\nip = \"10.1.0.{host}\"\nport = {}\nforward = \"{}\"\n",
                mode.real_port(),
                mode.forward()
            );
        }
    }
    text
}

/// How the director's flows are owned.
#[derive(Clone, Copy, Debug)]
enum Owned {
    ByHash,
    ByRss,
}

/// A director in memory: the control core, its workers, and stand-ins for the worker
/// lcores' mailbox polling that keep each update for the test to hand its worker.
struct Director {
    control: Control,
    workers: Vec<Worker<HeapBuf>>,
    /// What steering reads: the snapshot every worker forwards with.
    snap: Arc<Snapshot>,
    posted: Vec<Arc<Mutex<Vec<Update>>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    io: CollectIo,
    now_ms: u64,
    file: PathBuf,
}

impl Director {
    fn new(workers: u16, owned: Owned, behaviour: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let file =
            std::env::temp_dir().join(format!("rvs-drain-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&file, config(workers, behaviour)).expect("config file");
        let config = Config::from_file(&file).expect("config");
        let mut ids = IdRegistry::default();
        let mut snap = Snapshot::build(&config, &[], &[], &mut ids).expect("snapshot");
        if let Owned::ByRss = owned {
            snap = snap.with_rss(Reta::round_robin(128, workers));
        }
        let snap = Arc::new(snap);
        let stop = Arc::new(AtomicBool::new(false));
        let (mut links, mut posted, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        for w in 0..workers {
            let mailbox = Mailbox::new(1);
            links.push(WorkerLink {
                mailbox: Arc::clone(&mailbox),
                published: Arc::new(Mutex::new(Published::default())),
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
            stop,
            threads,
            io: CollectIo::default(),
            now_ms: 1_000_000,
            file,
        }
    }

    /// Apply `changes` as rvsadm does, and hand every worker the updates it was posted.
    fn apply(&mut self, changes: Vec<Change>) {
        let done = self.control.handle(Request::Apply { changes });
        assert_eq!(done, Ok(Response::Done));
        for (w, posted) in self.posted.iter().enumerate() {
            let updates: Vec<_> = posted.lock().unwrap().drain(..).collect();
            assert!(!updates.is_empty(), "worker {w} was posted the change");
            for u in updates {
                self.snap = Arc::clone(&u.snap);
                drop(self.workers[w].take_update(u));
            }
        }
    }

    /// Receive `frame` on `port`: steering's owner and what that worker sent.
    fn receive(&mut self, port: PortId, frame: &[u8]) -> (u16, Vec<(PortId, HeapBuf)>) {
        let info = parse_frame(frame).expect("the pipeline parses it");
        let owner = steer::owner(&self.snap, &info).expect("a flow has an owner");
        self.now_ms += 1;
        let buf = HeapBuf::from_frame(frame).expect("fits");
        self.workers[usize::from(owner)].process(port, buf, self.now_ms, &mut self.io);
        (owner, self.io.sent.drain(..).collect())
    }

    /// Drops for `reason`, all workers.
    fn drops(&self, reason: DropReason) -> u64 {
        self.workers
            .iter()
            .map(|w| w.counters().drops[reason.index()])
            .sum()
    }

    fn conns_created(&self) -> u64 {
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
fn segment(
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

/// What a TCP frame the director sent carries, its checksums checked.
#[derive(Debug, PartialEq, Eq)]
struct Sent {
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    payload: Vec<u8>,
}

fn sent_tcp(frame: &[u8]) -> Sent {
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

/// An ICMP port unreachable from the router to `to`, quoting the first 28 bytes of the
/// IP packet in `quoted` (an Ethernet frame).
fn icmp_error(to: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(mac_of_client(254), WAN_MAC)
        .ipv4(ROUTER, to, 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut frame, &quoted[14..14 + 28])
        .expect("frame");
    frame
}

/// The one's-complement sum of `bytes` folded: 0xffff over a correct checksum.
fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An open connection as the test saw it made.
#[derive(Debug)]
struct Flow {
    mode: Mode,
    client: ([u8; 4], u16),
    /// The worker that made it.
    holder: u16,
    /// The last octet of its real.
    real: u8,
    /// Its source as the real sees it (the client, or FULLNAT's local address and port).
    seen_from: ([u8; 4], u16),
}

impl Flow {
    fn client_mac(&self) -> [u8; 6] {
        mac_of_client(self.client.0[3])
    }

    fn vip(&self) -> ([u8; 4], u16) {
        (self.mode.vip(), 80)
    }

    fn real_addr(&self) -> ([u8; 4], u16) {
        ([10, 1, 0, self.real], self.mode.real_port())
    }

    /// A client segment: owned by its holder, forwarded to its real unchanged but for
    /// the rewrite its mode makes. Returns the frame as sent (the NAT'd packet).
    fn client_sends(&self, d: &mut Director, syn: bool, payload: &[u8], when: &str) -> Vec<u8> {
        let frame = segment(
            (self.client_mac(), WAN_MAC),
            self.client,
            self.vip(),
            syn,
            !syn,
            payload,
        );
        let (owner, out) = d.receive(WAN, &frame);
        assert_eq!(
            owner, self.holder,
            "{when}: client -> VIP owner of {self:?}"
        );
        assert_eq!(out.len(), 1, "{when}: one frame forwarded for {self:?}");
        let (port, buf) = &out[0];
        assert_eq!(*port, LAN, "{when}: toward the reals");
        let got = sent_tcp(buf.data());
        assert_eq!(got.dst_mac, mac_of_real(self.real), "{when}: {self:?}");
        let dst = match self.mode {
            Mode::Dr => self.vip(),
            _ => self.real_addr(),
        };
        assert_eq!(
            (got.src, got.dst),
            (self.seen_from, dst),
            "{when}: {self:?}"
        );
        assert_eq!(got.payload, payload, "{when}");
        buf.data().to_vec()
    }

    /// The real's segment back (NAT and FULLNAT): owned by the holder, sent to the
    /// client from the VIP. Returns the frame as sent.
    fn real_sends(&self, d: &mut Director, syn: bool, payload: &[u8], when: &str) -> Vec<u8> {
        let frame = segment(
            (mac_of_real(self.real), LAN_MAC),
            self.real_addr(),
            self.seen_from,
            syn,
            true,
            payload,
        );
        let (owner, out) = d.receive(LAN, &frame);
        assert_eq!(owner, self.holder, "{when}: real -> owner of {self:?}");
        assert_eq!(out.len(), 1, "{when}: one frame to the client for {self:?}");
        let (port, buf) = &out[0];
        assert_eq!(*port, WAN, "{when}: toward the client");
        let got = sent_tcp(buf.data());
        assert_eq!(got.dst_mac, self.client_mac(), "{when}");
        assert_eq!((got.src, got.dst), (self.vip(), self.client), "{when}");
        assert_eq!(got.payload, payload, "{when}");
        buf.data().to_vec()
    }

    /// A router's error about a packet the director sent the client: owned by the
    /// holder and forwarded toward the real with correct checksums.
    fn router_errs(&self, d: &mut Director, sent_to_client: &[u8], when: &str) {
        let frame = icmp_error(self.mode.vip(), sent_to_client);
        let (owner, out) = d.receive(WAN, &frame);
        assert_eq!(owner, self.holder, "{when}: ICMP error owner of {self:?}");
        assert_eq!(out.len(), 1, "{when}: the error is forwarded for {self:?}");
        let (port, buf) = &out[0];
        assert_eq!(*port, LAN, "{when}");
        let p = SlicedPacket::from_ethernet(buf.data()).expect("etherparse reads it");
        let Some(NetSlice::Ipv4(v4)) = p.net else {
            panic!("not IPv4");
        };
        let ip = v4.header();
        assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
        assert_eq!(ip.destination(), self.real_addr().0, "{when}: to the real");
        assert_eq!(
            ones_sum(v4.payload().payload),
            0xffff,
            "{when}: ICMP checksum"
        );
    }
}

/// Open connections from every client port to every mode's service; each is forwarded
/// whole (handshake both ways) before anything changes.
fn open_flows(d: &mut Director) -> Vec<Flow> {
    let mut flows = Vec::new();
    for mode in Mode::ALL {
        for host in CLIENT_HOSTS {
            for port in CLIENT_PORTS {
                let client = ([10, 0, 0, host], port);
                let syn = segment(
                    (mac_of_client(host), WAN_MAC),
                    client,
                    (mode.vip(), 80),
                    true,
                    false,
                    &[],
                );
                let (holder, out) = d.receive(WAN, &syn);
                assert_eq!(out.len(), 1, "{mode:?} {client:?}: the SYN is forwarded");
                let got = sent_tcp(out[0].1.data());
                let real = *mode
                    .reals()
                    .iter()
                    .find(|&&r| mac_of_real(r) == got.dst_mac)
                    .expect("sent to one of the service's reals");
                let flow = Flow {
                    mode,
                    client,
                    holder,
                    real,
                    seen_from: got.src,
                };
                if mode == Mode::FullNat {
                    assert_eq!(flow.seen_from.0, LADDR);
                } else {
                    assert_eq!(flow.seen_from, client);
                }
                if mode != Mode::Dr {
                    flow.real_sends(d, true, &[], "handshake");
                }
                flow.client_sends(d, false, &[], "handshake");
                flows.push(flow);
            }
        }
    }
    for mode in Mode::ALL {
        let holders: std::collections::HashSet<u16> = flows
            .iter()
            .filter(|f| f.mode == mode)
            .map(|f| f.holder)
            .collect();
        assert!(holders.len() > 1, "{mode:?}: flows spread over workers");
    }
    flows
}

fn service_key(mode: Mode) -> ServiceKey {
    ServiceKey {
        proto: Protocol::Tcp,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(mode.vip())), 80),
    }
}

/// Every open connection keeps flowing both ways, with its ICMP errors, on the worker
/// that holds it.
fn flows_continue(d: &mut Director, flows: &[Flow], when: &str) {
    for flow in flows {
        flow.client_sends(d, false, b"more from the client", when);
        if flow.mode != Mode::Dr {
            let reply = flow.real_sends(d, false, b"more from the real", when);
            flow.router_errs(d, &reply, when);
        }
    }
}

#[test]
fn connections_of_a_deleted_service_drain_on_the_worker_that_holds_them() {
    for (workers, owned) in [
        (2, Owned::ByHash),
        (4, Owned::ByHash),
        (2, Owned::ByRss),
        (4, Owned::ByRss),
    ] {
        let mut d = Director::new(workers, owned, "");
        let flows = open_flows(&mut d);
        let created = d.conns_created();
        assert_eq!(created, flows.len() as u64);
        d.apply(
            Mode::ALL
                .iter()
                .map(|&m| Change::DeleteService(service_key(m)))
                .collect(),
        );
        assert!(
            d.snap.services.list().is_empty(),
            "every service (and so every VIP) is gone"
        );
        let when = format!("{workers} workers {owned:?}, service deleted");
        flows_continue(&mut d, &flows, &when);

        // A new connection to a deleted VIP is refused, as for any address that is
        // not the director's: counted `not_for_us`, nothing forwarded, nothing made.
        let not_for_us = d.drops(DropReason::NotForUs);
        let mut refused = 0;
        for mode in Mode::ALL {
            for port in 30000..30008 {
                let syn = segment(
                    (mac_of_client(2), WAN_MAC),
                    ([10, 0, 0, 2], port),
                    (mode.vip(), 80),
                    true,
                    false,
                    &[],
                );
                let (_, out) = d.receive(WAN, &syn);
                assert!(out.is_empty(), "{when}: a new SYN to {mode:?}'s VIP");
                refused += 1;
            }
        }
        assert_eq!(d.drops(DropReason::NotForUs) - not_for_us, refused);
        assert_eq!(d.conns_created(), created, "{when}: no connection made");
        // The same connections still flow after the refusals.
        flows_continue(&mut d, &flows[..4], &when);
    }
}

#[test]
fn connections_to_a_removed_real_drain_unless_expire_nodest_conn() {
    for on in [false, true] {
        for (workers, owned) in [(2, Owned::ByHash), (4, Owned::ByRss)] {
            let mut d = Director::new(workers, owned, &format!("expire_nodest_conn = {on}"));
            let flows = open_flows(&mut d);
            // Each service loses its first real.
            d.apply(
                Mode::ALL
                    .iter()
                    .map(|&m| Change::DeleteReal {
                        service: service_key(m),
                        addr: SocketAddr::new(
                            IpAddr::V4(Ipv4Addr::from([10, 1, 0, m.reals()[0]])),
                            m.real_port(),
                        ),
                    })
                    .collect(),
            );
            let when = format!("{workers} workers {owned:?}, expire_nodest_conn = {on}");
            let (removed, kept): (Vec<&Flow>, Vec<&Flow>) =
                flows.iter().partition(|f| f.real == f.mode.reals()[0]);
            assert!(!removed.is_empty() && !kept.is_empty(), "rr used both");
            for flow in &kept {
                flow.client_sends(&mut d, false, b"to a kept real", &when);
            }
            for flow in &removed {
                if !on {
                    flow.client_sends(&mut d, false, b"to a removed real", &when);
                    continue;
                }
                let frame = segment(
                    (flow.client_mac(), WAN_MAC),
                    flow.client,
                    flow.vip(),
                    false,
                    true,
                    b"to a removed real",
                );
                let (owner, out) = d.receive(WAN, &frame);
                assert_eq!(owner, flow.holder, "{when}: {flow:?}");
                assert!(out.is_empty(), "{when}: dropped with its connection");
            }
            let expected = if on { removed.len() as u64 } else { 0 };
            assert_eq!(d.drops(DropReason::RealRemoved), expected, "{when}");
        }
    }
}
