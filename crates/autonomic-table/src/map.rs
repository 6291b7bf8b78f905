//! The one concurrent map the table is built on, behind a small interface so that the
//! choice of crate stays a local decision (see `docs/performance.md` for how it was chosen).
//!
//! Every structure of the table (the sessions by id, the tenant registry, the per-tenant and
//! per-pattern sets) is a [`Map`]. What the table relies on:
//! * each operation on one key is atomic (linearizable): `insert`, `remove_if`, `update`
//!   and `get_or_insert_with` decide on the value present at that instant;
//! * reads and scans never block and hold no lock while they call back, so a visitor may call
//!   anything on the table, including removing the session it is visiting;
//! * a scan is weakly consistent: it sees every entry present for its whole duration, may or
//!   may not see entries inserted or removed while it runs, and sees no entry twice.
//!
//! Under `cfg(autonomic_loom)` the same interface is backed by a loom mutex around a
//! `std` map, so the loom model checks the table's protocol on top of a map that loom can see.

use std::hash::Hash;

#[cfg(not(autonomic_loom))]
pub(crate) use real::Map;
#[cfg(autonomic_loom)]
pub(crate) use model::Map;

/// The hasher of every map: keys are process-allocated session ids and tenant ids, hashed
/// with a per-map random seed.
#[cfg(not(autonomic_loom))]
pub(crate) type Hasher = foldhash::fast::RandomState;

#[cfg(not(autonomic_loom))]
mod real {
    use super::{Hash, Hasher};
    use papaya::{Compute, HashMap, Operation};

    /// A lock-free concurrent map (`papaya::HashMap`).
    pub(crate) struct Map<K: 'static, V: 'static> {
        inner: HashMap<K, V, Hasher>,
    }

    impl<K, V> Map<K, V>
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        pub(crate) fn new() -> Self {
            Map { inner: HashMap::with_hasher(Hasher::default()) }
        }

        /// Inserts `value` under a key that is not present; `false` (and nothing changes) if
        /// the key is present.
        #[inline]
        pub(crate) fn insert(&self, key: K, value: V) -> bool {
            self.inner.pin().try_insert(key, value).is_ok()
        }

        /// Reads the value under `key` without blocking.
        #[inline]
        pub(crate) fn read<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
            self.inner.pin().get(key).map(f)
        }

        #[inline]
        pub(crate) fn contains(&self, key: &K) -> bool {
            self.inner.pin().contains_key(key)
        }

        /// Removes the entry if `pred` holds for its value, deciding atomically (`pred` may
        /// be called more than once).
        #[inline]
        pub(crate) fn remove_if(&self, key: &K, mut pred: impl FnMut(&V) -> bool) -> Option<V> {
            match self.inner.pin().remove_if(key, |_, v| pred(v)) {
                Ok(Some((_, v))) => Some(v.clone()),
                Ok(None) | Err(_) => None,
            }
        }

        #[inline]
        pub(crate) fn remove(&self, key: &K) -> Option<V> {
            self.inner.pin().remove(key).cloned()
        }

        /// Replaces the value under `key` by `f(old).0`, atomically; `None` if absent (`f`
        /// may be called more than once; the result of the call that won is returned).
        pub(crate) fn update<R>(&self, key: &K, mut f: impl FnMut(&V) -> (V, R)) -> Option<R> {
            let mut out = None;
            let map = self.inner.pin();
            let result = map.compute(key.clone(), |entry| match entry {
                Some((_, old)) => {
                    let (new, r) = f(old);
                    out = Some(r);
                    Operation::Insert(new)
                }
                None => Operation::Abort(()),
            });
            match result {
                Compute::Updated { .. } => out,
                _ => None,
            }
        }

        /// The value under `key`, inserting `make()` first if absent; `true` if inserted.
        pub(crate) fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> (V, bool) {
            let map = self.inner.pin();
            if let Some(v) = map.get(&key) {
                return (v.clone(), false);
            }
            match map.try_insert_with(key, make) {
                Ok(v) => (v.clone(), true),
                Err(v) => (v.clone(), false),
            }
        }

        /// Visits every entry (weakly consistent, lock-free, `f` may call into any map).
        #[inline]
        pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
            for (k, v) in self.inner.pin().iter() {
                f(k, v);
            }
        }
    }
}

#[cfg(autonomic_loom)]
mod model {
    use super::Hash;
    use loom::sync::Mutex;
    use std::collections::HashMap;

    /// The loom stand-in: a mutex around a `std` map. Scans copy the entries out first, so
    /// callbacks run without the lock, as with the real map.
    pub(crate) struct Map<K, V> {
        inner: Mutex<HashMap<K, V>>,
    }

    impl<K, V> Map<K, V>
    where
        K: Eq + Hash + Clone + 'static,
        V: Clone + 'static,
    {
        pub(crate) fn new() -> Self {
            Map { inner: Mutex::new(HashMap::new()) }
        }

        fn lock(&self) -> loom::sync::MutexGuard<'_, HashMap<K, V>> {
            // A panic while holding this lock is a failed model run; poisoning is irrelevant.
            self.inner.lock().unwrap_or_else(|e| e.into_inner())
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
            let v = self.lock().get(key).cloned();
            v.map(|v| f(&v))
        }

        pub(crate) fn contains(&self, key: &K) -> bool {
            self.lock().contains_key(key)
        }

        pub(crate) fn remove_if(&self, key: &K, mut pred: impl FnMut(&V) -> bool) -> Option<V> {
            let mut map = self.lock();
            if map.get(key).is_some_and(&mut pred) { map.remove(key) } else { None }
        }

        pub(crate) fn remove(&self, key: &K) -> Option<V> {
            self.lock().remove(key)
        }

        pub(crate) fn update<R>(&self, key: &K, mut f: impl FnMut(&V) -> (V, R)) -> Option<R> {
            let mut map = self.lock();
            let slot = map.get_mut(key)?;
            let (new, out) = f(slot);
            *slot = new;
            Some(out)
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

        pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
            let entries: Vec<(K, V)> =
                self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, v) in &entries {
                f(k, v);
            }
        }
    }
}
