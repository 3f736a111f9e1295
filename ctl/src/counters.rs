//! The counters every worker keeps, listed once in [`worker_counters!`](crate::worker_counters).
//!
//! The list is the single place a worker counter is named and described. Each user of it
//! expands the list through a macro of its own, which reads what it needs:
//!
//! - `rvs-pipeline`'s `counters`: the per-worker counter struct, the sum over workers,
//!   and the summary printed at the end of a run (its JSON keys) together with the copy
//!   into the control protocol's worker listing;
//! - [`crate::proto`]: the counter fields of [`crate::proto::WorkerInfo`] and
//!   [`WorkerInfo::COUNTERS`](crate::proto::WorkerInfo::COUNTERS), the list of them that
//!   `rvsctl counters` ([`crate::rvsctl::counters`]) walks;
//! - `rvs-control`'s `metrics`: the names and help texts of the per-worker Prometheus
//!   families.
//!
//! Every entry carries its control-protocol field and its Prometheus family, and every
//! user's pattern requires them: a counter cannot be listed without being exported.
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
/// - `counts`: plain counts, as `field => json_key: wire (metric, help)`.
///
/// Every entry names its control-protocol field and its Prometheus family: the users'
/// patterns require them, so a counter cannot be added without being exported to
/// `rvsctl` and Prometheus. Each entry's doc comment describes the counter wherever it
/// appears; the help text says the same for Prometheus (a family's help is one line).
/// Families are named `rvs_worker_<what>_total`, the thing counted in the plural
/// (`packets`, `segments`, `connections`, ...) before `_total`.
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
                /// IP datagrams put together from their fragments (each then forwarded, or
                /// handed whole to the worker that owns its flow).
                datagrams_reassembled => datagrams_reassembled:
                    datagrams_reassembled (
                        "rvs_worker_reassembled_datagrams_total",
                        "IP datagrams the worker put together from their fragments."
                    );
                /// Fragments the worker made of reassembled datagrams, to fit the egress
                /// port's MTU or to hand them to the worker that owns their flow.
                fragments_made => fragments_made:
                    fragments_made (
                        "rvs_worker_made_fragments_total",
                        "Fragments the worker cut reassembled datagrams into."
                    );
                /// Connections created.
                conns_created => connections_created:
                    conns_created (
                        "rvs_worker_connections_created_total",
                        "Connection entries the worker created."
                    );
                /// UDP datagrams of one-packet services (`one_packet`, `-o`): each scheduled
                /// afresh and forwarded, its connection entry removed with it (also counted
                /// in `conns_created`).
                one_packet => one_packet_datagrams:
                    one_packet (
                        "rvs_worker_one_packet_datagrams_total",
                        "UDP datagrams of one-packet services, each scheduled afresh with no entry kept."
                    );
                /// Connections expired (timed out, or taken out by the three below).
                conns_expired => connections_expired:
                    conns_expired (
                        "rvs_worker_connections_expired_total",
                        "Connection entries that expired in the worker's table."
                    );
                /// Closing connections a new SYN on their tuple expired to be scheduled
                /// afresh (`conn_reuse_mode`).
                conns_reused => connections_reused:
                    conns_reused (
                        "rvs_worker_connections_reused_total",
                        "Closing connections a new SYN on their tuple expired (conn_reuse_mode)."
                    );
                /// Connections expired because their real was removed
                /// (`expire_nodest_conn`).
                nodest_expired => nodest_expired:
                    nodest_expired (
                        "rvs_worker_nodest_connections_expired_total",
                        "Connections expired because their real was removed (expire_nodest_conn)."
                    );
                /// Persistence templates given up because their real has weight 0
                /// (`expire_quiescent_template`).
                quiescent_templates_expired => quiescent_templates_expired:
                    quiescent_templates_expired (
                        "rvs_worker_quiescent_templates_expired_total",
                        "Templates of reals at weight 0 given up (expire_quiescent_template)."
                    );
                /// Embryonic connections evicted for new ones from a full table
                /// (`table_full_evict`).
                embryonic_evicted => embryonic_evicted:
                    embryonic_evicted (
                        "rvs_worker_embryonic_connections_evicted_total",
                        "Unfinished handshakes evicted from a full table (table_full_evict)."
                    );
                /// ARP replies, ICMP echo replies and neighbour advertisements sent.
                duties_answered => duties_answered:
                    duties_answered (
                        "rvs_worker_duty_replies_total",
                        "ARP replies, ICMP echo replies and neighbour advertisements sent."
                    );
                /// ARP requests and neighbour solicitations sent.
                neighbor_requests => neighbor_requests:
                    neighbor_requests (
                        "rvs_worker_neighbor_requests_total",
                        "ARP requests and neighbour solicitations the worker sent."
                    );
                /// Neighbours learned from replies.
                neighbors_learned => neighbors_learned:
                    neighbors_learned (
                        "rvs_worker_neighbors_learned_total",
                        "Neighbours the worker learned from replies."
                    );
                /// ICMP errors the director sent itself (fragmentation needed / packet too
                /// big).
                icmp_sent => icmp_sent:
                    icmp_sent (
                        "rvs_worker_icmp_errors_sent_total",
                        "ICMP errors the worker sent itself (fragmentation needed, too big)."
                    );
                /// ICMP port unreachable or TCP RST answers to packets that would open a
                /// connection to a service with no usable real (`[behaviour] no_real`).
                no_real_answered => no_real_answered:
                    no_real_answered (
                        "rvs_worker_no_real_answers_total",
                        "ICMP port unreachable or RST answers to packets for a service with no usable real."
                    );
                /// Such answers the worker's rate limit withheld.
                no_real_limited => no_real_limited:
                    no_real_limited (
                        "rvs_worker_no_real_answers_limited_total",
                        "Answers to packets for a service with no usable real the rate limit withheld."
                    );
                /// New connections of a client a service's full limit table had no room
                /// for (admitted or refused as `limit_overflow` says).
                limit_table_full => limit_table_full:
                    limit_table_full (
                        "rvs_worker_limit_table_full_total",
                        "New connections of clients a service's full limit table had no room for."
                    );
                /// RSTs answering TCP SYNs a service's guard refused (`limit_reset`).
                refused_reset => refused_reset:
                    refused_reset (
                        "rvs_worker_refused_resets_total",
                        "RSTs answering TCP SYNs refused by a service's allow/deny lists or limits."
                    );
                /// Frames handed to the kernel exception path.
                kernel_sent => kernel_sent:
                    kernel_sent (
                        "rvs_worker_kernel_sent_packets_total",
                        "Frames the worker handed to the kernel exception path."
                    );
                /// Frames the kernel sent out through a port.
                kernel_received => kernel_received:
                    kernel_received (
                        "rvs_worker_kernel_received_packets_total",
                        "Frames from the kernel the worker sent out through a port."
                    );
                /// PROXY protocol headers sent toward reals (TCP retransmissions included; one per UDP datagram).
                proxy_headers_sent => proxy_headers_sent:
                    proxy_headers_sent (
                        "rvs_worker_proxy_headers_sent_total",
                        "PROXY protocol headers sent toward reals (TCP retransmissions included; one per UDP datagram)."
                    );
                /// Client segments that carried the TOA option to a real.
                toa_added => toa_added:
                    toa_added (
                        "rvs_worker_toa_added_segments_total",
                        "Client segments the worker gave the TOA option toward a real."
                    );
                /// Client segments that went without the TOA option: no room in the
                /// options or MTU.
                toa_skipped => toa_skipped:
                    toa_skipped (
                        "rvs_worker_toa_skipped_segments_total",
                        "Client segments sent without TOA: no room in the options or MTU."
                    );
                /// SYN-ACKs with a cookie the SYN proxy made (answers to client SYNs).
                syn_cookies_sent => syn_cookies_sent:
                    syn_cookies_sent (
                        "rvs_worker_syn_cookies_sent_total",
                        "SYN-ACKs with a cookie the worker's SYN proxy sent to client SYNs."
                    );
                /// ACKs with a valid cookie: connections the SYN proxy opened.
                syn_cookies_accepted => syn_cookies_accepted:
                    syn_cookies_accepted (
                        "rvs_worker_syn_cookies_accepted_total",
                        "ACKs with a valid cookie: connections the worker's SYN proxy opened."
                    );
                /// Client segments the SYN proxy held until the real answered.
                synproxy_held => synproxy_held:
                    synproxy_held (
                        "rvs_worker_synproxy_held_segments_total",
                        "Client segments the worker's SYN proxy held until the real answered."
                    );
                /// Held client segments sent on after the real's handshake.
                synproxy_released => synproxy_released:
                    synproxy_released (
                        "rvs_worker_synproxy_released_segments_total",
                        "Held client segments sent on after the real's handshake."
                    );
                /// Entries of a backup that a synced connection took the place of: the
                /// master gave the client's tuple to another real or local endpoint, or
                /// handed out again the FULLNAT local port an older entry here still held
                /// (the master's word on its own ports is final).
                sync_superseded => sync_superseded:
                    sync_superseded (
                        "rvs_worker_sync_superseded_connections_total",
                        "Backup entries a synced connection took the place of (tuple or local port reused by the master)."
                    );
                /// Content switching: connections whose first bytes matched a rule.
                l7_by_rule => l7_by_rule:
                    l7_by_rule (
                        "rvs_worker_content_rule_matches_total",
                        "Content-switched connections whose first bytes matched a rule."
                    );
                /// Content switching: connections whose first bytes matched no rule (the
                /// reals without a group took them).
                l7_by_default => l7_by_default:
                    l7_by_default (
                        "rvs_worker_content_default_matches_total",
                        "Content-switched connections that matched no rule (the reals without a group)."
                    );
                /// Content switching: RSTs sent to clients whose first bytes could not
                /// decide, or did not in time.
                l7_resets => l7_resets:
                    l7_resets (
                        "rvs_worker_content_resets_total",
                        "RSTs sent to content-switched clients whose first bytes could not decide, or not in time."
                    );
                /// Live I/O: copies of ARP replies and neighbour advertisements sent to
                /// the other workers (each keeps its own neighbour table).
                neighbor_copies => neighbor_copies:
                    neighbor_copies (
                        "rvs_worker_neighbor_copies_total",
                        "Copies of ARP replies and neighbour advertisements sent to the other workers."
                    );
                /// Live I/O: frames handed to the worker holding a port's transmit queue
                /// (the port has fewer transmit queues than there are workers).
                tx_handoffs => tx_handoffs:
                    tx_handoffs (
                        "rvs_worker_tx_handoff_packets_total",
                        "Frames handed to the worker that holds the port's transmit queue."
                    );
                /// Live I/O: frames the device refused to transmit (freed).
                tx_refused => tx_refused:
                    tx_refused (
                        "rvs_worker_tx_refused_packets_total",
                        "Frames the device refused to transmit (freed)."
                    );
                /// Live I/O: frames dropped because a steering ring to another worker was
                /// full.
                ring_full => ring_full:
                    ring_full (
                        "rvs_worker_ring_full_packets_total",
                        "Frames dropped because a steering ring to another worker was full."
                    );
                /// Live I/O: frames dropped for want of an mbuf (neighbour copies) or of
                /// headroom for the steering tag.
                no_buffer => no_buffer:
                    no_buffer (
                        "rvs_worker_no_buffer_packets_total",
                        "Frames dropped for want of a packet buffer or of headroom for steering."
                    );
                /// Live I/O: multi-segment frames the receive queues dropped.
                rx_chained => rx_chained:
                    rx_chained (
                        "rvs_worker_rx_chained_packets_total",
                        "Multi-segment frames the worker's receive queues dropped."
                    );
            }
        }
    };
}
