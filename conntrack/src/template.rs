//! Persistence templates: (service, masked client, port or 0) -> real.
//!
//! The rule implemented (IPVS keeps a template while it controls connections and for
//! the persistence timeout after):
//! - a template's expiry is set to `now + timeout` when it is inserted, and pushed to
//!   `now + timeout` by every [`ConnTable::template_lookup`](crate::ConnTable::template_lookup) hit, by every connection created
//!   with it, and by every packet of such a connection;
//! - while at least one live connection references it, it does not expire at all (it
//!   is off the timer wheel);
//! - when its last connection goes, it is put back on the wheel at its expiry, which may
//!   already have passed: it then goes at the next [`ConnTable::expire`](crate::ConnTable::expire).
//!
//! So a template expires `timeout` after its last use, and never while in use. A
//! template whose time has come but that has not been reaped yet is treated as absent.
//! Templates have their own fixed capacity, separate from the connections'.

use rvs_schedulers::DestId;

use crate::dest_load::{Count, DestLoads};
use crate::index::{Index, KeyHasher};
use crate::slab::Slab;
use crate::timeout::ms;
use crate::wheel::Wheel;
use crate::{InsertError, TemplateKey};

/// A persistence template as the table holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// The template's key.
    pub key: TemplateKey,
    /// The real the key sticks to.
    pub dest: DestId,
    /// Persistence timeout in seconds.
    pub timeout_s: u32,
    /// Absolute expiry on the caller's clock, when no connection references it.
    pub expires_ms: u64,
    /// Live connections referencing it.
    pub conns: u32,
    /// Whether it is counted in its real's persistent connections.
    bound: bool,
}

/// The template store: slab, index and timer wheel of one worker.
#[derive(Debug)]
pub(crate) struct Templates {
    slab: Slab<Template>,
    index: Index,
    wheel: Wheel,
    hasher: KeyHasher,
}

impl Templates {
    /// A store of `capacity` templates.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slab: Slab::new(capacity),
            index: Index::with_max_entries(capacity),
            wheel: Wheel::new(capacity),
            hasher: KeyHasher::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slab.capacity()
    }

    /// Memory held, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.slab.bytes() + self.index.bytes() + self.wheel.bytes()
    }

    fn find(&self, key: &TemplateKey) -> Option<u32> {
        let h = self.hasher.hash(key);
        self.index
            .find(h, |v| self.slab.get(v).is_some_and(|t| t.key == *key))
    }

    /// The template of `key`, without refreshing it.
    pub(crate) fn get(&self, key: &TemplateKey) -> Option<&Template> {
        self.slab.get(self.find(key)?)
    }

    /// All templates, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Template> + '_ {
        self.slab.iter().map(|(_, t)| t)
    }

    /// The templates in slots `range` (of [`capacity`](Self::capacity)) with their
    /// slots, in slot order.
    pub(crate) fn iter_slots(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, &Template)> + '_ {
        let end = range.end.min(self.slab.capacity());
        (range.start.min(end)..end).filter_map(move |i| Some((i, self.slab.get(i as u32)?)))
    }

    /// The slot of a live (not yet due) template.
    fn find_live(&self, key: &TemplateKey, now_ms: u64) -> Option<u32> {
        let slot = self.find(key)?;
        let t = self.slab.get(slot)?;
        (t.conns > 0 || t.expires_ms > now_ms).then_some(slot)
    }

    /// Pushes the expiry of template `slot` to `now + timeout`.
    pub(crate) fn touch(&mut self, slot: u32, now_ms: u64) {
        if let Some(t) = self.slab.get_mut(slot) {
            t.expires_ms = t.expires_ms.max(now_ms + ms(t.timeout_s));
        }
    }

    /// The real of a live template, refreshing it.
    pub(crate) fn lookup(&mut self, key: &TemplateKey, now_ms: u64) -> Option<DestId> {
        let slot = self.find_live(key, now_ms)?;
        self.touch(slot, now_ms);
        self.slab.get(slot).map(|t| t.dest)
    }

    /// Creates the template of `key`, or re-points and refreshes the existing one, to
    /// expire `timeout_s` from `now_ms`.
    pub(crate) fn insert(
        &mut self,
        key: TemplateKey,
        dest: DestId,
        timeout_s: u32,
        now_ms: u64,
        loads: &mut DestLoads,
    ) -> Result<(), InsertError> {
        self.insert_until(key, dest, timeout_s, now_ms + ms(timeout_s), loads)
    }

    /// [`insert`](Self::insert) with the expiry given: `expires_ms`, whatever the
    /// timeout (the time another director said it has left).
    pub(crate) fn insert_until(
        &mut self,
        key: TemplateKey,
        dest: DestId,
        timeout_s: u32,
        expires_ms: u64,
        loads: &mut DestLoads,
    ) -> Result<(), InsertError> {
        if let Some(slot) = self.find(&key) {
            let Some(t) = self.slab.get_mut(slot) else {
                return Ok(());
            };
            if t.dest != dest {
                if t.bound {
                    loads.unbind(t.dest, Count::Persistent);
                }
                t.bound = loads.bind(dest, Count::Persistent);
                t.dest = dest;
            }
            let old = t.expires_ms;
            t.timeout_s = timeout_s;
            t.expires_ms = expires_ms;
            if t.conns == 0 {
                self.wheel.update(slot, old, expires_ms);
            }
            return Ok(());
        }
        if self.slab.is_full() {
            return Err(InsertError::TableFull);
        }
        let t = Template {
            key,
            dest,
            timeout_s,
            expires_ms,
            conns: 0,
            bound: false,
        };
        let Ok(slot) = self.slab.insert(t) else {
            return Err(InsertError::TableFull);
        };
        if let Some(t) = self.slab.get_mut(slot) {
            t.bound = loads.bind(dest, Count::Persistent);
        }
        self.index.insert(self.hasher.hash(&key), slot);
        self.wheel.schedule(slot, expires_ms);
        Ok(())
    }

    /// A new connection references the live template of `key`: count it, take the
    /// template off the wheel and refresh it. `None` when there is no live template.
    pub(crate) fn acquire(&mut self, key: &TemplateKey, now_ms: u64) -> Option<u32> {
        let slot = self.find_live(key, now_ms)?;
        let t = self.slab.get_mut(slot)?;
        t.conns += 1;
        if t.conns == 1 {
            self.wheel.unlink(slot);
        }
        self.touch(slot, now_ms);
        Some(slot)
    }

    /// A connection referencing template `slot` is gone.
    pub(crate) fn release(&mut self, slot: u32) {
        if let Some(t) = self.slab.get_mut(slot) {
            t.conns -= 1;
            if t.conns == 0 {
                let e = t.expires_ms;
                self.wheel.schedule(slot, e);
            }
        }
    }

    /// Removes the templates whose time has come; returns how many.
    pub(crate) fn expire(&mut self, now_ms: u64, loads: &mut DestLoads) -> usize {
        let slab = &self.slab;
        self.wheel
            .collect_due(now_ms, |i| slab.get(i).map_or(0, |t| t.expires_ms));
        let mut n = 0;
        while let Some(slot) = self.wheel.pop_due() {
            let Some(t) = self.slab.remove(slot) else {
                continue;
            };
            let had = self.index.remove(self.hasher.hash(&t.key), slot);
            debug_assert!(had && self.index.len() == self.slab.len());
            if t.bound {
                loads.unbind(t.dest, Count::Persistent);
            }
            n += 1;
        }
        n
    }
}
