//! [`TableError`]: what a table lookup can refuse.

use autonomic_core::{SessionId, TenantMismatch};
use thiserror::Error;

/// A table operation on one session could not be done.
///
/// ```
/// use autonomic_core::SessionId;
/// use autonomic_table::{SessionTable, TableError};
///
/// let table = SessionTable::new();
/// let id = SessionId::from_raw(7);
/// let err = table.get(&id).unwrap_err();
/// assert_eq!(err, TableError::NotFound { id });
/// assert_eq!(err.to_string(), format!("session {id} not found"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TableError {
    /// No session with this id is in the table (it was never there, or it was removed or
    /// cleaned up).
    #[error("session {id} not found")]
    NotFound {
        /// The id looked up.
        id: SessionId,
    },
    /// The session exists but belongs to another tenant than the typed view asked through.
    #[error(transparent)]
    WrongTenant(#[from] TenantMismatch),
}
