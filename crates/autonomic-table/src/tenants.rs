//! The tenant index: one slot per tenant that has sessions, holding the slab of its
//! sessions; a tenant whose last session leaves is forgotten.
//!
//! # The slot protocol
//! A tenant's slab *retires* when its last session leaves, in the same critical section
//! as that removal, and a retired slab takes no session any more. So:
//! * **register**: insert into the registered slot's slab; if it is retired (or there is
//!   none), help remove the retired slot from the registry, insert a fresh one if none is
//!   there (`get_or_insert_with`, atomic per tenant), and try again;
//! * **unregister**: remove from the slab; if that retired it, remove the slot from the
//!   registry, but only if the registered slot is still a retired one (a newer live slot may
//!   already have replaced it).
//!
//! Hence at most one live slot per tenant is registered; a session's slot stays live and
//! registered while the session is in it; and when no operation is in flight, the registry
//! holds exactly the tenants that have sessions, and `live` is their number.
//! `tests/loom_table.rs` checks this under every interleaving loom explores.

use autonomic_core::{SessionId, TenantId};

use crate::lock_order::LockLevel;
use crate::map::{Map, TenantHasher};
use crate::slab::{Handle, Pos, Slab};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// One tenant's sessions.
pub(crate) struct TenantSlot {
    /// The tenant's sessions; retires with the last one.
    pub(crate) slab: Slab,
}

/// The registry of tenants that have sessions.
pub(crate) struct Tenants {
    registry: Map<TenantId, Arc<TenantSlot>, TenantHasher>,
    /// Live slots: tenants that have at least one session.
    live: AtomicUsize,
}

impl Tenants {
    pub(crate) fn new() -> Self {
        Tenants { registry: Map::new(LockLevel::Registry), live: AtomicUsize::new(0) }
    }

    /// Puts `session` into `tenant`'s slab; returns its position there.
    ///
    /// # Safety
    /// As [`Slab::try_insert`]: a strong reference to `session` is kept until it has been
    /// unregistered.
    pub(crate) unsafe fn register(&self, tenant: TenantId, session: &Handle) -> Pos {
        loop {
            // The common case: a live slot; the registry is only read.
            let insert = |s: &Arc<TenantSlot>| {
                // SAFETY: the caller's contract.
                unsafe { s.slab.try_insert(session) }
            };
            if let Some(Some(pos)) = self.registry.read(&tenant, insert) {
                return pos;
            }
            let (slot, _) = self.registry.get_or_insert_with(tenant, || {
                // Counted before the slot is visible, so the decrement when it retires
                // (which needs a session in it first) always comes after. Relaxed: a size,
                // exact at quiescence because each slot is counted once up and once down.
                self.live.fetch_add(1, Ordering::Relaxed);
                Arc::new(TenantSlot { slab: Slab::new_retiring() })
            });
            // SAFETY: the caller's contract.
            if let Some(pos) = unsafe { slot.slab.try_insert(session) } {
                return pos;
            }
            // Retired, not yet removed by its retirer: help, then try again.
            self.registry.remove_if(&tenant, |s| Arc::ptr_eq(s, &slot).then_some(()));
        }
    }

    /// Takes `session` out of `tenant`'s slab (at `pos`); forgets the tenant if that was its
    /// last session. `false` if the session was not there.
    pub(crate) fn unregister(
        &self,
        tenant: TenantId,
        pos: Pos,
        session: &Handle,
        compaction_paused: bool,
        relocate: impl FnMut(SessionId, Pos, Pos) -> bool,
    ) -> bool {
        // Present: the session's registration keeps its tenant's slot live and registered.
        let Some(removal) = self
            .registry
            .read(&tenant, |s| s.slab.remove(pos, session, compaction_paused, relocate))
        else {
            return false;
        };
        if removal.retired {
            // Relaxed: see `register`.
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.registry.remove_if(&tenant, |s| s.slab.is_retired().then_some(()));
        }
        removal.removed
    }

    /// As [`unregister`](Self::unregister) for many sessions of one tenant (best highest
    /// position first), in one critical section of its slab (no compaction: the caller is a
    /// cleanup pass, which compacts at its end). Returns how many were removed.
    pub(crate) fn unregister_all(&self, tenant: TenantId, sessions: &[(Pos, Handle)]) -> usize {
        let Some(removal) = self
            .registry
            .read(&tenant, |s| s.slab.remove_all(sessions.iter().map(|(p, h)| (*p, h))))
        else {
            return 0;
        };
        if removal.retired {
            // Relaxed: see `register`.
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.registry.remove_if(&tenant, |s| s.slab.is_retired().then_some(()));
        }
        removal.count
    }

    /// The slot of `tenant`, if it has sessions (a slot being retired reads as empty).
    pub(crate) fn get(&self, tenant: &TenantId) -> Option<Arc<TenantSlot>> {
        self.registry.read(tenant, Arc::clone)
    }

    /// Reads `tenant`'s slot without cloning it (`f` runs under the registry's read lock: it
    /// must not touch the registry).
    pub(crate) fn with<R>(&self, tenant: &TenantId, f: impl FnOnce(&TenantSlot) -> R) -> Option<R> {
        self.registry.read(tenant, |s| f(s))
    }

    /// Tenants that have at least one session.
    pub(crate) fn live(&self) -> usize {
        // Relaxed: see `register`.
        self.live.load(Ordering::Relaxed)
    }

    /// Every tenant with its slot (a copy: the registry is not locked afterwards).
    pub(crate) fn slots(&self) -> Vec<(TenantId, Arc<TenantSlot>)> {
        self.registry.collect(|t, s| (*t, Arc::clone(s)))
    }
}
