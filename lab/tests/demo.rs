//! `rvs-lab demo`, as `scripts/demo` runs it after building: exits 0 and shows every step.
//! Needs rvsd and rvsadm next to rvs-lab (`cargo test --workspace` builds them) and root.

use std::path::Path;
use std::process::Command;

#[test]
fn lab_demo_runs_every_step() {
    let bin = Path::new(env!("CARGO_BIN_EXE_rvs-lab"));
    for other in ["rvsd", "rvsadm", "rvsctl"] {
        assert!(
            bin.with_file_name(other).exists(),
            "{other} is missing next to rvs-lab: build the workspace (scripts/test does)"
        );
    }
    let out = Command::new(bin)
        .arg("demo")
        .output()
        .expect("run rvs-lab demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "300 HTTP requests",
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "rvs_connections_total ",
        "health: r3 down",
        "60 requests after the health transition",
        "demo: OK",
    ] {
        assert!(text.contains(step), "no {step:?} in:\n{text}");
    }
}
