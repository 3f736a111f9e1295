//! A service's guard: its allow and deny lists and its limits (`allow`, `deny`,
//! `acl_drop_established`, `client_prefix_v4`/`_v6`, `limit_*`; see `docs/config.md`).

use std::net::IpAddr;

use super::checker::Checker;
use super::error::{ConfigError, Problem};
use super::net::{mask_addr, IpNet};
use super::raw::RawService;

/// IPv4 clients are told apart by their whole address unless configured.
pub const DEFAULT_CLIENT_PREFIX_V4: u8 = 32;
/// IPv6 clients are told apart by their /64 unless configured (one host's usual share).
pub const DEFAULT_CLIENT_PREFIX_V6: u8 = 64;
/// Clients each worker tracks per limited service unless configured (`limit_clients`).
pub const DEFAULT_LIMIT_CLIENTS: u32 = 16384;
/// The most clients a worker may track per service (`limit_clients`).
pub const MAX_LIMIT_CLIENTS: u32 = 1 << 22;

/// What a worker does with a new connection of a client its limit table has no room for
/// (`limit_overflow`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LimitOverflow {
    /// Admit it, unlimited (fail open).
    #[default]
    Admit,
    /// Refuse it, counted as rate limited (fail closed).
    Refuse,
}

impl LimitOverflow {
    /// Every value with its name in the file.
    pub const NAMES: [(&'static str, LimitOverflow); 2] = [
        ("admit", LimitOverflow::Admit),
        ("refuse", LimitOverflow::Refuse),
    ];

    /// The name the file uses.
    pub fn name(self) -> &'static str {
        match self {
            LimitOverflow::Admit => "admit",
            LimitOverflow::Refuse => "refuse",
        }
    }
}

/// A service's allow and deny lists and its limits. The default guards nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Only clients in one of these prefixes may connect (empty: every client); host
    /// bits cleared.
    pub allow: Vec<IpNet>,
    /// Clients in one of these prefixes may not connect, whatever `allow` says; host bits
    /// cleared.
    pub deny: Vec<IpNet>,
    /// A change of the lists also ends the established connections they now refuse.
    pub acl_drop_established: bool,
    /// What counts as one IPv4 client for the limits: its address masked to this length.
    pub client_prefix_v4: u8,
    /// What counts as one IPv6 client for the limits.
    pub client_prefix_v6: u8,
    /// New connections per second per client (0: no limit).
    pub limit_new_per_client: u32,
    /// Concurrent connections per client (0: no limit).
    pub limit_conns_per_client: u32,
    /// New connections per second for the whole service (0: no limit).
    pub limit_new: u32,
    /// Answer a refused TCP SYN with a RST (else it is dropped).
    pub limit_reset: bool,
    /// Clients each worker tracks for the per-client limits.
    pub limit_clients: u32,
    /// What happens to a client the table has no room for.
    pub limit_overflow: LimitOverflow,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            acl_drop_established: false,
            client_prefix_v4: DEFAULT_CLIENT_PREFIX_V4,
            client_prefix_v6: DEFAULT_CLIENT_PREFIX_V6,
            limit_new_per_client: 0,
            limit_conns_per_client: 0,
            limit_new: 0,
            limit_reset: false,
            limit_clients: DEFAULT_LIMIT_CLIENTS,
            limit_overflow: LimitOverflow::Admit,
        }
    }
}

impl GuardConfig {
    /// Whether the service has an allow or deny list.
    pub fn has_acl(&self) -> bool {
        !self.allow.is_empty() || !self.deny.is_empty()
    }

    /// Whether a per-client limit is set (the worker then tracks clients).
    pub fn limits_clients(&self) -> bool {
        self.limit_new_per_client > 0 || self.limit_conns_per_client > 0
    }

    /// Whether any limit is set.
    pub fn has_limits(&self) -> bool {
        self.limits_clients() || self.limit_new > 0
    }

    /// The client `addr` counts as: masked by the prefix of its family.
    pub fn client_of(&self, addr: IpAddr) -> IpAddr {
        let len = if addr.is_ipv4() {
            self.client_prefix_v4
        } else {
            self.client_prefix_v6
        };
        mask_addr(addr, len)
    }
}

/// Read the guard keys of `s`.
pub(super) fn guard(
    s: &RawService,
    context: &str,
    ck: &Checker<'_>,
) -> Result<GuardConfig, ConfigError> {
    let mut g = GuardConfig::default();
    for a in &s.allow {
        g.allow.push(ck.net(a, context)?.network());
    }
    for d in &s.deny {
        g.deny.push(ck.net(d, context)?.network());
    }
    g.acl_drop_established = s.acl_drop_established.unwrap_or(false);
    if let Some(p) = &s.client_prefix_v4 {
        if *p.get_ref() > 32 {
            return Err(ck.err(p.span(), context, Problem::ClientPrefixTooLong(32)));
        }
        g.client_prefix_v4 = *p.get_ref();
    }
    if let Some(p) = &s.client_prefix_v6 {
        if *p.get_ref() > 128 {
            return Err(ck.err(p.span(), context, Problem::ClientPrefixTooLong(128)));
        }
        g.client_prefix_v6 = *p.get_ref();
    }
    g.limit_new_per_client = s.limit_new_per_client.unwrap_or(0);
    g.limit_conns_per_client = s.limit_conns_per_client.unwrap_or(0);
    g.limit_new = s.limit_new.unwrap_or(0);
    g.limit_reset = s.limit_reset.unwrap_or(false);
    if let Some(n) = &s.limit_clients {
        if *n.get_ref() == 0 || *n.get_ref() > MAX_LIMIT_CLIENTS {
            return Err(ck.err(
                n.span(),
                context,
                Problem::BadLimitClients(MAX_LIMIT_CLIENTS),
            ));
        }
        g.limit_clients = *n.get_ref();
    }
    if let Some(o) = &s.limit_overflow {
        g.limit_overflow = LimitOverflow::NAMES
            .iter()
            .find(|(name, _)| name == o.get_ref())
            .map(|&(_, v)| v)
            .ok_or_else(|| {
                ck.err(
                    o.span(),
                    context,
                    Problem::UnknownLimitOverflow(o.get_ref().clone()),
                )
            })?;
    }
    Ok(g)
}
