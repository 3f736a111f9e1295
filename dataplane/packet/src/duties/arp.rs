//! ARP: answer requests for our addresses, build requests for resolution.

use std::net::Ipv4Addr;

use super::set_len;
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::arp::{ARP_LEN, REPLY, REQUEST};
use crate::wire::{ethertype, ArpPacket, EthernetFrame, FrameInfo, MacAddr};

/// Turn an ARP request in `frame` into the reply, in place, when `is_ours` says the target
/// address is one of ours: the answer carries `our_mac` and goes back to the requester's
/// MAC (the VLAN tag, if any, is kept). Anything else is [`DropReason::NotForUs`] (frame
/// untouched); a frame that is not a valid Ethernet/IPv4 ARP packet is
/// [`DropReason::Malformed`].
pub fn arp_reply(
    frame: &mut [u8],
    info: &FrameInfo,
    our_mac: MacAddr,
    is_ours: impl FnOnce(Ipv4Addr) -> bool,
) -> Result<(), DropReason> {
    if info.ethertype != ethertype::ARP {
        return Err(DropReason::Malformed);
    }
    let l2 = info.l2_len;
    let arp = ArpPacket::new_checked(frame.get(l2..).ok_or(DropReason::Malformed)?)?;
    if arp.operation() != REQUEST || !is_ours(arp.target_ip()) {
        return Err(DropReason::NotForUs);
    }
    let (asker_mac, asker_ip, target) = (arp.sender_mac(), arp.sender_ip(), arp.target_ip());
    let mut arp = ArpPacket::new_unchecked(&mut frame[l2..]);
    arp.set_operation(REPLY);
    arp.set_sender_mac(our_mac);
    arp.set_sender_ip(target);
    arp.set_target_mac(asker_mac);
    arp.set_target_ip(asker_ip);
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst(asker_mac);
    eth.set_src(our_mac);
    Ok(())
}

/// Build into `buf` (its content replaced) an untagged broadcast ARP request asking who has
/// `target`, from `src_mac` / `src_ip`. 42 bytes: the NIC pads to the Ethernet minimum.
pub fn build_arp_request<B: PacketBuf>(
    buf: &mut B,
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Result<(), DropReason> {
    set_len(buf, 14 + ARP_LEN)?;
    let f = buf.data_mut();
    f[12..14].copy_from_slice(&ethertype::ARP.to_be_bytes());
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst(MacAddr::BROADCAST);
    eth.set_src(src_mac);
    let mut arp = ArpPacket::new_unchecked(&mut f[14..]);
    arp.set_ethernet_ipv4();
    arp.set_operation(REQUEST);
    arp.set_sender_mac(src_mac);
    arp.set_sender_ip(src_ip);
    arp.set_target_mac(MacAddr::ZERO);
    arp.set_target_ip(target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HeapBuf;
    use crate::wire::parse_frame;

    const OURS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
    const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x99]);

    fn request(target: Ipv4Addr) -> Vec<u8> {
        let mut b = HeapBuf::new();
        build_arp_request(&mut b, PEER_MAC, Ipv4Addr::new(10, 0, 0, 254), target).unwrap();
        b.data().to_vec()
    }

    #[test]
    fn request_is_built_as_rfc826_says() {
        let f = request(OURS);
        let mut want = vec![0xff; 6];
        want.extend_from_slice(&PEER_MAC.0);
        want.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        want.extend_from_slice(&PEER_MAC.0);
        want.extend_from_slice(&[10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
        assert_eq!(f, want);
        let eth = etherparse::Ethernet2Header::from_slice(&f).unwrap().0;
        assert_eq!(
            (eth.ether_type, eth.destination),
            (etherparse::EtherType::ARP, [0xff; 6])
        );
    }

    #[test]
    fn reply_for_our_address_only() {
        let mut f = request(OURS);
        let info = parse_frame(&f).unwrap();
        arp_reply(&mut f, &info, OUR_MAC, |ip| ip == OURS).unwrap();
        let eth = etherparse::Ethernet2Header::from_slice(&f).unwrap().0;
        assert_eq!((eth.destination, eth.source), (PEER_MAC.0, OUR_MAC.0));
        let a = ArpPacket::new_checked(&f[14..]).unwrap();
        assert_eq!(a.operation(), REPLY);
        assert_eq!((a.sender_mac(), a.sender_ip()), (OUR_MAC, OURS));
        assert_eq!(
            (a.target_mac(), a.target_ip()),
            (PEER_MAC, Ipv4Addr::new(10, 0, 0, 254))
        );
        // Not ours, and not a request: untouched.
        let mut f = request(Ipv4Addr::new(10, 0, 0, 2));
        let before = f.clone();
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            arp_reply(&mut f, &info, OUR_MAC, |ip| ip == OURS),
            Err(DropReason::NotForUs)
        );
        assert_eq!(f, before);
        let mut f = request(OURS);
        f[14 + 7] = 2;
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            arp_reply(&mut f, &info, OUR_MAC, |_| true),
            Err(DropReason::NotForUs)
        );
    }

    #[test]
    fn tagged_request_gets_a_tagged_reply() {
        let plain = request(OURS);
        let mut f = plain[..12].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        f.extend_from_slice(&plain[12..]);
        let info = parse_frame(&f).unwrap();
        arp_reply(&mut f, &info, OUR_MAC, |ip| ip == OURS).unwrap();
        assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 0x07, 0x08, 0x06]);
        assert_eq!(ArpPacket::new_checked(&f[18..]).unwrap().operation(), REPLY);
    }
}
