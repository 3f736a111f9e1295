//! Virtual services as the workers see them: an immutable table built on the control core.
//!
//! Services and reals keep stable ids across rebuilds ([`IdRegistry`]), so a connection
//! made under one table is still counted against the same real under the next.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use rvs_conntrack::{DestId, ForwardMode, Proto, ServiceId};
use rvs_schedulers::{BuildError, RealServer, Scheduler};

use crate::draining::Draining;
use crate::guard::prefix_set::RefusedSet;
use crate::mark::MarkTable;
use crate::overlay::{sorry_in_use, Overlay, RealEffect};
use rvs_config::{mask_addr, MarkRule, ServiceConfig, Tunnel};

/// Hands out stable service and real ids, remembered across rebuilds while they are
/// configured or referenced, and reused once neither ([`IdRegistry::retire`]).
///
/// Connections, persistence templates and every worker's per-id tables (traffic
/// counters, loads) are indexed by these ids, so an id goes back to the free list only
/// when no snapshot configures it and no connection or template points at it; a real
/// re-added before then gets its old id back, counts included (as IPVS takes a removed
/// real back from its trash). Ids are handed out lowest first, so the tables indexed by
/// them stay as large as the most ids held at once, however many reals come and go.
#[derive(Debug, Default)]
pub struct IdRegistry {
    services: HashMap<(Proto, SocketAddr), ServiceId>,
    dests: HashMap<(ServiceId, SocketAddr), DestId>,
    free_services: BTreeSet<ServiceId>,
    free_dests: BTreeSet<DestId>,
    /// One past the highest id ever handed out, of each kind.
    next: (ServiceId, DestId),
}

/// Ids an [`IdRegistry::retire`] freed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Service ids.
    pub services: Vec<ServiceId>,
    /// Real ids.
    pub dests: Vec<DestId>,
}

impl IdRegistry {
    /// The id of service `(proto, vip)`: its own while it is held, else the lowest free.
    pub fn service(&mut self, proto: Proto, vip: SocketAddr) -> ServiceId {
        if let Some(&id) = self.services.get(&(proto, vip)) {
            return id;
        }
        let id = take_lowest(&mut self.free_services, &mut self.next.0);
        self.services.insert((proto, vip), id);
        id
    }

    /// The id of real `addr` in service `svc`: its own while it is held, else the lowest
    /// free.
    pub fn dest(&mut self, svc: ServiceId, addr: SocketAddr) -> DestId {
        if let Some(&id) = self.dests.get(&(svc, addr)) {
            return id;
        }
        let id = take_lowest(&mut self.free_dests, &mut self.next.1);
        self.dests.insert((svc, addr), id);
        id
    }

    /// Free every real id that `configured` does not use and `held` says no connection
    /// or template points at, then every service id that `configured` does not use and
    /// that no real id left belongs to. `held` must see every connection made under an
    /// earlier configuration (the control core asks it of workers that published after
    /// taking `configured`).
    pub fn retire(&mut self, configured: &Services, held: impl Fn(DestId) -> bool) -> Retired {
        let (mut in_use, mut used_dests) = (HashSet::new(), HashSet::new());
        for svc in configured.list() {
            in_use.insert(svc.id);
            used_dests.extend(svc.sched.reals().iter().map(|r| r.id));
        }
        let mut retired = Retired::default();
        self.dests.retain(|_, id| {
            let keep = used_dests.contains(id) || held(*id);
            if !keep {
                retired.dests.push(*id);
            }
            keep
        });
        let owners: HashSet<ServiceId> = self.dests.keys().map(|(svc, _)| *svc).collect();
        self.services.retain(|_, id| {
            let keep = in_use.contains(id) || owners.contains(id);
            if !keep {
                retired.services.push(*id);
            }
            keep
        });
        retired.dests.sort_unstable();
        retired.services.sort_unstable();
        self.free_dests.extend(&retired.dests);
        self.free_services.extend(&retired.services);
        retired
    }

    /// Ids held now (services, reals).
    pub fn held(&self) -> (usize, usize) {
        (self.services.len(), self.dests.len())
    }

    /// One past the highest id ever handed out (services, reals): what tables indexed
    /// by them may need.
    pub fn bounds(&self) -> (usize, usize) {
        (self.next.0 as usize, self.next.1 as usize)
    }
}

/// The lowest id of `free`, or `next` (then advanced). Service and real ids are both
/// `u32`.
fn take_lowest(free: &mut BTreeSet<u32>, next: &mut u32) -> u32 {
    if let Some(id) = free.pop_first() {
        return id;
    }
    let id = *next;
    *next += 1;
    id
}

/// One service, built.
#[derive(Debug)]
pub struct Service {
    /// Stable id.
    pub id: ServiceId,
    /// TCP or UDP.
    pub proto: Proto,
    /// VIP and port.
    pub vip: SocketAddr,
    /// The scheduler table; its `reals()` are the service's reals in configuration order
    /// as health checking leaves them, then the sorry server while it is in use.
    pub sched: Arc<dyn Scheduler>,
    /// Forwarding mode of each real, parallel to `sched.reals()`.
    pub modes: Vec<ForwardMode>,
    /// Tunnel of each real, parallel to `sched.reals()` (what a `tun` real receives).
    pub tunnels: Vec<Tunnel>,
    /// Persistence timeout in seconds, 0 = off.
    pub persistence_s: u32,
    /// Persistence netmask as a prefix length.
    pub persistence_prefix: u8,
    /// FULLNAT local addresses.
    pub laddrs: Vec<IpAddr>,
    /// The addresses its allow and deny lists refuse, compiled (shared with the
    /// previous table while the lists are unchanged).
    pub acl: Arc<RefusedSet>,
    /// The configuration it was built from.
    pub config: ServiceConfig,
    /// Content switching's groups and rules (`l7`).
    pub l7: Option<crate::l7::L7Plan>,
}

impl Service {
    /// The client address with the persistence mask applied.
    pub fn mask_client(&self, client: IpAddr) -> IpAddr {
        mask_addr(client, self.persistence_prefix)
    }

    /// Whether a real could take a new connection: one is available with a weight above
    /// zero (a scheduler may still refuse them all, overloaded).
    pub fn has_usable_real(&self) -> bool {
        self.sched
            .reals()
            .iter()
            .any(|r| r.available && r.weight > 0)
    }

    /// The sorry server of its health check, when it has one.
    pub fn sorry(&self) -> Option<SocketAddr> {
        self.config.check.as_ref().and_then(|c| c.sorry)
    }

    /// Whether a real other than the sorry server could take a new connection (the
    /// service is up: its VIP is announced; a sorry server stands in while it is down).
    pub fn has_real_up(&self) -> bool {
        let sorry = self.sorry();
        self.sched
            .reals()
            .iter()
            .any(|r| r.available && r.weight > 0 && Some(SocketAddr::new(r.addr, r.port)) != sorry)
    }

    /// The index of real `dest` in `sched.reals()`.
    pub fn real_index(&self, dest: DestId) -> Option<usize> {
        self.sched.reals().iter().position(|r| r.id == dest)
    }

    /// Whether it is a mark service (`fwmark`): its `vip` is the key address holding
    /// its mark, never a destination.
    pub fn is_mark(&self) -> bool {
        self.config.fwmark().is_some()
    }
}

/// The port a connection to real `real_port` uses for a packet to `dport`: the real's
/// own, or the packet's when the real's is 0 (IPVS: a real on port 0 keeps the
/// destination port, as the reals of mark and port-0 services do).
#[inline]
pub fn real_port(real_port: u16, dport: u16) -> u16 {
    if real_port == 0 {
        dport
    } else {
        real_port
    }
}

/// The reals of `spec` as scheduled under `overlay`, with their forwarding modes and
/// tunnels, ids assigned through `ids` (service `id`): a removed real is unavailable, an inhibited one
/// has weight 0, a dynamic misc check sets the weight. While no real is up and the
/// service has a sorry server, every real has weight 0 (so hashing schedulers hand all
/// their buckets to it) and the sorry server is appended with weight 1.
fn scheduled_reals(
    spec: &ServiceConfig,
    id: ServiceId,
    ids: &mut IdRegistry,
    overlay: &Overlay,
) -> (Vec<RealServer>, Vec<ForwardMode>, Vec<Tunnel>) {
    let vip = SocketAddr::new(spec.vip, spec.port);
    let effects: Vec<Option<RealEffect>> = spec
        .reals
        .iter()
        .map(|r| overlay.effect(spec.proto, vip, r.ip, r.port))
        .collect();
    let sorry = sorry_in_use(spec, overlay);
    let mut reals: Vec<RealServer> = spec
        .reals
        .iter()
        .zip(&effects)
        .map(|(r, effect)| {
            let weight = match effect {
                _ if sorry.is_some() => 0,
                Some(RealEffect::Inhibited) => 0,
                Some(RealEffect::Weight(w)) => *w,
                Some(RealEffect::Removed) | None => r.weight,
            };
            RealServer {
                id: ids.dest(id, SocketAddr::new(r.ip, r.port)),
                addr: r.ip,
                port: r.port,
                weight,
                upper: r.upper,
                lower: r.lower,
                available: *effect != Some(RealEffect::Removed),
            }
        })
        .collect();
    let mut modes: Vec<ForwardMode> = spec.reals.iter().map(|r| r.forward).collect();
    let mut tunnels: Vec<Tunnel> = spec.reals.iter().map(|r| r.tunnel).collect();
    if let Some(addr) = sorry {
        reals.push(RealServer {
            id: ids.dest(id, addr),
            addr: addr.ip(),
            port: addr.port(),
            weight: 1,
            upper: 0,
            lower: 0,
            available: true,
        });
        modes.push(spec.sorry_forward());
        // The sorry server is reached as the first real is (`sorry_forward`).
        tunnels.push(spec.reals.first().map_or(Tunnel::IPIP, |r| r.tunnel));
    }
    (reals, modes, tunnels)
}

/// How many earlier rule sets steering remembers ([`Services::owner_key`]).
pub const MAX_FORMER_MARKS: usize = 4;

/// An earlier snapshot's compiled rules, with the key of each service they named.
#[derive(Clone, Debug)]
struct FormerMarks {
    table: Arc<MarkTable>,
    keys: Arc<Vec<(Proto, IpAddr, u16)>>,
}

/// Every service, indexed for the per-packet lookup.
#[derive(Debug, Default)]
pub struct Services {
    list: Vec<Service>,
    /// Addressed services by protocol, VIP and port.
    by_key: HashMap<(Proto, IpAddr, u16), usize>,
    /// Mark services by their key address ([`rvs_config::mark_vip`]).
    by_mark: HashMap<IpAddr, usize>,
    /// `[[mark]]`, compiled.
    marks: Arc<MarkTable>,
    /// The compiled rules of the last snapshots whose rules differed, newest first, at
    /// most [`MAX_FORMER_MARKS`]: steering only, so the connections they made keep
    /// reaching their worker.
    former_marks: Vec<FormerMarks>,
    /// `[[mark]]` as configured (for the control core: announcements, ARP on takeover).
    mark_rules: Vec<MarkRule>,
    /// Whether an addressed service has port 0 (then a miss on a port looks for it).
    any_port_zero: bool,
    /// Index in `list` by service id (`u32::MAX`: none).
    by_id: Vec<u32>,
    vips: HashSet<IpAddr>,
    /// VIPs no service has any more, steered as VIPs so their connections can finish.
    former_vips: Draining<IpAddr>,
    laddrs: HashSet<IpAddr>,
    /// Indexed by [`DestId`]: whether the real is in this table (ids are dense and each
    /// belongs to one service, so this says "still among its service's reals").
    dests: Vec<bool>,
    /// Indexed by [`DestId`]: how a tunnel real is reached. A real no longer configured
    /// keeps its last tunnel while its id is held, so its connections go on as they
    /// went (IPVS keeps a removed real, tunnel included, while connections use it).
    tunnels: Vec<Tunnel>,
    /// Whether a service checks its lists on every client packet
    /// (`acl_drop_established` with a list).
    acl_drop_established: bool,
    /// Whether a service counts its clients' open connections (a per-client limit).
    conns_per_client: bool,
    /// The content-switching groups of every service (each worker keeps a scheduler
    /// state per group).
    groups: usize,
    /// The content-switching match counters of every service (each worker keeps them:
    /// one per rule and one per service for what no rule matched).
    matches: usize,
}

impl Services {
    /// Build all services, assigning ids through `ids`.
    pub fn build(specs: &[ServiceConfig], ids: &mut IdRegistry) -> Result<Self, BuildError> {
        Self::rebuild(specs, &[], ids, None, &Overlay::default())
    }

    /// Build all services and the `[[mark]]` rules `marks` under the health `overlay`,
    /// reusing the scheduler table of each service of `previous` whose scheduler, flags
    /// and scheduled reals are unchanged (so workers keep its state).
    pub fn rebuild(
        specs: &[ServiceConfig],
        marks: &[MarkRule],
        ids: &mut IdRegistry,
        previous: Option<&Services>,
        overlay: &Overlay,
    ) -> Result<Self, BuildError> {
        let mut out = Services::default();
        // A local address removed from the configuration is still answered for and
        // steered by its port, so the connections that use it can finish.
        if let Some(p) = previous {
            out.laddrs.extend(p.laddrs.iter().copied());
            out.tunnels.clone_from(&p.tunnels);
        }
        for spec in specs {
            let vip = SocketAddr::new(spec.vip, spec.port);
            let id = ids.service(spec.proto, vip);
            let (reals, modes, tunnels) = scheduled_reals(spec, id, ids, overlay);
            for (r, t) in reals.iter().zip(&tunnels) {
                let i = r.id as usize;
                if i >= out.tunnels.len() {
                    out.tunnels.resize(i + 1, Tunnel::IPIP);
                }
                out.tunnels[i] = *t;
            }
            let unchanged = previous
                .and_then(|p| p.find(spec.proto, spec.vip, spec.port))
                .map(|(_, old)| old)
                .filter(|old| {
                    old.config.scheduler == spec.scheduler
                        && old.config.flags == spec.flags
                        && old.sched.reals() == reals.as_slice()
                });
            let same_lists = previous
                .and_then(|p| p.find(spec.proto, spec.vip, spec.port))
                .map(|(_, old)| old)
                .filter(|old| {
                    old.config.guard.allow == spec.guard.allow
                        && old.config.guard.deny == spec.guard.deny
                });
            let acl = match same_lists {
                Some(old) => Arc::clone(&old.acl),
                None => Arc::new(RefusedSet::build(&spec.guard.allow, &spec.guard.deny)),
            };
            out.acl_drop_established |= spec.guard.acl_drop_established && !acl.is_empty();
            out.conns_per_client |= spec.guard.limits_clients();
            let l7 = crate::l7::L7Plan::build(spec, &reals, out.groups, out.matches)?;
            out.groups += l7.as_ref().map_or(0, |p| p.groups.len());
            out.matches += l7.as_ref().map_or(0, crate::l7::L7Plan::counters);
            let sched = match unchanged {
                Some(old) => Arc::clone(&old.sched),
                None => rvs_schedulers::build(spec.scheduler, reals, &spec.sched_params())?,
            };
            if spec.fwmark().is_some() {
                out.by_mark.insert(spec.vip, out.list.len());
            } else {
                out.by_key
                    .insert((spec.proto, spec.vip, spec.port), out.list.len());
                out.vips.insert(spec.vip);
                out.any_port_zero |= spec.port == 0;
            }
            let slot = id as usize;
            if slot >= out.by_id.len() {
                out.by_id.resize(slot + 1, u32::MAX);
            }
            out.by_id[slot] = out.list.len() as u32;
            out.laddrs.extend(spec.laddrs.iter().copied());
            for r in sched.reals() {
                let i = r.id as usize;
                if i >= out.dests.len() {
                    out.dests.resize(i + 1, false);
                }
                out.dests[i] = true;
            }
            out.list.push(Service {
                id,
                proto: spec.proto,
                vip,
                sched,
                modes,
                tunnels,
                persistence_s: spec.persistence,
                persistence_prefix: spec.persistence_prefix,
                laddrs: spec.laddrs.clone(),
                acl,
                config: spec.clone(),
                l7,
            });
        }
        let by_mark = &out.by_mark;
        out.marks = Arc::new(MarkTable::build(marks, |mark, v6| {
            by_mark.get(&rvs_config::mark_vip(mark, v6)).copied()
        }));
        out.mark_rules = marks.to_vec();
        // Rules that changed leave their table behind for the connections they made:
        // with several workers, a packet of one whose rule is gone is still steered by
        // the class of the service it was made for.
        if let Some(p) = previous {
            out.former_marks = p.former_marks.clone();
            if p.mark_rules != marks && !p.marks.is_empty() {
                let keys = p.list.iter().map(|s| (s.proto, s.vip.ip(), s.vip.port()));
                let former = FormerMarks {
                    table: Arc::clone(&p.marks),
                    keys: Arc::new(keys.collect()),
                };
                out.former_marks.insert(0, former);
                out.former_marks.truncate(MAX_FORMER_MARKS);
            }
        }
        // A VIP whose last service was deleted is still steered as a VIP (not answered
        // for), so the connections made to it reach the worker that holds them.
        if let Some(p) = previous {
            let before = p.list.iter().filter(|s| !s.is_mark()).map(|s| s.vip.ip());
            out.former_vips = p.former_vips.after_edit(before, |a| out.vips.contains(a));
        }
        Ok(out)
    }

    /// The service keyed `(proto, addr, port)`, with its index: an addressed service,
    /// or a mark service by its key address (TCP, port 0). Not for packets: see
    /// [`Services::resolve`].
    #[inline]
    pub fn find(&self, proto: Proto, addr: IpAddr, port: u16) -> Option<(usize, &Service)> {
        let i = match self.by_key.get(&(proto, addr, port)) {
            Some(&i) => i,
            None if proto == Proto::Tcp && port == 0 => *self.by_mark.get(&addr)?,
            None => return None,
        };
        Some((i, &self.list[i]))
    }

    /// The service a packet of `proto` from `src` to `dst:dport` goes to, with its
    /// index, as IPVS looks it up: the mark service of the first `[[mark]]` rule that
    /// matches (IPVS looks a marked packet's mark up first), else the service on
    /// `dst:dport`, else the one on `dst` port 0.
    #[inline]
    pub fn resolve(
        &self,
        proto: Proto,
        src: IpAddr,
        dst: IpAddr,
        dport: u16,
    ) -> Option<(usize, &Service)> {
        if !self.marks.is_empty() {
            if let Some(i) = self.marks.lookup(proto, src, dst, dport) {
                return Some((i, &self.list[i]));
            }
        }
        let i = match self.by_key.get(&(proto, dst, dport)) {
            Some(&i) => i,
            None if self.any_port_zero => *self.by_key.get(&(proto, dst, 0))?,
            None => return None,
        };
        Some((i, &self.list[i]))
    }

    /// Whether a packet's service may be another than the one on its own destination
    /// and port (there are `[[mark]]` rules, or a service on port 0): steering then
    /// resolves it ([`Services::resolve`]).
    #[inline]
    pub fn resolves(&self) -> bool {
        self.any_port_zero || !self.marks.is_empty() || !self.former_marks.is_empty()
    }

    /// The key of the service whose class owns a packet of `proto` from `src` to `dst`
    /// ([`crate::ownership::Ownership::toward_vip`]): the resolved service's
    /// ([`Services::resolve`]) when some packet may go to another service than the one
    /// on its destination, else that destination's (no lookup).
    #[inline]
    pub fn owner_key(&self, proto: Proto, src: IpAddr, dst: (IpAddr, u16)) -> (Proto, IpAddr, u16) {
        if self.resolves() {
            if let Some((_, svc)) = self.resolve(proto, src, dst.0, dst.1) {
                return (svc.proto, svc.vip.ip(), svc.vip.port());
            }
            // A connection an earlier rule made, whose rule is gone or changed.
            for f in &self.former_marks {
                if let Some(i) = f.table.lookup(proto, src, dst.0, dst.1) {
                    return f.keys[i];
                }
            }
        }
        (proto, dst.0, dst.1)
    }

    /// The service with id `id` in this table, with its index.
    #[inline]
    pub fn by_id(&self, id: ServiceId) -> Option<(usize, &Service)> {
        let &i = self.by_id.get(id as usize)?;
        (i != u32::MAX).then(|| (i as usize, &self.list[i as usize]))
    }

    /// True when a `[[mark]]` rule names `addr` as a destination.
    #[inline]
    pub fn marks_cover(&self, addr: IpAddr) -> bool {
        !self.marks.is_empty() && self.marks.covers(addr)
    }

    /// The compiled `[[mark]]` rules.
    pub fn marks(&self) -> &MarkTable {
        &self.marks
    }

    /// The `[[mark]]` rules as configured.
    pub fn mark_rules(&self) -> &[MarkRule] {
        &self.mark_rules
    }

    /// True when `addr` is a VIP of some service.
    #[inline]
    pub fn is_vip(&self, addr: IpAddr) -> bool {
        self.vips.contains(&addr)
    }

    /// True when frames to `addr` are steered as frames toward a VIP: it is one, or was
    /// one until its last service was deleted and its connections may still drain
    /// (bounded, see [`crate::draining`]). Steering only: the director neither answers
    /// for a former VIP nor opens connections to it.
    #[inline]
    pub fn steered_as_vip(&self, addr: IpAddr) -> bool {
        self.vips.contains(&addr)
            || self.former_vips.contains(&addr)
            || self.marks_cover(addr)
            || self.former_marks.iter().any(|f| f.table.covers(addr))
    }

    /// True when `addr` is a FULLNAT local address of some service.
    #[inline]
    pub fn is_laddr(&self, addr: IpAddr) -> bool {
        self.laddrs.contains(&addr)
    }

    /// True when real `dest` is among the reals of its service in this table (false once
    /// it was removed, or its service was).
    #[inline]
    pub fn has_dest(&self, dest: DestId) -> bool {
        self.dests.get(dest as usize).copied().unwrap_or(false)
    }

    /// How real `dest` is reached when it is a tunnel real (IPIP for an id never
    /// configured).
    #[inline]
    pub fn tunnel(&self, dest: DestId) -> Tunnel {
        self.tunnels
            .get(dest as usize)
            .copied()
            .unwrap_or(Tunnel::IPIP)
    }

    /// Whether some service checks its allow and deny lists on every client packet of
    /// its connections (`acl_drop_established`).
    #[inline]
    pub fn any_acl_drop_established(&self) -> bool {
        self.acl_drop_established
    }

    /// Whether some service counts its clients' open connections (a per-client limit):
    /// the worker then counts each ended connection out.
    #[inline]
    pub fn any_client_limit(&self) -> bool {
        self.conns_per_client
    }

    /// Copy the rule match counts `counts` (laid out by `old`) of every content-switching
    /// service here that `old` has under the same id with the same rules into `into`
    /// (laid out by these services, zeroed); the counts of a service whose rules changed
    /// start again from zero. Allocates nothing (a worker taking up a configuration).
    pub fn carry_l7_matches(&self, old: &Services, counts: &[u64], into: &mut [u64]) {
        let old_list = old.list();
        for (i, svc) in self.list().iter().enumerate() {
            let Some(plan) = &svc.l7 else {
                continue;
            };
            // Services usually keep their place: look there first, then search.
            let same = |o: &&Service| o.id == svc.id;
            let before = old_list
                .get(i)
                .filter(same)
                .or_else(|| old_list.iter().find(same))
                .and_then(|o| o.l7.as_ref())
                .filter(|p| p.same_rules(plan));
            let Some(before) = before else {
                continue;
            };
            let n = plan.counters();
            let from = counts.get(before.match_base..before.match_base + n);
            let to = into.get_mut(plan.match_base..plan.match_base + n);
            if let (Some(from), Some(to)) = (from, to) {
                to.copy_from_slice(from);
            }
        }
    }

    /// Every content-switching group, in service then group order (the order of the
    /// workers' group states).
    pub fn groups(&self) -> impl Iterator<Item = &crate::l7::Group> {
        self.list
            .iter()
            .flat_map(|s| s.l7.iter().flat_map(|p| &p.groups))
    }

    /// How many content-switching match counters the services have (each worker's
    /// counters, [`crate::l7::L7Plan::counter`]).
    pub fn match_counters(&self) -> usize {
        self.matches
    }

    /// All services in configuration order.
    pub fn list(&self) -> &[Service] {
        &self.list
    }

    /// One past the highest service id and one past the highest real id in use.
    pub fn id_bounds(&self) -> (usize, usize) {
        let services = self
            .list
            .iter()
            .map(|s| s.id as usize + 1)
            .max()
            .unwrap_or(0);
        let dests = self
            .list
            .iter()
            .flat_map(|s| s.sched.reals())
            .map(|r| r.id as usize + 1)
            .max()
            .unwrap_or(0);
        (services, dests)
    }

    /// Answer for and steer replies to `addrs` as local addresses, without handing out
    /// their ports (the first step of adding local addresses to a running director).
    pub fn also_steer(&mut self, addrs: &[IpAddr]) {
        self.laddrs.extend(addrs.iter().copied());
    }

    /// Every FULLNAT local address.
    pub fn laddrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.laddrs.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_across_rebuilds() {
        let mut ids = IdRegistry::default();
        let vip: SocketAddr = "10.0.0.100:80".parse().unwrap();
        let r1: SocketAddr = "10.1.0.11:80".parse().unwrap();
        let r2: SocketAddr = "10.1.0.12:80".parse().unwrap();
        let s = ids.service(Proto::Tcp, vip);
        let d1 = ids.dest(s, r1);
        let d2 = ids.dest(s, r2);
        assert_ne!(d1, d2);
        assert_eq!(ids.service(Proto::Tcp, vip), s);
        assert_ne!(ids.service(Proto::Udp, vip), s);
        assert_eq!(ids.dest(s, r2), d2);
    }

    #[test]
    fn a_removed_tunnel_real_keeps_its_tunnel_for_its_connections() {
        let text = |reals: &str| {
            format!("[[service]]\nproto = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n{reals}")
        };
        let gue = "[[service.real]]\nip = \"10.1.0.11\"\nforward = \"tun\"\n\
                   tun_type = \"gue\"\ntun_port = 6080\ntun_csum = \"csum\"\n";
        let gre = "[[service.real]]\nip = \"10.1.0.12\"\nforward = \"tun\"\ntun_type = \"gre\"\n";
        let parse = |t: &str| rvs_config::Config::parse(t, "t.toml").unwrap().services;
        let mut ids = IdRegistry::default();
        let first = Services::build(&parse(&text(&format!("{gue}{gre}"))), &mut ids).unwrap();
        let svc = &first.list()[0];
        let (d1, d2) = (svc.sched.reals()[0].id, svc.sched.reals()[1].id);
        assert_eq!(first.tunnel(d1).kind, rvs_config::TunnelKind::Gue);
        assert_eq!(first.tunnel(d1).port, 6080);
        assert_eq!(first.tunnel(d2).kind, rvs_config::TunnelKind::Gre);
        assert_eq!(svc.tunnels, [first.tunnel(d1), first.tunnel(d2)]);
        // The GUE real removed: its id still held by connections, its tunnel kept.
        let second = Services::rebuild(
            &parse(&text(gre)),
            &[],
            &mut ids,
            Some(&first),
            &Overlay::default(),
        )
        .unwrap();
        assert!(!second.has_dest(d1));
        assert_eq!(second.tunnel(d1), first.tunnel(d1));
        assert_eq!(second.tunnel(d2).kind, rvs_config::TunnelKind::Gre);
        assert_eq!(
            second.tunnel(u32::MAX),
            Tunnel::IPIP,
            "an id never configured"
        );
    }
}
