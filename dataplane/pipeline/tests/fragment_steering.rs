//! Fragments over several workers: steering brings every fragment of a datagram to one
//! worker whatever its ports, that worker hands the whole datagram to the worker that
//! owns its flow, and the flow's owner forwards it (its connection made there only).
//! Frames are built and read back with etherparse.

use std::collections::BTreeMap;
use std::sync::Arc;

use etherparse::{IpFragOffset, Ipv4Header, PacketBuilder};
use rvs_config::{Config, PortId};
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_packet::wire::parse_frame;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::steer;
use rvs_pipeline::worker::{CollectIo, Worker};

const WORKERS: u16 = 4;
const WAN: PortId = PortId(0);

fn config() -> String {
    format!(
        r#"
[dataplane]
workers = {WORKERS}
conn_capacity = 256

[[port]]
name = "wan0"
device = "mem"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.1/24"]

[[port]]
name = "lan0"
device = "mem"
mac = "02:00:00:00:00:02"
addresses = ["10.1.0.1/24"]
mtu = 1280

[[neighbor]]
ip = "10.0.0.2"
mac = "02:00:00:00:00:fe"
port = "wan0"

[[neighbor]]
ip = "10.1.0.11"
mac = "02:00:00:00:01:11"
port = "lan0"

[[service]]
proto = "udp"
vip = "10.0.0.100"
port = 53
[[service.real]]
ip = "10.1.0.11"
port = 5353
forward = "nat"
"#
    )
}

/// A UDP datagram of 4000 bytes of IP from `10.0.0.2:cport` to `to`.
fn datagram(
    to: ([u8; 4], u16),
    from: ([u8; 4], u16),
    ttl: u8,
    macs: ([u8; 6], [u8; 6]),
) -> Vec<u8> {
    let data: Vec<u8> = (0..4000 - 28)
        .map(|i| (i * 3 + usize::from(from.1)) as u8)
        .collect();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(from.0, to.0, ttl)
        .udp(from.1, to.1)
        .write(&mut out, &data)
        .expect("build");
    out
}

/// `frame` cut into fragments of 1480 data bytes, identified by `id` (etherparse's
/// header).
fn fragments(frame: &[u8], id: u16) -> Vec<Vec<u8>> {
    let (h, _) = Ipv4Header::from_slice(&frame[14..]).expect("ipv4");
    let payload = &frame[34..];
    payload
        .chunks(1480)
        .enumerate()
        .map(|(i, data)| {
            let mut f = h.clone();
            f.identification = id;
            f.dont_fragment = false;
            f.fragment_offset = IpFragOffset::try_new((i * 185) as u16).expect("offset");
            f.more_fragments = (i + 1) * 1480 < payload.len();
            f.total_len = (20 + data.len()) as u16;
            f.header_checksum = f.calc_header_checksum();
            let mut out = frame[..14].to_vec();
            f.write(&mut out).expect("header");
            out.extend_from_slice(data);
            out
        })
        .collect()
}

#[test]
fn every_datagram_is_put_together_once_and_forwarded_by_its_flows_owner() {
    let config = Config::parse(&config(), "test.toml").expect("config");
    let snap =
        Arc::new(Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).expect("snap"));
    let mut workers: Vec<Worker<HeapBuf>> = (0..WORKERS)
        .map(|w| Worker::new(w, snap.clone(), 7))
        .collect();
    let mut ios: Vec<CollectIo> = (0..WORKERS).map(|_| CollectIo::default()).collect();
    let client_mac = [2, 0, 0, 0, 0, 0xfe];
    let wan_mac = [2, 0, 0, 0, 0, 1];
    // 40 datagrams; their fragments interleaved, the last fragment of each first.
    let n = 40u16;
    let all: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|i| {
            let d = datagram(
                ([10, 0, 0, 100], 53),
                ([10, 0, 0, 2], 20000 + i),
                64,
                (client_mac, wan_mac),
            );
            fragments(&d, 1000 + i)
        })
        .collect();
    let mut arrivals = Vec::new();
    for k in [2usize, 0, 1] {
        for f in &all {
            arrivals.push(f[k].clone());
        }
    }
    let now = 1_000;
    for frame in arrivals {
        // The receiving side's steering, as the live poll loop does it.
        let info = parse_frame(&frame).expect("parse");
        let w = usize::from(steer::owner(&snap, &info).expect("a fragment is owned"));
        workers[w].process(WAN, HeapBuf::from_frame(&frame).unwrap(), now, &mut ios[w]);
        // What workers hand each other goes to the other's ring: processed as received.
        loop {
            let handed: Vec<_> = ios.iter_mut().flat_map(|io| io.handed.drain(..)).collect();
            if handed.is_empty() {
                break;
            }
            for (to, port, buf) in handed {
                let to = usize::from(to);
                workers[to].process(port, buf, now, &mut ios[to]);
            }
        }
    }
    // Out of lan0: group the fragments by their identification and glue each datagram.
    let mut by_id: BTreeMap<u16, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for io in &mut ios {
        for (port, buf) in io.sent.drain(..) {
            assert_eq!(port, PortId(1), "to the real's port");
            let (h, rest) = Ipv4Header::from_slice(&buf.data()[14..]).expect("ipv4");
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            assert!(buf.len() - 14 <= 1280, "within lan0's MTU");
            let data = rest[..usize::from(h.total_len) - 20].to_vec();
            let off = usize::from(h.fragment_offset.value()) * 8;
            by_id.entry(h.identification).or_default().push((off, data));
        }
    }
    assert_eq!(by_id.len(), usize::from(n), "every datagram, once");
    let mut payloads: Vec<Vec<u8>> = by_id
        .into_values()
        .map(|mut pieces| {
            pieces.sort();
            pieces.into_iter().flat_map(|(_, d)| d).collect()
        })
        .collect();
    payloads.sort();
    let mut want: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let d = datagram(
                ([10, 1, 0, 11], 5353),
                ([10, 0, 0, 2], 20000 + i),
                63,
                ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 1, 0x11]),
            );
            d[34..].to_vec()
        })
        .collect();
    want.sort();
    assert_eq!(payloads, want, "each datagram whole, rewritten for NAT");
    // Each connection lives on its flow's owner, and only there.
    for i in 0..n {
        let whole = datagram(
            ([10, 0, 0, 100], 53),
            ([10, 0, 0, 2], 20000 + i),
            64,
            (client_mac, wan_mac),
        );
        let owner = steer::owner(&snap, &parse_frame(&whole).unwrap()).unwrap();
        for (w, worker) in workers.iter().enumerate() {
            let has = worker
                .conns()
                .iter_slots(0..worker.conns().capacity())
                .any(|(_, c)| c.client.port() == 20000 + i);
            assert_eq!(
                has,
                w == usize::from(owner),
                "client port {} on worker {w}",
                20000 + i
            );
        }
    }
    let reassembled: u64 = workers
        .iter()
        .map(|w| w.counters().datagrams_reassembled)
        .sum();
    let handed: u64 = workers.iter().map(|w| w.counters().redirected).sum();
    assert!(
        reassembled > u64::from(n),
        "handed datagrams are put together again: {reassembled}"
    );
    assert!(handed > 0);
    assert!(workers
        .iter()
        .all(|w| w.counters().drops.iter().all(|&d| d == 0)));
}
