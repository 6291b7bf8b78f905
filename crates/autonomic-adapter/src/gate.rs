//! The doctrine gate: the adaptation slots, the resource ledger, the RAII [`Permit`] that
//! holds what one admitted decision took from them, and the [`Grant`] its resources become
//! once executed.
//!
//! # The protocol
//! * [`SlotCounter`]: the number of admitted, unfinished adaptations. Admission is one
//!   compare-and-swap that succeeds only if the count is below the bound it is given, so the
//!   count can never pass the bound, whatever the interleaving.
//! * [`ResourceLedger`]: the sum of resources granted to live sessions, in fixed-point
//!   units (millionths of capacity) so the bound is exact integer arithmetic (no
//!   floating-point atomics, no rounding drift). A request is rounded *up* to units and the
//!   capacity *down*, so the sum of granted amounts never exceeds `max_total_resources`.
//! * [`Gate::admit`] applies its rules in order: a slot must be free, the units must fit a
//!   permit, and the ledger must stay within capacity. What it took is held by the
//!   [`Permit`]; the permit returns it when it is dropped, unless it was returned or moved
//!   into a [`Grant`] earlier.
//!
//! Both counters acquire with `Acquire` and release with `Release`, like a lock: the work a
//! holder did under its permit happens-before the work of whoever takes the slot next.
//! Only a permit or a grant gives anything back, each part exactly once; a release of more
//! than is held is refused and traced (`error`), never wrapped. The whole module is private
//! to the crate: only [`Permit`]'s read-only view is public.
//!
//! `gate/tests/loom_gate.rs` model-checks these types (three threads, bounds one and two);
//! `gate/tests/loom_shares.rs` the tenant shares ([`ShareIndex`]: three threads, two tenants,
//! one within its guarantee) and the retry tokens.

mod grant;
mod ledger;
mod permit;
mod shares;
mod slots;

use std::sync::Arc as StdArc;

use crossbeam_utils::CachePadded;

pub(crate) use grant::Grant;
pub(crate) use ledger::{ResourceLedger, capacity_units, units_for_request, units_to_amount};
pub(crate) use permit::Executor;
pub use permit::Permit;
use permit::ShareClaim;
pub(crate) use shares::{ShareIndex, ShareRefusal};
pub(crate) use slots::SlotCounter;

#[cfg(test)]
use crate::sync::Arc;

/// What one admission asks of the gate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask<'a> {
    /// Global bound on slots in use.
    pub(crate) max_slots: u64,
    /// Global capacity, in units.
    pub(crate) capacity: u64,
    /// Units requested.
    pub(crate) units: u64,
    /// A retry token is needed, with this many allowed in flight.
    pub(crate) retry_bound: Option<u64>,
    /// The share index in force (with tenant shares off, one without classes): its gate is
    /// the one admitted against, and the permit holds it.
    pub(crate) index: &'a StdArc<ShareIndex>,
    /// The class of `index` of the asking session's tenant (tenant shares on).
    pub(crate) class: Option<usize>,
}

/// Why [`Gate::admit`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GateRefusal {
    /// Every adaptation slot was in use.
    Slots {
        /// Slots in use when the admission was attempted.
        in_use: u64,
        /// The bound in force.
        bound: u64,
    },
    /// The retry budget was spent: `in_flight` retries held tokens.
    Retries {
        /// Retry tokens held when the admission was attempted.
        in_flight: u64,
        /// Retries allowed in flight.
        bound: u64,
    },
    /// The tenant's class could not take the slot (its ceiling, or the pool).
    TenantSlots(ShareRefusal),
    /// The tenant's class could not take the units (its ceiling, or the pool).
    TenantUnits {
        /// Why.
        refusal: ShareRefusal,
        /// Units requested.
        requested: u64,
    },
    /// The request would have taken the ledger past its capacity (or could never fit it).
    Resources {
        /// Units granted when the admission was attempted.
        granted: u64,
        /// Units requested.
        requested: u64,
        /// The capacity in force, in units.
        capacity: u64,
    },
}

/// The adaptation slots and the resource ledger of one adapter.
///
/// Each counter sits on its own cache line, away from the `Arc` header that permits write.
#[derive(Debug)]
pub(crate) struct Gate {
    slots: CachePadded<SlotCounter>,
    ledger: CachePadded<ResourceLedger>,
    /// Retry tokens held (`RetryTask` decisions under a retry budget, admitted and not yet
    /// executed or dropped).
    retries: CachePadded<SlotCounter>,
}

impl Gate {
    /// Nothing in use, nothing granted.
    pub(crate) fn new() -> Self {
        Gate {
            slots: CachePadded::new(SlotCounter::new()),
            ledger: CachePadded::new(ResourceLedger::new()),
            retries: CachePadded::new(SlotCounter::new()),
        }
    }

    /// Retry tokens held.
    pub(crate) fn retries_in_flight(&self) -> u64 {
        self.retries.in_use()
    }

    /// Adaptation slots in use.
    pub(crate) fn slots_in_use(&self) -> u64 {
        self.slots.in_use()
    }

    /// Resource units granted (and reserved).
    pub(crate) fn units_granted(&self) -> u64 {
        self.ledger.granted()
    }

    /// Takes one slot (if fewer than `max_slots` are in use) and `units` of resources (if the
    /// ledger stays within `capacity`), atomically with respect to the bounds: either both are
    /// taken and held by the returned [`Permit`], or neither is.
    #[cfg(test)]
    pub(crate) fn admit(
        gate: &Arc<Gate>,
        max_slots: u64,
        capacity: u64,
        units: u64,
    ) -> Result<Permit, GateRefusal> {
        let index = &StdArc::new(ShareIndex::without_shares(gate));
        let ask = Ask { max_slots, capacity, units, retry_bound: None, index, class: None };
        Gate::admit_with(ask)
    }

    /// Takes what `ask` asks for from the gate of its share index, in order: a retry token
    /// (if `retry_bound`), the tenant class's slot and units (if `class`; see
    /// [`ShareIndex`]), then the global slot and units. Either everything is taken and held
    /// by the returned [`Permit`], or nothing (whatever was taken is given back, in reverse
    /// order).
    pub(crate) fn admit_with(ask: Ask<'_>) -> Result<Permit, GateRefusal> {
        let (index, gate) = (ask.index, ask.index.gate());
        gate.units_fit_a_permit(ask.units, ask.capacity)?;
        if let Some(bound) = ask.retry_bound {
            gate.retries
                .try_acquire(bound)
                .map_err(|in_flight| GateRefusal::Retries { in_flight, bound })?;
        }
        let taken = match ask.class {
            None => gate.take_global(ask).map(|()| None),
            Some(class) => Self::take_share(gate, ask, index, class).map(Some),
        };
        match taken {
            // One reference count per permit: the index's, which holds the gate.
            Ok(share) => {
                Ok(Permit::new(index.clone(), ask.units, ask.retry_bound.is_some(), share))
            }
            Err(refusal) => {
                if ask.retry_bound.is_some() {
                    gate.retries.release();
                }
                Err(refusal)
            }
        }
    }

    /// What [`admit`](Self::admit) would say with these bounds, judged read-only against the
    /// counters as they are now: a slot is free if fewer than `max_slots` are in use, the
    /// units fit if they fit a permit and the ledger plus them stays within `capacity`.
    /// Nothing is taken. Under concurrency it is a reading, not a reservation: an admission
    /// racing with it may make the answer stale the moment it is given.
    pub(crate) fn would_admit(
        &self,
        max_slots: u64,
        capacity: u64,
        units: u64,
    ) -> Result<(), GateRefusal> {
        self.slots
            .would_acquire(max_slots)
            .map_err(|in_use| GateRefusal::Slots { in_use, bound: max_slots })?;
        self.units_fit_a_permit(units, capacity)?;
        if units == 0 {
            return Ok(());
        }
        self.ledger
            .would_reserve(units, capacity)
            .map(drop)
            .map_err(|granted| GateRefusal::Resources { granted, requested: units, capacity })
    }

    /// The tenant class's slot and units, then the global ones; all or nothing.
    fn take_share(
        gate: &Gate,
        ask: Ask<'_>,
        index: &ShareIndex,
        class: usize,
    ) -> Result<ShareClaim, GateRefusal> {
        let borrowed_slot = index.take_slot(class).map_err(GateRefusal::TenantSlots)?;
        let borrowed_units = match index.take_units(class, ask.units) {
            Ok(borrowed) => borrowed,
            Err(refusal) => {
                index.release_slot(class, borrowed_slot);
                return Err(GateRefusal::TenantUnits { refusal, requested: ask.units });
            }
        };
        if let Err(refusal) = gate.take_global(ask) {
            index.release_units(class, ask.units, borrowed_units);
            index.release_slot(class, borrowed_slot);
            return Err(refusal);
        }
        Ok(ShareClaim { class, borrowed_slot, borrowed_units })
    }

    /// Rules 1 and 3: the global slot and units, or neither.
    fn take_global(&self, ask: Ask<'_>) -> Result<(), GateRefusal> {
        self.take_slot(ask.max_slots)?;
        if let Err(refusal) = self.reserve_units(ask.units, ask.capacity) {
            self.slots.release();
            return Err(refusal);
        }
        Ok(())
    }

    /// Rule 1: fewer than `max_slots` adaptations are in flight (takes one).
    fn take_slot(&self, max_slots: u64) -> Result<(), GateRefusal> {
        self.slots
            .try_acquire(max_slots)
            .map(drop)
            .map_err(|in_use| GateRefusal::Slots { in_use, bound: max_slots })
    }

    /// Rule 2: the units fit the permit's word (any request the ledger could grant does).
    fn units_fit_a_permit(&self, units: u64, capacity: u64) -> Result<(), GateRefusal> {
        if units <= permit::UNITS {
            return Ok(());
        }
        Err(GateRefusal::Resources { granted: self.ledger.granted(), requested: units, capacity })
    }

    /// Rule 3: the ledger stays within `capacity` with the units added (reserves them).
    fn reserve_units(&self, units: u64, capacity: u64) -> Result<(), GateRefusal> {
        if units == 0 {
            return Ok(());
        }
        self.ledger
            .try_reserve(units, capacity)
            .map(drop)
            .map_err(|granted| GateRefusal::Resources { granted, requested: units, capacity })
    }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;

    #[test]
    fn refused_units_give_the_slot_back() {
        let gate = Arc::new(Gate::new());
        let held = Gate::admit(&gate, 5, 1_000, 900).unwrap();
        let refused = Gate::admit(&gate, 5, 1_000, 200).unwrap_err();
        assert_eq!(
            refused,
            GateRefusal::Resources { granted: 900, requested: 200, capacity: 1_000 }
        );
        assert_eq!(gate.slots_in_use(), 1);
        drop(held);
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
    }

    #[test]
    fn a_full_gate_refuses_and_a_dropped_permit_reopens_it() {
        let gate = Arc::new(Gate::new());
        let first = Gate::admit(&gate, 1, 1_000, 0).unwrap();
        assert_eq!(
            Gate::admit(&gate, 1, 1_000, 0).unwrap_err(),
            GateRefusal::Slots { in_use: 1, bound: 1 }
        );
        drop(first);
        assert!(Gate::admit(&gate, 1, 1_000, 0).is_ok());
        assert_eq!(gate.slots_in_use(), 0);
    }

    /// The read-only judgement agrees with admission, and takes nothing.
    #[test]
    fn would_admit_agrees_with_admit_and_takes_nothing() {
        let gate = Arc::new(Gate::new());
        let held = Gate::admit(&gate, 2, 1_000, 900).unwrap();
        assert_eq!(gate.would_admit(2, 1_000, 100), Ok(()));
        assert_eq!(
            gate.would_admit(2, 1_000, 101),
            Err(GateRefusal::Resources { granted: 900, requested: 101, capacity: 1_000 })
        );
        assert_eq!(gate.would_admit(1, 1_000, 0), Err(GateRefusal::Slots { in_use: 1, bound: 1 }));
        assert!(gate.would_admit(4, u64::MAX, u64::MAX).is_err());
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (1, 900));
        drop(held);
    }

    /// A permit, and the grant its units become, hold one reference count: their share
    /// index's (which holds the gate), with tenant shares on or off.
    #[test]
    fn a_permit_and_its_grant_hold_one_reference_count() {
        let gate = Arc::new(Gate::new());
        let shares = crate::TenantShares::default();
        for index in
            [ShareIndex::without_shares(&gate), ShareIndex::new(&gate, &shares, 4, 100, None)]
        {
            let index = StdArc::new(index);
            let class = index.class_for(autonomic_core::TenantId::default_tenant());
            let ask = Ask {
                max_slots: 4,
                capacity: 100,
                units: 10,
                retry_bound: None,
                index: &index,
                class,
            };
            let counts = || (Arc::strong_count(&gate), StdArc::strong_count(&index));
            let before = counts();
            let permit = Gate::admit_with(ask).unwrap();
            assert_eq!(counts(), (before.0, before.1 + 1));
            let grant = permit.take_grant().unwrap();
            drop(permit);
            assert_eq!(counts(), (before.0, before.1 + 1));
            assert_eq!(grant.release(), 10);
            drop(grant);
            assert_eq!(counts(), before);
            assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
        }
    }

    /// Units that would spill into the permit's flag bits are refused, whatever capacity the
    /// caller passes, and the permit's flags stay what they were.
    #[test]
    fn huge_units_are_refused_not_folded_into_the_flags() {
        let gate = Arc::new(Gate::new());
        for units in [1 << 62, (1 << 62) + 7, u64::MAX] {
            let refused = Gate::admit(&gate, 4, u64::MAX, units).unwrap_err();
            assert!(
                matches!(refused, GateRefusal::Resources { requested, .. } if requested == units)
            );
        }
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
        let largest = Gate::admit(&gate, 4, u64::MAX, permit::UNITS).unwrap();
        assert!(largest.holds_slot() && !largest.is_executed());
        assert_eq!(largest.units(), permit::UNITS);
        drop(largest);
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
    }
}

#[cfg(all(test, autonomic_loom))]
mod tests {
    mod loom_gate;
    mod loom_shares;
}
