//! [`Cumulative`]: the ever-growing counters of a group of sessions that windows are fed
//! from.

use serde::{Deserialize, Serialize};

use autonomic_core::{MetricsSnapshot, SessionState, WindowCounts};

use crate::AggregatedMetrics;

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
