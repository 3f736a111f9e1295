//! Open the configured ports: one receive and one transmit queue per worker where the
//! device has them, RSS when it can (aligned with flow ownership where the port allows,
//! see [`super::plan`]), promiscuous, started, link state logged.

use std::path::Path;
use std::time::{Duration, Instant};

use rvs_ctl::proto::PortInfo;
use rvs_dpdk::{Eal, Mempool, Port, PortConfig as DevConfig};

use super::error::LiveError;
use super::kernel;
use super::link::{kernel_link_up, SYS_CLASS_NET};
use super::plan::{queue_shortfall, rss_alignable, rss_model, RX_DESC, TX_DESC};
use rvs_config::device::kernel_interfaces;
use rvs_config::{Config, RssMode};
use rvs_control::PortSource;
use rvs_packet::wire::MacAddr;
use rvs_pipeline::rss::{symmetric_key, Reta};

/// How long to wait for a link to come up before logging it as down.
const LINK_WAIT: Duration = Duration::from_secs(2);

/// Open, configure and start every `[[port]]` of `config`, in order, then the kernel
/// mirrors of those that have one (numbered after them), each brought up with its port's
/// MAC and addresses.
pub fn open(eal: &Eal, pool: &Mempool, config: &Config) -> Result<Vec<Port>, LiveError> {
    let workers = config.dataplane.workers;
    let mut ports = Vec::with_capacity(config.ports.len());
    for p in &config.ports {
        let fail = |source| LiveError::Port {
            port: p.name.clone(),
            device: p.device.clone(),
            source,
        };
        let dev = DevConfig {
            rx_queues: workers,
            tx_queues: workers,
            rx_desc: RX_DESC,
            tx_desc: TX_DESC,
            rss: p.rss == RssMode::Auto,
            promiscuous: true,
            // Set below, where a device that cannot change its MAC is tolerated.
            mac: None,
            // The pipeline does its own checksum work (incremental, or complete on ports
            // marked sw_checksum); it requests no offload per packet.
            checksum_offload: false,
            // A device over a kernel interface carries what that interface does (its
            // MTU is the operator's, checked before start); others are given the MTU.
            mtu: kernel_interfaces(&p.device).is_empty().then_some(p.mtu),
        };
        let port = Port::open(eal, &p.device, pool, &dev).map_err(fail)?;
        if let Some(mac) = p.mac {
            set_mac(&p.name, &port, mac).map_err(fail)?;
        }
        port.start().map_err(fail)?;
        log_port(&p.name, &port);
        if let Some(warning) = queue_shortfall(&p.name, workers, port.rx_queue_count()) {
            rvs_control::warn!("{warning}");
        }
        ports.push(port);
    }
    for (k, (main, _, p)) in config.kernel_mirrors().enumerate() {
        let (Some(iface), Some(device)) = (&p.kernel, p.kernel_device(k)) else {
            continue;
        };
        let fail = |source| LiveError::Port {
            port: iface.clone(),
            device: device.clone(),
            source,
        };
        let dev = DevConfig {
            rx_queues: workers,
            tx_queues: workers,
            rx_desc: RX_DESC,
            tx_desc: TX_DESC,
            rss: true,
            promiscuous: false,
            mac: None,
            checksum_offload: false,
            // Set on the kernel interface below.
            mtu: None,
        };
        let port = Port::open(eal, &device, pool, &dev).map_err(fail)?;
        // The kernel interface answers with the port's MAC, so frames to either reach both.
        let mac = ports[main.index()].mac().map_err(fail)?;
        port.set_mac(mac).map_err(fail)?;
        port.start().map_err(fail)?;
        kernel::bring_up(iface, p.mtu, &kernel::fixed_addresses(config, p))?;
        log_port(iface, &port);
        ports.push(port);
    }
    Ok(ports)
}

/// Align the started configured `ports` (in `config`'s order) that allow it with flow
/// ownership: the symmetric key and a table after one model over the workers' queues.
/// Returns the model when at least one port took it (flows are then owned by RSS queue);
/// a port that refuses the key or the table keeps its own spread, and the steering rings
/// carry what it delivers elsewhere.
pub fn align_rss(ports: &[Port], config: &Config) -> Option<Reta> {
    let workers = config.dataplane.workers;
    let candidates: Vec<(&str, &Port)> = config
        .ports
        .iter()
        .zip(ports)
        .filter(|(_, port)| {
            let info = port.info();
            rss_alignable(port.rss(), port.rx_queue_count(), info.reta_size, workers)
        })
        .map(|(c, port)| (c.name.as_str(), port))
        .collect();
    let sizes: Vec<u16> = candidates.iter().map(|(_, p)| p.info().reta_size).collect();
    let model = rss_model(&sizes, workers)?;
    let mut aligned = 0;
    for (name, port) in candidates {
        let info = port.info();
        let key = symmetric_key(usize::from(info.hash_key_size).max(SYMMETRIC_KEY_MIN));
        let table = model.device_table(usize::from(info.reta_size));
        match port.set_rss_key(&key).and_then(|()| port.set_reta(&table)) {
            Ok(()) => {
                aligned += 1;
                rvs_control::info!(
                    "port {name}: rss aligned with flow ownership (symmetric key, \
                     {} entries round-robin over {workers} queues)",
                    model.len()
                );
            }
            Err(e) => rvs_control::warn!(
                "port {name}: rss not aligned ({e}); steering rings carry its flows"
            ),
        }
    }
    (aligned > 0).then_some(model)
}

/// Key bytes the symmetric hash needs (IPv6 with ports). A device whose key is shorter,
/// or that does not say its size, refuses the longer key (`Port::set_rss_key` takes
/// only the device's own size) and is not aligned.
const SYMMETRIC_KEY_MIN: usize = 40;

/// Give the device the configured MAC. A device that cannot change it (ENOTSUP) keeps
/// its own: the port is promiscuous, so frames to the configured MAC, which the pipeline
/// uses, still arrive.
fn set_mac(name: &str, port: &Port, mac: [u8; 6]) -> Result<(), rvs_dpdk::Error> {
    match port.set_mac(mac) {
        Err(rvs_dpdk::Error::Port { code: ENOTSUP, .. }) => {
            rvs_control::warn!(
                "port {name}: the device cannot change its MAC; relying on promiscuous mode"
            );
            Ok(())
        }
        other => other,
    }
}

/// `-ENOTSUP`: what a PMD returns for an operation it lacks.
const ENOTSUP: i32 = -95;

/// True when the pipeline must finish L4 checksums in software for frames of `port`:
/// the device cannot compute TCP and UDP checksums (such devices are fed by the kernel,
/// which hands out partial checksums).
pub fn needs_sw_checksum(port: &Port) -> bool {
    let capa = port.info().checksum_capa;
    !(capa.tx_tcp && capa.tx_udp)
}

/// Log what the port is and its link state (waiting briefly for the link).
fn log_port(name: &str, port: &Port) {
    let info = port.info();
    let deadline = Instant::now() + LINK_WAIT;
    let link = loop {
        match port.link() {
            Ok(l) if !l.up && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            other => break other,
        }
    };
    let link = match link {
        Ok(l) if l.up => format!(
            "up{}{}",
            l.speed_mbps
                .map(|s| format!(" {s} Mb/s"))
                .unwrap_or_default(),
            if l.full_duplex { " full-duplex" } else { "" }
        ),
        Ok(_) => "down".to_owned(),
        Err(e) => format!("unknown ({e})"),
    };
    let mac = port
        .mac()
        .map(|m| MacAddr(m).to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let rss = if port.rss() {
        format!(
            "on (RETA {} entries, key {} bytes)",
            info.reta_size, info.hash_key_size
        )
    } else {
        "off".to_owned()
    };
    let mtu = port
        .mtu()
        .map_or_else(|e| format!("unknown ({e})"), |m| m.to_string());
    rvs_control::info!(
        "port {name}: device {} (driver {}), mac {mac}, mtu {mtu}, {} rx / {} tx queue(s), \
         rss {rss}, software checksums {}, link {link}",
        port.name(),
        info.driver,
        port.rx_queue_count(),
        port.tx_queue_count(),
        if needs_sw_checksum(port) { "on" } else { "off" },
    );
}

/// One port as [`port_source`] lists it: name, device, addresses, the kernel interfaces
/// the device attaches to, and the device.
type NamedPort = (String, String, Vec<String>, Vec<String>, u16, Port);

/// Port listings from the devices themselves; the link of a port whose device attaches
/// to kernel interfaces is up only while the kernel has each of them up too.
pub fn port_source(config: &Config, ports: &[Port], pool: &Mempool) -> PortSource {
    let named: Vec<NamedPort> = config
        .ports
        .iter()
        .zip(ports)
        .map(|(c, p)| {
            let addrs = c.addresses.iter().map(ToString::to_string).collect();
            let ifaces = kernel_interfaces(&c.device)
                .into_iter()
                .map(str::to_owned)
                .collect();
            (
                c.name.clone(),
                c.device.clone(),
                addrs,
                ifaces,
                c.mtu,
                p.clone(),
            )
        })
        .collect();
    let pool = pool.clone();
    Box::new(move || {
        named
            .iter()
            .map(|(name, device, addresses, ifaces, mtu, port)| {
                let stats = port.stats().unwrap_or_default();
                let tables = rvs_dpdk::table_memory();
                PortInfo {
                    name: name.clone(),
                    device: device.clone(),
                    mac: port
                        .mac()
                        .map(|m| MacAddr(m).to_string())
                        .unwrap_or_default(),
                    addresses: addresses.clone(),
                    mtu: *mtu,
                    link_up: port.link().is_ok_and(|l| l.up)
                        && ifaces
                            .iter()
                            .all(|i| kernel_link_up(Path::new(SYS_CLASS_NET), i)),
                    rx_packets: stats.ipackets,
                    tx_packets: stats.opackets,
                    rx_missed: stats.imissed,
                    mempool_in_use: u64::from(pool.in_use()),
                    mempool_size: u64::from(pool.capacity()),
                    table_hugetlb_bytes: tables.hugetlb_bytes as u64,
                    table_transparent_bytes: tables.transparent_bytes as u64,
                }
            })
            .collect()
    })
}
