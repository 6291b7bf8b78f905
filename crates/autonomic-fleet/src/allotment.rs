//! [`Allotment`]: an amount of the two capacities Global Q bounds, adaptation slots and
//! resources.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Resource units in the whole capacity (`1.0`): like the adapter's gate, the fleet counts
/// resources in millionths of capacity, so slices add up exactly.
pub const RESOURCE_UNITS_PER_CAPACITY: u64 = 1_000_000;

/// An amount of adaptation slots and resources: a fleet's cap, an instance's floor, a slice
/// granted by a lease.
///
/// ```
/// use autonomic_fleet::Allotment;
/// let slice = Allotment::new(4, 0.25);
/// assert_eq!(slice, Allotment { slots: 4, resource_units: 250_000 });
/// assert_eq!(slice.resources(), 0.25);
/// assert_eq!(slice.max(Allotment::new(6, 0.1)), Allotment::new(6, 0.25));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Allotment {
    /// Adaptations admitted and not yet finished (Global Q's `max_concurrent_adaptations`).
    pub slots: u64,
    /// Resources, in [millionths of capacity](RESOURCE_UNITS_PER_CAPACITY) (Global Q's
    /// `max_total_resources`).
    pub resource_units: u64,
}

impl Allotment {
    /// Nothing.
    pub const ZERO: Allotment = Allotment { slots: 0, resource_units: 0 };

    /// `slots` and `resources` (a fraction of capacity, rounded down to units; values outside
    /// `0.0..=1.0`, NaN included, give the nearest bound).
    pub fn new(slots: u64, resources: f64) -> Self {
        Allotment { slots, resource_units: units_down(resources) }
    }

    /// The resources as a fraction of capacity.
    pub fn resources(self) -> f64 {
        self.resource_units as f64 / RESOURCE_UNITS_PER_CAPACITY as f64
    }

    /// The larger of each field.
    pub fn max(self, other: Allotment) -> Allotment {
        Allotment {
            slots: self.slots.max(other.slots),
            resource_units: self.resource_units.max(other.resource_units),
        }
    }

    /// The smaller of each field.
    pub fn min(self, other: Allotment) -> Allotment {
        Allotment {
            slots: self.slots.min(other.slots),
            resource_units: self.resource_units.min(other.resource_units),
        }
    }

    /// Whether each field is at most `other`'s.
    pub fn fits_in(self, other: Allotment) -> bool {
        self.slots <= other.slots && self.resource_units <= other.resource_units
    }
}

impl fmt::Display for Allotment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} slots, {:.6} resources", self.slots, self.resources())
    }
}

/// `amount` of capacity in units, rounded down (a grant never exceeds what was granted).
pub(crate) fn units_down(amount: f64) -> u64 {
    // `as` saturates and maps NaN to 0.
    ((amount.clamp(0.0, 1.0) * RESOURCE_UNITS_PER_CAPACITY as f64).floor() as u64)
        .min(RESOURCE_UNITS_PER_CAPACITY)
}

/// `amount` of capacity in units, rounded up (what is held is never under-reported).
pub(crate) fn units_up(amount: f64) -> u64 {
    ((amount.clamp(0.0, 1.0) * RESOURCE_UNITS_PER_CAPACITY as f64).ceil() as u64)
        .min(RESOURCE_UNITS_PER_CAPACITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_toward_safety() {
        assert_eq!(units_down(0.1234567), 123_456);
        assert_eq!(units_up(0.1234561), 123_457);
        assert_eq!(units_down(f64::NAN), 0);
        assert_eq!(units_up(7.0), RESOURCE_UNITS_PER_CAPACITY);
        assert!(Allotment::new(1, 0.5).fits_in(Allotment::new(1, 0.5)));
        assert!(!Allotment::new(2, 0.5).fits_in(Allotment::new(1, 0.9)));
    }
}
