//! A table of small values keyed by the address of a shared value (an
//! `Arc`'s), whose slot for a key can be asked for ahead of its lookup.
//!
//! A month's rows share some 80,000 dimensions: a table of them does not fit
//! in the CPU's cache, and a row visited in file order finds its entry in
//! memory. `std`'s map cannot say where a key's entry is before looking it
//! up; this one can (`prefetch`), so a loop asks for the slots of the rows a
//! few ahead and finds its own in cache.

use std::hash::{BuildHasher, Hash};

/// Keys are addresses (never the default, zero): the default key marks an
/// empty slot. Values are two `u32`s (a range in an arena, say).
pub struct AddressMap<K> {
    slots: Vec<(K, u32, u32)>,
    len: usize,
    hasher: foldhash::fast::FixedState,
}

impl<K: Copy + Eq + Hash + Default> Default for AddressMap<K> {
    fn default() -> Self {
        AddressMap {
            slots: vec![(K::default(), 0, 0); 1 << 10],
            len: 0,
            hasher: foldhash::fast::FixedState::with_seed(0x6f63_6221),
        }
    }
}

impl<K: Copy + Eq + Hash + Default> AddressMap<K> {
    fn home(&self, key: K) -> usize {
        (self.hasher.hash_one(key) as usize) & (self.slots.len() - 1)
    }

    /// Bring the slot `key` is looked up at into the CPU's cache.
    pub fn prefetch(&self, key: K) {
        crate::memory::prefetch(&self.slots[self.home(key)]);
    }

    pub fn get(&self, key: K) -> Option<(u32, u32)> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let (k, a, b) = self.slots[i];
            if k == key {
                return Some((a, b));
            }
            if k == K::default() {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Insert a key not in the table (a key's first lookup came back None).
    pub fn insert(&mut self, key: K, value: (u32, u32)) {
        debug_assert!(key != K::default(), "an address is never zero");
        // Half full at most: probes stay short.
        if (self.len + 1) * 2 > self.slots.len() {
            let doubled = vec![(K::default(), 0, 0); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, doubled);
            self.len = 0;
            for (k, a, b) in old.into_iter().filter(|(k, ..)| *k != K::default()) {
                self.place(k, (a, b));
            }
        }
        self.place(key, value);
    }

    fn place(&mut self, key: K, (a, b): (u32, u32)) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        while self.slots[i].0 != K::default() {
            i = (i + 1) & mask;
        }
        self.slots[i] = (key, a, b);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_inserted_is_found_with_its_value_and_no_other() {
        let mut map = AddressMap::<usize>::default();
        // Addresses of 16-byte values: the low bits are all alike.
        let keys: Vec<usize> = (1..=50_000).map(|i| 0x7f00_0000_0000 + i * 16).collect();
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(map.get(k), None);
            map.insert(k, (n as u32, n as u32 * 2));
        }
        assert_eq!(map.len(), keys.len());
        for (n, &k) in keys.iter().enumerate() {
            map.prefetch(k);
            assert_eq!(map.get(k), Some((n as u32, n as u32 * 2)));
        }
        assert_eq!(map.get(0x7f00_0000_0008), None);
        let mut pairs = AddressMap::<(usize, usize)>::default();
        pairs.insert((16, 32), (1, 2));
        pairs.insert((32, 16), (3, 4));
        assert_eq!(pairs.get((16, 32)), Some((1, 2)));
        assert_eq!(pairs.get((32, 16)), Some((3, 4)));
        assert_eq!(pairs.get((16, 16)), None);
    }
}
