//! The share rule of [`LeaseStore`](crate::LeaseStore) (point 4 and 5), for the stores that
//! run in this process. `redis_store/lease.lua` states the same rule in Lua; the conformance tests
//! run the same scenarios against both.

use crate::{Allotment, FleetSpec};

/// A live instance other than the one asking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Other {
    pub demand: u64,
    pub charge: Allotment,
}

/// The grant and the charge for an instance reporting `demand` and `holding`, charged
/// `previous` so far (`None`: it holds no live lease).
pub(crate) fn grant(
    spec: &FleetSpec,
    others: &[Other],
    demand: u64,
    previous: Option<Allotment>,
    holding: Allotment,
) -> (Allotment, Allotment) {
    let floor = spec.floor();
    let pool = spec.pool();
    let total_demand: u64 = others.iter().map(|o| o.demand).sum::<u64>() + demand;
    let live = others.len() as u64 + 1;
    let share = |pool: u64| -> u64 {
        if total_demand == 0 {
            pool / live
        } else {
            // Exact: pool <= 10^6 and demand <= 10^9 per instance.
            (u128::from(pool) * u128::from(demand) / u128::from(total_demand)) as u64
        }
    };
    let taken = |field: fn(Allotment) -> u64| -> u64 {
        others.iter().map(|o| field(o.charge).saturating_sub(field(floor))).sum()
    };
    let free_slots = pool.slots.saturating_sub(taken(|a| a.slots));
    let free_units = pool.resource_units.saturating_sub(taken(|a| a.resource_units));
    let granted = Allotment {
        slots: floor.slots + share(pool.slots).min(free_slots),
        resource_units: floor.resource_units + share(pool.resource_units).min(free_units),
    };
    let kept = match previous {
        Some(previous) => holding.min(previous),
        // A new lease: what the instance still holds from an earlier one (lost, expired)
        // is charged as far as it is free.
        None => holding.min(Allotment {
            slots: floor.slots + free_slots,
            resource_units: floor.resource_units + free_units,
        }),
    };
    (granted, granted.max(kept))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spec() -> FleetSpec {
        FleetSpec::new(
            "f",
            Allotment::new(12, 0.9),
            Allotment::new(1, 0.0),
            3,
            Duration::from_secs(1),
        )
        .unwrap()
    }

    #[test]
    fn shares_follow_demand_within_what_is_free() {
        let spec = spec();
        // Alone, no demand: the floor and the whole pool (9).
        assert_eq!(grant(&spec, &[], 0, None, Allotment::ZERO).0.slots, 10);
        // The other holds 10 (9 above its floor): only the floor is free.
        let busy = Other { demand: 5, charge: Allotment::new(10, 0.0) };
        assert_eq!(grant(&spec, &[busy], 5, None, Allotment::ZERO).0.slots, 1);
        // The other shrank to its share: half the pool is free again.
        let shrunk = Other { demand: 5, charge: Allotment::new(5, 0.0) };
        assert_eq!(grant(&spec, &[shrunk], 5, None, Allotment::ZERO).0.slots, 5);
        // 3:1 demand with both charged at the floor.
        let low = Other { demand: 1, charge: Allotment::new(1, 0.0) };
        assert_eq!(grant(&spec, &[low], 3, None, Allotment::ZERO).0.slots, 1 + 6);
    }

    #[test]
    fn a_shrinking_instance_stays_charged_for_what_it_holds() {
        let spec = spec();
        let other = Other { demand: 9, charge: Allotment::new(1, 0.0) };
        let (granted, charge) =
            grant(&spec, &[other], 1, Some(Allotment::new(10, 0.0)), Allotment::new(10, 0.0));
        assert_eq!(granted.slots, 1);
        assert_eq!(charge.slots, 10);
        // Holding more than it was charged before is never believed.
        let (_, charge) =
            grant(&spec, &[other], 1, Some(Allotment::new(4, 0.0)), Allotment::new(10, 0.0));
        assert_eq!(charge.slots, 4);
        // A new lease is charged for what it still holds, as far as it is free (here 9 - 3).
        let busy = Other { demand: 9, charge: Allotment::new(4, 0.0) };
        let (granted, charge) = grant(&spec, &[busy], 0, None, Allotment::new(9, 0.0));
        assert_eq!((granted.slots, charge.slots), (1, 7));
    }
}
