//! The tenant index: one slot per tenant that has sessions, holding the slab of its sessions
//! and their exact count; a tenant whose last session leaves is forgotten.
//!
//! # The slot protocol
//! A slot's `state` word is the number of sessions registered under it, or [`DEAD`] once
//! the slot has been retired. Registering a session first *acquires* the slot (count + 1,
//! refused once dead); unregistering *releases* it (count - 1) after the session has left
//! the slot's set, so `count >= set size` at every instant and a count of zero means an
//! empty set. The releaser that brings the count to zero tries `0 -> DEAD`; if it wins, the
//! slot can never be acquired again and it removes the slot from the registry (only that
//! exact slot: `remove_if` compares pointers). An acquirer that meets a dead slot helps
//! remove it and retries, and then inserts a fresh slot. Hence:
//! * at most one live slot per tenant is in the registry, and a session's slot stays live
//!   and registered for as long as the session is registered (its count holds it);
//! * when every operation has finished, the registry holds exactly the tenants that have
//!   sessions, each with its exact count, and `live` is the number of those tenants.
//!
//! `tests/loom_table.rs` checks this under every interleaving loom explores.

use autonomic_core::TenantId;

use crate::map::{Map, TenantHasher};
use crate::slab::Slab;
use crate::sync::{Arc, AtomicUsize, Ordering};

/// The `state` bit of a retired slot.
const DEAD: usize = 1 << (usize::BITS - 1);

/// One tenant's sessions.
pub(crate) struct TenantSlot {
    /// Sessions registered, or `DEAD`.
    state: AtomicUsize,
    /// The tenant's sessions.
    pub(crate) slab: Slab,
}

impl TenantSlot {
    /// A slot born holding one registration (its creator's), so it is never seen at zero
    /// before its first session.
    fn new_acquired() -> Self {
        TenantSlot { state: AtomicUsize::new(1), slab: Slab::new() }
    }

    /// Sessions registered under this slot (0 once retired).
    pub(crate) fn count(&self) -> usize {
        // Acquire: pairs with the AcqRel updates in `try_acquire` / `release`; the value is
        // only reported, so any recent value is correct.
        let s = self.state.load(Ordering::Acquire);
        if s & DEAD != 0 { 0 } else { s }
    }

    /// Count + 1 unless retired.
    fn try_acquire(&self) -> bool {
        // Acquire: see the latest count (or DEAD) before deciding.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & DEAD != 0 {
                return false;
            }
            // AcqRel on success: this increment is ordered before our later set insert and
            // after the releases it counts on; Acquire on failure re-reads the winner.
            match self.state.compare_exchange_weak(s, s + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }
}

/// The registry of tenants that have sessions.
pub(crate) struct Tenants {
    registry: Map<TenantId, Arc<TenantSlot>, TenantHasher>,
    /// Live slots: tenants that have at least one session.
    live: AtomicUsize,
}

impl Tenants {
    pub(crate) fn new() -> Self {
        Tenants { registry: Map::new(), live: AtomicUsize::new(0) }
    }

    /// Registers one more session for `tenant`; returns its (live) slot, whose set the
    /// caller then inserts the session into.
    pub(crate) fn acquire(&self, tenant: TenantId) -> Arc<TenantSlot> {
        loop {
            let (slot, inserted) =
                self.registry.get_or_insert_with(tenant, || Arc::new(TenantSlot::new_acquired()));
            if inserted {
                // Relaxed: a statistic, exact at quiescence because each slot is counted once
                // here and once in `release`. It never dips below zero: the slot cannot be
                // retired before this thread releases its own registration, which comes after
                // this add and happens-before the retiring RMW chain on `state`.
                self.live.fetch_add(1, Ordering::Relaxed);
                return slot;
            }
            if slot.try_acquire() {
                return slot;
            }
            // Retired by a concurrent release that has not removed it yet: help, then retry.
            self.registry.remove_if(&tenant, |s| Arc::ptr_eq(s, &slot).then_some(()));
        }
    }

    /// Unregisters one session of `tenant` (already removed from `slot.slab`).
    pub(crate) fn release(&self, tenant: TenantId, slot: &Arc<TenantSlot>) {
        // AcqRel: the Release half orders our set removal before the count drop (so a count
        // of zero means an empty set); the Acquire half orders the retirement below after
        // every earlier registration.
        if slot.state.fetch_sub(1, Ordering::AcqRel) == 1
            // AcqRel: retire only if nobody acquired in between; Acquire on failure is unused.
            && slot.state.compare_exchange(0, DEAD, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            // Relaxed: see `acquire`.
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.registry.remove_if(&tenant, |s| Arc::ptr_eq(s, slot).then_some(()));
        }
    }

    /// The slot of `tenant`, if it has sessions (a slot being retired reads as empty).
    pub(crate) fn get(&self, tenant: &TenantId) -> Option<Arc<TenantSlot>> {
        self.registry.read(tenant, Arc::clone)
    }

    /// Reads `tenant`'s slot without cloning it.
    pub(crate) fn with<R>(&self, tenant: &TenantId, f: impl FnOnce(&TenantSlot) -> R) -> Option<R> {
        self.registry.read(tenant, |s| f(s))
    }

    /// Tenants that have at least one session.
    pub(crate) fn live(&self) -> usize {
        // Relaxed: see `acquire`.
        self.live.load(Ordering::Relaxed)
    }

    /// Every tenant with its slot (a copy: the registry is not locked afterwards).
    pub(crate) fn slots(&self) -> Vec<(TenantId, Arc<TenantSlot>)> {
        self.registry.collect(|t, s| (*t, Arc::clone(s)))
    }
}
