//! Configuration errors: where in the file, and what is wrong.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use super::net::{IpNet, IpNetError, MaskError};
use super::sync_key::{KeyFileProblem, MIN_SYNC_KEY_LEN};
use rvs_conntrack::ForwardMode;
use rvs_packet::rewrite::{TunnelCsum, TunnelKind};

/// The file's name of a forwarding mode, for messages.
fn mode_name(mode: &ForwardMode) -> &'static str {
    super::forward::forward_name(*mode)
}

/// A 1-based line and column (the column counts characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text; never panics).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// The file an error is about, and where in it when known. Displays as `file:line:column`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file name as given to [`super::Config::parse`] or [`super::Config::from_file`].
    pub file: String,
    /// Where in the file, when the error has a position.
    pub at: Option<Location>,
}

impl Origin {
    /// The origin of byte range `span` of `text`.
    pub(super) fn of_span(file: &str, text: &str, span: Option<Range<usize>>) -> Self {
        Self {
            file: file.to_owned(),
            at: span.map(|s| Location::of_offset(text, s.start)),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{}:{}:{}", self.file, at.line, at.column),
            None => f.write_str(&self.file),
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, a missing key, or a value of the wrong type.
    #[error("{origin}: {message}")]
    Syntax {
        /// Where.
        origin: Origin,
        /// The parser's message, on one line.
        message: String,
    },
    /// Well-formed TOML describing an invalid configuration.
    #[error("{origin}: {context}{problem}")]
    Invalid {
        /// Where.
        origin: Origin,
        /// The object the problem is in, e.g. `service 10.0.0.100:80/tcp: real 10.1.0.11:8080: `
        /// (empty for top-level settings).
        context: String,
        /// What is wrong.
        problem: Problem,
    },
}

impl ConfigError {
    /// Where in the file the error is, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { origin, .. } | ConfigError::Invalid { origin, .. } => origin.at,
        }
    }

    /// The semantic problem, for [`ConfigError::Invalid`].
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ConfigError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// What is wrong in a well-formed configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A count or duration that must be positive is 0.
    #[error("`{0}` must be at least 1")]
    Zero(&'static str),
    /// Not an IP address.
    #[error("bad IP address {0:?}")]
    BadAddress(String),
    /// Not an `address/length` prefix.
    #[error("bad prefix {value:?}: {reason}")]
    BadPrefix {
        /// The text.
        value: String,
        /// Why.
        reason: IpNetError,
    },
    /// A route prefix with bits set past its length.
    #[error("prefix {value:?} has host bits set (the network is {network})")]
    HostBitsSet {
        /// The text.
        value: String,
        /// The prefix with the host bits cleared.
        network: IpNet,
    },
    /// Not a MAC address.
    #[error("bad MAC address {0:?} (expected six hex octets such as \"02:00:00:00:00:01\")")]
    BadMac(String),
    /// A multicast, broadcast or all-zero MAC where a station address is needed.
    #[error("MAC address {0:?} is not a unicast address")]
    NotUnicastMac(String),
    /// A port name that cannot be used as a file name or `--replay NAME=FILE` argument.
    #[error("bad port name {0:?} (use letters, digits, '-', '_' and '.', not starting with '.')")]
    BadPortName(String),
    /// `[announce] file` is empty.
    #[error("file must name the file of VIP routes")]
    EmptyAnnounceFile,
    /// A `client_address` value that is not one of the known ones.
    #[error("unknown client_address {0:?} (none, toa, proxy-v1, proxy-v2)")]
    UnknownClientAddress(String),
    /// `client_address` on a service with a real that is not FULLNAT.
    #[error("client_address {0:?} needs a service whose reals are all forward = \"fullnat\"")]
    ClientAddressNeedsFullnat(&'static str),
    /// A TCP-only `client_address` (`toa`, `proxy-v1`) on a UDP service.
    #[error("client_address {0:?} is for TCP services only; a UDP service takes \"proxy-v2\" (or \"none\")")]
    ClientAddressTcpOnly(&'static str),
    /// `one_packet = true` on a service that is not UDP with only DR and TUN reals.
    #[error(
        "one_packet needs a UDP service whose reals are all forward = \"dr\" or \"tun\" \
         (a NAT or FULLNAT reply needs the connection entry one-packet scheduling does not keep)"
    )]
    OnePacketNeedsUdpDirect,
    /// `synproxy = true` or `l7` (named) on a service that is not TCP.
    #[error("{0} is for TCP services only: the SYN proxy completes TCP handshakes")]
    SynproxyTcpOnly(&'static str),
    /// `synproxy = true` or `l7` (`key`) on a service with a real that answers clients
    /// directly (`dr`, `tun`).
    #[error(
        "{key} needs reals with forward = \"nat\" or \"fullnat\": real {real} is forward = \
         \"{}\", which answers clients directly, so the director never sees its replies \
         and cannot shift their sequence numbers",
        mode_name(.forward)
    )]
    SynproxyDirectReal {
        /// `synproxy` or `l7`.
        key: &'static str,
        /// The real's address and port (`10.1.0.11:80`).
        real: String,
        /// Its forwarding mode.
        forward: ForwardMode,
    },
    /// `l7` not `http` nor `tls`.
    #[error("unknown l7 {0:?} (http, tls)")]
    UnknownL7(String),
    /// `l7` with `synproxy = false`.
    #[error("l7 turns the SYN proxy on: synproxy = false cannot go with it")]
    L7WithoutSynproxy,
    /// `l7_timeout`, a `[[service.rule]]` or a real's `group` on a service without `l7`.
    #[error("{0} needs l7 = \"http\" or \"tls\" on the service")]
    NeedsL7(&'static str),
    /// `l7_timeout` out of its range.
    #[error("l7_timeout must be a number of seconds from 0.1 to 60")]
    BadL7Timeout,
    /// More rules than a service may have.
    #[error("a service has at most {0} rules")]
    TooManyRules(usize),
    /// A rule with a condition of the other protocol, or none.
    #[error("{0}")]
    BadRule(&'static str),
    /// A host or server name pattern that is not one.
    #[error("{0}")]
    BadHostPattern(String),
    /// A `path_prefix` not starting with `/`.
    #[error("path_prefix must start with \"/\" (or be \"*\") and hold no spaces nor control characters, got {0:?}")]
    BadPathPrefix(String),
    /// A group name that is not letters, digits, `-`, `_`, `.` (1 to 32).
    #[error("group {0:?} must be 1 to 32 letters, digits, '-', '_' or '.'")]
    BadGroupName(String),
    /// A rule naming a group no real serves.
    #[error("rule sends to group {0:?}, which no real of the service has")]
    EmptyGroup(String),
    /// `synproxy_wscale` above the largest window scale.
    #[error("synproxy_wscale must be at most {0}")]
    SynproxyWscaleTooLarge(u8),
    /// `client_prefix_v4`/`_v6` longer than the address.
    #[error("the client prefix length must be at most {0}")]
    ClientPrefixTooLong(u8),
    /// `limit_clients` zero or above the most a worker tracks.
    #[error("limit_clients must be 1 to {0}")]
    BadLimitClients(u32),
    /// A `limit_overflow` value that is not one of the known ones.
    #[error("unknown limit_overflow {0:?} (admit, refuse)")]
    UnknownLimitOverflow(String),
    /// `announce_prepend` above the limit.
    #[error("announce_prepend must be at most {0}")]
    PrependTooLong(u8),
    /// A service reaching an endpoint by NAT, persistent per netmask wider than one
    /// address, on a director with several workers: its replies name only the client's
    /// address, so its clients are placed on workers by address and a netmask's clients
    /// could reach different workers, each with its own template.
    #[error(
        "persistence_mask wider than one address needs workers = 1 on a service with a \
         NAT real or sorry server (NAT replies are steered by client address)"
    )]
    NatPersistenceMask,
    /// A service prepends its AS but `[announce]` names no `asn`.
    #[error("announce_prepend needs the director's AS number: [announce] asn")]
    PrependWithoutAsn,
    /// A BGP community that is not `AS:VALUE` with both 0..=65535.
    #[error("community {0:?} must be AS:VALUE, each 0..=65535")]
    BadCommunity(String),
    /// A `kernel` interface name Linux would refuse.
    #[error("kernel interface name {0:?} must be 1 to 15 letters, digits, '-', '_' or '.'")]
    BadKernelInterface(String),
    /// Two ports mirrored by one kernel interface.
    #[error("kernel interface {0:?} already mirrors another port")]
    DuplicateKernelInterface(String),
    /// Two ports with one name.
    #[error("duplicate port name {name:?} (first at line {first_line})")]
    DuplicatePort {
        /// The name.
        name: String,
        /// Line of the first definition.
        first_line: usize,
    },
    /// More ports than a port index can count.
    #[error("too many ports (at most 65535)")]
    TooManyPorts,
    /// A port address written without its prefix length.
    #[error(
        "address {0} needs the prefix length of its segment, as in \"{0}/24\" (without one \
         the director cannot reach its neighbours there; write /32 or /128 for the address alone)"
    )]
    AddressWithoutPrefix(IpAddr),
    /// Two ports with addresses in one prefix: one connected route would replace the other.
    #[error(
        "prefix {prefix} is already connected to port {other:?}: two ports cannot share a \
         connected route (the second would replace the first)"
    )]
    PrefixOnTwoPorts {
        /// The shared prefix.
        prefix: IpNet,
        /// The port that has it first.
        other: String,
    },
    /// Two ports that open one DPDK device.
    #[error("device {name:?} is already opened by the port at line {first_line}")]
    DuplicateDevice {
        /// The DPDK device name (or PCI address).
        name: String,
        /// Line of the first port's device.
        first_line: usize,
    },
    /// Two ports attached to one kernel interface.
    #[error(
        "interface {iface:?} is already the port at line {first_line}'s: two ports on one \
         interface would each receive every frame"
    )]
    SharedInterface {
        /// The kernel interface.
        iface: String,
        /// Line of the first port's device.
        first_line: usize,
    },
    /// One director address on two ports, or twice on one.
    #[error("address {0} is configured twice")]
    DuplicatePortAddress(IpAddr),
    /// A route or neighbour names a port that is not configured.
    #[error("unknown port {0:?}")]
    UnknownPort(String),
    /// The next hop of a route is not in the prefix's address family.
    #[error("next hop {via} is not in the address family of prefix {prefix}")]
    RouteFamily {
        /// The route prefix.
        prefix: IpNet,
        /// The next hop.
        via: IpAddr,
    },
    /// A next hop on none of the route port's networks.
    #[error(
        "next hop {via} is on no network of port {port:?} (its addresses' prefixes and its \
         on-link routes): the director could not reach it"
    )]
    ViaNotOnLink {
        /// The next hop.
        via: IpAddr,
        /// The route's port.
        port: String,
    },
    /// Two routes for one prefix.
    #[error("duplicate route (first at line {first_line})")]
    DuplicateRoute {
        /// Line of the first definition.
        first_line: usize,
    },
    /// Two static entries for one (port, address).
    #[error("duplicate neighbour (first at line {first_line})")]
    DuplicateNeighbor {
        /// Line of the first definition.
        first_line: usize,
    },
    /// A `conn_reuse_mode` with bits other than 1 and 2.
    #[error("conn_reuse_mode {0} has unknown bits (expected 0..=3: bit 1 TIME_WAIT and CLOSE, bit 2 also FIN_WAIT)")]
    BadConnReuseMode(u8),
    /// The control socket path is empty.
    #[error("`socket` must not be empty")]
    EmptySocketPath,
    /// Not an `address:port` socket address.
    #[error("bad socket address {0:?} (expected \"127.0.0.1:9779\" or \"[::1]:9779\")")]
    BadSocketAddr(String),
    /// Not `tcp` or `udp`.
    #[error("unknown protocol {0:?} (expected \"tcp\" or \"udp\")")]
    UnknownProto(String),
    /// Not a scheduler rvs knows.
    #[error(
        "unknown scheduler {0:?} (known: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh conhash twos)"
    )]
    UnknownScheduler(String),
    /// Not a scheduler flag.
    #[error("unknown scheduler flag {0:?} (known: sh-port sh-fallback mh-port mh-fallback)")]
    UnknownFlag(String),
    /// A flag of another scheduler.
    #[error("scheduler flag {flag:?} does not apply to scheduler {scheduler:?}")]
    FlagNotForScheduler {
        /// The flag.
        flag: String,
        /// The service's scheduler.
        scheduler: &'static str,
    },
    /// A persistence mask that is not a netmask or prefix length for the VIP's family.
    #[error("bad persistence_mask {value:?}: {reason}")]
    BadPersistenceMask {
        /// The text.
        value: String,
        /// Why.
        reason: MaskError,
    },
    /// A probe without `port` of a mark service with a real on port 0 (the packet's port).
    #[error("a real keeps the packet's port (port 0), so the check needs its own `port`")]
    CheckNeedsPort,
    /// A mark outside 1..=16777215.
    #[error("mark {0} is out of range (expected 1..=16777215)")]
    BadMark(u32),
    /// A `[[mark]]` protocol other than tcp, udp and any.
    #[error("unknown protocol {0:?} (expected \"tcp\", \"udp\" or \"any\")")]
    UnknownMarkProto(String),
    /// A `[[mark]]` with an empty `dst`.
    #[error("`dst` must name at least one destination prefix")]
    MarkWithoutDst,
    /// Not `PORT` or `LOW-HIGH`.
    #[error("bad port range {0:?} (expected \"80\" or \"8000-8099\", low not above high)")]
    BadPortRange(String),
    /// Two identical `[[mark]]` rules.
    #[error("duplicate mark rule (first at line {first_line})")]
    DuplicateMarkRule {
        /// Line of the first definition.
        first_line: usize,
    },
    /// A service with neither `fwmark` nor all of `proto`, `vip` and `port`, or with both.
    #[error("a service has either `fwmark` or `proto`, `vip` and `port`{0}")]
    ServiceAddressing(&'static str),
    /// `ipv6` on a service that is not a mark service.
    #[error("`ipv6` applies to a mark service only (its VIP gives an addressed service's family)")]
    Ipv6WithoutFwmark,
    /// A VIP in a range that keys mark services.
    #[error("VIP {0} is in a range reserved for mark services (0.0.0.0/8, 100::/64)")]
    ReservedVip(IpAddr),
    /// A VIP no client can reach (unspecified, broadcast, multicast, loopback).
    #[error("VIP {vip} is {what}, which cannot be a service's address")]
    BadVip {
        /// The VIP.
        vip: IpAddr,
        /// What kind of address it is.
        what: &'static str,
    },
    /// A FULLNAT local address equal to the service's VIP.
    #[error(
        "local address {0} is the service's VIP: the connections to the reals need another \
         address of the director"
    )]
    LaddrIsVip(IpAddr),
    /// Two services with one protocol, VIP and port.
    #[error("duplicate service (first at line {first_line})")]
    DuplicateService {
        /// Line of the first definition.
        first_line: usize,
    },
    /// One local address listed twice.
    #[error("local address {0} is listed twice")]
    DuplicateLaddr(IpAddr),
    /// A local address in another family than the VIP.
    #[error("local address {0} is not in the VIP's address family")]
    LaddrFamily(IpAddr),
    /// Not one of nat, fullnat, dr, tun.
    #[error("unknown forward mode {0:?} (expected \"nat\", \"fullnat\", \"dr\" or \"tun\")")]
    UnknownForward(String),
    /// A `no_real` answer other than icmp, rst and drop.
    #[error("unknown no_real answer {0:?} (expected \"icmp\", \"rst\" or \"drop\")")]
    UnknownNoReal(String),
    /// An `idle` policy other than busy and backoff.
    #[error("unknown idle policy {0:?} (expected \"busy\" or \"backoff\")")]
    UnknownIdle(String),
    /// A port `rss` setting other than auto and off.
    #[error("unknown rss setting {0:?} (expected \"auto\" or \"off\")")]
    UnknownRss(String),
    /// A `[dataplane] frag_*` key out of its range.
    #[error("`{key}` {value} out of range: {min} to {max}")]
    FragOutOfRange {
        /// The key.
        key: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A port `mtu` out of its range (the lower bound is higher with IPv6 addresses).
    #[error("`mtu` {mtu} out of range: {min} to {max}{why}")]
    BadMtu {
        /// The value given.
        mtu: u32,
        /// Smallest allowed.
        min: u16,
        /// Largest allowed.
        max: u16,
        /// Why the lower bound is what it is, when IPv6 raises it.
        why: &'static str,
    },
    /// Two reals with one address and port in a service.
    #[error("duplicate real (first at line {first_line})")]
    DuplicateReal {
        /// Line of the first definition.
        first_line: usize,
    },
    /// A FULLNAT real in a service without local addresses.
    #[error("forward \"fullnat\" needs laddrs in the service")]
    FullnatNeedsLaddrs,
    /// A NAT, FULLNAT or DR real in another family than the VIP.
    #[error("forward {0:?} needs the real in the VIP's address family (only \"tun\" may mix)")]
    RealFamily(&'static str),
    /// DR and TUN cannot change the destination port.
    #[error("forward {forward:?} keeps the service port {service_port}; the real's port {real_port} differs")]
    PortChangeNotPossible {
        /// The forward mode.
        forward: &'static str,
        /// The real's port.
        real_port: u16,
        /// The service's port.
        service_port: u16,
    },
    /// A tunnel key on a real that is not `forward = "tun"`.
    #[error("`{0}` is for tunnel reals (forward = \"tun\")")]
    TunnelKeyNotTun(&'static str),
    /// Not one of ipip, gue, gre.
    #[error("unknown tun_type {0:?} (expected \"ipip\", \"gue\" or \"gre\")")]
    UnknownTunType(String),
    /// Not one of nocsum, csum, remcsum.
    #[error("unknown tun_csum {0:?} (expected \"nocsum\", \"csum\" or \"remcsum\")")]
    UnknownTunCsum(String),
    /// A GUE real without `tun_port`.
    #[error("tun_type \"gue\" needs `tun_port` (the real's GUE UDP port)")]
    TunPortMissing,
    /// `tun_port = 0`.
    #[error("`tun_port` must be 1 to 65535")]
    TunPortZero,
    /// `tun_port` with a tunnel type other than gue.
    #[error("`tun_port` does not apply to tun_type {:?}", .0.name())]
    TunPortNotForType(TunnelKind),
    /// A `tun_csum` value the tunnel type does not take.
    #[error("`tun_csum` {:?} does not apply to tun_type {:?}", csum.name(), tun_type.name())]
    TunCsumNotForType {
        /// The value.
        csum: TunnelCsum,
        /// The tunnel type.
        tun_type: TunnelKind,
    },
    /// Weight above ipvsadm's limit.
    #[error("weight {0} is above the limit 65535")]
    WeightTooLarge(u32),
    /// `upper` below `lower`.
    #[error("upper threshold {upper} is below lower threshold {lower}")]
    UpperBelowLower {
        /// `upper`.
        upper: u32,
        /// `lower`.
        lower: u32,
    },
    /// A check kind other than tcp, http, udp, misc.
    #[error("unknown check kind {0:?} (tcp, http, udp, misc)")]
    UnknownCheckKind(String),
    /// An `on_fail` other than remove, inhibit.
    #[error("unknown on_fail {0:?} (remove, inhibit)")]
    UnknownOnFail(String),
    /// A duration that is not a number of seconds in range.
    #[error("`{0}` must be a number of seconds from 0.01 to 86400")]
    BadSeconds(&'static str),
    /// A `[ctl] shutdown_timeout` out of its range.
    #[error("`shutdown_timeout` must be a number of seconds from 0.1 to 60")]
    BadShutdownTimeout,
    /// A check timeout longer than its interval.
    #[error("check timeout is longer than the interval")]
    TimeoutAboveInterval,
    /// An HTTP path not starting with `/` or holding blanks or control characters.
    #[error("http path {0:?} must start with / and hold no blank or control character")]
    BadPath(String),
    /// `expect` is not `[low, high]` within 100..=599.
    #[error("expect must be [low, high] with 100 <= low <= high <= 599")]
    BadExpect,
    /// A misc check without a command.
    #[error("check kind \"misc\" needs `command` (argv, at least the program)")]
    MissingCommand,
    /// A key that belongs to another check kind.
    #[error("`{key}` is not a key of check kind {kind:?}")]
    KeyNotForKind {
        /// The key.
        key: &'static str,
        /// The check's kind.
        kind: &'static str,
    },
    /// A sorry server that is not `ip:port`.
    #[error("bad sorry server {0:?}: expected ip:port ([v6]:port)")]
    BadSorry(String),
    /// A sorry server outside the VIP's family.
    #[error("sorry server {0} is not in the VIP's address family")]
    SorryFamily(String),
    /// A sorry server that is one of the service's reals.
    #[error("sorry server {0} is one of the service's reals")]
    SorryIsReal(String),
    /// A sorry server whose port differs from the service's under dr or tun.
    #[error("sorry server: forward {forward:?} keeps the service port {service_port}")]
    SorryPort {
        /// The reals' forward mode.
        forward: &'static str,
        /// The service's port.
        service_port: u16,
    },
    /// `[ha] vrid` is 0.
    #[error("vrid must be 1..=255")]
    HaVrid,
    /// `[ha] priority` outside 1..=254 (255 is for an address owner, which rvs never is).
    #[error("priority {0} is outside 1..=254")]
    HaPriority(u8),
    /// `[ha] advert_interval` not a multiple of 0.01 s within 0.01..=40.95.
    #[error("advert_interval {0} must be 0.01..=40.95 seconds in steps of 0.01")]
    HaAdvertInterval(String),
    /// The `[ha]` port has no IPv4 address (other than floating ones) to send adverts from.
    #[error("port {0:?} has no IPv4 address of its own (not floating) to send VRRP adverts from")]
    HaPortWithoutIpv4(String),
    /// An IPv6 VRRP peer (rvs speaks VRRPv3 over IPv4 only).
    #[error("peer {0}: VRRP over IPv6 is not supported; peers are IPv4")]
    HaPeerFamily(IpAddr),
    /// A peer that is one of the director's addresses, a duplicate, not unicast, or of
    /// another family than the sync address.
    #[error(
        "peer {0} must be another director's unicast address, once, in the family of the source"
    )]
    HaBadPeer(IpAddr),
    /// A floating address that is not one of the ports' addresses (or listed twice).
    #[error("floating address {0:?} must be one of the [[port]] addresses, listed once")]
    HaFloating(String),
    /// The sync source address is not an address of the sync port.
    #[error("address {0} is not an address of port {1:?}")]
    HaSyncAddress(IpAddr, String),
    /// An IPv6 sync address (connection sync runs over IPv4; it carries IPv6 connections).
    #[error("address {0}: connection sync runs over IPv4 (it carries IPv6 connections too)")]
    HaSyncFamily(IpAddr),
    /// A `[ha] garp_master_*repeat` outside 1..=its maximum.
    #[error("{0} {1} must be 1..={2}")]
    HaGarpRepeat(&'static str, u8, u8),
    /// A `[ha] garp_master_delay` or `garp_master_refresh` above its maximum.
    #[error("{0} {1} must be 0..={2} seconds")]
    HaGarpSeconds(&'static str, u64, u64),
    /// `[ha.sync] refresh` outside 1..=3600 seconds.
    #[error("refresh {0} must be 1..=3600 seconds")]
    HaSyncRefresh(u64),
    /// `[ha.sync]` without peers.
    #[error("peers must list at least one backup director")]
    HaSyncNoPeers,
    /// `[ha.sync] key_file` cannot serve as the sync key.
    #[error("key_file {file:?}: {problem}")]
    HaSyncKeyFile {
        /// The file, as resolved.
        file: Box<str>,
        /// Why.
        problem: KeyFileProblem,
    },
    /// `[ha.sync]` with neither `key_file` nor `insecure = true`.
    #[error(
        "no key_file: without a key, anyone who can send a UDP datagram to {address}:{udp_port}          could install connections on this director. Set key_file to a file of at least          {MIN_SYNC_KEY_LEN} secret bytes (mode 0600, the same key on every director), or set          insecure = true to run connection sync without authentication"
    )]
    HaSyncNoKey {
        /// The sync address.
        address: IpAddr,
        /// The sync UDP port.
        udp_port: u16,
    },
    /// `[ha.sync]` with both `key_file` and `insecure = true`.
    #[error("key_file and insecure = true contradict each other: keep one")]
    HaSyncKeyAndInsecure,
}
