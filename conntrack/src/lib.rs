//! The per-worker connection table: IPVS TCP states, timers and persistence templates.
//!
//! One [`ConnTable`] per worker, no locks. Capacity is fixed at start; nothing allocates
//! per packet. Time is a monotonic millisecond clock passed in by the caller, so replay
//! and tests control it.
//!
//! CONTRACT (shared with dataplane; extend, do not break): [`Proto`], [`ConnKey`],
//! [`ForwardMode`], [`Direction`], [`TcpState`], [`TcpFlags`], [`Timeouts`], [`NewConn`],
//! [`Conn`], [`ConnId`], [`TemplateKey`], [`InsertError`], and the methods of [`ConnTable`]
//! listed in its doc.

use std::net::{IpAddr, SocketAddr};

pub use rvs_schedulers::{DestId, LoadView, RealLoad};

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
}

impl Conn {
    /// The key of packets from the client: `client -> vip`.
    pub fn original_key(&self) -> ConnKey {
        ConnKey {
            proto: self.proto,
            src: self.client.ip(),
            sport: self.client.port(),
            dst: self.vip.ip(),
            dport: self.vip.port(),
        }
    }

    /// The key of packets from the real: `real -> local` (FULLNAT) or `real -> client`.
    pub fn reply_key(&self) -> ConnKey {
        let to = self.local.unwrap_or(self.client);
        ConnKey {
            proto: self.proto,
            src: self.real.ip(),
            sport: self.real.port(),
            dst: to.ip(),
            dport: to.port(),
        }
    }
}

/// One worker's connection table.
///
/// SKELETON CONTRACT, methods the dataplane calls (the conntrack work implements them):
/// - `ConnTable::new(capacity: usize, timeouts: Timeouts) -> ConnTable`
/// - `lookup(&self, key: &ConnKey) -> Option<(ConnId, Direction)>`
/// - `get(&self, id: ConnId) -> &Conn`
/// - `insert(&mut self, conn: NewConn, now_ms: u64) -> Result<ConnId, InsertError>`
///   (starts in the state a first packet from the client puts it in: for TCP, call
///   `on_packet` right after with the SYN's flags; for UDP/ICMP it is live at once)
/// - `on_packet(&mut self, id: ConnId, dir: Direction, flags: TcpFlags, bytes: usize, now_ms: u64)`
///   (state machine, counters, expiry refresh, per-real active/inactive counts)
/// - `expire(&mut self, now_ms: u64, on_expired: impl FnMut(&Conn)) -> usize`
///   (O(expired); `on_expired` sees each connection before it is removed so the
///   caller can release its FULLNAT local port)
/// - `template_lookup(&mut self, key: &TemplateKey, now_ms: u64) -> Option<DestId>`
/// - `template_insert(&mut self, key: TemplateKey, dest: DestId, timeout_s: u32, now_ms: u64) -> Result<(), InsertError>`
/// - `set_timeouts(&mut self, t: Timeouts)`, `timeouts(&self) -> Timeouts`
/// - `set_dest_thresholds(&mut self, dest: DestId, upper: u32, lower: u32)`
/// - `loads(&self) -> &impl LoadView` (active/inactive/overloaded per real)
/// - `len(&self) -> usize`, `capacity(&self) -> usize`, `iter(&self) -> impl Iterator<Item = (ConnId, &Conn)>`
#[derive(Debug)]
pub struct ConnTable {
    _skeleton: (),
}
