//! [`LeaseStore`]: where a fleet's leases live.

use std::future::Future;

use crate::{Epoch, FleetSpec, InstanceId, LeaseReply, LeaseRequest, StoreError};

/// Where a fleet's leases live: one atomic step per request, on the store's own clock.
///
/// Implementations: [`MemoryLeaseStore`](crate::MemoryLeaseStore) (one process) and
/// [`RedisLeaseStore`](crate::RedisLeaseStore) (a fleet). Both follow the same rule, tested
/// against both:
///
/// 1. Leases whose expiry has passed (on the store's clock) are dropped first.
/// 2. A renewal (`epoch: Some`) of a lease that is gone is [`LeaseReply::Expired`]; one whose
///    epoch is not the instance's current one is [`LeaseReply::Stale`]. Neither changes
///    anything.
/// 3. An acquisition (`epoch: None`) gets a new epoch, larger than any before; it is
///    [`LeaseReply::Full`] if `max_instances` other instances hold leases.
/// 4. The grant is the floor plus the instance's share of the [pool](FleetSpec::pool): in
///    proportion to its demand among the live instances (evenly if nobody reports demand),
///    apportioned by largest remainder (each share rounded down, the units left over one
///    each to those already charged above their rounded-down share, then to the largest
///    remainders, then to the older lease; a left-over unit nobody holds goes to whoever
///    asks first while it is free, and stays there), and never more than the pool less what
///    the others are charged above their floors. So once the slices have settled, they add
///    up to the whole cap, and never to more.
///    So the charges never add up to more than the cap, and the floors of absent instances
///    stay reserved.
/// 5. The instance is charged the larger of its grant and `holding` (at most what it was
///    charged before; for a new lease, at most its floor plus what is free), until the
///    lease's expiry, `lease_period` from now.
///
/// ```
/// use std::time::Duration;
/// use autonomic_fleet::{Allotment, FleetSpec, InstanceId, LeaseReply, LeaseRequest, LeaseStore, MemoryLeaseStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = FleetSpec::new("f", Allotment::new(10, 0.0), Allotment::new(1, 0.0), 2,
///     Duration::from_secs(1))?;
/// let store = MemoryLeaseStore::new();
/// let me = InstanceId::new("a")?;
/// let request = LeaseRequest { spec: &spec, instance: &me, epoch: None, demand: 0, holding: Allotment::ZERO };
/// let LeaseReply::Granted(lease) = store.lease(&request).await? else { panic!() };
/// assert_eq!(lease.granted.slots, 9); // its floor, and the whole pool: nobody else is here
/// assert!(store.release(&spec, &me, lease.epoch).await?);
/// assert!(!store.release(&spec, &me, lease.epoch).await?); // already gone
/// # Ok(()) }
/// ```
pub trait LeaseStore: Send + Sync + 'static {
    /// Acquires or renews a lease (see the trait's rule).
    fn lease(
        &self,
        request: &LeaseRequest<'_>,
    ) -> impl Future<Output = Result<LeaseReply, StoreError>> + Send;

    /// Gives a lease back before its expiry: `true` if it was the instance's current lease
    /// and is now gone; `false` (nothing changed) if it had expired or carries an old epoch.
    fn release(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
