//! [`AdapterError`]: why an analysis or an execution could not go ahead.
//!
//! A refusal by Global Q is *not* an error: it is an outcome
//! ([`Analysis::Refused`](crate::Analysis::Refused)), counted and emitted.

use autonomic_core::{SessionId, SessionState};
use thiserror::Error;

use crate::ActionError;

/// An analysis or an execution could not go ahead.
///
/// ```
/// use autonomic_adapter::AdapterError;
/// use autonomic_core::SessionId;
/// let err = AdapterError::AlreadyExecuted { session: SessionId::from_raw(3) };
/// assert_eq!(err.to_string(), "the decision for session-0000000000000003 was already executed");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AdapterError {
    /// The policy proposed an action with invalid values.
    #[error("the policy proposed an invalid action: {0}")]
    InvalidAction(#[from] ActionError),
    /// The policy proposed an expected impact outside `0.0..=1.0`.
    #[error("the policy proposed expected_impact = {0}: must be between 0.0 and 1.0")]
    InvalidImpact(f64),
    /// A decision was executed against another session's handle.
    #[error("the decision for {decision} cannot be executed on {handle}")]
    WrongSession {
        /// The decision's session.
        decision: SessionId,
        /// The handle's session.
        handle: SessionId,
    },
    /// A decision was executed by an adapter other than the one that admitted it.
    #[error("the decision for {session} was admitted by another adapter")]
    ForeignDecision {
        /// The decision's session.
        session: SessionId,
    },
    /// A decision was executed twice.
    #[error("the decision for {session} was already executed")]
    AlreadyExecuted {
        /// The decision's session.
        session: SessionId,
    },
    /// The session stopped running between admission and execution; what the decision held
    /// has been returned.
    #[error(
        "{session} is {state}: the decision cannot be applied to a session that is not running"
    )]
    SessionNotRunning {
        /// The session.
        session: SessionId,
        /// Its state.
        state: SessionState,
    },
}
