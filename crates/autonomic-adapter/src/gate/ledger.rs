//! [`ResourceLedger`]: the sum of resource units granted to live sessions, and the fixed-point
//! conversions between fractions of capacity and units.

use crate::sync::{AtomicU64, Ordering};

/// Ledger units in the whole capacity (`1.0`): the ledger counts millionths of capacity.
pub(crate) const UNITS_PER_CAPACITY: u64 = 1_000_000;

/// The units a request for `amount` (a fraction of capacity) takes, rounded up (never down to
/// nothing); `None` unless `amount` is finite and in `0.0 < amount <= 1.0`.
pub(crate) fn units_for_request(amount: f64) -> Option<u64> {
    if !(amount.is_finite() && amount > 0.0 && amount <= 1.0) {
        return None;
    }
    // In range: the product is in (0, 1e6], so the cast is exact after `ceil`.
    Some(((amount * UNITS_PER_CAPACITY as f64).ceil() as u64).max(1))
}

/// The units a capacity of `max_total_resources` allows, rounded down (`0.0..=1.0`; anything
/// else, including NaN, gives the nearest bound: `0` or the whole capacity).
pub(crate) fn capacity_units(max_total_resources: f64) -> u64 {
    // `as` saturates and maps NaN to 0: an invalid capacity closes the ledger.
    ((max_total_resources.clamp(0.0, 1.0) * UNITS_PER_CAPACITY as f64).floor() as u64)
        .min(UNITS_PER_CAPACITY)
}

/// Converts units back to a fraction of capacity.
pub(crate) fn units_to_amount(units: u64) -> f64 {
    units as f64 / UNITS_PER_CAPACITY as f64
}

/// The ledger's rule: `granted + units`, if it stays within `capacity`.
#[inline]
fn within(granted: u64, units: u64, capacity: u64) -> Option<u64> {
    granted.checked_add(units).filter(|&sum| sum <= capacity)
}

/// The sum of granted resource units; never above the capacity it is asked to respect.
///
/// Units go back only through a [`Permit`](super::Permit) or a
/// [`Grant`](crate::grant::Grant), each returning what it holds once; a release of more than
/// is granted is refused (the sum never wraps).
#[derive(Debug)]
pub(crate) struct ResourceLedger {
    granted: AtomicU64,
}

impl ResourceLedger {
    /// Nothing granted.
    pub(crate) fn new() -> Self {
        ResourceLedger { granted: AtomicU64::new(0) }
    }

    /// Adds `units` if the sum stays within `capacity`: `Ok(sum after)` or `Err(sum seen)`.
    #[inline]
    pub(crate) fn try_reserve(&self, units: u64, capacity: u64) -> Result<u64, u64> {
        // Relaxed: only a first guess for the compare-and-swap below, which re-checks it.
        let mut current = self.granted.load(Ordering::Relaxed);
        loop {
            let Some(next) = within(current, units, capacity) else {
                return Err(current);
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

    /// Whether [`try_reserve`](Self::try_reserve) would add `units` now: `Ok(sum seen)` or
    /// `Err(sum seen)`. Takes nothing.
    #[inline]
    pub(crate) fn would_reserve(&self, units: u64, capacity: u64) -> Result<u64, u64> {
        let current = self.granted();
        within(current, units, capacity).map(|_| current).ok_or(current)
    }

    /// Gives `units` back; `false` (and nothing changes) if fewer than `units` are granted.
    #[inline]
    pub(crate) fn release(&self, units: u64) -> bool {
        if units == 0 {
            return true;
        }
        // Release on success: pairs with the Acquire of the next successful `try_reserve`.
        // Relaxed on the read and on failure: the update re-checks the value it replaces.
        let released = self
            .granted
            .fetch_update(Ordering::Release, Ordering::Relaxed, |n| n.checked_sub(units))
            .is_ok();
        if !released {
            tracing::error!(units, "resource units released beyond the grant; the sum is kept");
        }
        released
    }

    /// Units granted now.
    #[inline]
    pub(crate) fn granted(&self) -> u64 {
        // Relaxed: a statistic; admission decisions use the compare-and-swap, not this.
        self.granted.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_rounds_against_the_grant() {
        assert_eq!(units_for_request(0.05), Some(50_000));
        assert_eq!(units_for_request(1e-9), Some(1)); // never rounds a request down to nothing
        assert_eq!(units_for_request(0.1234567), Some(123_457));
        assert_eq!(units_for_request(1.0), Some(UNITS_PER_CAPACITY));
        for bad in [f64::NAN, 0.0, -0.5, 1.000001, f64::INFINITY] {
            assert_eq!(units_for_request(bad), None, "{bad}");
        }
        assert_eq!(capacity_units(0.9), 900_000);
        assert_eq!(capacity_units(f64::NAN), 0);
        assert_eq!(capacity_units(2.0), UNITS_PER_CAPACITY);
        assert_eq!(capacity_units(f64::INFINITY), UNITS_PER_CAPACITY);
        // Ten requests of 0.09 fit a capacity of 0.9 exactly; an eleventh does not.
        let ledger = ResourceLedger::new();
        let unit = units_for_request(0.09).unwrap();
        for _ in 0..10 {
            ledger.try_reserve(unit, capacity_units(0.9)).unwrap();
        }
        assert!(ledger.try_reserve(unit, capacity_units(0.9)).is_err());
    }

    #[test]
    fn never_passes_its_capacity_and_never_wraps() {
        let ledger = ResourceLedger::new();
        assert_eq!(ledger.try_reserve(600, 1_000), Ok(600));
        assert_eq!(ledger.try_reserve(500, 1_000), Err(600)); // would pass the capacity
        assert_eq!(ledger.try_reserve(u64::MAX, u64::MAX), Err(600)); // would overflow
        assert!(!ledger.release(601)); // more than granted: refused, not wrapped
        assert_eq!(ledger.granted(), 600);
        assert!(ledger.release(600));
        assert_eq!(ledger.granted(), 0);
    }
}
