//! The control core takes an advert only as the workers' filter would
//! (`rvs_pipeline::ha::vrrp_filter`), whatever put it in the queue: with
//! `unicast_peers`, only from a peer and to this director's address, with TTL 255.
//! Each refusal is counted by reason in the status, next to the workers'. Frames are
//! built with etherparse.

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::{IpNumber, PacketBuilder};
use rvs_config::{Config, PortId};
use rvs_control::ha::HaRunner;
use rvs_packet::wire::VrrpRepr;
use rvs_pipeline::ha::HaLink;
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;

const CONFIG: &str = r#"
[[port]]
name = "wan"
device = "net_null0"
addresses = ["10.0.0.2/24"]

[[port]]
name = "lan"
device = "net_null1"
addresses = ["10.1.0.2/24"]

[ha]
port = "wan"
vrid = 51
unicast_peers = ["10.0.0.3"]
"#;

/// A VRRPv3 advert of `vrid` at priority 254, `src` -> `dst` with `ttl`.
fn advert(src: [u8; 4], dst: [u8; 4], ttl: u8, vrid: u8) -> Vec<u8> {
    let vips: [Ipv4Addr; 0] = [];
    let repr = VrrpRepr {
        vrid,
        priority: 254,
        max_adver_int: 100,
        addresses: &vips,
    };
    let mut msg = vec![0; repr.len()];
    repr.emit(&mut msg, src.into(), dst.into()).unwrap();
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 3], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, ttl)
        .write(&mut out, IpNumber(112), &msg)
        .unwrap();
    out
}

#[test]
fn the_control_core_takes_only_what_the_workers_filter_would() {
    let config = Config::parse(CONFIG, "rvs.toml").unwrap();
    let ha = config.ha.clone().unwrap();
    let link = Arc::new(HaLink::of_config(&ha, 1));
    let macs = [[2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 4]];
    let mut runner = HaRunner::new(&config, &ha, Arc::clone(&link), &macs);
    let snap = Snapshot::build(&config, &[], &[], &mut IdRegistry::default()).unwrap();
    let snap = Arc::new(snap);
    runner.tick(&snap);
    const US: [u8; 4] = [10, 0, 0, 2];
    const PEER: [u8; 4] = [10, 0, 0, 3];
    let junk = [
        (PortId(0), advert([10, 0, 0, 7], US, 255, 51), "source"),
        (
            PortId(0),
            advert(PEER, [224, 0, 0, 18], 255, 51),
            "destination",
        ),
        (PortId(0), advert(PEER, US, 64, 51), "ttl"),
        (PortId(1), advert(PEER, US, 255, 51), "port"),
        (PortId(0), advert(PEER, US, 255, 52), "vrid"),
    ];
    // Straight into the queue, past the workers.
    for (port, frame, _) in &junk {
        link.queue_advert(*port, frame).unwrap();
    }
    runner.tick(&snap);
    let s = runner.status();
    assert_eq!(s.state, "backup", "{s:?}");
    assert_eq!(
        (s.adverts_received, s.master.as_deref()),
        (0, None),
        "{s:?}"
    );
    for (_, _, reason) in &junk {
        let n = s.refused.iter().find(|(r, _)| r == reason).map(|(_, n)| *n);
        assert_eq!(n, Some(1), "{reason}: {s:?}");
    }
    assert_eq!((s.adverts_refused, s.other_vrid), (4, 1), "{s:?}");
    // The peer's advert is taken.
    link.queue_advert(PortId(0), &advert(PEER, US, 255, 51))
        .unwrap();
    runner.tick(&snap);
    let s = runner.status();
    assert_eq!(s.adverts_received, 1, "{s:?}");
    assert_eq!(s.master.as_deref(), Some("10.0.0.3"), "{s:?}");
}
