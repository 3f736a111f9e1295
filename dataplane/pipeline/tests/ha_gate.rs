//! `[ha]` at the worker level: a backup neither answers ARP for the virtual router's
//! addresses nor forwards their traffic (`ha_backup`), keeps answering for its own fixed
//! address, hands VRRP adverts to the control core (only adverts `[ha]` takes, each
//! source within its rate; the rest counted by reason), and serves once the link says
//! master; worker 0 sends what the control core queued. Frames are built with etherparse.

mod common;

use std::sync::Arc;

use etherparse::{PacketBuilder, SlicedPacket};
use rvs_config::testbed::CLIENT_MAC;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_packet::wire::vrrp::GROUP_V4;
use rvs_packet::wire::VrrpRepr;
use rvs_pipeline::ha::refusal::VrrpRefusal;
use rvs_pipeline::ha::{HaFrame, HaLink, ADVERT_FRAMES};
use rvs_pipeline::worker::{CollectIo, Worker};

/// The director, with real 10.1.0.11, a floating address on lan0, `[ha]` and a NAT
/// service on the VIP.
fn config() -> String {
    common::director()
        .lan_address("10.1.0.254/24")
        .real(11)
        .to_toml()
        + r#"
[ha]
port = "wan0"
vrid = 51
floating = ["10.1.0.254/24"]

[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"

[[service.real]]
ip = "10.1.0.11"
forward = "nat"
"#
}

fn arp_request(target: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

fn syn() -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, [2, 0, 0, 0, 0, 1])
        .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
        .tcp(40000, 80, 1, 64240)
        .syn();
    let mut out = Vec::new();
    b.write(&mut out, &[]).unwrap();
    out
}

/// A VRRPv3 advert of `vrid` from `src` to the group with `ttl`, its checksum right
/// (the IP layer built by etherparse).
fn advert(src: [u8; 4], vrid: u8, ttl: u8) -> Vec<u8> {
    let vips = [std::net::Ipv4Addr::new(10, 0, 0, 100)];
    let repr = VrrpRepr {
        vrid,
        priority: 200,
        max_adver_int: 100,
        addresses: &vips,
    };
    let mut msg = vec![0; repr.len()];
    repr.emit(&mut msg, src.into(), GROUP_V4).unwrap();
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [1, 0, 0x5e, 0, 0, 0x12]).ipv4(
        src,
        GROUP_V4.octets(),
        ttl,
    );
    let mut out = Vec::new();
    b.write(&mut out, etherparse::IpNumber(112), &msg).unwrap();
    out
}

/// A valid advert of the lab's virtual router from another director.
fn vrrp() -> Vec<u8> {
    advert([10, 0, 0, 9], 51, 255)
}

struct Bench {
    worker: Worker<HeapBuf>,
    io: CollectIo,
    link: Arc<HaLink>,
}

impl Bench {
    fn new() -> Self {
        let mut worker = common::worker(&config(), 1);
        let config = rvs_config::Config::parse(&config(), "test.toml").unwrap();
        let link = Arc::new(HaLink::of_config(&config.ha.unwrap(), 1));
        worker.attach_ha(Arc::clone(&link));
        Self {
            worker,
            io: CollectIo::default(),
            link,
        }
    }

    /// Send `frame` in on `port`; how many frames came out.
    fn run(&mut self, port: u16, frame: &[u8]) -> usize {
        self.run_at(port, frame, 1)
    }

    /// [`Bench::run`] at `now_ms`.
    fn run_at(&mut self, port: u16, frame: &[u8], now_ms: u64) -> usize {
        self.io.sent.clear();
        let buf = HeapBuf::from_frame(frame).unwrap();
        self.worker.process(PortId(port), buf, now_ms, &mut self.io);
        self.io.sent.len()
    }

    fn refused(&self, reason: VrrpRefusal) -> u64 {
        self.link.advert_refusals()[reason.index()]
    }

    fn drops(&self, reason: DropReason) -> u64 {
        self.worker.counters().drops[reason.index()]
    }
}

#[test]
fn a_backup_serves_nothing_of_the_virtual_router_then_a_master_does() {
    let mut b = Bench::new();
    assert_eq!(b.run(0, &arp_request([10, 0, 0, 100])), 0, "VIP answered");
    assert_eq!(
        b.run(1, &arp_request([10, 1, 0, 254])),
        0,
        "floating answered"
    );
    assert_eq!(b.run(0, &syn()), 0, "forwarded");
    assert_eq!(b.drops(DropReason::HaBackup), 3);
    // Its own fixed address is still answered.
    assert_eq!(b.run(0, &arp_request([10, 0, 0, 1])), 1);
    // VRRP goes to the control core, whatever the state.
    assert_eq!(b.run(0, &vrrp()), 0);
    let got = b.link.take_advert().expect("a VRRP frame");
    assert_eq!(got.port(), PortId(0));
    assert_eq!(got.data(), &vrrp()[..]);

    // Master: the link flips, the worker sees it at its next tick.
    b.link.set_serving(true);
    b.worker.tick(2, &mut b.io);
    assert_eq!(b.run(0, &arp_request([10, 0, 0, 100])), 1);
    assert_eq!(b.run(0, &syn()), 1);
    let (port, out) = &b.io.sent[0];
    assert_eq!(*port, PortId(1));
    let p = SlicedPacket::from_ethernet(out.data()).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    assert_eq!(ip.header().destination(), [10, 1, 0, 11]);
    assert_eq!(b.drops(DropReason::HaBackup), 3);
}

#[test]
fn worker_zero_sends_what_the_control_core_queued() {
    let mut b = Bench::new();
    let garp = arp_request([10, 0, 0, 100]);
    assert!(b
        .link
        .queue_send(HaFrame::new(PortId(0), false, &garp).unwrap()));
    b.io.sent.clear();
    b.worker.tick(5, &mut b.io);
    assert_eq!(b.io.sent.len(), 1);
    assert_eq!(b.io.sent[0].0, PortId(0));
    assert_eq!(b.io.sent[0].1.data(), &garp[..]);
}

/// VRRP junk never reaches the control core: each kind is refused by the worker for its
/// reason and dropped as `ha_vrrp_refused`; one source flooding valid adverts gets its
/// burst through and no more; the advert queue's bound is counted as `queue_full`.
#[test]
fn vrrp_junk_is_refused_by_reason_and_a_source_is_held_to_its_rate() {
    let mut b = Bench::new();
    let mut bad_sum = vrrp();
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    let junk: [(u16, Vec<u8>, VrrpRefusal); 5] = [
        (0, advert([10, 0, 0, 9], 51, 64), VrrpRefusal::Ttl),
        (0, bad_sum, VrrpRefusal::Checksum),
        (0, advert([10, 0, 0, 9], 52, 255), VrrpRefusal::Vrid),
        (1, vrrp(), VrrpRefusal::Port),
        (0, advert([10, 0, 0, 1], 51, 255), VrrpRefusal::Own),
    ];
    for (port, frame, reason) in &junk {
        assert_eq!(b.run(*port, frame), 0);
        assert_eq!(b.refused(*reason), 1, "{reason:?}");
    }
    assert!(b.link.take_advert().is_none(), "no junk queued");
    assert_eq!(b.drops(DropReason::HaVrrpRefused), 5);

    // 50 adverts a second per source at a 1 s advert interval, a burst of 10.
    let limit = b.link.advert_limit();
    assert_eq!((limit.per_second, limit.burst), (50, 10));
    for _ in 0..100 {
        b.run_at(0, &vrrp(), 1000);
    }
    assert_eq!(b.refused(VrrpRefusal::Rate), 90);
    assert_eq!(std::iter::from_fn(|| b.link.take_advert()).count(), 10);
    // Another source is not held back by the first.
    assert_eq!(b.run_at(0, &advert([10, 0, 0, 8], 51, 255), 1000), 0);
    assert!(b.link.take_advert().is_some());
    // A source within its rate fills an advert queue nobody empties: counted.
    for i in 0..ADVERT_FRAMES as u64 + 44 {
        b.run_at(0, &vrrp(), 2000 + 20 * i);
    }
    assert_eq!(b.refused(VrrpRefusal::QueueFull), 44);
    assert_eq!(b.refused(VrrpRefusal::Rate), 90);
    assert_eq!(b.drops(DropReason::HaQueueFull), 44);
}

/// A link without a VRRP filter (no `[ha]`) takes no VRRP frame.
#[test]
fn without_a_filter_no_vrrp_frame_is_taken() {
    let mut worker = common::worker(&config(), 1);
    let link = Arc::new(HaLink::new(false, 1, None));
    worker.attach_ha(Arc::clone(&link));
    let mut io = CollectIo::default();
    worker.process(PortId(0), HeapBuf::from_frame(&vrrp()).unwrap(), 1, &mut io);
    assert!(link.take_advert().is_none());
    assert_eq!(worker.counters().drops[DropReason::NotForUs.index()], 1);
}
