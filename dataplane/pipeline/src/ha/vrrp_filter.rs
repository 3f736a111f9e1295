//! Which VRRP frames (IP protocol 112) a worker hands to the control core, and the
//! control core takes: the rules keepalived applies to a received advert, for this
//! director's `[ha]`. In order, each refusal a [`VrrpRefusal`]:
//!
//! - it came in on `[ha] port`; it is IPv4 with TTL 255 (RFC 5798 section 7.1: it
//!   crossed no router);
//! - it is to 224.0.0.18 without `unicast_peers`, and to `[ha]`'s source address with
//!   them (keepalived likewise refuses a multicast advert in unicast mode and a unicast
//!   one in multicast mode);
//! - it is one whole VRRPv3 advertisement: version 3, type 1, an IP payload of exactly
//!   the header and the addresses it counts, a checksum that verifies;
//! - it is of our virtual router (`vrid`), not sent from our own address, and, with
//!   `unicast_peers`, from one of them (keepalived checks this with
//!   `check_unicast_src`; rvs always does).
//!
//! Unlike keepalived in unicast mode, the TTL must be 255 in both modes: directors of
//! one virtual router share a segment. The checks are bounded (the checksum covers at
//! most the 1028 bytes a message can have) and allocate nothing, so a worker runs them
//! before a frame takes a place in the queue to the control core.

use std::net::{IpAddr, Ipv4Addr};

use rvs_config::{HaConfig, PortId};
use rvs_packet::wire::vrrp::{GROUP_V4, PROTOCOL, TTL};
use rvs_packet::wire::{IpInfo, VrrpPacket};

use super::refusal::VrrpRefusal;

/// The first byte of a VRRPv3 advertisement: version 3, type 1.
const VERSION3_ADVERT: u8 = 0x31;

/// What the state machine needs of an advert that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertSeen {
    /// The sender.
    pub src: Ipv4Addr,
    /// The sender's priority (0: its master is stopping).
    pub priority: u8,
    /// The sender's advertisement interval in centiseconds.
    pub max_adver_int: u16,
}

/// The adverts this director takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpFilter {
    port: PortId,
    vrid: u8,
    source: Ipv4Addr,
    unicast_peers: Box<[Ipv4Addr]>,
}

impl VrrpFilter {
    /// Adverts of virtual router `vrid` on `port` for a director whose adverts leave
    /// from `source`, to the group or, with `unicast_peers`, from one of them to
    /// `source`.
    pub fn new(port: PortId, vrid: u8, source: Ipv4Addr, unicast_peers: &[Ipv4Addr]) -> Self {
        Self {
            port,
            vrid,
            source,
            unicast_peers: unicast_peers.into(),
        }
    }

    /// The filter `[ha]` describes.
    pub fn of(ha: &HaConfig) -> Self {
        Self::new(ha.port, ha.vrid, ha.source, &ha.unicast_peers)
    }

    /// Whether `frame`, received on `port` and parsed as `ip`, is an advert this
    /// director takes; what it says if so.
    pub fn check(
        &self,
        port: PortId,
        frame: &[u8],
        ip: &IpInfo,
    ) -> Result<AdvertSeen, VrrpRefusal> {
        if port != self.port {
            return Err(VrrpRefusal::Port);
        }
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (ip.src, ip.dst) else {
            return Err(VrrpRefusal::Family);
        };
        if ip.ttl != TTL {
            return Err(VrrpRefusal::Ttl);
        }
        let to = if self.unicast_peers.is_empty() {
            GROUP_V4
        } else {
            self.source
        };
        if dst != to {
            return Err(VrrpRefusal::Destination);
        }
        let body = frame
            .get(ip.l4_offset..ip.l4_offset + ip.payload_len)
            .filter(|b| ip.protocol == PROTOCOL && b.len() >= VrrpPacket::<&[u8]>::HEADER_LEN)
            .ok_or(VrrpRefusal::Malformed)?;
        if body[0] != VERSION3_ADVERT {
            return Err(VrrpRefusal::Version);
        }
        let p = VrrpPacket::new_checked(body)
            .ok()
            .filter(|p| p.len() == body.len())
            .ok_or(VrrpRefusal::Malformed)?;
        if !p.verify_checksum(src, dst) {
            return Err(VrrpRefusal::Checksum);
        }
        if p.vrid() != self.vrid {
            return Err(VrrpRefusal::Vrid);
        }
        if src == self.source {
            return Err(VrrpRefusal::Own);
        }
        if !self.unicast_peers.is_empty() && !self.unicast_peers.contains(&src) {
            return Err(VrrpRefusal::Source);
        }
        Ok(AdvertSeen {
            src,
            priority: p.priority(),
            max_adver_int: p.max_adver_int(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header, PacketBuilder, SlicedPacket};
    use rvs_packet::wire::{parse_frame, VrrpRepr};

    const OURS: [u8; 4] = [10, 0, 0, 1];
    const PEER: [u8; 4] = [10, 0, 0, 2];
    const STRANGER: [u8; 4] = [10, 0, 0, 7];
    const GROUP: [u8; 4] = [224, 0, 0, 18];
    const VIPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 101)];

    /// How a test advert is made: the fields of a valid one, each to be spoilt.
    #[derive(Clone, Copy)]
    struct Advert {
        src: [u8; 4],
        dst: [u8; 4],
        ttl: u8,
        vrid: u8,
        priority: u8,
    }

    const VALID: Advert = Advert {
        src: PEER,
        dst: GROUP,
        ttl: 255,
        vrid: 51,
        priority: 200,
    };

    /// The VRRP message of `a`, its checksum for `a.src -> a.dst`.
    fn message(a: Advert) -> Vec<u8> {
        let repr = VrrpRepr {
            vrid: a.vrid,
            priority: a.priority,
            max_adver_int: 100,
            addresses: &VIPS,
        };
        let mut out = vec![0; repr.len()];
        repr.emit(&mut out, a.src.into(), a.dst.into()).unwrap();
        out
    }

    /// An Ethernet frame of `payload` over IPv4 protocol 112, built by etherparse.
    fn frame(a: Advert, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [1, 0, 0x5e, 0, 0, 0x12])
            .ipv4(a.src, a.dst, a.ttl)
            .write(&mut out, IpNumber(112), payload)
            .unwrap();
        out
    }

    fn multicast() -> VrrpFilter {
        VrrpFilter::new(PortId(0), 51, OURS.into(), &[])
    }

    fn unicast() -> VrrpFilter {
        VrrpFilter::new(PortId(0), 51, OURS.into(), &[PEER.into()])
    }

    fn check(f: &VrrpFilter, port: u16, bytes: &[u8]) -> Result<AdvertSeen, VrrpRefusal> {
        let ip = parse_frame(bytes).unwrap().ip.unwrap();
        f.check(PortId(port), bytes, &ip)
    }

    /// `a` as a whole, valid frame.
    fn advert(a: Advert) -> Vec<u8> {
        frame(a, &message(a))
    }

    #[test]
    fn a_valid_advert_passes_with_what_it_says() {
        let bytes = advert(VALID);
        // The frame is what etherparse reads: IPv4, TTL 255, protocol 112, to the group.
        let sliced = SlicedPacket::from_ethernet(&bytes).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("IPv4");
        };
        let h: Ipv4Header = ip.header().to_header();
        assert_eq!(
            (h.time_to_live, h.protocol, h.destination),
            (255, IpNumber(112), GROUP)
        );
        let seen = check(&multicast(), 0, &bytes).unwrap();
        assert_eq!(
            seen,
            AdvertSeen {
                src: PEER.into(),
                priority: 200,
                max_adver_int: 100,
            }
        );
        // Ethernet padding after the packet is not part of it.
        let mut padded = advert(Advert {
            priority: 1,
            ..VALID
        });
        padded.resize(bytes.len() + 20, 0xaa);
        assert!(check(&multicast(), 0, &padded).is_ok());
        // In unicast mode: from the peer, to our address.
        let to_us = advert(Advert { dst: OURS, ..VALID });
        assert_eq!(
            check(&unicast(), 0, &to_us).unwrap().src,
            Ipv4Addr::from(PEER)
        );
    }

    #[test]
    fn each_check_refuses_for_its_reason() {
        use VrrpRefusal as R;
        let cases: Vec<(&str, VrrpFilter, u16, Vec<u8>, R)> = vec![
            ("another port", multicast(), 1, advert(VALID), R::Port),
            (
                "TTL 254",
                multicast(),
                0,
                advert(Advert { ttl: 254, ..VALID }),
                R::Ttl,
            ),
            (
                "TTL 1",
                multicast(),
                0,
                advert(Advert { ttl: 1, ..VALID }),
                R::Ttl,
            ),
            (
                "unicast in multicast mode",
                multicast(),
                0,
                advert(Advert { dst: OURS, ..VALID }),
                R::Destination,
            ),
            (
                "multicast in unicast mode",
                unicast(),
                0,
                advert(VALID),
                R::Destination,
            ),
            (
                "unicast to another address",
                unicast(),
                0,
                advert(Advert {
                    dst: [10, 0, 0, 3],
                    ..VALID
                }),
                R::Destination,
            ),
            (
                "shorter than a header",
                multicast(),
                0,
                frame(VALID, &[0x31, 51, 200]),
                R::Malformed,
            ),
            (
                "fewer addresses than counted",
                multicast(),
                0,
                frame(VALID, &message(VALID)[..12]),
                R::Malformed,
            ),
            (
                "more bytes than counted",
                multicast(),
                0,
                frame(VALID, &[message(VALID), vec![0; 4]].concat()),
                R::Malformed,
            ),
            (
                "VRRPv2",
                multicast(),
                0,
                frame(VALID, &{
                    let mut m = message(VALID);
                    m[0] = 0x21;
                    m
                }),
                R::Version,
            ),
            (
                "another type",
                multicast(),
                0,
                frame(VALID, &{
                    let mut m = message(VALID);
                    m[0] = 0x32;
                    m
                }),
                R::Version,
            ),
            (
                "a flipped bit",
                multicast(),
                0,
                frame(VALID, &{
                    let mut m = message(VALID);
                    m[2] ^= 0x80;
                    m
                }),
                R::Checksum,
            ),
            (
                "the checksum of another destination",
                unicast(),
                0,
                frame(Advert { dst: OURS, ..VALID }, &message(VALID)),
                R::Checksum,
            ),
            (
                "another virtual router",
                multicast(),
                0,
                advert(Advert { vrid: 52, ..VALID }),
                R::Vrid,
            ),
            (
                "our own",
                multicast(),
                0,
                advert(Advert { src: OURS, ..VALID }),
                R::Own,
            ),
            (
                "not a unicast peer",
                unicast(),
                0,
                advert(Advert {
                    src: STRANGER,
                    dst: OURS,
                    ..VALID
                }),
                R::Source,
            ),
        ];
        for (what, filter, port, bytes, want) in cases {
            assert_eq!(check(&filter, port, &bytes), Err(want), "{what}");
        }
        // Any source may advertise to the group without `unicast_peers`.
        let stranger = advert(Advert {
            src: STRANGER,
            ..VALID
        });
        assert!(check(&multicast(), 0, &stranger).is_ok());
    }

    #[test]
    fn ipv6_and_other_protocols_are_refused() {
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [0x33, 0x33, 0, 0, 0, 0x12])
            .ipv6([0xfe; 16], [0xff; 16], 255)
            .write(&mut v6, IpNumber(112), &message(VALID))
            .unwrap();
        assert_eq!(check(&multicast(), 0, &v6), Err(VrrpRefusal::Family));
        // The control core may be handed anything: UDP is not an advert.
        let mut udp = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [1, 0, 0x5e, 0, 0, 0x12])
            .ipv4(PEER, GROUP, 255)
            .udp(1, 2)
            .write(&mut udp, &message(VALID))
            .unwrap();
        assert_eq!(check(&multicast(), 0, &udp), Err(VrrpRefusal::Malformed));
    }

    /// Whatever the bytes after a valid IPv4 header, a check never panics.
    #[test]
    fn arbitrary_payloads_never_panic() {
        use proptest::prelude::*;
        proptest!(|(payload in proptest::collection::vec(any::<u8>(), 0..1100), ttl in any::<u8>())| {
            let bytes = frame(Advert { ttl, ..VALID }, &payload);
            let ip = parse_frame(&bytes).unwrap().ip.unwrap();
            let _ = multicast().check(PortId(0), &bytes, &ip);
            let _ = unicast().check(PortId(0), &bytes, &ip);
        });
    }
}
