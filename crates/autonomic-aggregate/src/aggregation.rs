//! [`Aggregation`]: the reusable state of one aggregation pass (the per-tenant and per-pattern
//! groups), so that a pass allocates nothing once the groups exist.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use autonomic_core::{Coverage, TenantId};

use crate::histogram;
use crate::metrics::{READINGS_PER_FOLD, Reading, Sums};
use crate::{AggregatedMetrics, LatencyHistogram, SessionSource};

/// Sums and latency distribution of one group of sessions (a tenant, a pattern, or all).
#[derive(Debug, Clone, Default)]
struct Group {
    sums: Sums,
    histogram: LatencyHistogram,
}

impl Group {
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

    fn metrics(&self, taken_at_ns: u64, coverage: Coverage) -> AggregatedMetrics {
        self.sums.metrics(&self.histogram, taken_at_ns, coverage)
    }
}

#[derive(Debug, Clone)]
struct TenantGroup {
    tenant: TenantId,
    group: Group,
}

/// The sums of the sessions of one tenant with one pattern. A session's counters are added
/// to its cell only; tenant and pattern sums are added up from the cells after the pass.
#[derive(Debug, Clone)]
struct Cell {
    sums: Sums,
    /// Smallest and largest session mean latency in the cell (`min > max`: none), merged
    /// into the tenant's and pattern's histograms after the pass.
    min_mean_us: u64,
    max_mean_us: u64,
    tenant: u32,
    pattern: u16,
}

impl Cell {
    fn clear(&mut self) {
        self.sums = Sums::default();
        self.min_mean_us = u64::MAX;
        self.max_mean_us = 0;
    }
}

/// Key of a cell: tenant id and pattern slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CellKey {
    tenant: u128,
    pattern: u16,
}

/// One entry of the direct-mapped cell cache: a [`CellKey`] in 8-byte words (24 bytes).
#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    tenant_lo: u64,
    tenant_hi: u64,
    pattern: u16,
    cell: u32,
}

impl CacheEntry {
    #[inline]
    fn holds(&self, key: CellKey) -> bool {
        self.cell != NO_CELL
            && self.tenant_lo == key.tenant as u64
            && self.tenant_hi == (key.tenant >> 64) as u64
            && self.pattern == key.pattern
    }
}

const NO_CELL: u32 = u32::MAX;
const EMPTY_ENTRY: CacheEntry =
    CacheEntry { tenant_lo: 0, tenant_hi: 0, pattern: 0, cell: NO_CELL };
/// Entries of the cell cache (a power of two).
const CACHE_SIZE: usize = 1024;

/// Slot of the sessions that have no pattern, after the 256 pattern slots.
const UNPATTERNED: usize = 256;

/// The state of an aggregation pass, kept between passes so that a pass allocates nothing
/// once every tenant it meets has a group.
///
/// One [`run`](Self::run) visits every session of a source once, reads each with one
/// [`snapshot_at`](autonomic_core::SessionHandle::snapshot_at) (all at the same instant, so
/// the clock is read once per pass, by the caller), and folds it into its tenant's and its
/// pattern's latency distribution and into the counter sums of its (tenant, pattern) cell.
/// After the visit, tenant and pattern sums are added up from the cells and the overall
/// result is the merge of the tenant groups. The breakdowns stay readable until the next
/// pass.
///
/// Memory: 257 pattern groups (256 patterns and "no pattern") of about 2.3 KB each and an
/// 24 KB lookup cache, allocated once; one group (about 2.3 KB) per tenant and one cell (about
/// 150 bytes) per (tenant, pattern) pair seen in the last pass. Groups and cells that had no
/// session in a pass are dropped at its end, so they are bounded by the live tenants and
/// pairs.
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
#[derive(Clone)]
pub struct Aggregation {
    total: Group,
    tenants: Vec<TenantGroup>,
    /// Tenant id (as `u128`) -> index in `tenants`.
    tenant_index: HashMap<u128, u32, FoldHashState>,
    cells: Vec<Cell>,
    /// (tenant, pattern) -> index in `cells`.
    cell_index: HashMap<CellKey, u32, FoldHashState>,
    /// Direct-mapped cache in front of `cell_index`: most sessions find their cell here
    /// with one multiply and one compare.
    cache: Box<[CacheEntry]>,
    /// 256 pattern groups, then the unpatterned group.
    patterns: Box<[Group]>,
    taken_at_ns: u64,
    /// What the last pass's source covered.
    coverage: Coverage,
    /// Set while a pass runs. Still set at the start of the next one means the last pass
    /// did not finish (the source panicked): its half-folded state is discarded.
    in_pass: bool,
}

impl fmt::Debug for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregation")
            .field("taken_at_ns", &self.taken_at_ns)
            .field("tenants", &self.tenants.len())
            .field("cells", &self.cells.len())
            .field("total", &self.total())
            .finish_non_exhaustive()
    }
}

impl Default for Aggregation {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregation {
    /// Empty state (allocates the pattern groups and the cache).
    pub fn new() -> Self {
        let hashing = FoldHashState::default();
        Aggregation {
            total: Group::default(),
            tenants: Vec::new(),
            tenant_index: HashMap::with_hasher(hashing.clone()),
            cells: Vec::new(),
            cell_index: HashMap::with_hasher(hashing),
            cache: vec![EMPTY_ENTRY; CACHE_SIZE].into_boxed_slice(),
            patterns: vec![Group::default(); UNPATTERNED + 1].into_boxed_slice(),
            taken_at_ns: 0,
            coverage: Coverage::Selection,
            in_pass: false,
        }
    }

    /// Visits every session of `source` once, reading each at `now_ns` (ns on the clock that
    /// the sessions' times are read from), and returns the roll-up of all of them. The
    /// breakdowns of this pass can then be read with [`tenant`](Self::tenant),
    /// [`pattern`](Self::pattern) and friends.
    ///
    /// Allocates nothing unless a tenant, or a (tenant, pattern) pair, appears that the
    /// previous pass did not see.
    pub fn run<S: SessionSource + ?Sized>(&mut self, source: &S, now_ns: u64) -> AggregatedMetrics {
        self.begin(now_ns);
        self.coverage = source.coverage();
        // Sessions are read into a small batch on the stack and folded a batch at a time: the
        // visit then only loads (the cache misses of many sessions overlap), and the fold
        // only touches the groups, which stay in cache.
        let mut batch = [Reading::default(); READINGS_PER_FOLD];
        let mut len = 0;
        source.for_each_reading(now_ns, |r| {
            let pattern = r.pattern.map_or(UNPATTERNED as u16, u16::from);
            // `len < READINGS_PER_FOLD` always: the batch is folded as soon as it is full.
            batch[len.min(READINGS_PER_FOLD - 1)] =
                Reading::new(&r.snapshot, r.tenant_id.as_uuid().as_u128(), pattern);
            len += 1;
            if len == READINGS_PER_FOLD {
                self.fold(&batch);
                len = 0;
            }
        });
        self.fold(&batch[..len]);
        self.finish()
    }

    fn fold(&mut self, readings: &[Reading]) {
        for r in readings {
            let key = CellKey { tenant: r.tenant, pattern: r.pattern };
            let slot = self.cache_slot(key);
            let entry = self.cache[slot];
            let c = if entry.holds(key) { entry.cell } else { self.find_cell(key, slot) };
            let cell = &mut self.cells[c as usize];
            cell.sums.add(r);
            if let Some(mean) = r.mean_latency_us() {
                cell.min_mean_us = cell.min_mean_us.min(mean);
                cell.max_mean_us = cell.max_mean_us.max(mean);
                let tenant = cell.tenant as usize;
                // Extremes are kept per cell and merged in `finish`.
                let bucket = histogram::index_of(mean);
                self.tenants[tenant].group.histogram.count_in(bucket, mean);
                self.patterns[usize::from(r.pattern).min(UNPATTERNED)]
                    .histogram
                    .count_in(bucket, mean);
            }
        }
    }

    #[inline]
    fn cache_slot(&self, key: CellKey) -> usize {
        // The maps' seeded hasher: one folded multiply per word of the key.
        (self.cell_index.hasher().hash_one(key) as usize) & (CACHE_SIZE - 1)
    }

    /// The cell of `key`, creating it (and its tenant's group) if new; caches it in `slot`.
    #[cold]
    #[inline(never)]
    fn find_cell(&mut self, key: CellKey, slot: usize) -> u32 {
        let cell = match self.cell_index.get(&key) {
            Some(&c) => c,
            None => {
                let tenant = self.tenant_slot(key.tenant);
                let c = index_u32(self.cells.len());
                self.cells.push(Cell {
                    sums: Sums::default(),
                    min_mean_us: u64::MAX,
                    max_mean_us: 0,
                    tenant,
                    pattern: key.pattern,
                });
                self.cell_index.insert(key, c);
                c
            }
        };
        self.cache[slot] = CacheEntry {
            tenant_lo: key.tenant as u64,
            tenant_hi: (key.tenant >> 64) as u64,
            pattern: key.pattern,
            cell,
        };
        cell
    }

    /// The index of the group of tenant `key`, creating it if new.
    fn tenant_slot(&mut self, key: u128) -> u32 {
        if let Some(&i) = self.tenant_index.get(&key) {
            return i;
        }
        let i = index_u32(self.tenants.len());
        self.tenants
            .push(TenantGroup { tenant: TenantId::from_u128(key), group: Group::default() });
        self.tenant_index.insert(key, i);
        i
    }

    fn begin(&mut self, now_ns: u64) {
        if self.in_pass {
            // The histograms' extremes may not cover what was counted, so the bounded clear
            // below could leave counts behind: start from scratch instead.
            *self = Aggregation::new();
        }
        self.in_pass = true;
        self.taken_at_ns = now_ns;
        self.total.clear();
        for t in &mut self.tenants {
            t.group.clear();
        }
        for c in &mut self.cells {
            c.clear();
        }
        for p in self.patterns.iter_mut() {
            p.clear();
        }
    }

    fn finish(&mut self) -> AggregatedMetrics {
        if self.cells.iter().any(|c| c.sums.sessions() == 0) {
            self.drop_empty();
        }
        let Aggregation { total, tenants, cells, patterns, .. } = self;
        for c in cells.iter() {
            let tenant = &mut tenants[c.tenant as usize].group;
            tenant.sums.merge(&c.sums);
            tenant.histogram.include_extremes(c.min_mean_us, c.max_mean_us);
            let pattern = &mut patterns[usize::from(c.pattern).min(UNPATTERNED)];
            pattern.sums.merge(&c.sums);
            pattern.histogram.include_extremes(c.min_mean_us, c.max_mean_us);
        }
        for t in tenants.iter() {
            total.merge(&t.group);
        }
        self.in_pass = false;
        let metrics = self.total();
        tracing::trace!(
            sessions = metrics.total_sessions,
            tenants = self.tenants.len(),
            cells = self.cells.len(),
            taken_at_ns = self.taken_at_ns,
            "aggregation pass"
        );
        metrics
    }

    /// Drops the cells that had no session in this pass, and the tenants left without a
    /// cell, so that both stay bounded by what is live; re-indexes the rest.
    #[cold]
    fn drop_empty(&mut self) {
        self.cells.retain(|c| c.sums.sessions() > 0);
        let mut live = vec![false; self.tenants.len()];
        for c in &self.cells {
            live[c.tenant as usize] = true;
        }
        // New index of every kept tenant.
        let mut renumber = vec![NO_CELL; self.tenants.len()];
        let mut kept = 0u32;
        for (i, alive) in live.iter().enumerate() {
            if *alive {
                renumber[i] = kept;
                kept += 1;
            }
        }
        let mut i = 0;
        self.tenants.retain(|_| {
            i += 1;
            live[i - 1]
        });
        self.tenant_index.clear();
        for (i, t) in self.tenants.iter().enumerate() {
            self.tenant_index.insert(t.tenant.as_uuid().as_u128(), index_u32(i));
        }
        self.cell_index.clear();
        for (i, c) in self.cells.iter_mut().enumerate() {
            c.tenant = renumber[c.tenant as usize];
            let key = CellKey {
                tenant: self.tenants[c.tenant as usize].tenant.as_uuid().as_u128(),
                pattern: c.pattern,
            };
            self.cell_index.insert(key, index_u32(i));
        }
        self.cache.fill(EMPTY_ENTRY);
        // Give memory back after a large drop (keeping room to grow).
        if self.cells.capacity() > 4 * self.cells.len().max(64) {
            self.cells.shrink_to(2 * self.cells.len());
            self.cell_index.shrink_to(2 * self.cells.len());
        }
        if self.tenants.capacity() > 4 * self.tenants.len().max(16) {
            self.tenants.shrink_to(2 * self.tenants.len());
            self.tenant_index.shrink_to(2 * self.tenants.len());
        }
    }

    /// The roll-up of every session of the last pass (what [`run`](Self::run) returned).
    pub fn total(&self) -> AggregatedMetrics {
        self.total.metrics(self.taken_at_ns, self.coverage)
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
        self.tenant_group(tenant).map(|g| g.metrics(self.taken_at_ns, self.coverage.tenant(tenant)))
    }

    /// One tenant's latency distribution in the last pass; `None` if it had no session.
    pub fn tenant_histogram(&self, tenant: TenantId) -> Option<&LatencyHistogram> {
        self.tenant_group(tenant).map(|g| &g.histogram)
    }

    fn tenant_group(&self, tenant: TenantId) -> Option<&Group> {
        let i = *self.tenant_index.get(&tenant.as_uuid().as_u128())?;
        self.tenants.get(i as usize).map(|t| &t.group)
    }

    /// Every tenant that had sessions in the last pass, with its roll-up (in no particular
    /// order; [`Breakdown`](crate::Breakdown) sorts them by id).
    pub fn tenants(&self) -> impl ExactSizeIterator<Item = (TenantId, AggregatedMetrics)> + '_ {
        self.tenants
            .iter()
            .map(|t| (t.tenant, t.group.metrics(self.taken_at_ns, self.coverage.tenant(t.tenant))))
    }

    /// The roll-up of the sessions with workflow pattern `pattern` in the last pass; `None` if
    /// there were none.
    pub fn pattern(&self, pattern: u8) -> Option<AggregatedMetrics> {
        let g = &self.patterns[usize::from(pattern)];
        (!g.is_empty()).then(|| g.metrics(self.taken_at_ns, self.coverage.pattern(pattern)))
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
        // Not a pattern: a selection of the sessions covered (those without one).
        self.patterns[UNPATTERNED].metrics(self.taken_at_ns, Coverage::Selection)
    }
}

/// Hashing for the tenant and cell maps: foldhash, as the table's tenant index uses for the
/// same tenant ids.
///
/// The default SipHash costs about as much per session as the rest of the pass; foldhash's
/// fast hasher costs a folded multiply per word. Its per-map random seed keeps tenant ids
/// chosen by an outsider from being steered into one bucket.
type FoldHashState = foldhash::fast::RandomState;

/// `i` as a `u32` index. The aggregator's vectors are bounded by the live tenants and
/// (tenant, pattern) pairs, far below 2^32; saturating keeps it panic-free regardless.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NO_CELL - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_hasher_spreads_small_and_random_ids() {
        let state = FoldHashState::default();
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
