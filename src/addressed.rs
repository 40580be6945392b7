//! Tables whose entry for a key can be asked for ahead of its lookup: small
//! values keyed by the address of a shared value (an `Arc`'s), and values
//! keyed by text.
//!
//! A month's rows share some 80,000 dimensions: a table of them does not fit
//! in the CPU's cache, and a row visited in file order finds its entry in
//! memory. `std`'s map cannot say where a key's entry is before looking it
//! up; these can (`prefetch`), so a loop asks for the entries of the rows a
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

/// Values keyed by text: the keys' bytes in one arena, each slot with its
/// key's hash (compared before the bytes are) and where its key and value
/// are. Entries are only added.
pub struct TextMap<V> {
    slots: Vec<TextSlot>,
    keys: Vec<u8>,
    values: Vec<V>,
    hasher: foldhash::fast::FixedState,
}

#[derive(Clone, Copy, Default)]
struct TextSlot {
    hash: u64,
    /// Where the key is in `keys`, and its length.
    at: u32,
    len: u32,
    /// 1 + the value's index in `values`; 0: an empty slot.
    value: u32,
}

impl<V> Default for TextMap<V> {
    fn default() -> Self {
        TextMap {
            slots: vec![TextSlot::default(); 1 << 10],
            keys: Vec::new(),
            values: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x6f63_6222),
        }
    }
}

impl<V> TextMap<V> {
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn home(&self, hash: u64) -> usize {
        (hash as usize) & (self.slots.len() - 1)
    }

    /// Bring the slot a key of this hash is looked up at into the cache.
    pub fn prefetch_slot(&self, hash: u64) {
        crate::memory::prefetch(&self.slots[self.home(hash)]);
    }

    /// Bring the key bytes of the entry at a hash's slot into the cache
    /// (its slot asked for earlier: reading it then waits on nothing).
    pub fn prefetch_key(&self, hash: u64) {
        let slot = self.slots[self.home(hash)];
        if slot.value != 0 && slot.hash == hash {
            let at = slot.at as usize;
            if let Some(key) = self.keys.get(at..at + slot.len as usize) {
                crate::memory::prefetch_bytes(key);
            }
        }
    }

    /// The value at a hash's slot when the slot holds that hash, its key
    /// not compared: only a hint of what a lookup will find (to prefetch
    /// what the value points to).
    pub fn probable(&self, hash: u64) -> Option<&V> {
        let slot = self.slots[self.home(hash)];
        match slot.value != 0 && slot.hash == hash {
            true => self.values.get(slot.value as usize - 1),
            false => None,
        }
    }

    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            let slot = self.slots[i];
            if slot.value == 0 {
                return None;
            }
            let at = slot.at as usize;
            if slot.hash == hash && self.keys.get(at..at + slot.len as usize) == Some(key) {
                return self.values.get(slot.value as usize - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Add a key not in the table; false (nothing added) past 4 GB of keys
    /// or 4 billion values.
    pub fn insert(&mut self, hash: u64, key: &[u8], value: V) -> bool {
        let (Ok(at), Ok(len), Ok(index)) = (
            u32::try_from(self.keys.len()),
            u32::try_from(key.len()),
            u32::try_from(self.values.len() + 1),
        ) else {
            return false;
        };
        if at.checked_add(len).is_none() {
            return false;
        }
        // Half full at most: probes stay short.
        if (self.values.len() + 1) * 2 > self.slots.len() {
            let doubled = vec![TextSlot::default(); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, doubled);
            for slot in old.into_iter().filter(|s| s.value != 0) {
                self.place(slot);
            }
        }
        self.keys.extend_from_slice(key);
        self.values.push(value);
        self.place(TextSlot {
            hash,
            at,
            len,
            value: index,
        });
        true
    }

    fn place(&mut self, slot: TextSlot) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(slot.hash);
        while self.slots[i].value != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
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

    #[test]
    fn texts_are_found_by_their_bytes_even_when_their_hashes_collide() {
        let mut map = TextMap::<usize>::default();
        let keys: Vec<String> = (0..20_000).map(|i| format!("resource-{i}")).collect();
        for (n, k) in keys.iter().enumerate() {
            let h = map.hash(k.as_bytes());
            assert_eq!(map.get(h, k.as_bytes()), None);
            assert!(map.insert(h, k.as_bytes(), n));
        }
        assert_eq!(map.len(), keys.len());
        for (n, k) in keys.iter().enumerate() {
            let h = map.hash(k.as_bytes());
            map.prefetch_slot(h);
            map.prefetch_key(h);
            assert_eq!(map.probable(h).is_some(), map.slots[map.home(h)].hash == h);
            assert_eq!(map.get(h, k.as_bytes()), Some(&n));
        }
        // The same hash for different texts: each still finds its own.
        let mut same = TextMap::<&str>::default();
        assert!(same.insert(7, b"a", "first"));
        assert!(same.insert(7, b"b", "second"));
        assert_eq!(same.get(7, b"a"), Some(&"first"));
        assert_eq!(same.get(7, b"b"), Some(&"second"));
        assert_eq!(same.get(7, b"c"), None);
        assert_eq!(same.get(8, b"a"), None);
        // An empty text is a key like any other.
        assert!(same.insert(9, b"", "empty"));
        assert_eq!(same.get(9, b""), Some(&"empty"));
    }
}
