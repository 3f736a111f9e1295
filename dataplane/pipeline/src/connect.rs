//! Find the connection a packet belongs to, or make one: the part of the pipeline between
//! parsing and rewriting, independent of packet layout.
//!
//! A miss toward a service opens a connection when the packet may open one (a TCP SYN
//! without ACK or RST, any UDP datagram): the persistence template is consulted first,
//! then the scheduler; FULLNAT takes a local port from the worker's pool; the connection
//! and, for persistent services, the template are inserted into the worker's table. A
//! datagram of a one-packet service gets a connection that lives only while the worker
//! forwards it ([`Connected::OnePacket`]), as IPVS frees its one-packet connections.
//!
//! A hit from the client side is first held against `[behaviour]` (IPVS's sysctls, see
//! [`rvs_config`]): a new SYN on a closing connection expires it and is scheduled
//! afresh (`conn_reuse_mode`); a connection whose real left the current snapshot is
//! expired with its packet (`expire_nodest_conn`). A persistence template whose real has
//! weight 0 is given up at its next use (`expire_quiescent_template`).

use std::net::{IpAddr, SocketAddr};

use hashbrown::HashSet;

use rvs_conntrack::{
    ConnId, ConnKey, ConnTable, Direction, ForwardMode, InsertError, KeyHash, NewConn, Proto,
    TcpFlags, TemplateKey,
};
use rvs_dpdk_burst::prefetch;
use rvs_schedulers::{Flow, SchedState};

use crate::counters::WorkerCounters;
use crate::guard::{Admission, Limiter};
use crate::ha::HaLink;
use crate::laddr::LocalPorts;
use crate::service::{Service, Services};
use rvs_config::{Behaviour, ClientAddress};
use rvs_packet::drop::DropReason;

/// The per-worker state the connection path needs, borrowed from the worker.
pub struct ConnectCtx<'a> {
    /// The services of the current snapshot.
    pub services: &'a Services,
    /// Per-service scheduler state, parallel to `services.list()`.
    pub sched_states: &'a mut [SchedState],
    /// Per content-switching group scheduler state ([`Services::groups`]).
    pub group_states: &'a mut [SchedState],
    /// The worker's connection table.
    pub conns: &'a mut ConnTable,
    /// The worker's FULLNAT local ports.
    pub lports: &'a mut LocalPorts,
    /// Round-robin cursor over a service's local addresses.
    pub laddr_cursor: &'a mut usize,
    /// IPVS's sysctls of the current snapshot.
    pub behaviour: Behaviour,
    /// The worker's counters (connections expired, reused, ...).
    pub counters: &'a mut WorkerCounters,
    /// The director's port addresses (no connection may come from one).
    pub own: &'a HashSet<IpAddr>,
    /// Where a connection removed here (port reuse, its real gone, evicted) is
    /// reported: the `[ha.sync]` link while this director is master, else `None`.
    pub expiries: Option<&'a HaLink>,
    /// Per-service limits on this worker, parallel to `services.list()`.
    pub limiters: &'a mut [Option<Box<Limiter>>],
    /// The number of workers (the service's rate is split over them).
    pub workers: u16,
}

/// A packet's tuple and what the state machine needs of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketTuple {
    /// The tuple as on the wire.
    pub key: ConnKey,
    /// TCP flags (all false for UDP/ICMP).
    pub flags: TcpFlags,
    /// The hash of `key` in the worker's connection table ([`ConnTable::hash`]).
    pub hash: KeyHash,
}

/// What the connection path decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connected {
    /// An existing connection matched.
    Existing(ConnId, Direction),
    /// A new connection was made (its direction is `Original`).
    New(ConnId),
    /// A connection made for this one datagram of a one-packet service (`one_packet`,
    /// IPVS's `IP_VS_CONN_F_ONE_PACKET`): the worker forwards the datagram and removes
    /// the entry with it, so the flow's next datagram is scheduled afresh.
    OnePacket(ConnId),
    /// No connection: a SYN or an ACK toward a SYN-proxied service (`synproxy`), for
    /// the worker to answer with a cookie or to check the cookie of
    /// ([`crate::synproxy`]), then [`ConnectCtx::open_by_cookie`]. Carries the service's
    /// `client_address` (the room the cookie SYN-ACK's MSS leaves) and
    /// `synproxy_wscale`.
    Cookie(ClientAddress, u8),
}

impl Connected {
    /// The connection and the packet's direction (`None` for [`Connected::Cookie`]).
    pub fn id_dir(self) -> Option<(ConnId, Direction)> {
        match self {
            Connected::Existing(id, dir) => Some((id, dir)),
            Connected::New(id) | Connected::OnePacket(id) => Some((id, Direction::Original)),
            Connected::Cookie(..) => None,
        }
    }
}

/// True for a source address no host can send from: unspecified, loopback, multicast,
/// broadcast and reserved (IPv4 `0/8`, `127/8`, `224/4`, `240/4`; IPv6 `::`, `::1`,
/// `ff00::/8`, and IPv4-mapped martians).
pub fn martian(src: IpAddr) -> bool {
    match src {
        IpAddr::V4(a) => matches!(a.octets()[0], 0 | 127 | 224..=255),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => martian(IpAddr::V4(v4)),
            None => a.is_unspecified() || a.is_loopback() || a.is_multicast(),
        },
    }
}

/// Whether a packet that matches no connection may open one.
fn may_open(t: &PacketTuple) -> bool {
    match t.key.proto {
        Proto::Tcp => t.flags.syn && !t.flags.ack && !t.flags.rst,
        Proto::Udp => true,
        Proto::Icmp => false,
    }
}

impl ConnectCtx<'_> {
    /// Look the packet up; on a miss toward a service, schedule and insert a connection.
    pub fn connect(&mut self, t: &PacketTuple, now_ms: u64) -> Result<Connected, DropReason> {
        if let Some((id, dir)) = self.conns.lookup_hashed(&t.key, t.hash) {
            if let Some(existing) = self.existing(id, dir, t)? {
                return Ok(existing);
            }
        }
        self.open(t, now_ms, false, None)
    }

    /// Open the connection of a client SYN made from an ACK whose SYN cookie was valid
    /// ([`crate::synproxy::syn_from_ack`]): the SYN proxy's gate is passed.
    pub fn open_by_cookie(
        &mut self,
        t: &PacketTuple,
        now_ms: u64,
    ) -> Result<Connected, DropReason> {
        self.open(t, now_ms, true, None)
    }

    /// Open the connection of a content-switching service's client SYN, made from its
    /// cookie ACK once its first bytes decided: the real is one of `group`'s
    /// ([`crate::l7::L7Plan::groups`]).
    pub fn open_in_group(
        &mut self,
        t: &PacketTuple,
        now_ms: u64,
        group: usize,
    ) -> Result<Connected, DropReason> {
        self.open(t, now_ms, true, Some(group))
    }

    /// A miss: schedule and insert a connection for a packet that may open one.
    fn open(
        &mut self,
        t: &PacketTuple,
        now_ms: u64,
        cookie_passed: bool,
        group: Option<usize>,
    ) -> Result<Connected, DropReason> {
        let services = self.services;
        let Some((idx, svc)) = services.resolve(t.key.proto, t.key.src, t.key.dst, t.key.dport)
        else {
            return Err(
                if services.is_vip(t.key.dst) || services.marks_cover(t.key.dst) {
                    DropReason::NoService
                } else {
                    DropReason::NotForUs
                },
            );
        };
        if svc.config.synproxy && !cookie_passed {
            self.check_source(t.key.src)?;
            if svc.acl.refuses(t.key.src) {
                return Err(DropReason::AclDenied);
            }
            let f = t.flags;
            if f.syn && !f.ack && !svc.has_usable_real() {
                // No cookie for a handshake no real could finish.
                return Err(DropReason::NoReal);
            }
            // A content-switching service's worker also takes the RST of a connection
            // still waiting for its first bytes (it frees the connection's place).
            let waiting_rst = f.rst && !f.syn && svc.l7.is_some();
            return if (!f.rst && f.syn != f.ack) || waiting_rst {
                Ok(Connected::Cookie(
                    svc.config.client_address,
                    svc.config.synproxy_wscale,
                ))
            } else {
                Err(DropReason::NoConnection)
            };
        }
        if !may_open(t) && !self.sloppy_open(t) {
            return Err(DropReason::NoConnection);
        }
        self.check_source(t.key.src)?;
        let place = self.guard(idx, svc, t.key.src, now_ms)?;
        let (real_idx, template) = self.choose_real(idx, svc, t, now_ms, group)?;
        let real = &svc.sched.reals()[real_idx];
        let real_port = crate::service::real_port(real.port, t.key.dport);
        let mode = svc.modes[real_idx];
        let local = if mode == ForwardMode::FullNat {
            let start = *self.laddr_cursor;
            *self.laddr_cursor = self.laddr_cursor.wrapping_add(1);
            let (addr, port) = self
                .lports
                .alloc(&svc.laddrs, start, (real.addr, real_port))
                .ok_or(DropReason::NoLocalPort)?;
            Some(SocketAddr::new(addr, port))
        } else {
            None
        };
        let mut new = NewConn {
            proto: t.key.proto,
            client: SocketAddr::new(t.key.src, t.key.sport),
            vip: SocketAddr::new(t.key.dst, t.key.dport),
            local,
            real: SocketAddr::new(real.addr, real_port),
            mode,
            service: svc.id,
            dest: real.id,
            template: None,
        };
        // The reply key's bucket is a cold miss that no burst stage covers (its tuple is
        // known only now): ask for it before the bookkeeping that precedes its probe.
        let reply_hash = self.conns.hash(&new.reply_key());
        prefetch(self.conns.bucket_of(reply_hash));
        // A new template goes in first, so the connection is bound to it and keeps it
        // alive as long as it lives (IPVS: the template controls its connections).
        // One that cannot be stored only costs persistence for this client's next ones.
        new.template = match template {
            Some((key, false)) => self
                .conns
                .template_insert(key, real.id, svc.persistence_s, now_ms)
                .ok()
                .map(|()| key),
            Some((key, true)) => Some(key),
            None => None,
        };
        // `open` runs only after the lookup of `t.key` missed (or found a connection that
        // `existing` just removed), and nothing was inserted since.
        let mut inserted = self
            .conns
            .insert_after_miss(new, t.hash, reply_hash, now_ms);
        if matches!(inserted, Err(InsertError::TableFull)) && self.behaviour.table_full_evict {
            let (lports, expiries) = (&mut *self.lports, self.expiries);
            let limiters = &mut *self.limiters;
            let evicted = self.conns.evict_embryonic(|c| {
                if let Some(l) = c.local {
                    lports.release(l.ip(), l.port());
                }
                crate::guard::conn_ended(services, limiters, c);
                if let Some(link) = expiries {
                    link.push_expiry(c);
                }
            });
            if evicted {
                self.counters.embryonic_evicted += 1;
                inserted = self
                    .conns
                    .insert_after_miss(new, t.hash, reply_hash, now_ms);
            }
        }
        let id = match inserted {
            Ok(id) => id,
            Err(e) => {
                if let Some(l) = local {
                    self.lports.release(l.ip(), l.port());
                }
                return Err(match e {
                    InsertError::TableFull => DropReason::TableFull,
                    InsertError::Exists => DropReason::NoConnection,
                });
            }
        };
        if mode == ForwardMode::FullNat {
            crate::client_addr::init(self.conns, id, svc.config.client_address);
        }
        if let (Some(p), Some(Some(l))) = (place, self.limiters.get_mut(idx)) {
            l.opened(p);
        }
        Ok(if svc.config.one_packet && t.key.proto == Proto::Udp {
            Connected::OnePacket(id)
        } else {
            Connected::New(id)
        })
    }

    /// The service's guard on a new connection from `src`: its allow and deny lists,
    /// then its limits. `Ok` with the client's place in the limit table when its open
    /// connections are counted.
    #[inline]
    fn guard(
        &mut self,
        idx: usize,
        svc: &Service,
        src: IpAddr,
        now_ms: u64,
    ) -> Result<Option<u32>, DropReason> {
        if svc.acl.refuses(src) {
            return Err(DropReason::AclDenied);
        }
        let Some(Some(limiter)) = self.limiters.get_mut(idx) else {
            return Ok(None);
        };
        let g = &svc.config.guard;
        let rate = crate::share::worker_share(g.limit_new, self.workers);
        match limiter.admit(g, rate, g.client_of(src), now_ms) {
            Admission::Admitted(place) => Ok(place),
            Admission::Overflowed(admitted) => {
                self.counters.limit_table_full += 1;
                if admitted {
                    Ok(None)
                } else {
                    Err(DropReason::RateLimited)
                }
            }
            Admission::Refused(reason) => Err(reason),
        }
    }

    /// With `acl_drop_established`, a client packet of an established connection of a
    /// service whose lists now refuse its client ends the connection.
    #[inline]
    fn acl_still_admits(&self, t: &PacketTuple) -> bool {
        if !self.services.any_acl_drop_established() {
            return true;
        }
        match self
            .services
            .resolve(t.key.proto, t.key.src, t.key.dst, t.key.dport)
        {
            Some((_, svc)) if svc.config.guard.acl_drop_established => !svc.acl.refuses(t.key.src),
            _ => true,
        }
    }

    /// `sloppy_tcp`: any TCP segment but a RST opens a connection (IPVS's sysctl of that
    /// name), for flows that another director started, as when routers spread a VIP's
    /// traffic over several directors and the spread changes. Used with a scheduler that
    /// every director computes alike (mh, sh), the flow lands on the real it had.
    fn sloppy_open(&self, t: &PacketTuple) -> bool {
        self.behaviour.sloppy_tcp && t.key.proto == Proto::Tcp && !t.flags.rst
    }

    /// A packet found connection `id`: use it (`Some`), or, when `[behaviour]` says so,
    /// expire it and schedule the packet afresh (`None`: port reuse) or drop the packet
    /// with it (the real was removed). Only packets from the client are held back.
    fn existing(
        &mut self,
        id: ConnId,
        dir: Direction,
        t: &PacketTuple,
    ) -> Result<Option<Connected>, DropReason> {
        if dir == Direction::Reply {
            return Ok(Some(Connected::Existing(id, dir)));
        }
        let mode = self.behaviour.conn_reuse_mode;
        if mode != 0
            && t.key.proto == Proto::Tcp
            && may_open(t)
            && self
                .conns
                .gives_way_to_new_syn(id, mode & Behaviour::REUSE_FIN_WAIT != 0)
        {
            self.expire_now(id);
            self.counters.conns_reused += 1;
            return Ok(None);
        }
        if !self.acl_still_admits(t) {
            self.expire_now(id);
            return Err(DropReason::AclDenied);
        }
        if self.behaviour.expire_nodest_conn && !self.services.has_dest(self.conns.view(id).dest())
        {
            self.expire_now(id);
            self.counters.nodest_expired += 1;
            return Err(DropReason::RealRemoved);
        }
        Ok(Some(Connected::Existing(id, dir)))
    }

    /// Refuse a connection from an address no client can have (see [`martian`]) or
    /// from the director's own addresses. Only new connections are checked: a
    /// connection's packets match it by the addresses it was checked with.
    fn check_source(&self, src: IpAddr) -> Result<(), DropReason> {
        if martian(src) {
            return Err(DropReason::MartianSource);
        }
        if self.own.contains(&src) || self.services.is_vip(src) || self.services.is_laddr(src) {
            return Err(DropReason::OwnSource);
        }
        Ok(())
    }

    /// Remove connection `id` at once, its FULLNAT local port back to the pool, and
    /// tell the backups (master under `[ha.sync]`).
    fn expire_now(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(id) {
            if let Some(l) = c.local {
                self.lports.release(l.ip(), l.port());
            }
            if let Some(link) = self.expiries {
                link.push_expiry(&c);
            }
            crate::guard::conn_ended(self.services, self.limiters, &c);
            self.counters.conns_expired += 1;
        }
    }

    /// The real for a new connection (among `group`'s reals for a content-switching
    /// service), and the persistence template (with whether it already existed). A
    /// group's templates are its own (their port is the group's number plus one).
    fn choose_real(
        &mut self,
        idx: usize,
        svc: &Service,
        t: &PacketTuple,
        now_ms: u64,
        group: Option<usize>,
    ) -> Result<(usize, Option<(TemplateKey, bool)>), DropReason> {
        let in_group = group.and_then(|g| svc.l7.as_ref().map(|p| (p, g)));
        let template = (svc.persistence_s > 0).then(|| TemplateKey {
            service: svc.id,
            client: svc.mask_client(t.key.src),
            port: in_group.map_or(0, |(_, g)| g as u16 + 1),
        });
        if let Some(key) = template {
            let known = self
                .conns
                .template_lookup(&key, now_ms)
                .and_then(|dest| svc.real_index(dest))
                .filter(|i| {
                    in_group.map_or(true, |(p, g)| {
                        p.groups.get(g).is_some_and(|gr| gr.reals.contains(i))
                    })
                });
            if let Some(i) = known {
                let real = &svc.sched.reals()[i];
                if self.behaviour.expire_quiescent_template && real.weight == 0 {
                    // Scheduled afresh below; the template is pointed at the new pick.
                    self.counters.quiescent_templates_expired += 1;
                } else if real.available {
                    return Ok((i, Some((key, true))));
                }
            }
        }
        let flow = Flow {
            client: t.key.src,
            client_port: t.key.sport,
            dest: t.key.dst,
            dest_port: t.key.dport,
            now_ms,
        };
        let picked = match in_group {
            Some((plan, g)) => {
                let group = plan.groups.get(g).ok_or(DropReason::NoReal)?;
                let state = self
                    .group_states
                    .get_mut(plan.state_base + g)
                    .ok_or(DropReason::NoReal)?;
                let i = group
                    .sched
                    .pick(state, &flow, self.conns.loads())
                    .ok_or(DropReason::NoReal)?;
                group.reals[i]
            }
            None => svc
                .sched
                .pick(&mut self.sched_states[idx], &flow, self.conns.loads())
                .ok_or(DropReason::NoReal)?,
        };
        Ok((picked, template.map(|k| (k, false))))
    }
}
