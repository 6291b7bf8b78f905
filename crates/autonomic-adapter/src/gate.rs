//! The doctrine gate's counters: the adaptation slots, the resource ledger, and the RAII
//! [`Permit`] that holds what one admitted decision took from them.
//!
//! # The protocol
//! * [`SlotCounter`]: the number of admitted, unfinished adaptations. Admission is one
//!   compare-and-swap that succeeds only if the count is below the bound it is given, so the
//!   count can never pass the bound, whatever the interleaving. A release is one decrement.
//! * [`ResourceLedger`]: the sum of resources granted to live sessions, in fixed-point
//!   [units](UNITS_PER_CAPACITY) (millionths of capacity) so the bound is exact integer
//!   arithmetic (no floating-point atomics, no rounding drift). A request is rounded *up* to
//!   units and the capacity *down*, so the sum of granted amounts never exceeds
//!   `max_total_resources`.
//! * [`Gate::admit`] takes a slot, then the units (if any); if the units are refused, the slot
//!   is given back before the refusal is returned. What it took is held by the [`Permit`]; the
//!   permit returns it when it is dropped, unless it was released or transferred earlier.
//!
//! Both counters acquire with `Acquire` and release with `Release`, like a lock: the work a
//! holder did under its permit happens-before the work of whoever takes the slot next. A
//! release without a matching acquisition is a bug; it would wrap the counter to a huge value,
//! which closes the gate (every later admission is refused) rather than opening it.
//!
//! `tests/loom_gate.rs` model-checks these types (three threads, bounds one and two).
//!
//! ```
//! use std::sync::Arc;
//! use autonomic_adapter::gate::{Gate, GateRefusal};
//!
//! let gate = Arc::new(Gate::new());
//! let first = Gate::admit(&gate, 1, 1_000, 0).unwrap();
//! assert!(matches!(Gate::admit(&gate, 1, 1_000, 0), Err(GateRefusal::Slots { in_use: 1, bound: 1 })));
//! drop(first); // returns the slot
//! assert!(Gate::admit(&gate, 1, 1_000, 0).is_ok());
//! assert_eq!(gate.slots().in_use(), 0);
//! ```

use std::fmt;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicU64, Ordering};

/// Ledger units in the whole capacity (`1.0`): the ledger counts millionths of capacity.
pub const UNITS_PER_CAPACITY: u64 = 1_000_000;

/// The units a request for `amount` (a fraction of capacity) takes, rounded up; `None` unless
/// `amount` is finite and in `0.0 < amount <= 1.0`.
///
/// ```
/// use autonomic_adapter::gate::units_for_request;
/// assert_eq!(units_for_request(0.05), Some(50_000));
/// assert_eq!(units_for_request(1e-9), Some(1)); // never rounds a request down to nothing
/// assert_eq!(units_for_request(f64::NAN), None);
/// assert_eq!(units_for_request(0.0), None);
/// ```
pub fn units_for_request(amount: f64) -> Option<u64> {
    if !(amount.is_finite() && amount > 0.0 && amount <= 1.0) {
        return None;
    }
    // In range: the product is in (0, 1e6], so the cast is exact after `ceil`.
    Some(((amount * UNITS_PER_CAPACITY as f64).ceil() as u64).max(1))
}

/// The units a capacity of `max_total_resources` allows, rounded down (`0.0..=1.0`; anything
/// else, including NaN, gives the nearest bound: `0` or the whole capacity).
pub fn capacity_units(max_total_resources: f64) -> u64 {
    // `as` saturates and maps NaN to 0: an invalid capacity closes the ledger.
    ((max_total_resources.clamp(0.0, 1.0) * UNITS_PER_CAPACITY as f64).floor() as u64)
        .min(UNITS_PER_CAPACITY)
}

/// Converts units back to a fraction of capacity.
pub fn units_to_amount(units: u64) -> f64 {
    units as f64 / UNITS_PER_CAPACITY as f64
}

/// Counts admitted, unfinished adaptations; never above the bound it is asked to respect.
///
/// ```
/// use autonomic_adapter::gate::SlotCounter;
/// let slots = SlotCounter::new();
/// assert_eq!(slots.try_acquire(2), Ok(1));
/// assert_eq!(slots.try_acquire(2), Ok(2));
/// assert_eq!(slots.try_acquire(2), Err(2)); // full: the count seen is returned
/// slots.release();
/// assert_eq!(slots.in_use(), 1);
/// ```
#[derive(Debug)]
pub struct SlotCounter {
    in_use: AtomicU64,
}

impl Default for SlotCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotCounter {
    /// No slot in use.
    pub fn new() -> Self {
        SlotCounter { in_use: AtomicU64::new(0) }
    }

    /// Takes a slot if fewer than `bound` are in use: `Ok(count after)` or `Err(count seen)`.
    #[inline]
    pub fn try_acquire(&self, bound: u64) -> Result<u64, u64> {
        // Relaxed: only a first guess for the compare-and-swap below, which re-checks it.
        let mut current = self.in_use.load(Ordering::Relaxed);
        loop {
            if current >= bound {
                return Err(current);
            }
            // Acquire on success: pairs with the Release in `release`, so the previous
            // holder's work happens-before ours. Relaxed on failure: we only retry with the
            // value seen (the bound is re-checked against it).
            match self.in_use.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(current + 1),
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives one slot back.
    #[inline]
    pub fn release(&self) {
        // Release: pairs with the Acquire of the next successful `try_acquire`.
        let previous = self.in_use.fetch_sub(1, Ordering::Release);
        debug_assert!(previous > 0, "slot released twice");
    }

    /// Slots in use now.
    #[inline]
    pub fn in_use(&self) -> u64 {
        // Relaxed: a statistic; admission decisions use the compare-and-swap, not this.
        self.in_use.load(Ordering::Relaxed)
    }
}

/// The sum of granted resource units; never above the capacity it is asked to respect.
///
/// ```
/// use autonomic_adapter::gate::ResourceLedger;
/// let ledger = ResourceLedger::new();
/// assert_eq!(ledger.try_reserve(600, 1_000), Ok(600));
/// assert_eq!(ledger.try_reserve(500, 1_000), Err(600)); // would pass the capacity
/// ledger.release(600);
/// assert_eq!(ledger.granted(), 0);
/// ```
#[derive(Debug)]
pub struct ResourceLedger {
    granted: AtomicU64,
}

impl Default for ResourceLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl ResourceLedger {
    /// Nothing granted.
    pub fn new() -> Self {
        ResourceLedger { granted: AtomicU64::new(0) }
    }

    /// Adds `units` if the sum stays within `capacity`: `Ok(sum after)` or `Err(sum seen)`.
    #[inline]
    pub fn try_reserve(&self, units: u64, capacity: u64) -> Result<u64, u64> {
        // Relaxed: only a first guess for the compare-and-swap below, which re-checks it.
        let mut current = self.granted.load(Ordering::Relaxed);
        loop {
            let next = match current.checked_add(units) {
                Some(next) if next <= capacity => next,
                _ => return Err(current),
            };
            // Acquire on success / Relaxed on failure: as in `SlotCounter::try_acquire`.
            match self.granted.compare_exchange_weak(
                current,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(next),
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives `units` back.
    #[inline]
    pub fn release(&self, units: u64) {
        if units == 0 {
            return;
        }
        // Release: pairs with the Acquire of the next successful `try_reserve`.
        let previous = self.granted.fetch_sub(units, Ordering::Release);
        debug_assert!(previous >= units, "ledger released more than it granted");
    }

    /// Units granted now.
    #[inline]
    pub fn granted(&self) -> u64 {
        // Relaxed: a statistic; admission decisions use the compare-and-swap, not this.
        self.granted.load(Ordering::Relaxed)
    }
}

/// Why [`Gate::admit`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateRefusal {
    /// Every adaptation slot was in use.
    Slots {
        /// Slots in use when the admission was attempted.
        in_use: u64,
        /// The bound in force.
        bound: u64,
    },
    /// The request would have taken the ledger past its capacity.
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
#[derive(Debug, Default)]
pub struct Gate {
    slots: CachePadded<SlotCounter>,
    ledger: CachePadded<ResourceLedger>,
}

impl Gate {
    /// Nothing in use, nothing granted.
    pub fn new() -> Self {
        Gate {
            slots: CachePadded::new(SlotCounter::new()),
            ledger: CachePadded::new(ResourceLedger::new()),
        }
    }

    /// The adaptation slots.
    pub fn slots(&self) -> &SlotCounter {
        &self.slots
    }

    /// The resource ledger.
    pub fn ledger(&self) -> &ResourceLedger {
        &self.ledger
    }

    /// Takes one slot (if fewer than `max_slots` are in use) and `units` of resources (if the
    /// ledger stays within `capacity`), atomically with respect to the bounds: either both are
    /// taken and held by the returned [`Permit`], or neither is.
    pub fn admit(
        gate: &Arc<Gate>,
        max_slots: u64,
        capacity: u64,
        units: u64,
    ) -> Result<Permit, GateRefusal> {
        gate.slots
            .try_acquire(max_slots)
            .map_err(|in_use| GateRefusal::Slots { in_use, bound: max_slots })?;
        if units > 0
            && let Err(granted) = gate.ledger.try_reserve(units, capacity)
        {
            gate.slots.release();
            return Err(GateRefusal::Resources { granted, requested: units, capacity });
        }
        Ok(Permit { gate: gate.clone(), word: AtomicU64::new(SLOT | units) })
    }
}

/// The permit holds a slot.
const SLOT: u64 = 1 << 63;
/// The decision holding the permit has been executed (set once).
const EXECUTED: u64 = 1 << 62;
/// Reserved units still held by the permit.
const UNITS: u64 = EXECUTED - 1;

/// What one admitted decision holds: one slot and the resource units it reserved. Dropping
/// it returns whatever it still holds (RAII).
///
/// The holder may give the slot back early ([`release_slot`](Self::release_slot)), or move
/// the units out to keep them granted past the permit ([`take_units`](Self::take_units));
/// the caller then owns returning them to the [`ResourceLedger`]. Each part is returned
/// exactly once, whichever of these paths and `drop` runs first.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::gate::Gate;
/// let gate = Arc::new(Gate::new());
/// let permit = Gate::admit(&gate, 4, 1_000, 250).unwrap();
/// assert!(permit.release_slot());           // e.g. at the end of execution
/// let units = permit.take_units();          // booked elsewhere, released later
/// drop(permit);                              // nothing left to return
/// assert_eq!((gate.slots().in_use(), gate.ledger().granted()), (0, 250));
/// gate.ledger().release(units);
/// ```
pub struct Permit {
    gate: Arc<Gate>,
    /// `SLOT | EXECUTED | units`.
    word: AtomicU64,
}

impl Permit {
    /// The gate the permit came from.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Whether the permit still holds its slot.
    pub fn holds_slot(&self) -> bool {
        // Relaxed: the permit word carries no other memory; see `release_slot`.
        self.word.load(Ordering::Relaxed) & SLOT != 0
    }

    /// Units the permit still holds.
    pub fn units(&self) -> u64 {
        // Relaxed: see `holds_slot`.
        self.word.load(Ordering::Relaxed) & UNITS
    }

    /// Marks the permit's decision executed; `true` the first time only.
    pub fn mark_executed(&self) -> bool {
        // Relaxed: an RMW on one word, so exactly one caller sees the bit clear; the gate's
        // counters, not this word, carry the synchronisation between holders.
        self.word.fetch_or(EXECUTED, Ordering::Relaxed) & EXECUTED == 0
    }

    /// Whether [`mark_executed`](Self::mark_executed) has been called.
    pub fn is_executed(&self) -> bool {
        // Relaxed: see `holds_slot`.
        self.word.load(Ordering::Relaxed) & EXECUTED != 0
    }

    /// Returns the slot now; `false` if it was already returned.
    pub fn release_slot(&self) -> bool {
        // Relaxed (both): the load only skips the RMW when the bit is already clear (it
        // never comes back once cleared); the RMW on one word lets exactly one caller clear
        // the bit and return the slot. The counter's own Release orders the holder's work.
        if self.word.load(Ordering::Relaxed) & SLOT == 0 {
            return false;
        }
        let had = self.word.fetch_and(!SLOT, Ordering::Relaxed) & SLOT != 0;
        if had {
            self.gate.slots.release();
        }
        had
    }

    /// Moves the units out of the permit: they stay granted in the ledger, and the caller must
    /// release them there (`gate().ledger().release(units)`) when their holder ends.
    pub fn take_units(&self) -> u64 {
        // Relaxed (both): as in `release_slot`; units are never added back once taken, and
        // exactly one caller receives them.
        if self.word.load(Ordering::Relaxed) & UNITS == 0 {
            return 0;
        }
        self.word.fetch_and(!UNITS, Ordering::Relaxed) & UNITS
    }

    /// Returns the units to the ledger now; the amount returned.
    pub fn release_units(&self) -> u64 {
        let units = self.take_units();
        self.gate.ledger.release(units);
        units
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.release_slot();
        self.release_units();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("holds_slot", &self.holds_slot())
            .field("units", &self.units())
            .field("executed", &self.is_executed())
            .finish()
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
        assert_eq!(gate.slots().in_use(), 1);
        drop(held);
        assert_eq!((gate.slots().in_use(), gate.ledger().granted()), (0, 0));
    }

    #[test]
    fn each_part_is_returned_exactly_once() {
        let gate = Arc::new(Gate::new());
        let permit = Gate::admit(&gate, 1, 1_000, 300).unwrap();
        assert!(permit.release_slot());
        assert!(!permit.release_slot());
        assert_eq!(permit.take_units(), 300);
        assert_eq!(permit.take_units(), 0);
        drop(permit);
        // The slot came back once; the units were moved out, so the ledger still holds them.
        assert_eq!((gate.slots().in_use(), gate.ledger().granted()), (0, 300));
        gate.ledger().release(300);
        assert_eq!(gate.ledger().granted(), 0);
    }

    #[test]
    fn executed_flag_is_set_once() {
        let gate = Arc::new(Gate::new());
        let permit = Gate::admit(&gate, 1, 0, 0).unwrap();
        assert!(permit.mark_executed());
        assert!(!permit.mark_executed());
        assert!(permit.holds_slot());
    }

    #[test]
    fn fixed_point_rounds_against_the_grant() {
        assert_eq!(capacity_units(0.9), 900_000);
        assert_eq!(capacity_units(f64::NAN), 0);
        assert_eq!(capacity_units(2.0), UNITS_PER_CAPACITY);
        assert_eq!(units_for_request(0.1234567), Some(123_457));
        assert_eq!(units_for_request(1.0), Some(UNITS_PER_CAPACITY));
        assert_eq!(units_for_request(1.000001), None);
        assert_eq!(units_for_request(-0.5), None);
        // Ten requests of 0.09 fit a capacity of 0.9 exactly; an eleventh does not.
        let ledger = ResourceLedger::new();
        let unit = units_for_request(0.09).unwrap();
        for _ in 0..10 {
            ledger.try_reserve(unit, capacity_units(0.9)).unwrap();
        }
        assert!(ledger.try_reserve(unit, capacity_units(0.9)).is_err());
    }
}
