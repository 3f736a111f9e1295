//! The fixture table.

use etherparse::{PacketBuilder, VlanId};
use rvs_packet::drop::DropReason;

use super::frames::*;
use super::lab::{Lab, Out};
use super::{none, Case, Verdict};

const BCAST: Mac = [0xff; 6];
const ZERO_MAC: Mac = [0; 6];
const GW_IP: [u8; 4] = [10, 0, 0, 254];

/// A case whose input does not depend on the lab.
fn case(
    what: &'static str,
    before: Vec<(&'static str, Vec<u8>)>,
    input: (&'static str, Vec<u8>),
    verdict: Verdict,
    expect: fn(&Lab) -> Vec<Out>,
) -> Case {
    Case {
        what,
        before,
        input: Box::new(move |_| input.clone()),
        verdict,
        expect,
    }
}

/// A case whose input needs the lab (FULLNAT replies address the local port).
fn case_with(
    what: &'static str,
    before: Vec<(&'static str, Vec<u8>)>,
    input: fn(&Lab) -> (&'static str, Vec<u8>),
    expect: fn(&Lab) -> Vec<Out>,
) -> Case {
    Case {
        what,
        before,
        input: Box::new(input),
        verdict: Verdict::Send,
        expect,
    }
}

fn drop_case(
    what: &'static str,
    before: Vec<(&'static str, Vec<u8>)>,
    input: (&'static str, Vec<u8>),
    r: DropReason,
) -> Case {
    case(what, before, input, Verdict::Drop(r), none)
}

/// The local port of the connection opened from client port `cport`.
fn lport(lab: &Lab, cport: u16) -> u16 {
    lab.conn_by_client_port(cport)
        .local
        .expect("FULLNAT connection")
        .port()
}

fn syn4(dport: u16, cport: u16) -> (&'static str, Vec<u8>) {
    ("wan0", v4_tcp(GW, WAN, C1, VIP, cport, dport, SYN, 64))
}

fn syn6(dport: u16, cport: u16) -> (&'static str, Vec<u8>) {
    ("wan0", v6_tcp(C6_MAC, WAN, C6, VIP6, cport, dport, SYN, 64))
}

/// A full-size (1500-byte IP) TCP SYN with DF toward the IPv4 VIP.
pub fn tcp4_big(dport: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(GW, WAN)
        .ipv4(C1, VIP, 64)
        .tcp(40000, dport, 1, 64240)
        .syn()
        .write(&mut out, &[0u8; 1460])
        .expect("big tcp");
    out
}

/// A full-size (1500-byte IP) TCP SYN toward the IPv6 VIP.
fn tcp6_big(dport: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(C6_MAC, WAN)
        .ipv6(C6, VIP6, 64)
        .tcp(40000, dport, 1, 64240)
        .syn()
        .write(&mut out, &[0u8; 1440])
        .expect("big tcp");
    out
}

pub fn cases() -> Vec<Case> {
    let mut v = modes_v4();
    v.extend(modes_v6());
    v.extend(icmp_errors());
    v.extend(duties());
    v.extend(drops());
    v
}

fn modes_v4() -> Vec<Case> {
    vec![
        case(
            "NAT v4 TCP in: destination becomes the real",
            vec![],
            syn4(80, 40000),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    v4_tcp(LAN, real_mac(11), C1, r4(11), 40000, 8080, SYN, 63),
                )]
            },
        ),
        case(
            "NAT v4 TCP out: source becomes the VIP",
            vec![syn4(80, 40000)],
            (
                "lan0",
                v4_tcp(real_mac(11), LAN, r4(11), C1, 8080, 40000, SYNACK, 64),
            ),
            Verdict::Send,
            |_| vec![("wan0", v4_tcp(WAN, GW, VIP, C1, 80, 40000, SYNACK, 63))],
        ),
        case(
            "NAT v4 TCP in over 802.1Q keeps the tag",
            vec![],
            ("wan0", {
                let mut out = Vec::new();
                PacketBuilder::ethernet2(GW, WAN)
                    .single_vlan(VlanId::try_new(10).unwrap())
                    .ipv4(C1, VIP, 64)
                    .tcp(40000, 80, 1000, 64240)
                    .syn()
                    .write(&mut out, b"hello")
                    .unwrap();
                out
            }),
            Verdict::Send,
            |_| {
                let mut out = Vec::new();
                PacketBuilder::ethernet2(LAN, real_mac(11))
                    .single_vlan(VlanId::try_new(10).unwrap())
                    .ipv4(C1, r4(11), 63)
                    .tcp(40000, 8080, 1000, 64240)
                    .syn()
                    .write(&mut out, b"hello")
                    .unwrap();
                vec![("lan0", out)]
            },
        ),
        case(
            "NAT v4 UDP in",
            vec![],
            ("wan0", v4_udp(GW, WAN, C1, VIP, 5000, 53, 64)),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    v4_udp(LAN, real_mac(11), C1, r4(11), 5000, 5353, 63),
                )]
            },
        ),
        case(
            "NAT v4 UDP out",
            vec![("wan0", v4_udp(GW, WAN, C1, VIP, 5000, 53, 64))],
            (
                "lan0",
                v4_udp(real_mac(11), LAN, r4(11), C1, 5353, 5000, 64),
            ),
            Verdict::Send,
            |_| vec![("wan0", v4_udp(WAN, GW, VIP, C1, 53, 5000, 63))],
        ),
        case(
            "FULLNAT v4 TCP in: source local, destination real",
            vec![],
            syn4(81, 40000),
            Verdict::Send,
            |lab| {
                let lp = lport(lab, 40000);
                vec![(
                    "lan0",
                    v4_tcp(LAN, real_mac(12), LADDR, r4(12), lp, 8080, SYN, 63),
                )]
            },
        ),
        case_with(
            "FULLNAT v4 TCP out: back to the client from the VIP",
            vec![syn4(81, 40000)],
            |lab| {
                (
                    "lan0",
                    v4_tcp(
                        real_mac(12),
                        LAN,
                        r4(12),
                        LADDR,
                        8080,
                        lport(lab, 40000),
                        SYNACK,
                        64,
                    ),
                )
            },
            |_| vec![("wan0", v4_tcp(WAN, GW, VIP, C1, 81, 40000, SYNACK, 63))],
        ),
        case(
            "FULLNAT v4 UDP in",
            vec![],
            ("wan0", v4_udp(GW, WAN, C1, VIP, 5000, 54, 64)),
            Verdict::Send,
            |lab| {
                vec![(
                    "lan0",
                    v4_udp(LAN, real_mac(12), LADDR, r4(12), lport(lab, 5000), 53, 63),
                )]
            },
        ),
        case_with(
            "FULLNAT v4 UDP out",
            vec![("wan0", v4_udp(GW, WAN, C1, VIP, 5000, 54, 64))],
            |lab| {
                (
                    "lan0",
                    v4_udp(real_mac(12), LAN, r4(12), LADDR, 53, lport(lab, 5000), 64),
                )
            },
            |_| vec![("wan0", v4_udp(WAN, GW, VIP, C1, 54, 5000, 63))],
        ),
        case(
            "DR v4 TCP: only the MACs change",
            vec![],
            syn4(82, 40000),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    v4_tcp(LAN, real_mac(13), C1, VIP, 40000, 82, SYN, 64),
                )]
            },
        ),
        case(
            "TUN v4 TCP: IPIP toward the real, inner untouched",
            vec![],
            syn4(83, 40000),
            Verdict::Send,
            |_| {
                let inner = ip_of(&syn4(83, 40000).1);
                vec![(
                    "lan0",
                    v4_tunnel(LAN, real_mac(14), LAN_IP, r4(14), 64, &inner),
                )]
            },
        ),
    ]
}

fn modes_v6() -> Vec<Case> {
    vec![
        case(
            "NAT v6 TCP in",
            vec![],
            syn6(80, 40000),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    v6_tcp(LAN, real_mac(11), C6, r6(11), 40000, 8080, SYN, 63),
                )]
            },
        ),
        case(
            "NAT v6 TCP out",
            vec![syn6(80, 40000)],
            (
                "lan0",
                v6_tcp(real_mac(11), LAN, r6(11), C6, 8080, 40000, SYNACK, 64),
            ),
            Verdict::Send,
            |_| vec![("wan0", v6_tcp(WAN, C6_MAC, VIP6, C6, 80, 40000, SYNACK, 63))],
        ),
        case(
            "NAT v6 UDP in",
            vec![],
            ("wan0", v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 53, 64)),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    v6_udp(LAN, real_mac(11), C6, r6(11), 5000, 5353, 63),
                )]
            },
        ),
        case(
            "NAT v6 UDP out",
            vec![("wan0", v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 53, 64))],
            (
                "lan0",
                v6_udp(real_mac(11), LAN, r6(11), C6, 5353, 5000, 64),
            ),
            Verdict::Send,
            |_| vec![("wan0", v6_udp(WAN, C6_MAC, VIP6, C6, 53, 5000, 63))],
        ),
        case(
            "FULLNAT v6 TCP in",
            vec![],
            syn6(81, 40000),
            Verdict::Send,
            |lab| {
                let lp = lport(lab, 40000);
                vec![(
                    "lan0",
                    v6_tcp(LAN, real_mac(12), LADDR6, r6(12), lp, 8080, SYN, 63),
                )]
            },
        ),
        case_with(
            "FULLNAT v6 TCP out",
            vec![syn6(81, 40000)],
            |lab| {
                (
                    "lan0",
                    v6_tcp(
                        real_mac(12),
                        LAN,
                        r6(12),
                        LADDR6,
                        8080,
                        lport(lab, 40000),
                        SYNACK,
                        64,
                    ),
                )
            },
            |_| vec![("wan0", v6_tcp(WAN, C6_MAC, VIP6, C6, 81, 40000, SYNACK, 63))],
        ),
        case(
            "FULLNAT v6 UDP in",
            vec![],
            ("wan0", v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 54, 64)),
            Verdict::Send,
            |lab| {
                vec![(
                    "lan0",
                    v6_udp(LAN, real_mac(12), LADDR6, r6(12), lport(lab, 5000), 53, 63),
                )]
            },
        ),
        case_with(
            "FULLNAT v6 UDP out",
            vec![("wan0", v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 54, 64))],
            |lab| {
                (
                    "lan0",
                    v6_udp(real_mac(12), LAN, r6(12), LADDR6, 53, lport(lab, 5000), 64),
                )
            },
            |_| vec![("wan0", v6_udp(WAN, C6_MAC, VIP6, C6, 54, 5000, 63))],
        ),
        case(
            "DR v6 UDP: only the MACs change",
            vec![],
            ("wan0", v6_udp(C6_MAC, WAN, C6, VIP6, 5000, 82, 64)),
            Verdict::Send,
            |_| vec![("lan0", v6_udp(LAN, real_mac(13), C6, VIP6, 5000, 82, 64))],
        ),
        case(
            "TUN v6 TCP: IPv6-in-IPv6 toward the real",
            vec![],
            syn6(83, 40000),
            Verdict::Send,
            |_| {
                let inner = ip_of(&syn6(83, 40000).1);
                vec![(
                    "lan0",
                    v6_tunnel(LAN, real_mac(14), LAN6, r6(14), 64, &inner),
                )]
            },
        ),
    ]
}

fn icmp_errors() -> Vec<Case> {
    vec![
        case(
            "ICMP port unreachable from a NAT real goes back to the client, quote translated",
            vec![syn4(80, 40001)],
            ("lan0", {
                let fwd = v4_tcp(LAN, real_mac(11), C1, r4(11), 40001, 8080, SYN, 63);
                v4_icmp_error(
                    real_mac(11),
                    LAN,
                    r4(11),
                    C1,
                    64,
                    port_unreachable(),
                    &quote(&fwd, 20),
                )
            }),
            Verdict::Send,
            |_| {
                let as_sent = v4_tcp(GW, WAN, C1, VIP, 40001, 80, SYN, 63);
                vec![(
                    "wan0",
                    v4_icmp_error(
                        WAN,
                        GW,
                        VIP,
                        C1,
                        63,
                        port_unreachable(),
                        &quote(&as_sent, 20),
                    ),
                )]
            },
        ),
        case(
            "Fragmentation needed from a client-side router about a FULLNAT reply reaches the real",
            vec![syn4(81, 40002)],
            ("wan0", {
                let reply = v4_tcp(WAN, GW, VIP, C1, 81, 40002, SYNACK, 63);
                v4_icmp_error(
                    GW,
                    WAN,
                    ROUTER,
                    VIP,
                    64,
                    frag_needed(1400),
                    &quote(&reply, 20),
                )
            }),
            Verdict::Send,
            |lab| {
                let lp = lport(lab, 40002);
                let as_sent = v4_tcp(real_mac(12), LAN, r4(12), LADDR, 8080, lp, SYNACK, 63);
                vec![(
                    "lan0",
                    v4_icmp_error(
                        LAN,
                        real_mac(12),
                        LADDR,
                        r4(12),
                        63,
                        frag_needed(1400),
                        &quote(&as_sent, 20),
                    ),
                )]
            },
        ),
        case(
            "ICMPv6 port unreachable from a NAT real goes back to the client",
            vec![syn6(80, 40003)],
            ("lan0", {
                let fwd = v6_tcp(LAN, real_mac(11), C6, r6(11), 40003, 8080, SYN, 63);
                v6_icmp(
                    real_mac(11),
                    LAN,
                    r6(11),
                    C6,
                    64,
                    v6_port_unreachable(),
                    &quote(&fwd, 40),
                )
            }),
            Verdict::Send,
            |_| {
                let as_sent = v6_tcp(C6_MAC, WAN, C6, VIP6, 40003, 80, SYN, 63);
                vec![(
                    "wan0",
                    v6_icmp(
                        WAN,
                        C6_MAC,
                        VIP6,
                        C6,
                        63,
                        v6_port_unreachable(),
                        &quote(&as_sent, 40),
                    ),
                )]
            },
        ),
        case(
            "ICMPv6 packet too big from the client about a NAT reply reaches the real",
            vec![syn6(80, 40004)],
            ("wan0", {
                let reply = v6_tcp(WAN, C6_MAC, VIP6, C6, 80, 40004, SYNACK, 63);
                v6_icmp(C6_MAC, WAN, C6, VIP6, 64, too_big(1280), &quote(&reply, 40))
            }),
            Verdict::Send,
            |_| {
                let as_sent = v6_tcp(real_mac(11), LAN, r6(11), C6, 8080, 40004, SYNACK, 63);
                vec![(
                    "lan0",
                    v6_icmp(
                        LAN,
                        real_mac(11),
                        C6,
                        r6(11),
                        63,
                        too_big(1280),
                        &quote(&as_sent, 40),
                    ),
                )]
            },
        ),
    ]
}

fn duties() -> Vec<Case> {
    let r20_mac: Mac = [2, 0, 0, 0, 1, 0x20];
    vec![
        case(
            "ARP request for the VIP is answered",
            vec![],
            ("wan0", arp(1, GW, BCAST, (GW, GW_IP), (ZERO_MAC, VIP))),
            Verdict::Send,
            |_| vec![("wan0", arp(2, WAN, GW, (WAN, VIP), (GW, GW_IP)))],
        ),
        case(
            "ARP request for a FULLNAT local address is answered on lan0",
            vec![],
            (
                "lan0",
                arp(
                    1,
                    real_mac(12),
                    BCAST,
                    (real_mac(12), r4(12)),
                    (ZERO_MAC, LADDR),
                ),
            ),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    arp(2, LAN, real_mac(12), (LAN, LADDR), (real_mac(12), r4(12))),
                )]
            },
        ),
        case(
            "ARP request for the director's own address is answered",
            vec![],
            (
                "wan0",
                arp(1, GW, BCAST, (GW, GW_IP), (ZERO_MAC, [10, 0, 0, 1])),
            ),
            Verdict::Send,
            |_| vec![("wan0", arp(2, WAN, GW, (WAN, [10, 0, 0, 1]), (GW, GW_IP)))],
        ),
        case(
            "A next hop without a MAC is asked for with an ARP request; the packet waits",
            vec![],
            syn4(86, 40000),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    arp(1, LAN, BCAST, (LAN, LAN_IP), (ZERO_MAC, r4(20))),
                )]
            },
        ),
        case(
            "The ARP reply releases the waiting packet",
            vec![syn4(86, 40000)],
            (
                "lan0",
                arp(2, r20_mac, LAN, (r20_mac, r4(20)), (LAN, LAN_IP)),
            ),
            Verdict::Send,
            |_| {
                vec![(
                    "lan0",
                    v4_tcp(LAN, [2, 0, 0, 0, 1, 0x20], C1, r4(20), 40000, 86, SYN, 63),
                )]
            },
        ),
        case(
            "ICMP echo to the VIP is answered",
            vec![],
            ("wan0", v4_echo(GW, WAN, C1, VIP, 60, true)),
            Verdict::Send,
            |_| vec![("wan0", v4_echo(WAN, GW, VIP, C1, 64, false))],
        ),
        case(
            "ICMPv6 echo to the director's address is answered",
            vec![],
            ("wan0", v6_echo(C6_MAC, WAN, C6, WAN6, 60, true)),
            Verdict::Send,
            |_| vec![("wan0", v6_echo(WAN, C6_MAC, WAN6, C6, 64, false))],
        ),
        case(
            "Neighbour solicitation for the IPv6 VIP is answered",
            vec![],
            ("wan0", v6_ns(C6_MAC, C6, VIP6)),
            Verdict::Send,
            |_| vec![("wan0", v6_na(WAN, C6_MAC, VIP6, C6))],
        ),
    ]
}

fn drops() -> Vec<Case> {
    let queue: Vec<_> = (0..16).map(|i| syn4(86, 41000 + i)).collect();
    // A fragment that would end past 65,535 bytes cannot be one.
    let mut fragment = v4_udp(GW, WAN, C1, VIP, 5000, 53, 64);
    fragment[14 + 6..14 + 8].copy_from_slice(&0x3fffu16.to_be_bytes()); // MF, offset 65528
    let mut lldp = v4_udp(GW, WAN, C1, VIP, 5000, 53, 64);
    lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
    vec![
        drop_case(
            "A truncated frame is malformed",
            vec![],
            ("wan0", syn4(80, 40000).1[..30].to_vec()),
            DropReason::Malformed,
        ),
        drop_case(
            "LLDP is not handled",
            vec![],
            ("wan0", lldp),
            DropReason::UnsupportedProtocol,
        ),
        drop_case(
            "TCP to an address that is not ours",
            vec![],
            (
                "wan0",
                v4_tcp(GW, WAN, C1, [10, 0, 0, 77], 40000, 80, SYN, 64),
            ),
            DropReason::NotForUs,
        ),
        drop_case(
            "ARP for an address that is not ours",
            vec![],
            (
                "wan0",
                arp(1, GW, BCAST, (GW, GW_IP), (ZERO_MAC, [10, 0, 0, 77])),
            ),
            DropReason::NotForUs,
        ),
        drop_case(
            "ICMP echo to someone else",
            vec![],
            ("wan0", v4_echo(GW, WAN, C1, [10, 0, 0, 77], 64, true)),
            DropReason::NotForUs,
        ),
        drop_case(
            "A VIP port without a service",
            vec![],
            syn4(9999, 40000),
            DropReason::NoService,
        ),
        case(
            "A service whose only real is quiesced: port unreachable, as IPVS's ip_vs_leave",
            vec![],
            syn4(84, 40000),
            Verdict::Drop(DropReason::NoReal),
            |_| {
                let syn = syn4(84, 40000).1;
                vec![(
                    "wan0",
                    v4_icmp_error(WAN, GW, VIP, C1, 64, port_unreachable(), &ip_of(&syn)),
                )]
            },
        ),
        drop_case(
            "A mid-stream ACK with no connection",
            vec![],
            ("wan0", v4_tcp(GW, WAN, C1, VIP, 40000, 80, ACK, 64)),
            DropReason::NoConnection,
        ),
        drop_case(
            "TTL 1 cannot be forwarded",
            vec![],
            ("wan0", v4_tcp(GW, WAN, C1, VIP, 40000, 80, SYN, 1)),
            DropReason::TtlExceeded,
        ),
        drop_case(
            "A real with no route",
            vec![],
            syn6(85, 40000),
            DropReason::NoRoute,
        ),
        drop_case(
            "The 17th packet waiting for one neighbour",
            queue,
            syn4(86, 42000),
            DropReason::NeighborQueueFull,
        ),
        case(
            "TUN: a DF packet that no longer fits is dropped and its sender told the MTU",
            vec![],
            ("wan0", tcp4_big(83)),
            Verdict::Drop(DropReason::TooBig),
            |_| {
                let quoted = &ip_of(&tcp4_big(83))[..576 - 28];
                vec![(
                    "wan0",
                    v4_icmp_error(WAN, GW, VIP, C1, 64, frag_needed(1480), quoted),
                )]
            },
        ),
        case(
            "TUN v6: a packet that no longer fits is dropped and its sender told the MTU",
            vec![],
            ("wan0", tcp6_big(83)),
            Verdict::Drop(DropReason::TooBig),
            |_| {
                let quoted = &ip_of(&tcp6_big(83))[..1280 - 48];
                vec![(
                    "wan0",
                    v6_icmp(WAN, C6_MAC, VIP6, C6, 64, too_big(1460), quoted),
                )]
            },
        ),
        drop_case(
            "An ICMP error about no known connection",
            vec![],
            ("lan0", {
                let unknown = v4_tcp(LAN, real_mac(11), C2, r4(11), 1, 2, SYN, 63);
                v4_icmp_error(
                    real_mac(11),
                    LAN,
                    r4(11),
                    C2,
                    64,
                    port_unreachable(),
                    &quote(&unknown, 20),
                )
            }),
            DropReason::IcmpNoConnection,
        ),
        drop_case(
            "An IPv4 fragment ending past 65,535 bytes",
            vec![],
            ("wan0", fragment),
            DropReason::Malformed,
        ),
        drop_case(
            "A SYN from a broadcast source",
            vec![],
            ("wan0", v4_tcp(GW, WAN, [255; 4], VIP, 40000, 80, SYN, 64)),
            DropReason::MartianSource,
        ),
        drop_case(
            "LAND: a SYN from the VIP to itself",
            vec![],
            ("wan0", v4_tcp(GW, WAN, VIP, VIP, 80, 80, SYN, 64)),
            DropReason::OwnSource,
        ),
    ]
}
