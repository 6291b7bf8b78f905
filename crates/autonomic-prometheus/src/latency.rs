//! [`LatencyBuckets`]: the aggregate's latency histogram on Prometheus bucket bounds.

use autonomic::LatencyHistogram;

/// Upper bounds (`le`) of the exported latency buckets, µs; `+Inf` follows.
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Buckets: one per bound, then `+Inf`.
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// The aggregate's [`LatencyHistogram`] (per-session mean task latency) re-bucketed on
/// [`LATENCY_BOUNDS_US`], for a Prometheus histogram: a fixed array, built once per
/// observation in O(buckets in use), nothing per session.
///
/// The aggregate's buckets are at most 1/8 of their lower bound wide and do not line up with
/// the Prometheus bounds, so a value is counted under the first bound its whole aggregate
/// bucket fits under: `_bucket{le}` never counts a value above `le`, and may leave out values
/// up to 1/8 below it (they are counted at the next bound). `_count` and `_sum` are exact.
///
/// ```
/// use autonomic::LatencyHistogram;
/// use autonomic_prometheus::LatencyBuckets;
/// let mut h = LatencyHistogram::new();
/// for us in [80, 90, 2_000, 20_000_000] {
///     h.record(us);
/// }
/// let b = LatencyBuckets::of(&h);
/// assert_eq!((b.count(), b.sum_us()), (4, 20_002_170));
/// assert_eq!(b.cumulative(0), 2); // le = 100 µs
/// assert_eq!(b.cumulative(4), 3); // le = 2.5 ms
/// assert_eq!(b.cumulative(16), 4); // +Inf
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyBuckets {
    /// Values per bucket (not cumulative), the last one `+Inf`.
    counts: [u64; BUCKETS],
    sum_us: u64,
}

impl LatencyBuckets {
    /// Re-buckets `histogram`.
    pub fn of(histogram: &LatencyHistogram) -> Self {
        let mut counts = [0u64; BUCKETS];
        for bucket in histogram.buckets() {
            let i = LATENCY_BOUNDS_US.partition_point(|&bound| bound < bucket.upper_us);
            counts[i] = counts[i].saturating_add(bucket.count);
        }
        LatencyBuckets { counts, sum_us: histogram.sum() }
    }

    /// Values at or under bound `i` (`i == LATENCY_BOUNDS_US.len()`: `+Inf`, every value).
    pub fn cumulative(&self, i: usize) -> u64 {
        self.counts[..=i.min(BUCKETS - 1)].iter().fold(0, |a, &c| a.saturating_add(c))
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.cumulative(BUCKETS - 1)
    }

    /// Sum of the values, µs.
    pub fn sum_us(&self) -> u64 {
        self.sum_us
    }

    /// `(le in seconds, values in the bucket)` for `encode_histogram`, `+Inf` last.
    pub(crate) fn encoded(&self) -> [(f64, u64); BUCKETS] {
        std::array::from_fn(|i| {
            let le = LATENCY_BOUNDS_US.get(i).map_or(f64::INFINITY, |&us| us as f64 / 1e6);
            (le, self.counts[i])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_never_counted_under_a_bound_below_it() {
        let mut h = LatencyHistogram::new();
        // Around every bound: just under, on, just over.
        for &bound in &LATENCY_BOUNDS_US {
            for us in [bound - bound / 16, bound, bound + 1] {
                h.record(us);
            }
        }
        let b = LatencyBuckets::of(&h);
        for (i, &bound) in LATENCY_BOUNDS_US.iter().enumerate() {
            let at_most = 3 * i as u64 + 2; // the values <= bound
            assert!(b.cumulative(i) <= at_most, "le {bound}: {}", b.cumulative(i));
            // Values well under the bound (previous bound + 1 and below) are all in.
            assert!(b.cumulative(i) >= 3 * i as u64, "le {bound}");
        }
        assert_eq!(b.count(), 3 * LATENCY_BOUNDS_US.len() as u64);
    }
}
