//! Why the pipeline dropped a packet. `Copy`, cheap to count, and a metric label.

/// Every reason the pipeline drops a packet. Each is counted per worker and exported as
/// the `reason` label of the drop counters, so the set is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The frame could not be parsed (truncated, bad lengths, bad header fields).
    Malformed,
    /// An L3/L4 protocol the director does not handle.
    UnsupportedProtocol,
    /// Not addressed to the director, a VIP, or a tracked connection.
    NotForUs,
    /// Addressed to a VIP but no service listens on that protocol and port.
    NoService,
    /// The service has no real that may take a new connection.
    NoReal,
    /// A packet that cannot open a connection (e.g. TCP without SYN) and matches none.
    NoConnection,
    /// The connection table is full.
    TableFull,
    /// No FULLNAT local port is free.
    NoLocalPort,
    /// TTL or hop limit exhausted.
    TtlExceeded,
    /// No route to the next hop.
    NoRoute,
    /// The queue of packets waiting for neighbour resolution is full.
    NeighborQueueFull,
    /// The packet does not fit the egress port's MTU, as it came or with what the
    /// director adds (a sender that forbade fragmentation is told the path MTU with ICMP
    /// fragmentation needed / packet too big).
    TooBig,
    /// No buffer was available to build a packet.
    NoBuffer,
    /// An ICMP error whose quoted packet matches no connection.
    IcmpNoConnection,
    /// An IP fragment not reassembled: reassembly is off (`[dataplane] frag_memory = 0`),
    /// or the reassembled datagram is not one the director forwards (neither TCP nor UDP,
    /// or for the director itself).
    Fragment,
    /// The next hop never answered resolution; its waiting packets were dropped.
    NeighborUnresolved,
    /// A client packet of a connection whose real was removed from its service; the
    /// connection was expired with it (`expire_nodest_conn`).
    RealRemoved,
    /// Traffic for the director's own addresses over the kernel exception path's budget.
    KernelLimited,
    /// A source address no host can send from: unspecified, loopback, multicast,
    /// broadcast or reserved (IPv4 0/8, 127/8, 224/4, 240/4; IPv6 ::, ::1, ff00::/8).
    MartianSource,
    /// A source address of the director itself: a VIP (a LAND attack when the
    /// destination is the same), a FULLNAT local address or a port address.
    OwnSource,
    /// An ACK toward a SYN-proxied service that matches no connection and carries no
    /// valid cookie.
    SynproxyBadCookie,
    /// A segment of a SYN-proxied connection whose real has not answered the director's
    /// SYN yet (the client retransmits it).
    SynproxyWaiting,
    /// Traffic for the virtual router's addresses (VIPs, local and floating addresses)
    /// reaching a director that is backup under `[ha]`: it neither answers nor forwards.
    HaBackup,
    /// A VRRP frame the control core had no room for (its queue was full).
    HaQueueFull,
    /// A datagram to the connection sync address and port that sync refused before
    /// queueing it: another port than `[ha.sync] port`, a source that is not a peer, or
    /// a bad UDP checksum (counted by reason with the other sync refusals).
    HaSyncRefused,
    /// A VRRP frame refused before queueing it: not an advert of this director's virtual
    /// router that `[ha]` takes (port, TTL, destination, format, checksum, VRID, source),
    /// or over its source's rate (counted by reason in `rvs_ha_vrrp_refused_total`).
    HaVrrpRefused,
    /// A first packet from a client the service's allow and deny lists refuse (or, with
    /// `acl_drop_established`, a packet of a connection they refuse since a change).
    AclDenied,
    /// A first packet over its client's or its service's rate of new connections
    /// (`limit_new_per_client`, `limit_new`), or from a client the full limit table has
    /// no room for (`limit_overflow = "refuse"`).
    RateLimited,
    /// A first packet from a client with `limit_conns_per_client` connections open.
    ConnLimited,
    /// A fragment overlapping another of its datagram (not an exact duplicate): the
    /// whole datagram is discarded, its fragments counted here (RFC 5722 for IPv6; rvs
    /// refuses IPv4 overlaps too, as Linux does since 4.19).
    FragmentOverlap,
    /// An exact duplicate of a fragment already held (RFC 8200 section 4.5): dropped,
    /// the datagram kept.
    FragmentDuplicate,
    /// A datagram of more fragments than `[dataplane] frag_fragments`: discarded.
    FragmentTooMany,
    /// Fragments of a datagram given up for a newer one when the worker's datagrams in
    /// progress (`frag_datagrams`) or reassembly memory (`frag_memory`) ran out.
    FragmentEvicted,
    /// Fragments of a datagram not complete within `[dataplane] frag_timeout`.
    FragmentTimeout,
    /// Content switching (`l7`): the client's first bytes cannot decide (not an
    /// HTTP/1.x request or a TLS ClientHello, or a malformed one); the connection is
    /// reset.
    L7Malformed,
    /// Content switching: the client's first bytes did not decide within the bound
    /// (bytes read or segments held); the connection is reset.
    L7Oversized,
    /// Content switching: the client did not send what decides within `l7_timeout`;
    /// the connection is reset.
    L7Timeout,
    /// Content switching: a new connection found the worker's table of connections
    /// waiting for their first bytes full; the one waiting longest gave way to it (it
    /// is reset).
    L7WaitingFull,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 38] = [
        DropReason::Malformed,
        DropReason::UnsupportedProtocol,
        DropReason::NotForUs,
        DropReason::NoService,
        DropReason::NoReal,
        DropReason::NoConnection,
        DropReason::TableFull,
        DropReason::NoLocalPort,
        DropReason::TtlExceeded,
        DropReason::NoRoute,
        DropReason::NeighborQueueFull,
        DropReason::TooBig,
        DropReason::NoBuffer,
        DropReason::IcmpNoConnection,
        DropReason::Fragment,
        DropReason::NeighborUnresolved,
        DropReason::RealRemoved,
        DropReason::KernelLimited,
        DropReason::MartianSource,
        DropReason::OwnSource,
        DropReason::SynproxyBadCookie,
        DropReason::SynproxyWaiting,
        DropReason::HaBackup,
        DropReason::HaQueueFull,
        DropReason::HaSyncRefused,
        DropReason::HaVrrpRefused,
        DropReason::AclDenied,
        DropReason::RateLimited,
        DropReason::ConnLimited,
        DropReason::FragmentOverlap,
        DropReason::FragmentDuplicate,
        DropReason::FragmentTooMany,
        DropReason::FragmentEvicted,
        DropReason::FragmentTimeout,
        DropReason::L7Malformed,
        DropReason::L7Oversized,
        DropReason::L7Timeout,
        DropReason::L7WaitingFull,
    ];

    /// The metric label (snake case).
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::NotForUs => "not_for_us",
            DropReason::NoService => "no_service",
            DropReason::NoReal => "no_real",
            DropReason::NoConnection => "no_connection",
            DropReason::TableFull => "table_full",
            DropReason::NoLocalPort => "no_local_port",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::NoRoute => "no_route",
            DropReason::NeighborQueueFull => "neighbor_queue_full",
            DropReason::TooBig => "too_big",
            DropReason::NoBuffer => "no_buffer",
            DropReason::IcmpNoConnection => "icmp_no_connection",
            DropReason::Fragment => "fragment",
            DropReason::NeighborUnresolved => "neighbor_unresolved",
            DropReason::RealRemoved => "real_removed",
            DropReason::KernelLimited => "kernel_limited",
            DropReason::MartianSource => "martian_source",
            DropReason::OwnSource => "own_source",
            DropReason::SynproxyBadCookie => "synproxy_bad_cookie",
            DropReason::SynproxyWaiting => "synproxy_waiting",
            DropReason::HaBackup => "ha_backup",
            DropReason::HaQueueFull => "ha_queue_full",
            DropReason::HaSyncRefused => "ha_sync_refused",
            DropReason::HaVrrpRefused => "ha_vrrp_refused",
            DropReason::AclDenied => "acl_denied",
            DropReason::RateLimited => "rate_limited",
            DropReason::ConnLimited => "conn_limited",
            DropReason::FragmentOverlap => "fragment_overlap",
            DropReason::FragmentDuplicate => "fragment_duplicate",
            DropReason::FragmentTooMany => "fragment_too_many",
            DropReason::FragmentEvicted => "fragment_evicted",
            DropReason::FragmentTimeout => "fragment_timeout",
            DropReason::L7Malformed => "l7_malformed",
            DropReason::L7Oversized => "l7_oversized",
            DropReason::L7Timeout => "l7_timeout",
            DropReason::L7WaitingFull => "l7_waiting_full",
        }
    }

    /// Index into per-reason counter arrays (`0..ALL.len()`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_labels_are_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut labels: Vec<_> = DropReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), DropReason::ALL.len());
    }
}
