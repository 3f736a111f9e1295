//! Opt-in addition to the HA lab for DR and TUN services: a direct return path from the
//! reals to the client through the hub ([`HaLab::add_direct_return`]).
//!
//! ```text
//!  hub ns b     cb 10.50.0.250, rb 10.60.0.250, ip_forward on
//!  real ns rM   VIPs on lo (arp_ignore=1, arp_announce=2), TUN device tM
//!               from VIP -> table 100: default via 10.60.0.250 (the hub)
//! ```
//!
//! - **DR**: the master sends the client's frame to the real unchanged but for the MACs;
//!   the real holds the VIP on `lo` and answers from it, and a policy rule sends what
//!   leaves from a VIP to the hub, which routes it onto the client segment: DR answers
//!   never pass a director.
//! - **TUN**: the master encapsulates in IPIP toward the real. This kernel has no `ipip`
//!   module, so each real runs the lab's decapsulator ([`crate::scripts::TUN_DECAP`]),
//!   which writes the inner packet into the real's TUN device; answers leave as DR's do.

use super::{ha_real, HaLab};
use crate::cmd::must;
use crate::scripts;

/// The hub's address on the client segment (it routes DR and TUN answers onto it).
pub const HUB_CLIENT_SIDE: &str = "10.50.0.250";
/// The hub's address on the real segment: the reals' gateway for answers from a VIP.
pub const HUB_REAL_SIDE: &str = "10.60.0.250";
/// The reals' routing table for answers from a DR or TUN VIP.
const DIRECT_TABLE: &str = "100";

impl HaLab {
    /// Gives the lab a direct return path for DR and TUN services on `vips` (see the
    /// module's description): the hub routes between the segments, every real holds the
    /// VIPs on `lo` without answering ARP for them, sends what leaves from them through
    /// the hub, and decapsulates IPIP into its TUN device `tM` (a process of the lab's).
    /// The lab without it is unchanged: its reals answer only through the directors.
    pub fn add_direct_return(&mut self, vips: &[&str]) {
        let hub = self.ns("b");
        for (addr, bridge) in [(HUB_CLIENT_SIDE, "cb"), (HUB_REAL_SIDE, "rb")] {
            let dev = self.iface(bridge);
            must(&[
                "ip",
                "-n",
                &hub,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &dev,
            ]);
        }
        must(&[
            "ip",
            "netns",
            "exec",
            &hub,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        let decap = self.dir.join("tun_decap.py");
        std::fs::write(&decap, scripts::TUN_DECAP).expect("lab script");
        for i in 1..=self.reals {
            let name = format!("r{i}");
            let (ns, dev, tun) = (
                self.ns(&name),
                self.iface(&name),
                self.iface(&format!("t{i}")),
            );
            let ip = |args: &[&str]| {
                let mut all = vec!["ip", "-n", &ns];
                all.extend_from_slice(args);
                must(&all);
            };
            for s in [
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
            ] {
                must(&["ip", "netns", "exec", &ns, "sysctl", "-qw", s]);
            }
            for vip in vips {
                ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"]);
                ip(&["rule", "add", "from", vip, "table", DIRECT_TABLE]);
            }
            ip(&[
                "route",
                "add",
                "default",
                "via",
                HUB_REAL_SIDE,
                "dev",
                &dev,
                "table",
                DIRECT_TABLE,
            ]);
            ip(&["tuntap", "add", "dev", &tun, "mode", "tun"]);
            ip(&["link", "set", &tun, "up"]);
            let real = ha_real(i);
            let child = std::process::Command::new("ip")
                .args(["netns", "exec", &ns, "python3"])
                .arg(&decap)
                .arg(&tun)
                .current_dir(&self.dir)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start the decapsulator of {name} ({real}): {e}"));
            self.servers.push((format!("{name}/decap"), child));
        }
    }
}
