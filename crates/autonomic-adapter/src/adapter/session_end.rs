//! Session notifications: a session started or finished, or the adapter should let go of it.
//!
//! Called by whoever drives the sessions' lifecycles: the runtime facade does it for the
//! sessions of its table; a user driving the adapter alone may call them itself. None of
//! them is needed to get a resource grant back: a grant follows its session and returns when
//! the session ends. They emit the lifecycle events and drop what the adapter keeps.

use autonomic_core::{
    Lifecycle, SessionHandle, SessionId, SessionState, StateMismatch, TenantTag, marker,
};

use super::SessionAdapter;
use crate::{SessionEvent, SessionPolicy};
use crate::{event, gate};

const TERMINAL: &[SessionState] =
    &[SessionState::Completed, SessionState::Failed, SessionState::Cancelled];

impl<P: SessionPolicy> SessionAdapter<P> {
    /// A session started: emits [`SessionEvent::Started`].
    pub fn on_session_started<T: TenantTag, S: Lifecycle>(&self, handle: &SessionHandle<T, S>) {
        let clock = handle.context().clock();
        self.events.push(SessionEvent::Started {
            session_id: handle.id(),
            timestamp_ms: event::wall_ms(clock, clock.now_nanos()),
            tenant_id: handle.tenant_id(),
            pattern: handle.pattern(),
        });
    }

    /// A session finished: emits `Completed`, `Failed` or `Cancelled` (read from its state)
    /// and releases what is left of its resource grant; returns the amount this call
    /// released (usually zero: the grant came back when the session ended). Its history
    /// stays until [`forget_session`](Self::forget_session).
    ///
    /// Refused (nothing done) if the session has not finished.
    pub fn on_session_finished<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
    ) -> Result<f64, StateMismatch> {
        self.finished(handle, None)
    }

    fn finished<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
        error: Option<String>,
    ) -> Result<f64, StateMismatch> {
        let clock = handle.context().clock();
        let snapshot = handle.snapshot_at(clock.now_nanos());
        let session_id = handle.id();
        let timestamp_ms = event::wall_ms(clock, snapshot.taken_at_ns);
        let (task_count, duration_ms) = (snapshot.task_completions, snapshot.duration_ms());
        let event = match snapshot.state {
            SessionState::Completed => {
                SessionEvent::Completed { session_id, timestamp_ms, task_count, duration_ms }
            }
            SessionState::Failed => {
                SessionEvent::Failed { session_id, timestamp_ms, error, task_count, duration_ms }
            }
            SessionState::Cancelled => SessionEvent::Cancelled { session_id, timestamp_ms },
            found => return Err(StateMismatch { session: session_id, found, expected: TERMINAL }),
        };
        self.events.push(event);
        Ok(self.release_session(session_id))
    }

    /// [`on_session_finished`](Self::on_session_finished) for a handle the typestate knows
    /// completed.
    pub fn on_session_completed<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Completed>,
    ) -> f64 {
        // A terminal state is never left, so the state check cannot fail.
        self.on_session_finished(handle).unwrap_or(0.0)
    }

    /// [`on_session_finished`](Self::on_session_finished) for a handle the typestate knows
    /// failed.
    pub fn on_session_failed<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Failed>,
    ) -> f64 {
        self.on_session_finished(handle).unwrap_or(0.0)
    }

    /// [`on_session_failed`](Self::on_session_failed), with the error the session failed
    /// with: the `Failed` event keeps its text, cut at [`MAX_ERROR_LEN`](crate::MAX_ERROR_LEN)
    /// bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use autonomic_adapter::{SessionAdapter, SessionEvent};
    /// # use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// let failed = SessionHandle::new(CaseId::new(), TenantId::new()).start()?.fail()?;
    /// adapter.on_session_failed_with(&failed, "payment gateway: 503");
    /// let events = adapter.take_events();
    /// assert!(matches!(&events[0],
    ///     SessionEvent::Failed { error: Some(e), .. } if e == "payment gateway: 503"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_session_failed_with<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Failed>,
        error: impl std::fmt::Display,
    ) -> f64 {
        let error = event::bounded_error(error.to_string());
        // A terminal state is never left, so the state check cannot fail.
        self.finished(handle, Some(error)).unwrap_or(0.0)
    }

    /// [`on_session_finished`](Self::on_session_finished) for a handle the typestate knows
    /// was cancelled.
    pub fn on_session_cancelled<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Cancelled>,
    ) -> f64 {
        self.on_session_finished(handle).unwrap_or(0.0)
    }

    /// Returns the session's resource grant to the ledger now, even if the session is still
    /// running (keeps its history); the amount this call released. A grant is returned
    /// exactly once: after this, the session's end returns nothing more (and vice versa).
    pub fn release_session(&self, session_id: SessionId) -> f64 {
        let units = self.sessions.release(session_id);
        if units > 0 {
            tracing::debug!(%session_id, released = gate::units_to_amount(units), "grant released");
        }
        gate::units_to_amount(units)
    }

    /// Drops everything kept for a session (history, and its grant, which goes back to the
    /// ledger if the session's end has not returned it). Call it when the session leaves the
    /// table; returns the amount this call released.
    pub fn forget_session(&self, session_id: SessionId) -> f64 {
        gate::units_to_amount(self.sessions.forget(session_id))
    }

    /// Drops everything kept for every session (histories and grants). Decisions admitted and
    /// not yet executed keep their permits until they are executed or dropped. Returns the
    /// amount this call released.
    pub fn clear(&self) -> f64 {
        gate::units_to_amount(self.sessions.clear())
    }
}
