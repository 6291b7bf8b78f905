//! The doctrine in force: Global Q, the budgets below it and the shadow doctrine, in one
//! immutable snapshot ([`InForce`]) swapped whole, so that an admission reads all of it with
//! one `arc-swap` load, and never a Q from one swap with budgets or a shadow from another.
//!
//! Writers (a Q update, a budgets update, a shadow set, cleared or promoted) are serialised
//! by one lock and each builds the next snapshot from the one in force: the tenant shares'
//! index is always built from the Q and budgets of its own snapshot. Readers take no lock.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use autonomic_core::GlobalQ;

use super::budgets::BudgetsInForce;
use crate::gate::{self, Gate};
use crate::shadow::Shadow;

/// One snapshot of the doctrine in force.
#[derive(Debug)]
pub(crate) struct InForce {
    /// Global Q (an `Arc`, handed out whole by [`global_q`](super::SessionAdapter::global_q)).
    pub(crate) q: Arc<GlobalQ>,
    /// `q.max_total_resources` in the gate's units (worked out once, at the swap).
    pub(crate) capacity_units: u64,
    /// The budgets below Q, their share index built against `q`.
    pub(crate) budgets: BudgetsInForce,
    /// The shadow doctrine, if one is set (judged beside `q`, without effect).
    pub(crate) shadow: Option<Arc<Shadow>>,
    /// Slots above `q.max_concurrent_adaptations` that only actions shedding load may take
    /// (see [`set_shedding_headroom`](super::SessionAdapter::set_shedding_headroom)).
    pub(crate) shedding_headroom: u64,
}

impl InForce {
    fn new(q: Arc<GlobalQ>, budgets: BudgetsInForce, shadow: Option<Arc<Shadow>>) -> Self {
        InForce {
            capacity_units: gate::capacity_units(q.max_total_resources),
            q,
            budgets,
            shadow,
            shedding_headroom: 0,
        }
    }

    /// The slots an admission of `kind` may take above Q's `max_concurrent_adaptations`: the
    /// shedding headroom for an action that sheds load, none for one that consumes capacity.
    #[inline]
    pub(crate) fn headroom_for(&self, kind: crate::ActionKind) -> u64 {
        if crate::ActionKinds::CONSUMING.contains(kind) { 0 } else { self.shedding_headroom }
    }

    /// This snapshot with `q` in force: the share index rebuilt against its caps (the class
    /// counters kept).
    pub(crate) fn with_q(&self, q: GlobalQ, shadow: Option<Arc<Shadow>>) -> Self {
        let budgets = self.budgets.against(&q);
        InForce {
            shedding_headroom: self.shedding_headroom,
            ..InForce::new(Arc::new(q), budgets, shadow)
        }
    }

    /// This snapshot with `budgets` in force.
    pub(crate) fn with_budgets(&self, budgets: BudgetsInForce) -> Self {
        InForce {
            shedding_headroom: self.shedding_headroom,
            ..InForce::new(self.q.clone(), budgets, self.shadow.clone())
        }
    }

    /// This snapshot with `shadow` (or none).
    pub(crate) fn with_shadow(&self, shadow: Option<Arc<Shadow>>) -> Self {
        InForce {
            q: self.q.clone(),
            capacity_units: self.capacity_units,
            budgets: self.budgets.clone(),
            shadow,
            shedding_headroom: self.shedding_headroom,
        }
    }

    /// This snapshot with `slots` of shedding headroom.
    pub(crate) fn with_shedding_headroom(&self, slots: u64) -> Self {
        InForce { shedding_headroom: slots, ..self.with_shadow(self.shadow.clone()) }
    }
}

/// Where the adapter keeps the doctrine in force.
pub(crate) struct Doctrine {
    current: ArcSwap<InForce>,
    /// Serialises the writers (readers take no lock).
    writer: Mutex<()>,
}

impl Doctrine {
    /// `q` and `budgets` (validated) for `gate`, no shadow.
    pub(crate) fn new(q: GlobalQ, budgets: crate::Budgets, gate: &crate::sync::Arc<Gate>) -> Self {
        let budgets = BudgetsInForce::new(budgets, &q, None, gate);
        Doctrine {
            current: ArcSwap::from_pointee(InForce::new(Arc::new(q), budgets, None)),
            writer: Mutex::new(()),
        }
    }

    /// The snapshot in force (lock-free; hold it only for the length of one admission).
    #[inline]
    pub(crate) fn load(&self) -> Guard<Arc<InForce>> {
        self.current.load()
    }

    /// Replaces the snapshot in force with the one `next` builds from it (writers
    /// serialised); returns the snapshot replaced.
    pub(crate) fn replace(&self, next: impl FnOnce(&InForce) -> InForce) -> Arc<InForce> {
        self.replace_if(|now| Some(next(now))).unwrap_or_else(|| self.current.load_full())
    }

    /// As [`replace`](Self::replace), if `next` builds a snapshot (else nothing changes and
    /// `None` is returned).
    pub(crate) fn replace_if(
        &self,
        next: impl FnOnce(&InForce) -> Option<InForce>,
    ) -> Option<Arc<InForce>> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = self.current.load_full();
        let snapshot = next(&previous)?;
        self.current.store(Arc::new(snapshot));
        Some(previous)
    }
}

impl std::fmt::Debug for Doctrine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = self.current.load();
        f.debug_struct("Doctrine")
            .field("global_q", &*now.q)
            .field("budgets", &now.budgets.budgets)
            .field("shadow_set", &now.shadow.is_some())
            .finish()
    }
}
