//! [`RuntimeError`]: what the runtime itself can refuse.

use autonomic_core::{ConfigError, TransitionError};
use autonomic_table::TableError;
use thiserror::Error;

/// Why the runtime could not do what was asked.
///
/// ```
/// use autonomic::{AutonomicRuntime, RuntimeConfig, RuntimeError};
/// // Outside a tokio runtime there is nothing to run the loop on.
/// let err = AutonomicRuntime::start(RuntimeConfig::default()).unwrap_err();
/// assert!(matches!(err, RuntimeError::NoTokioRuntime));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RuntimeError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The loop was to be started outside a tokio runtime.
    #[error(
        "no tokio runtime to run the loop on: start it from within a tokio runtime, or build \
         the runtime without its loop and call run_once()"
    )]
    NoTokioRuntime,
    /// The loop was started twice.
    #[error("the runtime's loop is already running")]
    AlreadyRunning,
    /// The loop task panicked (an iteration that panics is logged and the loop goes on; this
    /// is the loop itself).
    #[error("the runtime's loop task panicked: {0}")]
    LoopPanicked(String),
    /// A session looked up by id is not in the table.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A lifecycle transition was refused (another holder finished the session first).
    #[error(transparent)]
    Transition(#[from] TransitionError),
}
