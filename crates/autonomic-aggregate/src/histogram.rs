//! [`LatencyHistogram`]: a fixed-size, log-bucketed histogram of microsecond values, and
//! [`LatencySummary`], the percentiles read from it.
//!
//! # Buckets
//! HDR-style: values below 16 µs have a bucket each (exact); above, every power of two
//! `[2^e, 2^(e+1))` is split into [`SUB_BUCKETS`] equal sub-buckets, so a bucket is never
//! wider than 1/8 of its lower bound. Values from 2^36 µs (about 19 hours) on share one
//! overflow bucket. That is [`BUCKETS`] (273) counters in a fixed array of about 2.2 KB:
//! recording is an index computation (one `leading_zeros`, a shift) and one increment, plus
//! the exact minimum and maximum, with no allocation. The extremes also bound the buckets in
//! use, so clearing, merging and reading touch only those.
//!
//! # Reading a percentile
//! [`value_at_quantile`](LatencyHistogram::value_at_quantile) finds the bucket holding the
//! nearest-rank value (the `ceil(q * n)`-th smallest) and reports that bucket's upper bound,
//! clamped to the exact maximum recorded. So for a true nearest-rank value `v` below 2^36 µs
//! the reported value `r` satisfies `v <= r < v * 9/8` (exact below 16 µs): never an
//! under-estimate, at most 12.5 % over. In the overflow bucket the exact maximum is
//! reported.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Bits of sub-bucket resolution: each power of two is split in `2^3` buckets.
const SUB_BUCKET_BITS: u32 = 3;
/// Sub-buckets per power of two (8): the relative bucket width is at most `1 / SUB_BUCKETS`.
pub const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Values from `2^MAX_EXP` µs on go to the overflow bucket.
const MAX_EXP: u32 = 36;
/// Values below this many microseconds have an exact bucket each.
const EXACT_BELOW: u64 = 2 * SUB_BUCKETS as u64;
/// Index of the overflow bucket.
const OVERFLOW: usize = (MAX_EXP - SUB_BUCKET_BITS) as usize * SUB_BUCKETS + SUB_BUCKETS;
/// Number of counters in a [`LatencyHistogram`].
pub const BUCKETS: usize = OVERFLOW + 1;
/// Smallest value that lands in the overflow bucket (2^36 µs, about 19 hours).
pub const OVERFLOW_FROM_US: u64 = 1 << MAX_EXP;

/// The bucket a value falls in.
#[inline]
pub(crate) fn index_of(value: u64) -> usize {
    // Without a branch: `e` is the top bit's position, at least `SUB_BUCKET_BITS` (the bit
    // or-ed in, which changes nothing from `SUB_BUCKETS` on), `shift` how far a value of
    // that power of two is scaled down to its sub-bucket; below 16 it is 0 and the value is
    // its own index. From 2^MAX_EXP on the index only grows, so `min` maps all of those to
    // the overflow bucket (and at 2^MAX_EXP itself the formula lands on it exactly).
    let e = 63 - (value | SUB_BUCKETS as u64).leading_zeros();
    let shift = e - SUB_BUCKET_BITS;
    // `shift <= 60` and `value >> shift < 16`: no overflow.
    (shift as usize * SUB_BUCKETS + (value >> shift) as usize).min(OVERFLOW)
}

/// Inclusive `(lower, upper)` bounds of a bucket below the overflow bucket.
#[inline]
fn bounds_of(index: usize) -> (u64, u64) {
    if index < EXACT_BELOW as usize {
        return (index as u64, index as u64);
    }
    let shift = (index / SUB_BUCKETS - 1) as u32;
    let lower = ((index % SUB_BUCKETS + SUB_BUCKETS) as u64) << shift;
    (lower, lower + (1 << shift) - 1)
}

/// One non-empty bucket, as listed by [`LatencyHistogram::buckets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Smallest value the bucket holds, µs.
    pub lower_us: u64,
    /// Largest value the bucket holds, µs (`u64::MAX` for the overflow bucket).
    pub upper_us: u64,
    /// Values recorded in it.
    pub count: u64,
}

/// A log-bucketed histogram of microsecond values in a fixed array (no allocation when
/// recording, merging or clearing).
///
/// Counts saturate at `u64::MAX` instead of wrapping (a histogram fed by one aggregation pass
/// cannot get there: it holds at most one value per session visited). See the [module
/// docs](self) for the bucket layout and the error bound of percentiles.
///
/// ```
/// use autonomic_aggregate::LatencyHistogram;
/// let mut h = LatencyHistogram::new();
/// for us in 1..=1000 {
///     h.record(us);
/// }
/// assert_eq!(h.count(), 1000);
/// let p50 = h.value_at_quantile(0.5).unwrap();
/// assert!((500..=562).contains(&p50)); // true value 500, at most 12.5 % over
/// assert_eq!(h.value_at_quantile(1.0), Some(1000)); // the maximum is exact
/// assert_eq!(LatencyHistogram::new().value_at_quantile(0.5), None);
/// ```
#[derive(Clone)]
pub struct LatencyHistogram {
    counts: [u64; BUCKETS],
    /// Exact extremes; `min > max` exactly when empty. They also bound the buckets in use
    /// (`index_of(min)..=index_of(max)`), so clearing, merging and reading skip the rest.
    min: u64,
    max: u64,
    /// Sum of the values recorded, µs (saturating): a histogram's `_sum` for export.
    sum: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .field("min", &self.min())
            .field("max", &self.max())
            .field("buckets", &self.buckets().collect::<Vec<_>>())
            .finish()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        LatencyHistogram { counts: [0; BUCKETS], min: u64::MAX, max: 0, sum: 0 }
    }

    /// Records one value, in microseconds: one counter increment and the two extremes.
    #[inline]
    pub fn record(&mut self, value_us: u64) {
        // `index_of` never returns more than OVERFLOW; `min` lets the compiler drop the
        // bounds check.
        let slot = &mut self.counts[index_of(value_us).min(OVERFLOW)];
        *slot = slot.saturating_add(1);
        self.min = self.min.min(value_us);
        self.max = self.max.max(value_us);
        self.sum = self.sum.saturating_add(value_us);
    }

    /// Counts one value in its bucket `index` (from [`index_of`]) without updating the
    /// extremes or the sum: the caller promises to pass extremes covering the value and the
    /// value itself, in a sum, to [`include_batch`](Self::include_batch) before the histogram
    /// is read, cleared or merged. (The aggregation keeps the overall histogram's extremes and
    /// sum per batch, in registers, and shares one index computation between the overall, the
    /// tenant's and the pattern's histogram.)
    #[inline]
    pub(crate) fn count_in(&mut self, index: usize) {
        let slot = &mut self.counts[index.min(OVERFLOW)];
        // Cannot wrap: a pass clears the histogram first and counts each of its sessions
        // once, and there are far fewer than 2^64 of those (no branch for saturation).
        *slot = slot.wrapping_add(1);
    }

    /// Completes a batch of [`count_in`](Self::count_in): widens the extremes to cover
    /// `min..=max` (nothing if `min > max`, an empty batch) and adds `sum`, the batch's values
    /// summed exactly (a `u128` cannot overflow for fewer than 2^64 values), saturating: a
    /// saturating sum of non-negative values does not depend on grouping, so this is the sum
    /// [`record`](Self::record) would have kept.
    #[inline]
    pub(crate) fn include_batch(&mut self, min: u64, max: u64, sum: u128) {
        if min <= max {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.sum = self.sum.saturating_add(u64::try_from(sum).unwrap_or(u64::MAX));
    }

    /// The bucket indices in use (empty range when the histogram is).
    fn used(&self) -> std::ops::Range<usize> {
        if self.is_empty() { 0..0 } else { index_of(self.min)..index_of(self.max) + 1 }
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for i in other.used() {
            self.counts[i] = self.counts[i].saturating_add(other.counts[i]);
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Empties the histogram, touching only the buckets that were used.
    pub fn clear(&mut self) {
        let used = self.used();
        self.counts[used].fill(0);
        self.min = u64::MAX;
        self.max = 0;
        self.sum = 0;
    }

    /// Number of values recorded (adds up the buckets in use).
    pub fn count(&self) -> u64 {
        self.counts[self.used()].iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// Sum of the values recorded, µs (exact up to `u64::MAX`, where it saturates).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    /// The smallest value recorded (exact); `None` when empty.
    pub fn min(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.min)
    }

    /// The largest value recorded (exact); `None` when empty.
    pub fn max(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// The nearest-rank value at quantile `q` (`0.0..=1.0`; values outside are clamped), within
    /// the bucket error described in the [module docs](self); `None` when empty or when `q`
    /// is NaN.
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        self.quantile_of(q, self.count())
    }

    /// `value_at_quantile` with the count already known.
    fn quantile_of(&self, q: f64, count: u64) -> Option<u64> {
        if self.is_empty() || q.is_nan() {
            return None;
        }
        // The rank of the nearest-rank value, in `1..=count`. The float product is exact for
        // counts below 2^53; beyond that the rank is off by a few in billions of values.
        let rank = (q.clamp(0.0, 1.0) * count as f64).ceil() as u64;
        let rank = rank.min(count).max(1);
        let mut seen = 0u64;
        for i in self.used() {
            seen = seen.saturating_add(self.counts[i]);
            if seen >= rank {
                let upper = if i == OVERFLOW { self.max } else { bounds_of(i).1 };
                return Some(upper.clamp(self.min, self.max));
            }
        }
        // Only reachable if counts saturated; the largest value is then the honest answer.
        Some(self.max)
    }

    /// Percentile summary (p50, p90, p99) with the exact minimum and maximum.
    pub fn summary(&self) -> LatencySummary {
        let count = self.count();
        let at = |q| self.quantile_of(q, count).unwrap_or(0);
        LatencySummary {
            sessions: count,
            min_us: self.min().unwrap_or(0),
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            max_us: self.max().unwrap_or(0),
        }
    }

    /// The non-empty buckets, in increasing order of value.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.used().filter(|&i| self.counts[i] > 0).map(|i| {
            let (lower_us, upper_us) =
                if i == OVERFLOW { (OVERFLOW_FROM_US, u64::MAX) } else { bounds_of(i) };
            Bucket { lower_us, upper_us, count: self.counts[i] }
        })
    }
}

/// Percentiles of a latency distribution, in microseconds.
///
/// In an [`AggregatedMetrics`](crate::AggregatedMetrics) this is the distribution of
/// **per-session mean task latency** (each session with at least one task contributes one
/// value: its total latency divided by its task count, in whole microseconds); sessions
/// without a task are not in it. Percentiles carry the histogram's bucket error (at most
/// 12.5 % over, never under; see [`LatencyHistogram`]); `min_us` and `max_us` are exact. All
/// fields are 0 when `sessions` is 0.
///
/// ```
/// use autonomic_aggregate::LatencyHistogram;
/// let mut h = LatencyHistogram::new();
/// [120, 80, 100, 5_000].into_iter().for_each(|us| h.record(us));
/// let s = h.summary();
/// assert_eq!((s.sessions, s.min_us, s.max_us), (4, 80, 5_000));
/// assert!(s.p50_us >= 100 && s.p50_us < 113);
/// assert_eq!(s.p99_us, 5_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of values in the distribution (sessions with at least one task).
    pub sessions: u64,
    /// Smallest value (exact).
    pub min_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest value (exact).
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_follows_record_merge_and_clear() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record(3);
        a.count_in(index_of(40));
        a.include_batch(40, 40, 40);
        b.record(1_000);
        a.merge(&b);
        assert_eq!((a.sum(), a.count()), (1_043, 3));
        b.record(u64::MAX);
        assert_eq!(b.sum(), u64::MAX, "saturates");
        a.clear();
        assert_eq!(a.sum(), 0);
    }

    #[test]
    fn a_batch_keeps_the_sum_record_keeps() {
        let values = [7, u64::MAX - 5, 20, 0];
        let mut recorded = LatencyHistogram::new();
        let mut counted = LatencyHistogram::new();
        counted.record(9);
        recorded.record(9);
        // Summed exactly, as a fold does (the batch's sum passes `u64::MAX`).
        let (mut min, mut max, mut sum) = (u64::MAX, 0, 0u128);
        for v in values {
            recorded.record(v);
            counted.count_in(index_of(v));
            (min, max, sum) = (min.min(v), max.max(v), sum + u128::from(v));
        }
        counted.include_batch(min, max, sum);
        counted.include_batch(u64::MAX, 0, 0); // an empty batch changes nothing
        assert_eq!(counted.sum(), u64::MAX);
        assert_eq!(format!("{counted:?}"), format!("{recorded:?}"));
        assert_eq!(counted.sum(), recorded.sum());
    }

    #[test]
    fn every_value_lands_in_the_bucket_that_bounds_it() {
        let around_powers = (0..64).flat_map(|e| {
            let p = 1u64 << e;
            [p - 1, p, p + 1, p | (p >> 1), p.wrapping_mul(2).wrapping_sub(1)]
        });
        for v in (0..5_000).chain(around_powers).chain([u64::MAX]) {
            let i = index_of(v);
            if v >= OVERFLOW_FROM_US {
                assert_eq!(i, OVERFLOW, "{v}");
            } else {
                let (lo, hi) = bounds_of(i);
                assert!((lo..=hi).contains(&v), "{v} in bucket {i}: {lo}..={hi}");
            }
        }
    }

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let mut expected_lower = 0;
        for i in 0..OVERFLOW {
            let (lo, hi) = bounds_of(i);
            assert_eq!(lo, expected_lower, "bucket {i}");
            assert!(hi >= lo);
            assert_eq!(index_of(lo), i);
            assert_eq!(index_of(hi), i);
            // Width at most 1/8 of the lower bound above the exact range.
            if lo >= EXACT_BELOW {
                assert!((hi - lo + 1) * SUB_BUCKETS as u64 <= lo, "bucket {i}: {lo}..={hi}");
            } else {
                assert_eq!(lo, hi);
            }
            expected_lower = hi + 1;
        }
        assert_eq!(expected_lower, OVERFLOW_FROM_US);
        assert_eq!(BUCKETS, 273); // the module docs say so
        assert_eq!(index_of(OVERFLOW_FROM_US), OVERFLOW);
        assert_eq!(index_of(u64::MAX), OVERFLOW);
    }

    #[test]
    fn clear_and_merge_keep_the_touched_range() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record(3);
        b.record(1_000_000);
        b.record(u64::MAX);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!((a.min(), a.max()), (Some(3), Some(u64::MAX)));
        assert_eq!(a.value_at_quantile(0.0), Some(3));
        assert_eq!(a.value_at_quantile(1.0), Some(u64::MAX));
        let listed: u64 = a.buckets().map(|b| b.count).sum();
        assert_eq!(listed, 3);
        a.clear();
        assert!(a.is_empty());
        assert!(a.counts.iter().all(|&c| c == 0));
        assert_eq!(a.buckets().count(), 0);
        assert_eq!(a.summary(), LatencySummary::default());
    }

    #[test]
    fn bad_quantiles_do_not_panic() {
        let mut h = LatencyHistogram::new();
        h.record(10);
        h.record(20);
        assert_eq!(h.value_at_quantile(f64::NAN), None);
        assert_eq!(h.value_at_quantile(-3.0), Some(10));
        assert_eq!(h.value_at_quantile(7.0), Some(20));
        assert_eq!(h.value_at_quantile(f64::INFINITY), Some(20));
    }
}
