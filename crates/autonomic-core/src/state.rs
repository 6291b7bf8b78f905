//! Lifecycle states: the runtime [`SessionState`] and the typestate markers of
//! [`SessionHandle`](crate::SessionHandle).
//!
//! ```text
//! Created --start--> Active <--> Adapted      (Adapted is an active sub-state)
//!    |                 |
//!    `--cancel--.      +--complete--> Completed
//!               |      +--fail------> Failed
//!               `------+--cancel----> Cancelled
//! ```
//! Terminal states are final: they are reached by exactly one compare-and-swap and are never
//! overwritten.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a session is in its lifecycle, as seen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SessionState {
    /// Registered, not yet started.
    Created = 0,
    /// Running.
    Active = 1,
    /// Running, and has adapted at least once (an active sub-state).
    Adapted = 2,
    /// Finished successfully (terminal).
    Completed = 3,
    /// Finished with a failure (terminal).
    Failed = 4,
    /// Cancelled before it finished (terminal).
    Cancelled = 5,
}

impl SessionState {
    /// All states, in discriminant order.
    pub const ALL: [SessionState; 6] = [
        SessionState::Created,
        SessionState::Active,
        SessionState::Adapted,
        SessionState::Completed,
        SessionState::Failed,
        SessionState::Cancelled,
    ];

    /// `Active` or `Adapted`.
    pub const fn is_active(self) -> bool {
        matches!(self, SessionState::Active | SessionState::Adapted)
    }

    /// `Completed`, `Failed` or `Cancelled`.
    pub const fn is_terminal(self) -> bool {
        matches!(self, SessionState::Completed | SessionState::Failed | SessionState::Cancelled)
    }

    /// The lower-case name (`"active"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionState::Created => "created",
            SessionState::Active => "active",
            SessionState::Adapted => "adapted",
            SessionState::Completed => "completed",
            SessionState::Failed => "failed",
            SessionState::Cancelled => "cancelled",
        }
    }

    /// Decodes a discriminant; `None` for values no state has.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(SessionState::Created),
            1 => Some(SessionState::Active),
            2 => Some(SessionState::Adapted),
            3 => Some(SessionState::Completed),
            4 => Some(SessionState::Failed),
            5 => Some(SessionState::Cancelled),
            _ => None,
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A typestate marker: what the owner of a [`SessionHandle`](crate::SessionHandle) statically
/// knows about the session's lifecycle. Sealed: the markers below are the only ones.
pub trait Lifecycle: sealed::Sealed + Send + Sync + 'static {
    /// The run-time states this marker stands for.
    const STATES: &'static [SessionState];
}

/// Typestate markers.
pub mod marker {
    use super::{Lifecycle, SessionState, sealed::Sealed};

    macro_rules! markers {
        ($($(#[$doc:meta])* $name:ident => [$($st:ident),*];)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}
            impl Sealed for $name {}
            impl Lifecycle for $name {
                const STATES: &'static [SessionState] = &[$(SessionState::$st),*];
            }
        )*};
    }

    markers! {
        /// Created, not started: the owner may `start()` (once) or `cancel()`.
        Created => [Created];
        /// Started: the owner records metrics, adapts, and finishes it.
        Active => [Active, Adapted];
        /// Finished successfully.
        Completed => [Completed];
        /// Finished with a failure.
        Failed => [Failed];
        /// Cancelled.
        Cancelled => [Cancelled];
        /// Not known statically (a handle held by a table, an adapter, an observer): only
        /// run-time-checked operations exist.
        AnyState => [Created, Active, Adapted, Completed, Failed, Cancelled];
    }
}
