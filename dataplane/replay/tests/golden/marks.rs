//! `[[mark]]` rules and mark services (`fwmark = N`), and port-0 services: frames in,
//! exact frames out (built by etherparse).
//!
//! Rule 1 marks TCP to 10.0.0.150 and 10.0.0.160/28 on ports 80, 443 and 8000-8099 for
//! a persistent NAT mark service whose reals (10.1.0.12, .13) are on port 0; rule 2
//! marks TCP to 10.0.0.151 from 198.51.100.0/28 only, for a service whose real is on
//! port 8080; rule 3 marks 10.0.0.100:80 (an ordinary service's VIP and port). A UDP
//! service on 10.0.0.120 port 0 takes every port of that address but 53, which has its
//! own service.

use crate::frames::*;
use crate::lab::{self, Lab};
use rvs_packet::drop::DropReason;

const M150: [u8; 4] = [10, 0, 0, 150];
const M151: [u8; 4] = [10, 0, 0, 151];
const ALL_PORTS: [u8; 4] = [10, 0, 0, 120];

const MARKS: &str = r#"
[[mark]]
mark = 1
proto = "tcp"
dst = ["10.0.0.150/32", "10.0.0.160/28"]
ports = ["80", "443", "8000-8099"]

[[mark]]
mark = 2
proto = "tcp"
dst = ["10.0.0.151/32"]
src = ["198.51.100.0/28"]

[[mark]]
mark = 3
dst = ["10.0.0.100/32"]
ports = ["80"]

[[service]]
fwmark = 1
scheduler = "rr"
persistence = 300
[[service.real]]
ip = "10.1.0.12"
port = 0
forward = "nat"
[[service.real]]
ip = "10.1.0.13"
port = 0
forward = "nat"

[[service]]
fwmark = 2
[[service.real]]
ip = "10.1.0.14"
port = 8080
forward = "nat"

[[service]]
fwmark = 3
[[service.real]]
ip = "10.1.0.14"
forward = "nat"

[[service]]
proto = "udp"
vip = "10.0.0.120"
port = 0
[[service.real]]
ip = "10.1.0.11"
forward = "nat"

[[service]]
proto = "udp"
vip = "10.0.0.120"
port = 53
[[service.real]]
ip = "10.1.0.13"
forward = "nat"
"#;

fn lab_with(extra: &str) -> Lab {
    let mut text = lab::config_text(lab::DEFAULT_CAPACITY);
    text.push_str(extra);
    let mut lab = Lab::new(lab::DEFAULT_CAPACITY);
    lab.reconfigure(&text);
    lab
}

fn syn(client: [u8; 4], dst: [u8; 4], cport: u16, dport: u16) -> Vec<u8> {
    v4_tcp(GW, WAN, client, dst, cport, dport, SYN, 64)
}

/// The SYN toward real 10.1.0.`h` on `rport` after NAT.
fn to_real(client: [u8; 4], h: u8, cport: u16, rport: u16) -> Vec<(&'static str, Vec<u8>)> {
    vec![(
        "lan0",
        v4_tcp(LAN, real_mac(h), client, r4(h), cport, rport, SYN, 63),
    )]
}

/// A frame is dropped for `reason` and nothing is sent.
fn dropped(lab: &mut Lab, frame: &[u8], reason: DropReason) {
    let before = lab.drop_count(reason);
    let out = lab.send("wan0", frame);
    assert!(out.is_empty(), "sent {out:?}");
    assert_eq!(lab.drop_count(reason), before + 1, "{reason:?}");
}

#[test]
fn a_marked_port_reaches_a_real_on_port_0_keeping_the_destination_port() {
    let mut lab = lab_with(MARKS);
    for (cport, dport) in [(40000, 80), (40001, 443), (40002, 8000), (40003, 8099)] {
        // rr would alternate; persistence (one template per client and mark) keeps C1 on
        // the first real for every port of the mark.
        let out = lab.send("wan0", &syn(C1, M150, cport, dport));
        assert_eq!(out, to_real(C1, 12, cport, dport), "port {dport}");
    }
    // An address of the /28, same client: same template.
    let out = lab.send("wan0", &syn(C1, [10, 0, 0, 175], 40004, 443));
    assert_eq!(out, to_real(C1, 12, 40004, 443));
    // Another client is scheduled afresh (rr: the next real) and keeps it too.
    assert_eq!(
        lab.send("wan0", &syn(C2, M150, 50000, 443)),
        to_real(C2, 13, 50000, 443)
    );
    assert_eq!(
        lab.send("wan0", &syn(C2, M150, 50001, 80)),
        to_real(C2, 13, 50001, 80)
    );
    // The real's answer leaves from the address and port the client used.
    let reply = v4_tcp(real_mac(12), LAN, r4(12), C1, 443, 40001, SYNACK, 64);
    let out = lab.send("lan0", &reply);
    assert_eq!(
        out,
        vec![("wan0", v4_tcp(WAN, GW, M150, C1, 443, 40001, SYNACK, 63))]
    );
}

#[test]
fn what_no_rule_matches_is_not_marked() {
    let mut lab = lab_with(MARKS);
    // Not one of rule 1's ports, not its protocol, not its addresses.
    dropped(&mut lab, &syn(C1, M150, 40000, 8100), DropReason::NoService);
    dropped(&mut lab, &syn(C1, M150, 40001, 79), DropReason::NoService);
    dropped(
        &mut lab,
        &v4_udp(GW, WAN, C1, M150, 40002, 80, 64),
        DropReason::NoService,
    );
    dropped(
        &mut lab,
        &syn(C1, [10, 0, 0, 176], 40003, 80),
        DropReason::NotForUs,
    );
    // Rule 2 takes its sources only: C1 (198.51.100.10) is in the /28, C2 (.20) is not.
    assert_eq!(
        lab.send("wan0", &syn(C1, M151, 40004, 22)),
        to_real(C1, 14, 40004, 8080)
    );
    dropped(&mut lab, &syn(C2, M151, 40005, 22), DropReason::NoService);
}

#[test]
fn a_rule_on_an_ordinary_services_port_takes_its_packets_as_in_ipvs() {
    let mut lab = lab_with(MARKS);
    // IPVS looks a marked packet's mark up first: VIP:80 goes to the mark 3 service
    // (10.1.0.14 on port 0, so port 80), not to the service on 10.0.0.100:80.
    assert_eq!(
        lab.send("wan0", &syn(C1, VIP, 40000, 80)),
        to_real(C1, 14, 40000, 80)
    );
    // Without the rule, the ordinary service (10.1.0.11:8080).
    let mut plain = lab_with("");
    assert_eq!(
        plain.send("wan0", &syn(C1, VIP, 40000, 80)),
        to_real(C1, 11, 40000, 8080)
    );
}

#[test]
fn the_director_answers_arp_for_every_address_a_rule_names() {
    let mut lab = lab_with(MARKS);
    const BCAST: Mac = [0xff; 6];
    const GW_IP: [u8; 4] = [10, 0, 0, 254];
    for target in [
        M150,
        M151,
        [10, 0, 0, 160],
        [10, 0, 0, 167],
        [10, 0, 0, 175],
    ] {
        let ask = arp(1, GW, BCAST, (GW, GW_IP), ([0; 6], target));
        let out = lab.send("wan0", &ask);
        assert_eq!(
            out,
            vec![("wan0", arp(2, WAN, GW, (WAN, target), (GW, GW_IP)))],
            "{target:?}"
        );
    }
    for target in [[10, 0, 0, 159], [10, 0, 0, 176]] {
        let ask = arp(1, GW, BCAST, (GW, GW_IP), ([0; 6], target));
        assert!(lab.send("wan0", &ask).is_empty(), "{target:?}");
    }
}

#[test]
fn a_port_0_service_takes_every_port_but_those_with_a_service() {
    let mut lab = lab_with(MARKS);
    for dport in [1, 4444, 65535] {
        let out = lab.send("wan0", &v4_udp(GW, WAN, C1, ALL_PORTS, 5000, dport, 64));
        let want = v4_udp(LAN, real_mac(11), C1, r4(11), 5000, dport, 63);
        assert_eq!(out, vec![("lan0", want)], "port {dport}");
    }
    let out = lab.send("wan0", &v4_udp(GW, WAN, C1, ALL_PORTS, 5001, 53, 64));
    assert_eq!(
        out,
        vec![("lan0", v4_udp(LAN, real_mac(13), C1, r4(13), 5001, 53, 63))]
    );
    // No TCP service there.
    dropped(
        &mut lab,
        &syn(C1, ALL_PORTS, 5002, 80),
        DropReason::NoService,
    );
    // The real's reply leaves from the port the client used.
    let reply = v4_udp(real_mac(11), LAN, r4(11), C1, 4444, 5000, 64);
    let out = lab.send("lan0", &reply);
    assert_eq!(
        out,
        vec![("wan0", v4_udp(WAN, GW, ALL_PORTS, C1, 4444, 5000, 63))]
    );
}

#[test]
fn a_reload_changing_the_rules_keeps_established_connections() {
    let mut lab = lab_with(MARKS);
    assert_eq!(
        lab.send("wan0", &syn(C1, M150, 40000, 80)),
        to_real(C1, 12, 40000, 80)
    );
    // Rule 1 no longer marks port 80, nor anything of 10.0.0.150.
    let changed = MARKS.replace(
        "dst = [\"10.0.0.150/32\", \"10.0.0.160/28\"]\nports = [\"80\", \"443\", \"8000-8099\"]",
        "dst = [\"10.0.0.160/28\"]\nports = [\"443\"]",
    );
    assert_ne!(changed, MARKS);
    let mut text = lab::config_text(lab::DEFAULT_CAPACITY);
    text.push_str(&changed);
    lab.reconfigure(&text);
    // The connection made under the old rules still forwards.
    let ack = v4_tcp(GW, WAN, C1, M150, 40000, 80, ACK, 64);
    let out = lab.send("wan0", &ack);
    let want = v4_tcp(LAN, real_mac(12), C1, r4(12), 40000, 80, ACK, 63);
    assert_eq!(out, vec![("lan0", want)]);
    // A new one is not marked any more.
    dropped(&mut lab, &syn(C1, M150, 40001, 80), DropReason::NotForUs);
}

/// IPv6: a rule's /124 leads to the mark's IPv6 service (`ipv6 = true`), whose real on
/// port 0 keeps the destination port; neighbour solicitations for the prefix's
/// addresses are answered, for others not.
#[test]
fn an_ipv6_rule_leads_to_the_marks_ipv6_service() {
    let m6 = v6(0, 0x155);
    let mut lab = lab_with(
        r#"
[[mark]]
mark = 5
proto = "tcp"
dst = ["2001:db8::150/124"]
ports = ["443"]

[[service]]
fwmark = 5
ipv6 = true
[[service.real]]
ip = "2001:db8:1::12"
forward = "nat"
"#,
    );
    let syn = v6_tcp(C6_MAC, WAN, C6, m6, 41000, 443, SYN, 64);
    let out = lab.send("wan0", &syn);
    let want = v6_tcp(LAN, real_mac(12), C6, r6(12), 41000, 443, SYN, 63);
    assert_eq!(out, vec![("lan0", want)]);
    let reply = v6_tcp(real_mac(12), LAN, r6(12), C6, 443, 41000, SYNACK, 64);
    let out = lab.send("lan0", &reply);
    assert_eq!(
        out,
        vec![("wan0", v6_tcp(WAN, C6_MAC, m6, C6, 443, 41000, SYNACK, 63))]
    );
    // Not its port.
    dropped(
        &mut lab,
        &v6_tcp(C6_MAC, WAN, C6, m6, 41001, 80, SYN, 64),
        DropReason::NoService,
    );
    for (target, answered) in [
        (v6(0, 0x150), true),
        (v6(0, 0x15f), true),
        (v6(0, 0x160), false),
    ] {
        let out = lab.send("wan0", &v6_ns(C6_MAC, C6, target));
        let want = if answered {
            vec![("wan0", v6_na(WAN, C6_MAC, target, C6))]
        } else {
            vec![]
        };
        assert_eq!(out, want, "{target:?}");
    }
}
