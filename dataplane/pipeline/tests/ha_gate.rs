//! `[ha]` at the worker level: a backup neither answers ARP for the virtual router's
//! addresses nor forwards their traffic (`ha_backup`), keeps answering for its own fixed
//! address, hands VRRP frames to the control core, and serves once the link says master;
//! worker 0 sends what the control core queued. Frames are built with etherparse.

mod common;

use std::sync::Arc;

use etherparse::{PacketBuilder, SlicedPacket};
use rvs_config::testbed::CLIENT_MAC;
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::ha::{HaFrame, HaLink};
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

fn vrrp() -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [1, 0, 0x5e, 0, 0, 0x12]).ipv4(
        [10, 0, 0, 9],
        [224, 0, 0, 18],
        255,
    );
    let mut out = Vec::new();
    b.write(
        &mut out,
        etherparse::IpNumber(112),
        &[0x31, 51, 100, 0, 0, 100, 0, 0],
    )
    .unwrap();
    out
}

struct Bench {
    worker: Worker<HeapBuf>,
    io: CollectIo,
    link: Arc<HaLink>,
}

impl Bench {
    fn new() -> Self {
        let mut worker = common::worker(&config(), 1);
        let link = Arc::new(HaLink::new(false, 1, None));
        worker.attach_ha(Arc::clone(&link));
        Self {
            worker,
            io: CollectIo::default(),
            link,
        }
    }

    /// Send `frame` in on `port`; how many frames came out.
    fn run(&mut self, port: u16, frame: &[u8]) -> usize {
        self.io.sent.clear();
        let buf = HeapBuf::from_frame(frame).unwrap();
        self.worker.process(PortId(port), buf, 1, &mut self.io);
        self.io.sent.len()
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
    let got = b.link.take_received().expect("a VRRP frame");
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
