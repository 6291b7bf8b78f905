//! Validation of configuration values, shared by every layer: [`ConfigError`] and the checks
//! that produce it, so that every refused value names its field in the same words.

use thiserror::Error;

/// A configuration value was refused, or a configuration document could not be read.
///
/// ```
/// use autonomic_core::{config, ConfigError};
/// let err = config::fraction("min_slo_compliance", f64::NAN).unwrap_err();
/// assert_eq!(err.to_string(), "min_slo_compliance = NaN: must be a finite number");
/// assert!(matches!(err, ConfigError::InvalidField { field: "min_slo_compliance", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A field holds a value outside what it may hold.
    #[error("{field} = {value}: {reason}")]
    InvalidField {
        /// The field's name, as it is spelled in configuration files.
        field: &'static str,
        /// The refused value, printed.
        value: String,
        /// What the value must be.
        reason: &'static str,
    },
    /// The document could not be parsed (syntax, unknown field, wrong type).
    #[error("invalid {format} configuration: {message}")]
    Parse {
        /// `"json"`, `"toml"`, ...
        format: &'static str,
        /// The parser's message.
        message: String,
    },
}

impl ConfigError {
    /// A refused field.
    pub fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> Self {
        ConfigError::InvalidField { field, value: value.to_string(), reason }
    }

    /// The refused field's name, if the error is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ConfigError::InvalidField { field, .. } => Some(field),
            ConfigError::Parse { .. } => None,
        }
    }
}

/// A finite number.
pub fn finite(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ConfigError::invalid(field, value, "must be a finite number"))
    }
}

/// A fraction in `0.0..=1.0`.
pub fn fraction(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let v = finite(field, value)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::invalid(field, v, "must be between 0.0 and 1.0"))
    }
}

/// A finite number `>= 0`.
pub fn non_negative(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let v = finite(field, value)?;
    if v >= 0.0 { Ok(v) } else { Err(ConfigError::invalid(field, v, "must not be negative")) }
}

/// A finite number `> 0`.
pub fn positive(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let v = finite(field, value)?;
    if v > 0.0 { Ok(v) } else { Err(ConfigError::invalid(field, v, "must be greater than zero")) }
}

/// An integer `> 0`.
pub fn nonzero(field: &'static str, value: u64) -> Result<u64, ConfigError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(ConfigError::invalid(field, value, "must be greater than zero"))
    }
}
