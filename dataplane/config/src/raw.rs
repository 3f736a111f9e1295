//! The file as written: serde structures with spans on every validated value.
//!
//! Unknown keys are refused; values stay strings until validation so that every
//! error can name the text and its position.

use serde::Deserialize;
use toml::Spanned;

/// A string with its byte span in the file.
pub(super) type SStr = Spanned<String>;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub dataplane: RawDataplane,
    #[serde(default)]
    pub dpdk: RawDpdk,
    #[serde(default)]
    pub port: Vec<RawPort>,
    #[serde(default)]
    pub route: Vec<RawRoute>,
    #[serde(default)]
    pub neighbor: Vec<RawNeighbor>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub behaviour: RawBehaviour,
    #[serde(default)]
    pub ctl: RawCtl,
    pub announce: Option<RawAnnounce>,
    pub ha: Option<RawHa>,
    #[serde(default)]
    pub mark: Vec<RawMark>,
    #[serde(default)]
    pub service: Vec<RawService>,
}

/// `[[mark]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMark {
    pub mark: Spanned<u32>,
    pub proto: Option<SStr>,
    pub dst: Spanned<Vec<SStr>>,
    #[serde(default)]
    pub ports: Vec<SStr>,
    #[serde(default)]
    pub src: Vec<SStr>,
}

/// `[dataplane]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDataplane {
    pub workers: Option<Spanned<u16>>,
    pub conn_capacity: Option<Spanned<u32>>,
    pub idle: Option<SStr>,
    pub idle_max_us: Option<Spanned<u32>>,
    pub frag_memory: Option<Spanned<u64>>,
    pub frag_datagrams: Option<Spanned<u64>>,
    pub frag_fragments: Option<Spanned<u64>>,
    pub frag_timeout: Option<Spanned<u64>>,
}

/// `[dpdk]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDpdk {
    #[serde(default)]
    pub eal_args: Vec<String>,
}

/// `[[port]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub name: SStr,
    pub device: SStr,
    pub mac: Option<SStr>,
    #[serde(default)]
    pub addresses: Vec<SStr>,
    pub kernel: Option<SStr>,
    pub rss: Option<SStr>,
    pub mtu: Option<Spanned<u32>>,
}

/// `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub prefix: SStr,
    pub via: Option<SStr>,
    pub port: SStr,
}

/// `[[neighbor]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    pub ip: SStr,
    pub mac: SStr,
    pub port: SStr,
}

/// `[timeouts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub tcp: Option<Spanned<u32>>,
    pub tcpfin: Option<Spanned<u32>>,
    pub udp: Option<Spanned<u32>>,
}

/// `[behaviour]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBehaviour {
    pub conn_reuse_mode: Option<Spanned<u8>>,
    pub expire_nodest_conn: Option<bool>,
    pub expire_quiescent_template: Option<bool>,
    pub sloppy_tcp: Option<bool>,
    pub table_full_evict: Option<bool>,
    pub no_real: Option<SStr>,
}

/// `[ctl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCtl {
    pub socket: Option<SStr>,
    pub metrics: Option<SStr>,
    pub shutdown_timeout: Option<Spanned<f64>>,
}

/// `[announce]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnnounce {
    pub file: SStr,
    #[serde(default)]
    pub reload: Vec<String>,
    pub asn: Option<u32>,
}

/// `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub proto: Option<SStr>,
    pub vip: Option<SStr>,
    pub port: Option<Spanned<u16>>,
    pub fwmark: Option<Spanned<u32>>,
    pub ipv6: Option<Spanned<bool>>,
    pub scheduler: Option<SStr>,
    pub persistence: Option<u32>,
    pub persistence_mask: Option<SStr>,
    #[serde(default)]
    pub flags: Vec<SStr>,
    #[serde(default)]
    pub laddrs: Vec<SStr>,
    pub announce: Option<bool>,
    pub announce_med: Option<u32>,
    pub announce_prepend: Option<Spanned<u8>>,
    #[serde(default)]
    pub announce_communities: Vec<SStr>,
    #[serde(default)]
    pub real: Vec<RawReal>,
    pub check: Option<RawCheck>,
    pub client_address: Option<SStr>,
    pub synproxy: Option<Spanned<bool>>,
    pub one_packet: Option<Spanned<bool>>,
    pub synproxy_wscale: Option<Spanned<u8>>,
    #[serde(default)]
    pub allow: Vec<SStr>,
    #[serde(default)]
    pub deny: Vec<SStr>,
    pub acl_drop_established: Option<bool>,
    pub client_prefix_v4: Option<Spanned<u8>>,
    pub client_prefix_v6: Option<Spanned<u8>>,
    pub limit_new_per_client: Option<u32>,
    pub limit_conns_per_client: Option<u32>,
    pub limit_new: Option<u32>,
    pub limit_reset: Option<bool>,
    pub limit_clients: Option<Spanned<u32>>,
    pub limit_overflow: Option<SStr>,
    pub l7: Option<SStr>,
    pub l7_timeout: Option<Spanned<f64>>,
    #[serde(default)]
    pub rule: Vec<RawRule>,
}

/// `[[service.rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub host: Option<SStr>,
    pub path_prefix: Option<SStr>,
    pub sni: Option<SStr>,
    pub group: SStr,
}

/// `[service.check]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub kind: SStr,
    pub interval: Option<Spanned<f64>>,
    pub timeout: Option<Spanned<f64>>,
    pub rise: Option<Spanned<u32>>,
    pub fall: Option<Spanned<u32>>,
    pub port: Option<Spanned<u16>>,
    pub on_fail: Option<SStr>,
    pub path: Option<SStr>,
    pub expect: Option<Spanned<Vec<u16>>>,
    pub body: Option<SStr>,
    pub send: Option<SStr>,
    pub command: Option<Spanned<Vec<String>>>,
    pub dynamic: Option<Spanned<bool>>,
    pub sorry: Option<SStr>,
}

/// `[[service.real]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReal {
    pub ip: SStr,
    pub port: Option<Spanned<u16>>,
    pub weight: Option<Spanned<u32>>,
    pub forward: Option<SStr>,
    pub upper: Option<Spanned<u32>>,
    pub lower: Option<Spanned<u32>>,
    pub check: Option<bool>,
    pub tun_type: Option<SStr>,
    pub tun_port: Option<Spanned<u16>>,
    pub tun_csum: Option<SStr>,
    pub group: Option<SStr>,
}

/// `[ha]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHa {
    pub port: SStr,
    pub vrid: Spanned<u8>,
    pub priority: Option<Spanned<u8>>,
    pub advert_interval: Option<Spanned<f64>>,
    pub preempt: Option<bool>,
    #[serde(default)]
    pub unicast_peers: Vec<SStr>,
    #[serde(default)]
    pub notify: Vec<String>,
    #[serde(default)]
    pub floating: Vec<SStr>,
    pub garp_master_repeat: Option<Spanned<u8>>,
    pub garp_master_delay: Option<Spanned<u64>>,
    pub garp_master_refresh: Option<Spanned<u64>>,
    pub garp_master_refresh_repeat: Option<Spanned<u8>>,
    pub sync: Option<RawHaSync>,
}

/// `[ha.sync]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHaSync {
    pub port: SStr,
    pub address: SStr,
    #[serde(default)]
    pub peers: Vec<SStr>,
    pub udp_port: Option<Spanned<u16>>,
    pub key_file: Option<SStr>,
    pub insecure: Option<Spanned<bool>>,
    pub refresh: Option<Spanned<u64>>,
}
