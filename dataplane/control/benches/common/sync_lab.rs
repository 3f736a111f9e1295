//! The pieces the sync benches share: a director's configuration (one worker, one NAT
//! service with two reals, `[ha]` with `[ha.sync]`), its worker, its link and its
//! sync runner, and client segments from many addresses.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use etherparse::PacketBuilder;
use rvs_config::testbed::{TwoPortDirector, GATEWAY_MAC, WAN_MAC};
use rvs_config::{Config, HaSyncConfig, PortId, SyncKey};
use rvs_control::ha_sync::SyncRunner;
use rvs_packet::packet::HeapBuf;
use rvs_pipeline::ha::sync_filter::SyncFilter;
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::worker::Worker;

/// The master's sync address (wan0's), and the backup's.
pub const MASTER: &str = "10.0.0.1";
/// The backup's sync address.
pub const BACKUP: &str = "10.0.0.3";
/// The key both share.
pub const KEY: &[u8] = b"a sync key the bench directors share";

/// The configuration of a director with `capacity` connections.
pub fn config(capacity: usize) -> Config {
    let text = TwoPortDirector::new("bench", capacity)
        .gateway()
        .neighbor(BACKUP, [2, 0, 0, 0, 0, 3], "wan0")
        .real(11)
        .real(12)
        .to_toml()
        + "[ha]\nport = \"wan0\"\nvrid = 51\n\n\
           [[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\nscheduler = \"rr\"\n\n\
           [[service.real]]\nip = \"10.1.0.11\"\nforward = \"nat\"\n\n\
           [[service.real]]\nip = \"10.1.0.12\"\nforward = \"nat\"\n";
    Config::parse(&text, "bench.toml").expect("config")
}

/// A worker of `config`.
pub fn worker(config: &Config) -> Worker<HeapBuf> {
    let snap = Snapshot::build(config, &[], &[], &mut IdRegistry::default()).expect("snapshot");
    Worker::new(0, Arc::new(snap), 1)
}

/// `[ha.sync]` of the director at `address` whose peer is `peer`.
pub fn sync_config(address: &str, peer: &str) -> HaSyncConfig {
    HaSyncConfig {
        port: PortId(0),
        address: address.parse().unwrap(),
        peers: vec![peer.parse().unwrap()],
        udp_port: 8848,
        key_file: None,
        key: Some(SyncKey::new(KEY).unwrap()),
        insecure: false,
        refresh: rvs_config::DEFAULT_SYNC_REFRESH,
    }
}

/// The link and sync runner of the director at `address` (master or not), refreshing
/// every `refresh`.
pub fn director_sync(
    address: &str,
    peer: &str,
    master: bool,
    refresh: Duration,
) -> (Arc<HaLink>, SyncRunner) {
    let config = sync_config(address, peer);
    let filter = SyncFilter::of(&config);
    let link = Arc::new(HaLink::new(master, 1, Some(filter)).with_sync_refresh(refresh));
    (link, SyncRunner::new(&config, 1, [2, 0, 0, 0, 0, 1]))
}

/// Client number `n`: address 100.64.0.0 + n / 16, port 10000 + n % 16.
pub fn client(n: u32) -> (Ipv4Addr, u16) {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + n / 16);
    (ip, 10_000 + (n % 16) as u16)
}

/// A segment of client `n` to the service: its SYN, or an ACK.
pub fn segment(n: u32, syn: bool) -> Vec<u8> {
    let (ip, port) = client(n);
    let b = PacketBuilder::ethernet2(GATEWAY_MAC, WAN_MAC)
        .ipv4(ip.octets(), [10, 0, 0, 100], 64)
        .tcp(port, 80, 1, 64240);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut out = Vec::with_capacity(64);
    b.write(&mut out, &[]).unwrap();
    out
}
