//! Established connections survive configuration edits on a director with several
//! workers, as under IPVS: deleting a service (`ipvsadm -D`, its VIP goes with it) or a
//! real (`ipvsadm -d`) leaves the connections already made forwarding to their real
//! until they end. Each edit goes through the control core's change path and reaches
//! every worker as the update the control core built for it; each frame is handed to the
//! worker steering names (`steer::owner`), which must be the worker holding its
//! connection. Frames are built and checked (addresses, ports, checksums) with
//! etherparse.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::multi::{
    mac_of_client, mac_of_real, ports_and_neighbours, segment, sent_tcp, Director, Owned, LAN, WAN,
};
use etherparse::{Icmpv4Type, NetSlice, PacketBuilder, SlicedPacket};
use rvs_config::testbed::{LAN_MAC, WAN_MAC};
use rvs_ctl::proto::{Change, Protocol, ServiceKey};
use rvs_packet::drop::DropReason;
use rvs_packet::packet::PacketBuf;

const LADDR: [u8; 4] = [10, 1, 0, 2];
const ROUTER: [u8; 4] = [10, 0, 0, 254];
/// Clients 10.0.0.2 ..= 10.0.0.5, each from several ports.
const CLIENT_HOSTS: std::ops::RangeInclusive<u8> = 2..=5;
const CLIENT_PORTS: std::ops::Range<u16> = 20000..20012;

/// How a service reaches its reals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Nat,
    FullNat,
    Dr,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Nat, Mode::FullNat, Mode::Dr];

    /// The VIP of this mode's service (one service per VIP, port 80).
    fn vip(self) -> [u8; 4] {
        [10, 0, 0, 100 + self as u8]
    }

    /// The last octets of its two reals (10.1.0.x).
    fn reals(self) -> [u8; 2] {
        [11 + self as u8, 14 + self as u8]
    }

    /// The port its reals listen on (DR keeps the VIP's port).
    fn real_port(self) -> u16 {
        if self == Mode::Dr {
            80
        } else {
            8080
        }
    }

    fn forward(self) -> &'static str {
        match self {
            Mode::Nat => "nat",
            Mode::FullNat => "fullnat",
            Mode::Dr => "dr",
        }
    }
}

fn config(workers: u16, behaviour: &str) -> String {
    let reals = Mode::ALL.iter().flat_map(|m| m.reals());
    let mut text = ports_and_neighbours(workers, CLIENT_HOSTS, reals);
    text += &format!("[behaviour]\n{behaviour}\n");
    for mode in Mode::ALL {
        let [a, b, c, d] = mode.vip();
        text += &format!(
            "[[service]]\nproto = \"tcp\"\nvip = \"{a}.{b}.{c}.{d}\"\nport = 80\n\
             scheduler = \"rr\"\n"
        );
        if mode == Mode::FullNat {
            text += "laddrs = [\"10.1.0.2\"]\n";
        }
        for host in mode.reals() {
            text += &format!(
                "[[service.real]]\nip = \"10.1.0.{host}\"\nport = {}\nforward = \"{}\"\n",
                mode.real_port(),
                mode.forward()
            );
        }
    }
    text
}

/// An ICMP port unreachable from the router to `to`, quoting the first 28 bytes of the
/// IP packet in `quoted` (an Ethernet frame).
fn icmp_error(to: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(mac_of_client(254), WAN_MAC)
        .ipv4(ROUTER, to, 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut frame, &quoted[14..14 + 28])
        .expect("frame");
    frame
}

/// The one's-complement sum of `bytes` folded: 0xffff over a correct checksum.
fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An open connection as the test saw it made.
#[derive(Debug)]
struct Flow {
    mode: Mode,
    client: ([u8; 4], u16),
    /// The worker that made it.
    holder: u16,
    /// The last octet of its real.
    real: u8,
    /// Its source as the real sees it (the client, or FULLNAT's local address and port).
    seen_from: ([u8; 4], u16),
}

impl Flow {
    fn client_mac(&self) -> [u8; 6] {
        mac_of_client(self.client.0[3])
    }

    fn vip(&self) -> ([u8; 4], u16) {
        (self.mode.vip(), 80)
    }

    fn real_addr(&self) -> ([u8; 4], u16) {
        ([10, 1, 0, self.real], self.mode.real_port())
    }

    /// A client segment: owned by its holder, forwarded to its real unchanged but for
    /// the rewrite its mode makes. Returns the frame as sent (the NAT'd packet).
    fn client_sends(&self, d: &mut Director, syn: bool, payload: &[u8], when: &str) -> Vec<u8> {
        let frame = segment(
            (self.client_mac(), WAN_MAC),
            self.client,
            self.vip(),
            syn,
            !syn,
            payload,
        );
        let (owner, out) = d.receive(WAN, &frame);
        assert_eq!(
            owner, self.holder,
            "{when}: client -> VIP owner of {self:?}"
        );
        assert_eq!(out.len(), 1, "{when}: one frame forwarded for {self:?}");
        let (port, buf) = &out[0];
        assert_eq!(*port, LAN, "{when}: toward the reals");
        let got = sent_tcp(buf.data());
        assert_eq!(got.dst_mac, mac_of_real(self.real), "{when}: {self:?}");
        let dst = match self.mode {
            Mode::Dr => self.vip(),
            _ => self.real_addr(),
        };
        assert_eq!(
            (got.src, got.dst),
            (self.seen_from, dst),
            "{when}: {self:?}"
        );
        assert_eq!(got.payload, payload, "{when}");
        buf.data().to_vec()
    }

    /// The real's segment back (NAT and FULLNAT): owned by the holder, sent to the
    /// client from the VIP. Returns the frame as sent.
    fn real_sends(&self, d: &mut Director, syn: bool, payload: &[u8], when: &str) -> Vec<u8> {
        let frame = segment(
            (mac_of_real(self.real), LAN_MAC),
            self.real_addr(),
            self.seen_from,
            syn,
            true,
            payload,
        );
        let (owner, out) = d.receive(LAN, &frame);
        assert_eq!(owner, self.holder, "{when}: real -> owner of {self:?}");
        assert_eq!(out.len(), 1, "{when}: one frame to the client for {self:?}");
        let (port, buf) = &out[0];
        assert_eq!(*port, WAN, "{when}: toward the client");
        let got = sent_tcp(buf.data());
        assert_eq!(got.dst_mac, self.client_mac(), "{when}");
        assert_eq!((got.src, got.dst), (self.vip(), self.client), "{when}");
        assert_eq!(got.payload, payload, "{when}");
        buf.data().to_vec()
    }

    /// A router's error about a packet the director sent the client: owned by the
    /// holder and forwarded toward the real with correct checksums.
    fn router_errs(&self, d: &mut Director, sent_to_client: &[u8], when: &str) {
        let frame = icmp_error(self.mode.vip(), sent_to_client);
        let (owner, out) = d.receive(WAN, &frame);
        assert_eq!(owner, self.holder, "{when}: ICMP error owner of {self:?}");
        assert_eq!(out.len(), 1, "{when}: the error is forwarded for {self:?}");
        let (port, buf) = &out[0];
        assert_eq!(*port, LAN, "{when}");
        let p = SlicedPacket::from_ethernet(buf.data()).expect("etherparse reads it");
        let Some(NetSlice::Ipv4(v4)) = p.net else {
            panic!("not IPv4");
        };
        let ip = v4.header();
        assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
        assert_eq!(ip.destination(), self.real_addr().0, "{when}: to the real");
        assert_eq!(
            ones_sum(v4.payload().payload),
            0xffff,
            "{when}: ICMP checksum"
        );
    }
}

/// Open connections from every client port to every mode's service; each is forwarded
/// whole (handshake both ways) before anything changes.
fn open_flows(d: &mut Director) -> Vec<Flow> {
    let mut flows = Vec::new();
    for mode in Mode::ALL {
        for host in CLIENT_HOSTS {
            for port in CLIENT_PORTS {
                let client = ([10, 0, 0, host], port);
                let syn = segment(
                    (mac_of_client(host), WAN_MAC),
                    client,
                    (mode.vip(), 80),
                    true,
                    false,
                    &[],
                );
                let (holder, out) = d.receive(WAN, &syn);
                assert_eq!(out.len(), 1, "{mode:?} {client:?}: the SYN is forwarded");
                let got = sent_tcp(out[0].1.data());
                let real = *mode
                    .reals()
                    .iter()
                    .find(|&&r| mac_of_real(r) == got.dst_mac)
                    .expect("sent to one of the service's reals");
                let flow = Flow {
                    mode,
                    client,
                    holder,
                    real,
                    seen_from: got.src,
                };
                if mode == Mode::FullNat {
                    assert_eq!(flow.seen_from.0, LADDR);
                } else {
                    assert_eq!(flow.seen_from, client);
                }
                if mode != Mode::Dr {
                    flow.real_sends(d, true, &[], "handshake");
                }
                flow.client_sends(d, false, &[], "handshake");
                flows.push(flow);
            }
        }
    }
    for mode in Mode::ALL {
        let holders: std::collections::HashSet<u16> = flows
            .iter()
            .filter(|f| f.mode == mode)
            .map(|f| f.holder)
            .collect();
        assert!(holders.len() > 1, "{mode:?}: flows spread over workers");
    }
    flows
}

fn service_key(mode: Mode) -> ServiceKey {
    ServiceKey {
        proto: Protocol::Tcp,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(mode.vip())), 80),
    }
}

/// Every open connection keeps flowing both ways, with its ICMP errors, on the worker
/// that holds it.
fn flows_continue(d: &mut Director, flows: &[Flow], when: &str) {
    for flow in flows {
        flow.client_sends(d, false, b"more from the client", when);
        if flow.mode != Mode::Dr {
            let reply = flow.real_sends(d, false, b"more from the real", when);
            flow.router_errs(d, &reply, when);
        }
    }
}

#[test]
fn connections_of_a_deleted_service_drain_on_the_worker_that_holds_them() {
    for (workers, owned) in [
        (2, Owned::ByHash),
        (4, Owned::ByHash),
        (2, Owned::ByRss),
        (4, Owned::ByRss),
    ] {
        let mut d = Director::new(&config(workers, ""), workers, owned);
        let flows = open_flows(&mut d);
        let created = d.conns_created();
        assert_eq!(created, flows.len() as u64);
        d.apply(
            Mode::ALL
                .iter()
                .map(|&m| Change::DeleteService(service_key(m)))
                .collect(),
        );
        assert!(
            d.snap.services.list().is_empty(),
            "every service (and so every VIP) is gone"
        );
        let when = format!("{workers} workers {owned:?}, service deleted");
        flows_continue(&mut d, &flows, &when);

        // A new connection to a deleted VIP is refused, as for any address that is
        // not the director's: counted `not_for_us`, nothing forwarded, nothing made.
        let not_for_us = d.drops(DropReason::NotForUs);
        let mut refused = 0;
        for mode in Mode::ALL {
            for port in 30000..30008 {
                let syn = segment(
                    (mac_of_client(2), WAN_MAC),
                    ([10, 0, 0, 2], port),
                    (mode.vip(), 80),
                    true,
                    false,
                    &[],
                );
                let (_, out) = d.receive(WAN, &syn);
                assert!(out.is_empty(), "{when}: a new SYN to {mode:?}'s VIP");
                refused += 1;
            }
        }
        assert_eq!(d.drops(DropReason::NotForUs) - not_for_us, refused);
        assert_eq!(d.conns_created(), created, "{when}: no connection made");
        // The same connections still flow after the refusals.
        flows_continue(&mut d, &flows[..4], &when);
    }
}

#[test]
fn connections_to_a_removed_real_drain_unless_expire_nodest_conn() {
    for on in [false, true] {
        for (workers, owned) in [(2, Owned::ByHash), (4, Owned::ByRss)] {
            let behaviour = format!("expire_nodest_conn = {on}");
            let mut d = Director::new(&config(workers, &behaviour), workers, owned);
            let flows = open_flows(&mut d);
            // Each service loses its first real.
            d.apply(
                Mode::ALL
                    .iter()
                    .map(|&m| Change::DeleteReal {
                        service: service_key(m),
                        addr: SocketAddr::new(
                            IpAddr::V4(Ipv4Addr::from([10, 1, 0, m.reals()[0]])),
                            m.real_port(),
                        ),
                    })
                    .collect(),
            );
            let when = format!("{workers} workers {owned:?}, expire_nodest_conn = {on}");
            let (removed, kept): (Vec<&Flow>, Vec<&Flow>) =
                flows.iter().partition(|f| f.real == f.mode.reals()[0]);
            assert!(!removed.is_empty() && !kept.is_empty(), "rr used both");
            for flow in &kept {
                flow.client_sends(&mut d, false, b"to a kept real", &when);
            }
            for flow in &removed {
                if !on {
                    flow.client_sends(&mut d, false, b"to a removed real", &when);
                    continue;
                }
                let frame = segment(
                    (flow.client_mac(), WAN_MAC),
                    flow.client,
                    flow.vip(),
                    false,
                    true,
                    b"to a removed real",
                );
                let (owner, out) = d.receive(WAN, &frame);
                assert_eq!(owner, flow.holder, "{when}: {flow:?}");
                assert!(out.is_empty(), "{when}: dropped with its connection");
            }
            let expected = if on { removed.len() as u64 } else { 0 };
            assert_eq!(d.drops(DropReason::RealRemoved), expected, "{when}");
        }
    }
}
