//! The share rule of [`LeaseStore`](crate::LeaseStore) (point 4 and 5), for the stores that
//! run in this process. `redis_store/lease.lua` states the same rule in Lua; the conformance tests
//! run the same scenarios against both.
//!
//! Shares are a largest-remainder apportionment of the pool: each live instance gets
//! `floor(pool * demand / total)`, and the units left over by that rounding go one each to
//! the instances ranked first by: already charged above that rounded-down share (it holds a
//! left-over unit: it keeps it), then the largest remainder (`pool * demand mod total`), then
//! the smaller epoch (the older lease). So the shares add up to the whole pool, never more,
//! and every instance computes the same apportionment from the same records. Ranking the
//! holder first keeps a left-over unit where it is while demands move a little between
//! renewals; and a left-over unit nobody holds goes to whoever asks first while it is free:
//! otherwise two instances with close remainders, each renewing with its own fresh demand,
//! could each see the other first and leave the unit unallotted.

use crate::{Allotment, FleetSpec};

/// A live instance other than the one asking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Other {
    pub epoch: u64,
    pub demand: u64,
    pub charge: Allotment,
}

/// The grant and the charge for the instance holding (or being given) lease `epoch`,
/// reporting `demand` and `holding`, charged `previous` so far (`None`: it holds no live
/// lease).
pub(crate) fn grant(
    spec: &FleetSpec,
    others: &[Other],
    epoch: u64,
    demand: u64,
    previous: Option<Allotment>,
    holding: Allotment,
) -> (Allotment, Allotment) {
    let floor = spec.floor();
    let pool = spec.pool();
    let me = Claim { epoch, demand, charge: previous };
    let taken = |field: fn(Allotment) -> u64| -> u64 {
        others.iter().map(|o| field(o.charge).saturating_sub(field(floor))).sum()
    };
    let free_slots = pool.slots.saturating_sub(taken(|a| a.slots));
    let free_units = pool.resource_units.saturating_sub(taken(|a| a.resource_units));
    let granted = Allotment {
        slots: floor.slots
            + share(pool.slots, others, &me, |a| a.slots - floor.slots.min(a.slots))
                .min(free_slots),
        resource_units: floor.resource_units
            + share(pool.resource_units, others, &me, |a| {
                a.resource_units - floor.resource_units.min(a.resource_units)
            })
            .min(free_units),
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

/// The instance asking: its lease, its demand, and what it was charged so far (`None` for a
/// new lease).
struct Claim {
    epoch: u64,
    demand: u64,
    charge: Option<Allotment>,
}

/// The largest-remainder share of one field's `pool` for `me` among `others` (evenly, by the
/// same rule, when nobody reports demand); `above` is what a charge holds of that field above
/// the floor.
fn share(pool: u64, others: &[Other], me: &Claim, above: impl Fn(Allotment) -> u64) -> u64 {
    let Claim { epoch, demand, charge } = *me;
    let total: u64 = others.iter().map(|o| o.demand).sum::<u64>() + demand;
    // With no demand anywhere every instance weighs 1.
    let weight = |d: u64| if total == 0 { 1 } else { d };
    let total = if total == 0 { others.len() as u64 + 1 } else { total };
    // Exact: pool <= 10^6 and the total demand <= 1024 * 10^9.
    let split = |d: u64| {
        let scaled = u128::from(pool) * u128::from(weight(d));
        ((scaled / u128::from(total)) as u64, (scaled % u128::from(total)) as u64)
    };
    let (mine, my_rest) = split(demand);
    // Rank for a left-over unit: holding one already, then the remainder.
    let my_rank = (charge.is_some_and(|c| above(c) > mine), my_rest);
    let mut given = mine;
    let mut ahead = 0u64;
    let mut holders = u64::from(my_rank.0);
    for other in others {
        let (base, rest) = split(other.demand);
        given += base;
        let rank = (above(other.charge) > base, rest);
        holders += u64::from(rank.0);
        if rank > my_rank || (rank == my_rank && other.epoch < epoch) {
            ahead += 1;
        }
    }
    let left_over = pool.saturating_sub(given);
    // A left-over unit nobody holds also goes to whoever asks while it is free (the grant is
    // capped by what is free): two instances renewing with moving demands could each rank
    // the other first and leave it idle. Once taken, its holder keeps it.
    mine + u64::from(ahead < left_over || holders < left_over)
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
        assert_eq!(grant(&spec, &[], 1, 0, None, Allotment::ZERO).0.slots, 10);
        // The other holds 10 (9 above its floor): only the floor is free.
        let busy = Other { epoch: 1, demand: 5, charge: Allotment::new(10, 0.0) };
        assert_eq!(grant(&spec, &[busy], 2, 5, None, Allotment::ZERO).0.slots, 1);
        // The other shrank to its share: half the pool is free again, and the odd slot of the
        // pool of 9, which nobody holds, goes to whoever asks while it is free.
        let shrunk = Other { epoch: 1, demand: 5, charge: Allotment::new(5, 0.0) };
        assert_eq!(grant(&spec, &[shrunk], 2, 5, None, Allotment::ZERO).0.slots, 1 + 5);
        // 3:1 demand with both charged at the floor: 6.75 and 2.25 of 9 give 7 and 2.
        let low = Other { epoch: 1, demand: 1, charge: Allotment::new(1, 0.0) };
        assert_eq!(grant(&spec, &[low], 2, 3, None, Allotment::ZERO).0.slots, 1 + 7);
    }

    #[test]
    fn a_shrinking_instance_stays_charged_for_what_it_holds() {
        let spec = spec();
        let other = Other { epoch: 2, demand: 9, charge: Allotment::new(1, 0.0) };
        let (granted, charge) =
            grant(&spec, &[other], 1, 1, Some(Allotment::new(10, 0.0)), Allotment::new(10, 0.0));
        // 0.9 of the pool by 1:9, the largest remainder: 1 slot above the floor.
        assert_eq!(granted.slots, 2);
        assert_eq!(charge.slots, 10);
        // Holding more than it was charged before is never believed.
        let (_, charge) =
            grant(&spec, &[other], 1, 1, Some(Allotment::new(4, 0.0)), Allotment::new(10, 0.0));
        assert_eq!(charge.slots, 4);
        // A new lease is charged for what it still holds, as far as it is free (here 9 - 3).
        let busy = Other { epoch: 1, demand: 9, charge: Allotment::new(4, 0.0) };
        let (granted, charge) = grant(&spec, &[busy], 2, 0, None, Allotment::new(9, 0.0));
        assert_eq!((granted.slots, charge.slots), (1, 7));
    }

    /// Three instances acquired at their floors renew in turn, each holding its last grant,
    /// for four rounds; the charges never add up to more than the cap. Returns the last
    /// grants' slots.
    fn settle(spec: &FleetSpec, epochs: [u64; 3], demands: [u64; 3]) -> [u64; 3] {
        let mut charges = [spec.floor(); 3];
        let mut grants = [spec.floor(); 3];
        for _round in 0..4 {
            for i in 0..3 {
                let others: Vec<Other> = (0..3)
                    .filter(|&j| j != i)
                    .map(|j| Other { epoch: epochs[j], demand: demands[j], charge: charges[j] })
                    .collect();
                let (granted, charge) =
                    grant(spec, &others, epochs[i], demands[i], Some(charges[i]), grants[i]);
                (grants[i], charges[i]) = (granted, charge);
                let charged: u64 = charges.iter().map(|c| c.slots).sum();
                assert!(charged <= spec.cap().slots, "{epochs:?} {demands:?}: {charges:?}");
            }
        }
        grants.map(|g| g.slots)
    }

    #[test]
    fn largest_remainders_hand_out_the_whole_pool_and_never_more() {
        let spec = spec();
        // Demands 10, 5, 2 of a pool of 9: 5.29, 2.65, 1.06. Rounding down gives 5 + 2 + 1
        // = 8 (grants of 6 + 3 + 2 = 11 of 12); the slot left over is taken by the first to
        // renew while nobody holds it (a), which keeps it.
        assert_eq!(settle(&spec, [1, 2, 3], [10, 5, 2]), [1 + 6, 1 + 2, 1 + 1]);
        for (epochs, demands) in [
            ([1, 2, 3], [0, 0, 0]),
            ([1, 2, 3], [1, 1, 1]),
            ([3, 1, 2], [1, 1, 1]),
            ([1, 2, 3], [7, 0, 0]),
            ([9, 4, 6], [1_000_000_000, 3, 999_999_999]),
            ([1, 2, 3], [1, 2, 4]),
        ] {
            let got = settle(&spec, epochs, demands);
            assert_eq!(got.iter().sum::<u64>(), 12, "{epochs:?} {demands:?}: {got:?}");
        }
    }

    #[test]
    fn a_left_over_unit_stays_with_its_holder_and_an_unheld_one_is_taken() {
        // Pool 10 by 1:1:1: 3 each and one unit left over.
        let at_floor = |epoch| Other { epoch, demand: 1, charge: Allotment::new(1, 0.0) };
        let holding = |epoch| Other { epoch, demand: 1, charge: Allotment::new(1 + 4, 0.0) };
        let claim = |epoch, charge| Claim { epoch, demand: 1, charge };
        let slots = |a: Allotment| a.slots - 1;
        // Nobody holds it: it is claimed (the grant is capped by what is free).
        assert_eq!(share(10, &[at_floor(5), at_floor(6)], &claim(7, None), slots), 4);
        // Another holds it: the remainders do not take it away, whatever the epochs.
        assert_eq!(share(10, &[at_floor(5), holding(6)], &claim(4, None), slots), 3);
        // This one holds it: it keeps it.
        let mine = Some(Allotment::new(1 + 4, 0.0));
        assert_eq!(share(10, &[at_floor(5), at_floor(6)], &claim(7, mine), slots), 4);
    }
}
