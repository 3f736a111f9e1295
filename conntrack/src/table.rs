//! [`ConnTable`]: one worker's connection table.

use rvs_schedulers::DestId;

use crate::dest_load::{Count, DestLoad, DestLoads};
use crate::embryos::Embryos;
use crate::entry::{ConnView, Hot, Slots, BOUND, INACTIVE, NO_OUTPUT, NO_TEMPLATE};
use crate::index::{Index, KeyHasher};
use crate::tcp_state::TableDir;
use crate::template::{Template, Templates};
use crate::timeout::ms;
use crate::wheel::Wheel;
use crate::{
    Conn, ConnId, ConnKey, Direction, InsertError, NewConn, PathHint, Proto, StreamAdjust,
    TcpFlags, TcpState, TemplateKey, Timeouts,
};

/// The largest connection capacity (slot numbers and a direction bit share a `u32`).
pub const MAX_CAPACITY: usize = (1 << 31) - 1;

/// Connections expired per batch by [`ConnTable::expire_prefetched`]: enough index
/// misses in flight to fill the CPU's line fill buffers (two buckets per connection).
pub const EXPIRE_BATCH: usize = 8;

/// A software prefetch, supplied by the caller (the DPDK layer has one; the table does
/// not depend on it): start loading the memory `value` occupies for a read soon after.
pub trait Prefetch {
    /// Start loading `value`'s cache lines; a hint that changes nothing.
    fn prefetch<T: ?Sized>(&self, value: &T);
}

/// No prefetching, for callers without a prefetch instruction to offer.
struct NoPrefetch;

impl Prefetch for NoPrefetch {
    fn prefetch<T: ?Sized>(&self, _value: &T) {}
}

/// A key's hash in one [`ConnTable`] (tables are seeded apart: use it only with the
/// table that computed it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(u32);

fn encode(slot: u32, dir: Direction) -> u32 {
    slot << 1 | u32::from(dir == Direction::Reply)
}

fn decode(value: u32) -> (u32, Direction) {
    let dir = if value & 1 == 0 {
        Direction::Original
    } else {
        Direction::Reply
    };
    (value >> 1, dir)
}

/// Moves TCP entry `e` (slot `slot`) to `state`, its real's active/inactive count
/// following (IPVS counts ESTABLISHED as active, every other state as inactive), and its
/// place among the embryonic connections too.
#[inline]
fn set_tcp_state(
    e: &mut Hot,
    slot: u32,
    state: TcpState,
    loads: &mut DestLoads,
    embryos: &mut Embryos,
) {
    if state == e.state {
        return;
    }
    match (e.state.is_embryonic(), state.is_embryonic()) {
        (true, false) => embryos.unlink(slot),
        (false, true) => embryos.push_back(slot),
        _ => {}
    }
    let active = state.is_active();
    if e.has(INACTIVE) == active {
        e.set(INACTIVE, !active);
        if e.has(BOUND) {
            loads.set_active(e.dest, active);
        }
    }
    e.state = state;
}

/// One worker's connection table.
///
/// Fixed capacity, preallocated at construction: a slab of connection slots, an
/// open-addressed index holding both keys of every connection (load factor at most 1/2),
/// a timer wheel, the persistence templates (own fixed capacity) and per-real loads.
/// After construction, [`lookup`](Self::lookup), [`insert`](Self::insert),
/// [`on_packet`](Self::on_packet), [`remove`](Self::remove) and
/// [`expire`](Self::expire) never allocate; only
/// [`set_dest_thresholds`](Self::set_dest_thresholds) may (control path).
///
/// Time is the caller's monotonic millisecond clock. Expiry granularity is
/// [`TICK_MS`](crate::TICK_MS): a connection never expires before its `expires_ms`, and
/// at most one tick after it (plus however late `expire` is called).
#[derive(Debug)]
pub struct ConnTable {
    slab: Slots,
    index: Index,
    wheel: Wheel,
    hasher: KeyHasher,
    timeouts: Timeouts,
    templates: Templates,
    loads: DestLoads,
    /// The embryonic connections, oldest first (the eviction order).
    embryos: Embryos,
}

impl ConnTable {
    /// A table of `capacity` connections (at most [`MAX_CAPACITY`]) and
    /// `capacity.div_ceil(4)` persistence templates.
    pub fn new(capacity: usize, timeouts: Timeouts) -> ConnTable {
        Self::with_template_capacity(capacity, capacity.div_ceil(4), timeouts)
    }

    /// A table of `capacity` connections and `template_capacity` templates (both at
    /// most [`MAX_CAPACITY`]; larger values panic).
    pub fn with_template_capacity(
        capacity: usize,
        template_capacity: usize,
        timeouts: Timeouts,
    ) -> ConnTable {
        assert!(capacity <= MAX_CAPACITY, "connection capacity too large");
        assert!(
            template_capacity <= MAX_CAPACITY,
            "template capacity too large"
        );
        ConnTable {
            slab: Slots::new(capacity),
            index: Index::with_max_entries(capacity * 2),
            wheel: Wheel::new(capacity),
            hasher: KeyHasher::default(),
            timeouts: Timeouts::default().updated(timeouts),
            templates: Templates::new(template_capacity),
            loads: DestLoads::default(),
            embryos: Embryos::new(capacity),
        }
    }

    /// Evicts the oldest embryonic connection (TCP that never finished its handshake:
    /// NONE, SYN_RECV or SYN_SENT; the one that entered such a state longest ago) to make
    /// room; `on_evicted` sees it just before it goes. Established, closing and UDP
    /// connections are never evicted. Returns whether one was. O(1), never allocates.
    pub fn evict_embryonic(&mut self, on_evicted: impl FnOnce(&Conn)) -> bool {
        let Some(slot) = self.embryos.front() else {
            return false;
        };
        debug_assert!(self
            .slab
            .hot(slot)
            .is_some_and(|h| h.proto() == Proto::Tcp && h.state.is_embryonic()));
        self.wheel.unlink(slot);
        if let Some(conn) = self.release(slot) {
            on_evicted(&conn);
        }
        true
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there is no live connection.
    pub fn is_empty(&self) -> bool {
        self.slab.len() == 0
    }

    /// The fixed connection capacity.
    pub fn capacity(&self) -> usize {
        self.slab.capacity()
    }

    /// Memory held by the whole table (connections, index, wheels, templates), in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slab.bytes()
            + self.index.bytes()
            + self.wheel.bytes()
            + self.templates.bytes()
            + self.embryos.bytes()
    }

    /// Memory per connection slot excluding the index (slot, free-list entry, timer
    /// links, eviction-order links), in bytes. The index adds 8 bytes per bucket, with between 4 and 8 buckets
    /// per connection depending on power-of-two rounding.
    pub const fn slot_bytes() -> usize {
        Slots::bytes_per_slot() + Wheel::bytes_per_entry() + Embryos::bytes_per_entry()
    }

    fn find(&self, hash: u32, key: &ConnKey) -> Option<u32> {
        self.index.find(hash, |v| {
            let (slot, dir) = decode(v);
            self.slab.matches(slot, dir, key)
        })
    }

    /// The connection a packet with tuple `key` belongs to, and which way it travels.
    pub fn lookup(&self, key: &ConnKey) -> Option<(ConnId, Direction)> {
        self.lookup_hashed(key, self.hash(key))
    }

    /// The hash of `key` in this table, for [`lookup_hashed`](Self::lookup_hashed) and
    /// the prefetch hints: a burst hashes every packet first, then prefetches, then looks up.
    pub fn hash(&self, key: &ConnKey) -> KeyHash {
        KeyHash(self.hasher.hash(key))
    }

    /// [`lookup`](Self::lookup) with the key's hash already computed by
    /// [`hash`](Self::hash) on this table.
    pub fn lookup_hashed(&self, key: &ConnKey, hash: KeyHash) -> Option<(ConnId, Direction)> {
        let value = self.find(hash.0, key)?;
        let (slot, dir) = decode(value);
        Some((ConnId(slot), dir))
    }

    /// The memory a lookup of `hash` reads first (its index bucket), for the caller to
    /// prefetch before the lookup.
    pub fn bucket_of(&self, hash: KeyHash) -> &impl Sized {
        self.index.home_bucket(hash.0)
    }

    /// What a packet of the connection a lookup of `hash` most likely ends at (the
    /// first one the index files under that hash) reads and writes: its hot line and its
    /// counters, for the caller to prefetch; `None` when the index holds no entry with
    /// this hash (the lookup will miss). Reads the index: cheap once
    /// [`bucket_of`](Self::bucket_of) is in cache.
    pub fn entry_of(&self, hash: KeyHash) -> Option<&impl Sized> {
        let (slot, _) = decode(self.index.first(hash.0)?);
        let i = slot as usize;
        self.slab.lines.get(i)
    }

    /// The live connection `id`, copied out (reads every part of the entry: the
    /// forwarding path uses [`view`](Self::view)).
    ///
    /// # Panics
    /// When `id` is not live (it was removed or expired): a caller bug.
    pub fn get(&self, id: ConnId) -> Conn {
        self.view(id).to_conn()
    }

    /// The connection `id`, copied out, if live.
    pub fn try_get(&self, id: ConnId) -> Option<Conn> {
        self.slab.view(id.0).map(|v| v.to_conn())
    }

    /// The live connection `id` read in place: its accessors read the entry's hot
    /// cache line (and the cold part only for IPv6 addresses).
    ///
    /// # Panics
    /// When `id` is not live (it was removed or expired): a caller bug.
    pub fn view(&self, id: ConnId) -> ConnView<'_> {
        match self.slab.view(id.0) {
            Some(v) => v,
            None => panic!("stale ConnId {}", id.0),
        }
    }

    /// The connection `id` read in place, if live.
    pub fn try_view(&self, id: ConnId) -> Option<ConnView<'_>> {
        self.slab.view(id.0)
    }

    /// Replaces the stream adjustments of connection `id` (a stale `id` is ignored).
    pub fn set_stream(&mut self, id: ConnId, stream: &StreamAdjust) {
        if let Some(h) = self.slab.hot_mut(id.0) {
            h.set_stream(stream);
        }
    }

    /// Keep `hint` as the path hint of connection `id`'s packets travelling `dir` (a
    /// stale `id` is ignored).
    pub fn set_path_hint(&mut self, id: ConnId, dir: Direction, hint: PathHint) {
        if let Some(lines) = self.slab.lines.get_mut(id.0 as usize) {
            if lines.hot.is_live() {
                lines.warm.hints[dir as usize] = hint;
            }
        }
    }

    /// Whether a new SYN from the client may take the place of connection `id` (IPVS's
    /// `is_new_conn_expected`, for a non-zero `conn_reuse_mode`): a TCP connection in
    /// TIME_WAIT or CLOSE, or, when `fin_wait` is set (mode bit 2), in FIN_WAIT with
    /// nothing seen from the real (DR and TUN: FIN_WAIT is the last state the director
    /// sees there). A connection controlled by a persistence template never gives way, so
    /// the client stays on the template's real. `false` for a stale `id`.
    pub fn gives_way_to_new_syn(&self, id: ConnId, fin_wait: bool) -> bool {
        let Some(h) = self.slab.hot(id.0) else {
            return false;
        };
        if h.proto() != Proto::Tcp || h.template != NO_TEMPLATE {
            return false;
        }
        match h.state {
            TcpState::TimeWait | TcpState::Close => true,
            TcpState::FinWait => fin_wait && h.has(NO_OUTPUT),
            _ => false,
        }
    }

    /// Live connections, copied out, in slot order (O(capacity): control path only).
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, Conn)> + '_ {
        self.iter_slots(0..self.slab.capacity())
    }

    /// Live connections in slots `range` of the table's [`capacity`](Self::capacity)
    /// slots: a listing copies a large table a piece at a time between bursts.
    pub fn iter_slots(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (ConnId, Conn)> + '_ {
        let end = range.end.min(self.slab.capacity());
        (range.start.min(end)..end).filter_map(move |i| {
            let i = i as u32;
            self.slab.view(i).map(|v| (ConnId(i), v.to_conn()))
        })
    }

    /// Creates a connection.
    ///
    /// It starts as a first packet from the client finds it: TCP in state NONE (call
    /// [`on_packet`](Self::on_packet) with the opening segment right after), UDP and
    /// ICMP live at once with their timeout. It is counted as inactive against its
    /// real, as IPVS does, if the real is known ([`set_dest_thresholds`](
    /// Self::set_dest_thresholds)); a connection to an unknown real is not counted.
    /// When `conn.template` names a live template, the connection references it (the
    /// template is refreshed and cannot expire before the connection); otherwise the
    /// connection has no template (`Conn::template` is `None`).
    ///
    /// # Errors
    /// [`InsertError::TableFull`] at capacity (nothing else changes);
    /// [`InsertError::Exists`] when either key is already in the table, or when both
    /// keys would be the same tuple.
    pub fn insert(&mut self, conn: NewConn, now_ms: u64) -> Result<ConnId, InsertError> {
        let original = self.hash(&conn.original_key());
        let reply = self.hash(&conn.reply_key());
        self.insert_hashed(conn, original, reply, true, now_ms)
    }

    /// [`insert`](Self::insert) for the connection path, which has just looked the new
    /// connection's original key up and missed: only the reply key is probed (`insert`
    /// probes both), so a new connection costs two index probes instead of three, and
    /// no key is hashed twice.
    ///
    /// Contract: `original` and `reply` are [`hash`](Self::hash) of
    /// `conn.original_key()` and `conn.reply_key()` on this table, and the last lookup of
    /// `conn.original_key()` missed with no insert into this table since (removals and
    /// evictions are fine). The original key is then known to be absent and is not
    /// probed again; the reply key still is, since another connection may hold it (a
    /// FULLNAT local port, a NAT client behind the same real). Debug builds assert the
    /// contract; breaking it in a release build files the original key twice.
    ///
    /// # Errors
    /// As [`insert`](Self::insert): [`InsertError::TableFull`] at capacity,
    /// [`InsertError::Exists`] when the reply key is in the table or both keys are the
    /// same tuple.
    pub fn insert_after_miss(
        &mut self,
        conn: NewConn,
        original: KeyHash,
        reply: KeyHash,
        now_ms: u64,
    ) -> Result<ConnId, InsertError> {
        debug_assert_eq!(original, self.hash(&conn.original_key()), "original hash");
        debug_assert_eq!(reply, self.hash(&conn.reply_key()), "reply hash");
        debug_assert!(
            self.find(original.0, &conn.original_key()).is_none(),
            "insert_after_miss with the original key in the table"
        );
        self.insert_hashed(conn, original, reply, false, now_ms)
    }

    /// Files `conn` under its keys' hashes; the original key is checked for presence
    /// only when `check_original` is set.
    fn insert_hashed(
        &mut self,
        conn: NewConn,
        h_original: KeyHash,
        h_reply: KeyHash,
        check_original: bool,
        now_ms: u64,
    ) -> Result<ConnId, InsertError> {
        if self.slab.is_full() {
            return Err(InsertError::TableFull);
        }
        let expires_ms = now_ms + ms(self.timeouts.for_conn(conn.proto, TcpState::None));
        let (original, reply) = (conn.original_key(), conn.reply_key());
        if original == reply {
            return Err(InsertError::Exists);
        }
        let (h_original, h_reply) = (h_original.0, h_reply.0);
        if check_original && self.find(h_original, &original).is_some() {
            return Err(InsertError::Exists);
        }
        let Some(slot) = self.slab.insert(&conn, expires_ms) else {
            return Err(InsertError::TableFull);
        };
        // The reply key is probed after the slot is written (stores that need not wait),
        // giving a bucket prefetched by the caller time to arrive.
        if self.find(h_reply, &reply).is_some() {
            self.slab.remove(slot);
            return Err(InsertError::Exists);
        }
        let template = conn
            .template
            .and_then(|key| Some((key, self.templates.acquire(&key, now_ms)?)));
        let bound = self.loads.bind(conn.dest, Count::Inactive);
        let i = slot as usize;
        let hot = &mut self.slab.lines[i].hot;
        hot.set(BOUND, bound);
        if let Some((key, tslot)) = template {
            hot.template = tslot;
            self.slab.cold[i].template = key;
        }
        self.index
            .insert(h_original, encode(slot, Direction::Original));
        self.index.insert(h_reply, encode(slot, Direction::Reply));
        self.wheel.schedule(slot, expires_ms);
        if conn.proto == Proto::Tcp {
            // TCP starts in NONE: embryonic, the youngest.
            self.embryos.push_back(slot);
        }
        debug_assert_eq!(self.index.len(), 2 * self.slab.len());
        Ok(ConnId(slot))
    }

    /// Accounts a packet of connection `id` travelling `dir`: counters, the TCP state
    /// machine (with the real's active/inactive counts), the expiry (now + the timeout of
    /// the resulting state, with the timeouts in force now) and the template's expiry.
    /// A stale `id` is ignored.
    pub fn on_packet(
        &mut self,
        id: ConnId,
        dir: Direction,
        flags: TcpFlags,
        bytes: usize,
        now_ms: u64,
    ) {
        let i = id.0 as usize;
        let Some(lines) = self.slab.lines.get_mut(i).filter(|l| l.hot.is_live()) else {
            return;
        };
        let bytes = bytes as u64;
        let (e, counters) = (&mut lines.hot, &mut lines.warm.counters);
        let table = match dir {
            Direction::Original => {
                counters.in_pkts += 1;
                counters.in_bytes += bytes;
                if e.has(NO_OUTPUT) {
                    TableDir::InputOnly
                } else {
                    TableDir::Input
                }
            }
            Direction::Reply => {
                counters.out_pkts += 1;
                counters.out_bytes += bytes;
                e.set(NO_OUTPUT, false);
                TableDir::Output
            }
        };
        if e.proto() == Proto::Tcp {
            let new = e.state.next(table, flags);
            set_tcp_state(e, id.0, new, &mut self.loads, &mut self.embryos);
        }
        let old = e.expires_ms;
        let expires = now_ms + ms(self.timeouts.for_conn(e.proto(), e.state));
        e.expires_ms = expires;
        let template = e.template;
        self.wheel.update(id.0, old, expires);
        if template != NO_TEMPLATE {
            self.templates.touch(template, now_ms);
        }
    }

    /// Sets connection `id`'s TCP state and expiry as another director reported them
    /// (connection sync), with the real's active/inactive count following the state. A
    /// stale `id` is ignored.
    pub fn restore(&mut self, id: ConnId, state: TcpState, expires_ms: u64) {
        let Some(e) = self.slab.hot_mut(id.0) else {
            return;
        };
        if e.proto() == Proto::Tcp {
            set_tcp_state(e, id.0, state, &mut self.loads, &mut self.embryos);
        }
        let old = e.expires_ms;
        e.expires_ms = expires_ms;
        self.wheel.update(id.0, old, expires_ms);
    }

    /// The hashes of live slot `slot`'s original and reply keys.
    fn key_hashes(&self, slot: u32) -> (u32, u32) {
        (
            self.hasher.hash(&self.slab.key(slot, Direction::Original)),
            self.hasher.hash(&self.slab.key(slot, Direction::Reply)),
        )
    }

    /// Takes connection `id` out of the index, its real's counts and its template.
    fn release(&mut self, slot: u32) -> Option<Conn> {
        self.slab.hot(slot)?;
        let (original, reply) = self.key_hashes(slot);
        self.release_hashed(slot, original, reply)
    }

    /// [`release`](Self::release) with the keys' hashes already computed.
    fn release_hashed(&mut self, slot: u32, original: u32, reply: u32) -> Option<Conn> {
        let conn = self.slab.view(slot)?.to_conn();
        let e = *self.slab.hot(slot)?;
        self.slab.remove(slot);
        self.embryos.unlink(slot);
        let had_original = self
            .index
            .remove(original, encode(slot, Direction::Original));
        let had_reply = self.index.remove(reply, encode(slot, Direction::Reply));
        debug_assert!(
            had_original && had_reply,
            "connection keys missing from the index"
        );
        debug_assert_eq!(self.index.len(), 2 * self.slab.len());
        if e.has(BOUND) {
            let count = if e.has(INACTIVE) {
                Count::Inactive
            } else {
                Count::Active
            };
            self.loads.unbind(e.dest, count);
        }
        if e.template != NO_TEMPLATE {
            self.templates.release(e.template);
        }
        Some(conn)
    }

    /// Removes connection `id` now (no expiry callback); `None` if it is not live.
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        self.slab.hot(id.0)?;
        self.wheel.unlink(id.0);
        self.release(id.0)
    }

    /// Removes every connection whose time has come, then every template whose time has
    /// come; returns the number of connections removed. `on_expired` sees each
    /// connection just before it goes (to release a FULLNAT local port, say).
    /// Cost: O(expired + wheel ticks advanced), never a scan of the table.
    pub fn expire(&mut self, now_ms: u64, on_expired: impl FnMut(&Conn)) -> usize {
        self.expire_at_most(now_ms, usize::MAX, on_expired)
    }

    /// [`expire`](Self::expire) removing at most `max` connections per call (to bound a
    /// poll-loop iteration); the rest go at the next calls.
    pub fn expire_at_most(
        &mut self,
        now_ms: u64,
        max: usize,
        on_expired: impl FnMut(&Conn),
    ) -> usize {
        self.expire_prefetched(now_ms, max, &NoPrefetch, on_expired)
    }

    /// [`expire_at_most`](Self::expire_at_most) in batches of [`EXPIRE_BATCH`]: the
    /// index buckets of a batch's keys are prefetched with `prefetcher` before any is
    /// removed, so that their cache misses overlap (each removal probes two random
    /// buckets). Connections go in the same order, with the same callbacks.
    pub fn expire_prefetched(
        &mut self,
        now_ms: u64,
        max: usize,
        prefetcher: &impl Prefetch,
        mut on_expired: impl FnMut(&Conn),
    ) -> usize {
        let slab = &self.slab;
        self.wheel
            .collect_due(now_ms, |i| slab.hot(i).map_or(0, |h| h.expires_ms));
        let mut batch = [(0u32, 0u32, 0u32); EXPIRE_BATCH];
        let mut n = 0;
        while n < max {
            let mut k = 0;
            while k < EXPIRE_BATCH.min(max - n) {
                let Some(slot) = self.wheel.pop_due() else {
                    break;
                };
                let Some(expires_ms) = self.slab.hot(slot).map(|h| h.expires_ms) else {
                    continue;
                };
                if expires_ms > now_ms {
                    // Refreshed while waiting on the due list.
                    self.wheel.schedule(slot, expires_ms);
                    continue;
                }
                let (original, reply) = self.key_hashes(slot);
                prefetcher.prefetch(self.index.home_bucket(original));
                prefetcher.prefetch(self.index.home_bucket(reply));
                batch[k] = (slot, original, reply);
                k += 1;
            }
            if k == 0 {
                break;
            }
            for &(slot, original, reply) in &batch[..k] {
                if let Some(conn) = self.release_hashed(slot, original, reply) {
                    on_expired(&conn);
                }
                n += 1;
            }
        }
        self.templates.expire(now_ms, &mut self.loads);
        n
    }

    /// The real of the live persistence template `key`, refreshing the template
    /// (expiry pushed to now + its timeout).
    pub fn template_lookup(&mut self, key: &TemplateKey, now_ms: u64) -> Option<DestId> {
        self.templates.lookup(key, now_ms)
    }

    /// Creates a persistence template, or, when `key` exists, points it at `dest` with
    /// the new timeout and refreshes it. It counts as a persistent connection of `dest`.
    ///
    /// # Errors
    /// [`InsertError::TableFull`] when the template capacity is reached.
    pub fn template_insert(
        &mut self,
        key: TemplateKey,
        dest: DestId,
        timeout_s: u32,
        now_ms: u64,
    ) -> Result<(), InsertError> {
        self.templates
            .insert(key, dest, timeout_s, now_ms, &mut self.loads)
    }

    /// Sets the persistence template of `key` as another director reported it
    /// (connection sync): created, or re-pointed, with `timeout_s` as its persistence
    /// timeout (what each later use refreshes it by) and expiring at `expires_ms`. It
    /// counts as a persistent connection of `dest`.
    ///
    /// # Errors
    /// [`InsertError::TableFull`] when the template capacity is reached.
    pub fn template_restore(
        &mut self,
        key: TemplateKey,
        dest: DestId,
        timeout_s: u32,
        expires_ms: u64,
    ) -> Result<(), InsertError> {
        self.templates
            .insert_until(key, dest, timeout_s, expires_ms, &mut self.loads)
    }

    /// The template of `key`, without refreshing it (listing, tests).
    pub fn template(&self, key: &TemplateKey) -> Option<&Template> {
        self.templates.get(key)
    }

    /// All templates (O(template capacity): control path only).
    pub fn templates(&self) -> impl Iterator<Item = &Template> + '_ {
        self.templates.iter()
    }

    /// The templates in slots `range` of the [`template_capacity`](
    /// Self::template_capacity) slots, each with its slot, in slot order: a walk over
    /// the templates a piece at a time, as [`iter_slots`](Self::iter_slots) over the
    /// connections.
    pub fn iter_template_slots(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, &Template)> + '_ {
        self.templates.iter_slots(range)
    }

    /// Number of templates held.
    pub fn template_len(&self) -> usize {
        self.templates.len()
    }

    /// The fixed template capacity.
    pub fn template_capacity(&self) -> usize {
        self.templates.capacity()
    }

    /// Changes the timeouts (`--set tcp tcpfin udp`); a zero field keeps its current
    /// value. Connections pick the new values up at their next packet.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = self.timeouts.updated(t);
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Sets the `-x`/`-y` thresholds of real `dest` and makes it known to the table:
    /// connections to a real are counted only if it was known when they were created.
    /// May allocate (grows the per-real array up to `dest`): call it from the control
    /// path, before the first connection to `dest`.
    pub fn set_dest_thresholds(&mut self, dest: DestId, upper: u32, lower: u32) {
        self.loads.set_thresholds(dest, upper, lower);
    }

    /// Take `room` (empty, larger) as the storage of the per-real loads, so that reals
    /// added later cost the worker no allocation; returns the storage given up, for the
    /// control core to free.
    pub fn reserve_dests(&mut self, room: Vec<DestLoad>) -> Vec<DestLoad> {
        self.loads.move_into(room)
    }

    /// Per-real active/inactive/persistent counts and overload flags.
    pub fn loads(&self) -> &DestLoads {
        &self.loads
    }
}
