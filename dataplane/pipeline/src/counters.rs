//! Per-worker counters: plain integers owned by one worker, summed on read.
//!
//! The counters themselves are listed once, in [`rvs_ctl::worker_counters!`]: the
//! struct, its sum, its summary and its copy into the control protocol (every counter)
//! come from there.

use std::collections::BTreeMap;

use rvs_ctl::proto::WorkerInfo;
use serde::Serialize;

use rvs_packet::drop::DropReason;

/// Packet and byte counts of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PacketBytes {
    /// Packets.
    pub packets: u64,
    /// Bytes (whole frames).
    pub bytes: u64,
}

impl PacketBytes {
    /// Count one frame of `len` bytes.
    #[inline]
    pub fn count(&mut self, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
    }

    fn add(&mut self, other: &PacketBytes) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Defines [`WorkerCounters`] and [`CounterSummary`] from the list of worker counters
/// ([`rvs_ctl::worker_counters!`]): the fields, the sum over workers, the summary and the
/// copy into the control protocol's [`WorkerInfo`].
macro_rules! define_worker_counters {
    (
        frames { $(
            $(#[doc = $frame_doc:literal])*
            $frame:ident => $frame_key:ident:
                $( $frame_wire:ident = $part:ident ($frame_metric:literal, $frame_help:literal) ),+;
        )* }
        drops {
            $(#[doc = $drops_doc:literal])*
            $drops:ident => $drops_key:ident:
                $drops_wire:ident ($drops_metric:literal, $drops_help:literal);
        }
        counts { $(
            $(#[doc = $count_doc:literal])*
            $count:ident => $count_key:ident:
                $count_wire:ident ($count_metric:literal, $count_help:literal);
        )* }
    ) => {
        /// Everything one worker counts. Aligned to a cache line so workers never share one.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[repr(align(64))]
        pub struct WorkerCounters {
            $(
                $(#[doc = $frame_doc])*
                pub $frame: PacketBytes,
            )*
            $(#[doc = $drops_doc])*
            ///
            /// Indexed by [`DropReason::index`].
            pub $drops: [u64; DropReason::ALL.len()],
            $(
                $(#[doc = $count_doc])*
                pub $count: u64,
            )*
        }

        // By hand: arrays of more than 32 elements have no derived `Default`.
        impl Default for WorkerCounters {
            fn default() -> Self {
                Self {
                    $( $frame: PacketBytes::default(), )*
                    $drops: [0; DropReason::ALL.len()],
                    $( $count: 0, )*
                }
            }
        }

        impl WorkerCounters {
            /// Add `other` into `self` (summing workers on read).
            pub fn add(&mut self, other: &WorkerCounters) {
                $( self.$frame.add(&other.$frame); )*
                for (a, b) in self.$drops.iter_mut().zip(other.$drops.iter()) {
                    *a += b;
                }
                $( self.$count += other.$count; )*
            }

            /// A JSON-friendly summary (drops by label, zero reasons left out).
            pub fn summary(&self) -> CounterSummary {
                CounterSummary {
                    $( $frame_key: self.$frame, )*
                    $drops_key: DropReason::ALL
                        .iter()
                        .filter(|r| self.$drops[r.index()] > 0)
                        .map(|r| (r.label(), self.$drops[r.index()]))
                        .collect(),
                    $( $count_key: self.$count, )*
                }
            }

            /// Copy every counter into the control protocol's `info` (every drop reason,
            /// zeros included).
            pub fn export_to(&self, info: &mut WorkerInfo) {
                $( $( info.$frame_wire = self.$frame.$part; )+ )*
                info.$drops_wire = DropReason::ALL
                    .iter()
                    .map(|r| (r.label().to_owned(), self.$drops[r.index()]))
                    .collect();
                $( info.$count_wire = self.$count; )*
            }

            /// Every counter but the drops, by its control-protocol name, to set in tests.
            #[cfg(test)]
            fn each_mut(&mut self) -> Vec<(&'static str, &mut u64)> {
                vec![
                    $( $( (stringify!($frame_wire), &mut self.$frame.$part), )+ )*
                    $( (stringify!($count_wire), &mut self.$count), )*
                ]
            }
        }

        /// The counters as printed at the end of a replay and served to the control plane.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
        pub struct CounterSummary {
            $(
                $(#[doc = $frame_doc])*
                pub $frame_key: PacketBytes,
            )*
            $(#[doc = $drops_doc])*
            ///
            /// Keyed by reason label; reasons with no drop are left out.
            pub $drops_key: BTreeMap<&'static str, u64>,
            $(
                $(#[doc = $count_doc])*
                pub $count_key: u64,
            )*
        }
    };
}

rvs_ctl::worker_counters!(define_worker_counters);

impl WorkerCounters {
    /// Count what giving a FULLNAT real the client's address did to a segment.
    #[inline]
    pub fn count_client_addr(&mut self, edit: crate::client_addr::Edit) {
        use crate::client_addr::Edit;
        match edit {
            Edit::Nothing => {}
            Edit::HeaderSent => self.proxy_headers_sent += 1,
            Edit::ToaAdded => self.toa_added += 1,
            Edit::ToaSkipped => self.toa_skipped += 1,
        }
    }

    /// Count a drop.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }

    /// Total drops over all reasons.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }
}

/// Defines [`IoCounters`] from one list of its counts: the fields and their sum.
macro_rules! io_counters {
    ($( $(#[doc = $doc:literal])* $count:ident, )*) => {
        /// Counts of the live I/O layer (the pipeline counts the rest).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct IoCounters {
            $( $(#[doc = $doc])* pub $count: u64, )*
        }

        impl IoCounters {
            /// Add `other` into `self`.
            pub fn add(&mut self, other: &IoCounters) {
                $( self.$count += other.$count; )*
            }

            /// Set the same-named counters of `worker` (every one of these is in the
            /// list of worker counters, so it reaches `rvsctl` and Prometheus; a count
            /// missing there does not compile).
            pub fn publish_to(&self, worker: &mut WorkerCounters) {
                $( worker.$count = self.$count; )*
            }
        }
    };
}

io_counters! {
    /// Frames handed to their owner through a steering ring.
    redirected,
    /// Copies of ARP replies / neighbour advertisements sent to the other workers.
    neighbor_copies,
    /// Frames handed to the worker holding a port's transmit queue.
    tx_handoffs,
    /// Frames the device refused to transmit (freed).
    tx_refused,
    /// Frames dropped because a steering ring was full.
    ring_full,
    /// Frames dropped because no mbuf was free (copies) or the headroom had no room for
    /// the steering tag.
    no_buffer,
    /// Multi-segment frames the receive queues dropped.
    rx_chained,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_sum_on_read() {
        let mut a = WorkerCounters::default();
        let mut b = WorkerCounters::default();
        a.rx.count(60);
        b.rx.count(100);
        a.drop(DropReason::NoService);
        b.drop(DropReason::NoService);
        b.drop(DropReason::Malformed);
        b.conns_created = 3;
        let mut total = WorkerCounters::default();
        total.add(&a);
        total.add(&b);
        assert_eq!(
            total.rx,
            PacketBytes {
                packets: 2,
                bytes: 160
            }
        );
        assert_eq!(total.dropped(), 3);
        let s = total.summary();
        assert_eq!(s.dropped.get("no_service"), Some(&2));
        assert_eq!(s.dropped.get("table_full"), None);
        assert_eq!(s.connections_created, 3);
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
    }

    #[test]
    fn the_control_protocol_carries_its_share() {
        let mut c = WorkerCounters::default();
        c.tx.count(80);
        c.drop(DropReason::NoService);
        c.redirected = 4;
        c.conns_expired = 2;
        c.toa_added = 9;
        let mut info = WorkerInfo::default();
        c.export_to(&mut info);
        assert_eq!((info.tx_packets, info.tx_bytes), (1, 80));
        assert_eq!((info.redirected, info.conns_expired), (4, 2));
        assert_eq!(info.drops.len(), DropReason::ALL.len());
        assert!(info.drops.contains(&("no_service".to_owned(), 1)));
    }

    #[test]
    fn every_io_counter_reaches_the_control_protocol() {
        let io = IoCounters {
            redirected: 1,
            neighbor_copies: 2,
            tx_handoffs: 3,
            tx_refused: 4,
            ring_full: 5,
            no_buffer: 6,
            rx_chained: 7,
        };
        let mut c = WorkerCounters::default();
        io.publish_to(&mut c);
        let mut info = WorkerInfo::default();
        c.export_to(&mut info);
        // Every field by name (a new one breaks this pattern until it is listed here).
        let IoCounters {
            redirected,
            neighbor_copies,
            tx_handoffs,
            tx_refused,
            ring_full,
            no_buffer,
            rx_chained,
        } = io;
        let fields = [
            ("redirected", redirected),
            ("neighbor_copies", neighbor_copies),
            ("tx_handoffs", tx_handoffs),
            ("tx_refused", tx_refused),
            ("ring_full", ring_full),
            ("no_buffer", no_buffer),
            ("rx_chained", rx_chained),
        ];
        for (name, value) in fields {
            let counter = WorkerInfo::COUNTERS
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("{name} is not a worker counter"));
            assert_eq!((counter.get)(&info), value, "{name}");
        }
    }

    #[test]
    fn every_counter_reaches_the_control_protocol() {
        let mut c = WorkerCounters::default();
        let mut set = Vec::new();
        for (value, (name, field)) in (1000..).zip(c.each_mut()) {
            *field = value;
            set.push((name, value));
        }
        let mut info = WorkerInfo::default();
        c.export_to(&mut info);
        let names: Vec<&str> = WorkerInfo::COUNTERS.iter().map(|w| w.name).collect();
        assert_eq!(
            set.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            names,
            "the pipeline's counters are the protocol's"
        );
        for (w, (name, value)) in WorkerInfo::COUNTERS.iter().zip(&set) {
            assert_eq!((w.get)(&info), *value, "{name}");
        }
    }
}
