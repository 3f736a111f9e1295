//! Persistence (`ipvsadm -p`) holds on a director with several workers: every
//! connection of a client (of its persistence netmask, `-M`) reaches the real its first
//! one reached while the template lives, even when the workers' schedulers stand at
//! different places because other clients connected first. Each frame is handed to the
//! worker steering names ([`steer::owner`]), which must also be the worker that holds
//! its connection in the other direction. Frames are built and read with etherparse.

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use rvs_dataplane::config::{Config, PortId};
use rvs_dataplane::packet::{HeapBuf, PacketBuf};
use rvs_dataplane::rss::Reta;
use rvs_dataplane::service::IdRegistry;
use rvs_dataplane::snapshot::Snapshot;
use rvs_dataplane::steer;
use rvs_dataplane::wire::parse_frame;
use rvs_dataplane::worker::{CollectIo, Worker};

const WAN: PortId = PortId(0);
const LAN: PortId = PortId(1);
const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// The persistent client, and another in its /24.
const CLIENT: [u8; 4] = [10, 0, 0, 2];
const NEIGHBOUR: [u8; 4] = [10, 0, 0, 3];
/// Connections each test client opens, from consecutive ports.
const PORTS: std::ops::Range<u16> = 20000..20016;

/// How a service reaches its reals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Nat,
    FullNat,
    Dr,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Nat, Mode::FullNat, Mode::Dr];

    fn forward(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
            Mode::Dr => "dr",
        }
    }

    /// The last octets of its three reals (10.1.0.x).
    fn reals(self) -> [u8; 3] {
        let base = 10 * (self as u8 + 1);
        [base + 1, base + 2, base + 3]
    }

    fn real_port(self) -> u16 {
        if self == Mode::Dr {
            80
        } else {
            8080
        }
    }
}

/// A persistent service under test.
#[derive(Clone, Copy, Debug)]
struct Svc {
    mode: Mode,
    scheduler: &'static str,
    /// Persistence per /24 of clients (`-M 255.255.255.0`) rather than per address.
    per_24: bool,
    vip: [u8; 4],
}

fn services() -> Vec<Svc> {
    let mut list = Vec::new();
    let mut last = 100;
    for mode in Mode::ALL {
        for scheduler in ["rr", "wlc"] {
            list.push(Svc {
                mode,
                scheduler,
                per_24: false,
                vip: [10, 0, 0, last],
            });
            last += 1;
        }
        // A NAT service's replies name only the client's address: persistence per
        // netmask needs one worker there (refused with more, see below).
        if mode != Mode::Nat {
            list.push(Svc {
                mode,
                scheduler: "rr",
                per_24: true,
                vip: [10, 0, 0, last],
            });
            last += 1;
        }
    }
    list
}

fn mac_of_client(host: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0xc0, host]
}

fn mac_of_real(host: u8) -> [u8; 6] {
    [2, 0, 0, 0, 1, host]
}

fn config(workers: u16) -> String {
    let mut text = format!(
        "[dataplane]\nworkers = {workers}\nconn_capacity = 4096\n\
         [[port]]\nname = \"wan0\"\ndevice = \"mem\"\nmac = \"02:00:00:00:00:01\"\n\
         addresses = [\"10.0.0.1/24\"]\n\
         [[port]]\nname = \"lan0\"\ndevice = \"mem\"\nmac = \"02:00:00:00:00:02\"\n\
         addresses = [\"10.1.0.1/24\"]\n"
    );
    for host in [CLIENT[3], NEIGHBOUR[3]] {
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
    for svc in services() {
        let [a, b, c, d] = svc.vip;
        text += &format!(
            "[[service]]\nproto = \"tcp\"\nvip = \"{a}.{b}.{c}.{d}\"\nport = 80\n\
             scheduler = \"{}\"\npersistence = 300\n",
            svc.scheduler
        );
        if svc.per_24 {
            text += "persistence_mask = \"255.255.255.0\"\n";
        }
        if svc.mode == Mode::FullNat {
            text += "laddrs = [\"10.1.0.2\"]\n";
        }
        for host in svc.mode.reals() {
            text += &format!(
                "[[service.real]]\nip = \"10.1.0.{host}\"\nport = {}\nforward = \"{}\"\n",
                svc.mode.real_port(),
                svc.mode.forward()
            );
        }
    }
    text
}

/// A director in memory: its workers, each frame handed to the one steering names.
struct Director {
    snap: Arc<Snapshot>,
    workers: Vec<Worker<HeapBuf>>,
    io: CollectIo,
    now_ms: u64,
}

impl Director {
    fn new(workers: u16, rss: bool) -> Self {
        let config = Config::parse(&config(workers), "persist.toml").expect("config");
        let mut snap =
            Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).expect("snapshot");
        if rss {
            snap = snap.with_rss(Reta::round_robin(128, workers));
        }
        let snap = Arc::new(snap);
        let workers = (0..workers)
            .map(|w| Worker::new(w, Arc::clone(&snap), u64::from(w)))
            .collect();
        Self {
            snap,
            workers,
            io: CollectIo::default(),
            now_ms: 1_000_000,
        }
    }

    /// The worker steering names for `frame`.
    fn owner(&self, frame: &[u8]) -> u16 {
        let info = parse_frame(frame).expect("the pipeline parses it");
        steer::owner(&self.snap, &info).expect("a flow has an owner")
    }

    /// Receive `frame` on `port`: its owner and what that worker sent.
    fn receive(&mut self, port: PortId, frame: &[u8]) -> (u16, Vec<(PortId, HeapBuf)>) {
        let owner = self.owner(frame);
        self.now_ms += 1;
        let buf = HeapBuf::from_frame(frame).expect("fits");
        self.workers[usize::from(owner)].process(port, buf, self.now_ms, &mut self.io);
        (owner, self.io.sent.drain(..).collect())
    }
}

/// A TCP segment: a SYN, or a SYN-ACK when `ack`.
fn segment(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    ack: bool,
) -> Vec<u8> {
    let tcp = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1000, 64240)
        .syn();
    let tcp = if ack { tcp.ack(1) } else { tcp };
    let mut frame = Vec::new();
    tcp.write(&mut frame, &[]).expect("frame");
    frame
}

/// What a TCP frame the director sent carries, its checksums checked.
#[derive(Debug, PartialEq, Eq)]
struct Sent {
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
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
    }
}

/// Open a connection from `client` to `svc`, its handshake forwarded both ways (the
/// real's SYN-ACK owned by the worker that made it): the real it reached, and that
/// worker.
fn connect(d: &mut Director, svc: Svc, client: ([u8; 4], u16)) -> (u8, u16) {
    let mac = mac_of_client(client.0[3]);
    let syn = segment((mac, WAN_MAC), client, (svc.vip, 80), false);
    let (holder, out) = d.receive(WAN, &syn);
    assert_eq!(out.len(), 1, "{svc:?} {client:?}: the SYN is forwarded");
    assert_eq!(out[0].0, LAN);
    let got = sent_tcp(out[0].1.data());
    let real = *svc
        .mode
        .reals()
        .iter()
        .find(|&&r| mac_of_real(r) == got.dst_mac)
        .expect("sent to one of the service's reals");
    if svc.mode == Mode::Dr {
        assert_eq!((got.src, got.dst), (client, (svc.vip, 80)));
        return (real, holder);
    }
    let real_addr = ([10, 1, 0, real], svc.mode.real_port());
    assert_eq!(got.dst, real_addr, "{svc:?}");
    let syn_ack = segment((mac_of_real(real), LAN_MAC), real_addr, got.src, true);
    let (owner, out) = d.receive(LAN, &syn_ack);
    assert_eq!(owner, holder, "{svc:?} {client:?}: the reply's owner");
    assert_eq!(out.len(), 1, "{svc:?} {client:?}: the SYN-ACK is forwarded");
    let back = sent_tcp(out[0].1.data());
    assert_eq!(
        (back.dst_mac, back.src, back.dst),
        (mac, (svc.vip, 80), client),
        "{svc:?}"
    );
    (real, holder)
}

/// Set the workers' schedulers apart: worker `w` makes `w` connections to `svc` from
/// other clients (each in a /24 of its own, so each makes its own template).
fn skew(d: &mut Director, svc: Svc) {
    let workers = d.workers.len();
    let mut need: Vec<usize> = (0..workers).collect();
    for k in 0..=255u8 {
        // Ports of this service's own: NAT services share reals, and a NAT connection's
        // reply tuple (real -> client) must be unique.
        for port in [41000u16, 42000, 43000].map(|p| p + u16::from(svc.vip[3])) {
            let client = (Ipv4Addr::new(10, 100, k, 7).octets(), port);
            let syn = segment((mac_of_client(254), WAN_MAC), client, (svc.vip, 80), false);
            let w = usize::from(d.owner(&syn));
            if need[w] > 0 {
                let (_, out) = d.receive(WAN, &syn);
                assert_eq!(out.len(), 1, "{svc:?} {client:?}: forwarded");
                need[w] -= 1;
            }
        }
    }
    assert!(
        need.iter().all(|&n| n == 0),
        "skewed every worker: {need:?}"
    );
}

/// Every connection of the persistent client (and of its /24 where the service is
/// persistent per /24) reaches one real.
fn every_connection_reaches_one_real(workers: u16, rss: bool) {
    let mut d = Director::new(workers, rss);
    for svc in services() {
        skew(&mut d, svc);
        let mut clients = vec![CLIENT];
        if svc.per_24 {
            clients.push(NEIGHBOUR);
        }
        let mut reached = Vec::new();
        for &host in &clients {
            for port in PORTS.map(|p| p + 100 * u16::from(svc.vip[3] - 100)) {
                reached.push(connect(&mut d, svc, (host, port)));
            }
        }
        let first = reached[0].0;
        assert!(
            reached.iter().all(|&(real, _)| real == first),
            "{workers} workers, rss {rss}, {svc:?}: reals and workers {reached:?}"
        );
    }
}

#[test]
fn persistence_holds_across_two_workers_by_hash() {
    every_connection_reaches_one_real(2, false);
}

#[test]
fn persistence_holds_across_four_workers_by_hash() {
    every_connection_reaches_one_real(4, false);
}

#[test]
fn persistence_holds_across_two_workers_by_rss() {
    every_connection_reaches_one_real(2, true);
}

#[test]
fn persistence_holds_across_four_workers_by_rss() {
    every_connection_reaches_one_real(4, true);
}

/// A NAT service persistent per netmask wider than one address: its replies are owned
/// by the client's address alone, so with several workers the configuration refuses it.
#[test]
fn nat_persistence_per_netmask_needs_one_worker() {
    let text = |workers: u16| {
        format!(
            "[dataplane]\nworkers = {workers}\n[[service]]\nproto = \"tcp\"\n\
             vip = \"10.0.0.100\"\nport = 80\npersistence = 300\n\
             persistence_mask = \"255.255.255.0\"\n\
             [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n"
        )
    };
    assert!(Config::parse(&text(1), "one.toml").is_ok());
    let refused = Config::parse(&text(2), "two.toml").unwrap_err();
    assert!(
        refused.to_string().contains("persistence_mask"),
        "{refused}"
    );
}

/// What a backup's connection sync installs lands on the worker its client's frames
/// will reach: a persistence template (masked client, port 0) on the worker of every
/// connection of its clients, a connection on the worker of its frames.
#[test]
fn synced_templates_and_connections_land_where_their_clients_go() {
    for rss in [false, true] {
        for workers in [2u16, 4] {
            let d = Director::new(workers, rss);
            let own = &d.snap.ownership;
            for svc in services() {
                let vip = std::net::SocketAddr::from((svc.vip, 80));
                let real = std::net::SocketAddr::from(([10, 1, 0, svc.mode.reals()[0]], 8080));
                for host in 2..40u8 {
                    let masked = if svc.per_24 {
                        [10, 0, 0, 0]
                    } else {
                        [10, 0, 0, host]
                    };
                    let template = std::net::SocketAddr::from((masked, 0));
                    let at =
                        own.of_connection(rvs_conntrack::Proto::Tcp, template, vip, real, None);
                    for port in [20000u16, 20001, 33333] {
                        let client = ([10, 0, 0, host], port);
                        let syn =
                            segment((mac_of_client(host), WAN_MAC), client, (svc.vip, 80), false);
                        assert_eq!(d.owner(&syn), at, "{svc:?} {client:?}");
                        let synced = own.of_connection(
                            rvs_conntrack::Proto::Tcp,
                            client.into(),
                            vip,
                            real,
                            None,
                        );
                        assert_eq!(synced, at, "{svc:?} {client:?}: a synced connection");
                    }
                }
            }
        }
    }
}
