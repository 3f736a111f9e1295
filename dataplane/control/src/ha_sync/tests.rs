//! The control core's sync: a batch crosses from a master to a backup as valid UDP;
//! the backup takes only what verifies with the key, is fresh and comes from a sender
//! like itself, and counts every refusal by reason.

use std::net::SocketAddr;

use super::*;
use rvs_config::{PortId, SyncKey};
use rvs_conntrack::{ForwardMode, Proto, StreamAdjust, TcpState};
use rvs_pipeline::ha::sync_filter::SyncFilter;
use rvs_pipeline::ha::sync_wire::RecordKind;
use rvs_pipeline::ownership::owner_by_client;
use rvs_pipeline::rss::Reta;
use rvs_pipeline::service::Services;

/// The Unix time the tests run at.
const NOW: u64 = 1_700_000_000_000;

fn sync_config(address: &str, peer: &str, key: Option<&[u8]>) -> HaSyncConfig {
    HaSyncConfig {
        port: PortId(0),
        address: address.parse().unwrap(),
        peers: vec![peer.parse().unwrap()],
        udp_port: 8848,
        key_file: None,
        key: key.map(|k| SyncKey::new(k).unwrap()),
        insecure: key.is_none(),
        refresh: rvs_config::DEFAULT_SYNC_REFRESH,
    }
}

const KEY: &[u8] = b"the directors' shared key";

fn record(client_port: u16) -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: Proto::Tcp,
        mode: ForwardMode::Nat,
        state: TcpState::Established,
        timeout_ms: 900_000,
        client: SocketAddr::new("10.50.0.100".parse().unwrap(), client_port),
        vip: "10.50.0.10:8080".parse().unwrap(),
        real: "10.60.0.11:8080".parse().unwrap(),
        local: None,
        template: None,
        stream: StreamAdjust::default(),
    }
}

/// A link of `workers` workers for the director at `address`.
fn link(master: bool, workers: u16, address: &str, peer: &str) -> HaLink {
    let peers = [peer.parse().unwrap()];
    let filter = SyncFilter::new(PortId(0), address.parse().unwrap(), 8848, &peers);
    HaLink::new(master, workers, Some(filter))
}

/// The master 10.50.0.1 (key `key`, `workers` workers, epoch `epoch`) sends `n`
/// records at `now`: its frames.
fn master_frames(key: Option<&[u8]>, workers: u16, epoch: u32, n: u16, now: u64) -> Vec<HaFrame> {
    let config = sync_config("10.50.0.1", "10.50.0.2", key);
    let mut master = SyncRunner::new(&config, workers, [2, 0, 0, 0, 0, 1]).with_epoch(epoch);
    let link = link(true, workers, "10.50.0.1", "10.50.0.2");
    for p in 0..n {
        assert!(link.push_record(record(40000 + p)));
    }
    master.send(&link, SchemeTag::LowBits, now);
    std::iter::from_fn(|| link.next_to_send()).collect()
}

/// The backup 10.50.0.2 with `key` and `workers` workers.
fn backup(key: Option<&[u8]>, workers: u16) -> (SyncRunner, HaLink) {
    let config = sync_config("10.50.0.2", "10.50.0.1", key);
    (
        SyncRunner::new(&config, workers, [2, 0, 0, 0, 0, 2]),
        link(false, workers, "10.50.0.2", "10.50.0.1"),
    )
}

/// Records queued for the workers of `link`.
fn queued(link: &HaLink, workers: u16) -> usize {
    (0..workers)
        .map(|w| std::iter::from_fn(|| link.take_install(w)).count())
        .sum()
}

/// The count of `reason` in `status`.
fn refused(status: &HaSyncStatus, reason: SyncRefusal) -> u64 {
    status
        .refused
        .iter()
        .find(|(label, _)| label == reason.label())
        .map_or(0, |(_, n)| *n)
}

/// A master's batch leaves as valid UDP (checked by etherparse) to the peer; the
/// peer's runner queues each record for its owner.
#[test]
fn a_batch_crosses_from_master_to_backup() {
    let frames = master_frames(Some(KEY), 2, 1, MAX_RECORDS as u16 + 3, NOW);
    assert_eq!(frames.len(), 2, "a full batch and the rest");
    for f in &frames {
        assert!(f.routed());
        let p = etherparse::SlicedPacket::from_ethernet(f.data()).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
            panic!("IPv4")
        };
        assert_eq!(ip.header().destination(), [10, 50, 0, 2]);
        let Some(etherparse::TransportSlice::Udp(udp)) = &p.transport else {
            panic!("UDP")
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (8848, 8848));
        let want = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), want, "UDP checksum");
    }
    let (mut backup, backup_link) = backup(Some(KEY), 2);
    let own = Ownership::by_hash(2, &Services::default());
    for f in &frames {
        assert!(backup.is_sync(f));
        backup.receive(f, false, &backup_link, &own, &Services::default(), NOW + 5);
    }
    assert_eq!(backup.counters().records_received, MAX_RECORDS as u64 + 3);
    let mut got = 0;
    for w in 0..2u16 {
        while let Some(r) = backup_link.take_install(w) {
            assert_eq!(owner(&r, &own, &Services::default()), w);
            assert_eq!(owner_by_client(r.client.ip(), r.client.port(), 2), w);
            got += 1;
        }
    }
    assert_eq!(got, MAX_RECORDS + 3);
    let status = backup.status(&backup_link);
    assert!(status.authenticated);
    assert_eq!(status.messages_refused, 0);
    assert_eq!(status.peers.len(), 1);
    let peer = &status.peers[0];
    assert_eq!(
        (peer.address.as_str(), peer.epoch, peer.sequence),
        ("10.50.0.1", Some(1), 2)
    );
    assert_eq!((peer.messages_accepted, peer.messages_lost), (2, 0));
}

#[test]
fn a_wrong_key_or_none_is_refused_and_nothing_queued() {
    let own = Ownership::by_hash(1, &Services::default());
    for (sender, reason_text) in [
        (
            Some(&b"another key of enough length"[..]),
            "does not verify",
        ),
        (None, "without authentication"),
    ] {
        let frames = master_frames(sender, 1, 1, 3, NOW);
        let (mut backup, link) = backup(Some(KEY), 1);
        backup.receive(&frames[0], false, &link, &own, &Services::default(), NOW);
        assert_eq!(queued(&link, 1), 0, "{reason_text}");
        let s = backup.status(&link);
        assert_eq!(refused(&s, SyncRefusal::Auth), 1);
        assert_eq!((s.messages_received, s.messages_refused), (1, 1));
        assert_eq!(s.peers[0].messages_accepted, 0);
    }
    // A backup without a key (insecure) takes a signed message without checking it.
    let frames = master_frames(Some(KEY), 1, 1, 3, NOW);
    let (mut backup, link) = backup(None, 1);
    backup.receive(&frames[0], false, &link, &own, &Services::default(), NOW);
    assert_eq!(queued(&link, 1), 3);
    assert!(!backup.status(&link).authenticated);
}

#[test]
fn a_replayed_message_is_refused() {
    let own = Ownership::by_hash(1, &Services::default());
    let frames = master_frames(Some(KEY), 1, 7, 3, NOW);
    let (mut backup, link) = backup(Some(KEY), 1);
    backup.receive(&frames[0], false, &link, &own, &Services::default(), NOW);
    assert_eq!(queued(&link, 1), 3);
    // The same datagram again, a second later: refused, nothing queued.
    backup.receive(
        &frames[0],
        false,
        &link,
        &own,
        &Services::default(),
        NOW + 1_000,
    );
    assert_eq!(queued(&link, 1), 0);
    let s = backup.status(&link);
    assert_eq!(refused(&s, SyncRefusal::Replay), 1);
    assert_eq!(s.peers[0].messages_accepted, 1);
    // Replayed 31 s later: refused for its age before its number is looked at.
    backup.receive(
        &frames[0],
        false,
        &link,
        &own,
        &Services::default(),
        NOW + 31_000,
    );
    assert_eq!(queued(&link, 1), 0);
    assert_eq!(refused(&backup.status(&link), SyncRefusal::Clock), 1);
}

#[test]
fn an_old_epochs_message_is_refused_after_a_restart() {
    let own = Ownership::by_hash(1, &Services::default());
    let before = master_frames(Some(KEY), 1, 1, 2, NOW);
    let after = master_frames(Some(KEY), 1, 2, 2, NOW + 2_000);
    let (mut backup, link) = backup(Some(KEY), 1);
    backup.receive(&before[0], false, &link, &own, &Services::default(), NOW);
    backup.receive(
        &after[0],
        false,
        &link,
        &own,
        &Services::default(),
        NOW + 2_000,
    );
    assert_eq!(queued(&link, 1), 4);
    // The first epoch's message, captured and sent again within the 30 s.
    backup.receive(
        &before[0],
        false,
        &link,
        &own,
        &Services::default(),
        NOW + 3_000,
    );
    assert_eq!(queued(&link, 1), 0);
    let s = backup.status(&link);
    assert_eq!(refused(&s, SyncRefusal::Epoch), 1);
    assert_eq!(s.peers[0].epoch, Some(2));
}

#[test]
fn another_worker_count_or_port_scheme_or_a_master_refuses() {
    let frames = master_frames(Some(KEY), 2, 1, 2, NOW);
    let (mut three, link) = backup(Some(KEY), 3);
    three.receive(
        &frames[0],
        false,
        &link,
        &Ownership::by_hash(3, &Services::default()),
        &Services::default(),
        NOW,
    );
    assert_eq!(queued(&link, 3), 0);
    assert_eq!(refused(&three.status(&link), SyncRefusal::Workers), 1);
    // Two workers, but local ports by RSS class.
    let (mut rss, link) = backup(Some(KEY), 2);
    let by_rss = Ownership::by_rss(Reta::round_robin(128, 2), 2, &Services::default());
    rss.receive(&frames[0], false, &link, &by_rss, &Services::default(), NOW);
    assert_eq!(queued(&link, 2), 0);
    assert_eq!(refused(&rss.status(&link), SyncRefusal::Scheme), 1);
    // The same director as master.
    let (mut master, link) = backup(Some(KEY), 2);
    let own = Ownership::by_hash(2, &Services::default());
    master.receive(&frames[0], true, &link, &own, &Services::default(), NOW);
    assert_eq!(queued(&link, 2), 0);
    let s = master.status(&link);
    assert_eq!(refused(&s, SyncRefusal::Master), 1);
    assert_eq!(s.messages_refused, 1);
    assert_eq!(
        s.refused.len(),
        SyncRefusal::ALL.len(),
        "every reason listed"
    );
}

#[test]
fn losses_are_counted_per_peer() {
    let own = Ownership::by_hash(1, &Services::default());
    // Three batches of one message each; the second never arrives.
    let config = sync_config("10.50.0.1", "10.50.0.2", Some(KEY));
    let mut master = SyncRunner::new(&config, 1, [2, 0, 0, 0, 0, 1]);
    let master_link = link(true, 1, "10.50.0.1", "10.50.0.2");
    let mut frames = Vec::new();
    for p in 0..3 {
        master_link.push_record(record(p));
        master.send(&master_link, SchemeTag::LowBits, NOW);
        frames.extend(std::iter::from_fn(|| master_link.next_to_send()));
    }
    let (mut backup, link) = backup(Some(KEY), 1);
    backup.receive(&frames[0], false, &link, &own, &Services::default(), NOW);
    backup.receive(&frames[2], false, &link, &own, &Services::default(), NOW);
    let s = backup.status(&link);
    assert_eq!((s.messages_lost, s.peers[0].messages_lost), (1, 1));
    // It comes late after all: no longer lost.
    backup.receive(&frames[1], false, &link, &own, &Services::default(), NOW);
    assert_eq!(backup.status(&link).messages_lost, 0);
    assert_eq!(queued(&link, 1), 3);
}

/// A new backup's request for everything crosses to the master, which starts a full
/// pass on its workers; it passes the checks every message does (a copy is a replay,
/// one without the key is refused), and a backup that gets one ignores it.
#[test]
fn a_new_backups_request_starts_a_full_pass_on_the_master() {
    let (mut asking, asking_link) = backup(Some(KEY), 1);
    asking.send_request(&asking_link, SchemeTag::LowBits, NOW);
    assert!(asking_link.next_to_send().is_none(), "nothing due yet");
    asking.request_everything();
    asking.send_request(&asking_link, SchemeTag::LowBits, NOW);
    let frames: Vec<_> = std::iter::from_fn(|| asking_link.next_to_send()).collect();
    assert_eq!(frames.len(), 1, "one per peer");
    assert_eq!(asking.counters().requests_sent, 1);

    // The master 10.50.0.1 takes it from its peer 10.50.0.2.
    let config = sync_config("10.50.0.1", "10.50.0.2", Some(KEY));
    let mut master = SyncRunner::new(&config, 1, [2, 0, 0, 0, 0, 1]);
    let master_link = link(true, 1, "10.50.0.1", "10.50.0.2");
    let own = Ownership::by_hash(1, &Services::default());
    assert!(master.is_sync(&frames[0]));
    master.receive(
        &frames[0],
        true,
        &master_link,
        &own,
        &Services::default(),
        NOW + 5,
    );
    assert_eq!(master_link.bulk_requests(), 1);
    assert_eq!(master.counters().requests_received, 1);
    master.receive(
        &frames[0],
        true,
        &master_link,
        &own,
        &Services::default(),
        NOW + 6,
    );
    assert_eq!(master_link.bulk_requests(), 1, "a replay is refused");
    assert_eq!(
        refused(&master.status(&master_link), SyncRefusal::Replay),
        1
    );

    // Without the key: refused before anything.
    let (mut keyless, keyless_link) = backup(None, 1);
    keyless.request_everything();
    keyless.send_request(&keyless_link, SchemeTag::LowBits, NOW);
    let unsigned = keyless_link.next_to_send().unwrap();
    master.receive(
        &unsigned,
        true,
        &master_link,
        &own,
        &Services::default(),
        NOW + 7,
    );
    assert_eq!(master_link.bulk_requests(), 1);
    assert_eq!(refused(&master.status(&master_link), SyncRefusal::Auth), 1);

    // A backup that gets a request does nothing with it.
    asking.request_everything();
    asking.send_request(&asking_link, SchemeTag::LowBits, NOW + 10);
    let again = asking_link.next_to_send().unwrap();
    let mut other = SyncRunner::new(&config, 1, [2, 0, 0, 0, 0, 1]);
    let other_link = link(false, 1, "10.50.0.1", "10.50.0.2");
    other.receive(
        &again,
        false,
        &other_link,
        &own,
        &Services::default(),
        NOW + 11,
    );
    assert_eq!(other_link.bulk_requests(), 0);
    assert_eq!(other.counters().requests_received, 0);
}

/// A master sends at most `MESSAGES_PER_POLL` batches a poll, and leaves room in the
/// frame queue for VRRP: the rest wait for the next poll, nothing is lost.
#[test]
fn a_master_sends_within_its_budget_and_leaves_vrrp_its_room() {
    use rvs_pipeline::ha::{OUTBOUND_FRAMES, SYNC_RECORDS};
    let config = sync_config("10.50.0.1", "10.50.0.2", Some(KEY));
    let mut master = SyncRunner::new(&config, 1, [2, 0, 0, 0, 0, 1]);
    let link = link(true, 1, "10.50.0.1", "10.50.0.2");
    for p in 0..SYNC_RECORDS {
        assert!(link.push_record(record(p as u16)));
    }
    master.send(&link, SchemeTag::LowBits, NOW);
    let sent = master.counters().messages_sent as usize;
    assert_eq!(sent, MESSAGES_PER_POLL.min(OUTBOUND_FRAMES - 64));
    assert!(link.outbound_room() >= 64);
    let mut total = master.counters().records_sent;
    while link.next_to_send().is_some() {}
    while total < SYNC_RECORDS as u64 {
        master.send(&link, SchemeTag::LowBits, NOW);
        while link.next_to_send().is_some() {}
        total = master.counters().records_sent;
    }
    assert_eq!(total, SYNC_RECORDS as u64);
    assert_eq!(link.records_dropped(), 0);
}
