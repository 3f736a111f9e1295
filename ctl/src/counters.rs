//! The counters every worker keeps, listed once in [`worker_counters!`](crate::worker_counters).
//!
//! The list is the single place a worker counter is named and described. Each user of it
//! expands the list through a macro of its own, which reads what it needs:
//!
//! - `rvs-pipeline`'s `counters`: the per-worker counter struct, the sum over workers,
//!   and the summary printed at the end of a run (its JSON keys) together with the copy
//!   into the control protocol's worker listing;
//! - [`crate::proto`]: the counter fields of [`crate::proto::WorkerInfo`];
//! - `rvs-control`'s `metrics`: the names and help texts of the per-worker Prometheus
//!   families.
//!
//! It lives in this crate because the daemon's crates and the clients all depend on it,
//! and it depends on none of them (nor on DPDK).

/// Hands the list of a worker's counters to `$callback!`, in the order they are reported.
///
/// The list has three sections, one per kind of counter:
///
/// - `frames`: packet and byte counts of one direction. An entry reads
///   `field => json_key: wire = part (metric, help), ...`: the counter's field, its key in
///   the run summary, then one control-protocol field per part (`packets`, `bytes`) with
///   the Prometheus family it is exported as.
/// - `drops`: the drop counts by reason, as `field => json_key: wire (metric, help)`.
/// - `counts`: plain counts, as `field => json_key` followed, for the counts the control
///   protocol carries, by `: wire (metric, help)`.
///
/// Each entry's doc comment describes the counter wherever it appears.
#[macro_export]
macro_rules! worker_counters {
    ($callback:ident) => {
        $callback! {
            frames {
                /// Frames received, all ports.
                rx => received:
                    rx_packets = packets
                        ("rvs_worker_rx_packets_total", "Frames the worker received."),
                    rx_bytes = bytes
                        ("rvs_worker_rx_bytes_total", "Bytes the worker received.");
                /// Frames transmitted, all ports.
                tx => transmitted:
                    tx_packets = packets
                        ("rvs_worker_tx_packets_total", "Frames the worker transmitted."),
                    tx_bytes = bytes
                        ("rvs_worker_tx_bytes_total", "Bytes the worker transmitted.");
            }
            drops {
                /// Drops, by reason.
                drops => dropped:
                    drops ("rvs_worker_drops_total", "Frames the worker dropped, by reason.");
            }
            counts {
                /// Packets handed to another worker because this one does not own them.
                redirected => redirected:
                    redirected (
                        "rvs_worker_redirected_packets_total",
                        "Frames the worker handed to the worker that owns their flow."
                    );
                /// Connections created.
                conns_created => connections_created:
                    conns_created (
                        "rvs_worker_connections_created_total",
                        "Connection entries the worker created."
                    );
                /// Connections expired (timed out, or taken out by the three below).
                conns_expired => connections_expired:
                    conns_expired (
                        "rvs_worker_connections_expired_total",
                        "Connection entries that expired in the worker's table."
                    );
                /// Closing connections a new SYN on their tuple expired to be scheduled
                /// afresh (`conn_reuse_mode`).
                conns_reused => connections_reused;
                /// Connections expired because their real was removed
                /// (`expire_nodest_conn`).
                nodest_expired => nodest_expired;
                /// Persistence templates given up because their real has weight 0
                /// (`expire_quiescent_template`).
                quiescent_templates_expired => quiescent_templates_expired;
                /// Embryonic connections evicted for new ones from a full table
                /// (`table_full_evict`).
                embryonic_evicted => embryonic_evicted;
                /// ARP replies, ICMP echo replies and neighbour advertisements sent.
                duties_answered => duties_answered;
                /// ARP requests and neighbour solicitations sent.
                neighbor_requests => neighbor_requests;
                /// Neighbours learned from replies.
                neighbors_learned => neighbors_learned;
                /// ICMP errors the director sent itself (fragmentation needed / packet too
                /// big).
                icmp_sent => icmp_sent;
                /// Frames handed to the kernel exception path.
                kernel_sent => kernel_sent;
                /// Frames the kernel sent out through a port.
                kernel_received => kernel_received;
                /// PROXY protocol headers sent toward reals (retransmissions included).
                proxy_headers_sent => proxy_headers_sent;
                /// Client segments that carried the TOA option to a real.
                toa_added => toa_added;
                /// Client segments that went without the TOA option: no room in the
                /// options or MTU.
                toa_skipped => toa_skipped;
                /// SYN-ACKs with a cookie the SYN proxy made (answers to client SYNs).
                syn_cookies_sent => syn_cookies_sent;
                /// ACKs with a valid cookie: connections the SYN proxy opened.
                syn_cookies_accepted => syn_cookies_accepted;
                /// Client segments the SYN proxy held until the real answered.
                synproxy_held => synproxy_held;
                /// Held client segments sent on after the real's handshake.
                synproxy_released => synproxy_released;
            }
        }
    };
}
