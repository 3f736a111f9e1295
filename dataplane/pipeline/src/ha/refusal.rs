//! Why connection sync refused a message or a record: one bounded set of reasons,
//! counted where each refusal happens (the worker that received a datagram, the control
//! core that read it, the worker that would install a record) and exported as the
//! `reason` label of `rvs_ha_sync_refused_total`.

/// Every reason a sync message or record is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncRefusal {
    /// A sync datagram that came in on another dataplane port than `[ha.sync] port`.
    Port,
    /// A sync datagram from an address that is not one of `[ha.sync] peers`.
    Source,
    /// A sync datagram without a valid UDP checksum.
    Checksum,
    /// Not a sync message, or lengths that do not add up.
    Malformed,
    /// Another format version.
    Version,
    /// No tag, or a tag that does not verify with the key.
    Auth,
    /// A sequence number already taken, or below the window.
    Replay,
    /// The sender's clock more than the allowed skew away from this director's.
    Clock,
    /// A new sender epoch whose time is not after the last message taken from that peer.
    Epoch,
    /// The sender runs another worker count.
    Workers,
    /// The sender owns its FULLNAT local ports another way.
    Scheme,
    /// Received while this director is master.
    Master,
    /// A record with an unknown code, mixed address families, or missing endpoints.
    Record,
    /// A record naming no service of this director.
    Service,
    /// A record naming a real its service does not have.
    Real,
    /// A record whose real has another forwarding mode here.
    ForwardMode,
    /// A state the record's protocol does not have.
    State,
    /// A persistence template (or a connection's link to one) that the service's
    /// persistence cannot have made.
    Template,
    /// Stream state (client address, SYN proxy) the service cannot have made.
    Stream,
    /// A FULLNAT local address that is not one of the service's.
    LocalAddress,
    /// A FULLNAT local port that the worker would not hand out, or one already held.
    LocalPort,
    /// A connection this worker holds with another real or local endpoint.
    Conflict,
    /// The worker's connection or template table is full.
    TableFull,
}

impl SyncRefusal {
    /// Every reason, in label order.
    pub const ALL: [SyncRefusal; 23] = [
        SyncRefusal::Port,
        SyncRefusal::Source,
        SyncRefusal::Checksum,
        SyncRefusal::Malformed,
        SyncRefusal::Version,
        SyncRefusal::Auth,
        SyncRefusal::Replay,
        SyncRefusal::Clock,
        SyncRefusal::Epoch,
        SyncRefusal::Workers,
        SyncRefusal::Scheme,
        SyncRefusal::Master,
        SyncRefusal::Record,
        SyncRefusal::Service,
        SyncRefusal::Real,
        SyncRefusal::ForwardMode,
        SyncRefusal::State,
        SyncRefusal::Template,
        SyncRefusal::Stream,
        SyncRefusal::LocalAddress,
        SyncRefusal::LocalPort,
        SyncRefusal::Conflict,
        SyncRefusal::TableFull,
    ];

    /// The metric label (snake case).
    pub const fn label(self) -> &'static str {
        match self {
            SyncRefusal::Port => "port",
            SyncRefusal::Source => "source",
            SyncRefusal::Checksum => "checksum",
            SyncRefusal::Malformed => "malformed",
            SyncRefusal::Version => "version",
            SyncRefusal::Auth => "auth",
            SyncRefusal::Replay => "replay",
            SyncRefusal::Clock => "clock",
            SyncRefusal::Epoch => "epoch",
            SyncRefusal::Workers => "workers",
            SyncRefusal::Scheme => "scheme",
            SyncRefusal::Master => "master",
            SyncRefusal::Record => "record",
            SyncRefusal::Service => "service",
            SyncRefusal::Real => "real",
            SyncRefusal::ForwardMode => "forward_mode",
            SyncRefusal::State => "state",
            SyncRefusal::Template => "template",
            SyncRefusal::Stream => "stream",
            SyncRefusal::LocalAddress => "local_address",
            SyncRefusal::LocalPort => "local_port",
            SyncRefusal::Conflict => "conflict",
            SyncRefusal::TableFull => "table_full",
        }
    }

    /// True for a whole message refused; false for one record of it.
    pub const fn is_message(self) -> bool {
        (self as usize) < SyncRefusal::Record as usize
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
        for (i, r) in SyncRefusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut labels: Vec<_> = SyncRefusal::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), SyncRefusal::ALL.len());
        assert!(SyncRefusal::Master.is_message());
        assert!(!SyncRefusal::Record.is_message());
    }
}
