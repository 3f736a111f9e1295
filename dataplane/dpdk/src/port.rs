//! Ethernet ports: open a device, configure queues, RSS and offloads, start, stop,
//! read link state and counters.

use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::eal::{Eal, EalGuard};
use crate::error::{strerror, Error, Result};
use crate::ffi;
use crate::mempool::Mempool;
use crate::queue::{RxQueue, TxQueue};

/// Most queues per direction a port is configured with (a bit each in a u64).
pub const MAX_QUEUES: u16 = 63;

/// The bit of a taken-queue mask that `Port::start` and `Port::stop` hold while they
/// run, so that no queue handle is taken meanwhile.
const STOPPING: u64 = 1 << 63;

/// Ports with a live `Port`: a second open would reconfigure a device in use.
static OPEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Holds a port id in [`OPEN`]; releases it on drop.
struct OpenClaim(u16);

impl OpenClaim {
    /// Find (or probe) `device` and claim its port; one open at a time.
    fn new(device: &str) -> Result<Self> {
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        let id = resolve(device)?;
        if !open.insert(id) {
            return Err(Error::PortInUse(device.to_owned()));
        }
        Ok(Self(id))
    }
}

impl Drop for OpenClaim {
    fn drop(&mut self) {
        OPEN.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// How to configure a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues wanted; fewer are configured when the device has fewer.
    pub rx_queues: u16,
    /// Transmit queues wanted; fewer are configured when the device has fewer.
    pub tx_queues: u16,
    /// Receive descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// Transmit descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// Spread received flows over the queues by an IP + TCP/UDP hash, when the device
    /// supports RSS and more than one receive queue is configured.
    pub rss: bool,
    /// Receive every frame, whatever its destination MAC.
    pub promiscuous: bool,
    /// Use this MAC address instead of the device's.
    pub mac: Option<[u8; 6]>,
    /// Enable the IPv4/TCP/UDP checksum offloads the device has.
    pub checksum_offload: bool,
    /// The MTU to give the device (the largest IP packet it receives and sends; frames
    /// carry the Ethernet header beyond it), or `None` to leave the device's own. The
    /// pool's data room must hold such a frame.
    pub mtu: Option<u16>,
}

/// Ethernet's MTU, which devices start with (`RTE_ETHER_MTU`).
pub const ETHER_MTU: u16 = 1500;

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            promiscuous: true,
            mac: None,
            checksum_offload: true,
            mtu: None,
        }
    }
}

/// Checksum offloads, per direction and protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChecksumOffloads {
    /// Receive: IPv4 header checksum checked.
    pub rx_ipv4: bool,
    /// Receive: TCP checksum checked.
    pub rx_tcp: bool,
    /// Receive: UDP checksum checked.
    pub rx_udp: bool,
    /// Transmit: IPv4 header checksum computed.
    pub tx_ipv4: bool,
    /// Transmit: TCP checksum computed.
    pub tx_tcp: bool,
    /// Transmit: UDP checksum computed.
    pub tx_udp: bool,
}

impl ChecksumOffloads {
    fn from_capa(rx: u64, tx: u64) -> Self {
        // SAFETY: the shim's flag functions return constants; no preconditions.
        unsafe {
            Self {
                rx_ipv4: rx & ffi::rvs_rx_offload_ipv4_cksum() != 0,
                rx_tcp: rx & ffi::rvs_rx_offload_tcp_cksum() != 0,
                rx_udp: rx & ffi::rvs_rx_offload_udp_cksum() != 0,
                tx_ipv4: tx & ffi::rvs_tx_offload_ipv4_cksum() != 0,
                tx_tcp: tx & ffi::rvs_tx_offload_tcp_cksum() != 0,
                tx_udp: tx & ffi::rvs_tx_offload_udp_cksum() != 0,
            }
        }
    }

    /// The offload bits of the checksums `self` names: (rx, tx).
    fn bits(self) -> (u64, u64) {
        let pick = |on: bool, bit: u64| if on { bit } else { 0 };
        // SAFETY: the shim's flag functions return constants; no preconditions.
        unsafe {
            (
                pick(self.rx_ipv4, ffi::rvs_rx_offload_ipv4_cksum())
                    | pick(self.rx_tcp, ffi::rvs_rx_offload_tcp_cksum())
                    | pick(self.rx_udp, ffi::rvs_rx_offload_udp_cksum()),
                pick(self.tx_ipv4, ffi::rvs_tx_offload_ipv4_cksum())
                    | pick(self.tx_tcp, ffi::rvs_tx_offload_tcp_cksum())
                    | pick(self.tx_udp, ffi::rvs_tx_offload_udp_cksum()),
            )
        }
    }
}

/// What the device is and can do (from `rte_eth_dev_info_get`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// The PMD, e.g. `net_af_packet`.
    pub driver: String,
    /// Receive queues the device has.
    pub max_rx_queues: u16,
    /// Transmit queues the device has.
    pub max_tx_queues: u16,
    /// True when the device can hash IP + TCP/UDP flows to queues.
    pub rss: bool,
    /// Entries of its RSS redirection table (0 without RSS).
    pub reta_size: u16,
    /// Bytes of its RSS hash key (0 when it does not say): a Toeplitz device takes the
    /// symmetric key of this length.
    pub hash_key_size: u8,
    /// The checksum offloads the device has.
    pub checksum_capa: ChecksumOffloads,
}

/// Link state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s, when known.
    pub speed_mbps: Option<u32>,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Device counters (`rte_eth_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets dropped by the device because no receive descriptor was free.
    pub imissed: u64,
    /// Erroneous packets received.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// An open, configured ethernet port. Clones share it; it is stopped and closed when
/// the last clone and the last queue handle are gone.
#[derive(Clone)]
pub struct Port {
    pub(crate) inner: Arc<PortInner>,
}

pub(crate) struct PortInner {
    pub(crate) id: u16,
    pub(crate) name: String,
    pub(crate) rx_queues: u16,
    pub(crate) tx_queues: u16,
    /// Queue handles given out, a bit per queue.
    pub(crate) rx_taken: AtomicU64,
    pub(crate) tx_taken: AtomicU64,
    started: AtomicBool,
    /// Serialises control calls (start, stop, MAC, link, counters): the ethdev control
    /// path is not thread-safe.
    ctl: Mutex<()>,
    info: PortInfo,
    offloads: ChecksumOffloads,
    rss: bool,
    /// The hashed fields RSS was configured with (0 without RSS).
    rss_hf: u64,
    /// Receive queues allocate from this pool: it must outlive the port.
    _pool: Mempool,
    _eal: Arc<EalGuard>,
    /// Dropped after the device is closed (fields drop after `Drop::drop`).
    _claim: OpenClaim,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: the last handle (port or queue) is gone, so nothing polls the
        // queues; stop and close release the device's mbufs into `_pool`, which is
        // dropped after this.
        unsafe {
            if self.started.load(Ordering::SeqCst) {
                ffi::rte_eth_dev_stop(self.id);
            }
            ffi::rte_eth_dev_close(self.id);
        }
    }
}

/// Turn a DPDK return code into a result.
fn check(port: &str, op: &'static str, rc: c_int) -> Result<()> {
    if rc < 0 {
        Err(Error::Port {
            port: port.to_owned(),
            op,
            code: rc,
            reason: strerror(rc),
        })
    } else {
        Ok(())
    }
}

/// The port id of `name`, if an ethdev of that name exists.
fn port_by_name(name: &CStr) -> Option<u16> {
    let mut id = 0u16;
    // SAFETY: `name` is a valid C string and `id` a valid out-pointer.
    let rc = unsafe { ffi::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut id) };
    (rc == 0).then_some(id)
}

/// Find the ethdev for `device` (a vdev string such as `net_af_packet0,iface=veth0`
/// or a PCI address), probing it when the EAL command line did not.
fn resolve(device: &str) -> Result<u16> {
    let name = device.split(',').next().unwrap_or_default().trim();
    let cname = CString::new(name).map_err(|_| Error::NulByte(device.to_owned()))?;
    if let Some(id) = port_by_name(&cname) {
        return Ok(id);
    }
    let cdev = CString::new(device).map_err(|_| Error::NulByte(device.to_owned()))?;
    // SAFETY: the EAL is initialised (the caller holds an Eal); the devargs string is
    // valid and copied by DPDK.
    let rc = unsafe { ffi::rte_dev_probe(cdev.as_ptr()) };
    if rc < 0 {
        // Some drivers fail their probe with a bare -1, which is no errno: shown as one
        // it would read "Operation not permitted".
        let reason = if rc == -1 {
            "the driver's probe failed (DPDK's messages above say why)".to_owned()
        } else {
            strerror(rc)
        };
        return Err(Error::PortNotFound {
            device: device.to_owned(),
            code: rc,
            reason,
        });
    }
    port_by_name(&cname).ok_or_else(|| Error::PortNotFound {
        device: device.to_owned(),
        code: 0,
        reason: format!("probed, but no ethernet device is named {name:?}"),
    })
}

fn dev_info(id: u16, name: &str) -> Result<(ffi::rte_eth_dev_info, PortInfo)> {
    let mut raw = ffi::rte_eth_dev_info::default();
    // SAFETY: `id` is a valid port and `raw` a valid out-pointer.
    check(name, "rte_eth_dev_info_get", unsafe {
        ffi::rte_eth_dev_info_get(id, &mut raw)
    })?;
    let driver = if raw.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null driver_name is a static NUL-terminated string of the PMD.
        unsafe { CStr::from_ptr(raw.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: returns a constant.
    let rss_hf = unsafe { ffi::rvs_rss_hf_ip_tcp_udp() };
    let info = PortInfo {
        driver,
        max_rx_queues: raw.max_rx_queues,
        max_tx_queues: raw.max_tx_queues,
        rss: raw.flow_type_rss_offloads & rss_hf != 0,
        reta_size: raw.reta_size,
        hash_key_size: raw.hash_key_size,
        checksum_capa: ChecksumOffloads::from_capa(raw.rx_offload_capa, raw.tx_offload_capa),
    };
    Ok((raw, info))
}

impl Port {
    /// Open `device` (a vdev string such as `net_af_packet0,iface=veth0`, a vdev name
    /// given to the EAL with `--vdev`, or a PCI address), configure it as `config`
    /// says with receive buffers from `pool`, and leave it stopped.
    pub fn open(eal: &Eal, device: &str, pool: &Mempool, config: &PortConfig) -> Result<Port> {
        let claim = OpenClaim::new(device)?;
        let id = claim.0;
        let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: `id` is valid and `buf` has RTE_ETH_NAME_MAX_LEN bytes.
        let rc = unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
        check(device, "rte_eth_dev_get_name_by_port", rc)?;
        // SAFETY: on success DPDK wrote a NUL-terminated name into `buf`.
        let name = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let (raw, info) = dev_info(id, &name)?;

        let rxq = config
            .rx_queues
            .clamp(1, raw.max_rx_queues.clamp(1, MAX_QUEUES));
        let txq = config
            .tx_queues
            .clamp(1, raw.max_tx_queues.clamp(1, MAX_QUEUES));
        let mut conf = ffi::rte_eth_conf::default();
        let rss = config.rss && info.rss && rxq > 1;
        let mut rss_hf = 0;
        if rss {
            conf.rxmode.mq_mode = ffi::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            // SAFETY: returns a constant.
            rss_hf = unsafe { ffi::rvs_rss_hf_ip_tcp_udp() } & raw.flow_type_rss_offloads;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        let offloads = if config.checksum_offload {
            info.checksum_capa
        } else {
            ChecksumOffloads::default()
        };
        (conf.rxmode.offloads, conf.txmode.offloads) = offloads.bits();
        if let Some(mtu) = config.mtu {
            if !(raw.min_mtu..=raw.max_mtu).contains(&mtu) {
                return Err(Error::Mtu {
                    port: name,
                    mtu,
                    min: raw.min_mtu,
                    max: raw.max_mtu,
                });
            }
            // Devices that size their receive path at start read the MTU given here.
            conf.rxmode.mtu = u32::from(mtu);
        }
        // SAFETY: `id` is a valid, stopped port; `conf` is a fully initialised config.
        check(&name, "rte_eth_dev_configure", unsafe {
            ffi::rte_eth_dev_configure(id, rxq, txq, &conf)
        })?;
        if let Some(mtu) = config.mtu.filter(|&m| m != ETHER_MTU) {
            // A device with the operation applies the MTU here; one without it took the
            // MTU at configure.
            // SAFETY: `id` is a valid, configured, stopped port.
            let rc = unsafe { ffi::rte_eth_dev_set_mtu(id, mtu) };
            if rc != -(ENOTSUP) {
                check(&name, "rte_eth_dev_set_mtu", rc)?;
            }
        }

        let (mut nb_rx, mut nb_tx) = (config.rx_desc, config.tx_desc);
        // SAFETY: valid port and out-pointers.
        check(&name, "rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx)
        })?;
        // SAFETY: valid port.
        let socket = match unsafe { ffi::rte_eth_dev_socket_id(id) } {
            s if s < 0 => ffi::SOCKET_ID_ANY as u32,
            s => s as u32,
        };
        for q in 0..rxq {
            // SAFETY: configured port, queue in range; NULL selects the default queue
            // config; the pool lives as long as the port (kept in PortInner).
            check(&name, "rte_eth_rx_queue_setup", unsafe {
                ffi::rte_eth_rx_queue_setup(id, q, nb_rx, socket, std::ptr::null(), pool.as_ptr())
            })?;
        }
        for q in 0..txq {
            // SAFETY: configured port, queue in range; NULL selects the default config.
            check(&name, "rte_eth_tx_queue_setup", unsafe {
                ffi::rte_eth_tx_queue_setup(id, q, nb_tx, socket, std::ptr::null())
            })?;
        }

        let port = Port {
            inner: Arc::new(PortInner {
                id,
                name,
                rx_queues: rxq,
                tx_queues: txq,
                rx_taken: AtomicU64::new(0),
                tx_taken: AtomicU64::new(0),
                started: AtomicBool::new(false),
                ctl: Mutex::new(()),
                info,
                offloads,
                rss,
                rss_hf,
                _pool: pool.clone(),
                _eal: Arc::clone(&eal.guard),
                _claim: claim,
            }),
        };
        if config.promiscuous {
            // SAFETY: valid port.
            let rc = unsafe { ffi::rte_eth_promiscuous_enable(id) };
            if rc != -(ENOTSUP) {
                check(&port.inner.name, "rte_eth_promiscuous_enable", rc)?;
            }
        }
        if let Some(mac) = config.mac {
            port.set_mac(mac)?;
        }
        Ok(port)
    }

    /// Hold the control lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .ctl
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The device name (`net_null0`, `0000:03:00.0`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Receive queues configured.
    pub fn rx_queue_count(&self) -> u16 {
        self.inner.rx_queues
    }

    /// Transmit queues configured.
    pub fn tx_queue_count(&self) -> u16 {
        self.inner.tx_queues
    }

    /// What the device is and can do.
    pub fn info(&self) -> &PortInfo {
        &self.inner.info
    }

    /// The checksum offloads enabled on this port: checksums not listed here must be
    /// done in software.
    pub fn offloads(&self) -> ChecksumOffloads {
        self.inner.offloads
    }

    /// True when RSS spreads flows over the receive queues.
    pub fn rss(&self) -> bool {
        self.inner.rss
    }

    /// Program the RSS hash key (`rte_eth_dev_rss_hash_update`), keeping the hashed
    /// fields the port was configured with. Call it once the port is started: some PMDs
    /// reprogram the key from the configuration when they start. A key that is not
    /// exactly as long as the device's ([`PortInfo::hash_key_size`]) is refused
    /// ([`Error::RssKeyLength`]), as is any key for a device that does not say its size.
    pub fn set_rss_key(&self, key: &[u8]) -> Result<()> {
        let _ctl = self.lock();
        let name = &self.inner.name;
        let device = self.inner.info.hash_key_size;
        let len = match u8::try_from(key.len()) {
            Ok(len) if len == device && device > 0 => len,
            _ => {
                return Err(Error::RssKeyLength {
                    port: name.clone(),
                    given: key.len(),
                    device,
                })
            }
        };
        if !self.inner.rss {
            return Err(einval(name, "rte_eth_dev_rss_hash_update"));
        }
        let mut key = key.to_vec();
        let mut conf = ffi::rte_eth_rss_conf {
            rss_key: key.as_mut_ptr(),
            rss_key_len: len,
            rss_hf: self.inner.rss_hf,
        };
        // SAFETY: valid port; `conf` points at `key`, which outlives the call, and
        // DPDK copies the key.
        check(name, "rte_eth_dev_rss_hash_update", unsafe {
            ffi::rte_eth_dev_rss_hash_update(self.inner.id, &mut conf)
        })
    }

    /// The RSS hash key the device uses (`rte_eth_dev_rss_hash_conf_get`).
    pub fn rss_key(&self) -> Result<Vec<u8>> {
        let _ctl = self.lock();
        let mut key = vec![0u8; usize::from(self.inner.info.hash_key_size.max(40))];
        let mut conf = ffi::rte_eth_rss_conf {
            rss_key: key.as_mut_ptr(),
            rss_key_len: key.len() as u8,
            ..Default::default()
        };
        // SAFETY: valid port; `conf.rss_key` points at `rss_key_len` writable bytes.
        check(&self.inner.name, "rte_eth_dev_rss_hash_conf_get", unsafe {
            ffi::rte_eth_dev_rss_hash_conf_get(self.inner.id, &mut conf)
        })?;
        key.truncate(usize::from(conf.rss_key_len));
        Ok(key)
    }

    /// Program the redirection table (`rte_eth_dev_rss_reta_update`): entry `i` sends
    /// the frames whose hash's low bits are `i` to receive queue `reta[i]`. `reta` has
    /// as many entries as the device's table ([`PortInfo::reta_size`]), each a queue of
    /// this port. Call it once the port is started, as [`Port::set_rss_key`].
    pub fn set_reta(&self, reta: &[u16]) -> Result<()> {
        let _ctl = self.lock();
        let name = &self.inner.name;
        let op = "rte_eth_dev_rss_reta_update";
        if !self.inner.rss
            || reta.len() != usize::from(self.inner.info.reta_size)
            || reta.iter().any(|&q| q >= self.inner.rx_queues)
        {
            return Err(einval(name, op));
        }
        let mut conf: Vec<ffi::rte_eth_rss_reta_entry64> = reta
            .chunks(RETA_GROUP)
            .map(|group| {
                let mut e = ffi::rte_eth_rss_reta_entry64 {
                    mask: u64::MAX >> (RETA_GROUP - group.len()),
                    ..Default::default()
                };
                e.reta[..group.len()].copy_from_slice(group);
                e
            })
            .collect();
        // SAFETY: valid port; `conf` holds `reta.len()` entries in groups of 64, as the
        // size passed says.
        check(name, op, unsafe {
            ffi::rte_eth_dev_rss_reta_update(
                self.inner.id,
                conf.as_mut_ptr(),
                self.inner.info.reta_size,
            )
        })
    }

    /// The redirection table the device uses (`rte_eth_dev_rss_reta_query`).
    pub fn reta(&self) -> Result<Vec<u16>> {
        let _ctl = self.lock();
        let size = usize::from(self.inner.info.reta_size);
        let mut conf = vec![
            ffi::rte_eth_rss_reta_entry64 {
                mask: u64::MAX,
                ..Default::default()
            };
            size.div_ceil(RETA_GROUP)
        ];
        // SAFETY: valid port; `conf` has room for `reta_size` entries in groups of 64.
        check(&self.inner.name, "rte_eth_dev_rss_reta_query", unsafe {
            ffi::rte_eth_dev_rss_reta_query(
                self.inner.id,
                conf.as_mut_ptr(),
                self.inner.info.reta_size,
            )
        })?;
        Ok(conf.iter().flat_map(|e| e.reta).take(size).collect())
    }

    /// Start the port (`rte_eth_dev_start`). Refused while queue handles are held:
    /// starting installs the device's burst functions, which a worker polling a queue
    /// meanwhile would read as they change.
    pub fn start(&self) -> Result<()> {
        self.without_queue_handles(|inner| {
            // SAFETY: a configured port with all queues set up, and no queue handle
            // exists or can be taken meanwhile, so no burst call runs during the start.
            let rc = unsafe { ffi::rte_eth_dev_start(inner.id) };
            if rc == 0 {
                inner.started.store(true, Ordering::SeqCst);
            }
            check(&inner.name, "rte_eth_dev_start", rc)
        })
    }

    /// Stop the port (`rte_eth_dev_stop`). Refused while queue handles are held,
    /// since a worker may be polling them.
    pub fn stop(&self) -> Result<()> {
        self.without_queue_handles(|inner| {
            // SAFETY: valid port, and no queue handle exists or can be taken meanwhile,
            // so no burst call runs during the stop.
            let rc = unsafe { ffi::rte_eth_dev_stop(inner.id) };
            if rc == 0 {
                inner.started.store(false, Ordering::SeqCst);
            }
            check(&inner.name, "rte_eth_dev_stop", rc)
        })
    }

    /// Run `op` under the control lock with no queue handle out, holding both
    /// taken-queue masks so that none can be taken meanwhile; `QueuesInUse` when a
    /// handle is out.
    fn without_queue_handles(&self, op: impl FnOnce(&PortInner) -> Result<()>) -> Result<()> {
        let _ctl = self.lock();
        let inner = &*self.inner;
        let busy = || Error::QueuesInUse(inner.name.clone());
        inner
            .rx_taken
            .compare_exchange(0, STOPPING, Ordering::SeqCst, Ordering::SeqCst)
            .map_err(|_| busy())?;
        if inner
            .tx_taken
            .compare_exchange(0, STOPPING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            inner.rx_taken.store(0, Ordering::SeqCst);
            return Err(busy());
        }
        let result = op(inner);
        inner.rx_taken.store(0, Ordering::SeqCst);
        inner.tx_taken.store(0, Ordering::SeqCst);
        result
    }

    /// The handle for receive queue `queue`; one holder at a time.
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue> {
        take(
            &self.inner,
            &self.inner.rx_taken,
            self.inner.rx_queues,
            "rx",
            queue,
        )?;
        Ok(RxQueue::new(Arc::clone(&self.inner), queue))
    }

    /// The handle for transmit queue `queue`; one holder at a time.
    pub fn tx_queue(&self, queue: u16) -> Result<TxQueue> {
        take(
            &self.inner,
            &self.inner.tx_taken,
            self.inner.tx_queues,
            "tx",
            queue,
        )?;
        Ok(TxQueue::new(Arc::clone(&self.inner), queue))
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        let _ctl = self.lock();
        let mut addr = ffi::rte_ether_addr::default();
        // SAFETY: valid port and out-pointer.
        check(&self.inner.name, "rte_eth_macaddr_get", unsafe {
            ffi::rte_eth_macaddr_get(self.inner.id, &mut addr)
        })?;
        Ok(addr.addr_bytes)
    }

    /// Set the port's MAC address.
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<()> {
        let _ctl = self.lock();
        let mut addr = ffi::rte_ether_addr { addr_bytes: mac };
        // SAFETY: valid port; DPDK copies the address.
        check(
            &self.inner.name,
            "rte_eth_dev_default_mac_addr_set",
            unsafe { ffi::rte_eth_dev_default_mac_addr_set(self.inner.id, &mut addr) },
        )
    }

    /// The device's MTU now (`rte_eth_dev_get_mtu`).
    pub fn mtu(&self) -> Result<u16> {
        let _ctl = self.lock();
        let mut mtu = 0u16;
        // SAFETY: valid port and out-pointer.
        check(&self.inner.name, "rte_eth_dev_get_mtu", unsafe {
            ffi::rte_eth_dev_get_mtu(self.inner.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    /// Link state now, without waiting.
    pub fn link(&self) -> Result<Link> {
        let _ctl = self.lock();
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: valid port and out-pointer.
        check(&self.inner.name, "rte_eth_link_get_nowait", unsafe {
            ffi::rte_eth_link_get_nowait(self.inner.id, &mut link)
        })?;
        // SAFETY: returns a constant.
        let unknown = unsafe { ffi::rvs_link_speed_unknown() };
        let speed = u64::from(link.link_speed);
        Ok(Link {
            up: u32::from(link.link_status()) == ffi::RTE_ETH_LINK_UP,
            speed_mbps: (speed != unknown && speed != 0).then_some(link.link_speed),
            full_duplex: u32::from(link.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// Device counters.
    pub fn stats(&self) -> Result<PortStats> {
        let _ctl = self.lock();
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: valid port and out-pointer.
        check(&self.inner.name, "rte_eth_stats_get", unsafe {
            ffi::rte_eth_stats_get(self.inner.id, &mut s)
        })?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Zero the device counters.
    pub fn reset_stats(&self) -> Result<()> {
        let _ctl = self.lock();
        // SAFETY: valid port.
        check(&self.inner.name, "rte_eth_stats_reset", unsafe {
            ffi::rte_eth_stats_reset(self.inner.id)
        })
    }
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("rx_queues", &self.inner.rx_queues)
            .field("tx_queues", &self.inner.tx_queues)
            .finish()
    }
}

/// ENOTSUP: what a PMD returns for an operation it lacks.
const ENOTSUP: c_int = 95;

/// EINVAL: what a bad argument gets, from DPDK or from the checks before calling it.
const EINVAL: c_int = 22;

/// Redirection table entries per `rte_eth_rss_reta_entry64`.
const RETA_GROUP: usize = 64;

/// The error of `op` refused for a bad argument.
fn einval(port: &str, op: &'static str) -> Error {
    Error::Port {
        port: port.to_owned(),
        op,
        code: -EINVAL,
        reason: strerror(-EINVAL),
    }
}

/// Mark `queue` taken in `bits`.
fn take(
    inner: &PortInner,
    bits: &AtomicU64,
    count: u16,
    dir: &'static str,
    queue: u16,
) -> Result<()> {
    if queue >= count {
        return Err(Error::NoSuchQueue {
            port: inner.name.clone(),
            dir,
            queue,
        });
    }
    let bit = 1u64 << queue;
    let before = bits.fetch_or(bit, Ordering::SeqCst);
    if before & bit != 0 {
        return Err(Error::QueueTaken {
            port: inner.name.clone(),
            dir,
            queue,
        });
    }
    if before & STOPPING != 0 {
        bits.fetch_and(!bit, Ordering::SeqCst);
        return Err(Error::QueuesInUse(inner.name.clone()));
    }
    Ok(())
}
