//! [`Aggregation`]: the reusable state of one aggregation pass (the per-tenant and per-pattern
//! groups), so that a pass allocates nothing once the groups exist.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use autonomic_core::{MetricsSnapshot, TenantId};

use crate::metrics::Sums;
use crate::{AggregatedMetrics, LatencyHistogram, SessionSource};

/// Sums and latency distribution of one group of sessions.
#[derive(Debug, Clone, Default)]
struct Group {
    sums: Sums,
    histogram: LatencyHistogram,
}

impl Group {
    #[inline]
    fn record(&mut self, snapshot: &MetricsSnapshot, mean_latency_us: Option<u64>) {
        self.sums.add(snapshot);
        if let Some(mean) = mean_latency_us {
            self.histogram.record(mean);
        }
    }

    fn merge(&mut self, other: &Group) {
        self.sums.merge(&other.sums);
        self.histogram.merge(&other.histogram);
    }

    fn clear(&mut self) {
        self.sums = Sums::default();
        self.histogram.clear();
    }

    fn is_empty(&self) -> bool {
        self.sums.sessions() == 0
    }

    fn metrics(&self, taken_at_ns: u64) -> AggregatedMetrics {
        self.sums.metrics(&self.histogram, taken_at_ns)
    }
}

#[derive(Debug, Clone)]
struct TenantGroup {
    tenant: TenantId,
    group: Group,
}

/// Slot of the sessions that have no pattern, after the 256 pattern slots.
const UNPATTERNED: usize = 256;

/// The state of an aggregation pass, kept between passes so that a pass allocates nothing
/// once every tenant it meets has a group.
///
/// One [`run`](Self::run) visits every session of a source once, reads each with one
/// [`snapshot_at`](autonomic_core::SessionHandle::snapshot_at) (all at the same instant, so
/// the clock is read once per pass, by the caller), and folds it into its tenant's group and
/// its pattern's group. The overall result is the merge of the tenant groups. After the pass
/// the breakdowns stay readable until the next one.
///
/// Memory: 257 pattern groups (256 patterns and "no pattern") of about 2.3 KB each, allocated
/// once, plus one group per tenant seen in the last pass: groups of tenants that no longer
/// have sessions are dropped at the end of each pass, so the tenant map is bounded by the
/// number of live tenants.
///
/// ```
/// use autonomic_aggregate::Aggregation;
/// use autonomic_core::{CaseId, SessionHandle, TenantId};
///
/// let (a, b) = (TenantId::new(), TenantId::new());
/// let sessions = vec![
///     SessionHandle::builder(CaseId::new(), a).pattern(1).build().start()?.erased(),
///     SessionHandle::builder(CaseId::new(), a).pattern(2).build().start()?.erased(),
///     SessionHandle::builder(CaseId::new(), b).pattern(2).build().erased(),
/// ];
/// let mut agg = Aggregation::new();
/// let total = agg.run(&sessions, 0);
/// assert_eq!(total.total_sessions, 3);
/// assert_eq!(agg.tenant(a).unwrap().active_sessions, 2);
/// assert_eq!(agg.tenant(b).unwrap().created_sessions, 1);
/// assert_eq!(agg.pattern(2).unwrap().total_sessions, 2);
/// assert!(agg.pattern(3).is_none());
/// assert_eq!(agg.tenants().count(), 2);
/// # Ok::<(), autonomic_core::TransitionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Aggregation {
    total: Group,
    tenants: Vec<TenantGroup>,
    /// Tenant id (as `u128`) -> index in `tenants`.
    tenant_index: HashMap<u128, usize, TenantHashState>,
    /// 256 pattern groups, then the unpatterned group.
    patterns: Box<[Group]>,
    taken_at_ns: u64,
}

impl Default for Aggregation {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregation {
    /// Empty state (allocates the pattern groups).
    pub fn new() -> Self {
        Aggregation {
            total: Group::default(),
            tenants: Vec::new(),
            tenant_index: HashMap::with_hasher(TenantHashState::new()),
            patterns: vec![Group::default(); UNPATTERNED + 1].into_boxed_slice(),
            taken_at_ns: 0,
        }
    }

    /// Visits every session of `source` once, reading each at `now_ns` (ns on the clock that
    /// the sessions' times are read from), and returns the roll-up of all of them. The
    /// breakdowns of this pass can then be read with [`tenant`](Self::tenant),
    /// [`pattern`](Self::pattern) and friends.
    ///
    /// Allocates nothing unless a tenant appears that the previous pass did not see.
    pub fn run<S: SessionSource + ?Sized>(&mut self, source: &S, now_ns: u64) -> AggregatedMetrics {
        self.begin(now_ns);
        // The tenant of the previous session and its group's index: sources that visit
        // sessions tenant by tenant skip the map lookup.
        let mut last: Option<(u128, usize)> = None;
        source.for_each_session(|h| {
            let snapshot = h.snapshot_at(now_ns);
            let mean = snapshot.total_latency_us.checked_div(snapshot.task_completions);
            let key = h.tenant_id().as_uuid().as_u128();
            let index = match last {
                Some((k, i)) if k == key => i,
                _ => {
                    let i = self.tenant_slot(key);
                    last = Some((key, i));
                    i
                }
            };
            self.tenants[index].group.record(&snapshot, mean);
            let pattern = h.pattern().map_or(UNPATTERNED, usize::from);
            self.patterns[pattern].record(&snapshot, mean);
        });
        self.finish()
    }

    fn begin(&mut self, now_ns: u64) {
        self.taken_at_ns = now_ns;
        self.total.clear();
        for t in &mut self.tenants {
            t.group.clear();
        }
        for p in self.patterns.iter_mut() {
            p.clear();
        }
    }

    /// The index of `key`'s group.
    #[inline]
    fn tenant_slot(&mut self, key: u128) -> usize {
        match self.tenant_index.get(&key) {
            Some(&i) => i,
            None => self.new_tenant(key),
        }
    }

    /// Creates the group of a tenant new to this pass (allocates).
    #[cold]
    #[inline(never)]
    fn new_tenant(&mut self, key: u128) -> usize {
        let index = self.tenants.len();
        self.tenants
            .push(TenantGroup { tenant: TenantId::from_u128(key), group: Group::default() });
        self.tenant_index.insert(key, index);
        index
    }

    fn finish(&mut self) -> AggregatedMetrics {
        // Drop the groups of tenants that had no session in this pass, so the map stays
        // bounded by the live tenants.
        if self.tenants.iter().any(|t| t.group.is_empty()) {
            self.tenants.retain(|t| !t.group.is_empty());
            self.tenant_index.clear();
            for (i, t) in self.tenants.iter().enumerate() {
                self.tenant_index.insert(t.tenant.as_uuid().as_u128(), i);
            }
            // Give memory back after a large drop in tenants (keeps some room to grow).
            if self.tenants.capacity() > 4 * self.tenants.len().max(16) {
                self.tenants.shrink_to(2 * self.tenants.len());
                self.tenant_index.shrink_to(2 * self.tenants.len());
            }
        }
        let Aggregation { total, tenants, .. } = self;
        for t in tenants.iter() {
            total.merge(&t.group);
        }
        let metrics = self.total.metrics(self.taken_at_ns);
        tracing::trace!(
            sessions = metrics.total_sessions,
            tenants = self.tenants.len(),
            taken_at_ns = self.taken_at_ns,
            "aggregation pass"
        );
        metrics
    }

    /// The roll-up of every session of the last pass (what [`run`](Self::run) returned).
    pub fn total(&self) -> AggregatedMetrics {
        self.total.metrics(self.taken_at_ns)
    }

    /// Latency distribution (per-session mean task latency) of every session of the last
    /// pass.
    pub fn histogram(&self) -> &LatencyHistogram {
        &self.total.histogram
    }

    /// When the last pass read its sessions (the `now_ns` it was given).
    pub fn taken_at_ns(&self) -> u64 {
        self.taken_at_ns
    }

    /// The roll-up of one tenant's sessions in the last pass; `None` if it had none.
    pub fn tenant(&self, tenant: TenantId) -> Option<AggregatedMetrics> {
        self.tenant_group(tenant).map(|g| g.metrics(self.taken_at_ns))
    }

    /// One tenant's latency distribution in the last pass; `None` if it had no session.
    pub fn tenant_histogram(&self, tenant: TenantId) -> Option<&LatencyHistogram> {
        self.tenant_group(tenant).map(|g| &g.histogram)
    }

    fn tenant_group(&self, tenant: TenantId) -> Option<&Group> {
        let i = *self.tenant_index.get(&tenant.as_uuid().as_u128())?;
        self.tenants.get(i).map(|t| &t.group)
    }

    /// Every tenant that had sessions in the last pass, with its roll-up, in the order the
    /// pass first met them.
    pub fn tenants(&self) -> impl ExactSizeIterator<Item = (TenantId, AggregatedMetrics)> + '_ {
        self.tenants.iter().map(|t| (t.tenant, t.group.metrics(self.taken_at_ns)))
    }

    /// The roll-up of the sessions with workflow pattern `pattern` in the last pass; `None` if
    /// there were none.
    pub fn pattern(&self, pattern: u8) -> Option<AggregatedMetrics> {
        let g = &self.patterns[usize::from(pattern)];
        (!g.is_empty()).then(|| g.metrics(self.taken_at_ns))
    }

    /// One pattern's latency distribution in the last pass; `None` if it had no session.
    pub fn pattern_histogram(&self, pattern: u8) -> Option<&LatencyHistogram> {
        let g = &self.patterns[usize::from(pattern)];
        (!g.is_empty()).then_some(&g.histogram)
    }

    /// Every pattern that had sessions in the last pass, with its roll-up, in increasing
    /// pattern order.
    pub fn patterns(&self) -> impl Iterator<Item = (u8, AggregatedMetrics)> + '_ {
        (0..=u8::MAX).filter_map(|p| self.pattern(p).map(|m| (p, m)))
    }

    /// The roll-up of the sessions without a pattern in the last pass (all zero if none).
    pub fn unpatterned(&self) -> AggregatedMetrics {
        self.patterns[UNPATTERNED].metrics(self.taken_at_ns)
    }
}

/// Hashing for the tenant map: a folded multiply of the two halves of the 128-bit tenant id
/// with per-map random keys.
///
/// The default SipHash costs about as much per session as the rest of the pass; this costs
/// one 64x64->128 multiply. The random keys (drawn from `std`'s `RandomState`) keep tenant
/// ids chosen by an outsider from being steered into one bucket.
#[derive(Debug, Clone)]
struct TenantHashState {
    k0: u64,
    k1: u64,
}

impl TenantHashState {
    fn new() -> Self {
        let seed = RandomState::new();
        TenantHashState { k0: seed.hash_one(0x243f_6a88_85a3_08d3_u64), k1: seed.hash_one(1_u64) }
    }
}

impl BuildHasher for TenantHashState {
    type Hasher = TenantHasher;
    fn build_hasher(&self) -> TenantHasher {
        TenantHasher { k0: self.k0, k1: self.k1, hash: 0 }
    }
}

#[derive(Debug)]
struct TenantHasher {
    k0: u64,
    k1: u64,
    hash: u64,
}

#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for TenantHasher {
    #[inline]
    fn write_u128(&mut self, v: u128) {
        let h = folded_multiply((v as u64) ^ self.k0, ((v >> 64) as u64) ^ self.k1);
        self.hash = folded_multiply(h ^ self.hash, self.k1 | 1);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the `u128` keys of the map; correct for any input all the same.
        for chunk in bytes.chunks(16) {
            let mut b = [0u8; 16];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u128(u128::from_le_bytes(b));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_hasher_spreads_small_and_random_ids() {
        let state = TenantHashState::new();
        let mut seen = std::collections::HashSet::new();
        for v in (0..1000u128).chain((0..1000u128).map(|i| i << 64)) {
            seen.insert(state.hash_one(v) >> 57); // the 7 control bits hashbrown uses
        }
        assert!(seen.len() > 100, "only {} distinct top-7-bit values", seen.len());
        let low: std::collections::HashSet<_> =
            (0..1000u128).map(|v| state.hash_one(v) & 1023).collect();
        assert!(low.len() > 500, "only {} distinct low-10-bit values", low.len());
    }
}
