//! A fixed-capacity slab: values live in preallocated slots addressed by `u32`.

/// Preallocated slots with a free list; never grows after construction.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    /// A slab of `capacity` empty slots.
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = u32::try_from(capacity).expect("slab capacity exceeds u32");
        Self {
            slots: (0..capacity).map(|_| None).collect(),
            free: (0..cap).rev().collect(),
        }
    }

    /// Number of occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether every slot is occupied.
    pub(crate) fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// Memory held by the slots and the free list, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<T>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    /// Stores `value` in a free slot; `Err(value)` when full.
    pub(crate) fn insert(&mut self, value: T) -> Result<u32, T> {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(value);
                Ok(i)
            }
            None => Err(value),
        }
    }

    /// Empties slot `i`, returning its value.
    pub(crate) fn remove(&mut self, i: u32) -> Option<T> {
        let v = self.slots.get_mut(i as usize)?.take()?;
        self.free.push(i);
        Some(v)
    }

    /// The value in slot `i`.
    pub(crate) fn get(&self, i: u32) -> Option<&T> {
        self.slots.get(i as usize)?.as_ref()
    }

    /// The value in slot `i`, mutably.
    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.slots.get_mut(i as usize)?.as_mut()
    }

    /// Occupied slots in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|v| (i as u32, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_refuses_and_reuses() {
        let mut s = Slab::new(2);
        let a = s.insert('a').unwrap();
        let b = s.insert('b').unwrap();
        assert!(s.is_full());
        assert_eq!(s.insert('c'), Err('c'));
        assert_eq!(s.remove(a), Some('a'));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
        let c = s.insert('c').unwrap();
        assert_eq!(c, a);
        assert_eq!(s.get(b), Some(&'b'));
        assert_eq!(s.iter().count(), 2);
        assert_eq!(s.capacity(), 2);
    }
}
