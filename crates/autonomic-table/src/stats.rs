//! [`TableStats`]: counts of the table's sessions by state, and of its tenants.

use autonomic_core::SessionState;

use crate::SessionTable;

/// Counts of a table's sessions by state, taken in one pass (see [`SessionTable::stats`]).
///
/// The per-state counts add up to `total_sessions`. `active_sessions` counts `Active` and
/// `Adapted` sessions (`Adapted` is an active sub-state).
///
/// ```
/// use autonomic_core::{CaseId, TenantId};
/// use autonomic_table::{SessionTable, TableStats};
///
/// let table = SessionTable::new();
/// let tenant = TenantId::new();
/// let a = table.create_session(CaseId::new(), tenant).start()?;
/// let b = table.create_session(CaseId::new(), tenant).start()?;
/// let _c = table.create_session(CaseId::new(), TenantId::new()); // not started yet
/// a.complete()?;
/// b.fail()?;
/// let stats = table.stats();
/// assert_eq!(stats, TableStats {
///     total_sessions: 3,
///     active_sessions: 0,
///     created_sessions: 1,
///     completed_sessions: 1,
///     failed_sessions: 1,
///     cancelled_sessions: 0,
///     unique_tenants: 2,
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TableStats {
    /// Sessions in the table (the sum of the per-state counts below).
    pub total_sessions: usize,
    /// `Active` or `Adapted`.
    pub active_sessions: usize,
    /// `Created`, not started yet.
    pub created_sessions: usize,
    /// `Completed`.
    pub completed_sessions: usize,
    /// `Failed`.
    pub failed_sessions: usize,
    /// `Cancelled`.
    pub cancelled_sessions: usize,
    /// Tenants with at least one session in the table.
    pub unique_tenants: usize,
}

impl SessionTable {
    /// Counts the sessions by state in one pass over the table (O(sessions), no allocation),
    /// and the tenants in O(1).
    ///
    /// Sessions change state on their own handles without the table being told, so the
    /// per-state counts are read from the sessions themselves, each once: exact when nothing
    /// changes during the pass, and otherwise each session is counted in the state it had
    /// when visited.
    pub fn stats(&self) -> TableStats {
        let mut by_state = [0usize; SessionState::ALL.len()];
        self.for_each(|handle| by_state[handle.state() as usize] += 1);
        let count = |s: SessionState| by_state[s as usize];
        TableStats {
            total_sessions: by_state.iter().sum(),
            active_sessions: count(SessionState::Active) + count(SessionState::Adapted),
            created_sessions: count(SessionState::Created),
            completed_sessions: count(SessionState::Completed),
            failed_sessions: count(SessionState::Failed),
            cancelled_sessions: count(SessionState::Cancelled),
            unique_tenants: self.tenant_count(),
        }
    }
}
