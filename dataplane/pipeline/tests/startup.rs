//! Neighbour resolution when the director has just started: the issue where the first
//! connection after a start lost its packets as `neighbor_unresolved`.
//!
//! The pipeline asked for a neighbour only when a packet for it arrived, at most once a
//! second. A start-up window in which the first request or its answer is lost (the
//! peer or the port not ready yet) then cost the parked SYN a TCP retransmission, and a
//! window spanning the retransmission cost it altogether: two requests (at the SYN and
//! at its retransmission, "twice the expected"), then the 3 s deadline dropped every
//! parked packet, and the next retransmission got through. These tests model that
//! window exactly: the peer answers only the requests sent from `ready` on. The last
//! test follows a real that does not answer at all (the failed state).

mod common;

use std::net::Ipv4Addr;

use etherparse::{PacketBuilder, SlicedPacket};
use rvs_config::testbed::{CLIENT_MAC, LAN_MAC, WAN_MAC};
use rvs_config::PortId;
use rvs_packet::drop::DropReason;
use rvs_packet::packet::{HeapBuf, PacketBuf};
use rvs_pipeline::worker::{CollectIo, Worker};

const REAL_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0x11];
const REAL: [u8; 4] = [10, 1, 0, 11];
const T0: u64 = 1_000_000;

/// The director with a NAT service on 10.0.0.100:80 and one real, 10.1.0.11, whose MAC
/// is not configured.
fn worker() -> Worker<HeapBuf> {
    let service = r#"
[[service]]
proto = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
[[service.real]]
ip = "10.1.0.11"
forward = "nat"
"#;
    common::worker(&(common::director().to_toml() + service), 0)
}

/// The client's SYN toward the VIP.
fn syn() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, WAN_MAC)
        .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
        .tcp(40000, 80, 1, 64240)
        .syn()
        .write(&mut f, &[])
        .expect("syn");
    f
}

/// The real's answer to an ARP request for it (RFC 826 layout).
fn arp_reply() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&LAN_MAC);
    f.extend_from_slice(&REAL_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&REAL_MAC);
    f.extend_from_slice(&REAL);
    f.extend_from_slice(&LAN_MAC);
    f.extend_from_slice(&[10, 1, 0, 1]);
    f
}

/// What the worker sent, classified.
#[derive(Debug, Default)]
struct Seen {
    /// Times of the ARP requests for the real.
    requests: Vec<u64>,
    /// Times the SYN reached the real.
    syns: Vec<u64>,
}

impl Seen {
    fn take(&mut self, io: &mut CollectIo, now: u64) {
        for (port, buf) in io.sent.drain(..) {
            assert_eq!(port, PortId(1), "everything here goes toward the real");
            let data = buf.data();
            if data[12..14] == [0x08, 0x06] {
                assert_eq!(&data[38..42], &REAL, "asks for the real");
                self.requests.push(now - T0);
                continue;
            }
            let p = SlicedPacket::from_ethernet(data).expect("parses");
            let Some(etherparse::NetSlice::Ipv4(v4)) = p.net else {
                panic!("not IPv4");
            };
            assert_eq!(v4.header().destination_addr(), Ipv4Addr::from(REAL));
            assert_eq!(&data[..6], &REAL_MAC);
            self.syns.push(now - T0);
        }
    }
}

/// A client opening a connection at once (SYN at 0, retransmitted at 1 s and 3 s as TCP
/// does, until the real has it) while the real answers ARP only from `ready_ms` on;
/// the clock ticks every 10 ms, as the live poll loop ticks every millisecond.
fn first_connection(ready_ms: u64) -> (Seen, u64) {
    let mut w = worker();
    let mut io = CollectIo::default();
    let mut seen = Seen::default();
    let mut answered = 0;
    for step in 0..=400u64 {
        let now = T0 + step * 10;
        w.tick(now, &mut io);
        seen.take(&mut io, now);
        if [0, 1000, 3000].contains(&(step * 10)) && seen.syns.is_empty() {
            w.process(
                PortId(0),
                HeapBuf::from_frame(&syn()).unwrap(),
                now,
                &mut io,
            );
            seen.take(&mut io, now);
        }
        // The real answers each request sent once it is ready, 1 ms later.
        while answered < seen.requests.len() {
            let asked = seen.requests[answered];
            answered += 1;
            if asked >= ready_ms {
                w.process(
                    PortId(1),
                    HeapBuf::from_frame(&arp_reply()).unwrap(),
                    now + 1,
                    &mut io,
                );
                seen.take(&mut io, now + 1);
            }
        }
    }
    let unresolved = w.counters().drops[DropReason::NeighborUnresolved.index()];
    (seen, unresolved)
}

#[test]
fn a_first_answer_lost_at_start_up_does_not_cost_the_first_syn() {
    let (seen, unresolved) = first_connection(100);
    assert_eq!(unresolved, 0, "{seen:?}");
    let first = *seen
        .syns
        .first()
        .unwrap_or_else(|| panic!("never forwarded: {seen:?}"));
    assert!(
        first < 1000,
        "the SYN must reach the real before TCP retransmits it (1 s): {seen:?}"
    );
}

#[test]
fn a_start_up_window_spanning_the_retransmission_does_not_drop_the_parked_syns() {
    let (seen, unresolved) = first_connection(1500);
    assert_eq!(
        unresolved, 0,
        "parked SYNs dropped at the deadline: {seen:?}"
    );
    let first = *seen
        .syns
        .first()
        .unwrap_or_else(|| panic!("never forwarded: {seen:?}"));
    assert!(
        first < 3000,
        "forwarded before the second retransmission: {seen:?}"
    );
}

#[test]
fn next_hops_resolved_at_start_let_the_first_syn_through_at_once() {
    let mut w = worker();
    let mut io = CollectIo::default();
    let mut seen = Seen::default();
    w.resolve_next_hops(T0, true, &mut io);
    seen.take(&mut io, T0);
    assert_eq!(
        seen.requests,
        [0],
        "the real, once; the static client is known"
    );
    w.process(
        PortId(1),
        HeapBuf::from_frame(&arp_reply()).unwrap(),
        T0 + 1,
        &mut io,
    );
    w.tick(T0 + 500, &mut io);
    seen.take(&mut io, T0 + 500);
    assert_eq!(seen.requests, [0], "answered: not asked again");
    w.process(
        PortId(0),
        HeapBuf::from_frame(&syn()).unwrap(),
        T0 + 600,
        &mut io,
    );
    seen.take(&mut io, T0 + 600);
    assert_eq!(seen.syns, [600], "forwarded as it came, nothing parked");
    // An unanswered next hop is forgotten at the deadline without a drop.
    let mut w = worker();
    w.resolve_next_hops(T0, true, &mut io);
    for step in 1..=40 {
        w.tick(T0 + step * 100, &mut io);
    }
    assert_eq!(
        io.sent.len(),
        15,
        "asked every 200 ms until the 3 s deadline"
    );
    assert_eq!(w.counters().dropped(), 0);
    // A worker that does not ask learns the asking worker's answer (its copy).
    io.sent.clear();
    let mut quiet = worker();
    quiet.resolve_next_hops(T0, false, &mut io);
    assert!(io.sent.is_empty(), "nothing asked");
    let reply = HeapBuf::from_frame(&arp_reply()).unwrap();
    quiet.process(PortId(1), reply, T0 + 1, &mut io);
    let syn = HeapBuf::from_frame(&syn()).unwrap();
    quiet.process(PortId(0), syn, T0 + 2, &mut io);
    let mut seen = Seen::default();
    seen.take(&mut io, T0 + 2);
    assert_eq!((seen.requests.len(), seen.syns.len()), (0, 1));
}

/// A real that never answers: at its deadline its parked SYN is dropped and it becomes
/// failed (an event the worker publishes); a SYN within the next request interval is
/// dropped at once as `neighbor_unresolved` without a request; a later one asks again,
/// and an answer then forwards it and publishes the recovery.
#[test]
fn a_real_that_never_answers_fails_then_is_asked_again_after_an_interval() {
    use rvs_pipeline::neigh::NeighEvent;
    use rvs_pipeline::update::Published;

    let mut w = worker();
    let mut io = CollectIo::default();
    let mut seen = Seen::default();
    let unresolved =
        |w: &Worker<HeapBuf>| w.counters().drops[DropReason::NeighborUnresolved.index()];
    let send_syn = |w: &mut Worker<HeapBuf>, io: &mut CollectIo, now| {
        w.process(PortId(0), HeapBuf::from_frame(&syn()).unwrap(), now, io)
    };
    send_syn(&mut w, &mut io, T0);
    seen.take(&mut io, T0);
    for step in 1..=300u64 {
        w.tick(T0 + step * 10, &mut io);
        seen.take(&mut io, T0 + step * 10);
    }
    assert!(seen.syns.is_empty(), "{seen:?}");
    assert_eq!(unresolved(&w), 1, "the parked SYN, at the deadline");
    let asked = seen.requests.len();
    assert!(asked >= 10, "asked every 200 ms: {seen:?}");
    let mut published = Published::default();
    w.publish_to(&mut published);
    let real = NeighEvent {
        port: PortId(1),
        ip: Ipv4Addr::from(REAL).into(),
        failed: true,
    };
    assert_eq!(published.neigh_events.since(0).collect::<Vec<_>>(), [real]);

    // Within the interval after the failure: dropped at once, nothing asked.
    send_syn(&mut w, &mut io, T0 + 3100);
    seen.take(&mut io, T0 + 3100);
    assert_eq!(unresolved(&w), 2);
    assert_eq!(seen.requests.len(), asked, "{seen:?}");
    // After it: parked and asked again; the answer sends it.
    send_syn(&mut w, &mut io, T0 + 3250);
    seen.take(&mut io, T0 + 3250);
    assert_eq!(seen.requests.len(), asked + 1, "{seen:?}");
    assert!(seen.syns.is_empty());
    w.process(
        PortId(1),
        HeapBuf::from_frame(&arp_reply()).unwrap(),
        T0 + 3251,
        &mut io,
    );
    seen.take(&mut io, T0 + 3251);
    assert_eq!(seen.syns, [3251], "{seen:?}");
    assert_eq!(unresolved(&w), 2);
    w.publish_to(&mut published);
    let events: Vec<_> = published.neigh_events.since(1).collect();
    assert_eq!(
        events,
        [NeighEvent {
            failed: false,
            ..real
        }]
    );
}
