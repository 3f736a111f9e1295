//! Which datagrams a worker hands to connection sync: UDP to `[ha.sync] address` and
//! `udp_port` names a sync datagram; it is taken only when it came in on `[ha.sync]
//! port`, from one of `peers`, with a valid UDP checksum. The worker checks this before
//! the datagram takes a place in the queue to the control core, so a flood from
//! elsewhere costs a comparison or a checksum per frame and never crowds out a peer.

use std::net::IpAddr;

use rvs_config::{HaSyncConfig, PortId};
use rvs_packet::wire::{l4_checksum_ok, IpInfo};

use super::refusal::SyncRefusal;

/// IP protocol number of UDP.
const UDP: u8 = 17;

/// The datagrams connection sync takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncFilter {
    port: PortId,
    address: IpAddr,
    udp_port: u16,
    peers: Box<[IpAddr]>,
}

impl SyncFilter {
    /// Datagrams to `address`:`udp_port` that came in on `port` from one of `peers`.
    pub fn new(port: PortId, address: IpAddr, udp_port: u16, peers: &[IpAddr]) -> Self {
        Self {
            port,
            address,
            udp_port,
            peers: peers.into(),
        }
    }

    /// The filter `[ha.sync]` describes.
    pub fn of(config: &HaSyncConfig) -> Self {
        Self::new(config.port, config.address, config.udp_port, &config.peers)
    }

    /// The address and UDP port that name a sync datagram.
    pub fn target(&self) -> (IpAddr, u16) {
        (self.address, self.udp_port)
    }

    /// Whether a datagram to [`target`](Self::target) is taken: `frame` came in on
    /// `port` and parses as `ip`.
    pub fn admit(&self, port: PortId, frame: &[u8], ip: &IpInfo) -> Result<(), SyncRefusal> {
        if port != self.port {
            return Err(SyncRefusal::Port);
        }
        if !self.peers.contains(&ip.src) {
            return Err(SyncRefusal::Source);
        }
        if !udp_checksum_ok(frame, ip) {
            return Err(SyncRefusal::Checksum);
        }
        Ok(())
    }
}

/// True when the UDP datagram of `ip` (IPv4) in `frame` has a checksum and it is right.
/// A zero checksum (none computed, which IPv4 allows) is refused: a sync sender always
/// computes one.
fn udp_checksum_ok(frame: &[u8], ip: &IpInfo) -> bool {
    ip.src.is_ipv4() && ip.protocol == UDP && l4_checksum_ok(frame, ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use rvs_packet::wire::parse_frame;

    fn datagram(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 1])
            .ipv4(src, [10, 0, 0, 1], 64)
            .udp(8848, 8848)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn filter() -> SyncFilter {
        let peers = ["10.0.0.9".parse().unwrap()];
        SyncFilter::new(PortId(0), "10.0.0.1".parse().unwrap(), 8848, &peers)
    }

    fn admit(port: PortId, frame: &[u8]) -> Result<(), SyncRefusal> {
        let ip = parse_frame(frame).unwrap().ip.unwrap();
        filter().admit(port, frame, &ip)
    }

    #[test]
    fn a_peers_datagram_on_the_sync_port_is_taken_and_nothing_else() {
        let good = datagram([10, 0, 0, 9], b"RVSS and the rest");
        assert_eq!(admit(PortId(0), &good), Ok(()));
        assert_eq!(admit(PortId(1), &good), Err(SyncRefusal::Port));
        let stranger = datagram([10, 0, 0, 8], b"RVSS and the rest");
        assert_eq!(admit(PortId(0), &stranger), Err(SyncRefusal::Source));
        // A flipped payload bit, a checksum left out.
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(admit(PortId(0), &bad), Err(SyncRefusal::Checksum));
        let mut none = good.clone();
        none[14 + 20 + 6..14 + 20 + 8].fill(0);
        assert_eq!(admit(PortId(0), &none), Err(SyncRefusal::Checksum));
        // Ethernet padding after a short datagram is not summed.
        let mut padded = datagram([10, 0, 0, 9], b"x");
        padded.resize(60, 0xaa);
        assert_eq!(admit(PortId(0), &padded), Ok(()));
    }
}
