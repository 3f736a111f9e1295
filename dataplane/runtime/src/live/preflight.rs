//! What a live director checks before the EAL starts, so that a mistake is named in
//! rvsd's words instead of surfacing as a DPDK probe failure: the configuration has ports,
//! and every kernel interface a port's device attaches to (`iface=` of `net_af_packet`,
//! `net_af_xdp`, `net_pcap`) exists in rvsd's network namespace, with an MTU no lower than
//! the port's `mtu` (such devices carry what the interface does; rvs does not change an
//! interface it does not own). [`check_file`] adds what else can be known without DPDK,
//! for `rvsd --check`.

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
    missing_interface(config, &interfaces(&text))?;
    short_interface_mtu(config, |iface| {
        let path = format!("{SYS_CLASS_NET}/{iface}/mtu");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

/// Where the kernel shows each interface's attributes.
const SYS_CLASS_NET: &str = "/sys/class/net";

/// The first interface a port's device names whose MTU (`mtu_of`; an interface whose
/// MTU cannot be read is let through) is below the port's, as an error.
fn short_interface_mtu(
    config: &Config,
    mtu_of: impl Fn(&str) -> Option<u16>,
) -> Result<(), LiveError> {
    for p in &config.ports {
        for iface in device::kernel_interfaces(&p.device) {
            match mtu_of(iface) {
                Some(have) if have < p.mtu => {
                    return Err(LiveError::InterfaceMtu {
                        port: p.name.clone(),
                        iface: iface.to_owned(),
                        have,
                        want: p.mtu,
                    })
                }
                Some(have) if have > p.mtu => rvs_control::warn!(
                    "port {}: interface {iface} has MTU {have}, above the port's mtu {}: \
                     the packet buffers are sized for the port's",
                    p.name,
                    p.mtu
                ),
                _ => {}
            }
        }
    }
    Ok(())
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
    fn an_interface_mtu_below_the_ports_is_named() {
        let text =
            "[[port]]\nname = \"wan0\"\ndevice = \"net_af_packet0,iface=veth-wan\"\nmtu = 9000\n\
                    [[port]]\nname = \"lan0\"\ndevice = \"0000:03:00.0\"\nmtu = 9000\n";
        let config = Config::parse(text, "t.toml").expect("config");
        let at = |mtu: u16| move |iface: &str| (iface == "veth-wan").then_some(mtu);
        assert!(short_interface_mtu(&config, at(9000)).is_ok());
        assert!(short_interface_mtu(&config, at(9216)).is_ok());
        assert!(short_interface_mtu(&config, |_| None).is_ok());
        let err = short_interface_mtu(&config, at(1500)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "port \"wan0\": interface \"veth-wan\" has MTU 1500, below the port's mtu 9000 \
             (raise it: ip link set dev veth-wan mtu 9000; or lower the port's `mtu`)"
        );
    }

    #[test]
    fn a_configuration_without_ports_is_refused() {
        let err = check(&Config::parse("", "empty.toml").unwrap()).unwrap_err();
        assert!(matches!(err, LiveError::NoPorts), "{err}");
    }
}
