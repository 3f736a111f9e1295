//! The control protocol, version [`VERSION`]: requests, responses and the data they carry.
//!
//! Every request travels in a [`RequestEnvelope`] and every answer in a
//! [`ResponseEnvelope`], both framed by [`crate::frame`]. The daemon reads the envelope's
//! `version` before anything else, so a client of another version gets a
//! [`ErrorKind::Version`] error naming both versions instead of a decoding failure.
//!
//! Changes ([`Change`]) travel in batches ([`Request::Apply`]) applied all or nothing: a
//! batch with one refused change leaves the running state as it was.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;

/// A request with its protocol version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// Must be [`VERSION`].
    pub version: u32,
    /// What is asked.
    pub request: Request,
}

/// An answer with the daemon's protocol version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// The daemon's [`VERSION`].
    pub version: u32,
    /// The answer, or why the request was refused.
    pub result: Result<Response, ErrorReply>,
}

/// What a client may ask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's state in a few numbers.
    Status,
    /// Services with their reals, counters and rates; one service when `service` is set.
    Services {
        /// Only this service.
        service: Option<ServiceKey>,
    },
    /// The connection timeouts (`ipvsadm -L --timeout`).
    Timeouts,
    /// Connection entries of every worker (`ipvsadm -Lnc`), at most `limit`.
    Conns {
        /// Most entries to return.
        limit: usize,
    },
    /// Per-worker counters.
    Workers,
    /// Per-port state and device counters.
    Ports,
    /// Neighbour entries (static and learned).
    Neighbors,
    /// The route table.
    Routes,
    /// Drops by reason, summed over the workers.
    Drops,
    /// Apply a batch of changes, all or nothing.
    Apply {
        /// The changes, in order.
        changes: Vec<Change>,
    },
    /// Zero the counters of one service (with its reals) or of all.
    Zero {
        /// Only this service.
        service: Option<ServiceKey>,
    },
    /// The running state as a configuration file.
    ConfigSave,
    /// Re-read a configuration file and apply its difference to the running state.
    /// Refused when it would undo a runtime change (rvsadm, an earlier reload's file
    /// edited since) that the file does not carry, unless `discard_runtime`.
    ConfigReload {
        /// The file; `None` re-reads the file the daemon loaded last.
        path: Option<String>,
        /// Only say what the reload would change; apply nothing.
        #[serde(default)]
        dry_run: bool,
        /// Apply the file even where it undoes runtime changes.
        #[serde(default)]
        discard_runtime: bool,
    },
    /// The health state of every checked real.
    Health,
    /// Every service's allow and deny lists, limits, refusals and most limited clients.
    Guards,
    /// The `[[mark]]` rules (`rvsctl marks`).
    Marks,
    /// Every content-switching service's rules with their match counts (`rvsctl rules`).
    Rules,
    /// Every service as configured, for `rvsadm -S`: all its reals with their configured
    /// weights, those a health check took out included, and no sorry server (answered
    /// with [`Response::Services`], counters and rates zero).
    ConfiguredServices,
}

/// A `[[mark]]` rule as `rvsctl marks` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkInfo {
    /// The mark.
    pub mark: u32,
    /// `tcp`, `udp` or `any`.
    pub proto: String,
    /// Destination prefixes.
    pub dst: Vec<String>,
    /// Destination ports and ranges; empty: every port.
    pub ports: Vec<String>,
    /// Source prefixes; empty: every source.
    pub src: Vec<String>,
    /// The mark services of its mark (one per family at most); empty: packets it marks
    /// go to an addressed service, if one matches.
    pub services: Vec<ServiceKey>,
}

/// A content-switching service's rules as `rvsctl rules` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesInfo {
    /// The service.
    pub key: ServiceKey,
    /// What it reads: `http` or `tls`.
    pub l7: String,
    /// Its rules in the order they are tried (the first that matches wins).
    pub rules: Vec<RuleInfo>,
    /// Connections no rule matched, sent to the reals without a group.
    pub default_matches: u64,
}

/// One `[[service.rule]]` with its match count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// `host`: a name or `*.suffix` (HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `path_prefix` (HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// `sni`: a name or `*.suffix` (TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The group of reals it sends to.
    pub group: String,
    /// Connections whose first bytes it matched, summed over the workers since the
    /// service's rules last changed.
    pub matches: u64,
}

/// One change to the running state (an ipvsadm command).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// `-A`: add a service (refused when it exists).
    AddService(ServiceSpec),
    /// `-E`: replace a service's scheduler, flags and persistence; reals and local
    /// addresses stay.
    EditService(ServiceSpec),
    /// `-D`: delete a service with its reals and local addresses.
    DeleteService(ServiceKey),
    /// `-C`: delete every service.
    Clear,
    /// `-a`: add a real to a service.
    AddReal {
        /// The service.
        service: ServiceKey,
        /// The real.
        real: RealSpec,
    },
    /// `-e`: replace a real's forwarding, weight and thresholds.
    EditReal {
        /// The service.
        service: ServiceKey,
        /// The real (found by address and port).
        real: RealSpec,
    },
    /// `-d`: delete a real; its established connections finish.
    DeleteReal {
        /// The service.
        service: ServiceKey,
        /// The real's address and port.
        addr: SocketAddr,
    },
    /// `-P -z`: add a FULLNAT local address to a service.
    AddLaddr {
        /// The service.
        service: ServiceKey,
        /// The local address.
        addr: IpAddr,
    },
    /// `-Q -z`: delete a FULLNAT local address from a service.
    DeleteLaddr {
        /// The service.
        service: ServiceKey,
        /// The local address.
        addr: IpAddr,
    },
    /// `--set tcp tcpfin udp`: change timeouts; 0 keeps a value.
    SetTimeouts(TimeoutsInfo),
}

/// Transport protocol of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP (`-t`).
    Tcp,
    /// UDP (`-u`).
    Udp,
}

impl Protocol {
    /// As ipvsadm prints it in listings: `TCP`, `UDP`.
    pub fn upper(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// Identifies a virtual service.
///
/// A firewall-mark service (`-f N`) is keyed as the daemon keys it ([`ServiceKey::fwmark`]):
/// TCP, port 0, and an address that holds its mark and family (`0.0.0.0/8` plus the mark
/// for IPv4, `100::/64` plus the mark for IPv6), which no service may have as its VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceKey {
    /// Protocol.
    pub proto: Protocol,
    /// VIP and port.
    pub addr: SocketAddr,
}

/// The largest firewall mark rvs takes (24 bits).
pub const MAX_FWMARK: u32 = 0x00FF_FFFF;

/// The first 64 bits of an IPv6 mark service's key address (`100::/64`).
const V6_MARK_PREFIX: u128 = 0x0100_u128 << 112;

impl ServiceKey {
    /// The key of mark service `mark` (1..=[`MAX_FWMARK`]) of one family (`-f N`, with
    /// `-6` for IPv6).
    pub fn fwmark(mark: u32, ipv6: bool) -> Self {
        let mark = mark & MAX_FWMARK;
        let ip = if ipv6 {
            IpAddr::V6(std::net::Ipv6Addr::from(V6_MARK_PREFIX | u128::from(mark)))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::from(mark))
        };
        Self {
            proto: Protocol::Tcp,
            addr: SocketAddr::new(ip, 0),
        }
    }

    /// The mark of a mark service's key, `None` for an addressed service.
    pub fn mark(&self) -> Option<u32> {
        if self.proto != Protocol::Tcp || self.addr.port() != 0 {
            return None;
        }
        let mark = match self.addr.ip() {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                (bits >> 24 == 0).then_some(bits)?
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                (bits & !u128::from(MAX_FWMARK) == V6_MARK_PREFIX).then_some(bits as u32)?
            }
        };
        (mark != 0).then_some(mark)
    }
}

/// How a real is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forward {
    /// Masquerading (`-m`), `Masq`.
    Nat,
    /// Full NAT (`-b` on a real), `FullNat`; `fullnat` in JSON, as in the file.
    #[serde(rename = "fullnat")]
    FullNat,
    /// Direct routing (`-g`), `Route`.
    Dr,
    /// IPIP tunnel (`-i`), `Tunnel`.
    Tun,
}

impl Forward {
    /// The name ipvsadm prints in the Forward column.
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            Forward::Nat => "Masq",
            Forward::FullNat => "FullNat",
            Forward::Dr => "Route",
            Forward::Tun => "Tunnel",
        }
    }

    /// The option ipvsadm takes for it in a real-server command (`-m`, `-b`, `-g`, `-i`).
    pub fn ipvsadm_flag(self) -> &'static str {
        match self {
            Forward::Nat => "-m",
            Forward::FullNat => "-b",
            Forward::Dr => "-g",
            Forward::Tun => "-i",
        }
    }
}

/// A tunnel real's encapsulation (ipvsadm's `--tun-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunType {
    /// IP in IP (the default).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation.
    Gue,
    /// Generic Routing Encapsulation.
    Gre,
}

impl TunType {
    /// ipvsadm's name: `ipip`, `gue`, `gre`.
    pub fn name(self) -> &'static str {
        match self {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        }
    }
}

/// A GUE or GRE tunnel's checksum (ipvsadm's `--tun-nocsum`, `--tun-csum`,
/// `--tun-remcsum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunCsum {
    /// No checksum (the default).
    #[default]
    Nocsum,
    /// The tunnel checksum.
    Csum,
    /// GUE's remote checksum offload.
    Remcsum,
}

impl TunCsum {
    /// ipvsadm's option for it: `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
    pub fn option(self) -> &'static str {
        match self {
            TunCsum::Nocsum => "--tun-nocsum",
            TunCsum::Csum => "--tun-csum",
            TunCsum::Remcsum => "--tun-remcsum",
        }
    }

    /// ipvsadm's `--tun-info` flag text: `-c`, `+c`, `r+c`.
    pub fn info(self) -> &'static str {
        match self {
            TunCsum::Nocsum => "-c",
            TunCsum::Csum => "+c",
            TunCsum::Remcsum => "r+c",
        }
    }
}

/// How a tunnel real is reached; IPIP for every other real.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TunnelSpec {
    /// The encapsulation.
    #[serde(rename = "type")]
    pub kind: TunType,
    /// GUE's UDP port (0 otherwise).
    pub port: u16,
    /// The checksum choice.
    pub csum: TunCsum,
}

/// A service as `-A`/`-E` give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Which service.
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wlc`, ...).
    pub scheduler: String,
    /// Scheduler flags (`sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`).
    pub flags: Vec<String>,
    /// Persistence timeout in seconds; 0 = not persistent.
    pub persistence: u32,
    /// Persistence netmask as a prefix length (32 or 128 = the whole address).
    pub netmask: u8,
    /// One-packet scheduling (`-o`): every UDP datagram scheduled afresh, no entry kept.
    #[serde(default)]
    pub one_packet: bool,
}

/// A real as `-a`/`-e` give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealSpec {
    /// Address and port.
    pub addr: SocketAddr,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight, 0..=65535; 0 quiesces.
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    pub upper: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub lower: u32,
    /// A tunnel real's encapsulation (`--tun-type`, `--tun-port`, `--tun-*csum`); absent
    /// from older clients' requests, which mean IPIP.
    #[serde(default)]
    pub tunnel: TunnelSpec,
}

/// Cumulative counters (ipvsadm `--stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets client to real.
    pub inpkts: u64,
    /// Packets real to client.
    pub outpkts: u64,
    /// Bytes client to real.
    pub inbytes: u64,
    /// Bytes real to client.
    pub outbytes: u64,
}

/// Rates from the 2-second estimator (ipvsadm `--rate`), per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second, client to real.
    pub inpps: u64,
    /// Packets per second, real to client.
    pub outpps: u64,
    /// Bytes per second, client to real.
    pub inbps: u64,
    /// Bytes per second, real to client.
    pub outbps: u64,
}

/// A service as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Its definition.
    pub spec: ServiceSpec,
    /// FULLNAT local addresses.
    pub laddrs: Vec<IpAddr>,
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
    /// Its reals, in configuration order.
    pub reals: Vec<RealInfo>,
}

/// A real as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealInfo {
    /// Its definition.
    pub spec: RealSpec,
    /// Established connections.
    pub active: u64,
    /// Connections in any other state.
    pub inactive: u64,
    /// Persistence templates pointing at it (`--persistent-conn`).
    pub persistent: u64,
    /// True while a `-x` threshold holds it overloaded.
    pub overloaded: bool,
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
}

/// Timeouts in seconds (`--set`, `--timeout`); in [`Change::SetTimeouts`] 0 keeps a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutsInfo {
    /// TCP ESTABLISHED.
    pub tcp: u32,
    /// TCP FIN_WAIT.
    pub tcpfin: u32,
    /// UDP.
    pub udp: u32,
}

/// One connection entry (`-Lnc`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    /// Protocol.
    pub proto: Protocol,
    /// Milliseconds until it expires.
    pub expire_ms: u64,
    /// State as IPVS names it (`ESTABLISHED`, `SYN_RECV`, ...; `UDP` for UDP).
    pub state: String,
    /// Client address and port.
    pub client: SocketAddr,
    /// VIP and port.
    pub vip: SocketAddr,
    /// FULLNAT local address and port.
    pub local: Option<SocketAddr>,
    /// Real address and port.
    pub real: SocketAddr,
    /// Forwarding method.
    pub forward: Forward,
    /// The worker that owns it.
    pub worker: u16,
}

/// Daemon status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// rvsd's version.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: u64,
    /// `live` or `replay`.
    pub mode: String,
    /// The configuration file it loaded last (what SIGHUP re-reads).
    pub config_file: String,
    /// Configuration generation: 1 at start, +1 per applied change batch or reload.
    pub generation: u64,
    /// Worker count.
    pub workers: u16,
    /// Services.
    pub services: usize,
    /// Reals over all services.
    pub reals: usize,
    /// Connection entries over all workers.
    pub connections: u64,
    /// Connection entries the workers' tables hold, all workers (`[dataplane] workers`
    /// x `conn_capacity`); rvsadm's listings print it as IPVS's table size.
    #[serde(default)]
    pub conn_capacity: u64,
    /// Frames received, all workers.
    pub rx_packets: u64,
    /// Frames transmitted, all workers.
    pub tx_packets: u64,
    /// Frames dropped, all reasons.
    pub dropped: u64,
    /// VIPs whose routes this director announces (`[announce]`).
    #[serde(default)]
    pub announced: Vec<String>,
    /// VIP announcements and withdrawals since start.
    #[serde(default)]
    pub announce_transitions: u64,
    /// The routing daemon's side of `[announce]`, when configured.
    #[serde(default)]
    pub announce: Option<AnnounceStatus>,
    /// The director's part in its VRRP virtual router (`[ha]`), when configured.
    #[serde(default)]
    pub ha: Option<Box<HaStatus>>,
}

/// `[announce]`: whether the routing daemon took the last change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceStatus {
    /// A change (file write and reload) not yet done: running, or failed and waiting to
    /// be tried again.
    pub pending: bool,
    /// Failed file writes and reloads since start.
    pub reload_failures: u64,
}

/// `[ha]`: this director's VRRP state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStatus {
    /// `init`, `backup` or `master`.
    pub state: String,
    /// The state as the `rvs_ha_state` gauge has it: 0 init, 1 backup, 2 master.
    pub state_code: u8,
    /// Virtual router id.
    pub vrid: u8,
    /// This director's priority.
    pub priority: u8,
    /// The master last heard, while backup.
    pub master: Option<String>,
    /// Seconds in the current state.
    pub since_s: u64,
    /// State changes since start.
    pub transitions: u64,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts of this virtual router taken in.
    pub adverts_received: u64,
    /// Received VRRP frames refused for any reason but another virtual router's (by
    /// reason in `refused`).
    pub adverts_refused: u64,
    /// Adverts of other virtual routers on the segment (`vrid` in `refused`).
    pub other_vrid: u64,
    /// Received VRRP frames refused, by reason: `(label, count)` for every reason, in
    /// a fixed order (see `docs/config.md`, `[ha]`). Empty from a director before this
    /// field.
    #[serde(default)]
    pub refused: Vec<(String, u64)>,
    /// Sources the workers' per-source rate limits had no place for (adverts and sync
    /// together); such sources share one further limit.
    #[serde(default)]
    pub rate_table_full: u64,
    /// Adverts of another master with a weaker claim while master (split brain).
    pub split_brain: u64,
    /// Frames that found the send queue full.
    pub send_queue_full: u64,
    /// Connection sync (`[ha.sync]`), when configured.
    #[serde(default)]
    pub sync: Option<HaSyncStatus>,
}

/// `[ha.sync]`: connection sync counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaSyncStatus {
    /// Messages sent (one per peer and batch).
    pub messages_sent: u64,
    /// Records sent (once per batch).
    pub records_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Records received and queued for their worker.
    pub records_received: u64,
    /// Messages refused, for any reason (by reason in `refused`).
    pub messages_refused: u64,
    /// Messages lost on the way (gaps in the senders' sequences, all peers).
    pub messages_lost: u64,
    /// Records that found a full queue.
    pub records_dropped: u64,
    /// Records the workers installed or refreshed.
    pub installed: u64,
    /// Records refused: unreadable, or refused by the workers (by reason in `refused`).
    pub install_refused: u64,
    /// Messages and records refused, by reason: `(label, count)` for every reason, in
    /// a fixed order (see `docs/sync.md`). Empty from a director before this field.
    #[serde(default)]
    pub refused: Vec<(String, u64)>,
    /// Records whose time left was cut to this director's timeout for their state.
    #[serde(default)]
    pub timeouts_clamped: u64,
    /// True when messages are signed and checked with `[ha.sync] key_file`; false under
    /// `insecure = true`.
    #[serde(default)]
    pub authenticated: bool,
    /// What this director took from each peer.
    #[serde(default)]
    pub peers: Vec<HaSyncPeer>,
}

/// `[ha.sync]`: what a director took from one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaSyncPeer {
    /// The peer's address.
    pub address: String,
    /// The epoch of its messages taken last (it draws one at each start); `None` before
    /// the first.
    pub epoch: Option<u32>,
    /// The highest sequence number taken in that epoch.
    pub sequence: u32,
    /// Messages taken from it.
    pub messages_accepted: u64,
    /// Its messages lost on the way (sequence numbers skipped and not seen since).
    pub messages_lost: u64,
}

/// One counter of [`WorkerInfo`] (a part of a frame count, or a plain count), as the
/// list of worker counters ([`crate::worker_counters!`]) names it.
#[derive(Clone, Copy, Debug)]
pub struct WorkerCounter {
    /// Its field in [`WorkerInfo`], which is also its key in the JSON.
    pub name: &'static str,
    /// The Prometheus family it is exported as (with a `worker` label).
    pub metric: &'static str,
    /// The family's help text.
    pub help: &'static str,
    /// Reads it from one worker's listing.
    pub get: fn(&WorkerInfo) -> u64,
}

/// Defines [`WorkerInfo`], its counter fields taken from the list of worker counters,
/// and [`WorkerInfo::COUNTERS`], the list of them.
macro_rules! worker_info {
    (
        frames { $(
            $(#[doc = $frame_doc:literal])*
            $frame:ident => $frame_key:ident:
                $( $frame_wire:ident = $part:ident ($frame_metric:literal, $frame_help:literal) ),+;
        )* }
        drops {
            $(#[doc = $drops_doc:literal])*
            $drops:ident => $drops_key:ident:
                $drops_wire:ident ($drops_metric:literal, $drops_help:literal);
        }
        counts { $(
            $(#[doc = $count_doc:literal])*
            $count:ident => $count_key:ident:
                $count_wire:ident ($count_metric:literal, $count_help:literal);
        )* }
    ) => {
        /// One worker's counters. A counter an older director does not send reads as 0.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct WorkerInfo {
            /// Worker id.
            pub id: u16,
            /// The lcore it runs on.
            pub lcore: u32,
            $( $(
                #[doc = $frame_help]
                #[serde(default)]
                pub $frame_wire: u64,
            )+ )*
            #[doc = $drops_help]
            ///
            /// Every reason is listed by its label, zeros included (a JSON object).
            #[serde(default, with = "crate::labelled")]
            pub $drops_wire: Vec<(String, u64)>,
            $(
                #[doc = $count_help]
                #[serde(default)]
                pub $count_wire: u64,
            )*
            /// Connection entries now in its table.
            pub conns: u64,
            /// Its table's capacity.
            pub conn_capacity: u64,
            /// Poll rounds that found work, over all rounds since start (0..=1).
            pub busy_ratio: f64,
            /// Configuration generation the worker forwards with.
            pub generation: u64,
        }

        impl WorkerInfo {
            /// Every counter but the drops (by reason, in [`WorkerInfo::drops`]), in the
            /// order of the list.
            pub const COUNTERS: &'static [WorkerCounter] = &[
                $( $(
                    WorkerCounter {
                        name: stringify!($frame_wire),
                        metric: $frame_metric,
                        help: $frame_help,
                        get: |w| w.$frame_wire,
                    },
                )+ )*
                $(
                    WorkerCounter {
                        name: stringify!($count_wire),
                        metric: $count_metric,
                        help: $count_help,
                        get: |w| w.$count_wire,
                    },
                )*
            ];
        }
    };
}

crate::worker_counters!(worker_info);

/// One port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    /// Name.
    pub name: String,
    /// DPDK device string.
    pub device: String,
    /// MAC in use.
    pub mac: String,
    /// Addresses with prefix length.
    pub addresses: Vec<String>,
    /// The port's MTU (`[[port]] mtu`).
    #[serde(default = "ethernet_mtu")]
    pub mtu: u16,
    /// Link up (live only).
    pub link_up: bool,
    /// Device counters: frames received.
    pub rx_packets: u64,
    /// Device counters: frames transmitted.
    pub tx_packets: u64,
    /// Device counters: frames the device missed or dropped on receive.
    pub rx_missed: u64,
    /// Mbufs in use in the pool (the same pool for every port).
    pub mempool_in_use: u64,
    /// Mbufs in the pool.
    pub mempool_size: u64,
    /// Bytes of the workers' tables from the hugepage pool (process-wide, like the pool).
    #[serde(default)]
    pub table_hugetlb_bytes: u64,
    /// Bytes of the workers' tables in pages advised for transparent hugepages.
    #[serde(default)]
    pub table_transparent_bytes: u64,
}

/// The MTU of a port listed by a director that does not send one: Ethernet's.
fn ethernet_mtu() -> u16 {
    1500
}

/// One neighbour entry of one worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborInfo {
    /// Address.
    pub ip: IpAddr,
    /// MAC, empty while unresolved.
    pub mac: String,
    /// Port name.
    pub port: String,
    /// `static`, `reachable`, `incomplete` or `failed` (did not answer in time).
    pub state: String,
    /// The worker whose table holds it.
    pub worker: u16,
}

/// One route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    /// Destination prefix (`10.0.0.0/24`).
    pub prefix: String,
    /// Next hop, `None` when on-link.
    pub via: Option<IpAddr>,
    /// Egress port name.
    pub port: String,
    /// `static` or `connected`.
    pub kind: String,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Response {
    /// The request was carried out.
    Done,
    /// [`Request::Status`].
    Status(StatusInfo),
    /// [`Request::Services`].
    Services(Vec<ServiceInfo>),
    /// [`Request::Timeouts`].
    Timeouts(TimeoutsInfo),
    /// [`Request::Conns`].
    Conns {
        /// The entries.
        conns: Vec<ConnInfo>,
        /// True when there were more than the limit.
        truncated: bool,
    },
    /// [`Request::Workers`].
    Workers(Vec<WorkerInfo>),
    /// [`Request::Ports`].
    Ports(Vec<PortInfo>),
    /// [`Request::Neighbors`].
    Neighbors(Vec<NeighborInfo>),
    /// [`Request::Routes`].
    Routes(Vec<RouteInfo>),
    /// [`Request::Drops`]: (reason label, count), every reason.
    Drops(#[serde(with = "crate::labelled")] Vec<(String, u64)>),
    /// [`Request::ConfigSave`]: the file's text.
    Config(String),
    /// [`Request::Health`]: every checked real, in configuration order.
    Health(Vec<HealthInfo>),
    /// [`Request::ConfigReload`]: what the reload changed (or would change).
    Reloaded(ReloadReport),
    /// [`Request::Guards`]: every service, in configuration order.
    Guards(Vec<GuardInfo>),
    /// [`Request::Marks`]: the rules, in file order.
    Marks(Vec<MarkInfo>),
    /// [`Request::Rules`]: every content-switching service, in configuration order.
    Rules(Vec<RulesInfo>),
}

/// The most list entries of each kind a [`GuardInfo`] carries.
pub const GUARD_LIST_SHOWN: usize = 32;

/// The most limited clients a [`GuardInfo`] carries.
pub const TOP_LIMITED: usize = 10;

/// A service's allow and deny lists, limits and refusals (`rvsctl guards`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardInfo {
    /// Which service.
    pub key: ServiceKey,
    /// Its allow list's first [`GUARD_LIST_SHOWN`] prefixes.
    pub allow: Vec<String>,
    /// How many prefixes the allow list has.
    pub allow_len: usize,
    /// Its deny list's first [`GUARD_LIST_SHOWN`] prefixes.
    pub deny: Vec<String>,
    /// How many prefixes the deny list has.
    pub deny_len: usize,
    /// `acl_drop_established`.
    pub acl_drop_established: bool,
    /// `client_prefix_v4`.
    pub client_prefix_v4: u8,
    /// `client_prefix_v6`.
    pub client_prefix_v6: u8,
    /// `limit_new_per_client` (0: none).
    pub limit_new_per_client: u32,
    /// `limit_conns_per_client` (0: none).
    pub limit_conns_per_client: u32,
    /// `limit_new` (0: none).
    pub limit_new: u32,
    /// `limit_reset`.
    pub limit_reset: bool,
    /// `limit_clients`.
    pub limit_clients: u32,
    /// `limit_overflow`: `admit` or `refuse`.
    pub limit_overflow: String,
    /// First packets refused, by reason, summed over the workers.
    pub refused: Refused,
    /// The clients a limit refused most (summed over the workers, at most
    /// [`TOP_LIMITED`]), most refused first.
    pub top_limited: Vec<LimitedClientInfo>,
}

/// First packets a service's guard refused, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// By the allow and deny lists.
    pub acl_denied: u64,
    /// By a rate limit, or a full limit table with `limit_overflow = "refuse"`.
    pub rate_limited: u64,
    /// By `limit_conns_per_client`.
    pub conn_limited: u64,
}

/// A client a service's limits refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitedClientInfo {
    /// The client: its address masked by the service's client prefix.
    pub client: IpAddr,
    /// Its connections refused by a limit (among those the workers still track).
    pub refused: u64,
}

/// What a reload changed, or with `dry_run` would change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The file read (absolute as the daemon saw it).
    pub file: String,
    /// False for a dry run.
    pub applied: bool,
    /// The configuration generation after the reload.
    pub generation: u64,
    /// One line: services and reals added, removed and changed.
    pub summary: String,
    /// Each difference, one line each (`service tcp 10.0.0.1:80 added`, ...).
    pub changes: Vec<String>,
    /// Runtime changes the reload undid (with `discard_runtime`), or would undo.
    pub runtime_undone: Vec<String>,
}

/// The health state of one checked real.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthInfo {
    /// Its service.
    pub service: ServiceKey,
    /// The real.
    pub real: SocketAddr,
    /// The checker: `tcp`, `http`, `udp` or `misc`.
    pub kind: String,
    /// The address probed.
    pub target: SocketAddr,
    /// Up (scheduled) or down.
    pub up: bool,
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// The last result: `ok`, the reason of a failure, or empty before the first probe.
    pub last: String,
    /// Seconds in the current state (since checking started when it never changed).
    pub since_s: u64,
    /// Probes so far.
    pub checks: u64,
    /// Up/down transitions so far.
    pub transitions: u64,
    /// How long the last probe took, in microseconds.
    pub last_duration_us: u64,
    /// `remove` or `inhibit`.
    pub on_fail: String,
    /// The configured weight.
    pub configured_weight: u32,
    /// The weight it is scheduled with (0 when inhibited or while the sorry server
    /// serves; a dynamic misc check's weight).
    pub weight: u32,
    /// The service's sorry server while it takes the new connections.
    pub sorry: Option<SocketAddr>,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorReply {
    /// The class of the error.
    pub kind: ErrorKind,
    /// What is wrong, for a person.
    pub message: String,
    /// For a refused [`Request::Apply`]: the index in the batch of the change refused
    /// (`rvsadm -R` turns it into the input's line number). Absent when the refusal
    /// concerns no single change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<usize>,
}

impl ErrorReply {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            change: None,
        }
    }

    /// This refusal, blamed on change `index` of its batch.
    pub fn at_change(self, index: usize) -> Self {
        Self {
            change: Some(index),
            ..self
        }
    }
}

/// Classes of refusal; rvsadm maps the ipvsadm ones to ipvsadm's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The client speaks another protocol version.
    Version,
    /// The request is not valid JSON of this protocol.
    Malformed,
    /// The request is over [`crate::frame::MAX_REQUEST`].
    TooLarge,
    /// `-A` of a service that exists ("Service already exists").
    ServiceExists,
    /// No such service ("No such service").
    NoService,
    /// `-a` of a real that exists ("Destination already exists").
    RealExists,
    /// No such real ("No such destination").
    NoReal,
    /// `-P` of a local address the service has.
    LaddrExists,
    /// `-Q` of a local address the service does not have.
    NoLaddr,
    /// The change would make an invalid configuration (the message says why).
    Invalid,
    /// Something rvs does not do (fwmark services, one-packet scheduling, ...).
    Unsupported,
    /// The daemon failed to carry out a valid request.
    Internal,
}
