//! The Grafana dashboard (`grafana/rvs-director.json`) against a real Prometheus scraping
//! rvsd in the namespace lab during traffic: every panel's query returns data, so no panel
//! is empty or broken by a renamed metric.
//!
//! The template variables' `label_values` queries are checked the same way.
//!
//! Prometheus runs in the test's own namespace and scrapes rvsd over the lab's management
//! veth ([`rvs_lab::Mgmt`]). Grafana's interval variables become `10s` (Prometheus scrapes
//! every second), template variables `.*` (the dashboard's "All").

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rvs_lab::{preflight, Lab, Mgmt, Pmd, Rvsd, Service, HTTP_PORT, MGMT_DIRECTOR};
use serde_json::Value;

#[path = "../dataplane/control/tests/support/prometheus.rs"]
mod prometheus;

/// How long the traffic runs at most, and how long each query may take to return data.
const TRAFFIC_FOR: Duration = Duration::from_secs(60);
const QUERY_WAIT: Duration = Duration::from_secs(20);

/// Every `expr` of every panel (rows' nested panels too), with its panel's title.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_owned()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The template variables' `label_values(SELECTOR, LABEL)` as PromQL: `count by (LABEL)
/// (SELECTOR)`, which has data exactly when Grafana would find values.
fn variable_queries(dashboard: &Value) -> Vec<(String, String)> {
    let vars = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten();
    vars.map(|v| {
        let name = format!("variable {}", v["name"]);
        let def = v["definition"].as_str().unwrap_or("");
        let args = def
            .strip_prefix("label_values(")
            .and_then(|a| a.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{name}: not label_values(...): {def}"));
        let (selector, label) = args
            .rsplit_once(',')
            .expect("label_values(selector, label)");
        (name, format!("count by ({}) ({selector})", label.trim()))
    })
    .collect()
}

/// Grafana's variables as the test evaluates them: `$__interval`-like ones `10s`, template
/// variables `.*`; `$name` and `${name}` alike.
fn substitute(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out += &rest[..at];
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').unwrap_or(braced.len());
                (&braced[..end], &braced[(end + 1).min(braced.len())..])
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out += if name.starts_with("__") { "10s" } else { ".*" };
        rest = tail;
    }
    out + rest
}

#[test]
fn dashboard_variables_are_substituted() {
    assert_eq!(
        substitute(r#"rate(x{a=~"$instance",b=~"${service}"}[$__rate_interval])"#),
        r#"rate(x{a=~".*",b=~".*"}[10s])"#
    );
}

#[test]
fn lab_grafana_dashboard_queries_return_data() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/rvs-director.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(
        dashboard["__inputs"][0]["name"], "DS_PROMETHEUS",
        "the datasource is an import input"
    );
    let mut queries = queries(&dashboard);
    assert!(queries.len() >= 20, "{queries:?}");
    queries.extend(variable_queries(&dashboard));

    preflight();
    let lab = Lab::new('g');
    let _mgmt = Mgmt::new(&lab);
    // The health panels need a checked service, whose probes need the probe path.
    lab.add_probe_path();
    let services = [
        Service::new("tcp", "10.0.0.100", 80, "rr")
            .check("kind = \"tcp\"\ninterval = 0.5\ntimeout = 0.4\n")
            .all_reals(HTTP_PORT, "nat"),
        Service::new("tcp", "10.0.0.101", 80, "wlc")
            .persistence(60)
            .laddrs(&["10.9.0.1", "10.9.0.2"])
            .all_reals(HTTP_PORT, "fullnat"),
    ];
    let metrics = format!("{MGMT_DIRECTOR}:9779");
    let config = lab.write_config("grafana", Pmd::AfPacket, Some(&metrics), &services);
    let rvsd = Rvsd::start(&lab, Path::new(env!("CARGO_BIN_EXE_rvsd")), &config);
    let target: SocketAddr = metrics.parse().expect("metrics address");
    let prom = prometheus::Prometheus::start("grafana", &[target]).expect("start prometheus");
    prom.wait_targets_up(1, Duration::from_secs(30))
        .expect("rvsd scraped");

    let done = AtomicBool::new(false);
    let empty = std::thread::scope(|scope| {
        // Traffic while the queries run: bounded in rounds and time.
        let traffic = scope.spawn(|| {
            let started = Instant::now();
            let mut answered = 0;
            for _ in 0..200 {
                if done.load(Ordering::Relaxed) || started.elapsed() > TRAFFIC_FOR {
                    break;
                }
                answered += lab.burst("10.0.0.100", 5).len() + lab.burst("10.0.0.101", 5).len();
                std::thread::sleep(Duration::from_millis(100));
            }
            answered
        });
        let empty: Vec<String> = queries
            .iter()
            .filter_map(|(title, expr)| {
                let promql = substitute(expr);
                match prom.wait_for(&promql, QUERY_WAIT, |s| !s.is_empty()) {
                    Ok(_) => None,
                    Err(e) => Some(format!("panel {title:?}: {promql}: {e}")),
                }
            })
            .collect();
        done.store(true, Ordering::Relaxed);
        assert!(traffic.join().expect("traffic") > 0, "no request answered");
        empty
    });
    assert!(
        empty.is_empty(),
        "{} of {} dashboard queries returned no data:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );
    rvsd.stop();
}
