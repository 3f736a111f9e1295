//! The kernel's view of a port's link, for ports whose device attaches to kernel
//! interfaces (`net_af_packet`, `net_af_xdp`, `net_pcap`): those drivers report their
//! link up whatever the interface does, so the listing reads the interface's
//! `operstate` and `carrier` (see the kernel's `Documentation/ABI/testing/sysfs-class-net`).

use std::path::Path;

/// Where the kernel lists the interfaces of rvsd's network namespace.
pub const SYS_CLASS_NET: &str = "/sys/class/net";

/// Whether interface `iface` (under `sys`, normally [`SYS_CLASS_NET`]) has its link up:
/// `operstate` `up`, or `unknown` (drivers that do not track it) with a carrier. An
/// interface that is gone or unreadable is down.
pub fn kernel_link_up(sys: &Path, iface: &str) -> bool {
    let read = |file: &str| {
        std::fs::read_to_string(sys.join(iface).join(file))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    match read("operstate").as_str() {
        "up" => true,
        "unknown" => read("carrier") == "1",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operstate_and_carrier_give_the_link() {
        let dir = std::env::temp_dir().join(format!("rvs-link-test-{}", std::process::id()));
        let iface = |name: &str, operstate: &str, carrier: Option<&str>| {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("operstate"), format!("{operstate}\n")).unwrap();
            if let Some(c) = carrier {
                std::fs::write(d.join("carrier"), format!("{c}\n")).unwrap();
            }
        };
        iface("veth-up", "up", Some("1"));
        iface("veth-peer-down", "lowerlayerdown", Some("0"));
        iface("veth-admin-down", "down", None);
        iface("tun-unknown", "unknown", Some("1"));
        iface("tun-no-carrier", "unknown", Some("0"));
        let up = |name| kernel_link_up(&dir, name);
        let got = [
            up("veth-up"),
            up("veth-peer-down"),
            up("veth-admin-down"),
            up("tun-unknown"),
            up("tun-no-carrier"),
            up("gone"),
        ];
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, [true, false, false, true, false, false]);
    }
}
