//! `rvs-lab`'s command line without a lab: `--help` and `--version` succeed, anything
//! else unknown is a usage error (status 2). Needs no root.

use std::process::Command;

fn rvs_lab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rvs-lab"))
        .args(args)
        .output()
        .expect("run rvs-lab")
}

#[test]
fn help_and_version_exit_0_and_unknown_commands_exit_2() {
    for flag in ["--help", "-h"] {
        let out = rvs_lab(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("rvs-lab demo"), "{text}");
    }
    for flag in ["--version", "-V"] {
        let out = rvs_lab(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("rvs-lab "));
    }
    let out = rvs_lab(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
