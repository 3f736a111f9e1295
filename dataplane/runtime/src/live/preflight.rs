//! What a live director checks before the EAL starts, so that a mistake is named in
//! rvsd's words instead of surfacing as a DPDK probe failure: the configuration has ports,
//! and every kernel interface a port's device attaches to (`iface=` of `net_af_packet`,
//! `net_af_xdp`, `net_pcap`) exists in rvsd's network namespace. [`check_file`] adds what
//! else can be known without DPDK, for `rvsd --check`.

use std::collections::BTreeSet;

use super::error::LiveError;
use super::plan;
use rvs_config::{device, Config};
use rvs_pipeline::service::IdRegistry;
use rvs_pipeline::snapshot::Snapshot;

/// The interfaces of the calling process's network namespace, as the kernel lists them.
const NET_DEV: &str = "/proc/self/net/dev";

/// Check `config` against the interfaces of this network namespace.
pub fn check(config: &Config) -> Result<(), LiveError> {
    if config.ports.is_empty() {
        return Err(LiveError::NoPorts);
    }
    let wanted = config
        .ports
        .iter()
        .any(|p| !device::kernel_interfaces(&p.device).is_empty());
    if !wanted {
        return Ok(());
    }
    let text = std::fs::read_to_string(NET_DEV).map_err(|source| LiveError::Interfaces {
        file: NET_DEV,
        source,
    })?;
    missing_interface(config, &interfaces(&text))
}

/// Every check rvsd makes of `config` before the EAL starts and that needs no device:
/// `check` above, the pipeline's own tables built from it (ports, routes, services,
/// schedulers), and the warning for more workers than CPUs. Returns the warnings.
pub fn check_file(config: &Config) -> Result<Vec<String>, LiveError> {
    check(config)?;
    Snapshot::build(config, &[], &[], &mut IdRegistry::default())?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(
        plan::cpu_shortfall(&config.dpdk.eal_args, config.dataplane.workers, cpus)
            .into_iter()
            .collect(),
    )
}

/// The first interface a port's device names that is not in `present`, as an error.
fn missing_interface(config: &Config, present: &BTreeSet<&str>) -> Result<(), LiveError> {
    for p in &config.ports {
        if let Some(iface) = device::kernel_interfaces(&p.device)
            .into_iter()
            .find(|i| !present.contains(i))
        {
            return Err(LiveError::NoInterface {
                port: p.name.clone(),
                device: p.device.clone(),
                iface: iface.to_owned(),
            });
        }
    }
    Ok(())
}

/// The interface names of a `/proc/net/dev` text (`NAME: counters` after two header lines).
fn interfaces(text: &str) -> BTreeSet<&str> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV_TEXT: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
veth-wan:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
";

    fn config(devices: &[&str]) -> Config {
        let mut text = String::new();
        for (i, d) in devices.iter().enumerate() {
            text += &format!("[[port]]\nname = \"p{i}\"\ndevice = \"{d}\"\n");
        }
        Config::parse(&text, "t.toml").expect("config")
    }

    #[test]
    fn interfaces_are_read_from_the_kernel_list() {
        let names = interfaces(NET_DEV_TEXT);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["lo", "veth-wan"]);
    }

    #[test]
    fn a_missing_interface_is_named_with_its_port() {
        let present = interfaces(NET_DEV_TEXT);
        let ok = config(&["net_af_packet0,iface=veth-wan", "0000:03:00.0"]);
        assert!(missing_interface(&ok, &present).is_ok());
        let missing = config(&[
            "net_af_packet0,iface=veth-wan",
            "net_af_xdp1,iface=veth-lan",
        ]);
        let err = missing_interface(&missing, &present).unwrap_err();
        assert_eq!(
            err.to_string(),
            "port \"p1\" (device \"net_af_xdp1,iface=veth-lan\"): there is no interface \
             \"veth-lan\" in rvsd's network namespace (see `ip link`)"
        );
    }

    #[test]
    fn a_configuration_without_ports_is_refused() {
        let err = check(&Config::parse("", "empty.toml").unwrap()).unwrap_err();
        assert!(matches!(err, LiveError::NoPorts), "{err}");
    }
}
