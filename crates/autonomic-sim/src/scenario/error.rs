//! [`ScenarioError`]: why a scenario file was refused.

use std::path::PathBuf;

use autonomic::ConfigError;
use thiserror::Error;

/// Longest piece of a scenario's own text (a name) an error quotes, in bytes.
const MAX_QUOTE: usize = 64;

/// A scenario file could not be read, or was refused. Every variant names the field at
/// fault, spelled as in the file (`tenants[2].rate_per_s`); nothing quotes more than 1 KB of
/// the input.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than a scenario may be.
    #[error("scenario is {size} bytes: at most {max} are read")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The bound ([`Scenario::MAX_BYTES`](crate::Scenario::MAX_BYTES)).
        max: u64,
    },
    /// The document could not be parsed (syntax, unknown or repeated field, wrong type), or
    /// the `runtime` section refused a value (then [`ConfigError::field`] names it). The
    /// parser's message is bounded (1 KB).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A value outside what its field may hold.
    #[error("{field} = {value}: {reason}")]
    InvalidField {
        /// The field, with its path (`patterns[0].latency.sigma`).
        field: String,
        /// The refused value, printed (bounded).
        value: String,
        /// What the value must be.
        reason: &'static str,
    },
    /// A list longer than its bound.
    #[error("{field}: {count} given, at most {max}")]
    TooMany {
        /// The list.
        field: &'static str,
        /// Entries given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A list that must not be empty is.
    #[error("{field}: at least one is needed")]
    Empty {
        /// The list.
        field: &'static str,
    },
    /// A name that refers to no tenant or pattern.
    #[error("{field}: no {kind} is named {name:?}")]
    UnknownName {
        /// The field holding the name.
        field: String,
        /// `"tenant"` or `"pattern"`.
        kind: &'static str,
        /// The name (bounded).
        name: String,
    },
    /// Two tenants, or two patterns, with one name.
    #[error("{field}: the name {name:?} is taken")]
    DuplicateName {
        /// The field holding the second one.
        field: String,
        /// The name (bounded).
        name: String,
    },
    /// A field this kind of entry needs is missing.
    #[error("{field}: required by a {kind} fault")]
    Missing {
        /// The missing field.
        field: String,
        /// The fault's kind.
        kind: &'static str,
    },
    /// A field that this kind of entry does not take.
    #[error("{field}: not used by a {kind} fault")]
    Unused {
        /// The field given.
        field: String,
        /// The fault's kind.
        kind: &'static str,
    },
}

impl ScenarioError {
    /// The field at fault, if the error is about one (a parse error is not).
    pub fn field(&self) -> Option<&str> {
        match self {
            ScenarioError::InvalidField { field, .. }
            | ScenarioError::UnknownName { field, .. }
            | ScenarioError::DuplicateName { field, .. }
            | ScenarioError::Missing { field, .. }
            | ScenarioError::Unused { field, .. } => Some(field),
            ScenarioError::TooMany { field, .. } | ScenarioError::Empty { field } => Some(field),
            ScenarioError::Config(e) => e.field(),
            ScenarioError::Io { .. } | ScenarioError::TooLarge { .. } => None,
        }
    }

    pub(crate) fn invalid(field: String, value: impl ToString, reason: &'static str) -> Self {
        ScenarioError::InvalidField { field, value: quote(&value.to_string()), reason }
    }
}

/// `text`, cut at [`MAX_QUOTE`] bytes (on a character boundary), noting its length.
pub(crate) fn quote(text: &str) -> String {
    if text.len() <= MAX_QUOTE {
        return text.to_string();
    }
    let mut end = MAX_QUOTE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}
