//! The steps every lab topology builds with: a namespace (a leftover of the same name
//! taken back first, loopback up, sysctls set), a veth pair between two namespaces with
//! offloads off, and removing the namespaces again.

use std::path::Path;

use crate::cmd::{must, must_line, run};

/// Create namespace `ns` with `lo` up and each `sysctls` entry (`key=value`) set.
pub(crate) fn add(ns: &str, sysctls: &[&str]) {
    // A namespace of this name can only be left over from a killed earlier run with the
    // same process id: take it back.
    if Path::new("/run/netns").join(ns).exists() {
        let _ = run(&["ip", "netns", "del", ns]);
    }
    must(&["ip", "netns", "add", ns]);
    must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    for s in sysctls {
        must(&["ip", "netns", "exec", ns, "sysctl", "-qw", s]);
    }
}

/// A veth `a` in namespace `a_ns` whose peer is `b` in `b_ns`, both down. TSO, GSO and
/// GRO are off on both ends: frames no larger than the MTU, as a NIC delivers them (veth
/// would otherwise hand a director 64 KiB frames, which no director receives on a wire).
pub(crate) fn veth(a_ns: &str, a: &str, b_ns: &str, b: &str) {
    must_line(&format!(
        "ip link add {a} netns {a_ns} type veth peer name {b} netns {b_ns}"
    ));
    for (ns, iface) in [(a_ns, a), (b_ns, b)] {
        must_line(&format!(
            "ip netns exec {ns} ethtool -K {iface} tso off gso off gro off"
        ));
    }
}

/// Remove `namespaces` (what is in them goes with them); errors are ignored.
pub(crate) fn remove(namespaces: &[String]) {
    for ns in namespaces {
        let _ = run(&["ip", "netns", "del", ns]);
    }
}
