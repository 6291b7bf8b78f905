//! [`AggregatedMetrics`]: the roll-up of a group of sessions, and the sums it is computed from.

use autonomic_core::{
    Coverage, GlobalKnowledge, MetricsSnapshot, SessionState, WindowCounts, WindowGauges,
};
use serde::{Deserialize, Serialize};

use crate::histogram;
use crate::{LatencyHistogram, LatencySummary, SessionSource};

/// The roll-up of a group of sessions (all sessions given, one tenant, or one pattern), as
/// seen by one aggregation pass.
///
/// # State buckets
/// Every session visited is counted in exactly one state bucket, so
/// `created + active + completed + failed + cancelled == total` always holds
/// ([`state_buckets_sum`](Self::state_buckets_sum)). `adapted_sessions` is a *subset* of
/// `active_sessions` (those in the `Adapted` sub-state), not a bucket of its own.
///
/// # Rates
/// Each rate is a ratio of sums over the whole group (not a mean of per-session rates), and
/// is `0.0` when its denominator is zero:
///
/// | field | numerator | denominator |
/// |---|---|---|
/// | `avg_latency_us` | summed task latency (µs) | tasks (`total_completions`) |
/// | `violation_rate` | SLO violations | tasks |
/// | `retry_rate` | retries | tasks |
/// | `adaptation_rate` | adaptations | tasks |
/// | `failure_rate` | failed sessions | finished sessions (completed + failed + cancelled) |
///
/// They use the same definitions as [`MetricsSnapshot`]'s per-session rates, so one session
/// aggregated alone has the rates of its snapshot. `violation_rate`, `retry_rate` and
/// `adaptation_rate` may exceed 1.0 if more were recorded than tasks; [`slo_compliance`](Self::slo_compliance)
/// clamps.
///
/// # Sums
/// Counters are summed in `u128` during the pass (cannot overflow: fewer than 2^64 sessions
/// of at most 2^64 - 1 each), rates are computed from those exact sums, and the `total_*`
/// fields here saturate at `u64::MAX` when converted.
///
/// # Latency
/// `avg_latency_us` is the task-weighted mean (every task counts once). `latency` is the
/// distribution of per-session mean task latency (every session with a task counts once),
/// see [`LatencySummary`].
///
/// ```
/// use std::sync::Arc;
/// use autonomic_aggregate::SessionAggregator;
/// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
///
/// let tenant = TenantId::default_tenant();
/// let ok = SessionHandle::new(CaseId::new(), tenant).start()?;
/// ok.record_task_execution_us(100);
/// ok.record_task_execution_us(300);
/// let bad = SessionHandle::new(CaseId::new(), tenant).start()?;
/// bad.record_task_execution_us(1_000);
/// bad.record_violation();
/// let never_started = SessionHandle::new(CaseId::new(), tenant);
/// let sessions = [ok.erased(), bad.erased(), never_started.erased()];
/// ok.complete()?;
/// bad.fail()?;
///
/// let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
/// let m = aggregator.aggregate_source(&sessions);
/// assert_eq!(m.total_sessions, 3);
/// assert_eq!((m.completed_sessions, m.failed_sessions, m.created_sessions), (1, 1, 1));
/// assert_eq!(m.state_buckets_sum(), m.total_sessions);
/// assert_eq!(m.total_completions, 3);
/// assert_eq!(m.avg_latency_us, 1_400.0 / 3.0);
/// assert_eq!(m.violation_rate, 1.0 / 3.0);
/// assert_eq!(m.failure_rate, 0.5);
/// assert_eq!((m.latency.min_us, m.latency.max_us), (200, 1_000)); // per-session means
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AggregatedMetrics {
    /// Sessions visited.
    pub total_sessions: u64,
    /// Of those, registered but never started (`Created`).
    pub created_sessions: u64,
    /// Of those, running (`Active` or `Adapted`).
    pub active_sessions: u64,
    /// Of the running ones, those in the `Adapted` sub-state (a subset of `active_sessions`).
    pub adapted_sessions: u64,
    /// Finished successfully.
    pub completed_sessions: u64,
    /// Finished with a failure.
    pub failed_sessions: u64,
    /// Cancelled (whether or not they had started).
    pub cancelled_sessions: u64,
    /// Tasks completed, summed over the sessions (saturating).
    pub total_completions: u64,
    /// Task latency, summed over the sessions, µs (saturating).
    pub total_latency_us: u64,
    /// Retries, summed (saturating).
    pub total_retries: u64,
    /// SLO violations, summed (saturating).
    pub total_violations: u64,
    /// Local adaptations, summed (saturating).
    pub total_adaptations: u64,
    /// Mean task latency over every task of every session, µs; 0.0 with no task.
    pub avg_latency_us: f64,
    /// SLO violations per task; 0.0 with no task.
    pub violation_rate: f64,
    /// Retries per task (`retries / tasks`); 0.0 with no task.
    pub retry_rate: f64,
    /// Failed sessions over finished ones (completed + failed + cancelled), in `0.0..=1.0`;
    /// 0.0 when none has finished.
    pub failure_rate: f64,
    /// Adaptations per task; 0.0 with no task.
    pub adaptation_rate: f64,
    /// Distribution of per-session mean task latency.
    pub latency: LatencySummary,
    /// The instant every session was read at (ns on the aggregator's clock).
    pub taken_at_ns: u64,
    /// Which sessions these are: what the source said it covers
    /// ([`SessionSource::coverage`]), narrowed to a tenant or a pattern for a breakdown's
    /// groups. Carried into the published knowledge: only an aggregate of
    /// [every session](Coverage::All) becomes what the doctrine gate reads.
    pub coverage: Coverage,
}

impl AggregatedMetrics {
    /// The roll-up of every session of `source`, read at `now_ns` (ns on the sessions'
    /// clock): totals, rates and the latency distribution, without breakdowns.
    ///
    /// One pass, no allocation at all (the histogram lives on the stack), and cheaper than a
    /// pass with breakdowns ([`Aggregation::run`](crate::Aggregation::run)): it does not read
    /// the sessions' tenant and pattern, and folds everything into one group. This is what
    /// [`SessionAggregator::aggregate_source`](crate::SessionAggregator::aggregate_source)
    /// runs.
    ///
    /// ```
    /// use autonomic_aggregate::AggregatedMetrics;
    /// use autonomic_core::{CaseId, SessionHandle, TenantId};
    /// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start()?;
    /// h.record_task_execution_us(40);
    /// let m = AggregatedMetrics::of(&[h.erased()], 0);
    /// assert_eq!((m.active_sessions, m.avg_latency_us, m.latency.p99_us), (1, 40.0, 40));
    /// # Ok::<(), autonomic_core::TransitionError>(())
    /// ```
    pub fn of<S: SessionSource + ?Sized>(source: &S, now_ns: u64) -> AggregatedMetrics {
        let mut sums = Sums::default();
        let mut histogram = LatencyHistogram::new();
        let mut batch = [Reading::default(); READINGS_PER_FOLD];
        let mut len = 0;
        source.for_each_reading(now_ns, |r| {
            // `len < READINGS_PER_FOLD` always: the batch is folded as soon as it is full. So
            // masking with the (power of two) batch length changes nothing, and is one
            // instruction where a bounds check or a `min` is two or three.
            batch[len & (READINGS_PER_FOLD - 1)] = Reading::new(&r.snapshot, 0);
            len += 1;
            if len == READINGS_PER_FOLD {
                sums.add_batch(&batch, &mut histogram);
                len = 0;
            }
        });
        sums.add_batch(&batch[..len], &mut histogram);
        sums.metrics(&histogram, now_ns, source.coverage())
    }

    /// `created + active + completed + failed + cancelled` (saturating): equal to
    /// `total_sessions`, since every session is in exactly one of these buckets.
    pub fn state_buckets_sum(&self) -> u64 {
        [
            self.created_sessions,
            self.active_sessions,
            self.completed_sessions,
            self.failed_sessions,
            self.cancelled_sessions,
        ]
        .into_iter()
        .fold(0u64, u64::saturating_add)
    }

    /// Sessions that have finished: completed + failed + cancelled (saturating).
    pub fn finished_sessions(&self) -> u64 {
        self.completed_sessions
            .saturating_add(self.failed_sessions)
            .saturating_add(self.cancelled_sessions)
    }

    /// Fraction of tasks without an SLO violation: `1 - violation_rate`, clamped to
    /// `0.0..=1.0` (1.0 with no task).
    pub fn slo_compliance(&self) -> f64 {
        (1.0 - self.violation_rate).clamp(0.0, 1.0)
    }

    /// The typed knowledge the doctrine gate reads, as of `published_at_ns`; the generation is
    /// left at 0 for [`KnowledgeBase::publish`](autonomic_core::KnowledgeBase::publish) to
    /// assign.
    pub fn to_knowledge(&self, published_at_ns: u64) -> GlobalKnowledge {
        GlobalKnowledge {
            generation: 0,
            published_at_ns,
            coverage: self.coverage,
            total_sessions: self.total_sessions,
            active_sessions: self.active_sessions,
            finished_sessions: self.finished_sessions(),
            total_tasks: self.total_completions,
            slo_compliance: self.slo_compliance(),
            failure_rate: self.failure_rate,
            avg_latency_us: self.avg_latency_us,
            p99_latency_us: self.latency.p99_us,
            windows: None,
        }
    }
}

/// Sessions read before they are folded. Reading a batch first and folding it after keeps
/// the visit to loads only, so the cache misses of consecutive sessions overlap.
/// A power of two, so that a position in a batch can be masked into range.
pub(crate) const READINGS_PER_FOLD: usize = 64;
const _: () = assert!(READINGS_PER_FOLD.is_power_of_two());

/// Bits per state counter in the packed word `Sums::add_batch` counts states in: one batch
/// (fewer than 2^10 readings) cannot carry from one counter into the next.
const STATE_BITS: u32 = 10;
const _: () = assert!(READINGS_PER_FOLD < 1 << STATE_BITS && STATES as u32 * STATE_BITS <= 64);

/// Number of lifecycle states (the length of a per-state counter array).
const STATES: usize = SessionState::ALL.len();

/// What a pass keeps of one session between reading it and folding it: the counters of its
/// snapshot, its state, the cell it is added to, and since when it runs, in one 56-byte
/// record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    /// When a running session started (ns); `u64::MAX` for a session not running.
    pub(crate) running_since: u64,
    pub(crate) tasks: u64,
    pub(crate) latency_us: u64,
    pub(crate) retries: u64,
    pub(crate) violations: u64,
    pub(crate) adaptations: u64,
    /// Kept as the enum (not its `u8`): the compiler then knows it is below `STATES`, and
    /// indexes a per-state array with it without a clamp or a bounds check.
    pub(crate) state: SessionState,
    /// Where a breakdown pass adds it (an index among its cells; 0 in a totals pass).
    pub(crate) cell: u32,
}

const _: () = assert!(std::mem::size_of::<Reading>() == 56);

impl Default for Reading {
    fn default() -> Self {
        Reading {
            running_since: u64::MAX,
            tasks: 0,
            latency_us: 0,
            retries: 0,
            violations: 0,
            adaptations: 0,
            state: SessionState::Created,
            cell: 0,
        }
    }
}

impl Reading {
    #[inline]
    pub(crate) fn new(s: &MetricsSnapshot, cell: u32) -> Self {
        Reading {
            // A running session has a start time; were it missing, it would count as
            // started when read (age 0).
            running_since: if s.state.is_active() {
                s.started_at_ns.unwrap_or(s.taken_at_ns)
            } else {
                u64::MAX
            },
            tasks: s.task_completions,
            latency_us: s.total_latency_us,
            retries: s.retry_count,
            violations: s.violation_count,
            adaptations: s.adaptation_count,
            state: s.state,
            cell,
        }
    }

    /// Whether this session runs and started before `cutoff_ns` (exclusive): 1 or 0.
    #[inline]
    pub(crate) fn slow(&self, cutoff_ns: u64) -> u64 {
        u64::from(self.running_since < cutoff_ns)
    }

    /// Mean task latency in whole microseconds; `None` without a task.
    #[inline]
    pub(crate) fn mean_latency_us(&self) -> Option<u64> {
        self.latency_us.checked_div(self.tasks)
    }
}

/// Exact sums over a group of sessions: per-state counts and widened counter sums, and the
/// running sessions' gauges (the earliest start, how many are slow).
///
/// A state count cannot overflow (one increment per session visited, fewer than 2^64); a
/// counter sum is widened to `u128`, which cannot overflow either (see
/// [`AggregatedMetrics`]).
#[derive(Debug, Clone)]
pub(crate) struct Sums {
    states: [u64; STATES],
    tasks: u128,
    latency_us: u128,
    retries: u128,
    violations: u128,
    adaptations: u128,
    /// The earliest start of a running session (ns); `u64::MAX` if none runs.
    running_since: u64,
    /// Running sessions past the slow threshold of the pass.
    slow: u64,
}

impl Default for Sums {
    fn default() -> Self {
        Sums {
            states: [0; STATES],
            tasks: 0,
            latency_us: 0,
            retries: 0,
            violations: 0,
            adaptations: 0,
            running_since: u64::MAX,
            slow: 0,
        }
    }
}

impl Sums {
    /// Adds one session, with its running gauges (`slow` is [`Reading::slow`]).
    #[inline]
    pub(crate) fn add_gauged(&mut self, r: &Reading, slow: u64) {
        self.add(r);
        self.running_since = self.running_since.min(r.running_since);
        self.slow += slow;
    }

    #[inline]
    pub(crate) fn add(&mut self, r: &Reading) {
        // `SessionState` is `repr(u8)` with discriminants `0..STATES`.
        self.states[r.state as usize] += 1;
        self.tasks += u128::from(r.tasks);
        self.latency_us += u128::from(r.latency_us);
        self.retries += u128::from(r.retries);
        self.violations += u128::from(r.violations);
        self.adaptations += u128::from(r.adaptations);
    }

    /// Adds a batch of readings, accumulating in registers and storing once: the totals-only
    /// pass folds every session into one group, where per-reading stores would chain on the
    /// same memory words. Also counts each mean latency into `histogram` (extremes included).
    pub(crate) fn add_batch(&mut self, readings: &[Reading], histogram: &mut LatencyHistogram) {
        debug_assert!(readings.len() < 1 << STATE_BITS, "batch too large for the packed counts");
        let (mut tasks, mut latency, mut retries, mut violations, mut adaptations) =
            (0u128, 0u128, 0u128, 0u128, 0u128);
        let mut states = 0u64;
        let (mut min, mut max, mut sum) = (u64::MAX, 0u64, 0u128);
        for r in readings {
            tasks += u128::from(r.tasks);
            latency += u128::from(r.latency_us);
            retries += u128::from(r.retries);
            violations += u128::from(r.violations);
            adaptations += u128::from(r.adaptations);
            states += 1 << (STATE_BITS * r.state as u32);
            if let Some(mean) = r.mean_latency_us() {
                histogram.count_in(histogram::index_of(mean));
                min = min.min(mean);
                max = max.max(mean);
                sum += u128::from(mean);
            }
        }
        histogram.include_batch(min, max, sum);
        for (i, count) in self.states.iter_mut().enumerate() {
            *count += (states >> (STATE_BITS * i as u32)) & ((1 << STATE_BITS) - 1);
        }
        self.tasks += tasks;
        self.latency_us += latency;
        self.retries += retries;
        self.violations += violations;
        self.adaptations += adaptations;
    }

    pub(crate) fn merge(&mut self, o: &Sums) {
        for (a, b) in self.states.iter_mut().zip(o.states) {
            *a = a.saturating_add(b);
        }
        self.tasks = self.tasks.saturating_add(o.tasks);
        self.latency_us = self.latency_us.saturating_add(o.latency_us);
        self.retries = self.retries.saturating_add(o.retries);
        self.violations = self.violations.saturating_add(o.violations);
        self.adaptations = self.adaptations.saturating_add(o.adaptations);
        self.running_since = self.running_since.min(o.running_since);
        self.slow = self.slow.saturating_add(o.slow);
    }

    /// The running gauges at `now_ns`: sessions running, the oldest one's age, the slow ones
    /// (as counted by [`add_gauged`](Self::add_gauged)).
    pub(crate) fn gauges(&self, now_ns: u64) -> WindowGauges {
        WindowGauges {
            running: self
                .state(SessionState::Active)
                .saturating_add(self.state(SessionState::Adapted)),
            slow_running: self.slow,
            oldest_running_ns: if self.running_since == u64::MAX {
                0
            } else {
                now_ns.saturating_sub(self.running_since)
            },
        }
    }

    /// The cumulative counters a window is fed from: `started` counts every session no longer
    /// `Created`, the three end states their buckets, the rest the summed counters
    /// (saturating), as [`Cumulative::of`](crate::Cumulative::of) counts an aggregate.
    pub(crate) fn counts(&self) -> WindowCounts {
        WindowCounts {
            started: self.sessions().saturating_sub(self.state(SessionState::Created)),
            completed: self.state(SessionState::Completed),
            failed: self.state(SessionState::Failed),
            cancelled: self.state(SessionState::Cancelled),
            tasks: saturate(self.tasks),
            latency_us: saturate(self.latency_us),
            violations: saturate(self.violations),
            retries: saturate(self.retries),
            adaptations: saturate(self.adaptations),
        }
    }

    pub(crate) fn sessions(&self) -> u64 {
        self.states.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    fn state(&self, st: SessionState) -> u64 {
        self.states[st as usize]
    }

    /// The metrics of this group, with `histogram` as its latency distribution.
    pub(crate) fn metrics(
        &self,
        histogram: &LatencyHistogram,
        taken_at_ns: u64,
        coverage: Coverage,
    ) -> AggregatedMetrics {
        use SessionState::*;
        let completed = self.state(Completed);
        let failed = self.state(Failed);
        let cancelled = self.state(Cancelled);
        let finished = u128::from(completed) + u128::from(failed) + u128::from(cancelled);
        AggregatedMetrics {
            total_sessions: self.sessions(),
            created_sessions: self.state(Created),
            active_sessions: self.state(Active).saturating_add(self.state(Adapted)),
            adapted_sessions: self.state(Adapted),
            completed_sessions: completed,
            failed_sessions: failed,
            cancelled_sessions: cancelled,
            total_completions: saturate(self.tasks),
            total_latency_us: saturate(self.latency_us),
            total_retries: saturate(self.retries),
            total_violations: saturate(self.violations),
            total_adaptations: saturate(self.adaptations),
            avg_latency_us: ratio(self.latency_us, self.tasks),
            violation_rate: ratio(self.violations, self.tasks),
            retry_rate: ratio(self.retries, self.tasks),
            failure_rate: ratio(u128::from(failed), finished),
            adaptation_rate: ratio(self.adaptations, self.tasks),
            latency: histogram.summary(),
            taken_at_ns,
            coverage,
        }
    }
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn ratio(num: u128, den: u128) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(state: SessionState, tasks: u64, latency: u64) -> Reading {
        Reading {
            running_since: u64::MAX,
            tasks,
            latency_us: latency,
            retries: u64::MAX,
            violations: u64::MAX,
            adaptations: 0,
            state,
            cell: 0,
        }
    }

    #[test]
    fn sums_widen_and_outputs_saturate() {
        let mut s = Sums::default();
        s.add(&snap(SessionState::Active, u64::MAX, u64::MAX));
        s.add(&snap(SessionState::Active, u64::MAX, u64::MAX));
        let m = s.metrics(&LatencyHistogram::new(), 0, Coverage::Selection);
        // 2 * (2^64 - 1) does not fit a u64: the output saturates, the rate stays exact.
        assert_eq!(m.total_completions, u64::MAX);
        assert_eq!(m.total_retries, u64::MAX);
        assert_eq!(m.avg_latency_us, 1.0);
        assert_eq!(m.violation_rate, 1.0);
        assert_eq!(m.retry_rate, 1.0);
    }

    #[test]
    fn empty_group_has_zero_rates() {
        let m = Sums::default().metrics(&LatencyHistogram::new(), 7, Coverage::Selection);
        assert_eq!(m, AggregatedMetrics { taken_at_ns: 7, ..AggregatedMetrics::default() });
        assert_eq!(m.slo_compliance(), 1.0);
        let k = m.to_knowledge(9);
        assert_eq!((k.slo_compliance, k.failure_rate, k.published_at_ns), (1.0, 0.0, 9));
    }
}
