//! [`SessionEvent`]: what the adapter saw and did, buffered (bounded) until drained.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use autonomic_core::{ClockHandle, SessionId, TenantId};
use crossbeam_queue::ArrayQueue;
use serde::{Deserialize, Serialize};

use crate::breaker::{BreakerState, Cohort};
use crate::{QRule, SessionAction};

/// A session metric a threshold applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Retries recorded (threshold `max_retries`).
    Retries,
    /// Mean task latency, µs (threshold `max_latency_us`).
    MeanLatencyUs,
    /// Violations per task (threshold `max_violation_rate`).
    ViolationRate,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Retries => "retries",
            Metric::MeanLatencyUs => "mean_latency_us",
            Metric::ViolationRate => "violation_rate",
        })
    }
}

/// Something that happened to a session, as seen by the adapter. Each variant names the code
/// path that emits it:
///
/// | variant | emitted by |
/// |---|---|
/// | `Started` | [`on_session_started`](crate::SessionAdapter::on_session_started) |
/// | `Completed`, `Failed`, `Cancelled` | [`on_session_finished`](crate::SessionAdapter::on_session_finished) and its typed forms |
/// | `ViolationDetected` | an analysis whose policy flagged the violation rate |
/// | `ThresholdExceeded` | an analysis whose policy flagged retries or latency |
/// | `Rejected` | an analysis whose proposal Global Q refused |
/// | `Adapted` | [`execute_decision`](crate::SessionAdapter::execute_decision), for every kind but `LogAndContinue` |
/// | `BreakerChanged` | a cohort breaker's transition: [`observe_knowledge`](crate::SessionAdapter::observe_knowledge) (opening, half-open, a probe's timeout), an analysis (half-open), a probe session's end (closing, re-opening) |
///
/// The runtime facade calls the session notifications; a user driving the adapter alone
/// calls them where its sessions start and end.
///
/// Every event carries `timestamp_ms`: when it happened, as wall-clock milliseconds since the
/// Unix epoch, derived from the session's [`Clock`](autonomic_core::Clock) (so a
/// `ManualClock` makes it deterministic). `Adapted` carries its decision's `timestamp_ms`
/// (when the decision was admitted), so the event and the history line match.
///
/// ```
/// use autonomic_adapter::{QRule, SessionAction, SessionEvent};
/// use autonomic_core::SessionId;
/// let event = SessionEvent::Rejected {
///     session_id: SessionId::from_raw(1),
///     timestamp_ms: 1_767_225_600_000,
///     action: SessionAction::RequestResources { amount: 0.5 },
///     rule: QRule::MaxTotalResources,
///     observed: 1.1,
///     limit: 0.9,
/// };
/// assert_eq!(event.session_id(), Some(SessionId::from_raw(1)));
/// assert_eq!(event.timestamp_ms(), 1_767_225_600_000);
/// let json = serde_json::to_string(&event).unwrap();
/// assert!(json.contains(r#""event":"rejected""#) && json.contains("max_total_resources"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    /// The session started.
    Started {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// Its tenant.
        tenant_id: TenantId,
        /// Its workflow pattern, if set.
        pattern: Option<u8>,
    },
    /// The session completed.
    Completed {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// Tasks it completed.
        task_count: u64,
        /// How long it ran, ms (`None` if it never started).
        duration_ms: Option<u64>,
    },
    /// The session failed.
    Failed {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// The error it failed with, if the caller gave one
        /// ([`on_session_failed_with`](crate::SessionAdapter::on_session_failed_with)); cut at
        /// [`MAX_ERROR_LEN`] bytes.
        error: Option<String>,
        /// Tasks it completed.
        task_count: u64,
        /// How long it ran, ms (`None` if it never started).
        duration_ms: Option<u64>,
    },
    /// The session was cancelled.
    Cancelled {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
    },
    /// A decision was executed: the session adapted.
    Adapted {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// What it did.
        action: SessionAction,
        /// Why.
        reason: Cow<'static, str>,
    },
    /// The session's violation rate passed `max_violation_rate` (with enough samples).
    ViolationDetected {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// Violations per task.
        violation_rate: f64,
        /// Violations recorded.
        violations: u64,
        /// Tasks completed.
        tasks: u64,
    },
    /// A session metric passed its threshold.
    ThresholdExceeded {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// Which metric.
        metric: Metric,
        /// Its value.
        observed: f64,
        /// The threshold.
        limit: f64,
    },
    /// Global Q refused a proposed action.
    Rejected {
        /// The session.
        session_id: SessionId,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// The action refused.
        action: SessionAction,
        /// The rule that refused it.
        rule: QRule,
        /// What the rule saw.
        observed: f64,
        /// The limit it was held against.
        limit: f64,
    },
    /// A cohort's breaker changed state (see [`breaker`](crate::breaker)).
    BreakerChanged {
        /// The session whose analysis or end made the change, if one did (a change judged
        /// from the knowledge has none).
        session_id: Option<SessionId>,
        /// When, wall-clock ms since the Unix epoch (see the type's documentation).
        timestamp_ms: u64,
        /// The cohort.
        cohort: Cohort,
        /// Its new state.
        state: BreakerState,
        /// The failure rate of the cohort's window that (last) opened it.
        failure_rate: f64,
    },
}

impl SessionEvent {
    /// The session the event is about (`None` for a breaker change judged from the
    /// knowledge).
    pub fn session_id(&self) -> Option<SessionId> {
        Some(match self {
            SessionEvent::Started { session_id, .. }
            | SessionEvent::Completed { session_id, .. }
            | SessionEvent::Failed { session_id, .. }
            | SessionEvent::Cancelled { session_id, .. }
            | SessionEvent::Adapted { session_id, .. }
            | SessionEvent::ViolationDetected { session_id, .. }
            | SessionEvent::ThresholdExceeded { session_id, .. }
            | SessionEvent::Rejected { session_id, .. } => *session_id,
            SessionEvent::BreakerChanged { session_id, .. } => return *session_id,
        })
    }

    /// When it happened: wall-clock milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        match self {
            SessionEvent::Started { timestamp_ms, .. }
            | SessionEvent::Completed { timestamp_ms, .. }
            | SessionEvent::Failed { timestamp_ms, .. }
            | SessionEvent::Cancelled { timestamp_ms, .. }
            | SessionEvent::Adapted { timestamp_ms, .. }
            | SessionEvent::ViolationDetected { timestamp_ms, .. }
            | SessionEvent::ThresholdExceeded { timestamp_ms, .. }
            | SessionEvent::Rejected { timestamp_ms, .. }
            | SessionEvent::BreakerChanged { timestamp_ms, .. } => *timestamp_ms,
        }
    }
}

/// Longest error text a [`SessionEvent::Failed`] keeps, in bytes (longer ones are cut on a
/// character boundary, with their full length noted).
pub const MAX_ERROR_LEN: usize = 1024;

/// `error`, cut at [`MAX_ERROR_LEN`] bytes with its full length noted (core's
/// [`text::bounded`](autonomic_core::text::bounded)).
pub(crate) fn bounded_error(error: String) -> String {
    autonomic_core::text::bounded(error, MAX_ERROR_LEN)
}

/// Wall-clock milliseconds since the Unix epoch of `reading` on `clock` (reads no clock).
pub(crate) fn wall_ms(clock: &ClockHandle, reading: u64) -> u64 {
    clock.unix_nanos_at(reading) / 1_000_000
}

/// A bounded, lock-free event buffer: pushing never blocks and never allocates beyond the
/// event itself; when full, the oldest event is dropped and counted.
pub(crate) struct EventBuffer {
    queue: ArrayQueue<SessionEvent>,
    dropped: AtomicU64,
}

impl EventBuffer {
    /// `capacity` must be at least 1 (the configuration guarantees it).
    pub(crate) fn new(capacity: usize) -> Self {
        EventBuffer { queue: ArrayQueue::new(capacity.max(1)), dropped: AtomicU64::new(0) }
    }

    pub(crate) fn push(&self, event: SessionEvent) {
        if self.queue.force_push(event).is_some() {
            // Relaxed: a statistic.
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the buffered events, oldest first; at most one buffer's worth, so a drain ends
    /// even while other threads keep pushing.
    pub(crate) fn drain(&self) -> Vec<SessionEvent> {
        let mut out = Vec::with_capacity(self.queue.len());
        for _ in 0..self.queue.capacity() {
            match self.queue.pop() {
                Some(event) => out.push(event),
                None => break,
            }
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn dropped(&self) -> u64 {
        // Relaxed: a statistic.
        self.dropped.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for EventBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBuffer")
            .field("pending", &self.len())
            .field("capacity", &self.queue.capacity())
            .field("dropped", &self.dropped())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_drops_the_oldest_and_counts() {
        let buffer = EventBuffer::new(3);
        for i in 0..5 {
            buffer.push(SessionEvent::Cancelled {
                session_id: SessionId::from_raw(i),
                timestamp_ms: i,
            });
        }
        assert_eq!((buffer.len(), buffer.dropped()), (3, 2));
        let ids: Vec<Option<u64>> =
            buffer.drain().iter().map(|e| e.session_id().map(|id| id.as_u64())).collect();
        assert_eq!(ids, vec![Some(2), Some(3), Some(4)]);
        assert_eq!(buffer.len(), 0);
    }
}
