//! The kernel side of the exception path: the interface DPDK's TAP device created for a
//! port's mirror is brought up with the port's addresses, so the host's routing daemons
//! and services answer on them. Done with `ip` (iproute2), as an operator would.

use std::process::Command;

use super::error::LiveError;
use rvs_config::IpNet;

/// Bring `iface` up and give it `addresses` (IPv6 ones without duplicate detection: the
/// address is the port's, already in use on the wire by rvs itself). A host whose kernel
/// has IPv6 disabled keeps the IPv4 ones only, with a warning.
pub fn bring_up(iface: &str, addresses: &[IpNet]) -> Result<(), LiveError> {
    ip(iface, &["link", "set", "dev", iface, "up"])?;
    for net in addresses {
        let addr = net.to_string();
        if net.addr().is_ipv4() {
            ip(iface, &["addr", "replace", &addr, "dev", iface])?;
        } else if let Err(e) = ip(iface, &["addr", "replace", &addr, "dev", iface, "nodad"]) {
            eprintln!("rvsd: {e}; the kernel side of the port has no IPv6 address {addr}");
        }
    }
    Ok(())
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
