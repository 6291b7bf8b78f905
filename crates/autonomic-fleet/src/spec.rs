//! [`FleetSpec`]: the budget every instance of a fleet shares, and [`InstanceId`].

use std::fmt;
use std::time::Duration;

use crate::{Allotment, FleetConfigError, RESOURCE_UNITS_PER_CAPACITY};

/// The budget of one fleet: every instance of the fleet must be given the same spec.
///
/// * `cap`: the fleet-wide bounds: slots (adaptations in flight across the fleet) and
///   resources (a fraction of the capacity the fleet shares).
/// * `floor`: what an instance may always use. The floors of `max_instances` instances are
///   reserved out of the cap, so an instance without a lease (not yet granted, store
///   unreachable, lease expired) runs at its floor without taking anyone else's share. What
///   the cap holds beyond the floors is handed out in proportion to the instances' demand.
/// * `lease_period`: how long a grant lasts unless renewed.
///
/// ```
/// use std::time::Duration;
/// use autonomic_fleet::{Allotment, FleetSpec};
/// let spec = FleetSpec::new("checkout", Allotment::new(12, 0.9), Allotment::new(1, 0.05), 3,
///     Duration::from_millis(500))?;
/// assert_eq!(spec.pool(), Allotment::new(9, 0.75)); // the cap less three floors
/// let err = FleetSpec::new("checkout", Allotment::new(2, 0.9), Allotment::new(1, 0.0), 3,
///     Duration::from_secs(1)).unwrap_err();
/// assert_eq!(err.field, "floor.slots");
/// # Ok::<(), autonomic_fleet::FleetConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    name: String,
    cap: Allotment,
    floor: Allotment,
    max_instances: u32,
    lease_period: Duration,
    max_scopes: u16,
    shedding_at_floor: u64,
}

impl FleetSpec {
    /// Longest fleet name, in bytes.
    pub const MAX_NAME: usize = 64;
    /// Most instances in one fleet.
    pub const MAX_INSTANCES: u32 = 1024;
    /// Largest `cap.slots`.
    pub const MAX_SLOTS: u64 = 1_000_000;
    /// Shortest lease period.
    pub const MIN_LEASE: Duration = Duration::from_millis(50);
    /// Longest lease period.
    pub const MAX_LEASE: Duration = Duration::from_secs(3600);
    /// Default [`max_scopes`](Self::max_scopes).
    pub const DEFAULT_MAX_SCOPES: u16 = 64;
    /// Largest [`max_scopes`](Self::max_scopes) (as many as there are patterns).
    pub const MAX_SCOPES: u16 = 256;

    /// A validated spec. `name` (1 to 64 bytes of `A-Z a-z 0-9 _ - .`) names the fleet in
    /// the store; `floor` times `max_instances` must fit in `cap`.
    pub fn new(
        name: &str,
        cap: Allotment,
        floor: Allotment,
        max_instances: u32,
        lease_period: Duration,
    ) -> Result<Self, FleetConfigError> {
        check_name("name", name, Self::MAX_NAME)?;
        if cap.slots > Self::MAX_SLOTS {
            return Err(FleetConfigError::new("cap.slots", cap.slots, "must be at most 1000000"));
        }
        if cap.resource_units > RESOURCE_UNITS_PER_CAPACITY {
            return Err(FleetConfigError::new(
                "cap.resource_units",
                cap.resource_units,
                "must be at most 1000000 (the whole capacity)",
            ));
        }
        if max_instances == 0 || max_instances > Self::MAX_INSTANCES {
            return Err(FleetConfigError::new("max_instances", max_instances, "must be 1..=1024"));
        }
        if floor.slots.saturating_mul(u64::from(max_instances)) > cap.slots {
            return Err(FleetConfigError::new(
                "floor.slots",
                floor.slots,
                "times max_instances must be at most cap.slots",
            ));
        }
        if floor.resource_units.saturating_mul(u64::from(max_instances)) > cap.resource_units {
            return Err(FleetConfigError::new(
                "floor.resource_units",
                floor.resource_units,
                "times max_instances must be at most cap.resource_units",
            ));
        }
        if !(Self::MIN_LEASE..=Self::MAX_LEASE).contains(&lease_period) {
            return Err(FleetConfigError::new(
                "lease_period",
                format!("{lease_period:?}"),
                "must be between 50 ms and 1 hour",
            ));
        }
        let even_share =
            (cap.slots - floor.slots * u64::from(max_instances)) / u64::from(max_instances);
        Ok(FleetSpec {
            name: name.to_owned(),
            cap,
            floor,
            max_instances,
            lease_period,
            max_scopes: Self::DEFAULT_MAX_SCOPES,
            shedding_at_floor: even_share,
        })
    }

    /// This spec with `slots` of shedding headroom at the floor (at most
    /// [`MAX_SLOTS`](Self::MAX_SLOTS)): while an instance runs at its floor, actions that shed
    /// load (degrade, cancel optional tasks, compensate, log and continue) may take up to
    /// `slots` adaptation slots beyond the floor's, while actions that consume capacity (retry,
    /// request resources) fail closed at the floor (see the adapter's
    /// `SessionAdapter::set_shedding_headroom`). Leased, an instance has no headroom: its slice
    /// bounds every kind.
    ///
    /// The default is an even share of the pool (`pool().slots / max_instances`), so that even
    /// with every instance at its floor and shedding, the fleet's slots in flight stay within
    /// the cap. While some instances hold leases and others run at their floors, shedding
    /// actions may pass the cap by at most this many slots per instance at its floor;
    /// consuming actions never pass it. 0 makes every kind fail closed at the floor.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic_fleet::{Allotment, FleetSpec};
    /// let spec = FleetSpec::new("f", Allotment::new(12, 0.0), Allotment::new(2, 0.0), 3, Duration::from_secs(1))?;
    /// assert_eq!(spec.shedding_at_floor(), 2); // (12 - 3 x 2) / 3
    /// assert_eq!(spec.clone().with_shedding_at_floor(0)?.shedding_at_floor(), 0);
    /// assert_eq!(spec.with_shedding_at_floor(2_000_000).unwrap_err().field, "shedding_at_floor");
    /// # Ok::<(), autonomic_fleet::FleetConfigError>(())
    /// ```
    pub fn with_shedding_at_floor(mut self, slots: u64) -> Result<Self, FleetConfigError> {
        if slots > Self::MAX_SLOTS {
            return Err(FleetConfigError::new(
                "shedding_at_floor",
                slots,
                "must be at most 1000000",
            ));
        }
        self.shedding_at_floor = slots;
        Ok(self)
    }

    /// Slots beyond the floor's that actions shedding load may take while an instance runs at
    /// its floor (see [`with_shedding_at_floor`](Self::with_shedding_at_floor)).
    pub fn shedding_at_floor(&self) -> u64 {
        self.shedding_at_floor
    }

    /// This spec with at most `max_scopes` tenants and as many patterns (1 to
    /// [`MAX_SCOPES`](Self::MAX_SCOPES)) in each instance's published window totals and in
    /// the fleet's sums of them; the others are folded into `other` (see
    /// [`ScopeTotals`](crate::ScopeTotals)). Every instance of a fleet should use the same.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic_fleet::{Allotment, FleetSpec};
    /// let spec = FleetSpec::new("f", Allotment::new(4, 0.0), Allotment::ZERO, 2, Duration::from_secs(1))?;
    /// assert_eq!(spec.max_scopes(), 64);
    /// assert_eq!(spec.clone().with_max_scopes(8)?.max_scopes(), 8);
    /// assert_eq!(spec.with_max_scopes(0).unwrap_err().field, "max_scopes");
    /// # Ok::<(), autonomic_fleet::FleetConfigError>(())
    /// ```
    pub fn with_max_scopes(mut self, max_scopes: u16) -> Result<Self, FleetConfigError> {
        if max_scopes == 0 || max_scopes > Self::MAX_SCOPES {
            return Err(FleetConfigError::new("max_scopes", max_scopes, "must be 1..=256"));
        }
        self.max_scopes = max_scopes;
        Ok(self)
    }

    /// Most tenants, and most patterns, with window totals of their own in what an instance
    /// publishes and in the fleet's sums (default 64).
    pub fn max_scopes(&self) -> usize {
        usize::from(self.max_scopes)
    }

    /// The fleet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fleet-wide bounds.
    pub fn cap(&self) -> Allotment {
        self.cap
    }

    /// What each instance may always use.
    pub fn floor(&self) -> Allotment {
        self.floor
    }

    /// Most instances holding a lease at once.
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

    /// How long a grant lasts unless renewed.
    pub fn lease_period(&self) -> Duration {
        self.lease_period
    }

    /// The lease period in whole milliseconds (at least 50).
    pub(crate) fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease_period.as_millis()).unwrap_or(u64::MAX)
    }

    /// What is handed out by demand: the cap less the floors of `max_instances` instances.
    pub fn pool(&self) -> Allotment {
        let n = u64::from(self.max_instances);
        Allotment {
            slots: self.cap.slots - self.floor.slots * n,
            resource_units: self.cap.resource_units - self.floor.resource_units * n,
        }
    }
}

/// The name of one instance of a fleet: unique within the fleet, stable across its
/// renewals. An instance that acquires under a name another live instance holds takes the
/// lease over (a new epoch); the other's renewals are then refused as stale.
///
/// ```
/// use autonomic_fleet::InstanceId;
/// assert_eq!(InstanceId::new("pod-7.eu")?.as_str(), "pod-7.eu");
/// assert!(InstanceId::new("no spaces").is_err());
/// # Ok::<(), autonomic_fleet::FleetConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

impl InstanceId {
    /// Longest instance name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// A validated name: 1 to 64 bytes of `A-Z a-z 0-9 _ - . :`.
    pub fn new(name: &str) -> Result<Self, FleetConfigError> {
        check_name("instance", name, Self::MAX_LEN)?;
        Ok(InstanceId(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_name(field: &'static str, name: &str, max: usize) -> Result<(), FleetConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if name.is_empty() || name.len() > max || !name.chars().all(allowed) {
        return Err(FleetConfigError::new(
            field,
            name,
            "must be 1 to 64 bytes of A-Z a-z 0-9 _ - . :",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        cap: Allotment,
        floor: Allotment,
        n: u32,
        lease_ms: u64,
    ) -> Result<FleetSpec, FleetConfigError> {
        FleetSpec::new("f", cap, floor, n, Duration::from_millis(lease_ms))
    }

    #[test]
    fn refuses_what_cannot_hold() {
        let cap = Allotment::new(12, 0.9);
        assert!(spec(cap, Allotment::new(4, 0.3), 3, 500).is_ok());
        assert_eq!(
            spec(cap, Allotment::new(4, 0.31), 3, 500).unwrap_err().field,
            "floor.resource_units"
        );
        assert_eq!(spec(cap, Allotment::ZERO, 0, 500).unwrap_err().field, "max_instances");
        assert_eq!(spec(cap, Allotment::ZERO, 3, 10).unwrap_err().field, "lease_period");
        let big = Allotment { slots: 2_000_000, resource_units: 0 };
        assert_eq!(spec(big, Allotment::ZERO, 3, 500).unwrap_err().field, "cap.slots");
        let name = "x".repeat(65);
        let err = FleetSpec::new(&name, cap, Allotment::ZERO, 1, Duration::from_secs(1));
        assert_eq!(err.unwrap_err().field, "name");
        assert!(InstanceId::new("").is_err());
        assert!(InstanceId::new("a,b").is_err());
    }
}
