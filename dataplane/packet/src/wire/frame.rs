//! The per-packet summary parser: one pass over a frame into a `Copy` [`FrameInfo`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_conntrack::{ConnKey, Proto, TcpFlags};

use super::ipv6::walk_ext;
use super::{array, be16, ethertype, icmpv4, icmpv6, ip_proto, tcp};
use super::{
    EthernetFrame, Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
};
use crate::drop::DropReason;

/// IP version of a parsed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// What a parsed frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Length of the Ethernet header, VLAN tag included: the offset of the L3 header.
    pub l2_len: usize,
    /// The 802.1Q tag control information, when tagged.
    pub vlan_tci: Option<u16>,
    /// The payload EtherType (past the tag).
    pub ethertype: u16,
    /// The IP summary, for IPv4 and IPv6 frames (`None` for ARP and anything else).
    pub ip: Option<IpInfo>,
}

/// Summary of an IP packet. All offsets are from the start of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// IPv4 or IPv6.
    pub version: IpVersion,
    /// Offset of the IP header.
    pub l3_offset: usize,
    /// Length of the IP packet as its header says (header, extensions and payload; any
    /// Ethernet padding after it excluded).
    pub l3_len: usize,
    /// Offset of the upper-layer header (past IPv4 options / IPv6 extension headers).
    pub l4_offset: usize,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 type of service or IPv6 traffic class.
    pub tos: u8,
    /// Bytes from `l4_offset` to the end of the IP packet.
    pub payload_len: usize,
    /// The packet may not be fragmented on its path: the IPv4 DF bit; always true for IPv6.
    pub dont_frag: bool,
    /// The packet is a fragment (IPv4 MF or offset, or an IPv6 fragment header).
    pub is_fragment: bool,
    /// A fragment other than the first: it has no L4 header and `l4` is [`L4Info::Other`].
    pub non_first_fragment: bool,
    /// The fragment identification (IPv4's 16 bits, or the IPv6 fragment header's 32),
    /// when `is_fragment`; 0 otherwise.
    pub frag_id: u32,
    /// The upper layer.
    pub l4: L4Info,
}

/// The upper layer of a parsed IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Info {
    /// TCP.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Flags byte (see [`super::tcp`] constants).
        flags: u8,
    },
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP or ICMPv6 echo request / reply.
    IcmpEcho {
        /// True for a request, false for a reply.
        request: bool,
        /// Echo identifier.
        ident: u16,
    },
    /// ICMP or ICMPv6 error quoting a packet (destination unreachable, fragmentation
    /// needed / packet too big, time exceeded, parameter problem, source quench).
    IcmpError {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
        /// The quoted packet.
        quoted: Quoted,
    },
    /// Any other ICMP / ICMPv6 message (neighbour discovery among them).
    Icmp {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
    /// IPIP or IPv6-in-IP: a whole IP packet starts at `l4_offset` (see [`parse_ip`]).
    Tunnel,
    /// A non-first fragment, or a protocol not parsed further.
    Other,
}

/// The packet an ICMP error quotes. Offsets are from the start of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Offset of the quoted IP header.
    pub l3_offset: usize,
    /// Offset of the quoted upper-layer header.
    pub l4_offset: usize,
    /// Bytes of the quoted upper layer present (often truncated).
    pub l4_len: usize,
    /// Quoted protocol (TCP, UDP, or ICMP/ICMPv6 echo).
    pub protocol: u8,
    /// Quoted source address.
    pub src: IpAddr,
    /// Quoted destination address.
    pub dst: IpAddr,
    /// Quoted source port (echo: the identifier for a request, 0 for a reply).
    pub sport: u16,
    /// Quoted destination port (echo: 0 for a request, the identifier for a reply).
    pub dport: u16,
}

/// Connection-table protocol of an IP protocol number, for the protocols tracked.
fn conn_proto(protocol: u8) -> Option<Proto> {
    match protocol {
        ip_proto::TCP => Some(Proto::Tcp),
        ip_proto::UDP => Some(Proto::Udp),
        ip_proto::ICMP | ip_proto::ICMPV6 => Some(Proto::Icmp),
        _ => None,
    }
}

/// Echo "ports": the requester's side carries the identifier, the responder's side 0.
const fn echo_ports(request: bool, ident: u16) -> (u16, u16) {
    if request {
        (ident, 0)
    } else {
        (0, ident)
    }
}

impl IpInfo {
    /// The connection key of this packet, for TCP, UDP and echo (ports as in
    /// [`Quoted::sport`]); `None` for anything else, ICMP errors included (use
    /// [`Quoted::conn_key`]).
    pub fn conn_key(&self) -> Option<ConnKey> {
        let (proto, sport, dport) = match self.l4 {
            L4Info::Tcp { sport, dport, .. } => (Proto::Tcp, sport, dport),
            L4Info::Udp { sport, dport } => (Proto::Udp, sport, dport),
            L4Info::IcmpEcho { request, ident } => {
                let (s, d) = echo_ports(request, ident);
                (Proto::Icmp, s, d)
            }
            _ => return None,
        };
        Some(ConnKey {
            proto,
            src: self.src,
            sport,
            dst: self.dst,
            dport,
        })
    }

    /// The TCP flags the state machine looks at (all clear for other protocols).
    pub fn tcp_flags(&self) -> TcpFlags {
        match self.l4 {
            L4Info::Tcp { flags, .. } => TcpFlags {
                syn: flags & tcp::SYN != 0,
                ack: flags & tcp::ACK != 0,
                fin: flags & tcp::FIN != 0,
                rst: flags & tcp::RST != 0,
            },
            _ => TcpFlags::default(),
        }
    }
}

impl Quoted {
    /// The key of the quoted packet as it travelled (not reversed).
    pub fn conn_key(&self) -> Option<ConnKey> {
        Some(ConnKey {
            proto: conn_proto(self.protocol)?,
            src: self.src,
            sport: self.sport,
            dst: self.dst,
            dport: self.dport,
        })
    }
}

/// Parse an Ethernet frame (one optional 802.1Q tag) and, for IPv4/IPv6, its IP packet,
/// which must be of the EtherType's family. ARP and other EtherTypes return with
/// `ip: None`. Never allocates, never panics.
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<FrameInfo, DropReason> {
    let eth = EthernetFrame::new_checked(frame)?;
    let l2_len = eth.header_len();
    let et = eth.ethertype();
    // The EtherType decides the family: an IPv6 packet behind 0x0800 (or the reverse) is
    // malformed, not parsed by its version nibble as `parse_ip` would.
    let ip = match et {
        ethertype::IPV4 => Some(parse_v4(frame, l2_len)?),
        ethertype::IPV6 => Some(parse_v6(frame, l2_len)?),
        _ => None,
    };
    Ok(FrameInfo {
        l2_len,
        vlan_tci: eth.vlan_tci(),
        ethertype: et,
        ip,
    })
}

/// Parse the IP packet starting at `l3_offset` of `frame` (the version nibble decides the
/// family). Used by [`parse_frame`], and for the inner packet of a tunnel.
#[inline]
pub fn parse_ip(frame: &[u8], l3_offset: usize) -> Result<IpInfo, DropReason> {
    let b = frame.get(l3_offset..).ok_or(DropReason::Malformed)?;
    match b.first().map(|v| v >> 4) {
        Some(4) => parse_v4(frame, l3_offset),
        Some(6) => parse_v6(frame, l3_offset),
        _ => Err(DropReason::Malformed),
    }
}

/// Parse the IPv4 packet at `l3` of `frame` (inlined: see the note on [`parse_l4`]).
#[inline]
fn parse_v4(frame: &[u8], l3: usize) -> Result<IpInfo, DropReason> {
    let ip = Ipv4Packet::new_checked(&frame[l3..])?;
    let hl = ip.header_len();
    let l3_len = usize::from(ip.total_len());
    let frag_off = ip.frag_offset();
    let is_fragment = ip.more_frags() || frag_off != 0;
    let l4_offset = l3 + hl;
    let end = l3 + l3_len;
    let protocol = ip.protocol();
    let l4 = if frag_off != 0 {
        L4Info::Other
    } else {
        parse_l4(frame, IpVersion::V4, protocol, l4_offset, end, is_fragment)?
    };
    Ok(IpInfo {
        version: IpVersion::V4,
        l3_offset: l3,
        l3_len,
        l4_offset,
        protocol,
        src: IpAddr::V4(ip.src()),
        dst: IpAddr::V4(ip.dst()),
        ttl: ip.ttl(),
        tos: ip.tos(),
        payload_len: end - l4_offset,
        dont_frag: ip.dont_frag(),
        is_fragment,
        non_first_fragment: frag_off != 0,
        frag_id: if is_fragment {
            u32::from(ip.ident())
        } else {
            0
        },
        l4,
    })
}

/// Parse the IPv6 packet at `l3` of `frame`, extension headers walked.
#[inline]
fn parse_v6(frame: &[u8], l3: usize) -> Result<IpInfo, DropReason> {
    let ip = Ipv6Packet::new_checked(&frame[l3..])?;
    let up = ip.upper_layer()?;
    let l3_len = 40 + usize::from(ip.payload_len());
    let l4_offset = l3 + up.offset;
    let end = l3 + l3_len;
    let non_first = up.frag_offset != 0;
    let l4 = if non_first {
        L4Info::Other
    } else {
        parse_l4(
            frame,
            IpVersion::V6,
            up.protocol,
            l4_offset,
            end,
            up.fragmented,
        )?
    };
    Ok(IpInfo {
        version: IpVersion::V6,
        l3_offset: l3,
        l3_len,
        l4_offset,
        protocol: up.protocol,
        src: IpAddr::V6(ip.src()),
        dst: IpAddr::V6(ip.dst()),
        ttl: ip.hop_limit(),
        tos: ip.traffic_class(),
        payload_len: end - l4_offset,
        dont_frag: true,
        is_fragment: up.fragmented,
        non_first_fragment: non_first,
        frag_id: up.frag_ident,
        l4,
    })
}

/// Parse the upper layer in `frame[l4..end]`. `first_fragment`: the packet is the first of
/// several fragments, so a UDP length may exceed what is present.
///
/// Always inlined: returned out of line, the large [`L4Info`] went through memory and a
/// copy that cost parse_frame about a third of its time (criterion, `parse_frame/tcp_v4`).
#[inline(always)]
fn parse_l4(
    frame: &[u8],
    version: IpVersion,
    protocol: u8,
    l4: usize,
    end: usize,
    first_fragment: bool,
) -> Result<L4Info, DropReason> {
    let seg = &frame[l4..end];
    Ok(match (protocol, version) {
        (ip_proto::TCP, _) => {
            let t = TcpPacket::new_checked(seg)?;
            L4Info::Tcp {
                sport: t.src_port(),
                dport: t.dst_port(),
                flags: t.flags(),
            }
        }
        (ip_proto::UDP, _) => {
            if first_fragment {
                if seg.len() < UdpPacket::<&[u8]>::HEADER_LEN {
                    return Err(DropReason::Malformed);
                }
                L4Info::Udp {
                    sport: be16(seg, 0),
                    dport: be16(seg, 2),
                }
            } else {
                let u = UdpPacket::new_checked(seg)?;
                // A zero checksum means "none": legal over IPv4, forbidden over IPv6
                // (RFC 8200 section 8.1), where no rewrite could update it correctly.
                if version == IpVersion::V6 && u.checksum() == 0 {
                    return Err(DropReason::Malformed);
                }
                L4Info::Udp {
                    sport: u.src_port(),
                    dport: u.dst_port(),
                }
            }
        }
        (ip_proto::ICMP, IpVersion::V4) => {
            let m = Icmpv4Packet::new_checked(seg)?;
            match m.msg_type() {
                icmpv4::ECHO_REQUEST | icmpv4::ECHO_REPLY => L4Info::IcmpEcho {
                    request: m.msg_type() == icmpv4::ECHO_REQUEST,
                    ident: m.echo_ident(),
                },
                t if icmpv4::is_error(t) => L4Info::IcmpError {
                    msg_type: t,
                    code: m.code(),
                    quoted: parse_quoted(frame, IpVersion::V4, l4 + 8, end)?,
                },
                t => L4Info::Icmp {
                    msg_type: t,
                    code: m.code(),
                },
            }
        }
        (ip_proto::ICMPV6, IpVersion::V6) => {
            let m = Icmpv6Packet::new_checked(seg)?;
            match m.msg_type() {
                icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => L4Info::IcmpEcho {
                    request: m.msg_type() == icmpv6::ECHO_REQUEST,
                    ident: m.echo_ident(),
                },
                t if icmpv6::is_error(t) => L4Info::IcmpError {
                    msg_type: t,
                    code: m.code(),
                    quoted: parse_quoted(frame, IpVersion::V6, l4 + 8, end)?,
                },
                t => L4Info::Icmp {
                    msg_type: t,
                    code: m.code(),
                },
            }
        }
        (ip_proto::IPIP | ip_proto::IPV6, _) => L4Info::Tunnel,
        _ => L4Info::Other,
    })
}

/// Parse the packet quoted by an ICMP error in `frame[q..end]`: an IP header of the same
/// family (possibly with a truncated payload) and at least 8 bytes of TCP, UDP or ICMP echo.
/// A quoted non-first fragment or another protocol is [`DropReason::UnsupportedProtocol`].
fn parse_quoted(
    frame: &[u8],
    version: IpVersion,
    q: usize,
    end: usize,
) -> Result<Quoted, DropReason> {
    let b = &frame[q..end];
    let (src, dst, protocol, l4_rel) = match version {
        IpVersion::V4 => {
            if b.len() < 20 || b[0] >> 4 != 4 {
                return Err(DropReason::Malformed);
            }
            let hl = usize::from(b[0] & 0x0f) * 4;
            if hl < 20 || hl > b.len() {
                return Err(DropReason::Malformed);
            }
            if be16(b, 6) & 0x1fff != 0 {
                return Err(DropReason::UnsupportedProtocol);
            }
            let src = IpAddr::V4(Ipv4Addr::from(array::<4>(b, 12)));
            let dst = IpAddr::V4(Ipv4Addr::from(array::<4>(b, 16)));
            (src, dst, b[9], hl)
        }
        IpVersion::V6 => {
            if b.len() < 40 || b[0] >> 4 != 6 {
                return Err(DropReason::Malformed);
            }
            let up = walk_ext(b, b[6], 40, b.len())?;
            if up.frag_offset != 0 {
                return Err(DropReason::UnsupportedProtocol);
            }
            let src = IpAddr::V6(Ipv6Addr::from(array::<16>(b, 8)));
            let dst = IpAddr::V6(Ipv6Addr::from(array::<16>(b, 24)));
            (src, dst, up.protocol, up.offset)
        }
    };
    let l4 = &b[l4_rel..];
    if l4.len() < 8 {
        return Err(DropReason::Malformed);
    }
    let (sport, dport) = match (protocol, version) {
        (ip_proto::TCP | ip_proto::UDP, _) => (be16(l4, 0), be16(l4, 2)),
        (ip_proto::ICMP, IpVersion::V4)
            if matches!(l4[0], icmpv4::ECHO_REQUEST | icmpv4::ECHO_REPLY) =>
        {
            echo_ports(l4[0] == icmpv4::ECHO_REQUEST, be16(l4, 4))
        }
        (ip_proto::ICMPV6, IpVersion::V6)
            if matches!(l4[0], icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY) =>
        {
            echo_ports(l4[0] == icmpv6::ECHO_REQUEST, be16(l4, 4))
        }
        _ => return Err(DropReason::UnsupportedProtocol),
    };
    Ok(Quoted {
        l3_offset: q,
        l4_offset: q + l4_rel,
        l4_len: l4.len(),
        protocol,
        src,
        dst,
        sport,
        dport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_frames::*;

    fn ip4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_v4_with_vlan_and_options() {
        let mut spec = Spec::v4_tcp().vlan().ttl(33);
        spec.v4_options = vec![1, 1, 1, 0];
        spec.padding = 4;
        let f = spec.build();
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            (info.l2_len, info.vlan_tci, info.ethertype),
            (18, Some(0x64), ethertype::IPV4)
        );
        let ip = info.ip.unwrap();
        assert_eq!(
            (ip.version, ip.l3_offset, ip.l4_offset, ip.protocol),
            (IpVersion::V4, 18, 18 + 24, 6)
        );
        assert_eq!(
            (ip.src, ip.dst, ip.ttl),
            (ip4("192.0.2.10"), ip4("10.0.0.100"), 33)
        );
        assert_eq!(ip.l3_len, 24 + 20 + spec.payload.len());
        assert_eq!(ip.payload_len, 20 + spec.payload.len(), "padding excluded");
        assert!(ip.dont_frag && !ip.is_fragment && !ip.non_first_fragment);
        assert_eq!(
            ip.l4,
            L4Info::Tcp {
                sport: 40000,
                dport: 80,
                flags: tcp::SYN
            }
        );
        assert_eq!(
            ip.tcp_flags(),
            TcpFlags {
                syn: true,
                ..Default::default()
            }
        );
        let k = ip.conn_key().unwrap();
        assert_eq!(
            (k.proto, k.src, k.sport, k.dst, k.dport),
            (Proto::Tcp, ip.src, 40000, ip.dst, 80)
        );
    }

    #[test]
    fn udp_v6_with_extension_headers() {
        let mut spec = Spec::v6_udp();
        spec.v6_exts = vec![
            (ip_proto::HOP_BY_HOP, vec![0, 0, 1, 4, 0, 0, 0, 0]),
            (
                ip_proto::ROUTING,
                vec![
                    0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
            (ip_proto::DST_OPTS, vec![0, 0, 1, 4, 0, 0, 0, 0]),
        ];
        let f = spec.build();
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        assert_eq!(
            (ip.version, ip.protocol, ip.l4_offset),
            (IpVersion::V6, 17, 14 + 40 + 40)
        );
        assert_eq!(
            ip.l4,
            L4Info::Udp {
                sport: 40000,
                dport: 53
            }
        );
        assert_eq!(ip.payload_len, 8 + spec.payload.len());
        assert_eq!(
            (ip.ttl, ip.src),
            (64, "2001:db8:c::10".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn fragments_v4_and_v6() {
        // IPv4 first fragment (MF) with a UDP length larger than what is present.
        let mut spec = Spec::v4_udp();
        spec.l4 = L4::Raw {
            protocol: 17,
            bytes: vec![0x9c, 0x40, 0, 53, 0x05, 0xdc, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        };
        let mut f = spec.build();
        f[14 + 6] |= 0x20; // MF
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        assert!(ip.is_fragment && !ip.non_first_fragment);
        assert_eq!(
            ip.l4,
            L4Info::Udp {
                sport: 40000,
                dport: 53
            }
        );
        // Non-first: offset 185*8, no L4 header.
        f[14 + 6..14 + 8].copy_from_slice(&[0x00, 0xb9]);
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        assert!(ip.is_fragment && ip.non_first_fragment);
        assert_eq!((ip.l4, ip.protocol), (L4Info::Other, 17));
        assert!(ip.conn_key().is_none());
        // IPv6 fragment header, non-first.
        let mut s6 = Spec::v6_udp();
        s6.l4 = L4::Raw {
            protocol: 17,
            bytes: vec![0xaa; 8],
        };
        s6.v6_exts = vec![(ip_proto::FRAGMENT, vec![0, 0, 0x05, 0x00, 0, 0, 0, 1])];
        let ip = parse_frame(&s6.build()).unwrap().ip.unwrap();
        assert!(ip.is_fragment && ip.non_first_fragment);
        assert_eq!((ip.l4, ip.l4_offset), (L4Info::Other, 14 + 48));
    }

    #[test]
    fn echo_v4_v6() {
        let f = Spec::new("192.0.2.1:0", "10.0.0.100:0", L4::EchoRequest { ident: 99 }).build();
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        assert_eq!(
            ip.l4,
            L4Info::IcmpEcho {
                request: true,
                ident: 99
            }
        );
        let k = ip.conn_key().unwrap();
        assert_eq!((k.proto, k.sport, k.dport), (Proto::Icmp, 99, 0));
        let f = Spec::new(
            "[2001:db8::1]:0",
            "[2001:db8::100]:0",
            L4::EchoRequest { ident: 7 },
        )
        .build();
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        assert_eq!(
            (ip.protocol, ip.l4),
            (
                58,
                L4Info::IcmpEcho {
                    request: true,
                    ident: 7
                }
            )
        );
    }

    #[test]
    fn icmp_errors_carry_the_quoted_tuple() {
        let quoted = Spec::new(
            "10.1.0.2:5001",
            "10.1.0.11:8080",
            L4::Tcp { flags_syn: true },
        );
        let mut q = quoted.ip_packet();
        q.truncate(28);
        let f = Spec::new(
            "10.1.0.254:0",
            "10.1.0.2:0",
            L4::Error {
                msg_type: 3,
                code: 4,
                rest: [0, 0, 5, 0xdc],
                quoted: q.clone(),
            },
        )
        .vlan()
        .build();
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        let L4Info::IcmpError {
            msg_type,
            code,
            quoted: qi,
        } = ip.l4
        else {
            panic!("{:?}", ip.l4)
        };
        assert_eq!((msg_type, code), (3, 4));
        assert_eq!(
            (qi.l3_offset, qi.l4_offset, qi.l4_len),
            (18 + 20 + 8, 18 + 20 + 8 + 20, 8)
        );
        let k = qi.conn_key().unwrap();
        assert_eq!(
            (k.src, k.sport, k.dst, k.dport),
            (ip4("10.1.0.2"), 5001, ip4("10.1.0.11"), 8080)
        );
        assert!(ip.conn_key().is_none());
        // 27 bytes of quote: too short for the ports.
        let f = Spec::new(
            "10.1.0.254:0",
            "10.1.0.2:0",
            L4::Error {
                msg_type: 11,
                code: 0,
                rest: [0; 4],
                quoted: q[..27].to_vec(),
            },
        )
        .build();
        assert_eq!(parse_frame(&f), Err(DropReason::Malformed));
        // IPv6 packet too big quoting UDP behind a destination-options header.
        let mut q6 = Spec::new(
            "[2001:db8:1::2]:5001",
            "[2001:db8:1::11]:53",
            L4::Udp {
                zero_checksum: false,
            },
        );
        q6.v6_exts = vec![(ip_proto::DST_OPTS, vec![0, 0, 1, 4, 0, 0, 0, 0])];
        let f = Spec::new(
            "[2001:db8:1::fe]:0",
            "[2001:db8:1::2]:0",
            L4::Error {
                msg_type: 2,
                code: 0,
                rest: [0, 0, 5, 0],
                quoted: q6.ip_packet(),
            },
        )
        .build();
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        let L4Info::IcmpError {
            msg_type: 2,
            quoted: qi,
            ..
        } = ip.l4
        else {
            panic!()
        };
        assert_eq!(
            (qi.protocol, qi.sport, qi.dport, qi.l4_offset),
            (17, 5001, 53, 14 + 40 + 8 + 48)
        );
    }

    #[test]
    fn neighbour_discovery_arp_ipip_and_junk() {
        let ns = Spec::new(
            "[fe80::1]:0",
            "[ff02::1:ff00:100]:0",
            L4::Error {
                msg_type: 135,
                code: 0,
                rest: [0; 4],
                quoted: vec![0; 16],
            },
        )
        .build();
        assert_eq!(
            parse_frame(&ns).unwrap().ip.unwrap().l4,
            L4Info::Icmp {
                msg_type: 135,
                code: 0
            }
        );
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&SRC_MAC);
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        let info = parse_frame(&arp).unwrap();
        assert_eq!((info.ethertype, info.ip), (ethertype::ARP, None));
        let inner = Spec::v4_tcp().ip_packet();
        let f = Spec::new(
            "10.1.0.2:0",
            "10.1.0.11:0",
            L4::Raw {
                protocol: 4,
                bytes: inner,
            },
        )
        .build();
        let ip = parse_frame(&f).unwrap().ip.unwrap();
        assert_eq!(ip.l4, L4Info::Tunnel);
        assert_eq!(
            parse_ip(&f, ip.l4_offset).unwrap().l4,
            L4Info::Tcp {
                sport: 40000,
                dport: 80,
                flags: tcp::SYN
            }
        );
        let good = Spec::v4_tcp().build();
        for cut in [0, 13, 14, 33, 14 + 39] {
            assert_eq!(
                parse_frame(&good[..cut]),
                Err(DropReason::Malformed),
                "cut at {cut}"
            );
        }
        let mut bad = good.clone();
        bad[14] = 0x65; // version 6 nibble inside an IPv4 EtherType
        assert_eq!(parse_frame(&bad), Err(DropReason::Malformed));
    }

    #[test]
    fn ethertype_and_ip_version_must_agree() {
        // A well-formed IPv6 packet behind the IPv4 EtherType, and the reverse.
        for (spec, wrong) in [
            (Spec::v6_tcp(), ethertype::IPV4),
            (Spec::v4_tcp(), ethertype::IPV6),
            (Spec::v6_udp().vlan(), ethertype::IPV4),
        ] {
            let mut f = spec.build();
            let l2 = parse_frame(&f).unwrap().l2_len;
            f[l2 - 2..l2].copy_from_slice(&wrong.to_be_bytes());
            assert_eq!(parse_frame(&f), Err(DropReason::Malformed), "{spec:?}");
            // The tunnel path still picks the family by the version nibble.
            assert!(parse_ip(&f, l2).is_ok());
        }
    }
}
