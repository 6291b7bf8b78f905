//! [`ConcurrencyConfig`]: the bounds and the steps of the adaptive concurrency limit. Loads
//! from JSON and TOML; every field is validated.

use autonomic_core::config::{self as check, ConfigError};
use serde::{Deserialize, Serialize};

/// The configuration of the adaptive concurrency limit (see the
/// [`concurrency`](crate::concurrency) module).
///
/// The defaults:
/// * `floor = 2`, `ceiling = 64`, `initial = 10`: the limit starts at Global Q's default
///   `max_concurrent_adaptations` and may go down to two (adaptation never switches itself
///   off) or up to 64.
/// * `increase = 1`, `backoff = 0.75`: additive increase, multiplicative decrease (AIMD). A
///   quarter off per overloaded generation (not TCP's half) because a generation is one loop
///   iteration (a second by default), not one round trip: a sustained overload still halves
///   the limit in three generations.
/// * `patience = 2`: the limit goes down only after two overloaded generations in a row, so
///   one slow window never moves it.
/// * `latency_target_us = 100 000`: the default policy's `max_latency_us`.
/// * `max_failure_rate = 0.1`: twice Global Q's default `max_failure_rate`.
/// * `min_finished_sessions = 20`, `min_tasks = 100`: the windows' own default minimum
///   volumes; below them the limit holds.
/// * `demand_fraction = 0.8`: the limit rises only in a generation whose peak demand for a
///   slot reached 80% of it (an unused limit does not climb).
///
/// ```
/// use autonomic_adapter::concurrency::ConcurrencyConfig;
/// let config = ConcurrencyConfig::from_toml_str("floor = 4\nceiling = 32\ninitial = 8")?;
/// assert_eq!((config.floor, config.ceiling, config.initial), (4, 32, 8));
/// let err = ConcurrencyConfig::from_json_str(r#"{"floor": 40, "ceiling": 32}"#).unwrap_err();
/// assert_eq!(err.field(), Some("ceiling"));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct ConcurrencyConfig {
    /// The lowest limit (`>= 1`; default 2).
    pub floor: u64,
    /// The highest limit (`floor..=1 000 000`; default 64).
    pub ceiling: u64,
    /// The limit before the first step (`floor..=ceiling`; default 10).
    pub initial: u64,
    /// Added to the limit after a healthy generation (`1..=ceiling`; default 1).
    pub increase: u64,
    /// The limit is multiplied by this after `patience` overloaded generations in a row, and
    /// after each further one (`0.0 < x < 1.0`; default 0.75).
    pub backoff: f64,
    /// Overloaded generations in a row before the limit goes down (`1..=100`; default 2).
    pub patience: u32,
    /// A mean task latency over the short window above this is overload, µs (`>= 1`;
    /// default 100 000).
    pub latency_target_us: u64,
    /// A failure rate over the short window (running sessions past the windows' slow
    /// threshold count as failing) at or above this is overload (`0.0 < x <= 1.0`; default
    /// 0.1).
    pub max_failure_rate: f64,
    /// Finished (or slow) sessions the short window must hold to judge the failure rate
    /// (`>= 1`; default 20).
    pub min_finished_sessions: u64,
    /// Tasks the short window must hold to judge the latency (`>= 1`; default 100).
    pub min_tasks: u64,
    /// The limit rises only in a generation whose peak demand for a slot (slots in use plus
    /// the one asked for, as proposals arrive) reached this fraction of it (`0.0 < x <= 1.0`;
    /// default 0.8).
    pub demand_fraction: f64,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        ConcurrencyConfig {
            floor: 2,
            ceiling: 64,
            initial: 10,
            increase: 1,
            backoff: 0.75,
            patience: 2,
            latency_target_us: 100_000,
            max_failure_rate: 0.1,
            min_finished_sessions: 20,
            min_tasks: 100,
            demand_fraction: 0.8,
        }
    }
}

impl ConcurrencyConfig {
    /// Largest `ceiling`.
    pub const MAX_CEILING: u64 = 1_000_000;
    /// Largest `patience`.
    pub const MAX_PATIENCE: u32 = 100;

    /// Checks every field; the error names the first one refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::nonzero("floor", self.floor)?;
        if self.ceiling < self.floor {
            return Err(ConfigError::invalid("ceiling", self.ceiling, "must be at least floor"));
        }
        if self.ceiling > Self::MAX_CEILING {
            return Err(ConfigError::invalid("ceiling", self.ceiling, "must be at most 1000000"));
        }
        if !(self.floor..=self.ceiling).contains(&self.initial) {
            return Err(ConfigError::invalid(
                "initial",
                self.initial,
                "must be between floor and ceiling",
            ));
        }
        if self.increase == 0 || self.increase > self.ceiling {
            return Err(ConfigError::invalid(
                "increase",
                self.increase,
                "must be between 1 and ceiling",
            ));
        }
        check::positive("backoff", self.backoff)?;
        if self.backoff >= 1.0 {
            return Err(ConfigError::invalid("backoff", self.backoff, "must be below 1.0"));
        }
        if self.patience == 0 || self.patience > Self::MAX_PATIENCE {
            return Err(ConfigError::invalid(
                "patience",
                self.patience,
                "must be between 1 and 100",
            ));
        }
        check::nonzero("latency_target_us", self.latency_target_us)?;
        check::positive("max_failure_rate", self.max_failure_rate)?;
        check::fraction("max_failure_rate", self.max_failure_rate)?;
        check::nonzero("min_finished_sessions", self.min_finished_sessions)?;
        check::nonzero("min_tasks", self.min_tasks)?;
        check::positive("demand_fraction", self.demand_fraction)?;
        check::fraction("demand_fraction", self.demand_fraction)?;
        Ok(())
    }
}

crate::validated::validated_document!(ConcurrencyConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let c = ConcurrencyConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(ConcurrencyConfig::from_json_str(&json).unwrap(), c);
        let toml = toml::to_string(&c).unwrap();
        assert_eq!(ConcurrencyConfig::from_toml_str(&toml).unwrap(), c);
    }

    #[test]
    fn every_bad_field_is_named() {
        for (doc, field) in [
            (r#"{"floor": 0}"#, "floor"),
            (r#"{"floor": 10, "ceiling": 5, "initial": 5}"#, "ceiling"),
            (r#"{"ceiling": 2000000}"#, "ceiling"),
            (r#"{"initial": 1}"#, "initial"),
            (r#"{"initial": 65}"#, "initial"),
            (r#"{"increase": 0}"#, "increase"),
            (r#"{"backoff": 1.0}"#, "backoff"),
            (r#"{"backoff": 0}"#, "backoff"),
            (r#"{"patience": 0}"#, "patience"),
            (r#"{"latency_target_us": 0}"#, "latency_target_us"),
            (r#"{"max_failure_rate": 0}"#, "max_failure_rate"),
            (r#"{"max_failure_rate": 1.2}"#, "max_failure_rate"),
            (r#"{"min_finished_sessions": 0}"#, "min_finished_sessions"),
            (r#"{"min_tasks": 0}"#, "min_tasks"),
            (r#"{"demand_fraction": 0}"#, "demand_fraction"),
            (r#"{"demand_fraction": 1.5}"#, "demand_fraction"),
        ] {
            let err = ConcurrencyConfig::from_json_str(doc).unwrap_err();
            assert_eq!(err.field(), Some(field), "{doc}: {err}");
        }
        for (doc, field) in [
            ("backoff = nan", "backoff"),
            ("max_failure_rate = inf", "max_failure_rate"),
            ("demand_fraction = nan", "demand_fraction"),
        ] {
            assert_eq!(ConcurrencyConfig::from_toml_str(doc).unwrap_err().field(), Some(field));
        }
        assert!(matches!(
            ConcurrencyConfig::from_json_str(r#"{"flor": 1}"#),
            Err(ConfigError::Parse { .. })
        ));
    }
}
