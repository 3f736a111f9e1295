//! The control core's connection sync (`[ha.sync]`): a master batches the records its
//! workers queue into UDP messages to each peer (sent by worker 0); a backup reads the
//! messages its workers hand over and queues each record for the worker that owns the
//! connection ([`rvs_pipeline::steer`]). Bounded per poll, counted; over IPv4 (the records
//! carry IPv6 connections too).

use std::net::{IpAddr, Ipv4Addr};

use rvs_config::HaSyncConfig;
use rvs_packet::checksum::{fold, pseudo_header_v4, sum};
use rvs_packet::wire::{ethertype, parse_frame, EthernetFrame, Ipv4Packet, L4Info, MacAddr};
use rvs_pipeline::ha::sync_wire::{self, SyncError, SyncRecord, MAX_RECORDS};
use rvs_pipeline::ha::{HaFrame, HaLink, MAX_FRAME};
use rvs_pipeline::ownership::Ownership;

/// IP protocol number of UDP.
const UDP: u8 = 17;
/// Most messages a master sends per control poll (20 ms): about 30 000 records a second.
const MESSAGES_PER_POLL: usize = 48;
/// Ethernet, IPv4 and UDP headers before a message.
const HEADERS: usize = 14 + 20 + 8;

/// Connection sync's counters (for `rvsctl status`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCounters {
    /// Messages sent (one per peer and batch).
    pub messages_sent: u64,
    /// Records sent (counted once per batch).
    pub records_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Records received and queued for their worker.
    pub records_received: u64,
    /// Messages refused (format, version, worker count, or received while master).
    pub messages_refused: u64,
    /// Gaps in the sender's sequence numbers: messages lost on the way.
    pub messages_lost: u64,
}

/// One director's connection sync.
#[derive(Debug)]
pub struct SyncRunner {
    config: HaSyncConfig,
    source: Option<Ipv4Addr>,
    mac: MacAddr,
    workers: u16,
    sequence: u32,
    ident: u16,
    batch: Vec<SyncRecord>,
    expected: Option<u32>,
    /// The last refusal, logged once until another kind comes.
    last_refusal: Option<SyncError>,
    counters: SyncCounters,
}

impl SyncRunner {
    /// Sync per `config` for `workers` workers, sending with `mac` (the sync port's).
    pub fn new(config: &HaSyncConfig, workers: u16, mac: [u8; 6]) -> Self {
        // The configuration refuses IPv6 sync addresses.
        let source = match config.address {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        };
        Self {
            config: config.clone(),
            source,
            mac: MacAddr(mac),
            workers,
            sequence: 0,
            ident: 0,
            batch: Vec::with_capacity(MAX_RECORDS),
            expected: None,
            last_refusal: None,
            counters: SyncCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> SyncCounters {
        self.counters
    }

    /// Master: send what the workers queued, at most `MESSAGES_PER_POLL` batches.
    pub fn send(&mut self, link: &HaLink) {
        let Some(src) = self.source else {
            return;
        };
        for _ in 0..MESSAGES_PER_POLL {
            self.batch.clear();
            while self.batch.len() < MAX_RECORDS {
                match link.take_record() {
                    Some(r) => self.batch.push(r),
                    None => break,
                }
            }
            if self.batch.is_empty() {
                return;
            }
            self.sequence = self.sequence.wrapping_add(1);
            let mut payload = [0u8; MAX_FRAME - HEADERS];
            let Some(len) =
                sync_wire::encode(self.workers, self.sequence, &self.batch, &mut payload)
            else {
                return;
            };
            self.counters.records_sent += self.batch.len() as u64;
            for peer in &self.config.peers {
                let IpAddr::V4(dst) = *peer else { continue };
                self.ident = self.ident.wrapping_add(1);
                let frame = self.frame(src, dst, &payload[..len]);
                if frame.is_some_and(|f| link.queue_send(f)) {
                    self.counters.messages_sent += 1;
                }
            }
        }
    }

    /// A UDP datagram carrying `payload` from `src` to `dst` (routed by the worker).
    fn frame(&self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Option<HaFrame> {
        let mut f = [0u8; MAX_FRAME];
        let frame = f.get_mut(..HEADERS + payload.len())?;
        frame[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        EthernetFrame::new_unchecked(&mut frame[..]).set_src(self.mac);
        let udp_len = (8 + payload.len()) as u16;
        let port = self.config.udp_port.to_be_bytes();
        let udp = &mut frame[34..];
        udp[0..2].copy_from_slice(&port);
        udp[2..4].copy_from_slice(&port);
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[8..].copy_from_slice(payload);
        let c = !fold(pseudo_header_v4(src, dst, UDP, udp_len) + sum(udp));
        udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_version_and_header_len(20);
        ip.set_total_len(20 + udp_len);
        ip.set_ident(self.ident);
        ip.set_unfragmented(true);
        ip.set_ttl(64);
        ip.set_protocol(UDP);
        ip.set_src(src);
        ip.set_dst(dst);
        ip.fill_checksum();
        HaFrame::new(self.config.port, true, frame)
    }

    /// True when `frame` is a sync message (UDP to our sync port).
    pub fn is_sync(&self, frame: &HaFrame) -> bool {
        parse_frame(frame.data())
            .ok()
            .and_then(|i| i.ip)
            .is_some_and(|ip| {
                matches!(ip.l4, L4Info::Udp { dport, .. } if dport == self.config.udp_port)
                    && ip.dst == self.config.address
            })
    }

    /// Backup: queue the records of a received message for the workers that own them
    /// under `ownership` (the running snapshot's, as steering uses it: templates land
    /// where their clients' frames go); a master refuses them (counted).
    pub fn receive(&mut self, frame: &HaFrame, master: bool, link: &HaLink, ownership: &Ownership) {
        let Some(ip) = parse_frame(frame.data()).ok().and_then(|i| i.ip) else {
            return;
        };
        let msg = frame.data().get(ip.l4_offset + 8..).unwrap_or_default();
        self.counters.messages_received += 1;
        let header = match sync_wire::header(msg, self.workers) {
            Ok(h) if !master => h,
            Ok(_) => {
                self.counters.messages_refused += 1;
                return;
            }
            Err(e) => {
                self.counters.messages_refused += 1;
                if self.last_refusal != Some(e) {
                    eprintln!("rvsd: ha.sync: message from {}: {e}", ip.src);
                    self.last_refusal = Some(e);
                }
                return;
            }
        };
        if let Some(want) = self.expected {
            self.counters.messages_lost += lost(want, header.sequence);
        }
        self.expected = Some(header.sequence.wrapping_add(1));
        for r in sync_wire::records(msg, header).flatten() {
            if link.push_install(owner(&r, ownership), r) {
                self.counters.records_received += 1;
            }
        }
    }
}

/// Messages lost between the one expected (`want`) and the one that came (`got`); a
/// sequence that went back is a sender that restarted: nothing lost.
fn lost(want: u32, got: u32) -> u64 {
    let gap = got.wrapping_sub(want);
    if gap < 1 << 31 {
        u64::from(gap)
    } else {
        0
    }
}

/// The worker that owns a synced connection or template.
fn owner(r: &SyncRecord, ownership: &Ownership) -> u16 {
    ownership.of_connection(r.proto, r.client, r.vip, r.real, r.local)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use rvs_conntrack::{ForwardMode, Proto, TcpState};
    use rvs_pipeline::ha::sync_wire::RecordKind;
    use rvs_pipeline::ownership::owner_by_client;
    use rvs_pipeline::service::Services;

    fn sync_config() -> HaSyncConfig {
        HaSyncConfig {
            port: rvs_config::PortId(0),
            address: "10.50.0.1".parse().unwrap(),
            peers: vec!["10.50.0.2".parse().unwrap()],
            udp_port: 8848,
            key_file: None,
            key: None,
            insecure: true,
        }
    }

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
        }
    }

    #[test]
    fn gaps_count_lost_messages_and_a_restart_does_not() {
        assert_eq!(lost(5, 5), 0);
        assert_eq!(lost(5, 8), 3);
        assert_eq!(lost(900, 1), 0, "the sender restarted");
        assert_eq!(lost(u32::MAX, 1), 2, "wrapped");
    }

    /// A master's batch leaves as valid UDP (checked by etherparse) to the peer; the
    /// peer's runner queues each record for its owner; a worker-count mismatch is refused.
    #[test]
    fn a_batch_crosses_from_master_to_backup() {
        let config = sync_config();
        let (master_link, backup_link) = (
            HaLink::new(true, 2, Some((config.address, 8848))),
            HaLink::new(false, 2, Some(("10.50.0.2".parse().unwrap(), 8848))),
        );
        let mut master = SyncRunner::new(&config, 2, [2, 0, 0, 0, 0, 1]);
        let records: Vec<SyncRecord> = (0..(MAX_RECORDS as u16 + 3))
            .map(|p| record(40000 + p))
            .collect();
        for r in &records {
            assert!(master_link.push_record(*r));
        }
        master.send(&master_link);
        let mut frames = Vec::new();
        while let Some(f) = master_link.next_to_send() {
            frames.push(f);
        }
        assert_eq!(frames.len(), 2, "a full batch and the rest");
        assert_eq!(master.counters().records_sent, records.len() as u64);
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
        // The backup (its own config: the peer's address).
        let mut backup_config = sync_config();
        backup_config.address = "10.50.0.2".parse().unwrap();
        let mut backup = SyncRunner::new(&backup_config, 2, [2, 0, 0, 0, 0, 2]);
        let own = Ownership::by_hash(2, &Services::default());
        for f in &frames {
            assert!(backup.is_sync(f));
            backup.receive(f, false, &backup_link, &own);
        }
        assert_eq!(backup.counters().records_received, records.len() as u64);
        let mut got = 0;
        for w in 0..2u16 {
            while let Some(r) = backup_link.take_install(w) {
                assert_eq!(owner(&r, &own), w);
                assert_eq!(owner_by_client(r.client.ip(), r.client.port(), 2), w);
                got += 1;
            }
        }
        assert_eq!(got, records.len());
        // A master refuses; another worker count is refused.
        backup.receive(&frames[0], true, &backup_link, &own);
        let mut three = SyncRunner::new(&backup_config, 3, [2, 0, 0, 0, 0, 2]);
        three.receive(&frames[0], false, &backup_link, &own);
        assert_eq!(backup.counters().messages_refused, 1);
        assert_eq!(three.counters().messages_refused, 1);
        assert_eq!(three.counters().records_received, 0);
    }
}
