//! [`Latency`]: a task latency distribution.

use serde::Deserialize;

use super::ScenarioError;
use crate::SimRng;

/// How long a task of a pattern takes: a distribution, in milliseconds in files.
///
/// ```toml
/// latency = { kind = "lognormal", median_ms = 20, sigma = 0.6 }
/// latency = { kind = "uniform", min_ms = 5, max_ms = 15 }
/// latency = { kind = "exponential", mean_ms = 10 }
/// latency = { kind = "fixed", ms = 8 }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Fixed {
        /// The latency.
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// Shortest.
        min_ms: f64,
        /// Longest.
        max_ms: f64,
    },
    /// Exponential with mean `mean_ms`.
    Exponential {
        /// The mean.
        mean_ms: f64,
    },
    /// Log-normal: median `median_ms`, spread `sigma` (the standard deviation of the
    /// logarithm; 0.5 puts the 99th percentile at about 3.2 times the median).
    #[serde(rename = "lognormal")]
    LogNormal {
        /// The median.
        median_ms: f64,
        /// The spread.
        sigma: f64,
    },
}

/// The longest latency a distribution may be centred on: one hour.
const MAX_MS: f64 = 3_600_000.0;

impl Latency {
    /// One draw, in whole microseconds (at least 1, at most one hour).
    pub fn draw_us(&self, rng: &mut SimRng) -> u64 {
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => min_ms + (max_ms - min_ms) * rng.unit(),
            Latency::Exponential { mean_ms } => rng.exponential(mean_ms),
            Latency::LogNormal { median_ms, sigma } => median_ms * (sigma * rng.normal()).exp(),
        };
        (ms * 1000.0).clamp(1.0, MAX_MS * 1000.0) as u64
    }

    pub(crate) fn validate(&self, at: &str) -> Result<(), ScenarioError> {
        let ms = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= MAX_MS {
                Ok(())
            } else {
                Err(ScenarioError::invalid(
                    format!("{at}.{name}"),
                    v,
                    "must be more than 0 and at most 3600000 (one hour)",
                ))
            }
        };
        match *self {
            Latency::Fixed { ms: v } => ms("ms", v),
            Latency::Uniform { min_ms, max_ms } => {
                ms("min_ms", min_ms)?;
                ms("max_ms", max_ms)?;
                if max_ms < min_ms {
                    return Err(ScenarioError::invalid(
                        format!("{at}.max_ms"),
                        max_ms,
                        "must not be less than min_ms",
                    ));
                }
                Ok(())
            }
            Latency::Exponential { mean_ms } => ms("mean_ms", mean_ms),
            Latency::LogNormal { median_ms, sigma } => {
                ms("median_ms", median_ms)?;
                if !(sigma.is_finite() && (0.0..=3.0).contains(&sigma)) {
                    return Err(ScenarioError::invalid(
                        format!("{at}.sigma"),
                        sigma,
                        "must be between 0.0 and 3.0",
                    ));
                }
                Ok(())
            }
        }
    }
}
