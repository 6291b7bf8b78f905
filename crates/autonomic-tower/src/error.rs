//! [`SessionError`]: why the layer did not pass a request on, or the inner service's error.

use autonomic::{QRule, Refusal, TransitionError};
use http::StatusCode;

/// What a [`SessionService`](crate::SessionService) returns instead of a response.
///
/// Map it to a response with axum's `HandleErrorLayer` (see the [crate
/// documentation](crate#refusals-as-responses)); [`status_code`](Self::status_code) gives the
/// status each kind deserves.
///
/// ```
/// use autonomic_tower::{KeyError, SessionError};
/// use http::StatusCode;
/// let e: SessionError<std::convert::Infallible> = KeyError::Missing.into();
/// assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
/// ```
#[derive(Debug, thiserror::Error)]
pub enum SessionError<E> {
    /// The doctrine refused the adaptation the session's policy proposed; the inner service
    /// was not called. Counted by rule in the adapter's statistics.
    #[error("refused by the doctrine: {0}")]
    Refused(Box<Refusal>),
    /// The request's tenant or session key was missing or invalid, or the key table is full.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The request's session could not be started (it was cancelled from outside first).
    #[error("the request's session could not start: {0}")]
    Start(#[from] TransitionError),
    /// The response future was polled again after it had completed.
    #[error("response future polled after completion")]
    Polled,
    /// The inner service failed (recorded as a failed task).
    #[error("inner service: {0}")]
    Inner(#[source] E),
}

impl<E> SessionError<E> {
    /// The status a server answers with: 503 for a refusal (the service sheds load while
    /// the doctrine holds) and for a full key table, 400 for a bad tenant or key, 403 for a
    /// key owned by another tenant, 500 otherwise.
    pub fn status_code(&self) -> StatusCode {
        match self {
            SessionError::Refused(_) | SessionError::Key(KeyError::TooManyKeys { .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            SessionError::Key(KeyError::TenantMismatch) => StatusCode::FORBIDDEN,
            SessionError::Key(_) => StatusCode::BAD_REQUEST,
            SessionError::Start(_) | SessionError::Polled | SessionError::Inner(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The Global Q rule that refused the request, if it was refused.
    pub fn refused_by(&self) -> Option<QRule> {
        match self {
            SessionError::Refused(refusal) => Some(refusal.rule),
            _ => None,
        }
    }
}

/// Why a request's tenant or session key was not accepted. Messages never echo the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The request carries no tenant or no session key where one is required.
    #[error("the request carries no session key or tenant")]
    Missing,
    /// The key is longer than the configured limit.
    #[error("session key is {len} bytes long, the limit is {max}")]
    TooLong {
        /// The key's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The key has a byte outside `A-Z a-z 0-9 - _ . :`, or is empty.
    #[error("session key is empty or has a byte outside A-Z a-z 0-9 - _ . :")]
    Invalid,
    /// The tenant could not be read (for example a tenant header that is not a UUID).
    #[error("the request's tenant is invalid")]
    InvalidTenant,
    /// The key maps to a session of another tenant: refused, nothing recorded.
    #[error("session key belongs to another tenant")]
    TenantMismatch,
    /// `max_keys` keys are live; a new one is refused until idle ones are forgotten.
    #[error("{max} session keys are live, the limit")]
    TooManyKeys {
        /// The configured limit.
        max: usize,
    },
}
