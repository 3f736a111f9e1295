//! Why a live director could not start or stopped badly.

use rvs_config::ConfigError;

/// A live run failed. Every variant says what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The configuration file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration has no `[[port]]`: such a director could serve nothing.
    #[error(
        "the configuration has no [[port]]: a director needs at least one port to serve \
         anything (see docs/config.md)"
    )]
    NoPorts,
    /// A port's device attaches to a kernel interface this network namespace lacks.
    #[error(
        "port {port:?} (device {device:?}): there is no interface {iface:?} in rvsd's \
         network namespace (see `ip link`)"
    )]
    NoInterface {
        /// The port's configured name.
        port: String,
        /// Its device string.
        device: String,
        /// The missing interface.
        iface: String,
    },
    /// A port's device attaches to a kernel interface whose MTU is below the port's:
    /// the kernel would drop what rvs sends at the port's MTU.
    #[error(
        "port {port:?}: interface {iface:?} has MTU {have}, below the port's mtu {want} \
         (raise it: ip link set dev {iface} mtu {want}; or lower the port's `mtu`)"
    )]
    InterfaceMtu {
        /// The port's configured name.
        port: String,
        /// The interface.
        iface: String,
        /// The interface's MTU.
        have: u16,
        /// The port's `mtu`.
        want: u16,
    },
    /// The kernel's list of interfaces could not be read.
    #[error("reading {file}: {source}")]
    Interfaces {
        /// The file.
        file: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A kernel mirror could not be brought up.
    #[error("kernel interface {iface:?}: {what}")]
    Kernel {
        /// The interface.
        iface: String,
        /// What failed.
        what: String,
    },
    /// The control core (socket, metrics endpoint, SIGHUP handler) did not start.
    #[error(transparent)]
    Control(#[from] rvs_control::daemon::StartError),
    /// The DPDK environment (EAL) did not start: missing hugepages, devices that were not
    /// probed, a bad EAL argument.
    #[error("starting DPDK: {source} (rvsd --no-huge runs without hugepages, for development)")]
    Eal {
        /// The DPDK layer's error.
        source: rvs_dpdk::Error,
    },
    /// The EAL gave fewer worker lcores than `[dataplane] workers` asks for.
    #[error(
        "[dataplane] workers = {wanted} but the EAL enabled {found} worker lcore(s): give \
         -l/--lcores with one lcore for the control core plus one per worker"
    )]
    Lcores {
        /// Workers configured.
        wanted: u16,
        /// Worker lcores the EAL enabled.
        found: usize,
    },
    /// The packet buffer pool could not be created (usually: not enough DPDK memory).
    #[error("creating the packet buffer pool of {mbufs} mbufs: {source} (give the EAL more memory: -m MB, or more hugepages)")]
    Pool {
        /// Mbufs asked for.
        mbufs: u32,
        /// The DPDK layer's error.
        source: rvs_dpdk::Error,
    },
    /// A configured port's device could not be opened, configured or started.
    #[error("port {port:?} (device {device:?}): {source}")]
    Port {
        /// The port's configured name.
        port: String,
        /// Its device string.
        device: String,
        /// The DPDK layer's error.
        source: rvs_dpdk::Error,
    },
    /// A steering ring or worker launch failed in DPDK.
    #[error("{what}: {source}")]
    Dpdk {
        /// What was being done.
        what: &'static str,
        /// The DPDK layer's error.
        source: rvs_dpdk::Error,
    },
    /// A scheduler table could not be built from the configuration.
    #[error("building the services: {0}")]
    Build(#[from] rvs_schedulers::BuildError),
    /// The signal handlers could not be installed.
    #[error("installing the SIGINT/SIGTERM handlers: {0}")]
    Signals(std::io::Error),
    /// A worker stopped on its own (it panicked); the others were stopped.
    #[error("worker {worker} on lcore {lcore} stopped unexpectedly; the director was shut down")]
    WorkerDied {
        /// The worker id.
        worker: u16,
        /// Its lcore.
        lcore: u32,
    },
}
