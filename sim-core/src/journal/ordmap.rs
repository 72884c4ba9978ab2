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
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u16),
        Remove(u8),
        Retain(u8),
        PopFirst,
        PopLast,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k % 40, v)),
            any::<u8>().prop_map(|k| Op::Remove(k % 40)),
            any::<u8>().prop_map(Op::Retain),
            Just(Op::PopFirst),
            Just(Op::PopLast),
        ]
    }

    proptest! {
        /// Every operation gives what `BTreeMap`'s gives, and the two hold
        /// the same entries in the same order after each: the viewer's state
        /// is the simulator's.
        #[test]
        fn behaves_as_btreemap(ops in proptest::collection::vec(op(), 0..120), lo in 0u8..45, hi in 0u8..45) {
            let (mut b, mut v) = (BTreeMap::new(), VecMap::new());
            for o in ops {
                match o {
                    Op::Insert(k, x) => prop_assert_eq!(b.insert(k, x), v.insert(k, x)),
                    Op::Remove(k) => prop_assert_eq!(b.remove(&k), v.remove(&k)),
                    Op::Retain(m) => {
                        b.retain(|k, x| (*k ^ m) & 1 == 0 || *x % 3 == 0);
                        v.retain(|k, x| (*k ^ m) & 1 == 0 || *x % 3 == 0);
                    }
                    Op::PopFirst => prop_assert_eq!(b.pop_first(), v.pop_first()),
                    Op::PopLast => prop_assert_eq!(b.pop_last(), v.pop_last()),
                }
                prop_assert_eq!(b.iter().collect::<Vec<_>>(), v.iter().collect::<Vec<_>>());
                prop_assert_eq!(b.len(), v.len());
            }
            for k in 0..45u8 {
                prop_assert_eq!(b.get(&k), v.get(&k));
                prop_assert_eq!(b.contains_key(&k), v.contains_key(&k));
            }
            prop_assert_eq!(b.first_key_value(), v.first_key_value());
            prop_assert_eq!(b.last_key_value(), v.last_key_value());
            if lo <= hi {
                prop_assert_eq!(b.range(lo..hi).collect::<Vec<_>>(), v.range(lo..hi).collect::<Vec<_>>());
                prop_assert_eq!(b.range(lo..=hi).rev().collect::<Vec<_>>(), v.range(lo..=hi).rev().collect::<Vec<_>>());
            }
            prop_assert_eq!(b.range(..hi).collect::<Vec<_>>(), v.range(..hi).collect::<Vec<_>>());
            prop_assert_eq!(b.range((Bound::Excluded(lo), Bound::Unbounded)).collect::<Vec<_>>(),
                v.range((Bound::Excluded(lo), Bound::Unbounded)).collect::<Vec<_>>());
            prop_assert_eq!(serde_json::to_string(&b).ok(), serde_json::to_string(&v).ok());
            let back: VecMap<u8, u16> = serde_json::from_str(&serde_json::to_string(&b).unwrap_or_default()).unwrap_or_default();
            prop_assert_eq!(back, v);
        }
    }
}
