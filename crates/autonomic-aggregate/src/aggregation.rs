//! [`Aggregation`]: the reusable state of one aggregation pass (the per-tenant and per-pattern
//! groups), so that a pass allocates nothing once the groups exist.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

use autonomic_core::{Coverage, SessionReading, TenantId};

use crate::histogram;
use crate::metrics::{READINGS_PER_FOLD, Reading, Sums};
use crate::source::SplitSource;
use crate::{AggregatedMetrics, Cumulative, LatencyHistogram, SessionSource, WindowPass};

/// Sums of one group of sessions (a tenant or a pattern), and its latency distribution if
/// the aggregation keeps one per group (about 2.2 KB, so a sums-only one does not carry it).
#[derive(Debug, Clone)]
struct Group {
    sums: Sums,
    histogram: Option<Box<LatencyHistogram>>,
}

/// What a group without a distribution of its own shows: none.
static NO_HISTOGRAM: LatencyHistogram = LatencyHistogram::new();

impl Group {
    fn new(with_histogram: bool) -> Self {
        Group { sums: Sums::default(), histogram: with_histogram.then(Box::default) }
    }

    fn clear(&mut self) {
        self.sums = Sums::default();
        if let Some(h) = &mut self.histogram {
            h.clear();
        }
    }

    fn histogram(&self) -> &LatencyHistogram {
        self.histogram.as_deref().unwrap_or(&NO_HISTOGRAM)
    }

    fn is_empty(&self) -> bool {
        self.sums.sessions() == 0
    }

    fn metrics(&self, taken_at_ns: u64, coverage: Coverage) -> AggregatedMetrics {
        self.sums.metrics(self.histogram(), taken_at_ns, coverage)
    }
}

/// One tenant's group, and where its (tenant, pattern) cells are.
#[derive(Debug, Clone)]
struct TenantGroup {
    tenant: TenantId,
    group: Group,
    /// Pattern slot (256: none) -> index in the aggregation's `cells`; `NO_CELL` if none.
    cell_of: Box<[u32; UNPATTERNED + 1]>,
    /// Scratch for [`Aggregation::drop_empty`]: this group's index once the empty ones are
    /// gone.
    renumbered: u32,
}

impl TenantGroup {
    fn new(tenant: TenantId, with_histogram: bool) -> Self {
        TenantGroup {
            tenant,
            group: Group::new(with_histogram),
            cell_of: Box::new([NO_CELL; UNPATTERNED + 1]),
            renumbered: NO_INDEX,
        }
    }
}

/// The sums of one tenant's sessions with one pattern slot: what a session is added to.
#[derive(Debug, Clone)]
struct Cell {
    /// Index of the tenant's group in `tenants`.
    tenant: u32,
    /// Pattern slot (256: none).
    pattern: u16,
    sums: Sums,
}

/// No cell for this (tenant, pattern) yet.
const NO_CELL: u32 = u32::MAX;

/// One entry of the two-way cell cache: a tenant key in 8-byte words, a pattern slot
/// and the index of their cell (24 bytes).
#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    tenant_lo: u64,
    tenant_hi: u64,
    cell: u32,
    /// Pattern slot; `EMPTY_PATTERN` (no slot has it) in an empty entry, so that an empty
    /// entry never matches.
    pattern: u16,
}

impl CacheEntry {
    #[inline]
    fn holds(&self, tenant: u128, pattern: u16) -> bool {
        self.tenant_lo == tenant as u64
            && self.tenant_hi == (tenant >> 64) as u64
            && self.pattern == pattern
    }

    fn is_empty(&self) -> bool {
        self.pattern == EMPTY_PATTERN
    }
}

const NO_INDEX: u32 = u32::MAX;
/// Above every pattern slot (`0..=UNPATTERNED`).
const EMPTY_PATTERN: u16 = u16::MAX;
const EMPTY_ENTRY: CacheEntry =
    CacheEntry { tenant_lo: 0, tenant_hi: 0, cell: NO_CELL, pattern: EMPTY_PATTERN };
/// Entries of the cell cache: `2^CACHE_BITS`.
const CACHE_BITS: u32 = 11;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

/// A (tenant, pattern) pair's first cache entry: the top bits of its hash
/// ([`Aggregation::cache_hash`]).
#[inline]
fn first_slot(hash: u64) -> usize {
    (hash >> (64 - CACHE_BITS)) as usize
}

/// A pair's second cache entry: the bits of its hash below the first's (two pairs that share
/// the first entry mostly do not share the second).
#[inline]
fn second_slot(hash: u64) -> usize {
    (hash >> (64 - 2 * CACHE_BITS)) as usize & (CACHE_SIZE - 1)
}

/// Slot of the sessions that have no pattern, after the 256 pattern slots.
const UNPATTERNED: usize = 256;

/// The state of an aggregation pass, kept between passes so that a pass allocates nothing
/// once every tenant it meets has a group.
///
/// One [`run`](Self::run) visits every session of a source once, reads each with one
/// [`snapshot_at`](autonomic_core::SessionHandle::snapshot_at) (all at the same instant, so
/// the clock is read once per pass, by the caller), and adds it to one cell: its tenant's
/// sums for its pattern. The cell is found through a small two-way cache keyed by
/// (tenant id, pattern) (one multiply and one compare for most sessions, a second compare
/// if the first entry holds another pair, no hashing through the map); on a miss in both, through the tenant map and a dense array of the tenant's pattern
/// slots. Cells keep their place from pass to pass while their tenant is live, so the cache
/// stays valid across passes. After the visit, tenant and
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
/// Memory: 257 pattern groups (256 patterns and "no pattern") of about 150 bytes each
/// (2.3 KB with a latency distribution) and a 48 KB cell cache, allocated once; per tenant
/// seen in the last pass, a group (about 1.2 KB with its pattern slots, 2.2 KB more with a
/// distribution) and one cell (about 160 bytes) per pattern it had sessions with. Tenants that had no session in a pass are dropped at its end, and with them every
/// cell that had none, so groups are bounded by the live tenants and cells by 257 per live
/// tenant.
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
    /// Sums of every session of the pass.
    total: Sums,
    /// Latency distribution of every session of the pass.
    histogram: LatencyHistogram,
    tenants: Vec<TenantGroup>,
    /// Tenant key ([`tenant_key`]) -> index in `tenants`.
    tenant_index: HashMap<u128, u32, FoldHashState>,
    /// Every (tenant, pattern slot) pair's sums; kept from pass to pass (zeroed at the
    /// start of each) while their tenant is live, so their indices stay valid.
    cells: Vec<Cell>,
    /// Cache of (tenant key, pattern slot) -> index in `cells`, in front of `tenant_index`
    /// and the tenants' `cell_of`: a pair may sit in either of two entries
    /// ([`cache_slots`](Self::cache_slots)), so that two pairs that share one entry do not
    /// evict each other for the whole pass.
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
    /// The other parts' states of a split pass ([`run_split`](Self::run_split)), kept from
    /// pass to pass like this one's (at most [`MAX_PARTS`](Self::MAX_PARTS) - 1).
    /// Boxed: each part writes its own histogram and sums in place, so no two parts' states
    /// share a cache line.
    #[allow(clippy::vec_box)] // boxed on purpose: see above
    helpers: Vec<Box<Aggregation>>,
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
        Self::with_group_histograms(true)
    }

    fn with_group_histograms(per_group_histograms: bool) -> Self {
        let hashing = FoldHashState::default();
        // A random odd multiplier: the cache spreads tenant ids nobody can aim at one entry
        // without knowing it (and a collision only sends a lookup to the seeded map).
        let cache_multiplier = hashing.hash_one(0x9e37_79b9_7f4a_7c15u64) | 1;
        Aggregation {
            total: Sums::default(),
            histogram: LatencyHistogram::new(),
            tenants: Vec::new(),
            tenant_index: HashMap::with_hasher(hashing),
            cells: Vec::new(),
            cache: Box::new([EMPTY_ENTRY; CACHE_SIZE]),
            cache_multiplier,
            patterns: vec![Group::new(per_group_histograms); UNPATTERNED + 1].into_boxed_slice(),
            per_group_histograms,
            slow_after_ns: None,
            slow_cutoff_ns: 0,
            taken_at_ns: 0,
            coverage: Coverage::Selection,
            helpers: Vec::new(),
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
        Self::with_group_histograms(false)
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
        let mut part = PartFold::new(self);
        source.for_each_reading(now_ns, |r| part.push(r));
        part.flush();
        self.finish()
    }

    /// As [`run`](Self::run), with the visit split into `parts` parts (at most
    /// [`MAX_PARTS`](Self::MAX_PARTS)) that the source runs at once, one thread each
    /// ([`SplitSource`]): each part folds its sessions into its own state (this aggregation's
    /// for the first, a helper's, kept from pass to pass, for the others), and the parts are
    /// merged once at the end, cell by cell, distributions included. The result, the
    /// breakdowns and the window feed equal [`run`](Self::run)'s over the same sessions
    /// exactly. `parts` of 0 or 1 is [`run`](Self::run).
    ///
    /// The work is [`run`](Self::run)'s plus the merge (O(cells) per extra part); the pass
    /// takes about its share of that on as many cores. Memory: per extra part, a helper of the
    /// size of this aggregation (bounded the same way, by the tenants live in its part);
    /// helpers beyond the parts of the last pass are dropped.
    ///
    /// ```
    /// use autonomic_aggregate::{Aggregation, SessionSource, SplitSource};
    /// use autonomic_core::{CaseId, SessionHandle, SessionReading, TenantId, marker::AnyState};
    ///
    /// // Sessions in a vector, visited in contiguous slices, one thread per slice.
    /// struct Split(Vec<SessionHandle<(), AnyState>>);
    /// impl SessionSource for Split {
    ///     type Tenant = ();
    ///     type State = AnyState;
    ///     fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, f: F) {
    ///         self.0.iter().for_each(f)
    ///     }
    /// }
    /// impl SplitSource for Split {
    ///     fn for_each_reading_split<V: Send>(
    ///         &self,
    ///         now_nanos: u64,
    ///         parts: &mut [V],
    ///         visit: impl Fn(&mut V, &SessionReading) + Sync,
    ///     ) {
    ///         let chunk = self.0.len().div_ceil(parts.len().max(1)).max(1);
    ///         std::thread::scope(|scope| {
    ///             for (state, sessions) in parts.iter_mut().zip(self.0.chunks(chunk)) {
    ///                 let visit = &visit;
    ///                 scope.spawn(move || {
    ///                     sessions.iter().for_each(|h| visit(state, &h.reading_at(now_nanos)))
    ///                 });
    ///             }
    ///         });
    ///     }
    /// }
    ///
    /// let tenant = TenantId::new();
    /// let sessions: Vec<_> = (0..100)
    ///     .map(|i| SessionHandle::builder(CaseId::new(), tenant).pattern(i % 3).build().erased())
    ///     .collect();
    /// let source = Split(sessions);
    /// let mut split = Aggregation::sums_only();
    /// let mut single = Aggregation::sums_only();
    /// assert_eq!(split.run_split(&source, 0, 3), single.run(&source, 0));
    /// assert_eq!(split.pattern(1), single.pattern(1));
    /// ```
    pub fn run_split<S: SplitSource + ?Sized>(
        &mut self,
        source: &S,
        now_ns: u64,
        parts: usize,
    ) -> AggregatedMetrics {
        let parts = parts.min(Self::MAX_PARTS);
        if parts <= 1 {
            return self.run(source, now_ns);
        }
        self.begin(now_ns);
        self.coverage = source.coverage();
        let mut helpers = std::mem::take(&mut self.helpers);
        helpers.truncate(parts - 1);
        while helpers.len() < parts - 1 {
            helpers.push(Box::new(Aggregation::with_group_histograms(self.per_group_histograms)));
        }
        for helper in &mut helpers {
            helper.slow_after_ns = self.slow_after_ns;
            helper.begin(now_ns);
        }
        {
            let mut folds: Vec<PartFold<'_>> = std::iter::once(&mut *self)
                .chain(helpers.iter_mut().map(|helper| &mut **helper))
                .map(PartFold::new)
                .collect();
            source.for_each_reading_split(now_ns, &mut folds, |part, r| part.push(r));
            folds.iter_mut().for_each(PartFold::flush);
        }
        for helper in &mut helpers {
            self.absorb(helper);
            // Drops the helper's tenants and cells that had no session in its part.
            helper.finish();
        }
        self.helpers = helpers;
        self.finish()
    }

    /// The most parts [`run_split`](Self::run_split) splits a pass into.
    pub const MAX_PARTS: usize = 64;

    /// Adds what `part` folded in this pass (its cells, and the distributions the fold
    /// counted directly) to this aggregation's, before [`finish`](Self::finish) sums cells
    /// into groups. Every sum and distribution is a sum over sessions, so the result does not
    /// depend on which part read which session.
    fn absorb(&mut self, part: &Aggregation) {
        for c in &part.cells {
            if c.sums.sessions() == 0 {
                continue;
            }
            let tenant = tenant_key(part.tenants[c.tenant as usize].tenant);
            let mine = self.cell_of(tenant, c.pattern);
            self.cells[mine as usize].sums.merge(&c.sums);
        }
        self.histogram.merge(&part.histogram);
        if !self.per_group_histograms {
            return;
        }
        for t in &part.tenants {
            let (Some(theirs), Some(&i)) =
                (t.group.histogram.as_deref(), self.tenant_index.get(&tenant_key(t.tenant)))
            else {
                continue;
            };
            if let Some(mine) = self.tenants[i as usize].group.histogram.as_deref_mut() {
                mine.merge(theirs);
            }
        }
        for (mine, theirs) in self.patterns.iter_mut().zip(part.patterns.iter()) {
            if let (Some(mine), Some(theirs)) =
                (mine.histogram.as_deref_mut(), theirs.histogram.as_deref())
            {
                mine.merge(theirs);
            }
        }
    }

    fn fold(&mut self, readings: &[Reading]) {
        if self.per_group_histograms {
            self.fold_with::<true>(readings)
        } else {
            self.fold_with::<false>(readings)
        }
    }

    /// [`fold`](Self::fold), compiled once with and once without the groups' distributions
    /// (so that the loop's sums-only pass does not test for them per session).
    #[inline(always)]
    fn fold_with<const PER_GROUP: bool>(&mut self, readings: &[Reading]) {
        let cutoff = self.slow_cutoff_ns;
        let (mut min, mut max, mut sum) = (u64::MAX, 0u64, 0u128);
        for r in readings {
            let c = r.cell as usize;
            let Aggregation { histogram, tenants, cells, patterns, .. } = &mut *self;
            // `c` came from `cell_of`, which only names cells that exist (and cells are only
            // dropped at the end of a pass).
            let cell = &mut cells[c];
            cell.sums.add_gauged(r, r.slow(cutoff));
            if let Some(mean) = r.mean_latency_us() {
                let bucket = histogram::index_of(mean);
                histogram.count_in(bucket);
                min = min.min(mean);
                max = max.max(mean);
                sum += u128::from(mean);
                if PER_GROUP {
                    let tenant = tenants[cell.tenant as usize].group.histogram.as_deref_mut();
                    let pattern = patterns[usize::from(cell.pattern)].histogram.as_deref_mut();
                    for h in [tenant, pattern].into_iter().flatten() {
                        h.count_in(bucket);
                        h.include_batch(mean, mean, u128::from(mean));
                    }
                }
            }
        }
        self.histogram.include_batch(min, max, sum);
    }

    /// The index in `cells` of the cell of the tenant keyed `tenant` ([`tenant_key`]) and
    /// pattern slot `pattern`.
    #[inline]
    fn cell_of(&mut self, tenant: u128, pattern: u16) -> u32 {
        let hash = self.cache_hash(tenant, pattern);
        let entry = self.cache[first_slot(hash)];
        if entry.holds(tenant, pattern) {
            entry.cell
        } else {
            self.cell_of_second(tenant, pattern, hash)
        }
    }

    /// Multiplicative hashing of the key's two words and the slot folded into one: the top
    /// bits of the product pick the pair's first cache entry, the bits below them its second
    /// ([`first_slot`], [`second_slot`]).
    #[inline]
    fn cache_hash(&self, tenant: u128, pattern: u16) -> u64 {
        let folded = (tenant as u64) ^ ((tenant >> 64) as u64).rotate_left(32) ^ u64::from(pattern);
        folded.wrapping_mul(self.cache_multiplier)
    }

    /// [`cell_of`](Self::cell_of) once the first entry holds another pair (or none): the
    /// second entry, then the map. Out of line, so that the hit in the first entry (nearly
    /// every session) pays nothing for the second.
    #[cold]
    #[inline(never)]
    fn cell_of_second(&mut self, tenant: u128, pattern: u16, hash: u64) -> u32 {
        let entry = self.cache[second_slot(hash)];
        if entry.holds(tenant, pattern) {
            entry.cell
        } else {
            self.find_cell(tenant, pattern, hash)
        }
    }

    /// The index of the cell of `tenant` and `pattern`, creating the tenant's group and the
    /// cell if new; caches it in its first entry if that one is empty, else in its second
    /// (`hash` is [`cache_hash`](Self::cache_hash)).
    #[cold]
    #[inline(never)]
    fn find_cell(&mut self, tenant: u128, pattern: u16, hash: u64) -> u32 {
        let t = match self.tenant_index.get(&tenant) {
            Some(&i) => i,
            None => {
                let i = index_u32(self.tenants.len());
                let with_histogram = self.per_group_histograms;
                self.tenants.push(TenantGroup::new(tenant_of_key(tenant), with_histogram));
                self.tenant_index.insert(tenant, i);
                i
            }
        };
        let p = usize::from(pattern).min(UNPATTERNED);
        let cells = &mut self.cells;
        let group = &mut self.tenants[t as usize];
        let cell = match group.cell_of[p] {
            NO_CELL => {
                let c = index_u32(cells.len());
                // `p <= 256` fits a `u16`.
                cells.push(Cell { tenant: t, pattern: p as u16, sums: Sums::default() });
                group.cell_of[p] = c;
                c
            }
            c => c,
        };
        let first = first_slot(hash);
        let slot = if self.cache[first].is_empty() { first } else { second_slot(hash) };
        self.cache[slot] = CacheEntry {
            tenant_lo: tenant as u64,
            tenant_hi: (tenant >> 64) as u64,
            cell,
            pattern,
        };
        cell
    }

    fn begin(&mut self, now_ns: u64) {
        if self.in_pass {
            // The histograms' extremes may not cover what was counted, so the bounded clear
            // below could leave counts behind: start from scratch instead.
            *self = Aggregation {
                slow_after_ns: self.slow_after_ns,
                ..Aggregation::with_group_histograms(self.per_group_histograms)
            };
        }
        self.in_pass = true;
        self.taken_at_ns = now_ns;
        // Running since before the cutoff (exclusive) = running for at least the threshold.
        self.slow_cutoff_ns = self
            .slow_after_ns
            .and_then(|slow| now_ns.checked_sub(slow))
            .map_or(0, |c| c.saturating_add(1));
        self.total = Sums::default();
        self.histogram.clear();
        for t in &mut self.tenants {
            t.group.clear();
        }
        for c in &mut self.cells {
            c.sums = Sums::default();
        }
        for p in self.patterns.iter_mut() {
            p.clear();
        }
    }

    fn finish(&mut self) -> AggregatedMetrics {
        let Aggregation { tenants, cells, patterns, .. } = self;
        for c in cells.iter() {
            tenants[c.tenant as usize].group.sums.merge(&c.sums);
            patterns[usize::from(c.pattern)].sums.merge(&c.sums);
        }
        if self.tenants.iter().any(|t| t.group.is_empty()) {
            self.drop_empty();
        }
        for t in &self.tenants {
            self.total.merge(&t.group.sums);
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

    /// Drops the tenants that had no session in this pass and the cells that had none, so
    /// that groups stay bounded by what is live; renumbers the rest and empties the cache.
    #[cold]
    fn drop_empty(&mut self) {
        let mut kept = 0;
        for t in &mut self.tenants {
            t.renumbered = if t.group.is_empty() { NO_INDEX } else { post_inc(&mut kept) };
            t.cell_of.fill(NO_CELL);
        }
        let tenants = &self.tenants;
        self.cells.retain_mut(|c| {
            c.tenant = tenants[c.tenant as usize].renumbered;
            c.tenant != NO_INDEX && c.sums.sessions() > 0
        });
        self.tenants.retain(|t| t.renumbered != NO_INDEX);
        for (i, c) in self.cells.iter().enumerate() {
            self.tenants[c.tenant as usize].cell_of[usize::from(c.pattern)] = index_u32(i);
        }
        self.tenant_index.clear();
        for (i, t) in self.tenants.iter().enumerate() {
            self.tenant_index.insert(tenant_key(t.tenant), index_u32(i));
        }
        self.cache.fill(EMPTY_ENTRY);
        // Give memory back after a large drop (keeping room to grow).
        if self.tenants.capacity() > 4 * self.tenants.len().max(16) {
            self.tenants.shrink_to(2 * self.tenants.len());
            self.tenant_index.shrink_to(2 * self.tenants.len());
        }
        if self.cells.capacity() > 4 * self.cells.len().max(64) {
            self.cells.shrink_to(2 * self.cells.len());
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
        let sums = &self.total;
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
        self.total.metrics(&self.histogram, self.taken_at_ns, self.coverage)
    }

    /// Latency distribution (per-session mean task latency) of every session of the last
    /// pass.
    pub fn histogram(&self) -> &LatencyHistogram {
        &self.histogram
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
        self.tenant_group(tenant).map(Group::histogram)
    }

    fn tenant_group(&self, tenant: TenantId) -> Option<&Group> {
        let i = *self.tenant_index.get(&tenant_key(tenant))?;
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
        (!g.is_empty()).then_some(g.histogram())
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

/// One part of a pass being folded into an aggregation: sessions are read into a small
/// batch on the stack and folded a batch at a time (the visit then only loads, so the cache
/// misses of many sessions overlap, and the fold only touches the groups, which stay in
/// cache). Aligned to two cache lines: the parts of a split pass write their folds side by
/// side in one vector, and one part's writes must not bounce another's lines.
#[repr(align(128))]
struct PartFold<'a> {
    agg: &'a mut Aggregation,
    batch: [Reading; READINGS_PER_FOLD],
    len: usize,
}

impl<'a> PartFold<'a> {
    fn new(agg: &'a mut Aggregation) -> Self {
        PartFold { agg, batch: [Reading::default(); READINGS_PER_FOLD], len: 0 }
    }

    /// Adds one session's reading (folding the batch once full).
    #[inline(always)]
    fn push(&mut self, r: &SessionReading) {
        let pattern = r.pattern.map_or(UNPATTERNED as u16, u16::from);
        // `len < READINGS_PER_FOLD` always: the batch is folded as soon as it is full. So
        // masking with the (power of two) batch length changes nothing, and is one
        // instruction where a bounds check or a `min` is two or three.
        // The cell is found here, while the session's id words are at hand: the batch
        // then carries a 4-byte index instead of a 16-byte id and a pattern.
        let cell = self.agg.cell_of(tenant_key(r.tenant_id), pattern);
        self.batch[self.len & (READINGS_PER_FOLD - 1)] = Reading::new(&r.snapshot, cell);
        self.len += 1;
        if self.len == READINGS_PER_FOLD {
            self.agg.fold(&self.batch);
            self.len = 0;
        }
    }

    /// Folds what is left in the batch.
    fn flush(&mut self) {
        let len = std::mem::take(&mut self.len);
        self.agg.fold(&self.batch[..len]);
    }
}

/// Hashing for the tenant maps (this pass's and [`Departures`](crate::Departures)'): foldhash's quality hasher, with a per-map random seed that
/// keeps tenant ids chosen by an outsider from being steered into one bucket.
///
/// The map is only read when the pass's cell cache misses, so the quality variant's final
/// avalanche costs little. The fast variant was tried: for some seeds it gave consecutive
/// small ids fewer than half the distinct low bits hashbrown indexes by (about 4% of seeds,
/// caught by `tenant_hasher_spreads_small_and_random_ids`).
pub(crate) type FoldHashState = foldhash::quality::RandomState;

/// How the pass keys a tenant: its id's 16 bytes read as a little-endian `u128`, which on
/// the usual targets is two plain loads (the id's own `as_u128` is big-endian: two byte swaps
/// per session). [`tenant_of_key`] is its inverse.
#[inline]
fn tenant_key(tenant: TenantId) -> u128 {
    u128::from_le_bytes(*tenant.as_uuid().as_bytes())
}

/// The tenant keyed `key` ([`tenant_key`]'s inverse).
fn tenant_of_key(key: u128) -> TenantId {
    TenantId::from_u128(key.swap_bytes())
}

/// `*n`, then increments it.
fn post_inc(n: &mut u32) -> u32 {
    let v = *n;
    *n += 1;
    v
}

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

    /// Tenants and (tenant, pattern) pairs come and go between passes: the cells of those
    /// left are renumbered, and every group's figures stay those of the pass's sessions.
    #[test]
    fn groups_stay_exact_as_tenants_and_pairs_come_and_go() {
        use autonomic_core::{CaseId, SessionHandle, marker::AnyState};
        let [a, b, c] = [TenantId::new(), TenantId::new(), TenantId::new()];
        let session = |tenant, pattern: Option<u8>, tasks: u64| {
            let mut builder = SessionHandle::builder(CaseId::new(), tenant);
            if let Some(p) = pattern {
                builder = builder.pattern(p);
            }
            let h = builder.build().start().expect("fresh");
            (0..tasks).for_each(|_| h.record_task_execution_us(10));
            h.erased()
        };
        let all: Vec<SessionHandle<(), AnyState>> = vec![
            session(a, Some(1), 1),
            session(b, Some(1), 2),
            session(b, Some(2), 3),
            session(c, Some(2), 4),
            session(c, None, 5),
            session(c, Some(3), 6),
        ];
        let mut agg = Aggregation::sums_only();
        let tasks = |agg: &Aggregation, t| agg.tenant(t).map(|m| m.total_completions);
        let pattern = |agg: &Aggregation, p| agg.pattern(p).map(|m| m.total_completions);
        assert_eq!(agg.run(&all, 0).total_completions, 21);
        assert_eq!((tasks(&agg, a), tasks(&agg, b), tasks(&agg, c)), (Some(1), Some(5), Some(15)));
        // Tenant `b` gone, and `c`'s pattern-3 pair: `c`'s other cells are renumbered.
        let some = vec![all[0].clone(), all[3].clone(), all[4].clone()];
        assert_eq!(agg.run(&some, 0).total_completions, 10);
        assert_eq!((tasks(&agg, a), tasks(&agg, b), tasks(&agg, c)), (Some(1), None, Some(9)));
        assert_eq!(
            (pattern(&agg, 1), pattern(&agg, 2), pattern(&agg, 3)),
            (Some(1), Some(4), None)
        );
        assert_eq!(agg.unpatterned().total_completions, 5);
        // Everything back, in another order.
        let back: Vec<_> = all.iter().rev().cloned().collect();
        assert_eq!(agg.run(&back, 0).total_completions, 21);
        assert_eq!((tasks(&agg, a), tasks(&agg, b), tasks(&agg, c)), (Some(1), Some(5), Some(15)));
        assert_eq!(
            (pattern(&agg, 1), pattern(&agg, 2), pattern(&agg, 3)),
            (Some(3), Some(7), Some(6))
        );
        assert_eq!(agg.tenants().count(), 3);
    }

    /// Two pairs that share their first cache entry both stay cached once looked up: the
    /// second takes its second entry instead of evicting the first (with one entry per pair,
    /// they would evict each other and every session of both would go to the map).
    #[test]
    fn two_pairs_sharing_an_entry_both_hit_after_a_fill() {
        let mut agg = Aggregation::sums_only();
        let mut seen = HashMap::new();
        let (a, b) = loop {
            let key = tenant_key(TenantId::new());
            let hash = agg.cache_hash(key, 3);
            match seen.insert(first_slot(hash), (key, second_slot(hash))) {
                Some((other, second)) if second != second_slot(hash) => break (other, key),
                _ => {}
            }
        };
        let (cell_a, cell_b) = (agg.cell_of(a, 3), agg.cell_of(b, 3));
        assert_ne!(cell_a, cell_b);
        // Without the map, a lookup that missed the cache would make a new tenant and cell.
        agg.tenant_index.clear();
        assert_eq!((agg.cell_of(a, 3), agg.cell_of(b, 3)), (cell_a, cell_b), "both hit");
        assert_eq!((agg.cell_of(b, 3), agg.cell_of(a, 3)), (cell_b, cell_a), "both still hit");
        assert_eq!(agg.cells.len(), 2);
        // `drop_empty` (the pass had no session, so both tenants go) empties both entries.
        agg.drop_empty();
        assert!(agg.cache.iter().all(CacheEntry::is_empty));
    }

    #[test]
    fn tenant_keys_round_trip() {
        for tenant in [TenantId::new(), TenantId::from_u128(1), TenantId::from_u128(u128::MAX - 7)]
        {
            assert_eq!(tenant_of_key(tenant_key(tenant)), tenant);
        }
    }
}
