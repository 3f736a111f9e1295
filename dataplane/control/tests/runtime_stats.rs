//! Services and reals made while the director runs count their traffic, as those of the
//! file it started with do: the per-service and per-real counters `rvsadm -Ln --stats`
//! lists and the director-wide Prometheus totals (`rvs_connections_total`,
//! `rvs_incoming_packets_total`, ...), whether their ids were made by a change batch (as
//! rvsadm sends) or by a reload (as `rvsctl config reload` and SIGHUP do). Connections go
//! through real workers, which publish their counters as worker lcores do; the control
//! core reads them back. (Connections installed by sync: `ha_sync.rs`.)

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::multi::{
    mac_of_client, mac_of_real, ports_and_neighbours, segment, sent_tcp, Director, Owned, LAN, WAN,
};
use rvs_config::testbed::{LAN_MAC, WAN_MAC};
use rvs_ctl::proto::{Change, Forward, Protocol, RealSpec, ServiceInfo, ServiceKey, ServiceSpec};
use rvs_packet::packet::PacketBuf;

/// The services' VIP.
const VIP: [u8; 4] = [10, 0, 0, 100];
/// The last octets of the two NAT reals (10.1.0.x), which listen on [`REAL_PORT`].
const REALS: [u8; 2] = [11, 12];
const REAL_PORT: u16 = 8080;
/// Clients 10.0.0.2 ..= 10.0.0.5.
const CLIENT_HOSTS: std::ops::RangeInclusive<u8> = 2..=5;
/// Connections each test opens to a service.
const CONNECTIONS: u16 = 20;

/// Two workers, the clients and reals as neighbours, no service.
fn no_services() -> String {
    ports_and_neighbours(2, CLIENT_HOSTS, REALS)
}

/// The `[[service]]` text of the round-robin NAT service on `VIP:port`, with both reals.
fn service_text(port: u16) -> String {
    let [a, b, c, d] = VIP;
    let mut text = format!(
        "[[service]]\nproto = \"tcp\"\nvip = \"{a}.{b}.{c}.{d}\"\nport = {port}\n\
         scheduler = \"rr\"\n"
    );
    for host in REALS {
        text += &format!(
            "[[service.real]]\nip = \"10.1.0.{host}\"\nport = {REAL_PORT}\nforward = \"nat\"\n"
        );
    }
    text
}

fn key(port: u16) -> ServiceKey {
    ServiceKey {
        proto: Protocol::Tcp,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(VIP)), port),
    }
}

/// What rvsadm sends for `-A -t VIP:port -s rr` and `-a ... -m` for both reals.
fn add_service(port: u16) -> Vec<Change> {
    let spec = ServiceSpec {
        key: key(port),
        scheduler: "rr".into(),
        flags: vec![],
        persistence: 0,
        netmask: 32,
        one_packet: false,
    };
    let reals = REALS.map(|host| Change::AddReal {
        service: key(port),
        real: RealSpec {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, host)), REAL_PORT),
            forward: Forward::Nat,
            weight: 1,
            upper: 0,
            lower: 0,
            tunnel: Default::default(),
        },
    });
    std::iter::once(Change::AddService(spec))
        .chain(reals)
        .collect()
}

/// Open `CONNECTIONS` connections to `VIP:port` from client ports starting at `first`,
/// each a whole handshake (the client's SYN, the real's SYN-ACK, the client's ACK), every
/// frame forwarded: two packets in and one out per connection.
fn connect(d: &mut Director, port: u16, first: u16) {
    for i in 0..CONNECTIONS {
        let host = CLIENT_HOSTS.start() + (i % 4) as u8;
        let client = ([10, 0, 0, host], first + i);
        let from_client = (mac_of_client(host), WAN_MAC);
        let (_, out) = d.receive(
            WAN,
            &segment(from_client, client, (VIP, port), true, false, &[]),
        );
        assert_eq!(out.len(), 1, "{client:?}: the SYN is forwarded");
        assert_eq!(out[0].0, LAN);
        let real = sent_tcp(out[0].1.data()).dst;
        assert_eq!(real.1, REAL_PORT, "{client:?}: NAT to the real's port");
        let from_real = (mac_of_real(real.0[3]), LAN_MAC);
        let (_, out) = d.receive(LAN, &segment(from_real, real, client, true, true, &[]));
        assert_eq!(out.len(), 1, "{client:?}: the SYN-ACK is forwarded");
        assert_eq!(out[0].0, WAN);
        let (_, out) = d.receive(
            WAN,
            &segment(from_client, client, (VIP, port), false, true, &[]),
        );
        assert_eq!(out.len(), 1, "{client:?}: the ACK is forwarded");
    }
}

/// The listed service on `VIP:port`.
fn listed(d: &mut Director, port: u16) -> ServiceInfo {
    d.services()
        .into_iter()
        .find(|s| s.spec.key == key(port))
        .unwrap_or_else(|| panic!("port {port} is listed"))
}

/// The value of the series `series` (name and labels, as printed) in the Prometheus text.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .parse()
        .expect("an integer")
}

/// `rvsadm -Ln --stats` counts `CONNECTIONS` handshakes through the service on `port`,
/// and its two reals between them (each worker keeps its own round-robin position).
fn assert_counted(d: &mut Director, port: u16) {
    let n = u64::from(CONNECTIONS);
    let svc = listed(d, port);
    let s = &svc.stats;
    assert_eq!(
        (s.conns, s.inpkts, s.outpkts),
        (n, 2 * n, n),
        "service on port {port}: {svc:?}"
    );
    assert!(s.inbytes > 0 && s.outbytes > 0, "{svc:?}");
    assert_eq!(svc.reals.len(), 2);
    for r in &svc.reals {
        let t = &r.stats;
        assert!(t.conns > 0, "real {} of port {port}: {svc:?}", r.spec.addr);
        assert_eq!((t.inpkts, t.outpkts), (2 * t.conns, t.conns), "{svc:?}");
    }
    let conns: u64 = svc.reals.iter().map(|r| r.stats.conns).sum();
    assert_eq!(conns, n, "the reals' connections add up: {svc:?}");
}

#[test]
fn a_service_rvsadm_adds_to_a_director_started_without_one_counts_its_traffic() {
    let mut d = Director::new(&no_services(), 2, Owned::ByHash);
    d.apply(add_service(80));
    connect(&mut d, 80, 30000);
    d.publish();
    assert_eq!(d.status().connections, u64::from(CONNECTIONS));
    assert_counted(&mut d, 80);
    let text = d.metrics();
    let n = u64::from(CONNECTIONS);
    assert_eq!(sample(&text, "rvs_connections_total"), n);
    assert_eq!(sample(&text, "rvs_incoming_packets_total"), 2 * n);
    assert_eq!(sample(&text, "rvs_outgoing_packets_total"), n);
    let backend = |host: u8| {
        let series = format!(
            "rvs_backend_connections_total{{local_address=\"10.0.0.100\",local_port=\"80\",\
             remote_address=\"10.1.0.{host}\",remote_port=\"8080\",proto=\"TCP\",local_mark=\"\"}}"
        );
        sample(&text, &series)
    };
    assert_eq!(REALS.map(backend).iter().sum::<u64>(), n);
    let service =
        "rvs_service_connections_total{local_address=\"10.0.0.100\",local_port=\"80\",proto=\"TCP\"}";
    assert_eq!(sample(&text, service), n);
}

#[test]
fn a_service_a_reload_adds_to_a_director_started_without_one_counts_its_traffic() {
    let mut d = Director::new(&no_services(), 2, Owned::ByHash);
    d.reload(&(no_services() + &service_text(80)));
    connect(&mut d, 80, 30000);
    d.publish();
    assert_counted(&mut d, 80);
    assert_eq!(
        sample(&d.metrics(), "rvs_connections_total"),
        u64::from(CONNECTIONS)
    );
}

#[test]
fn services_added_past_the_tables_first_size_count_and_earlier_counts_carry_over() {
    // 70 services (64 fit the first table) and 140 reals: the second edit needs larger
    // tables on every worker, which take the first service's counts with them.
    let mut d = Director::new(&(no_services() + &service_text(80)), 2, Owned::ByHash);
    connect(&mut d, 80, 30000);
    let more: String = (1000..1069).map(service_text).collect();
    d.reload(&(no_services() + &service_text(80) + &more));
    connect(&mut d, 1068, 31000);
    d.apply(add_service(2000));
    connect(&mut d, 2000, 32000);
    d.publish();
    for port in [80, 1068, 2000] {
        assert_counted(&mut d, port);
    }
    assert_eq!(
        sample(&d.metrics(), "rvs_connections_total"),
        3 * u64::from(CONNECTIONS)
    );
}
