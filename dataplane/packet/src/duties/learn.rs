//! Learn a neighbour from an ARP reply or a neighbour advertisement.

use std::net::IpAddr;

use crate::wire::arp::REPLY;
use crate::wire::icmpv6::NEIGHBOR_ADVERT;
use crate::wire::ndisc::OPT_TARGET_LL;
use crate::wire::{ethertype, ArpPacket, FrameInfo, L4Info, MacAddr, NdiscPacket};

/// The (address, MAC) an ARP reply or a neighbour advertisement announces: the ARP sender,
/// or the NA target with its target link-layer option. `None` for anything else, for an
/// ARP reply from 0.0.0.0, and for an NA without the option or with a hop limit other
/// than 255 (RFC 4861 validation).
pub fn learn_neighbor(frame: &[u8], info: &FrameInfo) -> Option<(IpAddr, MacAddr)> {
    if info.ethertype == ethertype::ARP {
        let arp = ArpPacket::new_checked(frame.get(info.l2_len..)?).ok()?;
        let ip = arp.sender_ip();
        return (arp.operation() == REPLY && !ip.is_unspecified())
            .then(|| (IpAddr::V4(ip), arp.sender_mac()));
    }
    let ip = info.ip.as_ref()?;
    if !matches!(
        ip.l4,
        L4Info::Icmp {
            msg_type: NEIGHBOR_ADVERT,
            code: 0
        }
    ) || ip.ttl != 255
    {
        return None;
    }
    let na = NdiscPacket::new_checked(frame.get(ip.l4_offset..ip.l3_offset + ip.l3_len)?).ok()?;
    Some((
        IpAddr::V6(na.target()),
        na.link_layer_option(OPT_TARGET_LL)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duties::{arp_reply, build_arp_request};
    use crate::packet::{HeapBuf, PacketBuf};
    use crate::wire::parse_frame;
    use std::net::Ipv4Addr;

    #[test]
    fn arp_reply_teaches_the_sender_and_requests_do_not() {
        let (ours, peer) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 7));
        let mut b = HeapBuf::new();
        build_arp_request(&mut b, MacAddr([2; 6]), ours, peer).unwrap();
        let req = b.data().to_vec();
        assert_eq!(learn_neighbor(&req, &parse_frame(&req).unwrap()), None);
        // The peer answers.
        let mut rep = req.clone();
        arp_reply(
            &mut rep,
            &parse_frame(&req).unwrap(),
            MacAddr([7; 6]),
            |ip| ip == peer,
        )
        .unwrap();
        assert_eq!(
            learn_neighbor(&rep, &parse_frame(&rep).unwrap()),
            Some((IpAddr::V4(peer), MacAddr([7; 6])))
        );
    }
}
