//! The comparison's tables: per load, each scenario's medians over the rounds and its
//! same-round ratios to the ceiling.

use std::fmt::Write as _;

use super::{Load, Sample, Scenario};

/// One scenario under one load, over every round.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The scenario.
    pub scenario: Scenario,
    /// The load.
    pub load: Load,
    /// Rounds that ran.
    pub rounds: usize,
    /// Median requests/s.
    pub rate: f64,
    /// Median over rounds of requests/s as a share of the same round's ceiling.
    pub rate_of_ceiling: f64,
    /// Median p99 latency in microseconds.
    pub p99_us: f64,
    /// Median over rounds of p99 as a share of the same round's ceiling.
    pub p99_of_ceiling: f64,
    /// Median whole-machine CPU time per request, in microseconds.
    pub cpu_us: f64,
    /// Median over rounds of CPU per request as a share of the same round's ceiling.
    pub cpu_of_ceiling: f64,
    /// Errors over every round (socket errors and non-2xx/3xx answers).
    pub errors: u64,
}

/// Summaries of `samples`, per load then per scenario in the order they first ran.
pub fn summarise(samples: &[Sample]) -> Vec<Summary> {
    let mut keys: Vec<(Load, Scenario)> = Vec::new();
    for s in samples {
        if !keys.contains(&(s.load, s.scenario)) {
            keys.push((s.load, s.scenario));
        }
    }
    keys.sort_by_key(|(l, s)| (*l == Load::Close, Scenario::ALL.iter().position(|x| x == s)));
    keys.into_iter()
        .map(|(load, scenario)| {
            let runs: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.load == load && s.scenario == scenario)
                .collect();
            let ceiling = |round: usize| {
                samples
                    .iter()
                    .find(|c| c.round == round && c.load == load && c.scenario == Scenario::Direct)
            };
            let ratio = |f: fn(&Sample) -> f64| {
                median(
                    runs.iter()
                        .filter_map(|r| {
                            let c = ceiling(r.round)?;
                            (f(c) > 0.0).then(|| f(r) / f(c))
                        })
                        .collect(),
                )
            };
            Summary {
                scenario,
                load,
                rounds: runs.len(),
                rate: median(runs.iter().map(|r| r.rate()).collect()),
                rate_of_ceiling: ratio(Sample::rate),
                p99_us: median(runs.iter().map(|r| r.wrk.p99_us).collect()),
                p99_of_ceiling: ratio(|s| s.wrk.p99_us),
                cpu_us: median(runs.iter().map(|r| r.cpu_us_per_request()).collect()),
                cpu_of_ceiling: ratio(Sample::cpu_us_per_request),
                errors: runs.iter().map(|r| r.wrk.errors).sum(),
            }
        })
        .collect()
}

/// The median (0 for none).
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Markdown: one table per load, then every run.
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    let summaries = summarise(samples);
    for load in [Load::KeepAlive, Load::Close] {
        let rows: Vec<&Summary> = summaries.iter().filter(|s| s.load == load).collect();
        if rows.is_empty() {
            continue;
        }
        let unit = if load == Load::Close {
            "conn/s (= req/s)"
        } else {
            "req/s"
        };
        let _ = writeln!(
            out,
            "\n### {} ({} rounds)\n\n| scenario | {unit} | % of ceiling | p99 | p99 vs ceiling | CPU µs/request | CPU vs ceiling | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|",
            load.name(),
            rows.iter().map(|r| r.rounds).max().unwrap_or(0)
        );
        for r in rows {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0}% | {:.2} ms | {:.2}x | {:.1} | {:.2}x | {} |",
                r.scenario.name(),
                r.rate,
                r.rate_of_ceiling * 100.0,
                r.p99_us / 1000.0,
                r.p99_of_ceiling,
                r.cpu_us,
                r.cpu_of_ceiling,
                r.errors
            );
        }
    }
    let _ = writeln!(
        out,
        "\nEvery run:\n\n| round | load | scenario | req/s | p99 | CPU busy | CPU µs/request | errors |\n|---:|---|---|---:|---:|---:|---:|---:|"
    );
    for s in samples {
        let _ = writeln!(out, "{}", run_line(s));
    }
    out
}

/// One run as a table row.
pub fn run_line(s: &Sample) -> String {
    format!(
        "| {} | {} | {} | {:.0} | {:.2} ms | {:.0}% | {:.1} | {} |",
        s.round,
        s.load.name(),
        s.scenario.name(),
        s.rate(),
        s.wrk.p99_us / 1000.0,
        s.cpu_share * 100.0,
        s.cpu_us_per_request(),
        s.wrk.errors
    )
}

#[cfg(test)]
mod tests {
    use super::super::wrk::WrkResult;
    use super::*;

    fn sample(round: usize, scenario: Scenario, requests: u64, cpu_seconds: f64) -> Sample {
        Sample {
            round,
            scenario,
            load: Load::KeepAlive,
            wrk: WrkResult {
                requests,
                seconds: 1.0,
                p99_us: 1000.0,
                errors: 0,
            },
            cpu_seconds,
            cpu_share: 0.5,
        }
    }

    #[test]
    fn ratios_are_taken_within_a_round() {
        // Round 1 runs everything twice as fast: the ratio stays 0.8 in both rounds,
        // while the ratio of the medians across rounds would not.
        let samples = vec![
            sample(0, Scenario::Direct, 1000, 1.0),
            sample(0, Scenario::Haproxy, 800, 1.0),
            sample(1, Scenario::Direct, 2000, 1.0),
            sample(1, Scenario::Haproxy, 1600, 2.0),
            sample(2, Scenario::Direct, 3000, 1.0),
            sample(2, Scenario::Haproxy, 2400, 1.0),
        ];
        let s = summarise(&samples);
        let haproxy = s
            .iter()
            .find(|s| s.scenario == Scenario::Haproxy)
            .expect("haproxy");
        assert!((haproxy.rate_of_ceiling - 0.8).abs() < 1e-9);
        assert_eq!(haproxy.rate, 1600.0);
        assert!((haproxy.cpu_of_ceiling - 1.25).abs() < 1e-9);
        assert!(render(&samples).contains("| haproxy | 1600 | 80% |"));
    }
}
