//! The lifecycle helpers: a session's transition, and the adapter told of it.

use autonomic_adapter::SessionPolicy;
use autonomic_core::marker::{Active, AnyState, Cancelled, Completed, Failed};
use autonomic_core::{CaseId, SessionHandle, SessionId, TenantId, TenantTag, TransitionError};
use autonomic_table::{NewSession, TableError};

use super::AutonomicRuntime;
use crate::RuntimeError;

impl<P: SessionPolicy> AutonomicRuntime<P> {
    // ---------------------------------------------------------- session lifecycle ----

    /// Creates a session in the table (state `Created`): set its pattern and tags on the
    /// returned [`NewSession`], then [`start_session`](Self::start_session) it.
    ///
    /// Dropping the `NewSession` unstarted cancels the session (the table's rule); no event
    /// is emitted for it then.
    pub fn create_session(&self, case_id: CaseId, tenant_id: TenantId) -> NewSession<'_, ()> {
        self.shared.table.create_session(case_id, tenant_id)
    }

    /// Starts a session created in this runtime's table (or through one of its tenant views)
    /// and tells the adapter (`Started` event).
    pub fn start_session<T: TenantTag>(
        &self,
        new: NewSession<'_, T>,
    ) -> Result<SessionHandle<T, Active>, TransitionError> {
        let handle = new.start()?;
        self.shared.adapter.on_session_started(&handle);
        Ok(handle)
    }

    /// Completes a running session and tells the adapter (`Completed` event).
    pub fn complete_session<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
    ) -> Result<SessionHandle<T, Completed>, TransitionError> {
        let done = handle.complete()?;
        self.shared.adapter.on_session_completed(&done);
        Ok(done)
    }

    /// Fails a running session and tells the adapter (`Failed` event).
    pub fn fail_session<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
    ) -> Result<SessionHandle<T, Failed>, TransitionError> {
        let failed = handle.fail()?;
        self.shared.adapter.on_session_failed(&failed);
        Ok(failed)
    }

    /// [`fail_session`](Self::fail_session), with the error the session failed with: the
    /// `Failed` event keeps its text (cut at [`MAX_ERROR_LEN`](crate::adapter::MAX_ERROR_LEN)
    /// bytes).
    pub fn fail_session_with<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
        error: impl std::fmt::Display,
    ) -> Result<SessionHandle<T, Failed>, TransitionError> {
        let failed = handle.fail()?;
        self.shared.adapter.on_session_failed_with(&failed, error);
        Ok(failed)
    }

    /// Cancels a running session and tells the adapter (`Cancelled` event).
    pub fn cancel_session<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
    ) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        let cancelled = handle.cancel()?;
        self.shared.adapter.on_session_cancelled(&cancelled);
        Ok(cancelled)
    }

    /// Cancels a session that was never started and tells the adapter (`Cancelled` event).
    pub fn cancel_new_session<T: TenantTag>(
        &self,
        new: NewSession<'_, T>,
    ) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        let cancelled = new.cancel()?;
        self.shared.adapter.on_session_cancelled(&cancelled);
        Ok(cancelled)
    }

    /// Cancels a session of the table from outside, by id, whatever state it is in before it
    /// finishes (`Created`, `Active` or `Adapted`), and tells the adapter. Its owner's next
    /// transition then fails with a [`TransitionError`].
    ///
    /// ```
    /// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, RuntimeError, SessionState, TenantId};
    /// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    /// let owner = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    /// runtime.cancel_session_by_id(&owner.id())?;
    /// let lost = runtime.complete_session(owner).unwrap_err();
    /// assert_eq!(lost.found, SessionState::Cancelled);
    /// # Ok::<(), RuntimeError>(())
    /// ```
    pub fn cancel_session_by_id(
        &self,
        id: &SessionId,
    ) -> Result<SessionHandle<(), Cancelled>, RuntimeError> {
        let cancelled = self.shared.table.get(id)?.cancel()?;
        self.shared.adapter.on_session_cancelled(&cancelled);
        Ok(cancelled)
    }

    /// Removes a session from the table now, whatever its state, with everything the adapter
    /// keeps for it (history, grant). Handles held elsewhere stay valid.
    pub fn remove_session(
        &self,
        id: &SessionId,
    ) -> Result<SessionHandle<(), AnyState>, TableError> {
        let handle = self.shared.table.remove(id)?;
        self.shared.adapter.forget_session(*id);
        // What it did since the last pass still counts in the windows. (A removal racing a
        // pass may be counted as of either side of it: see `Windows::departed`.)
        let reading = handle.reading_at(self.shared.aggregator.clock().now_nanos());
        self.shared.windows().departed(&reading);
        Ok(handle)
    }
}
