//! The Ethernet addresses of a frame, set by every forwarding mode.

use crate::wire::{EthernetFrame, MacAddr};

/// Set the source and destination MAC of `frame` (the first 12 bytes). Frames shorter than
/// an Ethernet header are left alone (parsed frames never are).
#[inline]
pub fn set_macs(frame: &mut [u8], src: MacAddr, dst: MacAddr) {
    if let Ok(mut eth) = EthernetFrame::new_checked(frame) {
        eth.set_src(src);
        eth.set_dst(dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_frames::*;

    #[test]
    fn dr_changes_only_the_macs() {
        let input = Spec::v4_tcp().vlan().build();
        let mut f = input.clone();
        set_macs(
            &mut f,
            MacAddr([2, 0, 0, 0, 0, 0xaa]),
            MacAddr([2, 0, 0, 0, 0, 0xbb]),
        );
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(e)) = p.link else {
            panic!()
        };
        assert_eq!(e.source(), [2, 0, 0, 0, 0, 0xaa]);
        assert_eq!(e.destination(), [2, 0, 0, 0, 0, 0xbb]);
        assert_eq!(&f[12..], &input[12..], "nothing past the MACs changes");
    }
}
