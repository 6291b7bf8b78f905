//! The order the table's locks are taken in, and its check in debug builds.
//!
//! The table has three kinds of lock. A thread holding one may take only a lock of a *later*
//! level, never an earlier one nor a second of the same level:
//!
//! 1. [`LockLevel::Registry`]: a shard of the tenant registry (`tenants.rs`). Its closures
//!    take a tenant's slab lock: registering inserts into the slab, unregistering removes from
//!    it, and removing a retired slot checks the slab's retired flag.
//! 2. [`LockLevel::Slab`]: one slab's mutex (`slab.rs`). A removal or compaction under it
//!    rewrites positions in the by-id map (`relocate`).
//! 3. [`LockLevel::Sessions`]: a shard of the by-id map (`table.rs`). Its closures only read
//!    or adjust the entry they are given and take no table lock.
//!
//! Registry -> slab -> by-id map is acyclic, so the table cannot deadlock on its own locks;
//! visits, whose callbacks run user code, hold none of them while calling back (see
//! [`visit`](crate::visit)). In debug builds every acquisition is checked against the locks
//! the thread holds and a violation panics before it could deadlock, so the test suites
//! check the order on every path they run. Release builds (and loom builds, whose model
//! threads share one OS thread) compile the check out.

use std::ops::{Deref, DerefMut};

use crate::sync::{Mutex, MutexGuard, lock};

/// A kind of lock, in the order a thread may nest them (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LockLevel {
    /// A shard of the tenant registry.
    Registry = 0,
    /// One slab's mutex.
    Slab = 1,
    /// A shard of the by-id map.
    Sessions = 2,
}

/// Marks a lock of one level as held by this thread until dropped (nothing in release
/// builds).
#[must_use]
pub(crate) struct Held {
    #[cfg(all(debug_assertions, not(autonomic_loom)))]
    level: LockLevel,
}

#[cfg(all(debug_assertions, not(autonomic_loom)))]
thread_local! {
    /// Levels this thread holds, one bit each.
    static HELD: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Records that this thread is about to take a lock of `level`.
///
/// # Panics
/// In debug builds, if the thread holds a lock of `level` or of a later level.
#[inline]
pub(crate) fn hold(level: LockLevel) -> Held {
    #[cfg(all(debug_assertions, not(autonomic_loom)))]
    {
        let bit = 1u8 << level as u8;
        let held = HELD.get();
        assert!(
            held < bit,
            "lock order: taking a {level:?} lock while holding {:?} (registry -> slab -> by-id map)",
            [LockLevel::Registry, LockLevel::Slab, LockLevel::Sessions]
                .into_iter()
                .filter(|l| held & (1 << *l as u8) != 0)
                .collect::<Vec<_>>()
        );
        HELD.set(held | bit);
        Held { level }
    }
    #[cfg(not(all(debug_assertions, not(autonomic_loom))))]
    {
        let _ = level;
        Held {}
    }
}

impl Drop for Held {
    #[inline]
    fn drop(&mut self) {
        #[cfg(all(debug_assertions, not(autonomic_loom)))]
        HELD.set(HELD.get() & !(1u8 << self.level as u8));
    }
}

/// A mutex guard taken in order (see [`lock_in_order`]).
pub(crate) struct Ordered<'a, T> {
    // Declared first, so the mutex is released before the level is.
    guard: MutexGuard<'a, T>,
    _held: Held,
}

/// Locks `m`, a lock of `level`, checking the order first (see the module docs).
#[inline]
pub(crate) fn lock_in_order<T>(m: &Mutex<T>, level: LockLevel) -> Ordered<'_, T> {
    let held = hold(level);
    Ordered { guard: lock(m), _held: held }
}

impl<T> Deref for Ordered<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Ordered<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(all(test, debug_assertions, not(autonomic_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_documented_order_is_allowed() {
        let registry = hold(LockLevel::Registry);
        let slab = hold(LockLevel::Slab);
        let sessions = hold(LockLevel::Sessions);
        drop((sessions, slab, registry));
        // And again after release, in any release order.
        let slab = hold(LockLevel::Slab);
        let sessions = hold(LockLevel::Sessions);
        drop(slab);
        drop(sessions);
        drop(hold(LockLevel::Registry));
    }

    #[test]
    #[should_panic(expected = "taking a Registry lock while holding [Slab]")]
    fn a_registry_lock_under_a_slab_lock_panics() {
        let _slab = hold(LockLevel::Slab);
        let _registry = hold(LockLevel::Registry);
    }

    #[test]
    #[should_panic(expected = "taking a Slab lock while holding [Slab, Sessions]")]
    fn a_slab_lock_under_the_by_id_map_panics() {
        let _slab = hold(LockLevel::Slab);
        let _sessions = hold(LockLevel::Sessions);
        let _another_slab = hold(LockLevel::Slab);
    }
}
