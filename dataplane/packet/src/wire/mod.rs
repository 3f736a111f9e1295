//! Zero-copy, checked packet views and the per-packet summary parser.
//!
//! Each protocol has a `Packet<T: AsRef<[u8]>>`-style view with a private `field` module of
//! byte ranges, getters in one impl and setters in an `AsMut<[u8]>` impl. `new_checked`
//! validates everything the getters index, so after it succeeds no getter panics, whatever
//! the bytes. `new_unchecked` is for buffers the caller built.
//!
//! [`parse_frame`] is the hot-path entry: one pass over a frame into a `Copy` [`FrameInfo`].
//!
//! IPIP has no header of its own: an IPv4 packet with protocol [`ip_proto::IPIP`] or an IPv6
//! packet with next header [`ip_proto::IPV6`] carries a whole IP packet at its L4 offset;
//! [`parse_frame`] reports it as [`L4Info::Tunnel`] and [`parse_ip`] parses the inner packet.

pub mod arp;
pub(crate) mod bytes;
pub mod ethernet;
mod frame;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
mod l4_checksum;
pub mod ndisc;
pub mod tcp;
pub mod udp;
pub mod vrrp;

#[cfg(test)]
mod robustness;
#[cfg(any(test, feature = "test-frames"))]
pub mod test_frames;

// What the views below read and write their fields with.
use bytes::{array, be16, put16};

pub use arp::ArpPacket;
pub use ethernet::{EthernetFrame, MacAddr};
pub use frame::{parse_frame, parse_ip, FrameInfo, IpInfo, IpVersion, L4Info, Quoted};
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::Icmpv6Packet;
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6Packet, UpperLayer};
pub use l4_checksum::{fill_l4_checksum, l4_checksum_ok};
pub use ndisc::NdiscPacket;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;
pub use vrrp::{VrrpPacket, VrrpRepr};

/// EtherType values the director handles.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

/// IP protocol / IPv6 next-header numbers the director handles.
pub mod ip_proto {
    /// IPv6 hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 in IP (IPIP).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NO_NEXT: u8 = 59;
    /// IPv6 destination options.
    pub const DST_OPTS: u8 = 60;
}
