//! Readable tables of what the daemon reports, for rvsctl without `--json`.

use std::fmt::Write as _;

use crate::adm::address::format_addr;
use crate::proto::{
    ConnInfo, GuardInfo, HealthInfo, MarkInfo, NeighborInfo, PortInfo, ReloadReport, RouteInfo,
    RulesInfo, StatusInfo, WorkerInfo,
};

/// Columns left-aligned to their widest cell, two spaces apart, no trailing blanks.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `rvsctl status`: one `name: value` line per field.
pub fn status(s: &StatusInfo) -> String {
    let announced = if s.announced.is_empty() {
        "none".to_owned()
    } else {
        s.announced.join(" ")
    };
    let fields: [(&str, String); 14] = [
        ("version", s.version.clone()),
        ("mode", s.mode.clone()),
        ("uptime", format!("{} s", s.uptime_s)),
        ("config file", s.config_file.clone()),
        ("generation", s.generation.to_string()),
        ("workers", s.workers.to_string()),
        ("services", s.services.to_string()),
        ("reals", s.reals.to_string()),
        ("connections", s.connections.to_string()),
        ("rx packets", s.rx_packets.to_string()),
        ("tx packets", s.tx_packets.to_string()),
        ("dropped", s.dropped.to_string()),
        ("announced", announced),
        ("announce changes", s.announce_transitions.to_string()),
    ];
    let mut out = String::new();
    for (name, value) in fields {
        let _ = writeln!(out, "{:<18}{value}", format!("{name}:"));
    }
    if let Some(a) = &s.announce {
        let state = if a.pending { "pending" } else { "done" };
        let _ = writeln!(
            out,
            "{:<18}{state}, {} failed reloads",
            "announce reload:", a.reload_failures
        );
    }
    if let Some(ha) = &s.ha {
        let master = ha.master.as_deref().unwrap_or("-");
        let ha_fields = [
            (
                "ha",
                format!(
                    "{} for {} s (vrid {}, priority {})",
                    ha.state, ha.since_s, ha.vrid, ha.priority
                ),
            ),
            ("ha master heard", master.to_owned()),
            ("ha transitions", ha.transitions.to_string()),
            (
                "ha adverts",
                format!(
                    "{} sent, {} received, {} refused, {} other vrid",
                    ha.adverts_sent, ha.adverts_received, ha.adverts_refused, ha.other_vrid
                ),
            ),
            ("ha refused", nonzero(&ha.refused)),
            ("ha split brain", ha.split_brain.to_string()),
        ];
        for (name, value) in ha_fields {
            let _ = writeln!(out, "{:<18}{value}", format!("{name}:"));
        }
        if ha.rate_table_full > 0 {
            let _ = writeln!(
                out,
                "{:<18}{} frames from sources beyond the per-source rate tables",
                "ha rate table:", ha.rate_table_full
            );
        }
        if let Some(y) = &ha.sync {
            let _ = writeln!(
                out,
                "{:<18}{} messages / {} records sent; {} / {} received, {} refused, {} lost; \
                 {} installed, {} refused, {} dropped",
                "ha sync:",
                y.messages_sent,
                y.records_sent,
                y.messages_received,
                y.records_received,
                y.messages_refused,
                y.messages_lost,
                y.installed,
                y.install_refused,
                y.records_dropped
            );
            let auth = if y.authenticated {
                "HMAC-SHA256 (key_file)"
            } else {
                "none (insecure)"
            };
            let _ = writeln!(out, "{:<18}{auth}", "ha sync auth:");
            let _ = writeln!(out, "{:<18}{}", "ha sync refused:", nonzero(&y.refused));
            if y.timeouts_clamped > 0 {
                let _ = writeln!(
                    out,
                    "{:<18}{} records' time left cut to this director's timeouts",
                    "ha sync clamped:", y.timeouts_clamped
                );
            }
            for p in &y.peers {
                let epoch = p.epoch.map_or("-".to_owned(), |e| format!("{e:#010x}"));
                let _ = writeln!(
                    out,
                    "{:<18}{}: epoch {epoch}, sequence {}, {} messages taken, {} lost",
                    "ha sync peer:", p.address, p.sequence, p.messages_accepted, p.messages_lost
                );
            }
        }
    }
    out
}

/// A table column: its header and the cell it shows for one item.
type Column<T> = (&'static str, fn(&T) -> String);

/// The columns of `rvsctl workers`, in order.
const WORKER_COLUMNS: [Column<WorkerInfo>; 13] = [
    ("ID", |w| w.id.to_string()),
    ("LCORE", |w| w.lcore.to_string()),
    ("RX_PKTS", |w| w.rx_packets.to_string()),
    ("RX_BYTES", |w| w.rx_bytes.to_string()),
    ("TX_PKTS", |w| w.tx_packets.to_string()),
    ("TX_BYTES", |w| w.tx_bytes.to_string()),
    ("DROPS", |w| {
        w.drops.iter().map(|(_, n)| n).sum::<u64>().to_string()
    }),
    ("REDIRECTED", |w| w.redirected.to_string()),
    ("CONNS", |w| format!("{}/{}", w.conns, w.conn_capacity)),
    ("CREATED", |w| w.conns_created.to_string()),
    ("EXPIRED", |w| w.conns_expired.to_string()),
    ("BUSY", |w| format!("{:.1}%", w.busy_ratio * 100.0)),
    ("GEN", |w| w.generation.to_string()),
];

/// `rvsctl workers`.
pub fn workers(list: &[WorkerInfo]) -> String {
    let headers = WORKER_COLUMNS.map(|(header, _)| header);
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| WORKER_COLUMNS.iter().map(|(_, cell)| cell(w)).collect())
        .collect();
    render(&headers, &rows)
}

/// `rvsctl ports`.
pub fn ports(list: &[PortInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.device.clone(),
                p.mac.clone(),
                if p.link_up { "up" } else { "down" }.to_string(),
                p.mtu.to_string(),
                p.addresses.join(","),
                p.rx_packets.to_string(),
                p.tx_packets.to_string(),
                p.rx_missed.to_string(),
                format!("{}/{}", p.mempool_in_use, p.mempool_size),
            ]
        })
        .collect();
    render(
        &[
            "NAME",
            "DEVICE",
            "MAC",
            "LINK",
            "MTU",
            "ADDRESSES",
            "RX_PKTS",
            "TX_PKTS",
            "RX_MISSED",
            "MBUFS",
        ],
        &rows,
    )
}

/// `rvsctl neighbors`.
pub fn neighbors(list: &[NeighborInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                n.ip.to_string(),
                if n.mac.is_empty() {
                    "-".to_string()
                } else {
                    n.mac.clone()
                },
                n.port.clone(),
                n.state.clone(),
                n.worker.to_string(),
            ]
        })
        .collect();
    render(&["IP", "MAC", "PORT", "STATE", "WORKER"], &rows)
}

/// `rvsctl routes`.
pub fn routes(list: &[RouteInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                r.prefix.clone(),
                r.via.map_or_else(|| "-".to_string(), |v| v.to_string()),
                r.port.clone(),
                r.kind.clone(),
            ]
        })
        .collect();
    render(&["PREFIX", "VIA", "PORT", "KIND"], &rows)
}

/// `rvsctl drops`.
pub fn drops(list: &[(String, u64)]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|(reason, n)| vec![reason.clone(), n.to_string()])
        .collect();
    render(&["REASON", "COUNT"], &rows)
}

/// `rvsctl conns`.
pub fn conns(list: &[ConnInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.proto.upper().to_string(),
                format!("{:.1}", c.expire_ms as f64 / 1000.0),
                c.state.clone(),
                format_addr(&c.client),
                format_addr(&c.vip),
                c.local
                    .as_ref()
                    .map_or_else(|| "-".to_string(), format_addr),
                format_addr(&c.real),
                c.forward.ipvsadm_name().to_string(),
                c.worker.to_string(),
            ]
        })
        .collect();
    render(
        &[
            "PROTO", "EXPIRE_S", "STATE", "CLIENT", "VIRTUAL", "LOCAL", "REAL", "FORWARD", "WORKER",
        ],
        &rows,
    )
}

/// `rvsctl health`: one row per checked real.
pub fn health(list: &[HealthInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|h| {
            vec![
                format!(
                    "{} {}",
                    h.service.proto.upper(),
                    format_addr(&h.service.addr)
                ),
                format_addr(&h.real),
                h.kind.clone(),
                if h.up { "up" } else { "down" }.to_owned(),
                format!("{}/{}", h.successes, h.failures),
                format!("{} s", h.since_s),
                format!("{} ({})", h.weight, h.configured_weight),
                h.on_fail.clone(),
                h.transitions.to_string(),
                match h.sorry {
                    Some(s) => format!("{} [sorry {} in use]", h.last, format_addr(&s)),
                    None => h.last.clone(),
                },
            ]
        })
        .collect();
    render(
        &[
            "SERVICE", "REAL", "CHECK", "STATE", "OK/FAIL", "SINCE", "WEIGHT", "ON_FAIL", "FLIPS",
            "LAST",
        ],
        &rows,
    )
}

/// `rvsctl marks`: one line per rule, in the order they are tried: mark, protocol,
/// destinations, ports (`*`: all), sources (`*`: any), and the mark services it leads to
/// (`-`: none, so the packets it marks go to an addressed service if one matches).
pub fn marks(list: &[MarkInfo]) -> String {
    let mut out = String::from("MARK     PROTO MATCH -> SERVICE\n");
    let join = |v: &[String]| {
        if v.is_empty() {
            "*".to_owned()
        } else {
            v.join(",")
        }
    };
    for m in list {
        let services: Vec<String> = m
            .services
            .iter()
            .map(crate::adm::list::service_name)
            .collect();
        let services = if services.is_empty() {
            "-".to_owned()
        } else {
            services.join(", ")
        };
        let _ = writeln!(
            out,
            "{:<8} {:<5} dst {} ports {} src {} -> {services}",
            m.mark,
            m.proto,
            join(&m.dst),
            join(&m.ports),
            join(&m.src)
        );
    }
    out
}

/// `rvsctl rules`: one line per rule of each content-switching service, in the order
/// they are tried: the service, what it reads (`http`, `tls`), the rule's number (from 0, as the metrics label it),
/// what it matches, its group and match count; then the service's `default` line (what
/// no rule matched, sent to the reals without a group).
pub fn rules(list: &[RulesInfo]) -> String {
    let mut rows = Vec::new();
    for s in list {
        let service = match s.key.mark() {
            Some(_) => crate::adm::list::service_name(&s.key),
            None => format!("{} {}", s.key.proto.upper(), format_addr(&s.key.addr)),
        };
        for (i, r) in s.rules.iter().enumerate() {
            let mut matched = Vec::new();
            if let Some(h) = &r.host {
                matched.push(format!("host {h}"));
            }
            if let Some(p) = &r.path_prefix {
                matched.push(format!("path_prefix {p}"));
            }
            if let Some(n) = &r.sni {
                matched.push(format!("sni {n}"));
            }
            rows.push(vec![
                service.clone(),
                s.l7.clone(),
                i.to_string(),
                matched.join(" "),
                r.group.clone(),
                r.matches.to_string(),
            ]);
        }
        rows.push(vec![
            service,
            s.l7.clone(),
            "default".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            s.default_matches.to_string(),
        ]);
    }
    render(
        &["SERVICE", "L7", "RULE", "MATCH", "GROUP", "MATCHES"],
        &rows,
    )
}

/// `rvsctl guards`: one block per service: its lists (shortened), limits, refusals and
/// most limited clients.
pub fn guards(list: &[GuardInfo]) -> String {
    let mut out = String::new();
    for g in list {
        let none = |n: u32| {
            if n == 0 {
                "-".to_owned()
            } else {
                n.to_string()
            }
        };
        let shown = |l: &[String], len: usize| {
            if len == 0 {
                "-".to_owned()
            } else if l.len() < len {
                format!("{} ... ({len} in all)", l.join(" "))
            } else {
                l.join(" ")
            }
        };
        match g.key.mark() {
            Some(_) => {
                let _ = writeln!(out, "{}", crate::adm::list::service_name(&g.key));
            }
            None => {
                let _ = writeln!(out, "{} {}", g.key.proto.upper(), format_addr(&g.key.addr));
            }
        }
        let _ = writeln!(out, "  allow  {}", shown(&g.allow, g.allow_len));
        let _ = writeln!(
            out,
            "  deny   {}{}",
            shown(&g.deny, g.deny_len),
            if g.acl_drop_established {
                " (drops established)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "  limits new/s per client {}, open per client {}, new/s {}; client /{} /{}; \
             table {} ({}); reset {}",
            none(g.limit_new_per_client),
            none(g.limit_conns_per_client),
            none(g.limit_new),
            g.client_prefix_v4,
            g.client_prefix_v6,
            g.limit_clients,
            g.limit_overflow,
            if g.limit_reset { "on" } else { "off" },
        );
        let _ = writeln!(
            out,
            "  refused acl_denied {}, rate_limited {}, conn_limited {}",
            g.refused.acl_denied, g.refused.rate_limited, g.refused.conn_limited
        );
        if !g.top_limited.is_empty() {
            let top: Vec<String> = g
                .top_limited
                .iter()
                .map(|c| format!("{} ({})", c.client, c.refused))
                .collect();
            let _ = writeln!(out, "  most limited {}", top.join(", "));
        }
    }
    out
}

/// `rvsctl config reload`: the summary, each change, and the runtime changes undone.
pub fn reload(r: &ReloadReport) -> String {
    let mut out = String::new();
    let verb = if r.applied {
        "reloaded"
    } else {
        "would reload"
    };
    let _ = writeln!(
        out,
        "{verb} {} (generation {}): {}",
        r.file, r.generation, r.summary
    );
    for c in &r.changes {
        let _ = writeln!(out, "  {c}");
    }
    if !r.runtime_undone.is_empty() {
        let verb = if r.applied { "undid" } else { "would undo" };
        let _ = writeln!(out, "{verb} these runtime changes:");
        for c in &r.runtime_undone {
            let _ = writeln!(out, "  {c}");
        }
    }
    out
}

/// The reasons of `refused` with a count, `reason n, ...`; `none` when none has one.
fn nonzero(refused: &[(String, u64)]) -> String {
    let said: Vec<String> = refused
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    if said.is_empty() {
        "none".to_owned()
    } else {
        said.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string()],
            vec!["long".to_string(), "22".to_string()],
        ];
        assert_eq!(render(&["K", "V"], &rows), "K     V\na     1\nlong  22\n");
    }

    #[test]
    fn ports_show_the_mtu_after_the_link() {
        let port = PortInfo {
            name: "lan0".into(),
            device: "net_null0".into(),
            mac: "02:00:00:00:00:02".into(),
            mtu: 9000,
            link_up: true,
            ..PortInfo::default()
        };
        let table = ports(&[port]);
        let mut lines = table
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>());
        let (head, row) = (lines.next().unwrap(), lines.next().unwrap());
        assert_eq!((head[3], head[4]), ("LINK", "MTU"), "{table}");
        assert_eq!((row[3], row[4]), ("up", "9000"), "{table}");
    }

    #[test]
    fn a_port_listing_without_an_mtu_reads_as_ethernets() {
        let json = r#"{"name":"a","device":"d","mac":"m","addresses":[],"link_up":true,
            "rx_packets":0,"tx_packets":0,"rx_missed":0,"mempool_in_use":0,"mempool_size":0}"#;
        let port: PortInfo = serde_json::from_str(json).unwrap();
        assert_eq!(port.mtu, 1500);
    }

    #[test]
    fn the_ha_sections_name_refusals_and_peers() {
        use crate::proto::{HaStatus, HaSyncPeer, HaSyncStatus};
        let sync = HaSyncStatus {
            messages_received: 10,
            messages_refused: 3,
            refused: vec![
                ("source".into(), 2),
                ("auth".into(), 0),
                ("replay".into(), 1),
            ],
            timeouts_clamped: 4,
            authenticated: true,
            peers: vec![HaSyncPeer {
                address: "10.0.0.9".into(),
                epoch: Some(0xabc),
                sequence: 8,
                messages_accepted: 7,
                messages_lost: 1,
            }],
            ..HaSyncStatus::default()
        };
        let info = StatusInfo {
            ha: Some(Box::new(HaStatus {
                sync: Some(sync),
                refused: vec![("ttl".into(), 3), ("vrid".into(), 0), ("rate".into(), 5)],
                rate_table_full: 2,
                ..HaStatus::default()
            })),
            ..StatusInfo::default()
        };
        let text = status(&info);
        assert!(text.contains("ha refused:       ttl 3, rate 5\n"), "{text}");
        assert!(text.contains("ha rate table:    2 frames"), "{text}");
        assert!(
            text.contains("ha sync auth:     HMAC-SHA256 (key_file)\n"),
            "{text}"
        );
        assert!(
            text.contains("ha sync refused:  source 2, replay 1\n"),
            "{text}"
        );
        assert!(text.contains("ha sync clamped:  4 records'"), "{text}");
        assert!(
            text.contains(
                "ha sync peer:     10.0.0.9: epoch 0x00000abc, sequence 8, 7 messages taken, 1 lost\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn status_shows_the_announce_reload_when_configured() {
        let mut info = StatusInfo::default();
        assert!(!status(&info).contains("announce reload"));
        info.announce = Some(crate::proto::AnnounceStatus {
            pending: true,
            reload_failures: 2,
        });
        let text = status(&info);
        assert!(
            text.contains("announce reload:  pending, 2 failed reloads\n"),
            "{text}"
        );
    }

    #[test]
    fn guards_show_lists_shortened_limits_refusals_and_the_most_limited() {
        use crate::proto::{LimitedClientInfo, Protocol, Refused, ServiceKey};
        let g = GuardInfo {
            key: ServiceKey {
                proto: Protocol::Tcp,
                addr: "10.0.0.100:80".parse().unwrap(),
            },
            allow: vec!["10.0.0.0/8".into()],
            allow_len: 1,
            deny: vec!["192.0.2.0/24".into(), "198.51.100.0/24".into()],
            deny_len: 1000,
            acl_drop_established: true,
            client_prefix_v4: 32,
            client_prefix_v6: 64,
            limit_new_per_client: 20,
            limit_conns_per_client: 0,
            limit_new: 0,
            limit_reset: true,
            limit_clients: 16384,
            limit_overflow: "admit".into(),
            refused: Refused {
                acl_denied: 3,
                rate_limited: 341,
                conn_limited: 0,
            },
            top_limited: vec![LimitedClientInfo {
                client: "10.0.0.2".parse().unwrap(),
                refused: 341,
            }],
        };
        let text = guards(&[g]);
        assert_eq!(
            text,
            "TCP 10.0.0.100:80\n  allow  10.0.0.0/8\n  deny   192.0.2.0/24 198.51.100.0/24 ... \
             (1000 in all) (drops established)\n  limits new/s per client 20, open per client -, \
             new/s -; client /32 /64; table 16384 (admit); reset on\n  refused acl_denied 3, \
             rate_limited 341, conn_limited 0\n  most limited 10.0.0.2 (341)\n"
        );
    }
}
