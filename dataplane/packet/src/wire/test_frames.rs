//! Test frames built with etherparse (an independent implementation) and a verifier that
//! re-parses output with etherparse and checks every checksum.

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    IcmpEchoHeader, Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpNumber, Ipv4Header,
    Ipv4Options, Ipv6Header, NetHeaders, PacketHeaders, TcpHeader, TransportHeader, UdpHeader,
};

/// Source MAC of every test frame.
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// Destination MAC of every test frame.
pub const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Upper layer of a test packet.
#[derive(Clone, Debug)]
pub enum L4 {
    /// A TCP segment, a SYN or an ACK.
    Tcp {
        /// SYN rather than ACK.
        flags_syn: bool,
    },
    /// A UDP datagram.
    Udp {
        /// Leave the checksum 0 (none, over IPv4).
        zero_checksum: bool,
    },
    /// An ICMP or ICMPv6 echo request.
    EchoRequest {
        /// Its identifier.
        ident: u16,
    },
    /// An ICMP error (type, code, rest-of-header) quoting these bytes.
    Error {
        /// ICMP type.
        msg_type: u8,
        /// ICMP code.
        code: u8,
        /// The rest of the ICMP header.
        rest: [u8; 4],
        /// The quoted packet.
        quoted: Vec<u8>,
    },
    /// Raw bytes with this protocol number, no checksum work.
    Raw {
        /// IP protocol number.
        protocol: u8,
        /// The payload.
        bytes: Vec<u8>,
    },
}

/// Call `v4` or `v6` with the octets of `src` and `dst`, which are of one family.
fn by_family<R>(
    src: IpAddr,
    dst: IpAddr,
    v4: impl FnOnce([u8; 4], [u8; 4]) -> R,
    v6: impl FnOnce([u8; 16], [u8; 16]) -> R,
) -> R {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => v4(s.octets(), d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => v6(s.octets(), d.octets()),
        _ => unreachable!("test packets never mix families"),
    }
}

/// Description of a test frame.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Source address and port (port unused for ICMP).
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The upper layer.
    pub l4: L4,
    /// TTL or hop limit.
    pub ttl: u8,
    /// An 802.1Q tag with this VLAN id.
    pub vlan: Option<u16>,
    /// Raw IPv4 options.
    pub v4_options: Vec<u8>,
    /// Raw IPv6 extension headers (their chain is rewritten to end in the L4 protocol).
    pub v6_exts: Vec<(u8, Vec<u8>)>,
    /// IPv4 don't-fragment bit.
    pub dont_frag: bool,
    /// The L4 payload.
    pub payload: Vec<u8>,
    /// Extra bytes after the IP packet (Ethernet padding).
    pub padding: usize,
}

impl Spec {
    /// A frame from `src` to `dst` ("addr:port") with defaults for the rest.
    pub fn new(src: &str, dst: &str, l4: L4) -> Spec {
        Spec {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            l4,
            ttl: 64,
            vlan: None,
            v4_options: Vec::new(),
            v6_exts: Vec::new(),
            dont_frag: true,
            payload: b"hello, real server".to_vec(),
            padding: 0,
        }
    }
    /// A TCP SYN from a client to the example VIP's port 80.
    pub fn v4_tcp() -> Spec {
        Spec::new(
            "192.0.2.10:40000",
            "10.0.0.100:80",
            L4::Tcp { flags_syn: true },
        )
    }
    /// A UDP datagram from a client to the example VIP's port 53.
    pub fn v4_udp() -> Spec {
        Spec::new(
            "192.0.2.10:40000",
            "10.0.0.100:53",
            L4::Udp {
                zero_checksum: false,
            },
        )
    }
    /// A TCP SYN from an IPv6 client to the example IPv6 VIP's port 80.
    pub fn v6_tcp() -> Spec {
        Spec::new(
            "[2001:db8:c::10]:40000",
            "[2001:db8::100]:80",
            L4::Tcp { flags_syn: true },
        )
    }
    /// A UDP datagram from an IPv6 client to the example IPv6 VIP's port 53.
    pub fn v6_udp() -> Spec {
        Spec::new(
            "[2001:db8:c::10]:40000",
            "[2001:db8::100]:53",
            L4::Udp {
                zero_checksum: false,
            },
        )
    }
    /// Tagged with VLAN 100.
    pub fn vlan(mut self) -> Spec {
        self.vlan = Some(0x0064);
        self
    }
    /// With this TTL or hop limit.
    pub fn ttl(mut self, ttl: u8) -> Spec {
        self.ttl = ttl;
        self
    }
    /// With this L4 payload.
    pub fn payload(mut self, p: &[u8]) -> Spec {
        self.payload = p.to_vec();
        self
    }

    /// The L4 bytes with a correct checksum (etherparse computes it).
    fn l4_bytes(&self) -> (u8, Vec<u8>) {
        let (s, d) = (self.src.ip(), self.dst.ip());
        let p = &self.payload;
        match &self.l4 {
            L4::Tcp { flags_syn } => {
                let mut h = TcpHeader::new(self.src.port(), self.dst.port(), 1000, 65535);
                h.syn = *flags_syn;
                h.ack = !*flags_syn;
                h.checksum = by_family(
                    s,
                    d,
                    |s, d| h.calc_checksum_ipv4_raw(s, d, p),
                    |s, d| h.calc_checksum_ipv6_raw(s, d, p),
                )
                .unwrap();
                let mut v = h.to_bytes().to_vec();
                v.extend_from_slice(p);
                (6, v)
            }
            L4::Udp { zero_checksum } => {
                let mut h = UdpHeader {
                    source_port: self.src.port(),
                    destination_port: self.dst.port(),
                    length: (8 + p.len()) as u16,
                    checksum: 0,
                };
                if !zero_checksum {
                    h.checksum = by_family(
                        s,
                        d,
                        |s, d| h.calc_checksum_ipv4_raw(s, d, p),
                        |s, d| h.calc_checksum_ipv6_raw(s, d, p),
                    )
                    .unwrap();
                }
                let mut v = h.to_bytes().to_vec();
                v.extend_from_slice(p);
                (17, v)
            }
            L4::EchoRequest { ident } => self.icmp(
                Icmpv4Type::EchoRequest(IcmpEchoHeader { id: *ident, seq: 1 }),
                Icmpv6Type::EchoRequest(IcmpEchoHeader { id: *ident, seq: 1 }),
                p,
            ),
            L4::Error {
                msg_type,
                code,
                rest,
                quoted,
            } => {
                let mut b = vec![*msg_type, *code, 0, 0];
                b.extend_from_slice(rest);
                let h4 = Icmpv4Header::from_slice(&b).unwrap().0.icmp_type;
                let h6 = Icmpv6Header::from_slice(&b).unwrap().0.icmp_type;
                self.icmp(h4, h6, quoted)
            }
            L4::Raw { protocol, bytes } => (*protocol, bytes.clone()),
        }
    }

    fn icmp(&self, t4: Icmpv4Type, t6: Icmpv6Type, data: &[u8]) -> (u8, Vec<u8>) {
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(_), _) => {
                let mut v = Icmpv4Header::with_checksum(t4, data).to_bytes().to_vec();
                v.extend_from_slice(data);
                (1, v)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut v = Icmpv6Header::with_checksum(t6, s.octets(), d.octets(), data)
                    .unwrap()
                    .to_bytes()
                    .to_vec();
                v.extend_from_slice(data);
                (58, v)
            }
            _ => unreachable!(),
        }
    }

    /// The IP packet alone.
    pub fn ip_packet(&self) -> Vec<u8> {
        let (proto, l4) = self.l4_bytes();
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h = Ipv4Header::new(
                    l4.len() as u16,
                    self.ttl,
                    IpNumber(proto),
                    s.octets(),
                    d.octets(),
                )
                .unwrap();
                h.options = Ipv4Options::try_from(&self.v4_options[..]).unwrap();
                h.dont_fragment = self.dont_frag;
                h.identification = 0x5151;
                h.total_len = (h.header_len() + l4.len()) as u16;
                h.header_checksum = h.calc_header_checksum();
                let mut v = h.to_bytes().to_vec();
                v.extend_from_slice(&l4);
                v
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut exts = Vec::new();
                let mut next = proto;
                for (kind, body) in self.v6_exts.iter().rev() {
                    let mut e = body.clone();
                    e[0] = next;
                    next = *kind;
                    exts.splice(0..0, e);
                }
                let h = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Default::default(),
                    payload_length: (exts.len() + l4.len()) as u16,
                    next_header: IpNumber(next),
                    hop_limit: self.ttl,
                    source: s.octets(),
                    destination: d.octets(),
                };
                let mut v = h.to_bytes().to_vec();
                v.extend_from_slice(&exts);
                v.extend_from_slice(&l4);
                v
            }
            _ => unreachable!(),
        }
    }

    /// The whole Ethernet frame.
    pub fn build(&self) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        if let Some(v) = self.vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&v.to_be_bytes());
        }
        let et: u16 = if self.src.is_ipv4() { 0x0800 } else { 0x86dd };
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&self.ip_packet());
        f.extend(std::iter::repeat(0).take(self.padding));
        f
    }
}

/// What the verifier saw.
#[derive(Debug)]
pub struct Seen {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// L4 source port (0 without ports).
    pub sport: u16,
    /// L4 destination port (0 without ports).
    pub dport: u16,
    /// The L4 payload.
    pub payload: Vec<u8>,
}

/// Parse `frame` with etherparse, assert every checksum (IPv4 header, TCP, UDP unless 0,
/// ICMP, ICMPv6) is right, and return the fields.
pub fn verify(frame: &[u8]) -> Seen {
    let h = PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses the output");
    let payload = h.payload.slice().to_vec();
    let (src, dst, ttl): (IpAddr, IpAddr, u8) = match h.net.as_ref().expect("IP") {
        NetHeaders::Ipv4(ip, _) => {
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "IPv4 header checksum"
            );
            (ip.source.into(), ip.destination.into(), ip.time_to_live)
        }
        NetHeaders::Ipv6(ip, _) => (ip.source.into(), ip.destination.into(), ip.hop_limit),
    };
    let (sport, dport) = match h.transport.as_ref().expect("transport") {
        TransportHeader::Tcp(t) => {
            let want = by_family(
                src,
                dst,
                |s, d| t.calc_checksum_ipv4_raw(s, d, &payload),
                |s, d| t.calc_checksum_ipv6_raw(s, d, &payload),
            )
            .unwrap();
            assert_eq!(t.checksum, want, "TCP checksum");
            (t.source_port, t.destination_port)
        }
        TransportHeader::Udp(u) => {
            if u.checksum != 0 || dst.is_ipv6() {
                let want = by_family(
                    src,
                    dst,
                    |s, d| u.calc_checksum_ipv4_raw(s, d, &payload),
                    |s, d| u.calc_checksum_ipv6_raw(s, d, &payload),
                )
                .unwrap();
                assert_eq!(u.checksum, want, "UDP checksum");
            }
            (u.source_port, u.destination_port)
        }
        TransportHeader::Icmpv4(i) => {
            assert_eq!(
                i.checksum,
                i.icmp_type.calc_checksum(&payload),
                "ICMP checksum"
            );
            (0, 0)
        }
        TransportHeader::Icmpv6(i) => {
            let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
                unreachable!()
            };
            assert_eq!(
                i.checksum,
                i.icmp_type
                    .calc_checksum(s.octets(), d.octets(), &payload)
                    .unwrap(),
                "ICMPv6 checksum"
            );
            (0, 0)
        }
    };
    Seen {
        src,
        dst,
        ttl,
        sport,
        dport,
        payload,
    }
}
