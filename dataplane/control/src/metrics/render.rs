//! rvsd's metrics in the Prometheus text format: [`render`] turns what the control core
//! knows ([`MetricsInput`]) into the body of a `/metrics` answer.
//!
//! The director-wide counters and the backend gauges keep node_exporter's IPVS names with
//! `rvs_` for `node_`ipvs: dashboards and queries written for node_exporter carry over.
//! Their labels are set as node_exporter sets them: `local_address` and `local_port` are the
//! service's VIP and port, `remote_address` and `remote_port` the real's, `proto` is `TCP`
//! or `UDP`, and `local_mark` is empty, which Prometheus stores as no label at all. A
//! firewall-mark service's backend series are labelled as node_exporter labels them:
//! `local_address` empty, `local_port` 0, `proto` `FWM` and `local_mark` its mark; its
//! per-service series (which have no `local_mark`) carry the mark as `local_port`. Addresses print as `10.1.0.11` or `2001:db8::11`.
//!
//! Rates (ipvsadm `--rate`) are not exported: Prometheus computes them with `rate()`.
//! Series with equal labels are combined (counts summed, as node_exporter does), so no input
//! yields a duplicate series.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `rvs_up` | gauge | | 1: rvsd answered this scrape |
//! | `rvs_build_info` | gauge | `version`, `mode` | always 1; rvsd's version and mode (`live`, `replay`) |
//! | `rvs_uptime_seconds` | gauge | | seconds since rvsd started |
//! | `rvs_config_generation` | gauge | | configuration generation: 1 at start, +1 per applied change batch or reload |
//! | `rvs_connections_total` | counter | | connections scheduled, all services |
//! | `rvs_incoming_packets_total` | counter | | packets client to real, all services |
//! | `rvs_outgoing_packets_total` | counter | | packets real to client, all services |
//! | `rvs_incoming_bytes_total` | counter | | bytes client to real, all services |
//! | `rvs_outgoing_bytes_total` | counter | | bytes real to client, all services |
//! | `rvs_backend_connections_active` | gauge | backend | established connections to the real |
//! | `rvs_backend_connections_inactive` | gauge | backend | connections to the real in any other state |
//! | `rvs_backend_weight` | gauge | backend | the real's weight (0: quiesced) |
//! | `rvs_backend_connections_persistent` | gauge | backend | persistence templates pointing at the real |
//! | `rvs_backend_overloaded` | gauge | backend | 1 while the real's upper threshold (`-x`) holds it overloaded |
//! | `rvs_backend_connections_total` | counter | backend | connections scheduled to the real |
//! | `rvs_backend_incoming_packets_total` | counter | backend | packets client to the real |
//! | `rvs_backend_outgoing_packets_total` | counter | backend | packets the real sent to clients |
//! | `rvs_backend_incoming_bytes_total` | counter | backend | bytes client to the real |
//! | `rvs_backend_outgoing_bytes_total` | counter | backend | bytes the real sent to clients |
//! | `rvs_backend_up` | gauge | backend | health checks: 1 while the real is up, 0 while down (checked reals only) |
//! | `rvs_backend_health_transitions_total` | counter | backend | health checks: up/down transitions of the real |
//! | `rvs_backend_health_checks_total` | counter | backend | health checks: probes of the real |
//! | `rvs_backend_health_check_duration_seconds` | gauge | backend | health checks: how long the last probe took |
//! | `rvs_service_connections_total` | counter | service | connections scheduled by the service |
//! | `rvs_service_incoming_packets_total` | counter | service | packets client to real through the service |
//! | `rvs_service_outgoing_packets_total` | counter | service | packets real to client through the service |
//! | `rvs_service_incoming_bytes_total` | counter | service | bytes client to real through the service |
//! | `rvs_service_outgoing_bytes_total` | counter | service | bytes real to client through the service |
//! | `rvs_service_refused_total` | counter | service, `reason` | first packets the service's allow and deny lists (`acl_denied`) or limits (`rate_limited`, `conn_limited`) refused |
//! | `rvs_service_content_rule_matches_total` | counter | service, `rule`, `group` | content switching: connections whose first bytes matched rule `rule` (its number in the service's rules, from 0) and went to its `group`; `rule="default"` (no `group`): those no rule matched |
//! | `rvs_worker_rx_packets_total` | counter | `worker` | frames the worker received |
//! | `rvs_worker_rx_bytes_total` | counter | `worker` | bytes the worker received |
//! | `rvs_worker_tx_packets_total` | counter | `worker` | frames the worker transmitted |
//! | `rvs_worker_tx_bytes_total` | counter | `worker` | bytes the worker transmitted |
//! | `rvs_worker_drops_total` | counter | `worker`, `reason` | frames the worker dropped, by drop reason (a fixed set) |
//! | `rvs_worker_redirected_packets_total` | counter | `worker` | frames the worker handed to the worker that owns their flow |
//! | `rvs_worker_reassembled_datagrams_total` | counter | `worker` | IP datagrams the worker put together from their fragments |
//! | `rvs_worker_made_fragments_total` | counter | `worker` | fragments the worker cut reassembled datagrams into |
//! | `rvs_worker_connections_created_total` | counter | `worker` | connection entries the worker created |
//! | `rvs_worker_one_packet_datagrams_total` | counter | `worker` | UDP datagrams of one-packet services, each scheduled afresh with no entry kept (`one_packet`) |
//! | `rvs_worker_connections_expired_total` | counter | `worker` | connection entries that expired in the worker's table |
//! | `rvs_worker_connections_reused_total` | counter | `worker` | closing connections expired for a new SYN on their tuple, which was scheduled afresh (`conn_reuse_mode`) |
//! | `rvs_worker_nodest_connections_expired_total` | counter | `worker` | connections expired because their real was removed (`expire_nodest_conn`) |
//! | `rvs_worker_quiescent_templates_expired_total` | counter | `worker` | persistence templates given up because their real has weight 0 (`expire_quiescent_template`) |
//! | `rvs_worker_embryonic_connections_evicted_total` | counter | `worker` | connections that never finished their handshake, evicted from a full table for new ones (`table_full_evict`) |
//! | `rvs_worker_duty_replies_total` | counter | `worker` | ARP replies, ICMP echo replies and neighbour advertisements sent |
//! | `rvs_worker_neighbor_requests_total` | counter | `worker` | ARP requests and neighbour solicitations sent |
//! | `rvs_worker_neighbors_learned_total` | counter | `worker` | neighbours learned from replies |
//! | `rvs_worker_icmp_errors_sent_total` | counter | `worker` | ICMP errors the director sent itself (fragmentation needed, packet too big) |
//! | `rvs_worker_no_real_answers_total` | counter | `worker` | ICMP port unreachable or TCP RST answers to packets for a service with no usable real (`[behaviour] no_real`) |
//! | `rvs_worker_no_real_answers_limited_total` | counter | `worker` | such answers the worker's rate limit withheld |
//! | `rvs_worker_limit_table_full_total` | counter | `worker` | new connections of clients a service's full limit table had no room for (`limit_overflow`) |
//! | `rvs_worker_refused_resets_total` | counter | `worker` | RSTs answering TCP SYNs a service's lists or limits refused (`limit_reset`) |
//! | `rvs_worker_kernel_sent_packets_total` | counter | `worker` | frames handed to the kernel exception path |
//! | `rvs_worker_kernel_received_packets_total` | counter | `worker` | frames from the kernel sent out through a port |
//! | `rvs_worker_proxy_headers_sent_total` | counter | `worker` | PROXY protocol headers sent toward reals (TCP retransmissions included; one per UDP datagram) |
//! | `rvs_worker_toa_added_segments_total` | counter | `worker` | client segments given the TOA option toward a real |
//! | `rvs_worker_toa_skipped_segments_total` | counter | `worker` | client segments sent without the TOA option (no room in the options or the MTU) |
//! | `rvs_worker_syn_cookies_sent_total` | counter | `worker` | SYN-ACKs with a cookie the SYN proxy sent to client SYNs |
//! | `rvs_worker_syn_cookies_accepted_total` | counter | `worker` | ACKs with a valid cookie: connections the SYN proxy opened |
//! | `rvs_worker_synproxy_held_segments_total` | counter | `worker` | client segments the SYN proxy held until the real answered |
//! | `rvs_worker_synproxy_released_segments_total` | counter | `worker` | held client segments sent on after the real's handshake |
//! | `rvs_worker_sync_superseded_connections_total` | counter | `worker` | backup entries a synced connection took the place of: the master gave the client's tuple to another endpoint, or handed out again a FULLNAT local port an older entry still held |
//! | `rvs_worker_content_rule_matches_total` | counter | `worker` | content-switched connections whose first bytes matched a rule |
//! | `rvs_worker_content_default_matches_total` | counter | `worker` | content-switched connections that matched no rule |
//! | `rvs_worker_content_resets_total` | counter | `worker` | RSTs to content-switched clients whose first bytes could not decide, or not in time |
//! | `rvs_worker_neighbor_copies_total` | counter | `worker` | live I/O: copies of ARP replies and neighbour advertisements sent to the other workers |
//! | `rvs_worker_tx_handoff_packets_total` | counter | `worker` | live I/O: frames handed to the worker that holds the port's transmit queue |
//! | `rvs_worker_tx_refused_packets_total` | counter | `worker` | live I/O: frames the device refused to transmit (freed) |
//! | `rvs_worker_ring_full_packets_total` | counter | `worker` | live I/O: frames dropped because a steering ring to another worker was full |
//! | `rvs_worker_no_buffer_packets_total` | counter | `worker` | live I/O: frames dropped for want of a packet buffer (neighbour copies) or of headroom for the steering tag |
//! | `rvs_worker_rx_chained_packets_total` | counter | `worker` | live I/O: multi-segment frames the worker's receive queues dropped |
//! | `rvs_worker_conntrack_entries` | gauge | `worker` | connection entries in the worker's table now |
//! | `rvs_worker_conntrack_capacity` | gauge | `worker` | connection entries the worker's table holds at most |
//! | `rvs_worker_busy_ratio` | gauge | `worker` | poll rounds that found work, over all rounds since start (0 to 1) |
//! | `rvs_worker_config_generation` | gauge | `worker` | configuration generation the worker forwards with |
//! | `rvs_port_rx_packets_total` | counter | `port` | frames the device received |
//! | `rvs_port_tx_packets_total` | counter | `port` | frames the device transmitted |
//! | `rvs_port_rx_missed_packets_total` | counter | `port` | frames the device missed or dropped on receive |
//! | `rvs_port_link_up` | gauge | `port` | 1 while the link is up |
//! | `rvs_mempool_mbufs_in_use` | gauge | | packet buffers in use (one pool serves every port) |
//! | `rvs_mempool_mbufs` | gauge | | packet buffers in the pool |
//! | `rvs_table_memory_bytes` | gauge | `pages` | bytes of the workers' connection tables in 2 MiB pages: `hugetlb` (the hugepage pool) or `transparent` (transparent hugepages requested) |
//!
//! backend = `local_address`, `local_port`, `remote_address`, `remote_port`, `proto`,
//! `local_mark` (node_exporter's set); service = `local_address`, `local_port`, `proto` (the
//! same names, so service and backend series join on them).
//!
//! The per-worker counter families (`rvs_worker_..._total`, drops included) are generated
//! from the list of worker counters (`rvs_ctl::worker_counters!`), one per counter; the list
//! cannot hold a counter without its family, and `rvsctl counters` shows the same counters.
//!
//! The director-wide counters are the sums over the services present, as IPVS's own totals
//! are; deleting a service lowers them, which Prometheus reads as a counter reset.
//!
//! A service's content rule counts carry over a reload or change that keeps its rules
//! (the same rules sending to the same groups, in the same order) and start again from
//! zero when its rules change, which Prometheus reads as a counter reset.

use rvs_ctl::proto::{
    GuardInfo, HealthInfo, PortInfo, RealInfo, RulesInfo, ServiceInfo, ServiceKey, Stats,
    StatusInfo, WorkerInfo,
};

use super::exposition::{write_family, Family, Kind, Merge};

/// Everything a scrape shows, as the control core gathers it from the control protocol's
/// listings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsInput {
    /// The daemon's status ([`rvs_ctl::proto::Request::Status`]).
    pub status: StatusInfo,
    /// Per-worker counters ([`rvs_ctl::proto::Request::Workers`]).
    pub workers: Vec<WorkerInfo>,
    /// Services with their reals ([`rvs_ctl::proto::Request::Services`]).
    pub services: Vec<ServiceInfo>,
    /// Ports ([`rvs_ctl::proto::Request::Ports`]).
    pub ports: Vec<PortInfo>,
    /// Checked reals ([`rvs_ctl::proto::Request::Health`]).
    pub health: Vec<HealthInfo>,
    /// Guarded services' refusals ([`rvs_ctl::proto::Request::Guards`]).
    pub guards: Vec<GuardInfo>,
    /// Content-switching services' rule matches ([`rvs_ctl::proto::Request::Rules`]).
    pub rules: Vec<RulesInfo>,
}

/// Label names node_exporter's IPVS collector puts on backend series, in its order.
const BACKEND: &[&str] = &[
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];
/// Label names of service series.
const SERVICE: &[&str] = &["local_address", "local_port", "proto"];
/// Label names of worker series.
const WORKER: &[&str] = &["worker"];
/// Label names of port series.
const PORT: &[&str] = &["port"];

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind: Kind::Counter,
        help,
        labels,
        merge: Merge::Sum,
    }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        kind: Kind::Gauge,
        help,
        labels,
        merge: Merge::Sum,
    }
}

/// A gauge whose duplicates keep the larger value (flags, ratios, generations).
const fn state(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        merge: Merge::Max,
        ..gauge(name, labels, help)
    }
}

/// A family with the reader of its value from one input item.
type Field<T> = (Family, fn(&T) -> u64);

/// Readers of the five [`Stats`] counters, in the order of the family arrays below.
const STATS: [fn(&Stats) -> u64; 5] = [
    |s| s.conns,
    |s| s.inpkts,
    |s| s.outpkts,
    |s| s.inbytes,
    |s| s.outbytes,
];

/// The node_exporter names of the director-wide counters, in [`STATS`] order.
const TOTALS: [Family; 5] = [
    counter(
        "rvs_connections_total",
        &[],
        "The total number of connections made.",
    ),
    counter(
        "rvs_incoming_packets_total",
        &[],
        "The total number of incoming packets.",
    ),
    counter(
        "rvs_outgoing_packets_total",
        &[],
        "The total number of outgoing packets.",
    ),
    counter(
        "rvs_incoming_bytes_total",
        &[],
        "The total amount of incoming data in bytes.",
    ),
    counter(
        "rvs_outgoing_bytes_total",
        &[],
        "The total amount of outgoing data in bytes.",
    ),
];

/// Per-backend counters, in [`STATS`] order.
const BACKEND_STATS: [Family; 5] = [
    counter(
        "rvs_backend_connections_total",
        BACKEND,
        "Connections scheduled to the backend.",
    ),
    counter(
        "rvs_backend_incoming_packets_total",
        BACKEND,
        "Packets client to the backend.",
    ),
    counter(
        "rvs_backend_outgoing_packets_total",
        BACKEND,
        "Packets the backend sent to clients.",
    ),
    counter(
        "rvs_backend_incoming_bytes_total",
        BACKEND,
        "Bytes client to the backend.",
    ),
    counter(
        "rvs_backend_outgoing_bytes_total",
        BACKEND,
        "Bytes the backend sent to clients.",
    ),
];

/// Per-service counters, in [`STATS`] order.
const SERVICE_STATS: [Family; 5] = [
    counter(
        "rvs_service_connections_total",
        SERVICE,
        "Connections the service scheduled.",
    ),
    counter(
        "rvs_service_incoming_packets_total",
        SERVICE,
        "Packets client to real through the service.",
    ),
    counter(
        "rvs_service_outgoing_packets_total",
        SERVICE,
        "Packets real to client through the service.",
    ),
    counter(
        "rvs_service_incoming_bytes_total",
        SERVICE,
        "Bytes client to real through the service.",
    ),
    counter(
        "rvs_service_outgoing_bytes_total",
        SERVICE,
        "Bytes real to client through the service.",
    ),
];

/// Renders `input` in the Prometheus text exposition format 0.0.4: every family of the
/// module's table, each with its `# HELP` and `# TYPE` once, samples from the input.
pub fn render(input: &MetricsInput) -> String {
    let mut out = String::with_capacity(4096 + 2048 * input.services.len());
    render_status(&mut out, &input.status);
    render_services(&mut out, &input.services);
    render_guards(&mut out, &input.guards);
    render_rules(&mut out, &input.rules);
    render_workers(&mut out, &input.workers);
    render_ports(&mut out, &input.ports);
    render_health(&mut out, &input.health);
    out
}

fn render_health(out: &mut String, health: &[HealthInfo]) {
    let labels = |h: &HealthInfo| {
        vec![
            h.service.addr.ip().to_string(),
            h.service.addr.port().to_string(),
            h.real.ip().to_string(),
            h.real.port().to_string(),
            h.service.proto.upper().to_string(),
            String::new(),
        ]
    };
    let fields: [Field<HealthInfo>; 3] = [
        (
            state(
                "rvs_backend_up",
                BACKEND,
                "Health checks: 1 while the backend is up, 0 while it is down.",
            ),
            |h| u64::from(h.up),
        ),
        (
            counter(
                "rvs_backend_health_transitions_total",
                BACKEND,
                "Health checks: up/down transitions of the backend.",
            ),
            |h| h.transitions,
        ),
        (
            counter(
                "rvs_backend_health_checks_total",
                BACKEND,
                "Health checks: probes of the backend.",
            ),
            |h| h.checks,
        ),
    ];
    for (family, get) in fields {
        write_family(out, family, |s| {
            health.iter().for_each(|h| s.add(labels(h), get(h)))
        });
    }
    let duration = state(
        "rvs_backend_health_check_duration_seconds",
        BACKEND,
        "Health checks: how long the last probe of the backend took.",
    );
    write_family(out, duration, |s| {
        health
            .iter()
            .for_each(|h| s.add(labels(h), h.last_duration_us as f64 / 1e6))
    });
}

fn render_status(out: &mut String, status: &StatusInfo) {
    let up = state("rvs_up", &[], "1: rvsd answered this scrape.");
    write_family(out, up, |s| s.add(vec![], 1u64));
    let build = state(
        "rvs_build_info",
        &["version", "mode"],
        "Always 1; rvsd's version and mode (live, replay).",
    );
    write_family(out, build, |s| {
        s.add(vec![status.version.clone(), status.mode.clone()], 1u64)
    });
    let uptime = state("rvs_uptime_seconds", &[], "Seconds since rvsd started.");
    write_family(out, uptime, |s| s.add(vec![], status.uptime_s));
    let generation = state(
        "rvs_config_generation",
        &[],
        "Configuration generation: 1 at start, +1 per applied change batch or reload.",
    );
    write_family(out, generation, |s| s.add(vec![], status.generation));
    if let Some(a) = &status.announce {
        let pending = gauge(
            "rvs_announce_pending",
            &[],
            "1 while an [announce] change is not yet taken by the routing daemon (running, or failed and waiting to be retried).",
        );
        write_family(out, pending, |s| s.add(vec![], u64::from(a.pending)));
        let failures = counter(
            "rvs_announce_reload_failures_total",
            &[],
            "[announce] file writes and reload commands that failed (each is retried).",
        );
        write_family(out, failures, |s| s.add(vec![], a.reload_failures));
    }
    if let Some(ha) = &status.ha {
        render_ha(out, ha);
    }
}

/// `[ha]`: the VRRP state and its counters (absent without `[ha]`).
fn render_ha(out: &mut String, ha: &rvs_ctl::proto::HaStatus) {
    let vrid = || vec![ha.vrid.to_string()];
    let st = gauge(
        "rvs_ha_state",
        &["vrid"],
        "VRRP state of this director: 0 init, 1 backup, 2 master.",
    );
    write_family(out, st, |s| s.add(vrid(), u64::from(ha.state_code)));
    let counters: [(&'static str, &'static str, u64); 6] = [
        (
            "rvs_ha_transitions_total",
            "VRRP state changes since start.",
            ha.transitions,
        ),
        (
            "rvs_ha_adverts_sent_total",
            "VRRP adverts sent.",
            ha.adverts_sent,
        ),
        (
            "rvs_ha_adverts_received_total",
            "VRRP adverts of this virtual router received.",
            ha.adverts_received,
        ),
        (
            "rvs_ha_adverts_refused_total",
            "VRRP frames refused, for any reason (rvs_ha_vrrp_refused_total says which).",
            ha.adverts_refused + ha.other_vrid,
        ),
        (
            "rvs_ha_rate_table_full_total",
            "Frames from sources the workers' per-source rate tables had no place for (they share one limit).",
            ha.rate_table_full,
        ),
        (
            "rvs_ha_split_brain_total",
            "Adverts of another master with a weaker claim received while master.",
            ha.split_brain,
        ),
    ];
    for (name, help, value) in counters {
        write_family(out, counter(name, &["vrid"], help), |s| {
            s.add(vrid(), value)
        });
    }
    let refused = counter(
        "rvs_ha_vrrp_refused_total",
        &["vrid", "reason"],
        "VRRP frames refused, by reason (see docs/config.md, [ha]).",
    );
    write_family(out, refused, |s| {
        for (reason, n) in &ha.refused {
            s.add(vec![ha.vrid.to_string(), reason.clone()], *n);
        }
    });
    if let Some(sync) = &ha.sync {
        render_ha_sync(out, sync);
    }
}

/// `[ha.sync]`: connection sync's counters.
fn render_ha_sync(out: &mut String, sync: &rvs_ctl::proto::HaSyncStatus) {
    let counters: [(&'static str, &'static str, u64); 9] = [
        (
            "rvs_ha_sync_messages_sent_total",
            "Connection sync messages sent (one per peer and batch).",
            sync.messages_sent,
        ),
        (
            "rvs_ha_sync_records_sent_total",
            "Connection sync records sent.",
            sync.records_sent,
        ),
        (
            "rvs_ha_sync_messages_received_total",
            "Connection sync messages received.",
            sync.messages_received,
        ),
        (
            "rvs_ha_sync_messages_refused_total",
            "Connection sync messages refused, for any reason (rvs_ha_sync_refused_total says which).",
            sync.messages_refused,
        ),
        (
            "rvs_ha_sync_messages_lost_total",
            "Connection sync messages lost on the way (gaps in the sender's sequence).",
            sync.messages_lost,
        ),
        (
            "rvs_ha_sync_records_dropped_total",
            "Connection sync records that found a full queue.",
            sync.records_dropped,
        ),
        (
            "rvs_ha_sync_installed_total",
            "Synced connections installed or refreshed by the workers.",
            sync.installed,
        ),
        (
            "rvs_ha_sync_install_refused_total",
            "Synced records refused, for any reason (rvs_ha_sync_refused_total says which).",
            sync.install_refused,
        ),
        (
            "rvs_ha_sync_timeouts_clamped_total",
            "Synced records whose time left was cut to this director's timeout.",
            sync.timeouts_clamped,
        ),
    ];
    for (name, help, value) in counters {
        write_family(out, counter(name, &[], help), |s| s.add(vec![], value));
    }
    let refused = counter(
        "rvs_ha_sync_refused_total",
        &["reason"],
        "Connection sync messages and records refused, by reason (see docs/sync.md).",
    );
    write_family(out, refused, |s| {
        for (reason, n) in &sync.refused {
            s.add(vec![reason.clone()], *n);
        }
    });
    let peers: [Field<rvs_ctl::proto::HaSyncPeer>; 2] = [
        (
            counter(
                "rvs_ha_sync_peer_messages_accepted_total",
                &["peer"],
                "Connection sync messages taken from each peer.",
            ),
            |p| p.messages_accepted,
        ),
        (
            counter(
                "rvs_ha_sync_peer_messages_lost_total",
                &["peer"],
                "Connection sync messages of each peer lost on the way.",
            ),
            |p| p.messages_lost,
        ),
    ];
    for (family, get) in peers {
        write_family(out, family, |s| {
            for p in &sync.peers {
                s.add(vec![p.address.clone()], get(p));
            }
        });
    }
}

fn render_services(out: &mut String, services: &[ServiceInfo]) {
    for (family, get) in TOTALS.into_iter().zip(STATS) {
        write_family(out, family, |s| {
            services
                .iter()
                .for_each(|svc| s.add(vec![], get(&svc.stats)))
        });
    }

    let backends = || {
        services
            .iter()
            .flat_map(|svc| svc.reals.iter().map(move |real| (svc, real)))
    };
    let backend_gauges: [Field<RealInfo>; 5] = [
        (
            gauge(
                "rvs_backend_connections_active",
                BACKEND,
                "The current active connections by local and remote address.",
            ),
            |r| r.active,
        ),
        (
            gauge(
                "rvs_backend_connections_inactive",
                BACKEND,
                "The current inactive connections by local and remote address.",
            ),
            |r| r.inactive,
        ),
        (
            gauge(
                "rvs_backend_weight",
                BACKEND,
                "The current backend weight by local and remote address.",
            ),
            |r| u64::from(r.spec.weight),
        ),
        (
            gauge(
                "rvs_backend_connections_persistent",
                BACKEND,
                "Persistence templates pointing at the backend.",
            ),
            |r| r.persistent,
        ),
        (
            state(
                "rvs_backend_overloaded",
                BACKEND,
                "1 while the backend's upper connection threshold holds it overloaded.",
            ),
            |r| u64::from(r.overloaded),
        ),
    ];
    for (family, get) in backend_gauges {
        write_family(out, family, |s| {
            backends().for_each(|(svc, real)| s.add(backend_labels(svc, real), get(real)))
        });
    }

    for (family, get) in BACKEND_STATS.into_iter().zip(STATS) {
        write_family(out, family, |s| {
            backends().for_each(|(svc, real)| s.add(backend_labels(svc, real), get(&real.stats)))
        });
    }
    for (family, get) in SERVICE_STATS.into_iter().zip(STATS) {
        write_family(out, family, |s| {
            services
                .iter()
                .for_each(|svc| s.add(service_labels(svc), get(&svc.stats)))
        });
    }
}

/// Refused first packets per service and reason.
fn render_guards(out: &mut String, guards: &[GuardInfo]) {
    let family = counter(
        "rvs_service_refused_total",
        &["local_address", "local_port", "proto", "reason"],
        "First packets the service's allow/deny lists or limits refused, by reason.",
    );
    write_family(out, family, |s| {
        for g in guards {
            let r = g.refused;
            for (reason, n) in [
                ("acl_denied", r.acl_denied),
                ("rate_limited", r.rate_limited),
                ("conn_limited", r.conn_limited),
            ] {
                let vip = g.key.addr;
                let labels = vec![
                    vip.ip().to_string(),
                    vip.port().to_string(),
                    g.key.proto.upper().to_string(),
                    reason.to_owned(),
                ];
                s.add(labels, n);
            }
        }
    });
}

/// Content-switching matches per service and rule, and of no rule (`default`).
fn render_rules(out: &mut String, list: &[RulesInfo]) {
    let family = counter(
        "rvs_service_content_rule_matches_total",
        &["local_address", "local_port", "proto", "rule", "group"],
        "Content-switched connections by the rule their first bytes matched (default: none).",
    );
    write_family(out, family, |s| {
        for svc in list {
            let labels = |rule: String, group: &str| {
                let mut l = key_labels(&svc.key);
                l.push(rule);
                l.push(group.to_owned());
                l
            };
            for (i, r) in svc.rules.iter().enumerate() {
                s.add(labels(i.to_string(), &r.group), r.matches);
            }
            s.add(labels("default".to_owned(), ""), svc.default_matches);
        }
    });
}

/// Defines the per-worker counter families, taken from the list of worker counters.
macro_rules! worker_families {
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
        /// Every worker counter but the drops, one family each.
        const WORKER_COUNTERS: &[Field<WorkerInfo>] = &[
            $( $( (counter($frame_metric, WORKER, $frame_help), |w| w.$frame_wire), )+ )*
            $( (counter($count_metric, WORKER, $count_help), |w| w.$count_wire), )*
        ];

        /// The worker drops, by worker and reason.
        const WORKER_DROPS: Family = counter($drops_metric, &["worker", "reason"], $drops_help);
    };
}

rvs_ctl::worker_counters!(worker_families);

fn render_workers(out: &mut String, workers: &[WorkerInfo]) {
    for &(family, get) in WORKER_COUNTERS {
        write_family(out, family, |s| {
            workers.iter().for_each(|w| s.add(worker_labels(w), get(w)))
        });
    }

    write_family(out, WORKER_DROPS, |s| {
        for w in workers {
            for (reason, n) in &w.drops {
                s.add(vec![w.id.to_string(), reason.clone()], *n);
            }
        }
    });

    let gauges: [Field<WorkerInfo>; 3] = [
        (
            gauge(
                "rvs_worker_conntrack_entries",
                WORKER,
                "Connection entries in the worker's table.",
            ),
            |w| w.conns,
        ),
        (
            gauge(
                "rvs_worker_conntrack_capacity",
                WORKER,
                "Connection entries the worker's table holds at most.",
            ),
            |w| w.conn_capacity,
        ),
        (
            state(
                "rvs_worker_config_generation",
                WORKER,
                "Configuration generation the worker forwards with.",
            ),
            |w| w.generation,
        ),
    ];
    for (family, get) in gauges {
        write_family(out, family, |s| {
            workers.iter().for_each(|w| s.add(worker_labels(w), get(w)))
        });
    }
    let busy = state(
        "rvs_worker_busy_ratio",
        WORKER,
        "Poll rounds that found work, over all rounds since start (0 to 1).",
    );
    write_family(out, busy, |s| {
        workers
            .iter()
            .for_each(|w| s.add(worker_labels(w), w.busy_ratio))
    });
}

fn render_ports(out: &mut String, ports: &[PortInfo]) {
    let counters: [Field<PortInfo>; 3] = [
        (
            counter(
                "rvs_port_rx_packets_total",
                PORT,
                "Frames the device received.",
            ),
            |p| p.rx_packets,
        ),
        (
            counter(
                "rvs_port_tx_packets_total",
                PORT,
                "Frames the device transmitted.",
            ),
            |p| p.tx_packets,
        ),
        (
            counter(
                "rvs_port_rx_missed_packets_total",
                PORT,
                "Frames the device missed or dropped on receive.",
            ),
            |p| p.rx_missed,
        ),
    ];
    for (family, get) in counters {
        write_family(out, family, |s| {
            ports
                .iter()
                .for_each(|p| s.add(vec![p.name.clone()], get(p)))
        });
    }
    let link = state("rvs_port_link_up", PORT, "1 while the port's link is up.");
    write_family(out, link, |s| {
        ports
            .iter()
            .for_each(|p| s.add(vec![p.name.clone()], p.link_up))
    });

    // Every port reports the one pool they share: keep the largest report.
    let pool: [Field<PortInfo>; 2] = [
        (
            state("rvs_mempool_mbufs_in_use", &[], "Packet buffers in use."),
            |p| p.mempool_in_use,
        ),
        (
            state("rvs_mempool_mbufs", &[], "Packet buffers in the pool."),
            |p| p.mempool_size,
        ),
    ];
    for (family, get) in pool {
        write_family(out, family, |s| {
            ports.iter().for_each(|p| s.add(vec![], get(p)))
        });
    }
    let tables = state(
        "rvs_table_memory_bytes",
        &["pages"],
        "Bytes of the workers' connection tables in 2 MiB pages, by kind.",
    );
    write_family(out, tables, |s| {
        for p in ports {
            s.add(vec!["hugetlb".into()], p.table_hugetlb_bytes);
            s.add(vec!["transparent".into()], p.table_transparent_bytes);
        }
    });
}

fn backend_labels(svc: &ServiceInfo, real: &RealInfo) -> Vec<String> {
    let vip = svc.spec.key.addr;
    let rip = real.spec.addr;
    let (local_address, proto, mark) = match svc.spec.key.mark() {
        Some(mark) => (String::new(), "FWM", mark.to_string()),
        None => (
            vip.ip().to_string(),
            svc.spec.key.proto.upper(),
            String::new(),
        ),
    };
    vec![
        local_address,
        vip.port().to_string(),
        rip.ip().to_string(),
        rip.port().to_string(),
        proto.to_string(),
        mark,
    ]
}

fn service_labels(svc: &ServiceInfo) -> Vec<String> {
    key_labels(&svc.spec.key)
}

/// The service labels of the service `key` names.
fn key_labels(key: &ServiceKey) -> Vec<String> {
    let vip = key.addr;
    match key.mark() {
        Some(mark) => vec![String::new(), mark.to_string(), "FWM".to_string()],
        None => vec![
            vip.ip().to_string(),
            vip.port().to_string(),
            key.proto.upper().to_string(),
        ],
    }
}

fn worker_labels(w: &WorkerInfo) -> Vec<String> {
    vec![w.id.to_string()]
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::SocketAddr;

    use super::*;
    use rvs_ctl::proto::{Forward, Protocol, Rates, RealSpec, ServiceKey, ServiceSpec};

    fn stats(base: u64) -> Stats {
        Stats {
            conns: base,
            inpkts: base * 10,
            outpkts: base * 9,
            inbytes: base * 1000,
            outbytes: base * 900,
        }
    }

    fn real(addr: &str, weight: u32, active: u64, base: u64) -> RealInfo {
        RealInfo {
            spec: RealSpec {
                addr: addr.parse().expect("addr"),
                forward: Forward::FullNat,
                weight,
                upper: 0,
                lower: 0,
                tunnel: Default::default(),
            },
            active,
            inactive: active + 1,
            persistent: 2,
            overloaded: weight == 3,
            stats: stats(base),
            rates: Rates::default(),
        }
    }

    fn service(proto: Protocol, addr: &str, reals: Vec<RealInfo>, base: u64) -> ServiceInfo {
        ServiceInfo {
            spec: ServiceSpec {
                key: ServiceKey {
                    proto,
                    addr: addr.parse::<SocketAddr>().expect("vip"),
                },
                scheduler: "wrr".into(),
                flags: vec![],
                persistence: 0,
                netmask: 32,
                one_packet: false,
            },
            laddrs: vec![],
            stats: stats(base),
            rates: Rates::default(),
            reals,
        }
    }

    fn worker(id: u16, rx: u64, drops: &[(&str, u64)]) -> WorkerInfo {
        WorkerInfo {
            id,
            lcore: u32::from(id) + 1,
            rx_packets: rx,
            rx_bytes: rx * 100,
            tx_packets: rx - 1,
            tx_bytes: (rx - 1) * 100,
            drops: drops.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            redirected: 4,
            conns_created: 30,
            conns_expired: 20,
            conns: 10,
            conn_capacity: 1 << 20,
            busy_ratio: 0.25,
            generation: 3,
            ..WorkerInfo::default()
        }
    }

    fn port(name: &str, up: bool) -> PortInfo {
        PortInfo {
            name: name.into(),
            device: "net_null0".into(),
            mac: "02:00:00:00:00:01".into(),
            addresses: vec![],
            mtu: 1500,
            link_up: up,
            rx_packets: 1000,
            tx_packets: 900,
            rx_missed: 5,
            mempool_in_use: 300,
            mempool_size: 8191,
            table_hugetlb_bytes: 256 << 20,
            table_transparent_bytes: 0,
        }
    }

    fn sample_input() -> MetricsInput {
        MetricsInput {
            status: StatusInfo {
                version: "0.1.0".into(),
                uptime_s: 42,
                mode: "live".into(),
                generation: 3,
                workers: 2,
                ..StatusInfo::default()
            },
            workers: vec![
                worker(0, 100, &[("no_service", 3), ("bad_checksum", 1)]),
                worker(1, 200, &[("no_service", 5), ("bad_checksum", 0)]),
            ],
            services: vec![
                service(
                    Protocol::Tcp,
                    "10.0.0.100:80",
                    vec![
                        real("10.1.0.11:8080", 1, 7, 2),
                        real("10.1.0.12:8080", 3, 0, 1),
                    ],
                    3,
                ),
                service(
                    Protocol::Udp,
                    "[2001:db8::100]:53",
                    vec![real("[2001:db8:0:0::11]:5353", 2, 4, 5)],
                    5,
                ),
            ],
            ports: vec![port("wan0", true), port("lan0", false)],
            health: vec![HealthInfo {
                service: ServiceKey {
                    proto: Protocol::Tcp,
                    addr: "10.0.0.100:80".parse().unwrap(),
                },
                real: "10.1.0.11:8080".parse().unwrap(),
                kind: "http".into(),
                target: "10.1.0.11:8080".parse().unwrap(),
                up: false,
                successes: 0,
                failures: 3,
                last: "http: status 503".into(),
                since_s: 4,
                checks: 9,
                transitions: 1,
                last_duration_us: 1500,
                on_fail: "remove".into(),
                configured_weight: 1,
                weight: 1,
                sorry: None,
            }],
            guards: vec![GuardInfo {
                key: ServiceKey {
                    proto: Protocol::Tcp,
                    addr: "10.0.0.100:80".parse().unwrap(),
                },
                allow: vec![],
                allow_len: 0,
                deny: vec!["192.0.2.0/24".into()],
                deny_len: 1,
                acl_drop_established: false,
                client_prefix_v4: 32,
                client_prefix_v6: 64,
                limit_new_per_client: 20,
                limit_conns_per_client: 0,
                limit_new: 0,
                limit_reset: false,
                limit_clients: 16384,
                limit_overflow: "admit".into(),
                refused: rvs_ctl::proto::Refused {
                    acl_denied: 4,
                    rate_limited: 9,
                    conn_limited: 0,
                },
                top_limited: vec![],
            }],
            rules: vec![RulesInfo {
                key: ServiceKey {
                    proto: Protocol::Tcp,
                    addr: "10.0.0.100:80".parse().unwrap(),
                },
                l7: "http".into(),
                rules: vec![rule("img", 6), rule("api", 0)],
                default_matches: 2,
            }],
        }
    }

    fn rule(group: &str, matches: u64) -> rvs_ctl::proto::RuleInfo {
        rvs_ctl::proto::RuleInfo {
            host: Some(format!("{group}.example.com")),
            path_prefix: None,
            sni: None,
            group: group.into(),
            matches,
        }
    }

    #[test]
    fn content_rule_matches_are_rendered_per_rule_and_default() {
        let text = render(&sample_input());
        let series = |rule: &str, group: &str| {
            format!(
                "rvs_service_content_rule_matches_total{{local_address=\"10.0.0.100\",\
                 local_port=\"80\",proto=\"TCP\",rule=\"{rule}\",group=\"{group}\"}}"
            )
        };
        assert_eq!(value(&text, &series("0", "img")), "6");
        assert_eq!(value(&text, &series("1", "api")), "0");
        assert_eq!(value(&text, &series("default", "")), "2");
    }

    #[test]
    fn refusals_are_rendered_per_service_and_reason() {
        let text = render(&sample_input());
        for line in [
            "rvs_service_refused_total{local_address=\"10.0.0.100\",local_port=\"80\",proto=\"TCP\",reason=\"acl_denied\"} 4",
            "rvs_service_refused_total{local_address=\"10.0.0.100\",local_port=\"80\",proto=\"TCP\",reason=\"rate_limited\"} 9",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    /// Families and types the module documentation's table lists.
    fn documented() -> BTreeMap<String, String> {
        include_str!("render.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .filter_map(|l| {
                let (name, rest) = l.split_once("` | ")?;
                let kind = rest.split(' ').next()?;
                Some((name.to_string(), kind.to_string()))
            })
            .collect()
    }

    /// Checks the structure of `text` and returns each family's type and samples
    /// (labels text, value text).
    fn parse(text: &str) -> BTreeMap<String, (String, Vec<(String, String)>)> {
        let mut families: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
        let mut helped = BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().expect("help name");
                assert!(helped.insert(name.to_string()), "HELP twice for {name}");
                current = name.to_string();
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("type line");
                assert_eq!(name, current, "TYPE right after its HELP");
                assert!(
                    families
                        .insert(name.to_string(), (kind.to_string(), vec![]))
                        .is_none(),
                    "TYPE twice for {name}"
                );
            } else {
                let (series, value) = line.rsplit_once(' ').expect("sample");
                let (name, labels) = match series.split_once('{') {
                    Some((n, l)) => (n, l.strip_suffix('}').expect("closing brace")),
                    None => (series, ""),
                };
                assert_eq!(name, current, "sample {line} outside its family");
                assert!(value.parse::<f64>().is_ok(), "value of {line}");
                let family = families.get_mut(name).expect("declared");
                family.1.push((labels.to_string(), value.to_string()));
            }
        }
        families
    }

    fn value(text: &str, series: &str) -> String {
        let prefix = format!("{series} ");
        let found: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{series} in\n{text}");
        found[0].to_string()
    }

    const B11: &str = "local_address=\"10.0.0.100\",local_port=\"80\",\
                       remote_address=\"10.1.0.11\",remote_port=\"8080\",proto=\"TCP\",local_mark=\"\"";

    #[test]
    fn every_documented_family_is_rendered_once_with_its_type() {
        let docs = documented();
        assert!(docs.len() >= 40, "{docs:?}");
        for input in [sample_input(), MetricsInput::default()] {
            let families = parse(&render(&input));
            let rendered: BTreeMap<String, String> = families
                .iter()
                .map(|(name, (kind, _))| (name.clone(), kind.clone()))
                .collect();
            assert_eq!(rendered, docs);
        }
    }

    #[test]
    fn every_family_has_samples_from_a_full_input() {
        for (name, (_, samples)) in parse(&render(&sample_input())) {
            assert!(!samples.is_empty(), "{name} has no samples");
        }
    }

    #[test]
    fn counters_end_in_total_and_gauges_do_not() {
        for (name, kind) in documented() {
            match kind.as_str() {
                "counter" => assert!(name.ends_with("_total"), "{name}"),
                "gauge" => assert!(!name.ends_with("_total"), "{name}"),
                other => panic!("{name}: type {other}"),
            }
            assert!(
                name.starts_with("rvs_")
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }

    /// A mark service's backends are labelled as node_exporter labels them: no local
    /// address, port 0, `FWM`, the mark; its service series carry the mark as the port.
    #[test]
    fn mark_services_are_labelled_by_their_mark() {
        let mut svc = service(
            Protocol::Tcp,
            "0.0.0.0:0",
            vec![real("10.1.0.13:0", 1, 4, 2)],
            3,
        );
        svc.spec.key = ServiceKey::fwmark(7, false);
        let input = MetricsInput {
            services: vec![svc],
            ..MetricsInput::default()
        };
        let text = render(&input);
        let labels = "local_address=\"\",local_port=\"0\",remote_address=\"10.1.0.13\",\
                      remote_port=\"0\",proto=\"FWM\",local_mark=\"7\"";
        assert_eq!(
            value(
                &text,
                &format!("rvs_backend_connections_active{{{labels}}}")
            ),
            "4"
        );
        assert!(
            text.contains("local_address=\"\",local_port=\"7\",proto=\"FWM\""),
            "{text}"
        );
    }

    #[test]
    fn node_exporter_backend_series_carry_input_values() {
        let text = render(&sample_input());
        assert_eq!(
            value(&text, &format!("rvs_backend_connections_active{{{B11}}}")),
            "7"
        );
        assert_eq!(
            value(&text, &format!("rvs_backend_connections_inactive{{{B11}}}")),
            "8"
        );
        assert_eq!(value(&text, &format!("rvs_backend_weight{{{B11}}}")), "1");
        assert_eq!(
            value(&text, &format!("rvs_backend_overloaded{{{B11}}}")),
            "0"
        );
        assert_eq!(
            value(
                &text,
                &format!("rvs_backend_connections_persistent{{{B11}}}")
            ),
            "2"
        );
        assert_eq!(
            value(&text, &format!("rvs_backend_incoming_bytes_total{{{B11}}}")),
            "2000"
        );
        let v6 = "local_address=\"2001:db8::100\",local_port=\"53\",\
                  remote_address=\"2001:db8::11\",remote_port=\"5353\",proto=\"UDP\",local_mark=\"\"";
        assert_eq!(
            value(&text, &format!("rvs_backend_connections_active{{{v6}}}")),
            "4"
        );
        assert_eq!(
            value(&text, &format!("rvs_backend_connections_total{{{v6}}}")),
            "5"
        );
    }

    #[test]
    fn every_worker_counter_is_a_documented_family_with_its_help_and_values() {
        let mut input = sample_input();
        for (w, info) in (1u64..).zip(input.workers.iter_mut()) {
            // Each counter of each worker a value of its own, set as a director sends it.
            let mut json = serde_json::to_value(&*info).expect("json");
            for (i, c) in (0u64..).zip(WorkerInfo::COUNTERS) {
                json[c.name] = (1000 * w + i).into();
            }
            *info = serde_json::from_value(json).expect("read back");
        }
        let text = render(&input);
        let docs = documented();
        for c in WorkerInfo::COUNTERS {
            assert_eq!(docs.get(c.metric).map(String::as_str), Some("counter"));
            let help = format!("# HELP {} {}\n", c.metric, c.help);
            assert!(text.contains(&help), "{help} in\n{text}");
            for w in &input.workers {
                let series = format!("{}{{worker=\"{}\"}}", c.metric, w.id);
                assert_eq!(value(&text, &series), (c.get)(w).to_string());
            }
        }
        let drops = "rvs_worker_drops_total{worker=\"1\",reason=\"no_service\"}";
        assert_eq!(value(&text, drops), "5");
    }

    #[test]
    fn director_totals_are_sums_over_services() {
        let text = render(&sample_input());
        assert_eq!(value(&text, "rvs_connections_total"), "8");
        assert_eq!(value(&text, "rvs_incoming_packets_total"), "80");
        assert_eq!(value(&text, "rvs_outgoing_packets_total"), "72");
        assert_eq!(value(&text, "rvs_incoming_bytes_total"), "8000");
        assert_eq!(value(&text, "rvs_outgoing_bytes_total"), "7200");
        let svc = "local_address=\"10.0.0.100\",local_port=\"80\",proto=\"TCP\"";
        assert_eq!(
            value(
                &text,
                &format!("rvs_service_outgoing_packets_total{{{svc}}}")
            ),
            "27"
        );
    }

    #[test]
    fn worker_port_and_status_series_carry_input_values() {
        let text = render(&sample_input());
        assert_eq!(
            value(&text, "rvs_worker_rx_packets_total{worker=\"1\"}"),
            "200"
        );
        assert_eq!(
            value(&text, "rvs_worker_tx_bytes_total{worker=\"0\"}"),
            "9900"
        );
        assert_eq!(
            value(
                &text,
                "rvs_worker_drops_total{worker=\"1\",reason=\"no_service\"}"
            ),
            "5"
        );
        assert_eq!(
            value(
                &text,
                "rvs_worker_drops_total{worker=\"1\",reason=\"bad_checksum\"}"
            ),
            "0"
        );
        assert_eq!(value(&text, "rvs_worker_busy_ratio{worker=\"0\"}"), "0.25");
        assert_eq!(
            value(&text, "rvs_worker_conntrack_capacity{worker=\"0\"}"),
            "1048576"
        );
        assert_eq!(value(&text, "rvs_port_link_up{port=\"wan0\"}"), "1");
        assert_eq!(value(&text, "rvs_port_link_up{port=\"lan0\"}"), "0");
        assert_eq!(
            value(&text, "rvs_port_rx_missed_packets_total{port=\"lan0\"}"),
            "5"
        );
        assert_eq!(value(&text, "rvs_mempool_mbufs"), "8191");
        assert_eq!(value(&text, "rvs_mempool_mbufs_in_use"), "300");
        assert_eq!(
            value(&text, "rvs_table_memory_bytes{pages=\"hugetlb\"}"),
            "268435456"
        );
        assert_eq!(
            value(&text, "rvs_table_memory_bytes{pages=\"transparent\"}"),
            "0"
        );
        assert_eq!(
            value(&text, "rvs_build_info{version=\"0.1.0\",mode=\"live\"}"),
            "1"
        );
        assert_eq!(value(&text, "rvs_uptime_seconds"), "42");
        assert_eq!(value(&text, "rvs_config_generation"), "3");
        assert_eq!(value(&text, "rvs_up"), "1");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut input = sample_input();
        input.status.version = "1.0 \"beta\"\n\\".into();
        input.workers[0].drops = vec![("we\"ird".into(), 2)];
        input.ports[0].name = "a\\b".into();
        let text = render(&input);
        parse(&text);
        assert_eq!(
            value(
                &text,
                r#"rvs_build_info{version="1.0 \"beta\"\n\\",mode="live"}"#
            ),
            "1"
        );
        assert_eq!(
            value(
                &text,
                r#"rvs_worker_drops_total{worker="0",reason="we\"ird"}"#
            ),
            "2"
        );
        assert_eq!(value(&text, r#"rvs_port_link_up{port="a\\b"}"#), "1");
    }

    #[test]
    fn duplicate_series_are_merged() {
        let mut input = sample_input();
        input.workers[0].drops.push(("no_service".into(), 10));
        let dup = input.services[0].reals[0].clone();
        input.services[0].reals.push(dup);
        let text = render(&input);
        parse(&text);
        assert_eq!(
            value(
                &text,
                "rvs_worker_drops_total{worker=\"0\",reason=\"no_service\"}"
            ),
            "13"
        );
        assert_eq!(
            value(&text, &format!("rvs_backend_connections_active{{{B11}}}")),
            "14"
        );
        assert_eq!(
            value(&text, &format!("rvs_backend_overloaded{{{B11}}}")),
            "0"
        );
    }
}

#[cfg(test)]
mod ha_tests {
    use super::*;
    use rvs_ctl::proto::{HaStatus, HaSyncStatus};

    #[test]
    fn ha_and_sync_series_are_rendered_only_when_configured() {
        let mut input = MetricsInput {
            status: StatusInfo::default(),
            workers: vec![],
            services: vec![],
            ports: vec![],
            health: vec![],
            guards: vec![],
            rules: vec![],
        };
        assert!(!render(&input).contains("rvs_ha_"));
        input.status.ha = Some(Box::new(HaStatus {
            state: "master".into(),
            state_code: 2,
            vrid: 51,
            transitions: 3,
            adverts_refused: 7,
            other_vrid: 2,
            refused: vec![("ttl".into(), 7), ("vrid".into(), 2), ("rate".into(), 0)],
            rate_table_full: 4,
            ..HaStatus::default()
        }));
        let text = render(&input);
        assert!(
            text.contains("rvs_ha_adverts_refused_total{vrid=\"51\"} 9"),
            "{text}"
        );
        for (reason, n) in [("ttl", 7), ("vrid", 2), ("rate", 0)] {
            let series =
                format!("rvs_ha_vrrp_refused_total{{vrid=\"51\",reason=\"{reason}\"}} {n}");
            assert!(text.contains(&series), "{series}: {text}");
        }
        assert!(
            text.contains("rvs_ha_rate_table_full_total{vrid=\"51\"} 4"),
            "{text}"
        );
        assert!(text.contains("rvs_ha_state{vrid=\"51\"} 2"), "{text}");
        assert!(
            text.contains("rvs_ha_transitions_total{vrid=\"51\"} 3"),
            "{text}"
        );
        assert!(!text.contains("rvs_ha_sync_"), "{text}");
        if let Some(ha) = input.status.ha.as_mut() {
            ha.sync = Some(HaSyncStatus {
                installed: 7,
                messages_lost: 2,
                refused: vec![("source".into(), 4), ("auth".into(), 0)],
                peers: vec![rvs_ctl::proto::HaSyncPeer {
                    address: "10.0.0.9".into(),
                    messages_accepted: 12,
                    messages_lost: 2,
                    ..Default::default()
                }],
                ..HaSyncStatus::default()
            });
        }
        let text = render(&input);
        assert!(text.contains("rvs_ha_sync_installed_total 7"), "{text}");
        assert!(text.contains("rvs_ha_sync_messages_lost_total 2"), "{text}");
        assert!(
            text.contains("rvs_ha_sync_refused_total{reason=\"source\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("rvs_ha_sync_refused_total{reason=\"auth\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("rvs_ha_sync_peer_messages_accepted_total{peer=\"10.0.0.9\"} 12"),
            "{text}"
        );
        assert!(
            text.contains("rvs_ha_sync_peer_messages_lost_total{peer=\"10.0.0.9\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE rvs_ha_sync_records_sent_total counter"),
            "{text}"
        );
    }

    #[test]
    fn announce_series_are_rendered_only_when_configured() {
        let mut input = MetricsInput {
            status: StatusInfo::default(),
            workers: vec![],
            services: vec![],
            ports: vec![],
            health: vec![],
            guards: vec![],
            rules: vec![],
        };
        assert!(!render(&input).contains("rvs_announce_"));
        input.status.announce = Some(rvs_ctl::proto::AnnounceStatus {
            pending: true,
            reload_failures: 3,
        });
        let text = render(&input);
        assert!(text.contains("rvs_announce_pending 1"), "{text}");
        assert!(
            text.contains("# TYPE rvs_announce_reload_failures_total counter"),
            "{text}"
        );
        assert!(
            text.contains("rvs_announce_reload_failures_total 3"),
            "{text}"
        );
    }
}
