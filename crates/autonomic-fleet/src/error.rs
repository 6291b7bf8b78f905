//! The fleet's errors: refused configuration and failed store operations.

use thiserror::Error;

/// Longest text kept from outside the process (a server's error, a reply), in bytes.
pub(crate) const MAX_ECHO: usize = 1024;

/// A fleet configuration value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} = {value}: {reason}")]
pub struct FleetConfigError {
    /// The field's name.
    pub field: &'static str,
    /// The refused value, printed (at most 1 KB).
    pub value: String,
    /// What the value must be.
    pub reason: &'static str,
}

impl FleetConfigError {
    pub(crate) fn new(field: &'static str, value: impl ToString, reason: &'static str) -> Self {
        FleetConfigError { field, value: bounded(value.to_string()), reason }
    }
}

/// A lease or knowledge store operation failed; the lease held (if any) stays in force until
/// it expires, and so does the last fleet sum of window totals.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer (connection refused, reset, I/O).
    #[error("fleet store unreachable: {0}")]
    Unreachable(String),
    /// The store did not answer within the request timeout.
    #[error("fleet store did not answer within {0} ms")]
    Timeout(u64),
    /// The store answered with an error of its own.
    #[error("fleet store refused the request: {0}")]
    Server(String),
    /// The store's reply is not what the protocol allows (wrong shape, out-of-range value).
    #[error("invalid reply from the fleet store: {0}")]
    BadReply(String),
    /// The store's fleet records are corrupt (written by something else); no lease is given
    /// until they are removed.
    #[error("corrupt fleet records in the store: {0}")]
    Corrupt(String),
}

/// Why a fleet member could not start.
#[derive(Debug, Error)]
pub enum FleetError {
    /// A configuration value was refused.
    #[error(transparent)]
    Config(#[from] FleetConfigError),
    /// The member must be started from inside a tokio runtime.
    #[error("a fleet member must be started inside a tokio runtime")]
    NoRuntime,
}

/// `text`, cut at [`MAX_ECHO`] bytes with its length noted (core's
/// [`text::bounded`](autonomic_core::text::bounded)).
pub(crate) fn bounded(text: String) -> String {
    autonomic_core::text::bounded(text, MAX_ECHO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_text_is_bounded() {
        let long = "é".repeat(2000);
        let cut = bounded(long);
        assert!(cut.len() < MAX_ECHO + 32, "{}", cut.len());
        assert!(cut.ends_with("(4000 bytes in all)"));
        assert_eq!(bounded("short".into()), "short");
    }
}
