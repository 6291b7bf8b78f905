//! [`WindowConfig`]: the length and resolution of the rolling windows, the bounds on their
//! memory, and the evidence a rule needs before it judges.

use std::time::Duration;

use autonomic_core::{ConfigError, WindowFigures, config};
use serde::{Deserialize, Serialize};

use super::WindowTotals;

/// How the rolling windows are cut and bounded.
///
/// The default, **60 s in 12 buckets of 5 s**, is chosen for a loop that runs every second:
/// an incident shows in the windowed rates within one loop interval, and is forgotten one
/// window (60 s, give or take one 5 s bucket) after it ends. The window holds 60 loop passes'
/// worth of evidence, enough that one slow pass does not decide a rule, and its last bucket
/// is the short window of the burn rate (5 s against 60 s: the 1:12 ratio of the
/// "multiwindow, multi-burn-rate" alerts of SRE practice, 5 minutes against 1 hour, scaled
/// down to a control loop). One scope (the runtime, a tenant, a pattern) costs 12 buckets of
/// 80 bytes.
///
/// In JSON and TOML the durations are whole milliseconds (`length_ms`, `slow_session_ms`).
/// Its `Deserialize` impl is its one loader: missing fields take their defaults, an unknown
/// or repeated field is refused, and every value is [validated](Self::validate) (run through
/// [`config::load`](autonomic_core::config::load), a refused value comes back as
/// [`ConfigError::InvalidField`]).
///
/// ```
/// use autonomic_aggregate::WindowConfig;
///
/// let config = WindowConfig::default();
/// assert_eq!(config.bucket_width().as_secs(), 5);
/// let err = WindowConfig { buckets: 0, ..WindowConfig::default() }.validate().unwrap_err();
/// assert_eq!(err.field(), Some("buckets"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Length of the window, milliseconds (`1 ..= 86_400_000`; default 60 000).
    pub length_ms: u64,
    /// Buckets the window is cut into (`1 ..= 3600`, and at least 1 ms each; default 12).
    pub buckets: u32,
    /// Buckets of the short window of the burn rate (`1 ..= buckets`; default 1).
    pub short_buckets: u32,
    /// Tenants with a window of their own; later ones share the `other` scope
    /// (`1 ..= 1_048_576`; default 1024).
    pub max_tenants: usize,
    /// Patterns with a window of their own; later ones share the `other` scope
    /// (`1 ..= 256`; default 256, every pattern).
    pub max_patterns: usize,
    /// Finished sessions a window must hold before the failure-rate rule judges it
    /// (default 20).
    pub min_finished_sessions: u64,
    /// Tasks a window must hold before the SLO-compliance rule judges it (default 100).
    pub min_tasks: u64,
    /// A session running longer than this counts as slow before it ends, milliseconds;
    /// 0 turns slow-session counting off (default 0).
    pub slow_session_ms: u64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            length_ms: 60_000,
            buckets: 12,
            short_buckets: 1,
            max_tenants: 1024,
            max_patterns: 256,
            min_finished_sessions: 20,
            min_tasks: 100,
            slow_session_ms: 0,
        }
    }
}

impl Serialize for WindowConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The derived field-by-field form (serde's `remote = "Self"`).
        WindowConfig::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for WindowConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The derived field-by-field form, then the checks.
        WindowConfig::deserialize(deserializer)?.validate().map_err(config::refused)
    }
}

impl WindowConfig {
    /// Longest window: one day.
    pub const MAX_LENGTH_MS: u64 = 86_400_000;
    /// Most buckets in a window.
    pub const MAX_BUCKETS: u32 = 3600;
    /// Most tenants with a window of their own.
    pub const MAX_TENANTS: usize = 1 << 20;

    /// Checks every field; the error names the first one refused.
    ///
    /// # Errors
    /// [`ConfigError::InvalidField`] for a value out of its range (see each field).
    pub fn validate(self) -> Result<Self, ConfigError> {
        config::nonzero("length_ms", self.length_ms)?;
        if self.length_ms > Self::MAX_LENGTH_MS {
            return Err(ConfigError::invalid(
                "length_ms",
                self.length_ms,
                "must be at most one day",
            ));
        }
        if self.buckets == 0 || self.buckets > Self::MAX_BUCKETS {
            return Err(ConfigError::invalid("buckets", self.buckets, "must be 1 to 3600"));
        }
        if self.length_ms < u64::from(self.buckets) {
            return Err(ConfigError::invalid(
                "buckets",
                self.buckets,
                "must leave each bucket at least 1 ms of length_ms",
            ));
        }
        if self.short_buckets == 0 || self.short_buckets > self.buckets {
            return Err(ConfigError::invalid(
                "short_buckets",
                self.short_buckets,
                "must be 1 to buckets",
            ));
        }
        if self.max_tenants == 0 || self.max_tenants > Self::MAX_TENANTS {
            return Err(ConfigError::invalid(
                "max_tenants",
                self.max_tenants,
                "must be 1 to 1048576",
            ));
        }
        if self.max_patterns == 0 || self.max_patterns > 256 {
            return Err(ConfigError::invalid(
                "max_patterns",
                self.max_patterns,
                "must be 1 to 256",
            ));
        }
        Ok(self)
    }

    /// The window's length.
    pub fn length(&self) -> Duration {
        Duration::from_millis(self.length_ms)
    }

    /// The length of one bucket (the window's resolution).
    pub fn bucket_width(&self) -> Duration {
        Duration::from_nanos(self.bucket_width_ns())
    }

    pub(crate) fn bucket_width_ns(&self) -> u64 {
        (self.length_ms.saturating_mul(1_000_000) / u64::from(self.buckets.max(1))).max(1)
    }

    /// The slow-session threshold, if slow sessions are counted.
    pub fn slow_session(&self) -> Option<Duration> {
        (self.slow_session_ms > 0).then(|| Duration::from_millis(self.slow_session_ms))
    }

    /// The figures of `totals`, judged with these minimum volumes (as every window is).
    pub fn figures(&self, totals: &WindowTotals) -> WindowFigures {
        let (counts, short, gauges) = (totals.counts, totals.short, totals.gauges);
        WindowFigures::new(counts, short, gauges, self.min_finished_sessions, self.min_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_names_its_field() {
        let d = WindowConfig::default();
        let cases = [
            (WindowConfig { length_ms: 0, ..d }, "length_ms"),
            (WindowConfig { length_ms: WindowConfig::MAX_LENGTH_MS + 1, ..d }, "length_ms"),
            (WindowConfig { buckets: 0, ..d }, "buckets"),
            (WindowConfig { buckets: 3601, ..d }, "buckets"),
            (WindowConfig { length_ms: 10, buckets: 11, short_buckets: 1, ..d }, "buckets"),
            (WindowConfig { short_buckets: 13, ..d }, "short_buckets"),
            (WindowConfig { short_buckets: 0, ..d }, "short_buckets"),
            (WindowConfig { max_tenants: 0, ..d }, "max_tenants"),
            (WindowConfig { max_patterns: 257, ..d }, "max_patterns"),
        ];
        for (config, field) in cases {
            assert_eq!(config.validate().unwrap_err().field(), Some(field), "{config:?}");
        }
        assert_eq!(d.validate(), Ok(d));
    }

    #[test]
    fn loads_from_json_with_defaults_and_refuses_unknown_fields() {
        let c: WindowConfig =
            serde_json::from_str(r#"{"length_ms": 30000, "buckets": 6}"#).unwrap();
        assert_eq!(c.bucket_width(), Duration::from_secs(5));
        assert_eq!(c.min_finished_sessions, 20);
        assert!(serde_json::from_str::<WindowConfig>(r#"{"lenght_ms": 1}"#).is_err());
        assert!(serde_json::from_str::<WindowConfig>(r#"{"buckets": 1, "buckets": 2}"#).is_err());
        let refused = config::load("json", || {
            serde_json::from_str::<WindowConfig>(r#"{"short_buckets": 13}"#)
        });
        assert_eq!(refused.unwrap_err().field(), Some("short_buckets"));
    }
}
