//! The control protocol's views of the running state, summed over the workers.

use std::net::SocketAddr;

use rvs_conntrack::{DestLoad, Proto};
use rvs_ctl::proto::{
    AnnounceStatus, ConnInfo, ErrorKind, ErrorReply, MarkInfo, NeighborInfo, Protocol, Rates,
    RealInfo, RealSpec, Response, RouteInfo, RuleInfo, RulesInfo, ServiceInfo, ServiceKey,
    ServiceSpec, Stats, StatusInfo, TimeoutsInfo, WorkerInfo,
};

use super::edit::{forward, key_text, tunnel_spec};
use super::{lock, Control, StatKey, MAX_CONNS_LISTED};
use rvs_config::{flag_names, Config};
use rvs_packet::drop::DropReason;
use rvs_packet::wire::MacAddr;
use rvs_pipeline::neigh::NeighState;
use rvs_pipeline::route::RouteKind;
use rvs_pipeline::service::Service;
use rvs_pipeline::snapshot::Snapshot;
use rvs_pipeline::traffic::Traffic;

impl Control {
    pub(super) fn status(&self) -> StatusInfo {
        self.status_of(&self.worker_infos())
    }

    /// The status, with the workers' counters already read.
    pub(super) fn status_of(&self, workers: &[WorkerInfo]) -> StatusInfo {
        StatusInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: self.started.elapsed().as_secs(),
            mode: "live".to_owned(),
            config_file: self.file.display().to_string(),
            generation: self.generation,
            workers: self.snap.workers,
            services: self.config.services.len(),
            reals: self.config.services.iter().map(|s| s.reals.len()).sum(),
            connections: workers.iter().map(|w| w.conns).sum(),
            conn_capacity: u64::from(self.snap.workers)
                * self.config.dataplane.conn_capacity as u64,
            rx_packets: workers.iter().map(|w| w.rx_packets).sum(),
            tx_packets: workers.iter().map(|w| w.tx_packets).sum(),
            dropped: workers
                .iter()
                .flat_map(|w| w.drops.iter().map(|(_, n)| n))
                .sum(),
            announced: self
                .announcer
                .as_ref()
                .map(|a| a.announced().iter().map(announced_text).collect())
                .unwrap_or_default(),
            announce_transitions: self.announcer.as_ref().map_or(0, |a| a.transitions()),
            announce: self.announcer.as_ref().map(|a| AnnounceStatus {
                pending: a.pending(),
                reload_failures: a.failures(),
            }),
            ha: self
                .ha
                .as_ref()
                .map(|h| Box::new(crate::ha_thread::lock(h).status())),
        }
    }

    pub(super) fn services(
        &self,
        only: Option<&ServiceKey>,
    ) -> Result<Vec<ServiceInfo>, ErrorReply> {
        let traffic = self.traffic();
        let mut loads: Vec<DestLoad> = Vec::new();
        for w in &self.workers {
            let p = lock(&w.published);
            for i in 0..p.loads.len() {
                if loads.len() <= i {
                    loads.resize(i + 1, DestLoad::default());
                }
                if let Some(l) = p.loads.get(i as u32) {
                    let sum = &mut loads[i];
                    sum.active += l.active;
                    sum.inactive += l.inactive;
                    sum.persistent += l.persistent;
                    sum.overloaded |= l.overloaded;
                }
            }
        }
        let list: Vec<&Service> = match only {
            Some(key) => vec![find_service(&self.snap, key)?],
            None => self.snap.services.list().iter().collect(),
        };
        let stats = |key: StatKey, now: Option<&Traffic>, base: Option<&Traffic>| {
            let t = now
                .copied()
                .unwrap_or_default()
                .since(&base.copied().unwrap_or_default());
            let rates = self
                .estimates
                .get(&key)
                .map(|e| e.rates())
                .unwrap_or_default();
            (to_stats(&t), rates)
        };
        Ok(list
            .into_iter()
            .map(|svc| {
                let c = &svc.config;
                let (s, r) = stats(
                    StatKey::Service(svc.id),
                    traffic.services.get(svc.id as usize),
                    self.zeroed.services.get(svc.id as usize),
                );
                // What IPVS would list under keepalived: reals taken out by a failed
                // health check (`on_fail = "remove"`) are hidden, an inhibited one shows
                // weight 0, a sorry server in use is listed.
                let reals = svc
                    .sched
                    .reals()
                    .iter()
                    .zip(svc.modes.iter().zip(&svc.tunnels))
                    .filter(|(rs, _)| rs.available)
                    .map(|(rs, (&mode, tunnel))| {
                        let l = loads.get(rs.id as usize).copied().unwrap_or_default();
                        let (stats, rates) = stats(
                            StatKey::Dest(rs.id),
                            traffic.dests.get(rs.id as usize),
                            self.zeroed.dests.get(rs.id as usize),
                        );
                        RealInfo {
                            spec: RealSpec {
                                addr: SocketAddr::new(rs.addr, rs.port),
                                forward: forward(mode),
                                weight: rs.weight,
                                upper: rs.upper,
                                lower: rs.lower,
                                tunnel: tunnel_spec(tunnel),
                            },
                            active: u64::from(l.active),
                            inactive: u64::from(l.inactive),
                            persistent: u64::from(l.persistent),
                            overloaded: l.overloaded,
                            stats,
                            rates,
                        }
                    })
                    .collect();
                ServiceInfo {
                    spec: ServiceSpec {
                        key: service_key(svc),
                        scheduler: c.scheduler.name().to_owned(),
                        flags: flag_names(c),
                        persistence: c.persistence,
                        netmask: c.persistence_prefix,
                        one_packet: c.one_packet,
                    },
                    laddrs: c.laddrs.clone(),
                    stats: s,
                    rates: r,
                    reals,
                }
            })
            .collect())
    }

    pub(super) fn conns(&self, limit: usize) -> Response {
        let limit = limit.min(MAX_CONNS_LISTED);
        let mut conns = Vec::new();
        let mut total = 0usize;
        for (worker, dump) in self.dumps(limit) {
            total += dump.conns_total;
            for c in &dump.conns {
                if conns.len() >= limit {
                    break;
                }
                let Some(proto) = protocol(c.proto) else {
                    continue;
                };
                conns.push(ConnInfo {
                    proto,
                    expire_ms: c.expires_ms.saturating_sub(dump.now_ms),
                    state: match c.proto {
                        Proto::Udp => "UDP".to_owned(),
                        _ => c.state.name().to_owned(),
                    },
                    client: c.client,
                    vip: c.vip,
                    local: c.local,
                    real: c.real,
                    forward: forward(c.mode),
                    worker,
                });
            }
        }
        Response::Conns {
            truncated: total > conns.len(),
            conns,
        }
    }

    pub(super) fn neighbors(&self) -> Vec<NeighborInfo> {
        let mut out = Vec::new();
        for (worker, dump) in self.dumps(0) {
            for &(port, ip, state) in &dump.neighbors {
                let (mac, state) = match state {
                    NeighState::Static(m) => (MacAddr(m).to_string(), "static"),
                    NeighState::Learned(m) => (MacAddr(m).to_string(), "reachable"),
                    NeighState::Pending { .. } => (String::new(), "incomplete"),
                    NeighState::Failed => (String::new(), "failed"),
                };
                out.push(NeighborInfo {
                    ip,
                    mac,
                    port: self.snap.port(port).name.clone(),
                    state: state.to_owned(),
                    worker,
                });
            }
        }
        out.sort_by_key(|n| (n.worker, n.ip));
        out
    }

    pub(super) fn worker_infos(&self) -> Vec<WorkerInfo> {
        self.workers
            .iter()
            .enumerate()
            .map(|(id, w)| {
                let p = lock(&w.published);
                let mut info = WorkerInfo {
                    id: id as u16,
                    lcore: w.lcore,
                    conns: p.conns,
                    conn_capacity: p.conn_capacity,
                    busy_ratio: if p.rounds == 0 {
                        0.0
                    } else {
                        p.busy_rounds as f64 / p.rounds as f64
                    },
                    generation: w.mailbox.generation(),
                    ..WorkerInfo::default()
                };
                p.pipeline.export_to(&mut info);
                info
            })
            .collect()
    }

    pub(super) fn drops(&self) -> Vec<(String, u64)> {
        let mut sum = vec![0u64; DropReason::ALL.len()];
        for w in &self.workers {
            let p = lock(&w.published);
            for (s, d) in sum.iter_mut().zip(p.pipeline.drops.iter()) {
                *s += d;
            }
        }
        DropReason::ALL
            .iter()
            .map(|r| (r.label().to_owned(), sum[r.index()]))
            .collect()
    }
}

/// The service of `key` in `snap`.
pub(super) fn find_service<'a>(
    snap: &'a Snapshot,
    key: &ServiceKey,
) -> Result<&'a Service, ErrorReply> {
    let proto = super::edit::proto(key.proto);
    snap.services
        .find(proto, key.addr.ip(), key.addr.port())
        .map(|(_, s)| s)
        .ok_or_else(|| {
            ErrorReply::new(
                ErrorKind::NoService,
                format!("no service {}", key_text(key)),
            )
        })
}

/// The timeouts as the protocol carries them.
pub(super) fn timeouts(t: rvs_conntrack::Timeouts) -> TimeoutsInfo {
    TimeoutsInfo {
        tcp: t.tcp,
        tcpfin: t.tcpfin,
        udp: t.udp,
    }
}

/// The route table as the protocol carries it.
pub(super) fn routes(snap: &Snapshot) -> Vec<RouteInfo> {
    snap.routes
        .routes()
        .iter()
        .map(|r| RouteInfo {
            prefix: r.prefix.to_string(),
            via: r.via,
            port: snap.port(r.port).name.clone(),
            kind: match r.kind {
                RouteKind::Connected => "connected",
                RouteKind::Static => "static",
            }
            .to_owned(),
        })
        .collect()
}

/// Every service of `config` as configured (`rvsadm -S`): each real with its configured
/// weight, whatever the health checks decided, and no sorry server; no counters.
pub(super) fn configured(config: &Config) -> Vec<ServiceInfo> {
    config
        .services
        .iter()
        .filter_map(|c| {
            let key = ServiceKey {
                proto: protocol(c.proto)?,
                addr: SocketAddr::new(c.vip, c.port),
            };
            let reals = c
                .reals
                .iter()
                .map(|r| RealInfo {
                    spec: RealSpec {
                        addr: SocketAddr::new(r.ip, r.port),
                        forward: forward(r.forward),
                        weight: r.weight,
                        upper: r.upper,
                        lower: r.lower,
                        tunnel: tunnel_spec(&r.tunnel),
                    },
                    active: 0,
                    inactive: 0,
                    persistent: 0,
                    overloaded: false,
                    stats: Stats::default(),
                    rates: Rates::default(),
                })
                .collect();
            Some(ServiceInfo {
                spec: ServiceSpec {
                    key,
                    scheduler: c.scheduler.name().to_owned(),
                    flags: flag_names(c),
                    persistence: c.persistence,
                    netmask: c.persistence_prefix,
                    one_packet: c.one_packet,
                },
                laddrs: c.laddrs.clone(),
                stats: Stats::default(),
                rates: Rates::default(),
                reals,
            })
        })
        .collect()
}

/// An announced prefix as status shows it: a VIP by its address, a `[[mark]]` prefix
/// as `address/length`.
fn announced_text(net: &rvs_config::IpNet) -> String {
    let host = if net.is_ipv4() { 32 } else { 128 };
    if net.prefix_len() == host {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// The `[[mark]]` rules, each with whether a mark service of its mark exists.
pub(super) fn marks(config: &Config) -> Vec<MarkInfo> {
    let strings = |nets: &[rvs_config::IpNet]| nets.iter().map(ToString::to_string).collect();
    config
        .marks
        .iter()
        .map(|m| MarkInfo {
            mark: m.mark,
            proto: m.proto.name().to_owned(),
            dst: strings(&m.dst),
            ports: m.port_names(),
            src: strings(&m.src),
            services: config
                .services
                .iter()
                .filter(|s| s.fwmark() == Some(m.mark))
                .map(|s| ServiceKey::fwmark(m.mark, s.vip.is_ipv6()))
                .collect(),
        })
        .collect()
}

/// Every content-switching service of `snap` with its rules and their counts from
/// `matches` (laid out by `snap`).
pub(super) fn rules(snap: &Snapshot, matches: &[u64]) -> Vec<RulesInfo> {
    let count = |i: usize| matches.get(i).copied().unwrap_or(0);
    snap.services
        .list()
        .iter()
        .filter_map(|svc| {
            let plan = svc.l7.as_ref()?;
            let rules = plan
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| RuleInfo {
                    host: r.host.map(|h| h.to_string()),
                    path_prefix: r.path_prefix.clone(),
                    sni: r.sni.map(|h| h.to_string()),
                    group: plan.rule_group_name(i).unwrap_or_default().to_owned(),
                    matches: count(plan.counter(Some(i))),
                })
                .collect();
            Some(RulesInfo {
                key: service_key(svc),
                l7: plan.protocol.name().to_owned(),
                rules,
                default_matches: count(plan.counter(None)),
            })
        })
        .collect()
}

pub(super) fn service_key(svc: &Service) -> ServiceKey {
    ServiceKey {
        proto: protocol(svc.proto).unwrap_or(Protocol::Tcp),
        addr: svc.vip,
    }
}

fn protocol(p: Proto) -> Option<Protocol> {
    match p {
        Proto::Tcp => Some(Protocol::Tcp),
        Proto::Udp => Some(Protocol::Udp),
        Proto::Icmp => None,
    }
}

fn to_stats(t: &Traffic) -> Stats {
    Stats {
        conns: t.conns,
        inpkts: t.inpkts,
        outpkts: t.outpkts,
        inbytes: t.inbytes,
        outbytes: t.outbytes,
    }
}
