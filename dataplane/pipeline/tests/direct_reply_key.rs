//! A client port used at once toward a NAT service and toward a DR or TUN service whose
//! real is the NAT service's real, on the same real port: two connections (the real sees
//! one to its own address, one to the VIP), so the worker forwards both. Frames are
//! built and read back with etherparse.

mod common;

use etherparse::{IpNumber, NetSlice, PacketBuilder, SlicedPacket};
use rvs_config::testbed::{CLIENT_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::worker::{CollectIo, Worker};

/// The client's port for both connections.
const SPORT: u16 = 40000;

/// Client 10.0.0.2 on wan0; 10.0.0.100:80 NAT to 10.1.0.11:8080 and 10.0.0.101:8080
/// forwarded with `direct` ("dr" or "tun") to the same real.
fn config(direct: &str) -> String {
    let mut text = common::director().real(11).to_toml();
    text.push_str(&format!(
        r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
[[service.real]]
ip = "10.1.0.11"
port = 8080
forward = "nat"

[[service]]
proto = "tcp"
vip = "10.0.0.101"
port = 8080
scheduler = "lc"
[[service.real]]
ip = "10.1.0.11"
forward = "{direct}"
"#
    ));
    text
}

/// The client's SYN from [`SPORT`] to `vip:dport`: what the worker sent toward the
/// reals as (IP protocol, IP destination, TCP destination port, inside the tunnel for
/// IPIP), `None` for nothing.
fn syn(worker: &mut Worker<HeapBuf>, vip: [u8; 4], dport: u16) -> Option<(u8, [u8; 4], u16)> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
        .ipv4([10, 0, 0, 2], vip, 64)
        .tcp(SPORT, dport, 1, 64240)
        .syn()
        .write(&mut frame, &[])
        .expect("frame");
    let mut io = CollectIo::default();
    let buf = HeapBuf::from_frame(&frame).expect("fits");
    worker.process(PortId(0), buf, 1_000_000, &mut io);
    assert!(io.sent.len() <= 1, "one frame out at most");
    let (port, buf) = io.sent.into_iter().next()?;
    assert_eq!(port, PortId(1), "toward the reals");
    let p = SlicedPacket::from_ethernet(buf.data()).expect("parses");
    let Some(NetSlice::Ipv4(outer)) = p.net else {
        panic!("not IPv4")
    };
    let (proto, dst) = (outer.header().protocol(), outer.header().destination());
    let inner_port = if proto == IpNumber::IPV4 {
        let inner = SlicedPacket::from_ip(outer.payload().payload).expect("inner parses");
        match inner.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => t.destination_port(),
            other => panic!("inner not TCP: {other:?}"),
        }
    } else {
        match p.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => t.destination_port(),
            other => panic!("not TCP: {other:?}"),
        }
    };
    Some((proto.0, dst, inner_port))
}

#[test]
fn a_dr_or_tun_connection_beside_a_nat_one_of_the_same_client_port_and_real() {
    // DR: the frame unchanged but for its MACs; TUN: encapsulated toward the real.
    for (direct, out) in [
        ("dr", (6, [10, 0, 0, 101], 8080)),
        ("tun", (4, [10, 1, 0, 11], 8080)),
    ] {
        for nat_first in [true, false] {
            let mut ids = IdRegistry::default();
            let mut worker = Worker::new(0, common::snapshot(&config(direct), &mut ids), 0);
            let mut sent = Vec::new();
            for nat in [nat_first, !nat_first] {
                sent.push(if nat {
                    syn(&mut worker, [10, 0, 0, 100], 80)
                } else {
                    syn(&mut worker, [10, 0, 0, 101], 8080)
                });
            }
            if !nat_first {
                sent.reverse();
            }
            assert_eq!(
                sent,
                [Some((6, [10, 1, 0, 11], 8080)), Some(out)],
                "{direct}, NAT first: {nat_first}"
            );
        }
    }
}
