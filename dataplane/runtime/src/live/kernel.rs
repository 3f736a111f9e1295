//! The kernel side of the exception path: the interface DPDK's TAP device created for a
//! port's mirror is brought up with the port's addresses, so the host's routing daemons
//! and services answer on them. Done with `ip` (iproute2), as an operator would.
//!
//! Under `[ha]`, the `floating` addresses follow mastership there too: a backup's kernel
//! must not hold them (it would use one as the source of its own ARP requests and take
//! the reals' gateway entry), so they are added when the director becomes master and
//! removed when it stops being master ([`floating_hook`]).

use std::process::Command;
use std::sync::mpsc;

use super::error::LiveError;
use rvs_config::{Config, IpNet, PortConfig};
use rvs_control::ha::MasterHook;

/// The addresses the kernel side of `port` gets at start: all of them but the `[ha]
/// floating` ones.
pub fn fixed_addresses(config: &Config, port: &PortConfig) -> Vec<IpNet> {
    let floating = config
        .ha
        .as_ref()
        .map(|h| h.floating.as_slice())
        .unwrap_or(&[]);
    port.addresses
        .iter()
        .filter(|a| !floating.contains(a))
        .copied()
        .collect()
}

/// Every floating address that belongs on a kernel interface: (interface, address).
pub fn floating_addresses(config: &Config) -> Vec<(String, IpNet)> {
    let Some(ha) = &config.ha else {
        return Vec::new();
    };
    config
        .kernel_mirrors()
        .filter_map(|(_, _, p)| p.kernel.as_ref().map(|k| (k, p)))
        .flat_map(|(iface, p)| {
            p.addresses
                .iter()
                .filter(|a| ha.floating.contains(a))
                .map(|a| (iface.clone(), *a))
        })
        .collect()
}

/// What moves the floating addresses on the kernel interfaces with mastership, when
/// there are any: the `ip` commands run on a thread of their own, so VRRP never waits
/// for them; of several changes queued meanwhile, only the last is carried out.
pub fn floating_hook(config: &Config) -> Option<MasterHook> {
    let addresses = floating_addresses(config);
    if addresses.is_empty() {
        return None;
    }
    let (tx, rx) = mpsc::channel::<bool>();
    let spawned = std::thread::Builder::new()
        .name("rvs-kernel-ha".into())
        .spawn(move || {
            while let Ok(mut master) = rx.recv() {
                while let Ok(later) = rx.try_recv() {
                    master = later;
                }
                for (iface, net) in &addresses {
                    let addr = net.to_string();
                    let result = if master {
                        add(iface, net)
                    } else {
                        ip(iface, &["addr", "del", &addr, "dev", iface])
                    };
                    if let Err(e) = result {
                        rvs_control::warn!("ha: floating {addr} on {iface}: {e}");
                    }
                }
            }
        });
    match spawned {
        Ok(_) => Some(Box::new(move |master| {
            let _ = tx.send(master);
        })),
        Err(e) => {
            rvs_control::error!("ha: the kernel interfaces keep no floating address: {e}");
            None
        }
    }
}

/// Bring `iface` up with `mtu` (its port's) and give it `addresses` (IPv6 ones without
/// duplicate detection: the address is the port's, already in use on the wire by rvs
/// itself). A host whose kernel has IPv6 disabled keeps the IPv4 ones only, with a
/// warning.
pub fn bring_up(iface: &str, mtu: u16, addresses: &[IpNet]) -> Result<(), LiveError> {
    let mtu = mtu.to_string();
    ip(iface, &["link", "set", "dev", iface, "mtu", &mtu, "up"])?;
    for net in addresses {
        add(iface, net)?;
    }
    Ok(())
}

/// Give `iface` the address `net` (see [`bring_up`]).
fn add(iface: &str, net: &IpNet) -> Result<(), LiveError> {
    let addr = net.to_string();
    if net.addr().is_ipv4() {
        ip(iface, &["addr", "replace", &addr, "dev", iface])
    } else {
        if let Err(e) = ip(iface, &["addr", "replace", &addr, "dev", iface, "nodad"]) {
            rvs_control::warn!("{e}; the kernel side of the port has no IPv6 address {addr}");
        }
        Ok(())
    }
}

fn ip(iface: &str, args: &[&str]) -> Result<(), LiveError> {
    let fail = |what: String| LiveError::Kernel {
        iface: iface.to_owned(),
        what,
    };
    let out = Command::new("ip").args(args).output().map_err(|e| {
        fail(format!(
            "running ip {}: {e} (install iproute2)",
            args.join(" ")
        ))
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(fail(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[[port]]
name = "wan"
device = "net_null0"
addresses = ["10.0.0.2/24"]

[[port]]
name = "lan"
device = "net_null1"
kernel = "rvs-lan"
addresses = ["10.1.0.2/24", "10.1.0.1/24"]

[ha]
port = "wan"
vrid = 51
floating = ["10.1.0.1/24"]
"#;

    /// The kernel side of a port starts without the floating addresses (a backup's
    /// kernel must not hold them); they are the ones that follow mastership.
    #[test]
    fn floating_addresses_stay_off_the_kernel_side_until_master() {
        let config = Config::parse(CONFIG, "rvs.toml").unwrap();
        let lan = &config.ports[1];
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(fixed_addresses(&config, lan), [net("10.1.0.2/24")]);
        assert_eq!(
            floating_addresses(&config),
            [("rvs-lan".to_owned(), net("10.1.0.1/24"))]
        );
        let without_ha = Config::parse(CONFIG.split("[ha]").next().unwrap(), "rvs.toml").unwrap();
        assert_eq!(fixed_addresses(&without_ha, &without_ha.ports[1]).len(), 2);
        assert!(floating_addresses(&without_ha).is_empty());
    }
}
