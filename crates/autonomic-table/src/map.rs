//! The concurrent hash map behind the by-id lookups and the tenant registry, behind a small
//! interface so that the choice of crate stays a local decision (see `docs/performance.md`
//! for how it was chosen: `dashmap`, with [`IdHasher`] for session ids).
//!
//! What the table relies on:
//! * each operation on one key is atomic: `insert`, `remove_if`, `modify` and
//!   `get_or_insert_with` decide on the value present at that instant, and their closures
//!   run while the key is locked;
//! * no lock is held between calls (nothing here returns a guard), so the only locks held
//!   while other code runs are the ones inside these closures, which only read or adjust the
//!   value they are given.
//!
//! Under `cfg(autonomic_loom)` the same interface is backed by a loom mutex around a `std`
//! map, so the loom model checks the table's protocol on top of a map that loom can see.

use std::hash::{BuildHasher, Hash};

use crate::lock_order::LockLevel;

#[cfg(autonomic_loom)]
pub(crate) use model::Map;
#[cfg(not(autonomic_loom))]
pub(crate) use real::Map;

/// The hasher of the by-id map: [`BuildSessionIdHasher`](autonomic_core::BuildSessionIdHasher), which
/// keeps each run of 64 consecutive ids in 64 adjacent buckets and scatters the runs. The
/// table only inserts ids the process allocated (nobody outside chooses them, so an unkeyed
/// hash is safe), and a thread's successive sessions have consecutive ids: creating them,
/// and removing them in creation order as cleanup does, touches the map's memory in order
/// instead of one random bucket each.
pub(crate) type IdHasher = autonomic_core::BuildSessionIdHasher;

/// The hasher of the tenant registry: tenant ids may come from outside, so it is seeded.
pub(crate) type TenantHasher = foldhash::fast::RandomState;

#[cfg(not(autonomic_loom))]
mod real {
    use super::{BuildHasher, Hash, LockLevel};
    use crate::lock_order::hold;
    use dashmap::{DashMap, mapref::entry::Entry};

    /// `dashmap::DashMap`: sharded, each shard a `hashbrown` table behind a reader-writer
    /// lock that does not make new readers wait for a queued writer.
    pub(crate) struct Map<K, V, S> {
        inner: DashMap<K, V, S>,
        /// Where its shard locks stand in the table's lock order.
        level: LockLevel,
    }

    impl<K, V, S> Map<K, V, S>
    where
        K: Eq + Hash + Clone,
        V: Clone,
        S: BuildHasher + Clone + Default,
    {
        /// An empty map whose shard locks are of `level` (see `lock_order.rs`).
        pub(crate) fn new(level: LockLevel) -> Self {
            Map { inner: DashMap::with_hasher(S::default()), level }
        }

        /// Inserts under a key that is not present; `false` (and no change) if it is.
        #[inline]
        pub(crate) fn insert(&self, key: K, value: V) -> bool {
            let _held = hold(self.level);
            match self.inner.entry(key) {
                Entry::Occupied(_) => false,
                Entry::Vacant(v) => {
                    v.insert(value);
                    true
                }
            }
        }

        /// Reads the value under `key` (`f` runs under the shard's read lock).
        #[inline]
        pub(crate) fn read<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
            let _held = hold(self.level);
            self.inner.get(key).map(|r| f(r.value()))
        }

        #[inline]
        pub(crate) fn contains(&self, key: &K) -> bool {
            let _held = hold(self.level);
            self.inner.contains_key(key)
        }

        /// Removes the entry if `decide` returns `Some`, atomically; returns the value and
        /// what `decide` returned (`decide` runs under the shard's write lock).
        #[inline]
        pub(crate) fn remove_if<R>(
            &self,
            key: &K,
            decide: impl FnOnce(&V) -> Option<R>,
        ) -> Option<(V, R)> {
            let _held = hold(self.level);
            let mut out = None;
            let removed = self.inner.remove_if(key, |_, v| {
                out = decide(v);
                out.is_some()
            })?;
            Some((removed.1, out?))
        }

        /// Changes the value under `key` in place, atomically; `None` if absent (`f` runs
        /// under the shard's write lock).
        #[inline]
        pub(crate) fn modify<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
            let _held = hold(self.level);
            let mut r = self.inner.get_mut(key)?;
            Some(f(r.value_mut()))
        }

        /// The value under `key`, inserting `make()` first if absent; `true` if inserted.
        pub(crate) fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> (V, bool) {
            let _held = hold(self.level);
            if let Some(v) = self.inner.get(&key) {
                return (v.value().clone(), false);
            }
            match self.inner.entry(key) {
                Entry::Occupied(o) => (o.get().clone(), false),
                Entry::Vacant(v) => {
                    let value = make();
                    v.insert(value.clone());
                    (value, true)
                }
            }
        }

        /// Copies `f(entry)` of every entry out. `f` runs under shard read locks: it must
        /// only read what it is given.
        pub(crate) fn collect<R>(&self, mut f: impl FnMut(&K, &V) -> R) -> Vec<R> {
            let _held = hold(self.level);
            self.inner.iter().map(|r| f(r.key(), r.value())).collect()
        }
    }
}

#[cfg(autonomic_loom)]
mod model {
    use super::{BuildHasher, Hash, LockLevel};
    use crate::lock_order::{Ordered, lock_in_order};
    use crate::sync::Mutex;
    use std::collections::HashMap;
    use std::marker::PhantomData;

    /// The loom stand-in: a loom mutex around a `std` map.
    pub(crate) struct Map<K, V, S> {
        inner: Mutex<HashMap<K, V>>,
        level: LockLevel,
        _hasher: PhantomData<S>,
    }

    impl<K, V, S> Map<K, V, S>
    where
        K: Eq + Hash + Clone,
        V: Clone,
        S: BuildHasher + Clone + Default,
    {
        pub(crate) fn new(level: LockLevel) -> Self {
            Map { inner: Mutex::new(HashMap::new()), level, _hasher: PhantomData }
        }

        fn lock(&self) -> Ordered<'_, HashMap<K, V>> {
            lock_in_order(&self.inner, self.level)
        }

        pub(crate) fn insert(&self, key: K, value: V) -> bool {
            let mut map = self.lock();
            if map.contains_key(&key) {
                return false;
            }
            map.insert(key, value);
            true
        }

        pub(crate) fn read<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
            self.lock().get(key).map(f)
        }

        pub(crate) fn contains(&self, key: &K) -> bool {
            self.lock().contains_key(key)
        }

        pub(crate) fn remove_if<R>(
            &self,
            key: &K,
            decide: impl FnOnce(&V) -> Option<R>,
        ) -> Option<(V, R)> {
            let mut map = self.lock();
            let out = decide(map.get(key)?)?;
            map.remove(key).map(|v| (v, out))
        }

        pub(crate) fn modify<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
            self.lock().get_mut(key).map(f)
        }

        pub(crate) fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> (V, bool) {
            let mut map = self.lock();
            if let Some(v) = map.get(&key) {
                return (v.clone(), false);
            }
            let v = make();
            map.insert(key, v.clone());
            (v, true)
        }

        pub(crate) fn collect<R>(&self, mut f: impl FnMut(&K, &V) -> R) -> Vec<R> {
            self.lock().iter().map(|(k, v)| f(k, v)).collect()
        }
    }
}
