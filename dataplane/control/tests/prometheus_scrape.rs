//! A real Prometheus scrapes rvsd's exposition, served by the metrics HTTP server, and
//! PromQL sees the values that went in.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rvs_control::metrics::http::{self, Source};
use rvs_control::metrics::{render, MetricsInput};
use rvs_ctl::proto::{
    Forward, GuardInfo, HealthInfo, PortInfo, Protocol, RealInfo, RealSpec, Refused, RuleInfo,
    RulesInfo, ServiceInfo, ServiceKey, ServiceSpec, Stats, StatusInfo, WorkerInfo,
};
use support::prometheus::{Prometheus, Sample};

const WAIT: Duration = Duration::from_secs(30);
/// A version string that needs escaping in the exposition.
const VERSION: &str = "0.1.0 \"lab\" \\ build";

fn real(addr: &str, active: u64, inactive: u64, weight: u32) -> RealInfo {
    RealInfo {
        spec: RealSpec {
            addr: addr.parse().expect("real address"),
            forward: Forward::FullNat,
            weight,
            upper: 0,
            lower: 0,
            tunnel: Default::default(),
        },
        active,
        inactive,
        persistent: 0,
        overloaded: false,
        stats: Stats {
            conns: active + inactive,
            ..Stats::default()
        },
        rates: Default::default(),
    }
}

fn worker(id: u16, rx: u64, drops: &[(&str, u64)]) -> WorkerInfo {
    WorkerInfo {
        id,
        rx_packets: rx,
        rx_bytes: rx * 64,
        tx_packets: rx,
        tx_bytes: rx * 64,
        drops: drops.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        conn_capacity: 1024,
        busy_ratio: 0.5,
        generation: 1,
        ..WorkerInfo::default()
    }
}

/// What the daemon would report at its `tick`th scrape: worker 0's receive counter moves.
fn input(tick: u64) -> MetricsInput {
    let reals = vec![
        real("10.1.0.11:8080", 7, 3, 2),
        real("10.1.0.12:8080", 1, 0, 1),
    ];
    MetricsInput {
        status: StatusInfo {
            version: VERSION.into(),
            mode: "live".into(),
            uptime_s: tick,
            generation: 1,
            ..StatusInfo::default()
        },
        workers: vec![
            worker(0, 1000 * tick, &[("no_service", 4), ("bad_checksum", 1)]),
            worker(1, 500, &[("no_service", 2), ("bad_checksum", 0)]),
        ],
        services: vec![ServiceInfo {
            spec: ServiceSpec {
                key: ServiceKey {
                    proto: Protocol::Tcp,
                    addr: "10.0.0.100:80".parse().expect("vip"),
                },
                scheduler: "wrr".into(),
                flags: vec![],
                persistence: 0,
                netmask: 32,
                one_packet: false,
            },
            laddrs: vec![],
            stats: Stats {
                conns: 11,
                inpkts: 110,
                outpkts: 100,
                inbytes: 11_000,
                outbytes: 10_000,
            },
            rates: Default::default(),
            reals,
        }],
        ports: vec![PortInfo {
            name: "wan0".into(),
            link_up: true,
            rx_packets: 1500,
            mempool_in_use: 100,
            mempool_size: 4095,
            ..PortInfo::default()
        }],
        health: vec![HealthInfo {
            service: ServiceKey {
                proto: Protocol::Tcp,
                addr: "10.0.0.100:80".parse().expect("vip"),
            },
            real: "10.1.0.12:8080".parse().expect("real"),
            kind: "http".into(),
            target: "10.1.0.12:8080".parse().expect("target"),
            up: false,
            successes: 0,
            failures: 2,
            last: "http: status 503".into(),
            since_s: tick,
            checks: 10 + tick,
            transitions: 3,
            last_duration_us: 2500,
            on_fail: "inhibit".into(),
            configured_weight: 1,
            weight: 0,
            sorry: None,
        }],
        guards: vec![GuardInfo {
            key: ServiceKey {
                proto: Protocol::Tcp,
                addr: "10.0.0.100:80".parse().unwrap(),
            },
            allow: vec![],
            allow_len: 0,
            deny: vec![],
            deny_len: 0,
            acl_drop_established: false,
            client_prefix_v4: 32,
            client_prefix_v6: 64,
            limit_new_per_client: 0,
            limit_conns_per_client: 0,
            limit_new: 0,
            limit_reset: false,
            limit_clients: 16384,
            limit_overflow: "admit".into(),
            refused: Refused::default(),
            top_limited: vec![],
        }],
        rules: vec![RulesInfo {
            key: ServiceKey {
                proto: Protocol::Tcp,
                addr: "10.0.0.100:80".parse().unwrap(),
            },
            l7: "http".into(),
            rules: vec![RuleInfo {
                host: Some("img.example.com".into()),
                path_prefix: None,
                sni: None,
                group: "img".into(),
                matches: 3,
            }],
            default_matches: 1,
        }],
    }
}

/// The metrics HTTP server on loopback, stopped on drop.
struct Exporter {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Exporter {
    fn start() -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let ticks = AtomicU64::new(0);
        let source: Source =
            Arc::new(move || render(&input(ticks.fetch_add(1, Ordering::Relaxed) + 1)));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = http::spawn(listener, source, Arc::clone(&stop)).expect("spawn");
        Exporter {
            addr,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn one(samples: &[Sample]) -> &Sample {
    assert_eq!(samples.len(), 1, "{samples:?}");
    &samples[0]
}

#[test]
fn prometheus_scrapes_the_exposition_and_promql_sees_the_input() {
    let exporter = Exporter::start();
    let prom = Prometheus::start("scrape", &[exporter.addr]).expect("prometheus");
    eprintln!("{}", Prometheus::version().unwrap_or_default());
    prom.wait_targets_up(1, WAIT).expect("target up");

    // node_exporter's backend gauge, with node_exporter's labels; the empty local_mark is
    // no label at all once stored.
    let active = prom
        .query(r#"rvs_backend_connections_active{remote_address="10.1.0.11"}"#)
        .expect("query");
    let s = one(&active);
    assert_eq!(s.value, 7.0);
    for (label, value) in [
        ("local_address", "10.0.0.100"),
        ("local_port", "80"),
        ("remote_port", "8080"),
        ("proto", "TCP"),
    ] {
        assert_eq!(
            s.labels.get(label).map(String::as_str),
            Some(value),
            "{s:?}"
        );
    }
    assert!(!s.labels.contains_key("local_mark"), "{s:?}");

    let check = |promql: &str, want: f64| {
        let got = prom.query(promql).expect(promql);
        assert_eq!(one(&got).value, want, "{promql}");
    };
    check("sum(rvs_backend_connections_inactive)", 3.0);
    check(r#"rvs_backend_weight{remote_address="10.1.0.12"}"#, 1.0);
    check("sum(rvs_worker_drops_total)", 7.0);
    check(
        r#"sum by (reason) (rvs_worker_drops_total{reason="no_service"})"#,
        6.0,
    );
    check("rvs_connections_total", 11.0);
    check(
        r#"rvs_service_incoming_bytes_total{proto="TCP",local_port="80"}"#,
        11_000.0,
    );
    check(r#"rvs_worker_busy_ratio{worker="1"}"#, 0.5);
    check(r#"rvs_port_link_up{port="wan0"}"#, 1.0);
    check("rvs_mempool_mbufs", 4095.0);
    check(r#"rvs_backend_up{remote_address="10.1.0.12"}"#, 0.0);
    check("sum(rvs_backend_health_transitions_total)", 3.0);
    check("rvs_backend_health_check_duration_seconds", 0.0025);
    check(
        r#"rvs_service_content_rule_matches_total{rule="0",group="img"}"#,
        3.0,
    );
    // The default's empty group is no label at all.
    check(
        r#"rvs_service_content_rule_matches_total{rule="default",group=""}"#,
        1.0,
    );

    // The escaped label value arrives as it was.
    let info = prom.query("rvs_build_info").expect("build info");
    assert_eq!(
        one(&info).labels.get("version").map(String::as_str),
        Some(VERSION)
    );

    // Every family with samples was ingested: as many metric names as TYPE lines.
    let families = render(&input(1))
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .count();
    check(
        r#"count(count by (__name__) ({__name__=~"rvs_.+"}))"#,
        families as f64,
    );

    // Worker 0's receive counter grows by 1000 a scrape: its rate is positive once a few
    // scrapes are in.
    let rate = prom
        .wait_for(
            r#"rate(rvs_worker_rx_packets_total{worker="0"}[10s])"#,
            WAIT,
            |s| s.len() == 1 && s[0].value > 0.0,
        )
        .expect("rate");
    eprintln!(
        "rate(rvs_worker_rx_packets_total{{worker=\"0\"}}[10s]) = {}",
        rate[0].value
    );
    check(r#"rate(rvs_worker_rx_packets_total{worker="1"}[10s])"#, 0.0);
}
