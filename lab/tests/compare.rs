//! `rvs-lab compare` in short: one round of 2-second runs of every scenario under both
//! loads. Each balancer must reach every real (checked before each run) and serve its
//! run without an error; the full comparison (`scripts/compare`) runs for minutes.

use std::path::Path;

use rvs_lab::compare::{self, Load, Options, Scenario, Wrk};

#[test]
fn lab_compare_smoke_every_scenario_serves_without_errors() {
    let rvsd = Path::new(env!("CARGO_BIN_EXE_rvs-lab")).with_file_name("rvsd");
    assert!(
        rvsd.exists(),
        "rvsd is missing next to rvs-lab: build the workspace"
    );
    let options = Options {
        rounds: 1,
        scenarios: Scenario::ALL.to_vec(),
        loads: vec![Load::KeepAlive, Load::Close],
        wrk: Wrk {
            threads: 3,
            connections: 12,
            seconds: 2,
        },
        rvsd,
    };
    let samples = compare::run(&options, |s| eprintln!("compare: {}", compare::run_line(s)));
    eprintln!("{}", compare::render(&samples));
    assert_eq!(samples.len(), Scenario::ALL.len() * 2);
    for s in &samples {
        assert!(
            s.wrk.requests > 100,
            "{} {}: {} requests",
            s.scenario.name(),
            s.load.name(),
            s.wrk.requests
        );
        assert_eq!(
            s.wrk.errors,
            0,
            "{} {} had errors",
            s.scenario.name(),
            s.load.name()
        );
    }
}
