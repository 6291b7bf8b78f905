//! [`ExportConfig`]: how many tenants and patterns get labels of their own.

/// The largest `max_tenants` or `max_patterns` accepted.
pub const MAX_LABELLED: usize = 1000;

/// Label cardinality bounds: the `max_tenants` tenants and `max_patterns` patterns with the
/// most sessions get a label value of their own; the rest are summed under `other`.
///
/// ```
/// use autonomic_prometheus::ExportConfig;
/// assert!(ExportConfig::default().validate().is_ok());
/// assert!(ExportConfig { max_tenants: 0, ..ExportConfig::default() }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportConfig {
    /// Tenants labelled by id (`1..=1000`; default 20).
    pub max_tenants: usize,
    /// Patterns labelled by number (`1..=1000`; default 20).
    pub max_patterns: usize,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig { max_tenants: 20, max_patterns: 20 }
    }
}

impl ExportConfig {
    /// Checks the bounds; the error names the field.
    pub fn validate(&self) -> Result<(), ExportConfigError> {
        for (field, value) in
            [("max_tenants", self.max_tenants), ("max_patterns", self.max_patterns)]
        {
            if !(1..=MAX_LABELLED).contains(&value) {
                return Err(ExportConfigError { field, value });
            }
        }
        Ok(())
    }
}

/// A bound of [`ExportConfig`] out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prometheus export: {field} is {value}, it must be in 1..=1000")]
pub struct ExportConfigError {
    /// The field refused.
    pub field: &'static str,
    /// Its value.
    pub value: usize,
}
