//! The per-worker connection table: IPVS TCP states, timers and persistence templates.
//!
//! One [`ConnTable`] per worker, no locks. Capacity is fixed at start; nothing allocates
//! per packet. Time is a monotonic millisecond clock passed in by the caller, so replay
//! and tests control it.
//!
//! CONTRACT (shared with dataplane; extend, do not break): [`Proto`], [`ConnKey`],
//! [`ForwardMode`], [`Direction`], [`TcpState`], [`TcpFlags`], [`Timeouts`], [`NewConn`],
//! [`Conn`], [`ConnId`], [`TemplateKey`], [`InsertError`], and the methods of [`ConnTable`]:
//! `new`, `lookup`, `get`, `insert`, `insert_after_miss`, `on_packet`, `expire`,
//! `expire_prefetched` ([`Prefetch`]), `template_lookup`,
//! `template_insert`, `set_timeouts`, `timeouts`, `set_dest_thresholds`, `loads`, `len`,
//! `capacity`, `iter`, `remove`, `gives_way_to_new_syn`, `hash`, `lookup_hashed`,
//! `bucket_of`, `entry_of`, `view`, `try_view`, `set_path_hint` ([`PathHint`]) ([`ConnView`]: a connection read in
//! place; `get`, `try_get` and `iter` copy connections out).
//!
//! Design:
//! - **Capacity** is fixed at construction: a slab of connection slots, an
//!   open-addressed index of both keys of every connection (load at most 1/2, no
//!   tombstones, never rehashed), a timer wheel, and templates with their own fixed
//!   capacity (default: a quarter of the connection capacity). A full table refuses new
//!   connections with [`InsertError::TableFull`] and leaves the others alone.
//! - **Expiry** uses a timer wheel of [`TICK_MS`] (100 ms) ticks: never before
//!   `expires_ms`, at most one tick after it; refreshes are lazy (re-checked when the
//!   slot fires), shortened timeouts re-file at once; `expire` costs O(expired + ticks
//!   advanced).
//! - **Counts** follow IPVS: a new connection is bound to its real as inactive, TCP
//!   moves it to active in ESTABLISHED and back when it leaves; UDP and ICMP stay
//!   inactive; templates count as persistent; the overload flag follows the thresholds as
//!   `ip_vs_bind_dest`/`ip_vs_unbind_dest` do (see [`dest_load`]).
//! - **Templates** expire `timeout` after their last use (lookup, new connection, or a
//!   packet of a connection using them) and never while a connection uses them (see
//!   [`template`]).
//!
//! - **Layout**: each connection keeps what its packets read and write (key check,
//!   state, expiry, mode, IPv4 endpoints as numbers, real, service, template slot,
//!   stream adjustments) in one 64-byte line, its counters and the forwarding path's
//!   [`PathHint`]s in the next line of the same page, and the rest (IPv6 addresses,
//!   template key) in a parallel array that IPv4 packets never touch (see `entry`).
//!
//! - **Eviction** (`table_full_evict`): the embryonic connections (TCP in NONE, SYN_RECV
//!   or SYN_SENT) are kept in the order they became embryonic (`embryos`, an intrusive
//!   list), and [`ConnTable::evict_embryonic`] takes the oldest, in O(1).
//!
//! Modules: [`tcp_state`] (the IPVS transition table), [`timeout`] (per-state and
//! per-protocol timeouts), `wheel` (the timer wheel, granularity [`TICK_MS`]), `index`
//! (the open-addressed key index), `embryos` (the eviction order), `entry` (the
//! connection slots in hot, warm and cold parts), `slab` (preallocated slots of templates), [`template`]
//! (persistence templates and the refresh rule), [`dest_load`] (per-real counts and the
//! overload flag, as IPVS keeps them) and `table` ([`ConnTable`]).

use std::net::{IpAddr, SocketAddr};

pub use rvs_schedulers::{DestId, LoadView, RealLoad};

pub mod dest_load;
mod embryos;
mod entry;
mod index;
mod slab;
mod table;
pub mod tcp_state;
pub mod template;
pub mod timeout;
mod wheel;

pub use dest_load::{DestLoad, DestLoads};
pub use entry::ConnView;
pub use table::{ConnTable, KeyHash, Prefetch, EXPIRE_BATCH, MAX_CAPACITY};
pub use tcp_state::TableDir;
pub use template::Template;
pub use timeout::ICMP_TIMEOUT_S;
pub use wheel::{SLOTS as WHEEL_SLOTS, TICK_MS};

/// Stable identity of a virtual service across configuration snapshots.
pub type ServiceId = u32;

/// Transport protocol of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP / ICMPv6 (ports are the echo identifier, or 0).
    Icmp,
}

/// The tuple a packet carries, as seen on the wire: one per direction of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// Protocol.
    pub proto: Proto,
    /// Source address of the packet.
    pub src: IpAddr,
    /// Source port of the packet.
    pub sport: u16,
    /// Destination address of the packet.
    pub dst: IpAddr,
    /// Destination port of the packet.
    pub dport: u16,
}

/// How packets of a connection reach the real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForwardMode {
    /// Masquerade: destination rewritten to the real, replies rewritten back.
    Nat,
    /// Full NAT: source to a local address/port, destination to the real.
    FullNat,
    /// Direct routing: only the Ethernet destination changes.
    Dr,
    /// IPIP tunnel to the real.
    Tun,
}

/// Which way a packet travels relative to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client toward the VIP.
    Original,
    /// From the real server back toward the client.
    Reply,
}

/// IPVS TCP connection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// NONE.
    None,
    /// ESTABLISHED.
    Established,
    /// SYN_SENT.
    SynSent,
    /// SYN_RECV.
    SynRecv,
    /// FIN_WAIT.
    FinWait,
    /// TIME_WAIT.
    TimeWait,
    /// CLOSE.
    Close,
    /// CLOSE_WAIT.
    CloseWait,
    /// LAST_ACK.
    LastAck,
    /// LISTEN.
    Listen,
    /// SYNACK.
    SynAck,
}

/// The TCP flags the state machine looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// Timeouts in seconds (`--set tcp tcpfin udp` changes three of them at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// ESTABLISHED (`--set tcp`), default 900.
    pub tcp: u32,
    /// FIN_WAIT (`--set tcpfin`), default 120.
    pub tcpfin: u32,
    /// UDP (`--set udp`), default 300.
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            tcp: 900,
            tcpfin: 120,
            udp: 300,
        }
    }
}

/// A persistence template key: (service, client address masked, port or 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    /// The service.
    pub service: ServiceId,
    /// The client address with the persistence mask applied.
    pub client: IpAddr,
    /// 0, or the virtual port for per-port persistence.
    pub port: u16,
}

/// Everything needed to create a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewConn {
    /// Protocol.
    pub proto: Proto,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Virtual endpoint (VIP and port).
    pub vip: SocketAddr,
    /// FULLNAT local endpoint (local address and port), `None` for other modes.
    pub local: Option<SocketAddr>,
    /// Real server endpoint.
    pub real: SocketAddr,
    /// Forwarding mode.
    pub mode: ForwardMode,
    /// Owning service.
    pub service: ServiceId,
    /// Chosen real.
    pub dest: DestId,
    /// The persistence template this connection refreshes, if any.
    pub template: Option<TemplateKey>,
}

impl NewConn {
    /// The key of packets from the client: `client -> vip`.
    pub fn original_key(&self) -> ConnKey {
        endpoints_key(self.proto, self.client, self.vip)
    }

    /// The key of packets from the real: `real -> local` (FULLNAT), `real -> client`
    /// (NAT), `vip -> client` (DR and TUN: the real answers from the VIP straight to the
    /// client, so `real -> client` is no tuple of theirs, and claiming it would refuse a
    /// NAT connection of the same client port to the same real, or be refused by one).
    pub fn reply_key(&self) -> ConnKey {
        reply_key(
            self.proto,
            self.mode,
            self.real,
            self.local,
            self.client,
            self.vip,
        )
    }
}

/// The reply key of a connection (see [`NewConn::reply_key`]).
fn reply_key(
    proto: Proto,
    mode: ForwardMode,
    real: SocketAddr,
    local: Option<SocketAddr>,
    client: SocketAddr,
    vip: SocketAddr,
) -> ConnKey {
    match mode {
        ForwardMode::Dr | ForwardMode::Tun => endpoints_key(proto, vip, client),
        ForwardMode::Nat | ForwardMode::FullNat => {
            endpoints_key(proto, real, local.unwrap_or(client))
        }
    }
}

/// The key of packets from `src` to `dst`.
fn endpoints_key(proto: Proto, src: SocketAddr, dst: SocketAddr) -> ConnKey {
    ConnKey {
        proto,
        src: src.ip(),
        sport: src.port(),
        dst: dst.ip(),
        dport: dst.port(),
    }
}

/// Handle of a live connection inside one worker's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(pub u32);

/// Per-connection packet and byte counters, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnCounters {
    /// Packets from the client.
    pub in_pkts: u64,
    /// Bytes from the client.
    pub in_bytes: u64,
    /// Packets from the real.
    pub out_pkts: u64,
    /// Bytes from the real.
    pub out_bytes: u64,
}

/// Where the forwarding path last sent a connection's packets one way (its next hop,
/// opaque to the table): the table keeps one per direction next to the counters, all
/// zero when the connection is made, and never reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathHint {
    /// The version of the routes and neighbours it was found with (0: nothing yet).
    pub stamp: u64,
    /// What was found, in the forwarding path's encoding.
    pub word: u64,
}

/// Why a connection could not be inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The table is at its fixed capacity.
    #[error("connection table full")]
    TableFull,
    /// A connection with one of the two keys already exists.
    #[error("connection already exists")]
    Exists,
}

/// A live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    /// Protocol.
    pub proto: Proto,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Virtual endpoint.
    pub vip: SocketAddr,
    /// FULLNAT local endpoint.
    pub local: Option<SocketAddr>,
    /// Real server endpoint.
    pub real: SocketAddr,
    /// Forwarding mode.
    pub mode: ForwardMode,
    /// Owning service.
    pub service: ServiceId,
    /// Chosen real.
    pub dest: DestId,
    /// TCP state (`TcpState::None` for UDP and ICMP).
    pub state: TcpState,
    /// Absolute expiry time in milliseconds on the caller's clock.
    pub expires_ms: u64,
    /// Packet and byte counters.
    pub counters: ConnCounters,
    /// The persistence template this connection refreshes.
    pub template: Option<TemplateKey>,
    /// TCP stream adjustments (FULLNAT client address); default: none.
    pub stream: StreamAdjust,
}

/// Per-connection state of the FULLNAT features that edit the TCP stream (TOA, PROXY
/// protocol): what to do, how far it got, and the sequence shift it implies. The
/// dataplane owns the meaning of `kind` and `flags`; the table only keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamAdjust {
    /// What the real is given (the dataplane's code; 0: nothing).
    pub kind: u8,
    /// Progress bits (the dataplane's).
    pub flags: u8,
    /// Bytes inserted in front of the client's byte stream (the PROXY header's length).
    pub inserted: u16,
    /// The client's initial sequence number, from its SYN.
    pub client_isn: u32,
    /// SYN proxy progress (the dataplane's code; 0: not proxied).
    pub syn_proxy: u8,
    /// SYN proxy: the director's cookie ISN while the real has not answered, then the
    /// real's ISN minus it (the shift of the real's sequence space).
    pub server_shift: u32,
    /// SYN proxy with timestamps: the director's TSval in the cookie SYN-ACK while the
    /// real has not answered, then it minus the real's TSval (the shift of its clock).
    pub ts_shift: u32,
}

impl Conn {
    /// The key of packets from the client: `client -> vip`.
    pub fn original_key(&self) -> ConnKey {
        endpoints_key(self.proto, self.client, self.vip)
    }

    /// The key of packets from the real: see [`NewConn::reply_key`].
    pub fn reply_key(&self) -> ConnKey {
        reply_key(
            self.proto,
            self.mode,
            self.real,
            self.local,
            self.client,
            self.vip,
        )
    }
}
