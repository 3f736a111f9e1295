//! rvs-config: the configuration layer of rvs.
//!
//! It owns the types of the running configuration, the TOML parser, the validation that
//! every file, reload and control-protocol change goes through, and the writer that
//! `config save` uses. It may import `rvs-packet` (addresses and MAC types),
//! `rvs-conntrack` (timeouts, protocols, forward modes) and `rvs-schedulers` (scheduler
//! kinds and flags); never DPDK, so the control clients, the fuzz targets and every test
//! can use it.
//!
//! The rvsd configuration file (TOML), parsed and validated into a typed [`Config`].
//!
//! The format is the one of `docs/config.md`, which documents every key; `examples/rvs.toml`
//! is a commented example.
//! A file is refused as a whole with a [`ConfigError`] naming the file, the line and
//! column, the object and the problem; rvsd never starts half-configured.
//! [`testbed`] writes the small director that rvs's own tests, benches and fuzz targets
//! configure.
//!
//! Defaults (a missing key takes these):
//!
//! | key | default |
//! |---|---|
//! | `dataplane.workers` | [`DEFAULT_WORKERS`] |
//! | `dataplane.conn_capacity` | [`DEFAULT_CONN_CAPACITY`] |
//! | `dataplane.idle`, `dataplane.idle_max_us` | `busy`, [`DEFAULT_IDLE_MAX_US`] |
//! | `dataplane.frag_memory`, `frag_datagrams`, `frag_fragments`, `frag_timeout` | [`DEFAULT_FRAG_MEMORY`], [`DEFAULT_FRAG_DATAGRAMS`], [`DEFAULT_FRAG_FRAGMENTS`], [`DEFAULT_FRAG_TIMEOUT`] |
//! | `dpdk.eal_args`, `port.addresses`, routes, neighbours, services | empty |
//! | `port.mac` | none: the device's own MAC |
//! | `port.rss` | `auto` (see [`RssMode`]) |
//! | `timeouts` | IPVS's: tcp 900, tcpfin 120, udp 300 |
//! | `behaviour` | IPVS's sysctls: `conn_reuse_mode` 1, `expire_nodest_conn` and `expire_quiescent_template` false; `table_full_evict` false |
//! | `ha.priority`, `ha.advert_interval`, `ha.preempt` | 100, 1.0 s, true |
//! | `ha.unicast_peers`, `ha.notify`, `ha.floating`, `ha.sync` | empty / none |
//! | `ha.garp_master_repeat`, `ha.garp_master_delay` | 5, 5 s (keepalived's) |
//! | `ha.garp_master_refresh`, `ha.garp_master_refresh_repeat` | 0 (off), 1 |
//! | `ha.sync.udp_port` | 8848 |
//! | `ha.sync.key_file`, `ha.sync.insecure` | none, false: one of them must be set |
//! | `ctl.socket`, `ctl.metrics`, `ctl.shutdown_timeout` | [`DEFAULT_SOCKET`], [`DEFAULT_METRICS`], [`DEFAULT_SHUTDOWN_TIMEOUT`] |
//! | `service.scheduler` | `wlc` (ipvsadm's default) |
//! | `service.persistence`, `service.flags`, `service.laddrs` | off / none |
//! | `service.persistence_mask` | the whole address (`255.255.255.255`, `128`) |
//! | `real.port` | the service's port |
//! | `real.weight`, `real.forward`, `real.upper`, `real.lower` | 1, `dr` (ipvsadm's `-g`), 0, 0 |
//! | `real.check` | true (probed when the service has a `[service.check]`) |
//! | `check.interval`, `check.timeout`, `check.rise`, `check.fall` | 2.0 s, 1.0 s, 2, 2 |
//! | `check.port` | the real's port |
//! | `check.on_fail` | `remove` |
//! | `check.path`, `check.expect` | `/`, `[200, 399]` |
//! | `check.body`, `check.send`, `check.command`, `check.sorry` | empty / none |
//! | `check.dynamic` | false |
//!
//! # `[service.check]`: health checks
//!
//! `kind` is `tcp` (connect), `http` (GET, status in `expect`, body holding `body`),
//! `udp` (send `send`, any reply is up) or `misc` (run `command`, exit 0 is up; with
//! `dynamic`, exit 2..=255 is up with weight `code - 2`). `interval` and `timeout` are
//! seconds (fractions allowed, at least 0.01; `timeout` at most `interval`); `rise` and
//! `fall` at least 1. `path` starts with `/`; `expect` is `[low, high]` within
//! 100..=599; `command` is required for `misc` and refused for the other kinds, as are
//! the other kind-specific keys (`path`, `expect`, `body` for http; `send` for udp;
//! `dynamic` for misc). `sorry` is `ip:port` (`[v6]:port`) in the VIP's family, not one
//! of the service's reals, and keeps the service port when the reals are `dr` or `tun`.
//! See the `health` module for what the checks do at run time.
//!
//! # `[behaviour]`: IPVS's sysctls, and where rvs departs from them
//!
//! - `conn_reuse_mode` (0..=3): as IPVS, a new SYN (SYN without ACK or RST) from the
//!   client that finds its tuple's old connection in TIME_WAIT or CLOSE expires it (a
//!   FULLNAT local port goes back to the pool) and is scheduled afresh; bit 2 adds
//!   FIN_WAIT for connections whose real was never seen answering (DR and TUN, IPVS's
//!   `NOOUTPUT`), where FIN_WAIT is the last state the director sees. A connection
//!   controlled by a persistence template is kept, so it stays on the template's real.
//!   0 keeps the old entry (and its real). Values with other bits are refused, where
//!   IPVS accepts any integer.
//! - `expire_nodest_conn`: when set, a client packet of a connection whose real is no
//!   longer among its service's reals in the current snapshot expires the connection and
//!   is dropped (`real_removed`). **Departure:** when unset, IPVS drops such packets and
//!   keeps the entry; rvs forwards them to the real the connection already has (the
//!   connection keeps its address, so a removed real drains gracefully).
//! - `expire_quiescent_template`: when set, a persistence template whose real has weight
//!   0 is dropped at its next use and the client scheduled afresh (a new template is
//!   made); connections already on the quiesced real continue. rvs re-points the
//!   template in place rather than invalidating it and making another, which is the
//!   same for every client.
//! - `table_full_evict`: rvs's answer to IPVS's `drop_entry` (a defence against a table
//!   filled by a SYN flood). When set, a new connection that finds its worker's table
//!   full evicts the connection that became embryonic (TCP in NONE, SYN_RECV or
//!   SYN_SENT) longest ago, and takes its place (`embryonic_evicted`): a client whose
//!   handshake completes before a flood has turned the table over survives it.
//!   Established connections are never evicted. When unset, or when no connection is
//!   embryonic, the new connection is refused (`table_full`). IPVS's `drop_entry`
//!   instead drops embryonic entries at random under memory pressure.
//! - `no_real` (`"icmp"`, `"rst"`, `"drop"`): the answer to a packet that would open a
//!   connection to a service with no usable real. `"icmp"` (the default) is IPVS's
//!   `ip_vs_leave`: ICMP port unreachable (ICMPv6 port unreachable), for TCP and UDP.
//!   `"rst"` answers TCP with a RST instead. Answers are rate-limited per worker and never
//!   sent toward a martian, broadcast or multicast source.

mod check;
mod checker;
pub mod device;
pub mod diff;
mod error;
mod forward;
mod guard;
mod ha;
#[cfg(test)]
mod ha_tests;
mod mark;
#[cfg(test)]
mod mark_tests;
pub use mark::{mark_vip, parse_port_range, vip_mark, MarkProto, MarkRule, MAX_MARK};
mod l7;
#[cfg(test)]
mod l7_tests;
mod net;
mod raw;
mod service;
pub use service::DEFAULT_SYNPROXY_WSCALE;
mod sync_key;
mod tunnel;
pub use sync_key::{read_key_file, KeyFileProblem, SyncKey, MAX_SYNC_KEY_FILE, MIN_SYNC_KEY_LEN};
pub mod testbed;
#[cfg(test)]
mod tests;
mod validate;
mod write;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rvs_conntrack::{ForwardMode, Proto, Timeouts};
pub use rvs_packet::rewrite::{Tunnel, TunnelCsum, TunnelKind};
use rvs_schedulers::{SchedFlags, SchedKind, SchedParams};

pub use check::{DEFAULT_EXPECT, DEFAULT_INTERVAL, DEFAULT_RISE_FALL, DEFAULT_TIMEOUT};
pub use error::{ConfigError, Location, Origin, Problem};
pub use forward::forward_name;
pub use guard::{
    GuardConfig, LimitOverflow, DEFAULT_CLIENT_PREFIX_V4, DEFAULT_CLIENT_PREFIX_V6,
    DEFAULT_LIMIT_CLIENTS, MAX_LIMIT_CLIENTS,
};
pub use ha::{
    DEFAULT_ADVERT_INTERVAL, DEFAULT_GARP_MASTER_DELAY, DEFAULT_GARP_MASTER_REPEAT,
    DEFAULT_PRIORITY, DEFAULT_SYNC_PORT, DEFAULT_SYNC_REFRESH,
};
pub use net::{mask_addr, parse_persistence_mask, IpNet, IpNetError, MaskError};
pub use write::{flag_names, rule_text, to_toml};

/// Default number of workers.
pub const DEFAULT_WORKERS: u16 = 1;
/// Default connections per worker.
pub const DEFAULT_CONN_CAPACITY: u32 = 1 << 20;
/// Longest sleep of an idle worker under `idle = "backoff"`, in microseconds.
pub const DEFAULT_IDLE_MAX_US: u32 = 100;
/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";
/// Default Prometheus endpoint (loopback).
pub const DEFAULT_METRICS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 9779));

/// Default bound on a director's whole stop sequence.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest and longest `[ctl] shutdown_timeout`, in seconds.
pub const SHUTDOWN_TIMEOUT_RANGE: std::ops::RangeInclusive<f64> = 0.1..=60.0;

/// Index of a port in [`Config::ports`] (configuration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

impl PortId {
    /// The index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `[dataplane]`.
    pub dataplane: DataplaneConfig,
    /// `[dpdk]` (ignored in replay).
    pub dpdk: DpdkConfig,
    /// `[[port]]`, in file order; [`PortId`] indexes this.
    pub ports: Vec<PortConfig>,
    /// `[[route]]`, in file order.
    pub routes: Vec<RouteConfig>,
    /// `[[neighbor]]`: static neighbour entries, in file order.
    pub neighbors: Vec<NeighborConfig>,
    /// `[timeouts]`.
    pub timeouts: Timeouts,
    /// `[behaviour]`.
    pub behaviour: Behaviour,
    /// `[ctl]`.
    pub ctl: CtlConfig,
    /// `[announce]`: VIP routes for a routing daemon, when set.
    pub announce: Option<AnnounceConfig>,
    /// `[ha]`: VRRP between directors, when set.
    pub ha: Option<HaConfig>,
    /// `[[mark]]`, in file order (the first that matches a packet gives its mark).
    pub marks: Vec<MarkRule>,
    /// `[[service]]`, in file order.
    pub services: Vec<ServiceConfig>,
}

/// `[dataplane]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Worker cores (at least 1).
    pub workers: u16,
    /// Connections per worker, preallocated (at least 1, at most `u32::MAX`).
    pub conn_capacity: usize,
    /// What a worker does when its queues are empty.
    pub idle: IdlePolicy,
    /// Each worker's IP fragment reassembly (`frag_*`).
    pub fragments: FragLimits,
}

/// `[dataplane] frag_*`: the bounds of each worker's IP fragment reassembly, all of it
/// allocated when rvsd starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragLimits {
    /// Bytes of fragment data a worker holds at most (`frag_memory`); 0 turns
    /// reassembly off (fragments are dropped).
    pub memory: usize,
    /// Datagrams a worker reassembles at once (`frag_datagrams`).
    pub datagrams: usize,
    /// Fragments one datagram may have (`frag_fragments`).
    pub fragments: usize,
    /// Seconds a datagram may take to arrive whole (`frag_timeout`, Linux's
    /// `ipfrag_time`).
    pub timeout_s: u32,
}

impl Default for FragLimits {
    fn default() -> Self {
        Self {
            memory: DEFAULT_FRAG_MEMORY,
            datagrams: DEFAULT_FRAG_DATAGRAMS,
            fragments: DEFAULT_FRAG_FRAGMENTS,
            timeout_s: DEFAULT_FRAG_TIMEOUT,
        }
    }
}

/// `[dataplane] frag_memory` unless set: 4 MiB per worker, Linux's `ipfrag_high_thresh`.
pub const DEFAULT_FRAG_MEMORY: usize = 4 << 20;
/// `[dataplane] frag_memory` at most: 1 GiB per worker.
pub const MAX_FRAG_MEMORY: usize = 1 << 30;
/// `[dataplane] frag_datagrams` unless set.
pub const DEFAULT_FRAG_DATAGRAMS: usize = 256;
/// `[dataplane] frag_datagrams` at most.
pub const MAX_FRAG_DATAGRAMS: usize = 65_536;
/// `[dataplane] frag_fragments` unless set: a 64 KiB datagram in 1500-byte fragments
/// takes 45.
pub const DEFAULT_FRAG_FRAGMENTS: usize = 64;
/// `[dataplane] frag_fragments` at most.
pub const MAX_FRAG_FRAGMENTS: usize = 1024;
/// `[dataplane] frag_timeout` unless set: 30 seconds, Linux's `ipfrag_time`.
pub const DEFAULT_FRAG_TIMEOUT: u32 = 30;
/// `[dataplane] frag_timeout` at most.
pub const MAX_FRAG_TIMEOUT: u32 = 3600;

/// `[dataplane] idle`: what a worker does when its queues are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdlePolicy {
    /// `"busy"`: poll without pause (a whole core per worker, the lowest latency).
    Busy,
    /// `"backoff"`: after a run of empty polls, sleep between polls, doubling the sleep
    /// from 1 µs up to `max_sleep_us` while nothing arrives; the first frame resets it.
    Backoff {
        /// The longest sleep (`idle_max_us`), at least 1.
        max_sleep_us: u32,
    },
}

impl std::fmt::Display for IdlePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdlePolicy::Busy => f.write_str("busy"),
            IdlePolicy::Backoff { .. } => f.write_str("backoff"),
        }
    }
}

/// `[dpdk]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpdkConfig {
    /// Appended to the EAL command line.
    pub eal_args: Vec<String>,
}

/// `[[port]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Unique name (letters, digits, `-`, `_`, `.`; not starting with `.`).
    pub name: String,
    /// DPDK vdev string or PCI address (not opened in replay).
    pub device: String,
    /// Unicast MAC to use instead of the device's.
    pub mac: Option<[u8; 6]>,
    /// The director's own addresses on this port, with their on-link prefix length.
    pub addresses: Vec<IpNet>,
    /// A kernel interface mirroring this port (the exception path): traffic for the
    /// port's addresses that rvs does not handle itself goes there, and what the kernel
    /// sends out of it leaves through the port.
    pub kernel: Option<String>,
    /// Whether the device spreads flows over the workers' queues by RSS.
    pub rss: RssMode,
    /// Largest IP packet the port sends and receives, in bytes ([`DEFAULT_MTU`] unless
    /// set; [`MIN_MTU_V4`] or [`MIN_MTU_V6`] to [`MAX_MTU`]).
    pub mtu: u16,
}

/// The MTU of a port whose `mtu` is not set (Ethernet's).
pub const DEFAULT_MTU: u16 = 1500;
/// The smallest MTU of a port with IPv4 addresses only (RFC 791).
pub const MIN_MTU_V4: u16 = 68;
/// The smallest MTU of a port with an IPv6 address (RFC 8200).
pub const MIN_MTU_V6: u16 = 1280;
/// The largest MTU of a port (jumbo frames).
pub const MAX_MTU: u16 = 9000;

/// `[[port]] rss`: receive-side scaling on a port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RssMode {
    /// `"auto"`: on when the device has an RSS redirection table and more than one
    /// worker polls the port; it then hashes with the symmetric key and a round-robin
    /// table over the workers' queues, and flows are owned by the queue they arrive on.
    #[default]
    Auto,
    /// `"off"`: no RSS (the device delivers to one queue, or spreads as it likes);
    /// flows are owned by hash and handed over through the steering rings.
    Off,
}

impl PortConfig {
    /// The DPDK device of this port's kernel mirror, `index` numbering the mirrors.
    pub fn kernel_device(&self, index: usize) -> Option<String> {
        self.kernel
            .as_ref()
            .map(|iface| format!("net_tap{index},iface={iface}"))
    }
}

/// `[[route]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Destination prefix (host bits clear).
    pub prefix: IpNet,
    /// Next hop, same family as the prefix; `None` for an on-link route.
    pub via: Option<IpAddr>,
    /// Egress port.
    pub port: PortId,
}

/// `[[neighbor]]`: a static neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    /// Neighbour address.
    pub ip: IpAddr,
    /// Its unicast MAC.
    pub mac: [u8; 6],
    /// The port it is reached on.
    pub port: PortId,
}

/// `[behaviour]`: IPVS's sysctls of the same names (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// Bit 1 ([`Behaviour::REUSE_CLOSED`]): a new SYN on a TIME_WAIT or CLOSE entry is
    /// scheduled afresh; bit 2 ([`Behaviour::REUSE_FIN_WAIT`]): FIN_WAIT too; 0: reuse.
    pub conn_reuse_mode: u8,
    /// Expire a connection whose real was removed at its next client packet.
    pub expire_nodest_conn: bool,
    /// Expire a persistence template whose real has weight 0 at its next use.
    pub expire_quiescent_template: bool,
    /// Open connections on any TCP segment but a RST, not only on a SYN (directors
    /// behind ECMP take over flows started elsewhere).
    pub sloppy_tcp: bool,
    /// When the table is full, a new connection evicts an embryonic one.
    pub table_full_evict: bool,
    /// What a packet that would open a connection to a service with no usable real is
    /// answered with (IPVS: ICMP port unreachable).
    pub no_real: NoRealAnswer,
}

/// `[behaviour] no_real`: the answer to a packet that would open a connection to a
/// service with no usable real (IPVS's `ip_vs_leave`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NoRealAnswer {
    /// ICMP (ICMPv6) destination unreachable, port unreachable, for TCP and UDP: IPVS.
    #[default]
    Icmp,
    /// A TCP RST for TCP (UDP is still answered with ICMP).
    Rst,
    /// Nothing: the packet is dropped (counted as `no_real`).
    Drop,
}

impl NoRealAnswer {
    /// The spelling in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Icmp => "icmp",
            Self::Rst => "rst",
            Self::Drop => "drop",
        }
    }
}

impl Behaviour {
    /// `conn_reuse_mode` bit: TIME_WAIT and CLOSE entries give way to a new SYN.
    pub const REUSE_CLOSED: u8 = 1;
    /// `conn_reuse_mode` bit: FIN_WAIT entries of DR/TUN connections too.
    pub const REUSE_FIN_WAIT: u8 = 2;
    /// Every valid `conn_reuse_mode` bit.
    pub const REUSE_ALL: u8 = Self::REUSE_CLOSED | Self::REUSE_FIN_WAIT;
}

impl Default for Behaviour {
    /// IPVS's defaults: `conn_reuse_mode` 1, both expiries and `sloppy_tcp` off.
    fn default() -> Self {
        Self {
            conn_reuse_mode: Self::REUSE_CLOSED,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            sloppy_tcp: false,
            table_full_evict: false,
            no_real: NoRealAnswer::Icmp,
        }
    }
}

/// `[ctl]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtlConfig {
    /// Unix socket of the control API.
    pub socket: PathBuf,
    /// Prometheus endpoint.
    pub metrics: SocketAddr,
    /// How long stopping may take, whatever fails on the way.
    pub shutdown_timeout: Duration,
}

/// `[announce]`: the file of VIP routes a routing daemon includes, and how to tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceConfig {
    /// rvsd rewrites it with one static route per announced IPv4 VIP; IPv6 VIPs go to
    /// [`AnnounceConfig::file6`].
    pub file: PathBuf,
    /// Run after each rewrite (e.g. `["birdc", "configure"]`); empty: nothing is run.
    pub reload: Vec<String>,
    /// The director's own AS number, which `announce_prepend` repeats on a VIP's path.
    pub asn: Option<u32>,
}

impl AnnounceConfig {
    /// The file of IPv6 VIP routes: `file` with `6` before its extension
    /// (`rvs-vips.conf` -> `rvs-vips6.conf`), since a BIRD static protocol carries one
    /// address family.
    pub fn file6(&self) -> PathBuf {
        let stem = self
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match self.file.extension() {
            Some(ext) => format!("{stem}6.{}", ext.to_string_lossy()),
            None => format!("{stem}6"),
        };
        self.file.with_file_name(name)
    }
}

/// `[ha]`: this director's part in a VRRPv3 virtual router (RFC 5798) with the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaConfig {
    /// The dataplane port that carries VRRP and the VIPs.
    pub port: PortId,
    /// The port's first IPv4 address that is not floating: the adverts' source.
    pub source: Ipv4Addr,
    /// Virtual router id, 1..=255.
    pub vrid: u8,
    /// Priority, 1..=254; the highest alive director is master.
    pub priority: u8,
    /// Time between two adverts of a master (a multiple of 10 ms, at most 40.95 s).
    pub advert_interval: Duration,
    /// A higher-priority backup takes over from a lower-priority master.
    pub preempt: bool,
    /// Adverts go to these addresses; empty: multicast to 224.0.0.18.
    pub unicast_peers: Vec<Ipv4Addr>,
    /// Argv run on each transition, `{state}` substituted; empty: nothing is run.
    pub notify: Vec<String>,
    /// Port addresses that move with mastership (VIPs and local addresses always do).
    pub floating: Vec<IpNet>,
    /// `[ha.sync]`: connection sync, when set.
    pub sync: Option<HaSyncConfig>,
    /// How a new master repeats its gratuitous ARPs and unsolicited NAs.
    pub garp: GarpConfig,
}

/// `[ha] garp_master_*`: how a new master repeats its announcements (gratuitous ARP,
/// unsolicited NA), as keepalived's settings of the same names do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GarpConfig {
    /// How many of each announcement go out at once on becoming master, 1..=100
    /// (default [`DEFAULT_GARP_MASTER_REPEAT`]).
    pub master_repeat: u8,
    /// When a second such burst follows; zero: none (default
    /// [`DEFAULT_GARP_MASTER_DELAY`]).
    pub master_delay: Duration,
    /// How often a master announces again while it stays master; zero: never (the
    /// default).
    pub master_refresh: Duration,
    /// How many of each announcement go out at once on each refresh, 1..=100 (default 1).
    pub master_refresh_repeat: u8,
}

impl Default for GarpConfig {
    fn default() -> Self {
        Self {
            master_repeat: DEFAULT_GARP_MASTER_REPEAT,
            master_delay: DEFAULT_GARP_MASTER_DELAY,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
        }
    }
}

/// `[ha.sync]`: connection sync from the master to the backups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaSyncConfig {
    /// The dataplane port the sync messages use.
    pub port: PortId,
    /// Their source address (an address of `port`).
    pub address: IpAddr,
    /// The other directors (unicast UDP).
    pub peers: Vec<IpAddr>,
    /// The UDP port, both ends.
    pub udp_port: u16,
    /// `key_file`, resolved against the configuration file's folder when relative.
    pub key_file: Option<PathBuf>,
    /// The key read from `key_file`: messages carry an HMAC-SHA256 made with it, and
    /// those that do not verify are refused.
    pub key: Option<SyncKey>,
    /// `insecure = true`: sync runs without a key (messages are neither signed nor
    /// checked). Never set together with `key_file`.
    pub insecure: bool,
    /// `refresh`: how often a master sends each connection and template again, changed
    /// or not (1 s to 1 h; default [`DEFAULT_SYNC_REFRESH`]).
    pub refresh: std::time::Duration,
}

/// `[[service]]`: a virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// [`Proto::Tcp`] or [`Proto::Udp`].
    pub proto: Proto,
    /// Virtual address; for a mark service (`fwmark`), the key address holding its mark
    /// ([`mark_vip`]), TCP and port 0.
    pub vip: IpAddr,
    /// Virtual port; 0: every port of the VIP (a packet to a port with a service of
    /// its own goes to that one).
    pub port: u16,
    /// Scheduler.
    pub scheduler: SchedKind,
    /// Scheduler flags (only those of the service's scheduler).
    pub flags: SchedFlags,
    /// Persistence timeout in seconds, 0 = off.
    pub persistence: u32,
    /// Persistence mask as a prefix length of the VIP's family.
    pub persistence_prefix: u8,
    /// FULLNAT local addresses, same family as the VIP, no duplicates.
    pub laddrs: Vec<IpAddr>,
    /// Real servers, in file order, no duplicate (address, port).
    pub reals: Vec<RealConfig>,
    /// Whether the VIP is announced while this service has a real up (`[announce]`).
    pub announce: bool,
    /// BGP MED on the VIP's route (site preference).
    pub announce_med: Option<u32>,
    /// How many times the VIP's route carries `[announce] asn` prepended to its AS path
    /// (site preference across ASes); 0: none.
    pub announce_prepend: u8,
    /// BGP communities on the VIP's route, as (AS, value).
    pub announce_communities: Vec<(u16, u16)>,
    /// `[service.check]`: the health check of the service's reals.
    pub check: Option<CheckConfig>,
    /// How a FULLNAT real learns the client's address (`client_address`).
    pub client_address: ClientAddress,
    /// Answer the client's SYN with a cookie SYN-ACK and open the connection to the real
    /// only on a valid ACK (`synproxy`; TCP, NAT and FULLNAT reals only).
    pub synproxy: bool,
    /// The window scale the SYN proxy announces to clients that offer timestamps
    /// (`synproxy_wscale`, default 7): it must equal what the reals announce (their
    /// `tcp_window_scaling` result), as with Linux's nft synproxy `wscale`.
    pub synproxy_wscale: u8,
    /// Allow and deny lists and limits (`allow`, `deny`, `limit_*`, ...).
    pub guard: GuardConfig,
    /// One-packet scheduling (`one_packet`, ipvsadm's `-o`): every datagram scheduled
    /// afresh and no connection entry kept (UDP, DR and TUN reals only).
    pub one_packet: bool,
    /// Content switching (`l7`, `l7_timeout`, `[[service.rule]]`): the real is chosen
    /// from the client's first bytes, among the reals of the group the first matching
    /// rule names (those without a group when none matches). Implies `synproxy`.
    pub l7: Option<L7Config>,
}

/// A service's content switching (see [`ServiceConfig::l7`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L7Config {
    /// What is read: an HTTP/1.x request's line and `Host`, or a TLS ClientHello's
    /// server name.
    pub protocol: rvs_l7::Protocol,
    /// How long a client may take to send what decides (`l7_timeout`, default
    /// [`DEFAULT_L7_TIMEOUT`]).
    pub timeout: Duration,
    /// The rules in file order: the first that matches names the group.
    pub rules: Vec<L7Rule>,
}

/// `[[service.rule]]`: a content rule and the group of reals it sends to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L7Rule {
    /// What must match.
    pub rule: rvs_l7::Rule,
    /// The group of reals (their `group`).
    pub group: String,
}

/// `l7_timeout` unless configured.
pub const DEFAULT_L7_TIMEOUT: Duration = Duration::from_secs(5);
/// The most `[[service.rule]]` entries of one service.
pub const MAX_L7_RULES: usize = 64;

/// How a FULLNAT real learns the client's address (`client_address`, see `docs/config.md`):
/// not at all, the TOA TCP option, or a PROXY protocol header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClientAddress {
    /// The real sees the local address only.
    #[default]
    None,
    /// TCP option 254 in the client's first segments (TCP only).
    Toa,
    /// PROXY protocol version 1 (a text line) in front of the client's bytes (TCP only).
    ProxyV1,
    /// PROXY protocol version 2 (binary) in front of the client's bytes (TCP), or of
    /// every datagram's payload (UDP).
    ProxyV2,
}

impl ClientAddress {
    /// Every value with its name in the file.
    pub const NAMES: [(&'static str, ClientAddress); 4] = [
        ("none", ClientAddress::None),
        ("toa", ClientAddress::Toa),
        ("proxy-v1", ClientAddress::ProxyV1),
        ("proxy-v2", ClientAddress::ProxyV2),
    ];

    /// Whether a UDP service may use it: PROXY protocol version 2 (or nothing); TOA is a
    /// TCP option and version 1 has no UDP form.
    pub fn fits_udp(self) -> bool {
        matches!(self, ClientAddress::None | ClientAddress::ProxyV2)
    }

    /// The name the file uses.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("none", |(n, _)| n)
    }
}

impl ServiceConfig {
    /// The mark of a mark service (`fwmark = N`, ipvsadm's `-f N`), `None` for a
    /// service with an address.
    pub fn fwmark(&self) -> Option<u32> {
        vip_mark(self.vip)
    }

    /// Whether every real is FULLNAT (true for a service with no reals yet: reals added
    /// later are held to what needs it).
    pub fn reals_all_fullnat(&self) -> bool {
        self.reals.iter().all(|r| r.forward == ForwardMode::FullNat)
    }

    /// Whether `one_packet` may be on: a UDP service whose reals all answer clients
    /// directly (DR or TUN), since a NAT or FULLNAT reply needs the entry the director
    /// does not keep.
    pub fn one_packet_allowed(&self) -> bool {
        self.proto == Proto::Udp
            && self
                .reals
                .iter()
                .all(|r| matches!(r.forward, ForwardMode::Dr | ForwardMode::Tun))
    }

    /// The first real that answers clients directly (`dr` or `tun`): the director never
    /// sees its replies. The SYN proxy needs none (a service whose reals are all NAT or
    /// FULLNAT, in any mix: each connection is shifted alike whatever its real's mode).
    pub fn direct_real(&self) -> Option<&RealConfig> {
        self.reals
            .iter()
            .find(|r| matches!(r.forward, ForwardMode::Dr | ForwardMode::Tun))
    }

    /// The scheduler build parameters of this service (its flags, default table sizes).
    pub fn sched_params(&self) -> SchedParams {
        SchedParams {
            flags: self.flags,
            ..SchedParams::default()
        }
    }

    /// How the sorry server is reached: as the service's first real (keepalived uses the
    /// virtual server's one `lb_kind`); a service without reals uses FULLNAT when it has
    /// local addresses, else NAT.
    pub fn sorry_forward(&self) -> ForwardMode {
        match self.reals.first() {
            Some(r) => r.forward,
            None if !self.laddrs.is_empty() => ForwardMode::FullNat,
            None => ForwardMode::Nat,
        }
    }

    /// The client address with the persistence mask applied (the template key's address).
    pub fn persistence_client(&self, client: IpAddr) -> IpAddr {
        mask_addr(client, self.persistence_prefix)
    }
}

/// `[[service.real]]`: a real server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealConfig {
    /// Real address (VIP's family unless `forward` is `tun`).
    pub ip: IpAddr,
    /// Real port (the service's port for `dr` and `tun`).
    pub port: u16,
    /// Weight, 0..=65535; 0 quiesces.
    pub weight: u32,
    /// Forwarding mode.
    pub forward: ForwardMode,
    /// `-x`: upper connection threshold, 0 = none.
    pub upper: u32,
    /// `-y`: lower connection threshold, 0 = none.
    pub lower: u32,
    /// Probed by the service's check (`check = false` leaves it out; it then counts as up).
    pub check: bool,
    /// How a `tun` real is reached: IPIP (the default), GUE or GRE (`tun_type`,
    /// `tun_port`, `tun_csum`); IPIP for every other mode.
    pub tunnel: Tunnel,
    /// The content-switching group it serves (`group`; `None`: what no rule matches).
    pub group: Option<String>,
}

/// What a health check probes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// A TCP connect (keepalived's TCP_CHECK).
    Tcp,
    /// An HTTP GET (HTTP_GET).
    Http,
    /// A UDP datagram; any reply is up (UDP_CHECK).
    Udp,
    /// A command; exit 0 is up (MISC_CHECK).
    Misc,
}

impl CheckKind {
    /// The file's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Udp => "udp",
            CheckKind::Misc => "misc",
        }
    }
}

/// What a failed check does to its real.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnFail {
    /// Out of scheduling (the real stays configured, `available = false`).
    Remove,
    /// Weight 0 (keepalived's `inhibit_on_failure`).
    Inhibit,
}

/// `[service.check]`: keepalived's checkers, per service, for every real with `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckConfig {
    /// The checker.
    pub kind: CheckKind,
    /// Time between the starts of two probes of one real.
    pub interval: Duration,
    /// Most time one probe takes (connect, exchange, or the command's run).
    pub timeout: Duration,
    /// Consecutive successes that bring a down real back.
    pub rise: u32,
    /// Consecutive failures that take an up real down.
    pub fall: u32,
    /// Port probed instead of the real's.
    pub port: Option<u16>,
    /// What a failure does.
    pub on_fail: OnFail,
    /// http: the request path.
    pub path: String,
    /// http: the accepted status range, both ends included.
    pub expect: (u16, u16),
    /// http: a substring the body must hold (empty: any body).
    pub body: String,
    /// udp: the payload sent.
    pub send: String,
    /// misc: the argv, `{ip}` and `{port}` substituted.
    pub command: Vec<String>,
    /// misc: exit codes 2..=255 mean up with weight `code - 2` (misc_dynamic).
    pub dynamic: bool,
    /// Where new connections go while no real of the service is up.
    pub sorry: Option<SocketAddr>,
}

impl Config {
    /// Read and validate the file at `path`; errors name it as given.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parse and validate `text`; errors name the file `file`.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: Origin::of_span(file, text, e.span()),
            message: e.message().trim().lines().collect::<Vec<_>>().join("; "),
        })?;
        validate::build(
            raw,
            &checker::Checker {
                file,
                text,
                known_key: None,
            },
        )
    }

    /// Validate this configuration again from its own text (what an rvsadm edit goes
    /// through), keeping the sync key it holds instead of reading `key_file` again: a
    /// key file changed or removed since start-up refuses no edit. Errors name the file
    /// `file`.
    pub fn revalidate(&self, file: &str) -> Result<Self, ConfigError> {
        let text = to_toml(self);
        let raw: raw::RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            origin: Origin::of_span(file, &text, e.span()),
            message: e.message().trim().lines().collect::<Vec<_>>().join("; "),
        })?;
        let known_key = self
            .ha
            .as_ref()
            .and_then(|ha| ha.sync.as_ref())
            .and_then(|s| Some((s.key_file.as_deref()?, s.key.as_ref()?)));
        validate::build(
            raw,
            &checker::Checker {
                file,
                text: &text,
                known_key,
            },
        )
    }

    /// The kernel mirrors of the ports that have one, in port order: the mirrored
    /// port, and the mirror's own id (mirrors are numbered after every configured port).
    pub fn kernel_mirrors(&self) -> impl Iterator<Item = (PortId, PortId, &PortConfig)> + '_ {
        let first = self.ports.len();
        self.ports
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kernel.is_some())
            .enumerate()
            .map(move |(k, (i, p))| (PortId(i as u16), PortId((first + k) as u16), p))
    }

    /// The id of the port named `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        let i = self.ports.iter().position(|p| p.name == name)?;
        u16::try_from(i).ok().map(PortId)
    }
}
