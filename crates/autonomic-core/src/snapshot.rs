//! [`MetricsSnapshot`]: an immutable copy of a session's metrics and lifecycle.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SessionState;

/// An immutable copy of one session's counters and lifecycle, with derived rates.
///
/// Rates never divide by zero: with no task recorded they are `0.0` and the average latency
/// is `None`. A terminal `state` always comes with its `ended_at_ns` (both are read from one
/// word).
///
/// ```
/// use std::time::Duration;
/// use autonomic_core::{CaseId, SessionHandle, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
/// h.record_task_execution(Duration::from_micros(300));
/// h.record_task_execution(Duration::from_micros(100));
/// h.record_violation();
/// let s = h.snapshot();
/// assert_eq!(s.avg_latency_us(), Some(200.0));
/// assert_eq!(s.violation_rate(), 0.5);
/// assert_eq!(s.retry_rate(), 0.0);
/// assert!(s.duration_ms().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Retries recorded.
    pub retry_count: u64,
    /// Tasks completed.
    pub task_completions: u64,
    /// Sum of task latencies, microseconds.
    pub total_latency_us: u64,
    /// SLO violations recorded.
    pub violation_count: u64,
    /// Local adaptations recorded.
    pub adaptation_count: u64,
    /// Lifecycle state when the snapshot was taken.
    pub state: SessionState,
    /// When the session started (ns on its clock), if it did.
    pub started_at_ns: Option<u64>,
    /// When it reached its terminal state (ns on its clock); present iff `state` is terminal.
    pub ended_at_ns: Option<u64>,
    /// When the snapshot was taken (ns on the session's clock).
    pub taken_at_ns: u64,
}

impl MetricsSnapshot {
    /// Mean task latency in microseconds; `None` before the first task.
    pub fn avg_latency_us(&self) -> Option<f64> {
        (self.task_completions > 0)
            .then(|| self.total_latency_us as f64 / self.task_completions as f64)
    }

    /// Violations per completed task; `0.0` before the first task.
    pub fn violation_rate(&self) -> f64 {
        ratio(self.violation_count, self.task_completions)
    }

    /// Retries per completed task (`retries / tasks`, the quick reference's meaning); `0.0`
    /// before the first task. Like the other per-task rates it may exceed 1.0 (more retries
    /// than tasks).
    pub fn retry_rate(&self) -> f64 {
        ratio(self.retry_count, self.task_completions)
    }

    /// Adaptations per completed task; `0.0` before the first task.
    pub fn adaptation_rate(&self) -> f64 {
        ratio(self.adaptation_count, self.task_completions)
    }

    /// How long the session has run: start to end if it ended, start to `taken_at_ns`
    /// otherwise; `None` if it never started. Never negative.
    pub fn duration(&self) -> Option<Duration> {
        let start = self.started_at_ns?;
        let end = self.ended_at_ns.unwrap_or(self.taken_at_ns);
        Some(Duration::from_nanos(end.saturating_sub(start)))
    }

    /// [`duration`](Self::duration) in whole milliseconds.
    pub fn duration_ms(&self) -> Option<u64> {
        self.duration().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// How long ago the session ended, as of `now` (ns on its clock); `None` if it has not.
    pub fn ended_for(&self, now: u64) -> Option<Duration> {
        self.ended_at_ns.map(|end| Duration::from_nanos(now.saturating_sub(end)))
    }

    /// Whether the state is `Active` or `Adapted`.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// Whether the state is terminal.
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}
