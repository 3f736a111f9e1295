//! Frames for the fixtures, built and checked with etherparse (independent of rvs).

use etherparse::{
    icmpv4, icmpv6, IcmpEchoHeader, Icmpv4Type, Icmpv6Type, IpHeaders, IpNumber, NetSlice,
    PacketBuilder, PacketBuilderStep, SlicedPacket, TransportSlice,
};

/// A MAC address.
pub type Mac = [u8; 6];

/// The gateway in front of the director (wan0's default next hop).
pub const GW: Mac = [2, 0, 0, 0, 0, 0xfe];
/// The director on wan0.
pub const WAN: Mac = [2, 0, 0, 0, 0, 1];
/// The director on lan0.
pub const LAN: Mac = [2, 0, 0, 0, 0, 2];
/// An on-link IPv6 client's MAC.
pub const C6_MAC: Mac = [2, 0, 0, 0, 0, 0xc1];

/// Real server `10.1.0.h` / `2001:db8:1::h` has MAC `02:00:00:00:01:hh` (h in hex digits).
pub const fn real_mac(h: u8) -> Mac {
    [2, 0, 0, 0, 1, (h / 10) * 16 + h % 10]
}

/// Clients (behind the gateway).
pub const C1: [u8; 4] = [198, 51, 100, 10];
/// A second client.
pub const C2: [u8; 4] = [198, 51, 100, 20];
/// The IPv4 VIP.
pub const VIP: [u8; 4] = [10, 0, 0, 100];
/// The director's lan0 address.
pub const LAN_IP: [u8; 4] = [10, 1, 0, 1];
/// The IPv4 FULLNAT local address.
pub const LADDR: [u8; 4] = [10, 1, 0, 2];
/// A router on the client side.
pub const ROUTER: [u8; 4] = [203, 0, 113, 1];

/// `10.1.0.h`.
pub const fn r4(h: u8) -> [u8; 4] {
    [10, 1, 0, h]
}

/// An IPv6 address from its last 16 bits under a /48 (`2001:db8:n::h`).
pub const fn v6(n: u16, h: u16) -> [u8; 16] {
    let n = n.to_be_bytes();
    let h = h.to_be_bytes();
    [
        0x20, 0x01, 0x0d, 0xb8, n[0], n[1], 0, 0, 0, 0, 0, 0, 0, 0, h[0], h[1],
    ]
}

/// The on-link IPv6 client `2001:db8::c1`.
pub const C6: [u8; 16] = v6(0, 0xc1);
/// The IPv6 VIP `2001:db8::100`.
pub const VIP6: [u8; 16] = v6(0, 0x100);
/// The director's IPv6 address on wan0.
pub const WAN6: [u8; 16] = v6(0, 1);
/// The director's IPv6 address on lan0.
pub const LAN6: [u8; 16] = v6(1, 1);
/// The IPv6 FULLNAT local address.
pub const LADDR6: [u8; 16] = v6(1, 2);

/// `2001:db8:1::h` (h written as in the IPv4 plan: 0x11 for "11").
pub const fn r6(h: u8) -> [u8; 16] {
    v6(1, ((h / 10) * 16 + h % 10) as u16)
}

/// TCP flags.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    syn: bool,
    ack: bool,
}

/// SYN.
pub const SYN: Flags = Flags {
    syn: true,
    ack: false,
};
/// SYN+ACK.
pub const SYNACK: Flags = Flags {
    syn: true,
    ack: true,
};
/// ACK.
pub const ACK: Flags = Flags {
    syn: false,
    ack: true,
};

/// The TCP segment (payload "hello") after an IP builder step.
fn tcp_frame(b: PacketBuilderStep<IpHeaders>, sport: u16, dport: u16, f: Flags) -> Vec<u8> {
    let mut t = b.tcp(sport, dport, 1000, 64240);
    if f.syn {
        t = t.syn();
    }
    if f.ack {
        t = t.ack(7);
    }
    let mut out = Vec::new();
    t.write(&mut out, b"hello").expect("tcp");
    out
}

/// TCP over IPv4.
#[allow(clippy::too_many_arguments)]
pub fn v4_tcp(
    sm: Mac,
    dm: Mac,
    s: [u8; 4],
    d: [u8; 4],
    sp: u16,
    dp: u16,
    f: Flags,
    ttl: u8,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(sm, dm).ipv4(s, d, ttl);
    tcp_frame(b, sp, dp, f)
}

/// TCP over IPv6.
#[allow(clippy::too_many_arguments)]
pub fn v6_tcp(
    sm: Mac,
    dm: Mac,
    s: [u8; 16],
    d: [u8; 16],
    sp: u16,
    dp: u16,
    f: Flags,
    hl: u8,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(sm, dm).ipv6(s, d, hl);
    tcp_frame(b, sp, dp, f)
}

/// UDP over IPv4.
pub fn v4_udp(sm: Mac, dm: Mac, s: [u8; 4], d: [u8; 4], sp: u16, dp: u16, ttl: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sm, dm)
        .ipv4(s, d, ttl)
        .udp(sp, dp)
        .write(&mut out, b"datagram")
        .expect("udp");
    out
}

/// UDP over IPv6.
pub fn v6_udp(sm: Mac, dm: Mac, s: [u8; 16], d: [u8; 16], sp: u16, dp: u16, hl: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sm, dm)
        .ipv6(s, d, hl)
        .udp(sp, dp)
        .write(&mut out, b"datagram")
        .expect("udp");
    out
}

/// The IP packet of a frame (Ethernet header removed).
pub fn ip_of(frame: &[u8]) -> Vec<u8> {
    frame[14..].to_vec()
}

/// What an ICMP error quotes of a packet: its IP header and the first 8 bytes after it.
pub fn quote(frame: &[u8], ip_header_len: usize) -> Vec<u8> {
    frame[14..14 + ip_header_len + 8].to_vec()
}

/// An ICMP error over IPv4 quoting `quoted`.
pub fn v4_icmp_error(
    sm: Mac,
    dm: Mac,
    s: [u8; 4],
    d: [u8; 4],
    ttl: u8,
    t: Icmpv4Type,
    quoted: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sm, dm)
        .ipv4(s, d, ttl)
        .icmpv4(t)
        .write(&mut out, quoted)
        .expect("icmp");
    out
}

/// Port unreachable.
pub fn port_unreachable() -> Icmpv4Type {
    Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port)
}

/// Fragmentation needed with a next-hop MTU.
pub fn frag_needed(mtu: u16) -> Icmpv4Type {
    Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::FragmentationNeeded {
        next_hop_mtu: mtu,
    })
}

/// An ICMPv6 message over IPv6.
pub fn v6_icmp(
    sm: Mac,
    dm: Mac,
    s: [u8; 16],
    d: [u8; 16],
    hl: u8,
    t: Icmpv6Type,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sm, dm)
        .ipv6(s, d, hl)
        .icmpv6(t)
        .write(&mut out, payload)
        .expect("icmpv6");
    out
}

/// ICMPv6 destination unreachable, port unreachable.
pub fn v6_port_unreachable() -> Icmpv6Type {
    Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port)
}

/// ICMPv6 packet too big.
pub fn too_big(mtu: u32) -> Icmpv6Type {
    Icmpv6Type::PacketTooBig { mtu }
}

/// An ICMP echo request (IPv4).
pub fn v4_echo(sm: Mac, dm: Mac, s: [u8; 4], d: [u8; 4], ttl: u8, request: bool) -> Vec<u8> {
    let echo = IcmpEchoHeader { id: 0x1234, seq: 7 };
    let t = if request {
        Icmpv4Type::EchoRequest(echo)
    } else {
        Icmpv4Type::EchoReply(echo)
    };
    v4_icmp_error(sm, dm, s, d, ttl, t, b"ping-data")
}

/// An ICMPv6 echo request or reply.
pub fn v6_echo(sm: Mac, dm: Mac, s: [u8; 16], d: [u8; 16], hl: u8, request: bool) -> Vec<u8> {
    let echo = IcmpEchoHeader { id: 0x1234, seq: 7 };
    let t = if request {
        Icmpv6Type::EchoRequest(echo)
    } else {
        Icmpv6Type::EchoReply(echo)
    };
    v6_icmp(sm, dm, s, d, hl, t, b"ping-data")
}

/// A neighbour solicitation for `target` (to its solicited-node address).
pub fn v6_ns(sm: Mac, s: [u8; 16], target: [u8; 16]) -> Vec<u8> {
    let snm = [
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target[13], target[14], target[15],
    ];
    let dm = [0x33, 0x33, 0xff, target[13], target[14], target[15]];
    let mut payload = target.to_vec();
    payload.extend_from_slice(&[1, 1]);
    payload.extend_from_slice(&sm);
    let t = Icmpv6Type::Unknown {
        type_u8: 135,
        code_u8: 0,
        bytes5to8: [0; 4],
    };
    v6_icmp(sm, dm, s, snm, 255, t, &payload)
}

/// The solicited advertisement for `target` at `mac`, sent to `dst` / `dm`.
pub fn v6_na(mac: Mac, dm: Mac, target: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
    let mut payload = target.to_vec();
    payload.extend_from_slice(&[2, 1]);
    payload.extend_from_slice(&mac);
    let t = Icmpv6Type::Unknown {
        type_u8: 136,
        code_u8: 0,
        bytes5to8: [0x60, 0, 0, 0],
    };
    v6_icmp(mac, dm, target, dst, 255, t, &payload)
}

/// An ARP packet (op 1 request, 2 reply), hand-built: 14 + 28 bytes.
pub fn arp(op: u16, sm: Mac, dm: Mac, sender: (Mac, [u8; 4]), target: (Mac, [u8; 4])) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&dm);
    f.extend_from_slice(&sm);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&sender.1);
    f.extend_from_slice(&target.0);
    f.extend_from_slice(&target.1);
    f
}

/// IPIP (protocol 4): `inner` (an IPv4 packet) inside an outer IPv4 header with the given
/// TTL, as etherparse builds it.
pub fn v4_tunnel(sm: Mac, dm: Mac, s: [u8; 4], d: [u8; 4], ttl: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sm, dm)
        .ipv4(s, d, ttl)
        .write(&mut out, IpNumber::IPV4, inner)
        .expect("ipip");
    out
}

/// IPv6-in-IPv6 (next header 41).
pub fn v6_tunnel(sm: Mac, dm: Mac, s: [u8; 16], d: [u8; 16], hl: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sm, dm)
        .ipv6(s, d, hl)
        .write(&mut out, IpNumber::IPV6, inner)
        .expect("ip6ip6");
    out
}

/// Re-parse an output frame with etherparse and verify every checksum it carries.
pub fn check_frame(frame: &[u8]) -> Result<(), String> {
    if frame.len() >= 14 && frame[12..14] == [0x08, 0x06] {
        return (frame.len() >= 42).then_some(()).ok_or("short ARP".into());
    }
    let p = SlicedPacket::from_ethernet(frame).map_err(|e| format!("etherparse: {e}"))?;
    let (src, dst): (Vec<u8>, Vec<u8>) = match p.net.as_ref().ok_or("no IP")? {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            if h.to_header().calc_header_checksum() != h.header_checksum() {
                return Err("bad IPv4 header checksum".into());
            }
            (h.source().to_vec(), h.destination().to_vec())
        }
        NetSlice::Ipv6(v6) => (
            v6.header().source().to_vec(),
            v6.header().destination().to_vec(),
        ),
    };
    let ok = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let want = if src.len() == 4 {
                t.calc_checksum_ipv4(src[..].try_into().unwrap(), dst[..].try_into().unwrap())
            } else {
                t.calc_checksum_ipv6(src[..].try_into().unwrap(), dst[..].try_into().unwrap())
            };
            want.map_err(|e| e.to_string())? == t.checksum()
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            let want = if src.len() == 4 {
                h.calc_checksum_ipv4_raw(
                    src[..].try_into().unwrap(),
                    dst[..].try_into().unwrap(),
                    u.payload(),
                )
            } else {
                h.calc_checksum_ipv6_raw(
                    src[..].try_into().unwrap(),
                    dst[..].try_into().unwrap(),
                    u.payload(),
                )
            };
            want.map_err(|e| e.to_string())? == u.checksum()
        }
        Some(TransportSlice::Icmpv4(i)) => i.icmp_type().calc_checksum(i.payload()) == i.checksum(),
        Some(TransportSlice::Icmpv6(i)) => {
            i.icmp_type()
                .calc_checksum(
                    src[..].try_into().unwrap(),
                    dst[..].try_into().unwrap(),
                    i.payload(),
                )
                .map_err(|e| e.to_string())?
                == i.checksum()
        }
        None => true, // a tunnel: its inner packet is compared byte for byte
    };
    ok.then_some(()).ok_or("bad L4 checksum".into())
}

/// Hex dump for failure messages.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
