//! `rvsctl import`: the configuration on stdout, what was not carried over on stderr with
//! its line, and the exit status (1 when something was dropped, unless --allow-partial).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

fn rvsctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rvsctl"))
        .args(args)
        .output()
        .expect("run rvsctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rvsctl-import-{}-{name}", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

#[test]
fn import_exit_status_and_lists() {
    let ka = file(
        "k.conf",
        "virtual_server 10.0.0.100 80 {\n  lb_kind DR\n  alpha\n  real_server 10.1.0.11 80 {\n  }\n}\n",
    );
    let ka = ka.to_str().unwrap();
    let (code, out, err) = rvsctl(&["import", "keepalived", ka]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("[[service]]") && out.contains("forward = \"dr\""),
        "{out}"
    );
    assert!(
        err.contains(&format!("not carried over: {ka}:3: `alpha`")),
        "{err}"
    );
    assert!(err.contains("--allow-partial"), "{err}");
    let (code, out2, _) = rvsctl(&["import", "keepalived", "--allow-partial", ka]);
    assert_eq!((code, out2), (0, out));
    // Everything carried: 0, nothing on stderr.
    let ld = file(
        "l.cf",
        "virtual=10.0.0.100:80\n\treal=10.1.0.11:80 gate\n\tchecktype=connect\n",
    );
    let (code, out, err) = rvsctl(&["import", "ldirectord", ld.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("kind = \"tcp\""), "{out}");
    // A malformed file: 1, its line, nothing on stdout.
    let bad = file(
        "bad.cf",
        "virtual=10.0.0.100:80\n\treal=10.1.0.11:80 bridge\n",
    );
    let (code, out, err) = rvsctl(&["import", "ldirectord", bad.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.contains(":2: forward method must be gate, masq or ipip"),
        "{err}"
    );
    // A bad option: 2.
    let (code, _, err) = rvsctl(&["import", "keepalived", "--port", "eth0", ka]);
    assert_eq!(code, 2, "{err}");
    for p in [ka.into(), ld, bad] {
        let _ = std::fs::remove_file(p);
    }
}
