//! [`WindowCounts`]: what one bucket (or a whole window) counts, and [`Cumulative`], the
//! ever-growing counters of a group of sessions that windows are fed from.

use serde::{Deserialize, Serialize};

use autonomic_core::{MetricsSnapshot, SessionState};

use crate::AggregatedMetrics;

/// Events counted in one bucket of a window, or summed over a whole window.
///
/// Every field is a count of things that *happened* in the bucket's time span (sessions that
/// ended, tasks recorded), not a level; levels (sessions running now, the oldest one's age)
/// are [`WindowGauges`](super::WindowGauges). Sums saturate at `u64::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    /// Sessions that left `Created` (started, or cancelled before starting).
    pub started: u64,
    /// Sessions that completed.
    pub completed: u64,
    /// Sessions that failed.
    pub failed: u64,
    /// Sessions that were cancelled.
    pub cancelled: u64,
    /// Tasks recorded.
    pub tasks: u64,
    /// Task latency recorded, µs.
    pub latency_us: u64,
    /// SLO violations recorded.
    pub violations: u64,
    /// Retries recorded.
    pub retries: u64,
    /// Adaptations recorded.
    pub adaptations: u64,
}

impl WindowCounts {
    /// Sessions that finished (completed, failed or cancelled).
    pub fn finished(&self) -> u64 {
        self.completed.saturating_add(self.failed).saturating_add(self.cancelled)
    }

    /// Mean task latency, µs; `None` without a task.
    pub fn avg_latency_us(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.latency_us as f64 / self.tasks as f64)
    }

    /// Adds `other` into `self`, field by field (saturating).
    pub fn add(&mut self, other: &WindowCounts) {
        self.started = self.started.saturating_add(other.started);
        self.completed = self.completed.saturating_add(other.completed);
        self.failed = self.failed.saturating_add(other.failed);
        self.cancelled = self.cancelled.saturating_add(other.cancelled);
        self.tasks = self.tasks.saturating_add(other.tasks);
        self.latency_us = self.latency_us.saturating_add(other.latency_us);
        self.violations = self.violations.saturating_add(other.violations);
        self.retries = self.retries.saturating_add(other.retries);
        self.adaptations = self.adaptations.saturating_add(other.adaptations);
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == WindowCounts::default()
    }
}

/// The cumulative counters of a group of sessions at one instant: what a pass over the
/// sessions still in the table sums up (see [`Cumulative::of`]), or the final values of
/// sessions that left the table.
///
/// Windows never read sessions themselves. They are fed cumulative sums and turn the
/// difference between two passes into events: `delta = now - previous + departed`, where
/// `departed` is the final reading of every session removed in between. Each counter of a
/// session only grows, so the delta of a group is exact, whatever the retention and however
/// many sessions came and went between passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cumulative(pub WindowCounts);

impl Cumulative {
    /// The cumulative counters of an aggregate: `started` counts every session no longer
    /// `Created`, the three end states their buckets, the rest the summed counters.
    pub fn of(metrics: &AggregatedMetrics) -> Self {
        Cumulative(WindowCounts {
            started: metrics.total_sessions.saturating_sub(metrics.created_sessions),
            completed: metrics.completed_sessions,
            failed: metrics.failed_sessions,
            cancelled: metrics.cancelled_sessions,
            tasks: metrics.total_completions,
            latency_us: metrics.total_latency_us,
            violations: metrics.total_violations,
            retries: metrics.total_retries,
            adaptations: metrics.total_adaptations,
        })
    }

    /// The cumulative counters of one session, as [`of`](Self::of) would count it alone.
    pub fn of_session(snapshot: &MetricsSnapshot) -> Self {
        let state = snapshot.state;
        Cumulative(WindowCounts {
            started: u64::from(state != SessionState::Created),
            completed: u64::from(state == SessionState::Completed),
            failed: u64::from(state == SessionState::Failed),
            cancelled: u64::from(state == SessionState::Cancelled),
            tasks: snapshot.task_completions,
            latency_us: snapshot.total_latency_us,
            violations: snapshot.violation_count,
            retries: snapshot.retry_count,
            adaptations: snapshot.adaptation_count,
        })
    }

    /// Adds `other` into `self` (saturating).
    pub fn add(&mut self, other: &Cumulative) {
        self.0.add(&other.0);
    }

    /// What happened between `previous` and `self`, given what `departed` took with it.
    /// A counter that went down (a session removed without being reported as departed)
    /// gives 0, never a wrapped count.
    pub fn since(&self, previous: &Cumulative, departed: &Cumulative) -> WindowCounts {
        let (now, prev, gone) = (&self.0, &previous.0, &departed.0);
        let d = |n: u64, p: u64, g: u64| n.saturating_add(g).saturating_sub(p);
        WindowCounts {
            started: d(now.started, prev.started, gone.started),
            completed: d(now.completed, prev.completed, gone.completed),
            failed: d(now.failed, prev.failed, gone.failed),
            cancelled: d(now.cancelled, prev.cancelled, gone.cancelled),
            tasks: d(now.tasks, prev.tasks, gone.tasks),
            latency_us: d(now.latency_us, prev.latency_us, gone.latency_us),
            violations: d(now.violations, prev.violations, gone.violations),
            retries: d(now.retries, prev.retries, gone.retries),
            adaptations: d(now.adaptations, prev.adaptations, gone.adaptations),
        }
    }
}
