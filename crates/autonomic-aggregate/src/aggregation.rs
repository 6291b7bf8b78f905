//! [`Aggregation`]: the reusable state of one aggregation pass (the per-tenant and per-pattern
//! groups), so that a pass allocates nothing once the groups exist.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

use autonomic_core::{Coverage, TenantId};

use crate::histogram;
use crate::metrics::{READINGS_PER_FOLD, Reading, Sums};
use crate::{AggregatedMetrics, Cumulative, LatencyHistogram, SessionSource, WindowPass};

/// Sums and latency distribution of one group of sessions (a tenant, a pattern, or all).
#[derive(Debug, Clone, Default)]
struct Group {
    sums: Sums,
    histogram: LatencyHistogram,
}

impl Group {
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

/// One tenant's group, and its sessions' sums split by pattern: a session is added to one
/// cell only, found by its pattern through a dense array; the tenant's and the patterns' sums
/// are added up from the cells after the pass.
#[derive(Debug, Clone)]
struct TenantGroup {
    tenant: TenantId,
    group: Group,
    /// Pattern slot (256: none) -> index in `cells`; `NO_CELL` if none in this pass.
    cell_of: Box<[u16; UNPATTERNED + 1]>,
    /// This pass's cells: pattern slot and sums.
    cells: Vec<(u16, Sums)>,
}

impl TenantGroup {
    fn new(tenant: TenantId) -> Self {
        TenantGroup {
            tenant,
            group: Group::default(),
            cell_of: Box::new([NO_CELL; UNPATTERNED + 1]),
            cells: Vec::new(),
        }
    }

    /// The sums of this tenant's sessions with pattern slot `pattern` (at most 256).
    #[inline]
    fn cell(&mut self, pattern: usize) -> &mut Sums {
        let pattern = pattern.min(UNPATTERNED);
        let c = usize::from(self.cell_of[pattern]);
        if c < self.cells.len() {
            return &mut self.cells[c].1;
        }
        self.new_cell(pattern)
    }

    #[cold]
    #[inline(never)]
    fn new_cell(&mut self, pattern: usize) -> &mut Sums {
        // At most 257 cells (one per pattern slot), which fits a `u16` below `NO_CELL`.
        self.cell_of[pattern] = self.cells.len() as u16;
        self.cells.push((pattern as u16, Sums::default()));
        let (_, sums) = self.cells.last_mut().expect("just pushed");
        sums
    }

    /// Empties the group and its cells for the next pass (keeping their memory).
    fn clear(&mut self) {
        self.group.clear();
        for (pattern, _) in self.cells.drain(..) {
            self.cell_of[usize::from(pattern)] = NO_CELL;
        }
    }
}

/// No cell for this pattern yet (above any cell index).
const NO_CELL: u16 = u16::MAX;

/// One entry of the direct-mapped tenant cache: a tenant id in 8-byte words and its group's
/// index (24 bytes).
#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    tenant_lo: u64,
    tenant_hi: u64,
    index: u32,
}

impl CacheEntry {
    #[inline]
    fn holds(&self, tenant: u128) -> bool {
        self.index != NO_INDEX
            && self.tenant_lo == tenant as u64
            && self.tenant_hi == (tenant >> 64) as u64
    }
}

const NO_INDEX: u32 = u32::MAX;
const EMPTY_ENTRY: CacheEntry = CacheEntry { tenant_lo: 0, tenant_hi: 0, index: NO_INDEX };
/// Entries of the tenant cache: `2^CACHE_BITS`.
const CACHE_BITS: u32 = 10;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

/// Slot of the sessions that have no pattern, after the 256 pattern slots.
const UNPATTERNED: usize = 256;

/// The state of an aggregation pass, kept between passes so that a pass allocates nothing
/// once every tenant it meets has a group.
///
/// One [`run`](Self::run) visits every session of a source once, reads each with one
/// [`snapshot_at`](autonomic_core::SessionHandle::snapshot_at) (all at the same instant, so
/// the clock is read once per pass, by the caller), and adds it to one cell: its tenant's
/// sums for its pattern. The tenant's group is found through a small direct-mapped cache of
/// tenant ids (one multiply and one compare for most sessions, no hashing through the map),
/// the cell through a dense array of the tenant's pattern slots. After the visit, tenant and
/// pattern sums are added up from the cells, and the overall sums from the tenants; the
/// overall latency distribution is counted directly. The breakdowns stay readable until the
/// next pass.
///
/// # Latency distributions per group
/// [`new`](Self::new) keeps one per tenant and per pattern (for reports and exports, which
/// show each group's percentiles). [`sums_only`](Self::sums_only) keeps only the overall one:
/// its groups have exact sums and gauges but an empty latency distribution (their
/// [`latency`](AggregatedMetrics::latency) reads as zeros). That is what the runtime's loop
/// runs, every interval, to feed the rolling windows, which need no distribution per group.
///
/// # Running gauges
/// Every group also counts its running sessions' gauges (how many run, the oldest one's age,
/// how many run for longer than [`with_slow_threshold`](Self::with_slow_threshold)); read them
/// as the windows are fed ([`feed_windows`](Self::feed_windows)).
///
/// Memory: 257 pattern groups (256 patterns and "no pattern") of about 2.3 KB each and a
/// 24 KB tenant cache, allocated once; per tenant seen in the last pass, a group (about
/// 2.9 KB with its pattern slots) and one cell (160 bytes) per pattern it had sessions
/// with. Tenants that had no session in a pass are dropped at its end, so groups are bounded
/// by the live tenants, and cells by the live (tenant, pattern) pairs.
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
    /// Direct-mapped cache in front of `tenant_index`.
    cache: Box<[CacheEntry; CACHE_SIZE]>,
    /// The cache's multiplier: odd, drawn per instance.
    cache_multiplier: u64,
    /// 256 pattern groups, then the unpatterned group.
    patterns: Box<[Group]>,
    /// Whether each tenant and pattern gets a latency distribution.
    per_group_histograms: bool,
    /// A running session is slow from this age on; `None`: none is.
    slow_after_ns: Option<u64>,
    /// Sessions running since before this instant are slow in the pass under way.
    slow_cutoff_ns: u64,
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
            .field("per_group_histograms", &self.per_group_histograms)
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
    /// Empty state, with a latency distribution per tenant and per pattern (allocates the
    /// pattern groups and the cache).
    pub fn new() -> Self {
        let hashing = FoldHashState::default();
        // A random odd multiplier: the cache spreads tenant ids nobody can aim at one entry
        // without knowing it (and a collision only sends a lookup to the seeded map).
        let cache_multiplier = hashing.hash_one(0x9e37_79b9_7f4a_7c15u64) | 1;
        Aggregation {
            total: Group::default(),
            tenants: Vec::new(),
            tenant_index: HashMap::with_hasher(hashing),
            cache: Box::new([EMPTY_ENTRY; CACHE_SIZE]),
            cache_multiplier,
            patterns: vec![Group::default(); UNPATTERNED + 1].into_boxed_slice(),
            per_group_histograms: true,
            slow_after_ns: None,
            slow_cutoff_ns: 0,
            taken_at_ns: 0,
            coverage: Coverage::Selection,
            in_pass: false,
        }
    }

    /// Empty state that keeps only sums and gauges per tenant and per pattern: the overall
    /// latency distribution is kept, the groups' are not (see [the type's docs](Self)).
    ///
    /// ```
    /// use autonomic_aggregate::Aggregation;
    /// use autonomic_core::{CaseId, SessionHandle, TenantId};
    ///
    /// let tenant = TenantId::new();
    /// let h = SessionHandle::builder(CaseId::new(), tenant).pattern(4).build().start()?;
    /// h.record_task_execution_us(700);
    /// let mut agg = Aggregation::sums_only();
    /// let total = agg.run(&[h.erased()], 0);
    /// assert_eq!(total.latency.p50_us, 700);
    /// let mine = agg.tenant(tenant).unwrap();
    /// assert_eq!((mine.total_completions, mine.total_latency_us), (1, 700));
    /// assert_eq!(mine.latency.p50_us, 0, "no distribution per group");
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    pub fn sums_only() -> Self {
        Aggregation { per_group_histograms: false, ..Self::new() }
    }

    /// Counts running sessions older than `threshold` as slow in every group's gauges
    /// (`None`, the default: none is).
    pub fn with_slow_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.slow_after_ns = threshold.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self
    }

    /// Visits every session of `source` once, reading each at `now_ns` (ns on the clock that
    /// the sessions' times are read from), and returns the roll-up of all of them. The
    /// breakdowns of this pass can then be read with [`tenant`](Self::tenant),
    /// [`pattern`](Self::pattern) and friends.
    ///
    /// Allocates nothing unless a tenant appears that the previous pass did not see.
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
        let cutoff = self.slow_cutoff_ns;
        let per_group = self.per_group_histograms;
        let (mut min, mut max) = (u64::MAX, 0u64);
        for r in readings {
            let t = self.tenant_of(r.tenant) as usize;
            let p = usize::from(r.pattern).min(UNPATTERNED);
            let Aggregation { total, tenants, patterns, .. } = &mut *self;
            // `t` came from the tenant index, which only names groups that exist.
            let tenant = &mut tenants[t];
            tenant.cell(p).add_gauged(r, r.slow(cutoff));
            if let Some(mean) = r.mean_latency_us() {
                let bucket = histogram::index_of(mean);
                total.histogram.count_in(bucket, mean);
                min = min.min(mean);
                max = max.max(mean);
                if per_group {
                    for h in [&mut tenant.group.histogram, &mut patterns[p].histogram] {
                        h.count_in(bucket, mean);
                        h.include_extremes(mean, mean);
                    }
                }
            }
        }
        self.total.histogram.include_extremes(min, max);
    }

    /// The index of the group of `tenant` (as `u128`).
    #[inline]
    fn tenant_of(&mut self, tenant: u128) -> u32 {
        // Multiplicative hashing of the id's two words folded into one: the top bits of the
        // product pick the entry.
        let folded = (tenant as u64) ^ ((tenant >> 64) as u64).rotate_left(32);
        let slot = (folded.wrapping_mul(self.cache_multiplier) >> (64 - CACHE_BITS)) as usize;
        let entry = self.cache[slot];
        if entry.holds(tenant) { entry.index } else { self.find_tenant(tenant, slot) }
    }

    /// The index of the group of `tenant`, creating it if new; caches it in `slot`.
    #[cold]
    #[inline(never)]
    fn find_tenant(&mut self, tenant: u128, slot: usize) -> u32 {
        let index = match self.tenant_index.get(&tenant) {
            Some(&i) => i,
            None => {
                let i = index_u32(self.tenants.len());
                self.tenants.push(TenantGroup::new(TenantId::from_u128(tenant)));
                self.tenant_index.insert(tenant, i);
                i
            }
        };
        self.cache[slot] =
            CacheEntry { tenant_lo: tenant as u64, tenant_hi: (tenant >> 64) as u64, index };
        index
    }

    fn begin(&mut self, now_ns: u64) {
        if self.in_pass {
            // The histograms' extremes may not cover what was counted, so the bounded clear
            // below could leave counts behind: start from scratch instead.
            *self = Aggregation {
                per_group_histograms: self.per_group_histograms,
                slow_after_ns: self.slow_after_ns,
                ..Aggregation::new()
            };
        }
        self.in_pass = true;
        self.taken_at_ns = now_ns;
        // Running since before the cutoff (exclusive) = running for at least the threshold.
        self.slow_cutoff_ns = self
            .slow_after_ns
            .and_then(|slow| now_ns.checked_sub(slow))
            .map_or(0, |c| c.saturating_add(1));
        self.total.clear();
        for t in &mut self.tenants {
            t.clear();
        }
        for p in self.patterns.iter_mut() {
            p.clear();
        }
    }

    fn finish(&mut self) -> AggregatedMetrics {
        if self.tenants.iter().any(|t| t.cells.is_empty()) {
            self.drop_empty();
        }
        let Aggregation { total, tenants, patterns, .. } = self;
        for t in tenants.iter_mut() {
            for (pattern, sums) in &t.cells {
                t.group.sums.merge(sums);
                patterns[usize::from(*pattern)].sums.merge(sums);
            }
            total.sums.merge(&t.group.sums);
        }
        self.in_pass = false;
        let metrics = self.total();
        tracing::trace!(
            sessions = metrics.total_sessions,
            tenants = self.tenants.len(),
            cells = self.tenants.iter().map(|t| t.cells.len()).sum::<usize>(),
            taken_at_ns = self.taken_at_ns,
            "aggregation pass"
        );
        metrics
    }

    /// Drops the tenants that had no session in this pass, so that groups stay bounded by
    /// what is live; re-indexes the rest.
    #[cold]
    fn drop_empty(&mut self) {
        self.tenants.retain(|t| !t.cells.is_empty());
        self.tenant_index.clear();
        for (i, t) in self.tenants.iter().enumerate() {
            self.tenant_index.insert(t.tenant.as_uuid().as_u128(), index_u32(i));
        }
        self.cache.fill(EMPTY_ENTRY);
        // Give memory back after a large drop (keeping room to grow).
        if self.tenants.capacity() > 4 * self.tenants.len().max(16) {
            self.tenants.shrink_to(2 * self.tenants.len());
            self.tenant_index.shrink_to(2 * self.tenants.len());
        }
    }

    /// Feeds `pass` this pass's cumulative counters and running gauges: the whole source's,
    /// every tenant's and every pattern's (sessions without a pattern are in the whole only).
    ///
    /// ```
    /// use autonomic_aggregate::{Aggregation, WindowConfig, Windows};
    /// use autonomic_core::{CaseId, SessionHandle, TenantId};
    ///
    /// let tenant = TenantId::new();
    /// let h = SessionHandle::builder(CaseId::new(), tenant).pattern(2).build().start()?;
    /// let mut agg = Aggregation::sums_only();
    /// let mut windows = Windows::new(WindowConfig::default());
    /// agg.run(&[h.erased()], 5_000_000_000);
    /// let mut pass = windows.pass(5_000_000_000);
    /// agg.feed_windows(&mut pass);
    /// pass.finish();
    /// assert_eq!(windows.global(5_000_000_000).counts.started, 1);
    /// assert_eq!(windows.tenant(tenant, 5_000_000_000).unwrap().gauges.running, 1);
    /// assert_eq!(windows.pattern(2, 5_000_000_000).unwrap().gauges.running, 1);
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    pub fn feed_windows(&self, pass: &mut WindowPass<'_>) {
        let now = self.taken_at_ns;
        let sums = &self.total.sums;
        pass.global(Cumulative(sums.counts()), sums.gauges(now));
        for t in &self.tenants {
            let sums = &t.group.sums;
            pass.tenant(t.tenant, Cumulative(sums.counts()), sums.gauges(now));
        }
        for (pattern, group) in (0..=u8::MAX).zip(self.patterns.iter()) {
            if !group.is_empty() {
                let sums = &group.sums;
                pass.pattern(pattern, Cumulative(sums.counts()), sums.gauges(now));
            }
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

/// Hashing for the tenant map: foldhash's quality hasher, with a per-map random seed that
/// keeps tenant ids chosen by an outsider from being steered into one bucket.
///
/// The map is only read when the pass's tenant cache misses, so the quality variant's final
/// avalanche costs little. The fast variant was tried: for some seeds it gave consecutive
/// small ids fewer than half the distinct low bits hashbrown indexes by (about 4% of seeds,
/// caught by `tenant_hasher_spreads_small_and_random_ids`).
type FoldHashState = foldhash::quality::RandomState;

/// `i` as a `u32` index. The aggregator's vectors are bounded by the live tenants, far below
/// 2^32; saturating keeps it panic-free regardless.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(NO_INDEX - 1)
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
