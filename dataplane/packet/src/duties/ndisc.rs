//! IPv6 neighbour discovery: advertise our addresses, solicit others' (RFC 4861).

use std::net::Ipv6Addr;

use super::set_len;
use crate::drop::DropReason;
use crate::packet::PacketBuf;
use crate::wire::icmpv6::{NEIGHBOR_ADVERT, NEIGHBOR_SOLICIT};
use crate::wire::ndisc::{
    FLAG_OVERRIDE, FLAG_SOLICITED, LL_OPTION_LEN, NDISC_LEN, OPT_SOURCE_LL, OPT_TARGET_LL,
};
use crate::wire::{
    ethertype, ip_proto, EthernetFrame, FrameInfo, Icmpv6Packet, IpVersion, Ipv6Packet, L4Info,
    MacAddr, NdiscPacket,
};

/// Hop limit of every neighbour discovery message (receivers check it).
const ND_HOP_LIMIT: u8 = 255;
/// Length of an NS / NA with one link-layer option.
const ND_MSG_LEN: usize = NDISC_LEN + LL_OPTION_LEN;
/// ff02::1, all nodes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `addr`: ff02::1:ff00:0/104 plus its low 24 bits.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// Write Ethernet + IPv6 + an NS/NA with one link-layer option into `f` at `l2` (Ethernet
/// addresses set, EtherType left as it is past a tag), and its ICMPv6 checksum.
#[allow(clippy::too_many_arguments)]
fn write_nd(
    f: &mut [u8],
    l2: usize,
    macs: (MacAddr, MacAddr),
    src: Ipv6Addr,
    dst: Ipv6Addr,
    (msg_type, flags): (u8, u8),
    target: Ipv6Addr,
    (opt, opt_mac): (u8, MacAddr),
) {
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_src(macs.0);
    eth.set_dst(macs.1);
    let mut ip = Ipv6Packet::new_unchecked(&mut f[l2..]);
    ip.set_version_tc_flow(0, 0);
    ip.set_payload_len(ND_MSG_LEN as u16);
    ip.set_next_header(ip_proto::ICMPV6);
    ip.set_hop_limit(ND_HOP_LIMIT);
    ip.set_src(src);
    ip.set_dst(dst);
    let msg = &mut f[l2 + 40..l2 + 40 + ND_MSG_LEN];
    msg[..4].copy_from_slice(&[msg_type, 0, 0, 0]);
    let mut nd = NdiscPacket::new_unchecked(&mut msg[..]);
    nd.set_flags(flags);
    nd.set_target(target);
    nd.set_link_layer_option(opt, opt_mac);
    Icmpv6Packet::new_unchecked(msg).fill_checksum(src, dst);
}

/// Answer a neighbour solicitation for one of our addresses with an advertisement, built in
/// the same buffer (resized; the VLAN tag, if any, kept): from the target address, flags
/// Solicited (unless the solicitation came from `::`) and Override, a target link-layer
/// option with `our_mac`, hop limit 255, to the solicitation's source, or to all-nodes
/// (ff02::1, 33:33:00:00:00:01) when that source is `::` (duplicate address detection).
/// The Ethernet destination is the solicitation's source link-layer option, else its
/// Ethernet source.
///
/// [`DropReason::NotForUs`] when the target is not ours (`is_ours`) or the packet is not a
/// solicitation; [`DropReason::Malformed`] when it fails RFC 4861 validation (hop limit
/// not 255, code not 0, multicast target). The buffer is untouched on error.
pub fn neighbor_advert_reply<B: PacketBuf>(
    buf: &mut B,
    info: &FrameInfo,
    our_mac: MacAddr,
    is_ours: impl FnOnce(Ipv6Addr) -> bool,
) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    let L4Info::Icmp {
        msg_type: NEIGHBOR_SOLICIT,
        code,
    } = ip.l4
    else {
        return Err(DropReason::NotForUs);
    };
    if ip.version != IpVersion::V6 || ip.ttl != ND_HOP_LIMIT || code != 0 {
        return Err(DropReason::Malformed);
    }
    let f = buf.data();
    let end = ip.l3_offset + ip.l3_len;
    let ns = NdiscPacket::new_checked(f.get(ip.l4_offset..end).ok_or(DropReason::Malformed)?)?;
    let target = ns.target();
    if target.is_multicast() {
        return Err(DropReason::Malformed);
    }
    if !is_ours(target) {
        return Err(DropReason::NotForUs);
    }
    let std::net::IpAddr::V6(asker) = ip.src else {
        return Err(DropReason::Malformed);
    };
    let eth_src = EthernetFrame::new_unchecked(f).src();
    let (dst, dst_mac, flags) = if asker.is_unspecified() {
        (ALL_NODES, MacAddr::ipv6_multicast(ALL_NODES), FLAG_OVERRIDE)
    } else {
        let mac = ns.link_layer_option(OPT_SOURCE_LL).unwrap_or(eth_src);
        (asker, mac, FLAG_SOLICITED | FLAG_OVERRIDE)
    };
    let l2 = info.l2_len;
    set_len(buf, l2 + 40 + ND_MSG_LEN)?;
    write_nd(
        buf.data_mut(),
        l2,
        (our_mac, dst_mac),
        target,
        dst,
        (NEIGHBOR_ADVERT, flags),
        target,
        (OPT_TARGET_LL, our_mac),
    );
    Ok(())
}

/// Build into `buf` (its content replaced) an untagged neighbour solicitation for `target`
/// from `src_mac` / `src_ip`: to the solicited-node multicast address of `target` and its
/// MAC 33:33:ff:xx:xx:xx, hop limit 255, with a source link-layer option.
pub fn build_neighbor_solicit<B: PacketBuf>(
    buf: &mut B,
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<(), DropReason> {
    set_len(buf, 14 + 40 + ND_MSG_LEN)?;
    let f = buf.data_mut();
    f[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
    let dst = solicited_node(target);
    write_nd(
        f,
        14,
        (src_mac, MacAddr::ipv6_multicast(dst)),
        src_ip,
        dst,
        (NEIGHBOR_SOLICIT, 0),
        target,
        (OPT_SOURCE_LL, src_mac),
    );
    Ok(())
}

/// Build into `buf` (its content replaced) an unsolicited neighbour advertisement for
/// `target` (RFC 4861 7.2.6, a new master taking an address over): from `target` to
/// all-nodes (ff02::1, 33:33:00:00:00:01), flag Override, a target link-layer option with
/// `src_mac`, hop limit 255.
pub fn build_unsolicited_advert<B: PacketBuf>(
    buf: &mut B,
    src_mac: MacAddr,
    target: Ipv6Addr,
) -> Result<(), DropReason> {
    set_len(buf, 14 + 40 + ND_MSG_LEN)?;
    let f = buf.data_mut();
    f[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
    write_nd(
        f,
        14,
        (src_mac, MacAddr::ipv6_multicast(ALL_NODES)),
        target,
        ALL_NODES,
        (NEIGHBOR_ADVERT, FLAG_OVERRIDE),
        target,
        (OPT_TARGET_LL, src_mac),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duties::learn_neighbor;
    use crate::packet::HeapBuf;
    use crate::wire::parse_frame;
    use crate::wire::test_frames::*;
    use std::net::IpAddr;

    const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
    const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x99]);

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// A solicitation built by etherparse (checksum included), optionally with a source
    /// link-layer option.
    fn ns_frame(src: &str, dst: &str, target: &str, sll: Option<MacAddr>) -> Vec<u8> {
        let mut body = v6(target).octets().to_vec();
        if let Some(m) = sll {
            body.extend_from_slice(&[1, 1]);
            body.extend_from_slice(&m.0);
        }
        let mut s = Spec::new(
            &format!("[{src}]:0"),
            &format!("[{dst}]:0"),
            L4::Error {
                msg_type: 135,
                code: 0,
                rest: [0; 4],
                quoted: body,
            },
        )
        .ttl(255);
        s.payload.clear();
        s.build()
    }

    #[test]
    fn solicitation_from_a_neighbour_gets_a_solicited_advert() {
        let f = ns_frame(
            "2001:db8::99",
            "ff02::1:ff00:1",
            "2001:db8::1",
            Some(PEER_MAC),
        );
        let info = parse_frame(&f).unwrap();
        let mut b = HeapBuf::from_frame(&f).unwrap();
        neighbor_advert_reply(&mut b, &info, OUR_MAC, |t| t == v6("2001:db8::1")).unwrap();
        let out = b.data();
        assert_eq!(out.len(), 14 + 40 + 32);
        let seen = verify(out); // ICMPv6 checksum with its pseudo-header
        assert_eq!(
            (seen.src, seen.dst, seen.ttl),
            (
                IpAddr::V6(v6("2001:db8::1")),
                IpAddr::V6(v6("2001:db8::99")),
                255
            )
        );
        assert_eq!((&out[..6], &out[6..12]), (&PEER_MAC.0[..], &OUR_MAC.0[..]));
        let na = NdiscPacket::new_checked(&out[54..]).unwrap();
        assert_eq!(
            (na.msg_type(), na.flags(), na.target()),
            (136, 0x60, v6("2001:db8::1"))
        );
        assert_eq!(na.link_layer_option(OPT_TARGET_LL), Some(OUR_MAC));
        assert_eq!(
            learn_neighbor(out, &parse_frame(out).unwrap()),
            Some((IpAddr::V6(v6("2001:db8::1")), OUR_MAC))
        );
    }

    #[test]
    fn dad_probe_gets_an_all_nodes_advert_and_others_are_refused() {
        let f = ns_frame("::", "ff02::1:ff00:1", "2001:db8::1", None);
        let info = parse_frame(&f).unwrap();
        let mut b = HeapBuf::from_frame(&f).unwrap();
        neighbor_advert_reply(&mut b, &info, OUR_MAC, |_| true).unwrap();
        let seen = verify(b.data());
        assert_eq!(seen.dst, IpAddr::V6(ALL_NODES));
        assert_eq!(&b.data()[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(b.data()[54 + 4], FLAG_OVERRIDE, "not solicited");
        // Not our target; wrong hop limit.
        let mut b = HeapBuf::from_frame(&f).unwrap();
        assert_eq!(
            neighbor_advert_reply(&mut b, &info, OUR_MAC, |_| false),
            Err(DropReason::NotForUs)
        );
        assert_eq!(b.data(), &f[..]);
        let mut g = f.clone();
        g[14 + 7] = 64;
        let info = parse_frame(&g).unwrap();
        let mut b = HeapBuf::from_frame(&g).unwrap();
        assert_eq!(
            neighbor_advert_reply(&mut b, &info, OUR_MAC, |_| true),
            Err(DropReason::Malformed)
        );
    }

    #[test]
    fn built_solicitation_is_valid_and_answerable() {
        let mut b = HeapBuf::new();
        build_neighbor_solicit(
            &mut b,
            PEER_MAC,
            v6("2001:db8::99"),
            v6("2001:db8::abcd:1234"),
        )
        .unwrap();
        let f = b.data().to_vec();
        let seen = verify(&f);
        assert_eq!(seen.dst, IpAddr::V6(v6("ff02::1:ffcd:1234")));
        assert_eq!(&f[..6], &[0x33, 0x33, 0xff, 0xcd, 0x12, 0x34]);
        assert_eq!(seen.ttl, 255);
        let ns = NdiscPacket::new_checked(&f[54..]).unwrap();
        assert_eq!(
            (ns.msg_type(), ns.link_layer_option(OPT_SOURCE_LL)),
            (135, Some(PEER_MAC))
        );
        // The owner answers it; the asker learns the owner's MAC from the advert.
        let info = parse_frame(&f).unwrap();
        neighbor_advert_reply(&mut b, &info, OUR_MAC, |t| t == v6("2001:db8::abcd:1234")).unwrap();
        let out = b.data();
        assert_eq!(&out[..6], &PEER_MAC.0);
        assert_eq!(
            learn_neighbor(out, &parse_frame(out).unwrap()),
            Some((IpAddr::V6(v6("2001:db8::abcd:1234")), OUR_MAC))
        );
    }
}
