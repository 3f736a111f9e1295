//! Open the configured ports: one receive and one transmit queue per worker where the
//! device has them, RSS when it can, promiscuous, started, link state logged.

use std::time::{Duration, Instant};

use rvs_dpdk::{Eal, Mempool, Port, PortConfig as DevConfig};

use super::error::LiveError;
use super::kernel;
use super::plan::{RX_DESC, TX_DESC};
use crate::config::Config;
use crate::wire::MacAddr;

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
            rss: true,
            promiscuous: true,
            // Set below, where a device that cannot change its MAC is tolerated.
            mac: None,
            // The pipeline does its own checksum work (incremental, or complete on ports
            // marked sw_checksum); it requests no offload per packet.
            checksum_offload: false,
        };
        let port = Port::open(eal, &p.device, pool, &dev).map_err(fail)?;
        if let Some(mac) = p.mac {
            set_mac(&p.name, &port, mac).map_err(fail)?;
        }
        port.start().map_err(fail)?;
        log_port(&p.name, &port);
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
        };
        let port = Port::open(eal, &device, pool, &dev).map_err(fail)?;
        // The kernel interface answers with the port's MAC, so frames to either reach both.
        let mac = ports[main.index()].mac().map_err(fail)?;
        port.set_mac(mac).map_err(fail)?;
        port.start().map_err(fail)?;
        kernel::bring_up(iface, &p.addresses)?;
        log_port(iface, &port);
        ports.push(port);
    }
    Ok(ports)
}

/// Give the device the configured MAC. A device that cannot change it (ENOTSUP) keeps
/// its own: the port is promiscuous, so frames to the configured MAC, which the pipeline
/// uses, still arrive.
fn set_mac(name: &str, port: &Port, mac: [u8; 6]) -> Result<(), rvs_dpdk::Error> {
    match port.set_mac(mac) {
        Err(rvs_dpdk::Error::Port { code: ENOTSUP, .. }) => {
            eprintln!(
                "rvsd: port {name}: the device cannot change its MAC; relying on promiscuous mode"
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
    eprintln!(
        "rvsd: port {name}: device {} (driver {}), mac {mac}, {} rx / {} tx queue(s), rss {rss}, \
         software checksums {}, link {link}",
        port.name(),
        info.driver,
        port.rx_queue_count(),
        port.tx_queue_count(),
        if needs_sw_checksum(port) { "on" } else { "off" },
    );
}
