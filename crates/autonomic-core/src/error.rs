//! Error types of the core crate.

use thiserror::Error;

use crate::{SessionId, SessionState, TenantId};

/// A lifecycle transition was refused because the session was not in a state it may be taken
/// from: typically another holder (a table cleanup, an external cancel) finished it first.
///
/// ```
/// use autonomic_core::{CaseId, SessionHandle, SessionState, TenantId};
/// let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
/// let other = h.clone();
/// other.cancel().unwrap();
/// let err = h.complete().unwrap_err();
/// assert_eq!(err.found, SessionState::Cancelled);
/// assert_eq!(err.attempted, SessionState::Completed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session {session}: cannot move to {attempted}, it is already {found}")]
pub struct TransitionError {
    /// The session concerned.
    pub session: SessionId,
    /// The state found when the transition was attempted.
    pub found: SessionState,
    /// The state the caller tried to reach.
    pub attempted: SessionState,
}

/// A run-time check of a handle's state (for example [`SessionHandle::into_active`]) found
/// another state.
///
/// [`SessionHandle::into_active`]: crate::SessionHandle::into_active
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session {session} is {found}, expected one of {expected:?}")]
pub struct StateMismatch {
    /// The session concerned.
    pub session: SessionId,
    /// The state found.
    pub found: SessionState,
    /// The states that were acceptable.
    pub expected: &'static [SessionState],
}

/// A session of one tenant was offered where another tenant's is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session {session} belongs to {found}, not to {expected}")]
pub struct TenantMismatch {
    /// The session concerned.
    pub session: SessionId,
    /// Its tenant.
    pub found: TenantId,
    /// The tenant the typed scope stands for.
    pub expected: TenantId,
}

/// Session metadata (tags) refused at creation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// A tag was empty.
    #[error("tag is empty")]
    EmptyTag,
    /// A tag was longer than [`Tag::MAX_LEN`](crate::Tag::MAX_LEN) bytes.
    #[error("tag is {len} bytes long, the limit is {max}")]
    TagTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The session already carries [`Tag::MAX_PER_SESSION`](crate::Tag::MAX_PER_SESSION) tags.
    #[error("session already has {max} tags")]
    TooManyTags {
        /// The limit.
        max: usize,
    },
}
