//! What a `[[port]] device` string names, read without DPDK: the DPDK device it opens,
//! the kernel interfaces it attaches to, and whether it needs the PCI bus.
//!
//! A device is a PCI address (`0000:03:00.0`, `03:00.0`) or a vdev string, a driver
//! instance name with comma-separated arguments (`net_af_packet0,iface=eth1`). The
//! drivers that attach to a kernel interface name it in an argument: `iface` for
//! `net_af_packet`, `net_af_xdp` and `net_pcap` (which also takes `rx_iface`,
//! `rx_iface_in` and `tx_iface`); `net_tap` creates its interface, so it names none
//! that must exist.

/// Drivers whose instances attach to an existing kernel interface, by the arguments
/// that name it (DPDK's own names and their older `eth_` aliases).
const INTERFACE_ARGS: [(&str, &[&str]); 5] = [
    ("net_af_packet", &["iface"]),
    ("eth_af_packet", &["iface"]),
    ("net_af_xdp", &["iface"]),
    (
        "net_pcap",
        &["iface", "rx_iface", "rx_iface_in", "tx_iface"],
    ),
    (
        "eth_pcap",
        &["iface", "rx_iface", "rx_iface_in", "tx_iface"],
    ),
];

/// Virtual drivers that use no PCI device (kernel interfaces, sockets, rings, files).
const NO_PCI_DRIVERS: [&str; 13] = [
    "net_af_packet",
    "eth_af_packet",
    "net_af_xdp",
    "net_pcap",
    "eth_pcap",
    "net_tap",
    "net_tun",
    "net_null",
    "eth_null",
    "net_ring",
    "eth_ring",
    "net_memif",
    "net_virtio_user",
];

/// The DPDK device name: the text before the first comma (`net_af_packet0`, or the PCI
/// address).
pub fn device_name(device: &str) -> &str {
    device.split(',').next().unwrap_or_default().trim()
}

/// The driver of a vdev name: the name without its instance suffix (`net_af_packet0`
/// gives `net_af_packet`; `net_ring_live` gives `net_ring`).
fn driver_of<'a>(name: &str, drivers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    drivers.into_iter().find(|d| {
        name.strip_prefix(d).is_some_and(
            |rest| !matches!(rest.chars().next(), Some(c) if !c.is_ascii_digit() && c != '_'),
        )
    })
}

/// The kernel interfaces `device` attaches to, in the order its arguments give them,
/// each once (empty for a PCI device and for drivers that create their interface).
pub fn kernel_interfaces(device: &str) -> Vec<&str> {
    let mut parts = device.split(',');
    let name = parts.next().unwrap_or_default().trim();
    let Some(args) = INTERFACE_ARGS
        .iter()
        .find(|(d, _)| driver_of(name, [*d]).is_some())
        .map(|(_, args)| *args)
    else {
        return Vec::new();
    };
    let mut out: Vec<&str> = Vec::new();
    for part in parts {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if args.contains(&key.trim()) && !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// True when `device` is a PCI address (`DDDD:BB:DD.F` or `BB:DD.F`, hexadecimal).
pub fn is_pci_address(device: &str) -> bool {
    let name = device_name(device);
    let hex = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit());
    let Some((rest, function)) = name.rsplit_once('.') else {
        return false;
    };
    let fields: Vec<&str> = rest.split(':').collect();
    let bus_dev = match fields.as_slice() {
        [domain, bus, dev] if hex(domain, 4) => (bus, dev),
        [bus, dev] => (bus, dev),
        _ => return false,
    };
    hex(bus_dev.0, 2) && hex(bus_dev.1, 2) && hex(function, 1)
}

/// True when `device` is a vdev of a driver known to use no PCI device.
pub fn needs_no_pci(device: &str) -> bool {
    driver_of(device_name(device), NO_PCI_DRIVERS).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_of_each_driver() {
        assert_eq!(
            kernel_interfaces("net_af_packet0,iface=veth-wan"),
            ["veth-wan"]
        );
        assert_eq!(
            kernel_interfaces("net_af_xdp1,iface=eth1,start_queue=0,queue_count=2"),
            ["eth1"]
        );
        assert_eq!(
            kernel_interfaces("net_pcap0,rx_iface=eth0,tx_iface=eth0"),
            ["eth0"]
        );
        assert_eq!(
            kernel_interfaces("net_pcap0,rx_iface_in=a,tx_iface=b"),
            ["a", "b"]
        );
        assert!(kernel_interfaces("net_tap0,iface=rvs0").is_empty());
        assert!(kernel_interfaces("0000:03:00.0").is_empty());
        assert!(kernel_interfaces("net_af_packet0").is_empty());
        assert!(kernel_interfaces("mem").is_empty());
    }

    #[test]
    fn pci_addresses_and_vdevs() {
        assert!(is_pci_address("0000:03:00.0"));
        assert!(is_pci_address("03:00.1"));
        assert!(is_pci_address("0000:af:00.7,txq_inline=128"));
        assert!(!is_pci_address("net_af_packet0,iface=eth0"));
        assert!(!is_pci_address("mem"));
        assert!(needs_no_pci("net_af_packet0,iface=eth0"));
        assert!(needs_no_pci("net_ring_live"));
        assert!(needs_no_pci("eth_pcap3,iface=x"));
        assert!(!needs_no_pci("net_af_packetX"));
        assert!(!needs_no_pci("0000:03:00.0"));
        assert!(!needs_no_pci("net_failsafe0,dev(0000:00:03.0)"));
        assert_eq!(device_name("net_af_packet0,iface=eth0"), "net_af_packet0");
    }
}
