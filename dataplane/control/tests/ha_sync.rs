//! Connection sync's trust, through a real control core and its workers: a peer's
//! messages (built by a `SyncRunner` standing in for it, signed with the key) enter a
//! backup's workers as frames, cross the link to the control core and back to the
//! workers that own their connections. What does not come from a peer on the sync port
//! with a good checksum, verify with the key, come fresh, and fit the configuration is
//! refused and counted by reason (in `rvsctl status` and the Prometheus text), and
//! installs nothing and builds no local port pool. What is installed for a service
//! added while the backup runs is counted in that service's statistics once it serves.

mod common;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use common::multi::{
    mac_of_client, ports_and_neighbours, segment, sent_tcp, Director, Owned, LAN, WAN,
};
use rvs_config::testbed::WAN_MAC;
use rvs_config::{HaSyncConfig, PortId, SyncKey};
use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};
use rvs_control::ha_sync::{unix_ms, SyncRunner};
use rvs_ctl::proto::{Change, Forward, HaSyncStatus, Protocol, RealSpec, ServiceKey, ServiceSpec};
use rvs_packet::packet::PacketBuf;
use rvs_pipeline::ha::sync_filter::SyncFilter;
use rvs_pipeline::ha::sync_wire::{RecordKind, SchemeTag, SyncRecord};
use rvs_pipeline::ha::HaLink;

/// The key both directors have.
const KEY: &[u8] = b"sixteen or more bytes of shared secret";
/// The backup's address on wan0, and its peer's.
const BACKUP: &str = "10.0.0.1";
const PEER: &str = "10.0.0.9";
/// The FULLNAT service's local address.
const LADDR: &str = "10.1.0.200";

/// A 0600 key file of its own for this test.
fn key_file(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rvs-sync-key-{}-{test}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .expect("key file");
    f.write_all(KEY).expect("key");
    path
}

/// The backup: two workers, `[ha.sync]` on wan0 with the key, a FULLNAT service.
fn backup(test: &str) -> Director {
    let service = format!(
        "[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.101\"\nport = 80\nscheduler = \"rr\"\n\
         laddrs = [\"{LADDR}\"]\n\
         [[service.real]]\nip = \"10.1.0.11\"\nforward = \"fullnat\"\n"
    );
    backup_with(test, &service).0
}

/// The backup of [`backup`] with `services` (configuration text), and the `[ha]` link
/// its control core and workers share.
fn backup_with(test: &str, services: &str) -> (Director, Arc<HaLink>) {
    let key = key_file(test);
    let text = ports_and_neighbours(2, [9], [11])
        + &format!(
            "[ha]\nport = \"wan0\"\nvrid = 51\n\
             [ha.sync]\nport = \"wan0\"\naddress = \"{BACKUP}\"\npeers = [\"{PEER}\"]\n\
             key_file = {:?}\n",
            key.display().to_string()
        )
        + services;
    let mut d = Director::new(&text, 2, Owned::ByHash);
    let link = d.attach_ha();
    let _ = std::fs::remove_file(key);
    (d, link)
}

/// A FULLNAT connection of client port `client_port` on local port `local_port`.
fn record(client_port: u16, local_port: u16) -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Tcp,
        mode: ForwardMode::FullNat,
        state: TcpState::Established,
        timeout_ms: 600_000,
        client: SocketAddr::new("10.0.0.2".parse().unwrap(), client_port),
        vip: "10.0.0.101:80".parse().unwrap(),
        real: "10.1.0.11:80".parse().unwrap(),
        local: Some(SocketAddr::new(LADDR.parse().unwrap(), local_port)),
        template: None,
        stream: StreamAdjust::default(),
    }
}

/// A peer sending from `from` to the backup, on `udp_port`, with `key`.
struct Peer {
    runner: SyncRunner,
    link: HaLink,
    from: [u8; 4],
}

impl Peer {
    fn new(from: &str, udp_port: u16, key: &[u8], epoch: u32) -> Self {
        let config = HaSyncConfig {
            port: PortId(0),
            address: from.parse().unwrap(),
            peers: vec![BACKUP.parse().unwrap()],
            udp_port,
            key_file: None,
            key: Some(SyncKey::new(key).unwrap()),
            insecure: false,
            refresh: rvs_config::DEFAULT_SYNC_REFRESH,
        };
        let peers = [BACKUP.parse().unwrap()];
        let filter = SyncFilter::new(PortId(0), config.address, udp_port, &peers);
        let IpAddr::V4(v4) = config.address else {
            panic!("IPv4")
        };
        Self {
            runner: SyncRunner::new(&config, 2, mac_of_client(9)).with_epoch(epoch),
            link: HaLink::new(true, 2, Some(filter)),
            from: v4.octets(),
        }
    }

    /// The peer's message of `records`, sent at `sent_ms`, as a frame to the backup.
    fn message(&mut self, records: &[SyncRecord], sent_ms: u64) -> Vec<u8> {
        for r in records {
            assert!(self.link.push_record(*r));
        }
        self.runner.send(&self.link, SchemeTag::LowBits, sent_ms);
        let f = self.link.next_to_send().expect("a message");
        assert!(self.link.next_to_send().is_none(), "one message");
        let mut frame = f.data().to_vec();
        frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        frame[6..12].copy_from_slice(&mac_of_client(self.from[3]));
        frame
    }
}

/// Hands `frame` to the backup on `port`, then runs the control core and the workers.
fn deliver(d: &mut Director, port: PortId, frame: &[u8]) {
    d.receive(port, frame);
    d.tick_ha();
    d.tick_workers();
}

fn sync_status(d: &mut Director) -> HaSyncStatus {
    d.status().ha.expect("[ha]").sync.expect("[ha.sync]")
}

fn refused(s: &HaSyncStatus, reason: &str) -> u64 {
    s.refused
        .iter()
        .find(|(r, _)| r == reason)
        .map_or_else(|| panic!("no reason {reason}"), |(_, n)| *n)
}

/// The pools of every worker and what they hold, before anything was synced.
fn untouched_pools(d: &Director) -> Vec<(usize, Option<usize>)> {
    d.local_ports(LADDR.parse().unwrap())
}

#[test]
fn a_peers_signed_message_is_installed_on_the_owning_workers() {
    let mut d = backup("good");
    let pools = untouched_pools(&d);
    let mut peer = Peer::new(PEER, 8848, KEY, 1);
    let msg = peer.message(&[record(40000, 2048), record(40001, 2049)], unix_ms());
    deliver(&mut d, WAN, &msg);
    assert_eq!(d.conns().len(), 2);
    let s = sync_status(&mut d);
    assert_eq!(
        (s.installed, s.install_refused, s.messages_refused),
        (2, 0, 0)
    );
    assert!(s.authenticated);
    assert_eq!(s.peers[0].messages_accepted, 1);
    // Each worker holds the port it owns, in the pool it had.
    let held: Vec<_> = d.local_ports(LADDR.parse().unwrap());
    assert_eq!(
        held.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [pools[0].0, pools[1].0]
    );
    assert_eq!(
        held.iter().map(|(_, h)| *h).collect::<Vec<_>>(),
        [Some(1), Some(1)]
    );
}

#[test]
fn datagrams_from_elsewhere_are_refused_by_the_workers() {
    let mut d = backup("elsewhere");
    let pools = untouched_pools(&d);
    let now = unix_ms();
    // Signed with the key, but from 10.0.0.8, which is not a peer.
    let mut stranger = Peer::new("10.0.0.8", 8848, KEY, 1);
    let from_stranger = stranger.message(&[record(40000, 2048)], now);
    deliver(&mut d, WAN, &from_stranger);
    // The peer's message on the other dataplane port.
    let mut peer = Peer::new(PEER, 8848, KEY, 1);
    let on_lan = peer.message(&[record(40001, 2049)], now);
    deliver(&mut d, LAN, &on_lan);
    // The peer's message with a bit flipped on the way.
    let mut flipped = peer.message(&[record(40002, 2050)], now);
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    deliver(&mut d, WAN, &flipped);
    // To another UDP port: not sync at all.
    let mut other_port = Peer::new(PEER, 8849, KEY, 2);
    let to_8849 = other_port.message(&[record(40003, 2052)], now);
    deliver(&mut d, WAN, &to_8849);
    assert!(d.conns().is_empty(), "nothing installed");
    assert_eq!(untouched_pools(&d), pools, "no pool built, no port held");
    let s = sync_status(&mut d);
    assert_eq!(
        (
            refused(&s, "source"),
            refused(&s, "port"),
            refused(&s, "checksum")
        ),
        (1, 1, 1)
    );
    assert_eq!((s.messages_received, s.messages_refused), (0, 3));
    let text = d.metrics();
    for reason in ["source", "port", "checksum"] {
        let line = format!("rvs_ha_sync_refused_total{{reason=\"{reason}\"}} 1");
        assert!(text.contains(&line), "{line}\n{text}");
    }
}

#[test]
fn a_wrong_key_a_replay_and_an_old_epoch_are_refused_by_the_control_core() {
    let mut d = backup("replay");
    let pools = untouched_pools(&d);
    let now = unix_ms();
    // Another key.
    let mut impostor = Peer::new(PEER, 8848, b"not the key the directors share", 1);
    let forged = impostor.message(&[record(40000, 2048)], now);
    deliver(&mut d, WAN, &forged);
    assert!(d.conns().is_empty());
    // The peer before and after a restart (epochs 1 and 2), then both replayed.
    let mut first = Peer::new(PEER, 8848, KEY, 1);
    let old = first.message(&[record(40001, 2050)], now - 2_000);
    let mut restarted = Peer::new(PEER, 8848, KEY, 2);
    let new = restarted.message(&[record(40002, 2052)], now - 1_000);
    deliver(&mut d, WAN, &old);
    deliver(&mut d, WAN, &new);
    assert_eq!(d.conns().len(), 2);
    // The same message again; the first epoch's message again (its connection gone
    // meanwhile, so a replay would bring it back).
    deliver(&mut d, WAN, &new);
    let expired = SyncRecord {
        kind: RecordKind::Expire,
        ..record(40001, 2050)
    };
    let gone = restarted.message(&[expired], now - 500);
    deliver(&mut d, WAN, &gone);
    assert_eq!(d.conns().len(), 1);
    deliver(&mut d, WAN, &old);
    assert_eq!(d.conns().len(), 1, "the replay brought nothing back");
    let s = sync_status(&mut d);
    assert_eq!(
        (
            refused(&s, "auth"),
            refused(&s, "replay"),
            refused(&s, "epoch")
        ),
        (1, 1, 1)
    );
    assert_eq!(s.peers[0].epoch, Some(2));
    let (pools_now, held): (Vec<usize>, Vec<_>) = untouched_pools(&d).into_iter().unzip();
    assert_eq!(pools_now, pools.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    assert_eq!(
        held.iter().flatten().sum::<usize>(),
        1,
        "the one live connection's"
    );
}

#[test]
fn records_that_do_not_fit_the_configuration_are_refused_by_the_workers() {
    let mut d = backup("records");
    let pools = untouched_pools(&d);
    let mut peer = Peer::new(PEER, 8848, KEY, 1);
    let foreign = SyncRecord {
        local: Some("10.9.9.9:2048".parse().unwrap()),
        ..record(40000, 2048)
    };
    let unknown_real = SyncRecord {
        real: "10.1.0.12:80".parse().unwrap(),
        ..record(40001, 2050)
    };
    let forty_nine_days = SyncRecord {
        timeout_ms: u32::MAX,
        ..record(40002, 2052)
    };
    let msg = peer.message(&[foreign, unknown_real, forty_nine_days], unix_ms());
    deliver(&mut d, WAN, &msg);
    let conns = d.conns();
    assert_eq!(conns.len(), 1, "only the one with a long timeout, cut");
    assert_eq!(conns[0].client.port(), 40002);
    // The director's clock started at 1 000 000 ms and moved a few ms since.
    let left = conns[0].expires_ms.saturating_sub(1_000_000);
    assert!(
        (900_000..900_100).contains(&left),
        "cut to [timeouts] tcp: {left} ms left"
    );
    let s = sync_status(&mut d);
    assert_eq!(
        (
            refused(&s, "local_address"),
            refused(&s, "real"),
            s.timeouts_clamped
        ),
        (1, 1, 1)
    );
    assert_eq!((s.installed, s.install_refused), (1, 2));
    let after = untouched_pools(&d);
    assert_eq!(
        after.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        pools.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "no pool built for 10.9.9.9"
    );
}

#[test]
fn connections_synced_to_a_service_added_at_runtime_count_their_traffic() {
    // The backup started without a service; rvsadm adds the one its peer syncs.
    let (mut d, link) = backup_with("runtime", "");
    let service = ServiceKey {
        proto: Protocol::Tcp,
        addr: "10.0.0.101:80".parse().unwrap(),
    };
    d.apply(vec![
        Change::AddService(ServiceSpec {
            key: service,
            scheduler: "rr".into(),
            flags: vec![],
            persistence: 0,
            netmask: 32,
            one_packet: false,
        }),
        Change::AddLaddr {
            service,
            addr: LADDR.parse().unwrap(),
        },
        Change::AddReal {
            service,
            real: RealSpec {
                addr: "10.1.0.11:80".parse().unwrap(),
                forward: Forward::FullNat,
                weight: 1,
                upper: 0,
                lower: 0,
                tunnel: Default::default(),
            },
        },
    ]);
    // Each connection on a local port of the worker that owns its client's frames, as
    // the peer's worker would have picked it.
    let from_client = |client_port: u16| {
        segment(
            (mac_of_client(2), WAN_MAC),
            ([10, 0, 0, 2], client_port),
            ([10, 0, 0, 101], 80),
            false,
            true,
            b"GET / HTTP/1.0\r\n\r\n",
        )
    };
    let clients = [40000, 40001, 40002, 40003];
    let records: Vec<SyncRecord> = clients
        .iter()
        .zip(0u16..)
        .map(|(&port, i)| record(port, 2048 + 2 * i + d.owner(&from_client(port))))
        .collect();
    let mut peer = Peer::new(PEER, 8848, KEY, 1);
    let msg = peer.message(&records, unix_ms());
    deliver(&mut d, WAN, &msg);
    assert_eq!(sync_status(&mut d).installed, 4);
    // Taking over, the backup forwards the synced connections and counts them.
    link.set_serving(true);
    d.tick_workers();
    for port in clients {
        let (_, out) = d.receive(WAN, &from_client(port));
        assert_eq!(out.len(), 1, "client port {port}: forwarded");
        assert_eq!(out[0].0, LAN);
        assert_eq!(sent_tcp(out[0].1.data()).dst, ([10, 1, 0, 11], 80));
    }
    d.publish();
    let listed = d.services();
    let svc = &listed[0];
    // Synced connections were scheduled by the peer: packets count here, connections not.
    assert_eq!((svc.stats.conns, svc.stats.inpkts), (0, 4), "{svc:?}");
    assert_eq!(svc.reals[0].stats.inpkts, 4, "{svc:?}");
}
