//! [`MemoryLeaseStore`]: the lease store of one process.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::share::{self, Other};
use crate::{
    Allotment, Epoch, FleetSpec, InstanceId, Lease, LeaseReply, LeaseRequest, LeaseStore,
    MAX_DEMAND, StoreError,
};

/// Leases kept in this process, on its monotonic clock (tokio's, so paused-time tests see
/// leases expire): for tests, and for several adapters in one process sharing one budget.
///
/// Clone it to share it (the clones are one store). It follows the rule of [`LeaseStore`];
/// it holds at most [`MAX_FLEETS`](Self::MAX_FLEETS) fleets of at most
/// [`FleetSpec::max_instances`] leases each.
///
/// ```
/// use std::time::Duration;
/// use autonomic_fleet::{Allotment, FleetSpec, InstanceId, LeaseReply, LeaseRequest, LeaseStore, MemoryLeaseStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = FleetSpec::new("f", Allotment::new(4, 0.0), Allotment::new(1, 0.0), 2,
///     Duration::from_secs(1))?;
/// let store = MemoryLeaseStore::new();
/// let (a, b) = (InstanceId::new("a")?, InstanceId::new("b")?);
/// let ask = |who| LeaseRequest { spec: &spec, instance: who, epoch: None, demand: 1, holding: Allotment::ZERO };
/// let LeaseReply::Granted(first) = store.lease(&ask(&a)).await? else { panic!() };
/// let LeaseReply::Granted(second) = store.lease(&ask(&b)).await? else { panic!() };
/// assert!(second.epoch > first.epoch);
/// assert!(first.granted.slots + second.granted.slots <= 4);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryLeaseStore {
    fleets: std::sync::Arc<Mutex<Fleets>>,
}

#[derive(Debug, Default)]
struct Fleets {
    last_epoch: u64,
    by_name: HashMap<String, HashMap<InstanceId, Record>>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    epoch: Epoch,
    expires: Instant,
    demand: u64,
    charge: Allotment,
}

impl MemoryLeaseStore {
    /// Most fleets one store keeps (a fleet with no live lease is dropped).
    pub const MAX_FLEETS: usize = 1024;

    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn step(&self, request: &LeaseRequest<'_>) -> Result<LeaseReply, StoreError> {
        let spec = request.spec;
        let now = Instant::now();
        let mut fleets = self.fleets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Fleets { last_epoch, by_name } = &mut *fleets;
        let leases = live_records(by_name, spec, now, |r| r.expires)?;
        let mine = leases.get(request.instance).copied();
        match (request.epoch, mine) {
            (Some(_), None) => return Ok(LeaseReply::Expired),
            (Some(epoch), Some(record)) if record.epoch != epoch => return Ok(LeaseReply::Stale),
            (None, None) if leases.len() >= spec.max_instances() as usize => {
                return Ok(LeaseReply::Full);
            }
            _ => {}
        }
        let epoch = match request.epoch {
            Some(epoch) => epoch,
            None => {
                *last_epoch += 1;
                Epoch(*last_epoch)
            }
        };
        let others: Vec<Other> = leases
            .iter()
            .filter(|(id, _)| *id != request.instance)
            .map(|(_, r)| Other { epoch: r.epoch.get(), demand: r.demand, charge: r.charge })
            .collect();
        let demand = request.demand.min(MAX_DEMAND);
        let (granted, charge) = share::grant(
            spec,
            &others,
            epoch.get(),
            demand,
            mine.map(|r| r.charge),
            request.holding,
        );
        let expires = now + spec.lease_period();
        leases.insert(request.instance.clone(), Record { epoch, expires, demand, charge });
        Ok(LeaseReply::Granted(Lease {
            epoch,
            granted,
            ttl: spec.lease_period(),
            live_instances: leases.len() as u32,
        }))
    }
}

/// The records of `spec`'s fleet, those past their expiry dropped; a fleet new to a store
/// that holds [`MAX_FLEETS`](MemoryLeaseStore::MAX_FLEETS) fleets (with live records) already
/// is refused. The in-memory stores' one bound on what they keep.
pub(crate) fn live_records<'a, R>(
    by_name: &'a mut HashMap<String, HashMap<InstanceId, R>>,
    spec: &FleetSpec,
    now: Instant,
    expires: impl Fn(&R) -> Instant,
) -> Result<&'a mut HashMap<InstanceId, R>, StoreError> {
    let max = MemoryLeaseStore::MAX_FLEETS;
    if !by_name.contains_key(spec.name()) && by_name.len() >= max {
        by_name.retain(|_, records| records.values().any(|r| expires(r) > now));
        if by_name.len() >= max {
            return Err(StoreError::Server(format!(
                "the in-memory store holds {max} fleets already"
            )));
        }
    }
    let records = by_name.entry(spec.name().to_owned()).or_default();
    records.retain(|_, r| expires(r) > now);
    Ok(records)
}

impl LeaseStore for MemoryLeaseStore {
    async fn lease(&self, request: &LeaseRequest<'_>) -> Result<LeaseReply, StoreError> {
        self.step(request)
    }

    async fn release(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        epoch: Epoch,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut fleets = self.fleets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(leases) = fleets.by_name.get_mut(spec.name()) else { return Ok(false) };
        match leases.get(instance) {
            Some(r) if r.epoch == epoch && r.expires > now => {
                leases.remove(instance);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
