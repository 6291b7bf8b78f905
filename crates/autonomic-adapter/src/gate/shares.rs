//! [`ShareIndex`]: the tenant shares in force, turned into slots and units, with each class's
//! counters and the borrowable pool.
//!
//! # The protocol (session → tenant → global)
//! Each class (a listed tenant, or the default class of every tenant not listed) has a slot
//! counter and a unit ledger bounded by its *ceiling*; the *pool* counts what is borrowed, and
//! is bounded by what nobody is guaranteed (`cap - sum of guarantees`). A request:
//!
//! 1. takes its amount from its class's counter, by compare-and-swap, if the class stays
//!    within its ceiling; the value it replaced (`before`) says how much of the amount is
//!    within the guarantee (`min(amount, guarantee - before)`): that part is *guaranteed*, the
//!    rest *borrowed*;
//! 2. takes the borrowed part from the pool, by compare-and-swap, if the pool stays within
//!    its bound (else it gives back step 1 and is refused);
//! 3. then takes the global slot and units as without shares (the global cap's own CAS).
//!
//! Releases go in the reverse order: the global counters first, then the class's and the
//! pool's. (The other way round, the pool could lend a unit again while it still counts
//! globally, and a request within its guarantee could find the global cap full: the loom
//! model `gate/tests/loom_shares.rs` fails on that order.)
//!
//! What a permit borrowed is recorded in it and returned to the pool by the same release
//! that returns the rest (**how borrowed units are reclaimed**: a borrowed slot comes back
//! when its decision is executed or dropped; borrowed resource units when the grant they
//! became is released, at the session's end at the latest). Nothing is ever taken back from
//! a holder, and a guarantee is never lent.
//!
//! Why the two guarantees hold: at any instant, the guaranteed parts a class holds sum to at
//! most its guarantee (each was at most `guarantee - before`, and `before` counted every
//! earlier one still held), and the borrowed parts of all classes sum to at most the pool.
//! So everything past step 2 sums to at most `sum of guarantees + pool = cap`: the global
//! compare-and-swap of a request within its class's guarantee always finds room, and the
//! global cap (checked by its own compare-and-swap anyway) is never exceeded. A request is
//! "within its guarantee" when its class's counter, including the class's own concurrent
//! requests, stays within the guarantee.
//!
//! After a swap of the shares or of Global Q's caps, a new index reuses the counters of the
//! classes it keeps (and the pool's), so what is held stays counted; the new guarantees are
//! exact again once the permits taken under the old terms are returned (the global cap holds
//! throughout).

use std::sync::Arc as StdArc;

use autonomic_core::TenantId;
use crossbeam_utils::CachePadded;

use super::{Gate, ResourceLedger, SlotCounter};
use crate::TenantShares;
use crate::sync::Arc;

/// The counters of one class, or of the pool. Shared between the indexes that keep the class.
#[derive(Debug)]
pub(crate) struct ShareCounters {
    pub(super) slots: CachePadded<SlotCounter>,
    pub(super) units: CachePadded<ResourceLedger>,
}

impl ShareCounters {
    pub(crate) fn new() -> Self {
        ShareCounters {
            slots: CachePadded::new(SlotCounter::new()),
            units: CachePadded::new(ResourceLedger::new()),
        }
    }

    /// Slots held.
    pub(crate) fn slots_held(&self) -> u64 {
        self.slots.in_use()
    }

    /// Units held.
    pub(crate) fn units_held(&self) -> u64 {
        self.units.granted()
    }
}

/// A guarantee and a ceiling, in slots or units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Never refused for lack of capacity up to this.
    pub(crate) guaranteed: u64,
    /// Never above this.
    pub(crate) ceiling: u64,
}

/// One class: its tenant (`None`: the default class), bounds and counters.
#[derive(Debug)]
pub(crate) struct ShareClass {
    pub(crate) tenant: Option<TenantId>,
    pub(crate) slots: Bounds,
    pub(crate) units: Bounds,
    pub(crate) counters: StdArc<ShareCounters>,
}

/// The tenant shares in force for one Global Q: built once per swap, read lock-free.
///
/// It holds the gate it was built for, so a permit taken against it holds one reference
/// count (the index's) for both, and returns its parts to this index's classes and pool
/// however the shares were swapped since. With tenant shares off, the index has no classes
/// ([`without_shares`](Self::without_shares)) and only carries the gate.
#[derive(Debug)]
pub(crate) struct ShareIndex {
    /// The gate whose global counters the classes share.
    gate: Arc<Gate>,
    /// The listed tenants, sorted; `classes[i]` is `tenants[i]`'s, the last is the default.
    tenants: Box<[TenantId]>,
    classes: Box<[ShareClass]>,
    /// Bounds of the pool: what nobody is guaranteed.
    pub(crate) pool_slots: u64,
    pub(crate) pool_units: u64,
    pub(crate) pool: StdArc<ShareCounters>,
}

/// Why a class could not take its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShareRefusal {
    /// The class would pass its ceiling: it holds `held`.
    Ceiling { held: u64, ceiling: u64 },
    /// The borrowed part would pass the pool: `borrowed` are lent.
    Pool { borrowed: u64, pool: u64 },
}

impl ShareIndex {
    /// The index of `shares` for `gate`, against caps of `max_slots` slots and `capacity`
    /// units, reusing the counters of `previous` for the classes it keeps.
    pub(crate) fn new(
        gate: &Arc<Gate>,
        shares: &TenantShares,
        max_slots: u64,
        capacity: u64,
        previous: Option<&ShareIndex>,
    ) -> Self {
        let mut listed: Vec<_> = shares.tenants.iter().collect();
        listed.sort_unstable_by_key(|t| t.tenant);
        let mut free = (max_slots, capacity);
        let mut class = |tenant: Option<TenantId>, share: crate::Share| {
            // Rounded down, and never past what is still unguaranteed: the guarantees never
            // sum above the cap, whatever the rounding of the fractions.
            let slots = bounds(share.guaranteed_slots, share.ceiling_slots, max_slots, &mut free.0);
            let units =
                bounds(share.guaranteed_resources, share.ceiling_resources, capacity, &mut free.1);
            let kept = previous.and_then(|p| p.class_of_exactly(tenant));
            let counters =
                kept.map_or_else(|| StdArc::new(ShareCounters::new()), |c| c.counters.clone());
            ShareClass { tenant, slots, units, counters }
        };
        let mut classes: Vec<ShareClass> =
            listed.iter().map(|t| class(Some(t.tenant), t.share())).collect();
        classes.push(class(None, shares.default_class));
        ShareIndex {
            gate: gate.clone(),
            tenants: listed.iter().map(|t| t.tenant).collect(),
            classes: classes.into_boxed_slice(),
            pool_slots: free.0,
            pool_units: free.1,
            pool: previous.map_or_else(|| StdArc::new(ShareCounters::new()), |p| p.pool.clone()),
        }
    }

    /// The index of no tenant shares for `gate`: no classes, nothing to borrow.
    pub(crate) fn without_shares(gate: &Arc<Gate>) -> Self {
        ShareIndex {
            gate: gate.clone(),
            tenants: Box::default(),
            classes: Box::default(),
            pool_slots: 0,
            pool_units: 0,
            pool: StdArc::new(ShareCounters::new()),
        }
    }

    /// The class `tenant` belongs to, if the index has classes (tenant shares on).
    #[inline]
    pub(crate) fn class_for(&self, tenant: TenantId) -> Option<usize> {
        (!self.classes.is_empty()).then(|| self.class_of(tenant))
    }

    /// The gate the index was built for.
    #[inline]
    pub(crate) fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The class `tenant` belongs to (its own if listed, else the default class): a binary
    /// search over the listed tenants.
    #[inline]
    pub(crate) fn class_of(&self, tenant: TenantId) -> usize {
        self.tenants.binary_search(&tenant).unwrap_or(self.tenants.len())
    }

    /// The class at `index` (as given by [`class_of`](Self::class_of)).
    #[inline]
    pub(crate) fn class(&self, index: usize) -> &ShareClass {
        &self.classes[index.min(self.classes.len() - 1)]
    }

    /// Every class, the listed tenants first (sorted), the default class last.
    pub(crate) fn classes(&self) -> &[ShareClass] {
        &self.classes
    }

    /// The class of exactly `tenant` (`None`: the default class), if this index has one.
    fn class_of_exactly(&self, tenant: Option<TenantId>) -> Option<&ShareClass> {
        match tenant {
            Some(t) => self.tenants.binary_search(&t).ok().map(|i| &self.classes[i]),
            None => self.classes.last(),
        }
    }

    /// Steps 1 and 2 for one slot: `Ok(borrowed)` (whether the slot is borrowed).
    pub(crate) fn take_slot(&self, class: usize) -> Result<bool, ShareRefusal> {
        let class = self.class(class);
        let after = class
            .counters
            .slots
            .try_acquire(class.slots.ceiling)
            .map_err(|held| ShareRefusal::Ceiling { held, ceiling: class.slots.ceiling })?;
        if after <= class.slots.guaranteed {
            return Ok(false);
        }
        match self.pool.slots.try_acquire(self.pool_slots) {
            Ok(_) => Ok(true),
            Err(borrowed) => {
                class.counters.slots.release();
                Err(ShareRefusal::Pool { borrowed, pool: self.pool_slots })
            }
        }
    }

    /// Returns a slot taken by [`take_slot`](Self::take_slot).
    pub(crate) fn release_slot(&self, class: usize, borrowed: bool) {
        self.class(class).counters.slots.release();
        if borrowed {
            self.pool.slots.release();
        }
    }

    /// Steps 1 and 2 for `units`: `Ok(borrowed units)`.
    pub(crate) fn take_units(&self, class: usize, units: u64) -> Result<u64, ShareRefusal> {
        if units == 0 {
            return Ok(0);
        }
        let class = self.class(class);
        let after = class
            .counters
            .units
            .try_reserve(units, class.units.ceiling)
            .map_err(|held| ShareRefusal::Ceiling { held, ceiling: class.units.ceiling })?;
        let before = after - units;
        let guaranteed = units.min(class.units.guaranteed.saturating_sub(before));
        let borrowed = units - guaranteed;
        if borrowed == 0 {
            return Ok(0);
        }
        match self.pool.units.try_reserve(borrowed, self.pool_units) {
            Ok(_) => Ok(borrowed),
            Err(lent) => {
                class.counters.units.release(units);
                Err(ShareRefusal::Pool { borrowed: lent + borrowed, pool: self.pool_units })
            }
        }
    }

    /// Returns `units` taken by [`take_units`](Self::take_units), `borrowed` of them lent.
    pub(crate) fn release_units(&self, class: usize, units: u64, borrowed: u64) {
        self.class(class).counters.units.release(units);
        self.pool.units.release(borrowed);
    }
}

/// A share's bounds against a cap of `cap`, taking its guarantee out of `free`.
fn bounds(guaranteed: f64, ceiling: f64, cap: u64, free: &mut u64) -> Bounds {
    // Validated fractions in `0.0..=1.0`: the products are in `0..=cap`; `as` saturates.
    let guaranteed = ((guaranteed * cap as f64).floor() as u64).min(*free);
    *free -= guaranteed;
    let ceiling = ((ceiling * cap as f64).floor() as u64).clamp(guaranteed, cap);
    Bounds { guaranteed, ceiling }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;
    use crate::{Share, TenantShare};

    fn gate() -> Arc<Gate> {
        Arc::new(Gate::new())
    }

    fn shares(listed: &[(u128, f64, f64)], default: (f64, f64)) -> TenantShares {
        let share = |g: f64, c: f64| Share {
            guaranteed_slots: g,
            ceiling_slots: c,
            guaranteed_resources: g,
            ceiling_resources: c,
        };
        TenantShares {
            tenants: listed
                .iter()
                .map(|&(t, g, c)| TenantShare::new(TenantId::from_u128(t), share(g, c)))
                .collect(),
            default_class: share(default.0, default.1),
        }
    }

    #[test]
    fn guarantees_never_sum_above_the_cap_and_the_pool_is_the_rest() {
        let index = ShareIndex::new(
            &gate(),
            &shares(&[(2, 0.3, 0.5), (1, 0.3, 1.0)], (0.4, 1.0)),
            10,
            1_000,
            None,
        );
        let g: u64 = index.classes().iter().map(|c| c.slots.guaranteed).sum();
        assert_eq!((g, index.pool_slots), (10, 0));
        let index =
            ShareIndex::new(&gate(), &shares(&[(1, 0.25, 0.5)], (0.25, 1.0)), 10, 1_000, None);
        assert_eq!(index.class(0).slots, Bounds { guaranteed: 2, ceiling: 5 });
        assert_eq!(index.class(1).slots, Bounds { guaranteed: 2, ceiling: 10 });
        assert_eq!((index.pool_slots, index.pool_units), (6, 500));
        // Listed tenants are found, others fall into the default class.
        assert_eq!(index.class_of(TenantId::from_u128(1)), 0);
        assert_eq!(index.class_of(TenantId::from_u128(9)), 1);
    }

    #[test]
    fn borrowing_stops_at_the_pool_and_the_ceiling_and_guarantees_stay_free() {
        // 4 slots: A guaranteed 1 (ceiling 3), B guaranteed 1; pool 2.
        let index = ShareIndex::new(
            &gate(),
            &shares(&[(1, 0.25, 0.75), (2, 0.25, 0.75)], (0.0, 0.0)),
            4,
            0,
            None,
        );
        let (a, b) = (0, 1);
        assert_eq!(index.take_slot(a), Ok(false)); // A's guarantee
        assert_eq!(index.take_slot(a), Ok(true)); // borrowed
        assert_eq!(index.take_slot(a), Ok(true)); // borrowed: the pool is empty now
        assert_eq!(index.take_slot(a), Err(ShareRefusal::Ceiling { held: 3, ceiling: 3 }));
        assert_eq!(index.take_slot(b), Ok(false)); // B's guarantee was never lent
        assert_eq!(index.take_slot(b), Err(ShareRefusal::Pool { borrowed: 2, pool: 2 }));
        assert_eq!(index.class(b).counters.slots_held(), 1); // the refusal gave its slot back
        index.release_slot(a, true);
        assert_eq!(index.take_slot(b), Ok(true)); // a borrowed slot came back to the pool
    }

    #[test]
    fn units_split_at_the_guarantee() {
        let index = ShareIndex::new(&gate(), &shares(&[(1, 0.5, 1.0)], (0.0, 1.0)), 0, 1_000, None);
        assert_eq!(index.take_units(0, 400), Ok(0));
        assert_eq!(index.take_units(0, 300), Ok(200)); // 100 within the guarantee, 200 lent
        assert_eq!(index.take_units(1, 400), Err(ShareRefusal::Pool { borrowed: 600, pool: 500 }));
        index.release_units(0, 300, 200);
        assert_eq!(index.take_units(1, 400), Ok(400));
    }

    #[test]
    fn a_new_index_keeps_the_counters_of_the_classes_it_keeps() {
        let old = ShareIndex::new(
            &gate(),
            &shares(&[(1, 0.5, 1.0), (2, 0.1, 1.0)], (0.0, 1.0)),
            10,
            0,
            None,
        );
        old.take_slot(0).unwrap();
        old.take_slot(2).unwrap();
        let new =
            ShareIndex::new(&gate(), &shares(&[(1, 0.2, 1.0)], (0.0, 1.0)), 20, 0, Some(&old));
        assert_eq!(new.class(0).counters.slots_held(), 1);
        assert_eq!(new.class(1).counters.slots_held(), 1); // the default class
        assert_eq!(new.pool.slots_held(), 1); // the default class's slot was borrowed
    }
}
