//! [`BreakerConfig`]: when a cohort's breaker opens, how long it stays open, how many probes
//! it lets through half-open. Loads from JSON and TOML; every field is validated.

use autonomic_core::config::{self as check, ConfigError};
use serde::{Deserialize, Serialize};

/// The configuration of the cohort breakers (see the [`breaker`](crate::breaker) module).
///
/// The defaults:
/// * `failure_threshold = 0.5`: the breaker is for "most sessions of the cohort fail at
///   once"; a lower threshold is the failure-rate rule's job (Global Q's `max_failure_rate`,
///   5% by default, judged over the whole runtime).
/// * `min_finished_sessions = 20`: the same minimum volume the windows use for a failure
///   rate by default; fewer sessions are anecdotes, not a diagnosis.
/// * `open_for_ms = 30 000`: half the default 60 s window, so a dependency that recovers is
///   probed within a few loop iterations, and a flapping one is not hammered.
/// * `probes = 3`: enough that one lucky session does not close the breaker, few enough
///   that a still-broken dependency sees three retries, not a storm.
/// * `probe_timeout_ms = 60 000`: a probe that has not ended within one default window
///   counts as failed (it is slow, which is what a failing dependency looks like).
/// * `by_pattern = true`, `by_tenant = true`: both kinds of cohort the windows hold.
///
/// ```
/// use autonomic_adapter::breaker::BreakerConfig;
/// let config = BreakerConfig::from_toml_str("failure_threshold = 0.8\nprobes = 2")?;
/// assert_eq!((config.failure_threshold, config.probes), (0.8, 2));
/// assert_eq!(config.open_for_ms, 30_000); // defaults fill the rest
/// let err = BreakerConfig::from_json_str(r#"{"probes": 0}"#).unwrap_err();
/// assert_eq!(err.field(), Some("probes"));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failed sessions over finished ones (running sessions past the windows' slow
    /// threshold count as failed) in a cohort's short window at or above which its breaker
    /// opens (`0.0 < x <= 1.0`; default 0.5).
    pub failure_threshold: f64,
    /// Finished sessions (plus slow running ones) the cohort's short window must hold before
    /// its failure rate is judged; below it the breaker never opens (`>= 1`; default 20).
    pub min_finished_sessions: u64,
    /// How long an open breaker refuses before it goes half-open, milliseconds
    /// (`1..=86 400 000`; default 30 000).
    pub open_for_ms: u64,
    /// Probe sessions a half-open breaker admits; it closes once that many have completed
    /// (`1..=1024`; default 3).
    pub probes: u32,
    /// A probe that has not ended this long after its admission counts as failed,
    /// milliseconds (`1..=86 400 000`; default 60 000).
    pub probe_timeout_ms: u64,
    /// Whether patterns are cohorts (default true).
    pub by_pattern: bool,
    /// Whether tenants are cohorts (default true).
    pub by_tenant: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 0.5,
            min_finished_sessions: 20,
            open_for_ms: 30_000,
            probes: 3,
            probe_timeout_ms: 60_000,
            by_pattern: true,
            by_tenant: true,
        }
    }
}

impl BreakerConfig {
    /// Largest `open_for_ms` and `probe_timeout_ms`: one day.
    pub const MAX_MS: u64 = 86_400_000;
    /// Largest `probes`.
    pub const MAX_PROBES: u32 = 1024;

    /// Checks every field; the error names the first one refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::positive("failure_threshold", self.failure_threshold)?;
        check::fraction("failure_threshold", self.failure_threshold)?;
        check::nonzero("min_finished_sessions", self.min_finished_sessions)?;
        millis("open_for_ms", self.open_for_ms)?;
        if self.probes == 0 || self.probes > Self::MAX_PROBES {
            return Err(ConfigError::invalid("probes", self.probes, "must be between 1 and 1024"));
        }
        millis("probe_timeout_ms", self.probe_timeout_ms)?;
        Ok(())
    }

    /// Milliseconds as nanoseconds.
    pub(crate) fn open_for_ns(&self) -> u64 {
        self.open_for_ms.saturating_mul(1_000_000)
    }

    /// Milliseconds as nanoseconds.
    pub(crate) fn probe_timeout_ns(&self) -> u64 {
        self.probe_timeout_ms.saturating_mul(1_000_000)
    }
}

fn millis(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 || value > BreakerConfig::MAX_MS {
        return Err(ConfigError::invalid(field, value, "must be between 1 and 86400000 ms"));
    }
    Ok(())
}

crate::validated::validated_document!(BreakerConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let c = BreakerConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(BreakerConfig::from_json_str(&json).unwrap(), c);
        let toml = toml::to_string(&c).unwrap();
        assert_eq!(BreakerConfig::from_toml_str(&toml).unwrap(), c);
    }

    #[test]
    fn every_bad_field_is_named() {
        for (doc, field) in [
            (r#"{"failure_threshold": 0}"#, "failure_threshold"),
            (r#"{"failure_threshold": 1.5}"#, "failure_threshold"),
            (r#"{"failure_threshold": -0.1}"#, "failure_threshold"),
            (r#"{"min_finished_sessions": 0}"#, "min_finished_sessions"),
            (r#"{"open_for_ms": 0}"#, "open_for_ms"),
            (r#"{"open_for_ms": 86400001}"#, "open_for_ms"),
            (r#"{"probes": 0}"#, "probes"),
            (r#"{"probes": 1025}"#, "probes"),
            (r#"{"probe_timeout_ms": 0}"#, "probe_timeout_ms"),
        ] {
            assert_eq!(
                BreakerConfig::from_json_str(doc).unwrap_err().field(),
                Some(field),
                "{doc}"
            );
        }
        assert_eq!(
            BreakerConfig::from_toml_str("failure_threshold = nan").unwrap_err().field(),
            Some("failure_threshold")
        );
        let unknown = BreakerConfig::from_json_str(r#"{"probe": 3}"#).unwrap_err();
        assert!(matches!(unknown, ConfigError::Parse { .. }), "{unknown:?}");
        assert!(BreakerConfig::from_json_str("[0.5, 20]").is_err());
    }
}
