//! The ordered map the machine's state keeps its tables in ([`OrdMap`]).
//!
//! Natively (the simulator, the engine module, the tests) it is
//! `std::collections::BTreeMap`. In the viewer (feature `small`) it is
//! [`VecMap`], a sorted vector with the subset of `BTreeMap`'s API the state
//! uses: the viewer only replays deltas on tables of tens to a few thousand
//! entries, and every `BTreeMap<K, V>` instantiation brings its own node
//! code (insert, remove, clone, drop, range: 700 functions, about 160 KB of
//! the viewer's code before wasm-opt on 2026-12-03), where a `VecMap<K, V>`
//! is a binary search over a `Vec`. Both iterate in key order, so the same
//! state encodes to the same bytes ([`super::wire`]) and prints
//! the same. No crate offers `BTreeMap`'s exact method names over a sorted
//! vector (`litemap` names them differently), which this swap needs.

use std::borrow::Borrow;
use std::ops::{Bound, RangeBounds};

/// The ordered map of the machine's state: see the module's comment.
#[cfg(not(feature = "small"))]
pub type OrdMap<K, V> = std::collections::BTreeMap<K, V>;
/// The ordered map of the machine's state: see the module's comment.
#[cfg(feature = "small")]
pub type OrdMap<K, V> = VecMap<K, V>;

/// What a delta does to a table ([`super::put`]), for both kinds
/// of ordered map: the frame table, which grows with memory, stays a
/// B-tree in the viewer too.
pub trait Table<K, V> {
    /// Sets `key` to `value`.
    fn set(&mut self, key: K, value: V);
    /// Removes `key`.
    fn unset(&mut self, key: &K);
}

impl<K: Ord, V> Table<K, V> for std::collections::BTreeMap<K, V> {
    fn set(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
    fn unset(&mut self, key: &K) {
        self.remove(key);
    }
}

impl<K: Ord, V> Table<K, V> for VecMap<K, V> {
    fn set(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
    fn unset(&mut self, key: &K) {
        self.remove(key);
    }
}

/// An ordered map kept as a vector sorted by key, with `BTreeMap`'s names.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VecMap<K, V> {
    items: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap { items: Vec::new() }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        VecMap { items: Vec::new() }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator + Clone {
        self.items.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values writable.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.items.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.items.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.items.iter().map(|(_, v)| v)
    }

    /// The values in key order, writable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.items.iter_mut().map(|(_, v)| v)
    }

    /// The values in key order, owned.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.items.into_iter().map(|(_, v)| v)
    }

    /// The keys in order, owned.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator {
        self.items.into_iter().map(|(k, _)| k)
    }

    /// The entry with the smallest key.
    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.items.first().map(|(k, v)| (k, v))
    }

    /// The entry with the largest key.
    pub fn last_key_value(&self) -> Option<(&K, &V)> {
        self.items.last().map(|(k, v)| (k, v))
    }

    /// Removes and returns the entry with the smallest key.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        (!self.items.is_empty()).then(|| self.items.remove(0))
    }

    /// Removes and returns the entry with the largest key.
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        self.items.pop()
    }

    /// Keeps only the entries `keep` says yes to, in key order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.items.retain_mut(|(k, v)| keep(k, v));
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.items.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value at `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.items[i].1)
    }

    /// The stored key and the value at `key`.
    pub fn get_key_value<Q: Ord + ?Sized>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| (&self.items[i].0, &self.items[i].1))
    }

    /// The value at `key`, writable.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.items[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, value)),
            Err(i) => {
                self.items.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.items.remove(i).1)
    }

    /// Removes `key`; returns the stored key and its value.
    pub fn remove_entry<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.items.remove(i))
    }

    fn span<Q: Ord + ?Sized, R: RangeBounds<Q>>(&self, range: &R) -> std::ops::Range<usize>
    where
        K: Borrow<Q>,
    {
        let at = |b: Bound<&Q>, upper: bool| match b {
            Bound::Unbounded if upper => self.items.len(),
            Bound::Unbounded => 0,
            Bound::Included(q) => self.items.partition_point(|(k, _)| if upper { k.borrow() <= q } else { k.borrow() < q }),
            Bound::Excluded(q) => self.items.partition_point(|(k, _)| if upper { k.borrow() < q } else { k.borrow() <= q }),
        };
        let (lo, hi) = (at(range.start_bound(), false), at(range.end_bound(), true));
        lo..hi.max(lo)
    }

    /// The entries whose keys fall in `range`, in order.
    pub fn range<Q: Ord + ?Sized, R: RangeBounds<Q>>(&self, range: R) -> impl DoubleEndedIterator<Item = (&K, &V)> + Clone
    where
        K: Borrow<Q>,
    {
        self.items[self.span(&range)].iter().map(|(k, v)| (k, v))
    }

    /// The entries whose keys fall in `range`, in order, values writable.
    pub fn range_mut<Q: Ord + ?Sized, R: RangeBounds<Q>>(&mut self, range: R) -> impl DoubleEndedIterator<Item = (&K, &mut V)>
    where
        K: Borrow<Q>,
    {
        let span = self.span(&range);
        self.items[span].iter_mut().map(|(k, v)| (&*k, v))
    }

    /// Moves every entry of `other` into this map (`other`'s win).
    pub fn append(&mut self, other: &mut Self) {
        for (k, v) in other.items.drain(..) {
            self.insert(k, v);
        }
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = VecMap::new();
        m.extend(iter);
        m
    }
}

impl<K: Ord, V> Extend<(K, V)> for VecMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for VecMap<K, V> {
    fn from(items: [(K, V); N]) -> Self {
        items.into_iter().collect()
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(k, v)| (k, v))
    }
}

impl<'a, K, V> IntoIterator for &'a mut VecMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = std::iter::Map<std::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter_mut().map(|(k, v)| (&*k, v))
    }
}

impl<K: Ord + Borrow<Q>, Q: Ord + ?Sized, V> std::ops::Index<&Q> for VecMap<K, V> {
    type Output = V;
    fn index(&self, key: &Q) -> &V {
        #[allow(clippy::expect_used)]
        self.get(key).expect("no entry found for key")
    }
}

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for VecMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, K: serde::Deserialize<'de> + Ord, V: serde::Deserialize<'de>> serde::Deserialize<'de> for VecMap<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: serde::Deserialize<'de> + Ord, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<K, V> {
            type Value = VecMap<K, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = VecMap::new();
                while let Some((k, v)) = a.next_entry()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Random operations (a fixed-seed generator, so the test runs the same
    /// natively and in wasm, where the viewer uses `VecMap`): every one gives
    /// what `BTreeMap`'s gives, and the two hold the same entries in the
    /// same order after each, so the viewer's state is the simulator's.
    #[test]
    fn behaves_as_btreemap() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..300 {
            let (mut b, mut v) = (BTreeMap::new(), VecMap::new());
            for _ in 0..next(120) {
                let (k, x) = (next(40) as u8, next(1000) as u16);
                match next(5) {
                    0 | 1 => assert_eq!(b.insert(k, x), v.insert(k, x)),
                    2 => assert_eq!(b.remove(&k), v.remove(&k)),
                    3 => {
                        b.retain(|key, val| (*key ^ k) & 1 == 0 || *val % 3 == 0);
                        v.retain(|key, val| (*key ^ k) & 1 == 0 || *val % 3 == 0);
                    }
                    _ if x % 2 == 0 => assert_eq!(b.pop_first(), v.pop_first()),
                    _ => assert_eq!(b.pop_last(), v.pop_last()),
                }
                assert_eq!(b.iter().collect::<Vec<_>>(), v.iter().collect::<Vec<_>>());
                assert_eq!(b.len(), v.len());
            }
            for k in 0..45u8 {
                assert_eq!(b.get(&k), v.get(&k));
                assert_eq!(b.contains_key(&k), v.contains_key(&k));
            }
            assert_eq!(b.first_key_value(), v.first_key_value());
            assert_eq!(b.last_key_value(), v.last_key_value());
            let (lo, hi) = (next(45) as u8, next(45) as u8);
            if lo <= hi {
                assert_eq!(b.range(lo..hi).collect::<Vec<_>>(), v.range(lo..hi).collect::<Vec<_>>());
                assert_eq!(b.range(lo..=hi).rev().collect::<Vec<_>>(), v.range(lo..=hi).rev().collect::<Vec<_>>());
            }
            assert_eq!(b.range(..hi).collect::<Vec<_>>(), v.range(..hi).collect::<Vec<_>>());
            let after = (Bound::Excluded(lo), Bound::Unbounded);
            assert_eq!(b.range(after).collect::<Vec<_>>(), v.range(after).collect::<Vec<_>>());
            let json = serde_json::to_string(&b).unwrap_or_default();
            assert_eq!(serde_json::to_string(&v).ok().as_deref(), Some(json.as_str()));
            let back: VecMap<u8, u16> = serde_json::from_str(&json).unwrap_or_default();
            assert_eq!(back, v);
        }
    }
}
