//! [`SessionEvent`]: what the adapter saw and did, buffered (bounded) until drained.

use std::borrow::Cow;
use std::fmt;
use std::sync::PoisonError;

use autonomic_core::{ClockHandle, SessionId, TenantId};
use serde::{Deserialize, Serialize};

use crate::breaker::{BreakerState, Cohort};
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};
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
#[inline]
pub(crate) fn wall_ms(clock: &ClockHandle, reading: u64) -> u64 {
    clock.unix_nanos_at(reading) / 1_000_000
}

/// A bounded event buffer: a ring of `capacity` slots, each written under its own lock by
/// the pusher its ticket (one `fetch_add`) names. Pushing never allocates beyond the event
/// itself and never waits on another pusher but one a whole ring's worth of events ahead on
/// the same slot, or a drain taking that slot's event; when the ring is full the oldest event
/// is overwritten, and counted as dropped.
///
/// Every event pushed is, exactly once, drained, counted in `dropped`, or still pending; each
/// pusher's events drain in the order it pushed them. A push counts nothing: `dropped` is
/// derived from the tickets (`pushed - drained - pending`, read under the drain lock), so a
/// push is one `fetch_add` and a slot's lock, full ring or not. Proof: the loom model
/// `src/event/tests/loom_events.rs` (two pushers and a drain, rings of one to three slots)
/// and the four-thread test below.
pub(crate) struct EventBuffer {
    slots: Box<[Mutex<Ticketed>]>,
    /// `slots.len() - 1` when the ring's size is a power of two (the default, 4096): a
    /// ticket's slot is then a mask, not a 64-bit division. `None` for any other size.
    mask: Option<u64>,
    /// Tickets handed out: the number of events ever pushed.
    tail: AtomicU64,
    /// The next ticket a drain takes (written under `drain`; read by `len`).
    head: AtomicU64,
    /// Serialises drains; holds the number of events ever drained.
    drain: Mutex<u64>,
}

/// A slot: the newest ticket that reached it and its event, unless drained (a slot starts
/// with its own index as ticket, no event: the first ticket that reaches it).
struct Ticketed {
    ticket: u64,
    event: Option<SessionEvent>,
}

impl EventBuffer {
    /// `capacity` must be at least 1 (the configuration guarantees it).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1) as u64;
        EventBuffer {
            slots: (0..capacity)
                .map(|ticket| Mutex::new(Ticketed { ticket, event: None }))
                .collect(),
            mask: capacity.is_power_of_two().then(|| capacity - 1),
            tail: AtomicU64::new(0),
            head: AtomicU64::new(0),
            drain: Mutex::new(0),
        }
    }

    /// The slot a ticket names: `ticket % capacity`.
    #[inline]
    fn index(&self, ticket: u64) -> usize {
        let index = match self.mask {
            Some(mask) => ticket & mask,
            None => ticket % self.slots.len() as u64,
        };
        index as usize
    }

    fn slot(&self, ticket: u64) -> MutexGuard<'_, Ticketed> {
        let slot = &self.slots[self.index(ticket)];
        // A slot's update is one assignment: a panic elsewhere cannot leave it half-written.
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, event: SessionEvent) {
        // Relaxed: the ticket only orders the events; each is published by its slot's lock.
        let ticket = self.tail.fetch_add(1, Ordering::Relaxed);
        let mut slot = self.slot(ticket);
        // A pusher a whole ring ahead got here first (its event may even be drained): this
        // one is the older, and is dropped. Else an event not drained yet is overwritten.
        if slot.ticket > ticket {
            drop(slot);
            drop(event); // outside the lock (counted by `dropped`, from the tickets)
            return;
        }
        slot.ticket = ticket;
        // In place: the overwritten event (counted by `dropped`) is dropped where it lies,
        // not moved out first (its slot lock is met only by the drain or a pusher a lap ahead).
        slot.event = Some(event);
    }

    /// Takes the buffered events, oldest first; at most one buffer's worth, so a drain ends
    /// even while other threads keep pushing. It stops before an event whose pusher holds a
    /// ticket but has not written it yet (the next drain takes it).
    pub(crate) fn drain(&self) -> Vec<SessionEvent> {
        let mut drained = self.drain.lock().unwrap_or_else(PoisonError::into_inner);
        // Relaxed: the slots' locks carry the events; the counters only bound the walk.
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Relaxed);
        let mut next = head.max(tail.saturating_sub(self.slots.len() as u64));
        let mut out = Vec::with_capacity((tail - next) as usize);
        while next < tail {
            let mut slot = self.slot(next);
            if slot.ticket == next && slot.event.is_some() {
                out.extend(slot.event.take());
            } else if slot.ticket <= next {
                // Its pusher has not written it yet.
                break;
            }
            // (`slot.ticket > next`: overwritten by a newer event, counted as dropped.)
            next += 1;
        }
        // Relaxed: written under `drain`; `len` reads it as a statistic.
        self.head.store(next, Ordering::Relaxed);
        *drained += out.len() as u64;
        out
    }

    /// Events pending (pushed, neither drained nor overwritten).
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a statistic.
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Relaxed);
        tail.saturating_sub(head).min(self.slots.len() as u64) as usize
    }

    /// Events lost to a full ring: `pushed - drained - pending`, that is every ticket below
    /// `max(head, tail - capacity)` that no drain took. Under the drain lock `head` and the
    /// drained count do not move, and every such ticket is lost for good: a drain passed it
    /// (taking it, or finding its slot holding a newer ticket, which its pusher will find
    /// too), or a newer ticket a whole ring ahead was handed out (no later drain starts
    /// below `tail - capacity`, and whichever of the two reaches the slot first, the older
    /// event loses). The figure never decreases: `tail` and `head` only grow, and a drain
    /// adds to the drained count at most what it moves `head` past.
    pub(crate) fn dropped(&self) -> u64 {
        let drained = self.drain.lock().unwrap_or_else(PoisonError::into_inner);
        // Relaxed: `head` is written under the lock held here; `tail` is a ticket count, and
        // a stale one only leaves an event lost a moment ago still counted as pending.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        head.max(tail.saturating_sub(self.slots.len() as u64)) - *drained
    }
}

impl fmt::Debug for EventBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBuffer")
            .field("pending", &self.len())
            .field("capacity", &self.slots.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

#[cfg(all(test, autonomic_loom))]
mod tests {
    mod loom_events;
}

#[cfg(all(test, not(autonomic_loom)))]
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

    /// A power-of-two ring masks, any other size divides: both name the slot `ticket %
    /// capacity`.
    #[test]
    fn a_ticket_names_its_slot_modulo_the_capacity() {
        for capacity in 1..=9u64 {
            let buffer = EventBuffer::new(capacity as usize);
            assert_eq!(buffer.mask.is_some(), capacity.is_power_of_two());
            for ticket in [0, 1, 5, 8, 9, 4095, 4096, u64::MAX - 1, u64::MAX] {
                assert_eq!(buffer.index(ticket) as u64, ticket % capacity, "{ticket} % {capacity}");
            }
        }
    }

    fn cancelled(id: u64) -> SessionEvent {
        SessionEvent::Cancelled { session_id: SessionId::from_raw(id), timestamp_ms: id }
    }

    #[test]
    fn a_drain_takes_each_event_once_and_pushes_go_on_after_it() {
        let buffer = EventBuffer::new(4);
        (0..3).for_each(|i| buffer.push(cancelled(i)));
        assert_eq!(buffer.drain().len(), 3);
        assert!(buffer.drain().is_empty());
        (3..9).for_each(|i| buffer.push(cancelled(i)));
        assert_eq!((buffer.len(), buffer.dropped()), (4, 2));
        let ids: Vec<u64> = buffer.drain().iter().map(|e| e.timestamp_ms()).collect();
        assert_eq!(ids, vec![5, 6, 7, 8]);
        assert_eq!(buffer.len(), 0);
    }

    /// Pushers racing with each other and with drains (a ring far smaller than what they
    /// push): every event is drained, dropped or pending exactly once, and each pusher's
    /// events are drained in the order it pushed them.
    #[test]
    fn under_concurrency_every_event_is_accounted_for_once_and_in_order() {
        const THREADS: u64 = 4;
        const EACH: u64 = 20_000;
        let buffer = EventBuffer::new(16);
        let mut drained = std::thread::scope(|scope| {
            let pushers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let buffer = &buffer;
                    scope.spawn(move || {
                        (0..EACH).for_each(|i| buffer.push(cancelled(t << 32 | i)));
                    })
                })
                .collect();
            let mut drained = Vec::new();
            let mut dropped = 0;
            while !pushers.iter().all(|p| p.is_finished()) {
                drained.extend(buffer.drain());
                let now = buffer.dropped();
                assert!(now >= dropped, "dropped went from {dropped} back to {now}");
                dropped = now;
            }
            drained
        });
        drained.extend(buffer.drain());
        assert_eq!(buffer.len(), 0);
        let total = drained.len() as u64 + buffer.dropped();
        assert_eq!(total, THREADS * EACH, "drained {} dropped {}", drained.len(), buffer.dropped());
        let mut last = [None; THREADS as usize];
        for event in &drained {
            let id = event.timestamp_ms();
            let (t, i) = ((id >> 32) as usize, id & 0xffff_ffff);
            assert!(last[t].is_none_or(|before| before < i), "thread {t}: {i} after {last:?}");
            last[t] = Some(i);
        }
    }
}
