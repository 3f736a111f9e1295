//! Why a frame for the control core was refused: one bounded set of reasons for
//! connection sync ([`SyncRefusal`]) and one for VRRP ([`VrrpRefusal`]), counted where
//! each refusal happens (the worker that received the frame, the control core that read
//! it, the worker that would install a record) and exported as the `reason` label of
//! `rvs_ha_sync_refused_total` and `rvs_ha_vrrp_refused_total`.

/// Declares a reason enum with its label table: every variant with the metric label it
/// is counted under, `ALL` in label order, `label` and `index`.
macro_rules! reasons {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $label:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every reason, in label order.
            pub const ALL: [$name; [$($label),*].len()] = [$($name::$variant),*];

            /// The metric label (snake case).
            pub const fn label(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )*
                }
            }

            /// Index into per-reason counter arrays (`0..ALL.len()`).
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

reasons! {
    /// Every reason a sync message or record is refused.
    pub enum SyncRefusal {
        /// A sync datagram that came in on another dataplane port than `[ha.sync] port`.
        Port => "port",
        /// A sync datagram from an address that is not one of `[ha.sync] peers`.
        Source => "source",
        /// A sync datagram without a valid UDP checksum.
        Checksum => "checksum",
        /// A sync datagram over its source's rate in the receiving worker
        /// ([`super::rate_limit`]).
        Rate => "rate",
        /// A sync datagram that found the queue to the control core full.
        QueueFull => "queue_full",
        /// Not a sync message, or lengths that do not add up.
        Malformed => "malformed",
        /// Another format version.
        Version => "version",
        /// No tag, or a tag that does not verify with the key.
        Auth => "auth",
        /// A sequence number already taken, or below the window.
        Replay => "replay",
        /// The sender's clock more than the allowed skew away from this director's.
        Clock => "clock",
        /// A new sender epoch whose time is not after the last message taken from that
        /// peer.
        Epoch => "epoch",
        /// The sender runs another worker count.
        Workers => "workers",
        /// The sender owns its FULLNAT local ports another way.
        Scheme => "scheme",
        /// Received while this director is master.
        Master => "master",
        /// A record with an unknown code, mixed address families, or missing endpoints.
        Record => "record",
        /// A record naming no service of this director.
        Service => "service",
        /// A record naming a real its service does not have.
        Real => "real",
        /// A record whose real has another forwarding mode here.
        ForwardMode => "forward_mode",
        /// A state the record's protocol does not have.
        State => "state",
        /// A persistence template (or a connection's link to one) that the service's
        /// persistence cannot have made.
        Template => "template",
        /// Stream state (client address, SYN proxy) the service cannot have made.
        Stream => "stream",
        /// A FULLNAT local address that is not one of the service's.
        LocalAddress => "local_address",
        /// A FULLNAT local port that the worker would not hand out, or one already held.
        LocalPort => "local_port",
        /// A connection this worker holds with another real or local endpoint.
        Conflict => "conflict",
        /// The worker's connection or template table is full.
        TableFull => "table_full",
    }
}

impl SyncRefusal {
    /// True for a whole message refused; false for one record of it.
    pub const fn is_message(self) -> bool {
        (self as usize) < SyncRefusal::Record as usize
    }
}

reasons! {
    /// Every reason a received VRRP frame (IP protocol 112) is refused, in the order the
    /// checks run ([`super::vrrp_filter`]); the last two are the worker's limits.
    pub enum VrrpRefusal {
        /// It came in on another dataplane port than `[ha] port`.
        Port => "port",
        /// Not IPv4 (rvs runs VRRP over IPv4).
        Family => "family",
        /// A TTL other than 255: it crossed a router.
        Ttl => "ttl",
        /// Not to 224.0.0.18 without `unicast_peers`, or not to `[ha]`'s source address
        /// with them.
        Destination => "destination",
        /// Not a whole VRRP message: shorter than its header, or an IP length other than
        /// the header and the addresses it counts.
        Malformed => "malformed",
        /// Not a VRRP version 3 advertisement.
        Version => "version",
        /// A VRRP checksum that does not verify.
        Checksum => "checksum",
        /// An advert of another virtual router.
        Vrid => "vrid",
        /// Sent from this director's own `[ha]` source address.
        Own => "own",
        /// With `unicast_peers`: from an address that is not one of them.
        Source => "source",
        /// Over its source's rate in the receiving worker ([`super::rate_limit`]).
        Rate => "rate",
        /// The queue of adverts to the control core was full.
        QueueFull => "queue_full",
    }
}

impl VrrpRefusal {
    /// True when the frame is not a valid advert of any virtual router for this
    /// director (the `adverts_refused` of `rvsctl status`); false for another virtual
    /// router's advert (`other_vrid`).
    pub const fn is_invalid(self) -> bool {
        !matches!(self, VrrpRefusal::Vrid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(labels: impl Iterator<Item = &'static str>) -> usize {
        let mut labels: Vec<_> = labels.collect();
        labels.sort_unstable();
        labels.dedup();
        labels.len()
    }

    #[test]
    fn all_is_in_index_order_and_labels_are_unique() {
        for (i, r) in SyncRefusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in VrrpRefusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let sync = SyncRefusal::ALL.iter().map(|r| r.label());
        assert_eq!(unique(sync), SyncRefusal::ALL.len());
        let vrrp = VrrpRefusal::ALL.iter().map(|r| r.label());
        assert_eq!(unique(vrrp), VrrpRefusal::ALL.len());
        assert!(SyncRefusal::Master.is_message());
        assert!(SyncRefusal::QueueFull.is_message());
        assert!(!SyncRefusal::Record.is_message());
        assert_eq!(SyncRefusal::TableFull.label(), "table_full");
        assert_eq!(VrrpRefusal::QueueFull.label(), "queue_full");
        assert!(!VrrpRefusal::Vrid.is_invalid() && VrrpRefusal::Rate.is_invalid());
    }
}
