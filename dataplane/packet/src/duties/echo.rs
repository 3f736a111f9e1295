//! ICMP and ICMPv6 echo replies, in place.

use crate::checksum::{apply_delta, delta_u16};
use crate::drop::DropReason;
use crate::wire::{icmpv4, icmpv6, EthernetFrame, FrameInfo, IpVersion, L4Info};

/// TTL / hop limit of the director's own packets.
pub const OWN_TTL: u8 = 64;

/// Turn an echo request (ICMP or ICMPv6) addressed to the director into its reply, in
/// place: MACs and IP addresses swapped, type changed, TTL / hop limit set to
/// [`OWN_TTL`], checksums fixed incrementally (the ICMPv6 pseudo-header sum does not change
/// when the addresses swap). The caller answers only requests to its unicast addresses.
/// Not an unfragmented echo request: [`DropReason::NotForUs`], frame untouched.
pub fn echo_reply(frame: &mut [u8], info: &FrameInfo) -> Result<(), DropReason> {
    let ip = info.ip.as_ref().ok_or(DropReason::Malformed)?;
    if ip.is_fragment || !matches!(ip.l4, L4Info::IcmpEcho { request: true, .. }) {
        return Err(DropReason::NotForUs);
    }
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    let (src, dst) = (eth.src(), eth.dst());
    eth.set_src(dst);
    eth.set_dst(src);

    let (l3, l4) = (ip.l3_offset, ip.l4_offset);
    let (addr_at, addr_len, reply) = match ip.version {
        IpVersion::V4 => {
            let old = u16::from_be_bytes([frame[l3 + 8], frame[l3 + 9]]);
            frame[l3 + 8] = OWN_TTL;
            let new = u16::from_be_bytes([frame[l3 + 8], frame[l3 + 9]]);
            let c = u16::from_be_bytes([frame[l3 + 10], frame[l3 + 11]]);
            frame[l3 + 10..l3 + 12]
                .copy_from_slice(&apply_delta(c, delta_u16(old, new)).to_be_bytes());
            (l3 + 12, 4, icmpv4::ECHO_REPLY)
        }
        IpVersion::V6 => {
            frame[l3 + 7] = OWN_TTL;
            (l3 + 8, 16, icmpv6::ECHO_REPLY)
        }
    };
    // Swapping source and destination leaves every sum over them unchanged.
    let (a, b) = frame[addr_at..addr_at + 2 * addr_len].split_at_mut(addr_len);
    a.swap_with_slice(b);

    let old = u16::from_be_bytes([frame[l4], frame[l4 + 1]]);
    frame[l4] = reply;
    let new = u16::from_be_bytes([frame[l4], frame[l4 + 1]]);
    let c = u16::from_be_bytes([frame[l4 + 2], frame[l4 + 3]]);
    frame[l4 + 2..l4 + 4].copy_from_slice(&apply_delta(c, delta_u16(old, new)).to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_frame;
    use crate::wire::test_frames::*;
    use etherparse::{Icmpv4Type, Icmpv6Type, PacketHeaders, TransportHeader};

    #[test]
    fn echo_reply_v4_and_v6() {
        for (client, ours) in [
            ("192.0.2.10:0", "10.0.0.100:0"),
            ("[2001:db8:c::10]:0", "[2001:db8::100]:0"),
        ] {
            let mut spec = Spec::new(client, ours, L4::EchoRequest { ident: 0xbeef })
                .ttl(3)
                .vlan();
            spec.payload = b"abcdefghijklmnopqrstuvwxyz".to_vec();
            let mut f = spec.build();
            let info = parse_frame(&f).unwrap();
            echo_reply(&mut f, &info).unwrap();
            let seen = verify(&f); // every checksum
            assert_eq!(
                (seen.src, seen.dst, seen.ttl),
                (spec.dst.ip(), spec.src.ip(), 64)
            );
            assert_eq!(seen.payload, spec.payload);
            assert_eq!((&f[..6], &f[6..12]), (&SRC_MAC[..], &DST_MAC[..]));
            let h = PacketHeaders::from_ethernet_slice(&f).unwrap();
            match h.transport.unwrap() {
                TransportHeader::Icmpv4(i) => assert!(
                    matches!(i.icmp_type, Icmpv4Type::EchoReply(e) if e.id == 0xbeef && e.seq == 1)
                ),
                TransportHeader::Icmpv6(i) => {
                    assert!(matches!(i.icmp_type, Icmpv6Type::EchoReply(e) if e.id == 0xbeef))
                }
                t => panic!("{t:?}"),
            }
        }
    }

    #[test]
    fn only_requests_are_answered() {
        let mut f = Spec::v4_tcp().build();
        let info = parse_frame(&f).unwrap();
        assert_eq!(echo_reply(&mut f, &info), Err(DropReason::NotForUs));
        let mut f = Spec::new("192.0.2.10:0", "10.0.0.100:0", L4::EchoRequest { ident: 1 }).build();
        let info = parse_frame(&f).unwrap();
        echo_reply(&mut f, &info).unwrap();
        let info = parse_frame(&f).unwrap();
        assert_eq!(
            echo_reply(&mut f, &info),
            Err(DropReason::NotForUs),
            "a reply is not answered"
        );
    }
}
