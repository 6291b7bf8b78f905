//! [`MemoryKnowledgeStore`]: the knowledge store of one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autonomic_aggregate::WindowTotals;
use tokio::time::Instant;

use crate::knowledge::{OLDEST, WIRE_LEN, from_wire, to_wire};
use crate::memory::live_records;
use crate::{FleetSpec, FleetTotals, InstanceId, KnowledgeStore, ScopeTotals, StoreError};

/// Window totals kept in this process, on tokio's clock: for tests, and for several
/// runtimes in one process sharing their knowledge.
///
/// Clone it to share it (the clones are one store). It follows the rule of
/// [`KnowledgeStore`]; it holds at most [`MAX_FLEETS`](Self::MAX_FLEETS) fleets of at most
/// [`FleetSpec::max_instances`] records each.
///
/// ```
/// use std::time::Duration;
/// use autonomic_aggregate::WindowTotals;
/// use autonomic_fleet::{Allotment, FleetSpec, InstanceId, KnowledgeStore, MemoryKnowledgeStore, ScopeTotals};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = FleetSpec::new("f", Allotment::new(4, 0.0), Allotment::ZERO, 1, Duration::from_secs(1))?;
/// let store = MemoryKnowledgeStore::new();
/// let (none, no_scopes) = (WindowTotals::default(), ScopeTotals::default());
/// let ttl = Duration::from_secs(1);
/// assert!(store.exchange(&spec, &InstanceId::new("a")?, &none, &no_scopes, ttl).await?.published);
/// // One instance at most: b is not stored, but still reads a's totals.
/// let b = store.exchange(&spec, &InstanceId::new("b")?, &none, &no_scopes, ttl).await?;
/// assert_eq!((b.published, b.instances), (false, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryKnowledgeStore {
    fleets: Arc<Mutex<HashMap<String, HashMap<InstanceId, Record>>>>,
}

#[derive(Debug, Clone)]
struct Record {
    expires: Instant,
    wire: [u64; WIRE_LEN],
    /// At most `max_scopes` of each kind, clamped.
    scopes: ScopeTotals,
}

impl MemoryKnowledgeStore {
    /// Most fleets one store keeps (a fleet with no live record is dropped): as many as a
    /// [`MemoryLeaseStore`](crate::MemoryLeaseStore).
    pub const MAX_FLEETS: usize = crate::MemoryLeaseStore::MAX_FLEETS;

    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn step(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        totals: &WindowTotals,
        scopes: &ScopeTotals,
        ttl: Duration,
    ) -> Result<FleetTotals, StoreError> {
        let now = Instant::now();
        let mut fleets = self.fleets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let records = live_records(&mut fleets, spec, now, |r| r.expires)?;
        let mut sum = [0u64; WIRE_LEN];
        let mut instances = 0;
        for (id, record) in records.iter() {
            if id == instance {
                continue;
            }
            instances += 1;
            for (i, (total, n)) in sum.iter_mut().zip(record.wire).enumerate() {
                *total = if i == OLDEST { (*total).max(n) } else { total.saturating_add(n) };
            }
        }
        let others = records.iter().filter(|(id, _)| *id != instance).map(|(_, r)| &r.scopes);
        let scope_sums = ScopeTotals::sum(others, spec.max_scopes());
        let published = records.contains_key(instance) || instances < spec.max_instances();
        if published {
            let scopes = scopes.clone().bounded(spec.max_scopes()).clamped();
            let record = Record { expires: now + ttl, wire: to_wire(totals), scopes };
            records.insert(instance.clone(), record);
        }
        Ok(FleetTotals {
            others: from_wire(&sum),
            scopes: scope_sums,
            instances,
            published,
            // The memory store holds decoded scopes: nothing in it can be unreadable.
            unreadable_scopes: 0,
        })
    }
}

impl KnowledgeStore for MemoryKnowledgeStore {
    async fn exchange(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        totals: &WindowTotals,
        scopes: &ScopeTotals,
        ttl: Duration,
    ) -> Result<FleetTotals, StoreError> {
        self.step(spec, instance, totals, scopes, ttl)
    }
}
