//! One-packet scheduling (`one_packet = true`, ipvsadm's `-o`): each datagram of one UDP
//! flow is scheduled afresh and forwarded, and no connection entry is left behind; the
//! `twos` scheduler spreads such datagrams by weight.

use crate::frames::*;
use crate::lab::{self, Lab, Out};

/// The fixture plus a UDP service on port 95 with DR reals 10.1.0.11..=13 of `weights`,
/// scheduled by `scheduler`, with `one_packet` as given.
fn with_service(scheduler: &str, weights: [u32; 3], one_packet: bool) -> Lab {
    with_keys(scheduler, weights, &format!("one_packet = {one_packet}\n"))
}

/// As [`with_service`], the service's own keys given whole.
fn with_keys(scheduler: &str, weights: [u32; 3], keys: &str) -> Lab {
    let mut text = lab::config_text(lab::DEFAULT_CAPACITY);
    text.push_str(&format!(
        "\n[[service]]\nproto = \"udp\"\nvip = \"10.0.0.100\"\nport = 95\n\
         scheduler = \"{scheduler}\"\n{keys}"
    ));
    for (h, w) in (11u8..).zip(weights) {
        text.push_str(&format!(
            "[[service.real]]\nip = \"10.1.0.{h}\"\nweight = {w}\nforward = \"dr\"\n"
        ));
    }
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&text);
    lab
}

/// The datagram of the flow 198.51.100.10:5000 -> VIP:95 as the router hands it over.
fn datagram() -> Vec<u8> {
    v4_udp(GW, WAN, C1, VIP, 5000, 95, 64)
}

/// The real (10.1.0.h) a forwarded frame went to; the frame must be the datagram with
/// only its MACs changed, as DR sends it.
fn real_of(out: &[Out]) -> u8 {
    assert_eq!(out.len(), 1, "{out:?}");
    let (port, frame) = &out[0];
    assert_eq!(*port, "lan0");
    check_frame(frame).expect("a well-formed frame");
    (11..=13)
        .find(|&h| *frame == v4_udp(LAN, real_mac(h), C1, VIP, 5000, 95, 64))
        .unwrap_or_else(|| panic!("not the datagram toward a real: {}", hex(frame)))
}

#[test]
fn each_datagram_of_a_flow_is_scheduled_afresh() {
    let mut lab = with_service("rr", [1, 1, 1], true);
    let before = lab.counters();
    let conns = lab.conns_len();
    let reals: Vec<u8> = (0..6)
        .map(|_| real_of(&lab.send("wan0", &datagram())))
        .collect();
    assert_eq!(
        reals,
        [11, 12, 13, 11, 12, 13],
        "rr over one flow's datagrams"
    );
    assert_eq!(lab.conns_len(), conns, "no entry left in the table");
    let after = lab.counters();
    assert_eq!(after.one_packet - before.one_packet, 6);
    assert_eq!(after.conns_created - before.conns_created, 6);
    // Counted per service and real as connections and packets, as IPVS counts them.
    let t = lab.service_traffic();
    let svc = t
        .iter()
        .find(|s| s.conns == 6)
        .expect("the service's counts");
    assert_eq!(svc.inpkts, 6);
}

/// Without `one_packet` the flow's datagrams stay on its first real, in one entry.
#[test]
fn without_one_packet_the_flow_keeps_its_real() {
    let mut lab = with_service("rr", [1, 1, 1], false);
    let conns = lab.conns_len();
    let reals: Vec<u8> = (0..4)
        .map(|_| real_of(&lab.send("wan0", &datagram())))
        .collect();
    assert_eq!(reals, [11, 11, 11, 11]);
    assert_eq!(lab.conns_len(), conns + 1);
    assert_eq!(lab.counters().one_packet, 0);
}

/// `twos` over one flow's datagrams: each real's share follows its weight (weight 0 never
/// picked); in a staged burst too, with nothing left in the table.
#[test]
fn twos_spreads_one_packet_datagrams_by_weight() {
    let mut lab = with_service("twos", [1, 0, 3], true);
    let conns = lab.conns_len();
    let n: u32 = 4000;
    let mut count = [0u32; 3];
    for _ in 0..n {
        count[usize::from(real_of(&lab.send("wan0", &datagram())) - 11)] += 1;
    }
    assert_eq!(count[1], 0, "weight 0 is never picked");
    // With no entries kept every real looks idle, so the first draw decides: shares
    // (1 + 1) / 5 and 3 / 5 (the first usable real also takes the draw 0, as in the
    // kernel). Within 10% of each.
    let share = |c: u32| f64::from(c) / f64::from(n);
    assert!((share(count[0]) - 0.4).abs() < 0.04, "{count:?}");
    assert!((share(count[2]) - 0.6).abs() < 0.06, "{count:?}");
    assert_eq!(lab.conns_len(), conns);
    assert_eq!(lab.send_burst("wan0", &datagram(), 64), 64);
    assert_eq!(lab.conns_len(), conns);
    assert_eq!(lab.counters().one_packet, u64::from(n) + 64);
}

/// A persistent one-packet service keeps its template (as IPVS does): the client's
/// datagrams stay on one real, still with no connection entry left.
#[test]
fn persistence_still_holds_a_client_to_its_real() {
    let mut lab = with_keys("rr", [1, 1, 1], "one_packet = true\npersistence = 60\n");
    let conns = lab.conns_len();
    let reals: Vec<u8> = (0..4)
        .map(|_| real_of(&lab.send("wan0", &datagram())))
        .collect();
    assert_eq!(reals, [11, 11, 11, 11]);
    assert_eq!(lab.conns_len(), conns);
    assert_eq!(lab.counters().one_packet, 4);
}
