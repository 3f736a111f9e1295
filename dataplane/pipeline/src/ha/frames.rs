//! The frames the control core sends for VRRP: adverts, gratuitous ARP and
//! unsolicited neighbour advertisements, built into [`HaFrame`]s.

use std::net::{IpAddr, Ipv4Addr};

use super::HaFrame;
use rvs_config::PortId;
use rvs_packet::duties::{build_arp_request, build_unsolicited_advert};
use rvs_packet::packet::HeapBuf;
use rvs_packet::wire::vrrp::{GROUP_V4, PROTOCOL, TTL};
use rvs_packet::wire::{ethertype, EthernetFrame, Ipv4Packet, MacAddr, VrrpRepr};

/// The type of service keepalived gives adverts (precedence "internetwork control").
const ADVERT_TOS: u8 = 0xc0;

/// An advert from `src` (MAC and IPv4) to `dst`: the group 224.0.0.18 (to its multicast
/// MAC, sent as it is) or a unicast peer (routed: the worker resolves the peer's MAC).
/// `ident` is the IPv4 identification. `None` when it does not fit a frame.
pub fn advert(
    port: PortId,
    src_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    repr: &VrrpRepr<'_>,
    ident: u16,
) -> Option<HaFrame> {
    let mut f = [0u8; super::MAX_FRAME];
    let total = 20 + repr.len();
    let frame = f.get_mut(..14 + total)?;
    frame[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
    let multicast = dst == GROUP_V4;
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.set_src(src_mac);
    eth.set_dst(if multicast {
        MacAddr::ipv4_multicast(dst)
    } else {
        MacAddr::ZERO
    });
    repr.emit(&mut frame[34..], src, dst)?;
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_version_and_header_len(20);
    ip.set_tos(ADVERT_TOS);
    ip.set_total_len(total as u16);
    ip.set_ident(ident);
    ip.set_unfragmented(false);
    ip.set_ttl(TTL);
    ip.set_protocol(PROTOCOL);
    ip.set_src(src);
    ip.set_dst(dst);
    ip.fill_checksum();
    HaFrame::new(port, !multicast, frame)
}

/// A gratuitous ARP (a broadcast request for `addr` from `addr`) or, for IPv6, an
/// unsolicited neighbour advertisement with the override flag: a new master telling the
/// segment where `addr` lives now.
pub fn announce(port: PortId, mac: MacAddr, addr: IpAddr) -> Option<HaFrame> {
    let mut buf = HeapBuf::new();
    let built = match addr {
        IpAddr::V4(a) => build_arp_request(&mut buf, mac, a, a),
        IpAddr::V6(a) => build_unsolicited_advert(&mut buf, mac, a),
    };
    built.ok()?;
    HaFrame::new(port, false, rvs_packet::packet::PacketBuf::data(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn adverts_are_valid_ipv4_to_the_group_or_a_peer() {
        let vips = [Ipv4Addr::new(10, 0, 0, 100)];
        let repr = VrrpRepr {
            vrid: 51,
            priority: 150,
            max_adver_int: 100,
            addresses: &vips,
        };
        let f = advert(PortId(0), MAC, SRC, GROUP_V4, &repr, 9).unwrap();
        assert!(!f.routed());
        let p = SlicedPacket::from_ethernet(f.data()).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        let h = ip.header();
        assert_eq!((h.ttl(), h.protocol().0, h.identification()), (255, 112, 9));
        assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
        assert_eq!(h.destination(), [224, 0, 0, 18]);
        assert_eq!(&f.data()[..6], &[0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
        let vrrp = rvs_packet::wire::VrrpPacket::new_checked(&f.data()[34..]).unwrap();
        assert!(vrrp.verify_checksum(SRC, GROUP_V4));
        assert_eq!(vrrp.priority(), 150);
        let peer = Ipv4Addr::new(10, 0, 0, 3);
        let u = advert(PortId(0), MAC, SRC, peer, &repr, 10).unwrap();
        assert!(u.routed());
        assert!(rvs_packet::wire::VrrpPacket::new_checked(&u.data()[34..])
            .unwrap()
            .verify_checksum(SRC, peer));
    }

    #[test]
    fn announcements_are_gratuitous_arp_and_unsolicited_na() {
        let f = announce(PortId(0), MAC, "10.0.0.100".parse().unwrap()).unwrap();
        let arp = rvs_packet::wire::ArpPacket::new_checked(&f.data()[14..]).unwrap();
        assert_eq!(arp.sender_ip(), arp.target_ip());
        assert_eq!(&f.data()[..6], &[0xff; 6]);
        let f = announce(PortId(0), MAC, "2001:db8::100".parse().unwrap()).unwrap();
        let p = SlicedPacket::from_ethernet(f.data()).unwrap();
        let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("not ICMPv6")
        };
        assert_eq!(icmp.type_u8(), 136);
        let Some(NetSlice::Ipv6(ip)) = p.net else {
            panic!("not IPv6")
        };
        let (src, dst) = (ip.header().source(), ip.header().destination());
        assert_eq!(
            icmp.icmp_type()
                .calc_checksum(src, dst, icmp.payload())
                .ok(),
            Some(icmp.checksum())
        );
    }
}
