//! `scripts/ipvsadm-alternative`: install puts rvsadm at `/sbin/ipvsadm` with the package's
//! binary diverted aside, again without harm, and with `--socket` a wrapper that names the
//! socket; remove brings the package's binary back byte for byte; both work when the
//! ipvsadm package's binary is absent too; a file that is not rvsadm is left alone.
//!
//! Each case runs in a mount namespace of its own where `/sbin` (wherever it points) and
//! dpkg's database are overlays on a tmpfs: the machine's files never change (checked).
//! Needs root and Debian's dpkg and ipvsadm (`scripts/setup` installs ldirectord, which
//! brings ipvsadm).

use std::path::Path;
use std::process::Command;

/// Runs `body` (bash, `set -e`) after the overlays (on a tmpfs at a directory named with
/// `tag`), with `$S` the script, `$R` rvsadm;
/// its output, asserting it exited 0.
fn in_private_root(tag: &str, body: &str) -> String {
    let rvsadm = Path::new(env!("CARGO_BIN_EXE_rvsd")).with_file_name("rvsadm");
    assert!(
        rvsadm.exists(),
        "{} is missing: build the workspace (scripts/test does)",
        rvsadm.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ipvsadm-alternative");
    let top = std::env::temp_dir().join(format!("rvs-ipvsadm-alt-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&top).expect("dir");
    let text = format!(
        r#"set -euo pipefail
top=$1; S=$2; R=$3
mount -t tmpfs rvs-test "$top"
for dir in "$(readlink -f /sbin)" /var/lib/dpkg; do
    name=$(echo "$dir" | tr / _)
    mkdir -p "$top/$name/upper" "$top/$name/work"
    mount -t overlay rvs-test \
        -o "lowerdir=$dir,upperdir=$top/$name/upper,workdir=$top/$name/work" "$dir"
done
{body}"#
    );
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "bash",
            "-c",
            &text,
            "bash",
        ])
        .arg(&top)
        .arg(&script)
        .arg(&rvsadm)
        .env_remove("RVS_SOCKET")
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir(&top);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{body}\n---\n{all}");
    all
}

/// What the machine has at `/sbin/ipvsadm`, and its diversions of it.
fn machine_state() -> (Option<Vec<u8>>, String) {
    let binary = std::fs::read("/sbin/ipvsadm").ok();
    let out = Command::new("dpkg-divert")
        .args(["--list", "/sbin/ipvsadm"])
        .output()
        .expect("dpkg-divert");
    (binary, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn preflight() {
    rvs_lab::preflight();
    assert!(
        Path::new("/usr/bin/dpkg-divert").exists() && Path::new("/sbin/ipvsadm").exists(),
        "dpkg-divert and the ipvsadm package are needed: run scripts/setup"
    );
}

#[test]
fn install_and_remove_with_the_ipvsadm_package() {
    preflight();
    let before = machine_state();
    in_private_root(
        "with",
        r#"orig=$(md5sum < /sbin/ipvsadm)
"$S" install "$R"
[ "$(readlink /sbin/ipvsadm)" = "$R" ]
[ "$(md5sum < /sbin/ipvsadm.distrib)" = "$orig" ]
grep -qx rvs <<<"$(dpkg-divert --listpackage /sbin/ipvsadm)"
"$S" install "$R"
[ "$(readlink /sbin/ipvsadm)" = "$R" ]
[ "$(md5sum < /sbin/ipvsadm.distrib)" = "$orig" ]
# As ipvsadm, with no option: rvsadm on the default socket.
out=$(/sbin/ipvsadm -L -n 2>&1) && exit 1
grep -q "cannot reach rvsd at /run/rvs/rvsd.sock" <<<"$out"
grep -q "rvsadm" <<<"$("$S" status)"
"$S" install --socket /run/elsewhere.sock "$R"
out=$(/sbin/ipvsadm -L -n 2>&1) && exit 1
grep -q "cannot reach rvsd at /run/elsewhere.sock" <<<"$out"
out=$(RVS_SOCKET=/run/mine.sock /sbin/ipvsadm -L -n 2>&1) && exit 1
grep -q "cannot reach rvsd at /run/mine.sock" <<<"$out"
"$S" remove
"$S" remove
[ ! -L /sbin/ipvsadm ] && [ ! -e /sbin/ipvsadm.distrib ]
[ "$(md5sum < /sbin/ipvsadm)" = "$orig" ]
[ -z "$(dpkg-divert --listpackage /sbin/ipvsadm)" ]
grep -qx "/sbin/ipvsadm: ipvsadm" <<<"$("$S" status)"
"#,
    );
    assert_eq!(
        machine_state(),
        before,
        "the machine's /sbin/ipvsadm changed"
    );
}

#[test]
fn install_and_remove_without_the_ipvsadm_binary() {
    preflight();
    let before = machine_state();
    in_private_root(
        "without",
        r#"rm /sbin/ipvsadm
"$S" install "$R"
[ "$(readlink /sbin/ipvsadm)" = "$R" ] && [ ! -e /sbin/ipvsadm.distrib ]
"$S" remove
[ ! -e /sbin/ipvsadm ] && [ ! -L /sbin/ipvsadm ]
[ -z "$(dpkg-divert --listpackage /sbin/ipvsadm)" ]
"#,
    );
    assert_eq!(
        machine_state(),
        before,
        "the machine's /sbin/ipvsadm changed"
    );
}

#[test]
fn a_file_that_is_not_rvsadm_is_left_alone() {
    preflight();
    in_private_root(
        "other",
        r#"# Diverted by rvs, but someone put another program in its place.
"$S" install "$R"
rm /sbin/ipvsadm
printf '#!/bin/sh\necho mine\n' > /sbin/ipvsadm
chmod 755 /sbin/ipvsadm
out=$("$S" remove 2>&1) && exit 1
grep -q "is not rvsadm" <<<"$out"
[ "$(/sbin/ipvsadm)" = mine ]
# Another package's diversion is not taken over.
rm /sbin/ipvsadm
dpkg-divert --package rvs --rename --remove /sbin/ipvsadm >/dev/null
dpkg-divert --package other --divert /sbin/ipvsadm.other --rename --add /sbin/ipvsadm >/dev/null
out=$("$S" install "$R" 2>&1) && exit 1
grep -q "already diverted by package other" <<<"$out"
"#,
    );
}
