//! Execution: applying an admitted decision to its session ([`SessionAdapter::execute`]).

use autonomic_core::{Lifecycle, SessionHandle, SessionId, TenantTag};

use super::SessionAdapter;
use crate::decision::AdmittedDecision;
use crate::gate::{self, Executor, Grant};
use crate::sync::Arc;
use crate::{AdapterError, SessionAction, SessionEvent, SessionPolicy};

impl<P: SessionPolicy> SessionAdapter<P> {
    /// Applies an admitted decision to its session, synchronously.
    ///
    /// What the adapter applies: it marks a running session `Adapted` (every kind but
    /// `LogAndContinue` and `TriggerCompensation`, see
    /// [`ActionKind::marks_adapted`](crate::ActionKind::marks_adapted)), books a
    /// `RequestResources` grant to the session (it follows the session: it comes back when
    /// the session ends, however it ends), records the decision in the session's history,
    /// emits [`SessionEvent::Adapted`] (or traces the observation of a `LogAndContinue`).
    /// The rest is the caller's: waiting `backoff_ms` and retrying, running degraded,
    /// shedding optional tasks, running the compensation.
    ///
    /// **Slot hold**: every kind holds its adaptation slot from admission until this call
    /// returns (success or error), or until the decision is dropped unexecuted. Resources are
    /// held past execution (see the [crate documentation](crate#how-long-things-are-held)).
    ///
    /// Errors: the decision belongs to another session or adapter, or was already executed;
    /// or the session stopped running since admission (what the decision held is returned).
    pub fn execute<T: TenantTag, S: Lifecycle>(
        &self,
        decision: &AdmittedDecision,
        handle: &SessionHandle<T, S>,
    ) -> Result<(), AdapterError> {
        let session_id = decision.session_id;
        let span = tracing::debug_span!(
            "execute_decision",
            session_id = %session_id,
            state = %handle.state(),
            decision.action = %decision.action,
        );
        let _entered = span.enter();
        if session_id != handle.id() {
            return Err(AdapterError::WrongSession { decision: session_id, handle: handle.id() });
        }
        if !decision.permit.is_from(&self.gate) {
            return Err(AdapterError::ForeignDecision { session: session_id });
        }
        let Some(executor) = decision.permit.execute() else {
            return Err(AdapterError::AlreadyExecuted { session: session_id });
        };
        // Whatever happens below, the slot goes back when this function returns.
        let slot = ReturnSlotOnExit(executor);
        if decision.action.kind().marks_adapted()
            && let Err(e) = handle.mark_adapted_if_running()
        {
            slot.0.release_units();
            tracing::debug!(state = %e.found, "session stopped running before execution");
            return Err(AdapterError::SessionNotRunning { session: session_id, state: e.found });
        }
        let booking = self.sessions.record(decision.record.clone(), slot.0.take_grant());
        if !booking.tracked {
            self.counters.untracked();
        }
        if let Some(grant) = booking.new_grant {
            // The grant follows its session: released when the session ends, however it
            // ends (at once if it already has), with or without anyone telling the adapter.
            handle.on_end(move || release_at_end(session_id, &grant));
        }
        match &decision.action {
            SessionAction::LogAndContinue { message } => {
                tracing::info!(%session_id, %message, "session observation");
            }
            action => self.events.push(SessionEvent::Adapted {
                session_id,
                timestamp_ms: decision.timestamp_ms,
                action: action.clone(),
                reason: decision.reason.clone(),
            }),
        }
        self.counters.executed(session_id);
        tracing::debug!("decision executed");
        Ok(())
    }

    /// The quick reference's form of [`execute`](Self::execute).
    pub async fn execute_decision<T: TenantTag, S: Lifecycle>(
        &self,
        decision: &AdmittedDecision,
        handle: &SessionHandle<T, S>,
    ) -> Result<(), AdapterError> {
        self.execute(decision, handle)
    }
}

/// The end action of a session holding a grant.
fn release_at_end(session_id: SessionId, grant: &Arc<Grant>) {
    let units = grant.release();
    if units > 0 {
        let released = gate::units_to_amount(units);
        tracing::debug!(%session_id, released, "session ended: grant released");
    }
}

/// Returns the decision's slot when execution ends, however it ends.
struct ReturnSlotOnExit<'a>(Executor<'a>);

impl Drop for ReturnSlotOnExit<'_> {
    fn drop(&mut self) {
        self.0.release_slot();
    }
}
