//! [`SessionAdapterConfig`], and [`load_json`]: the JSON front end of every configuration
//! document of the crate (each reads through the crate's one document loader, the
//! `validated_document!` macro).
//!
//! Every value is validated when an adapter is built with it and whenever it is deserialized,
//! from any format; a refused value comes back as core's [`ConfigError::InvalidField`] naming
//! the field and the value, a document that does not parse (syntax, unknown or repeated
//! field, wrong type) as a bounded [`ConfigError::Parse`]. Nothing here panics on bad input.
//!
//! [`GlobalQ`](autonomic_core::GlobalQ) loads through its own `Deserialize` impl, in core, next
//! to its validation: `config::load("toml", || toml::from_str::<GlobalQ>(text))`, with
//! core's [`config::load`](autonomic_core::config::load).

use autonomic_core::config::{self as check, ConfigError};

use crate::KnowledgeRules;
use serde::{Deserialize, Serialize};

/// Thresholds of the default policy and the bounds of the adapter's buffers.
///
/// The first five fields and their defaults are those of the quick reference.
///
/// ```
/// use autonomic_adapter::SessionAdapterConfig;
/// let config = SessionAdapterConfig::from_toml_str("max_retries = 5\nmin_samples = 20")?;
/// assert_eq!((config.max_retries, config.min_samples), (5, 20));
/// assert_eq!(config.max_violation_rate, 0.1); // defaults fill the rest
///
/// let err = SessionAdapterConfig::from_json_str(r#"{"max_violation_rate": 1.5}"#).unwrap_err();
/// assert_eq!(err.to_string(), "max_violation_rate = 1.5: must be between 0.0 and 1.0");
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct SessionAdapterConfig {
    /// More retries than this on one session triggers `RetryTask` with backoff (default 3).
    pub max_retries: u64,
    /// A violation rate (violations per task) above this triggers degradation, from
    /// [`min_samples`](Self::min_samples) tasks on (`0.0..=1.0`; default 0.1).
    pub max_violation_rate: f64,
    /// A mean task latency above this (µs) triggers `RequestResources`, from `min_samples`
    /// tasks on (`>= 1`; default 100 000).
    pub max_latency_us: u64,
    /// Whether a high violation rate degrades the session automatically; when `false` it is
    /// only logged (`LogAndContinue`) (default true).
    pub enable_auto_degrade: bool,
    /// Whether the knowledge-based rules of Global Q (`min_slo_compliance`,
    /// `max_failure_rate`) are checked. The capacity rules (`max_concurrent_adaptations`,
    /// `max_total_resources`) are invariants and always enforced (default true).
    pub verify_global_q: bool,
    /// Tasks a session must have completed before a rate (violations, mean latency) may
    /// trigger an action: one failure in two tasks is not a 50% violation rate (`>= 1`;
    /// default 10).
    pub min_samples: u64,
    /// First retry backoff, milliseconds; doubles with each retry over the limit (`>= 1`;
    /// default 100).
    pub retry_base_backoff_ms: u64,
    /// Longest retry backoff, milliseconds (`>= retry_base_backoff_ms`; default 30 000).
    pub retry_max_backoff_ms: u64,
    /// Fraction of capacity one `RequestResources` asks for (`0.0 < step <= 1.0`; default
    /// 0.05).
    pub resource_step: f64,
    /// Decisions kept per session, newest last (`1..=4096`; default 32).
    pub history_per_session: usize,
    /// Sessions whose history is kept at once (`1..=16777216`; default 65 536). Past it, the
    /// decisions of sessions not yet tracked are not recorded (counted in
    /// [`AdapterStats::untracked_decisions`](crate::AdapterStats::untracked_decisions)); the
    /// resource grant of such a session is held by the session alone (it still comes back
    /// when the session ends, but `granted_to` and `release_session` do not see it).
    pub max_tracked_sessions: usize,
    /// Events buffered until drained (`1..=1048576`; default 4096). When full, the oldest
    /// event is dropped and counted.
    pub event_capacity: usize,
    /// Which kinds of action each knowledge rule judges (default: only those that consume
    /// capacity, `RetryTask` and `RequestResources`; see [`KnowledgeRules`]). In documents, the
    /// `knowledge_rules` table.
    pub knowledge_rules: KnowledgeRules,
    /// When set, the default policy sheds instead of retrying while the session's cohort
    /// fails: a session past `max_retries` whose pattern's or tenant's window fails at or
    /// above this rate (judged, from the windows' minimum volume) is proposed
    /// `DegradePerformance` rather than `RetryTask` (see
    /// [`ThresholdPolicy`](crate::ThresholdPolicy)). `0.0 < x <= 1.0`; default none (off).
    pub shed_retries_at_cohort_failure_rate: Option<f64>,
}

impl Default for SessionAdapterConfig {
    fn default() -> Self {
        SessionAdapterConfig {
            max_retries: 3,
            max_violation_rate: 0.1,
            max_latency_us: 100_000,
            enable_auto_degrade: true,
            verify_global_q: true,
            min_samples: 10,
            retry_base_backoff_ms: 100,
            retry_max_backoff_ms: 30_000,
            resource_step: 0.05,
            history_per_session: 32,
            max_tracked_sessions: 65_536,
            event_capacity: 4096,
            knowledge_rules: KnowledgeRules::default(),
            shed_retries_at_cohort_failure_rate: None,
        }
    }
}

impl SessionAdapterConfig {
    /// Largest `history_per_session`.
    pub const MAX_HISTORY_PER_SESSION: usize = 4096;
    /// Largest `max_tracked_sessions`.
    pub const MAX_TRACKED_SESSIONS: usize = 1 << 24;
    /// Largest `event_capacity` (the buffer is allocated up front).
    pub const MAX_EVENT_CAPACITY: usize = 1 << 20;

    /// Checks every field; the error names the first one refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::fraction("max_violation_rate", self.max_violation_rate)?;
        check::nonzero("max_latency_us", self.max_latency_us)?;
        check::nonzero("min_samples", self.min_samples)?;
        check::nonzero("retry_base_backoff_ms", self.retry_base_backoff_ms)?;
        if self.retry_max_backoff_ms < self.retry_base_backoff_ms {
            return Err(ConfigError::invalid(
                "retry_max_backoff_ms",
                self.retry_max_backoff_ms,
                "must be at least retry_base_backoff_ms",
            ));
        }
        check::positive("resource_step", self.resource_step)?;
        check::fraction("resource_step", self.resource_step)?;
        within("history_per_session", self.history_per_session, Self::MAX_HISTORY_PER_SESSION)?;
        within("max_tracked_sessions", self.max_tracked_sessions, Self::MAX_TRACKED_SESSIONS)?;
        within("event_capacity", self.event_capacity, Self::MAX_EVENT_CAPACITY)?;
        if let Some(rate) = self.shed_retries_at_cohort_failure_rate {
            check::positive("shed_retries_at_cohort_failure_rate", rate)?;
            check::fraction("shed_retries_at_cohort_failure_rate", rate)?;
        }
        Ok(())
    }

    /// The configuration as pretty JSON.
    pub fn to_json_string(&self) -> String {
        // Serializing plain numbers and booleans cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The configuration as TOML.
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(check::parse_error("toml"))
    }
}

crate::validated::validated_document!(SessionAdapterConfig);

/// `value` is in `1..=max`.
pub(crate) fn within(field: &'static str, value: usize, max: usize) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::invalid(field, value, "must be greater than zero"))
    } else if value > max {
        Err(ConfigError::invalid(field, value, "is larger than the documented maximum"))
    } else {
        Ok(())
    }
}

/// Reads a JSON document into `T`, a configuration type whose `Deserialize` impl validates
/// (a [`GlobalQ`](autonomic_core::GlobalQ), a [`SessionAdapterConfig`], a configuration
/// holding them): the JSON front end of core's [`config::load`](check::load).
///
/// A refused value comes back typed ([`ConfigError::InvalidField`]). A document that does not
/// parse is a bounded [`ConfigError::Parse`] whose message starts with the path of the field
/// at fault (`serde_json` alone gives a line and column): the document is parsed again, as a
/// plain value, only on that error path, to find it.
///
/// ```
/// use autonomic_adapter::config::load_json;
/// use autonomic_core::{ConfigError, GlobalQ};
/// let q: GlobalQ = load_json(r#"{"max_total_resources": 0.5}"#)?;
/// assert_eq!(q.max_total_resources, 0.5);
/// let err = load_json::<GlobalQ>(r#"{"max_failure_rate": -0.5}"#).unwrap_err();
/// assert_eq!(err.field(), Some("max_failure_rate"));
/// let err = load_json::<GlobalQ>(r#"{"min_slo_compliance": "high"}"#).unwrap_err();
/// assert!(err.to_string().contains("min_slo_compliance: invalid type"));
/// # Ok::<(), ConfigError>(())
/// ```
pub fn load_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, ConfigError> {
    let message = match check::load("json", || serde_json::from_str::<T>(json)) {
        Err(ConfigError::Parse { message, .. }) => message,
        typed => return typed,
    };
    let named = |path: &str| ConfigError::parse("json", format!("{}: {message}", short(path)));
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(fields)) => Err(match culprit::<T>(&fields) {
            Some(path) => named(&path),
            None => ConfigError::parse("json", message),
        }),
        Ok(value) => {
            Err(ConfigError::parse("json", format!("expected an object of fields, found {value}")))
        }
        // A number too large for an f64 fails before any field is known: name the key it
        // follows.
        Err(e) if e.to_string().starts_with("number out of range") => {
            Err(match key_before(json, e.line(), e.column()) {
                Some(key) => named(key),
                None => ConfigError::parse("json", message),
            })
        }
        Err(_) => Err(ConfigError::parse("json", message)),
    }
}

/// The path (`section.field`) of the field of `fields` whose value alone `T` refuses: the
/// first top-level field that fails alone, then, inside it, the first of its fields that
/// fails alone, and so on down. (Each field of a configuration is optional, so one field
/// alone is a document of its own.)
fn culprit<T: serde::de::DeserializeOwned>(
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    let refused = |path: &[&str], value: &serde_json::Value| {
        let doc = path.iter().rev().fold(value.clone(), |inner, key| {
            serde_json::Value::Object(serde_json::Map::from_iter([((*key).to_owned(), inner)]))
        });
        serde_json::from_value::<T>(doc).is_err()
    };
    let mut path: Vec<&str> = Vec::new();
    let mut level = fields;
    loop {
        let found = level.iter().find(|(name, value)| {
            let mut at = path.clone();
            at.push(name.as_str());
            refused(&at, value)
        });
        let Some((name, value)) = found else {
            return (!path.is_empty()).then(|| path.join("."));
        };
        path.push(name);
        match value {
            serde_json::Value::Object(inner) => level = inner,
            _ => return Some(path.join(".")),
        }
    }
}

/// The last object key before `line:column` (1-based, as `serde_json` reports them).
fn key_before(json: &str, line: usize, column: usize) -> Option<&str> {
    let line_start: usize =
        json.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let mut end = (line_start + column).min(json.len());
    while !json.is_char_boundary(end) {
        end -= 1;
    }
    let before = &json[..end];
    let colon = before.rfind(':')?;
    let key = before[..colon].trim_end().strip_suffix('"')?;
    let open = key.rfind('"')?;
    Some(&key[open + 1..])
}

/// A field's path as quoted in a message: at most 64 bytes.
fn short(name: &str) -> String {
    let mut cut = name.len().min(64);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut < name.len() { format!("{}...", &name[..cut]) } else { name.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_quick_reference_ones_and_valid() {
        let c = SessionAdapterConfig::default();
        assert_eq!((c.max_retries, c.max_violation_rate, c.max_latency_us), (3, 0.1, 100_000));
        assert!(c.enable_auto_degrade && c.verify_global_q);
        c.validate().unwrap();
    }

    #[test]
    fn every_bad_field_is_named_with_its_value() {
        let d = SessionAdapterConfig::default;
        let cases: Vec<(SessionAdapterConfig, &str, &str)> = vec![
            (
                SessionAdapterConfig { max_violation_rate: f64::NAN, ..d() },
                "max_violation_rate",
                "NaN",
            ),
            (
                SessionAdapterConfig { max_violation_rate: -0.2, ..d() },
                "max_violation_rate",
                "-0.2",
            ),
            (
                SessionAdapterConfig { max_violation_rate: 1.01, ..d() },
                "max_violation_rate",
                "1.01",
            ),
            (SessionAdapterConfig { max_latency_us: 0, ..d() }, "max_latency_us", "0"),
            (SessionAdapterConfig { min_samples: 0, ..d() }, "min_samples", "0"),
            (
                SessionAdapterConfig { retry_base_backoff_ms: 0, ..d() },
                "retry_base_backoff_ms",
                "0",
            ),
            (
                SessionAdapterConfig { retry_max_backoff_ms: 50, ..d() },
                "retry_max_backoff_ms",
                "50",
            ),
            (SessionAdapterConfig { resource_step: 0.0, ..d() }, "resource_step", "0"),
            (SessionAdapterConfig { resource_step: 2.0, ..d() }, "resource_step", "2"),
            (SessionAdapterConfig { history_per_session: 0, ..d() }, "history_per_session", "0"),
            (
                SessionAdapterConfig { max_tracked_sessions: usize::MAX, ..d() },
                "max_tracked_sessions",
                "18446744073709551615",
            ),
            (SessionAdapterConfig { event_capacity: 0, ..d() }, "event_capacity", "0"),
            (
                SessionAdapterConfig { event_capacity: (1 << 20) + 1, ..d() },
                "event_capacity",
                "1048577",
            ),
            (
                SessionAdapterConfig { shed_retries_at_cohort_failure_rate: Some(0.0), ..d() },
                "shed_retries_at_cohort_failure_rate",
                "0",
            ),
            (
                SessionAdapterConfig { shed_retries_at_cohort_failure_rate: Some(1.5), ..d() },
                "shed_retries_at_cohort_failure_rate",
                "1.5",
            ),
        ];
        for (config, field, value) in cases {
            match config.validate().unwrap_err() {
                ConfigError::InvalidField { field: f, value: v, .. } => {
                    assert_eq!((f, v.as_str()), (field, value))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn documents_round_trip_and_bad_ones_are_refused() {
        let c = SessionAdapterConfig {
            max_retries: 7,
            enable_auto_degrade: false,
            ..Default::default()
        };
        assert_eq!(SessionAdapterConfig::from_json_str(&c.to_json_string()).unwrap(), c);
        assert_eq!(SessionAdapterConfig::from_toml_str(&c.to_toml_string().unwrap()).unwrap(), c);
        let shedding =
            SessionAdapterConfig { shed_retries_at_cohort_failure_rate: Some(0.5), ..c.clone() };
        assert_eq!(
            SessionAdapterConfig::from_toml_str(&shedding.to_toml_string().unwrap()).unwrap(),
            shedding
        );
        assert_eq!(
            SessionAdapterConfig::from_json_str(&shedding.to_json_string()).unwrap(),
            shedding
        );
        // Also through plain serde.
        let via_serde: SessionAdapterConfig = serde_json::from_str(&c.to_json_string()).unwrap();
        assert_eq!(via_serde, c);
        assert!(serde_json::from_str::<SessionAdapterConfig>(r#"{"min_samples": 0}"#).is_err());

        for (toml, field) in [
            ("max_violation_rate = nan", "max_violation_rate"),
            ("max_violation_rate = -inf", "max_violation_rate"),
            ("event_capacity = 0", "event_capacity"),
        ] {
            assert_eq!(SessionAdapterConfig::from_toml_str(toml).unwrap_err().field(), Some(field));
        }
        for (doc, field) in [
            (r#"{"max_retries": "three"}"#, "max_retries"),
            (r#"{"min_samples": 3, "max_violation_rate": null}"#, "max_violation_rate"),
            (r#"{"event_capacity": -1}"#, "event_capacity"),
            ("{\n  \"min_samples\": 3,\n  \"resource_step\": 1e400\n}", "resource_step"),
            (r#"{"max_retrys": 3}"#, "max_retrys"),
        ] {
            let err = SessionAdapterConfig::from_json_str(doc).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Parse { message, .. } if message.contains(field)),
                "{doc}: {err}"
            );
        }
        let huge = format!(r#"{{"{}": 1}}"#, "k".repeat(100_000));
        match SessionAdapterConfig::from_json_str(&huge) {
            Err(ConfigError::Parse { message, .. }) => {
                assert!(message.len() < 1_100, "{}", message.len())
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            SessionAdapterConfig::from_json_str("[1]"),
            Err(ConfigError::Parse { format: "json", .. })
        ));
        for (doc, is_json) in [
            (r#"{"max_retrys": 3}"#, true),
            (r#"{"max_retries": -1}"#, true),
            ("{", true),
            ("max_retries = -1", false),
            ("max_retries = \"three\"", false),
            ("[[[", false),
        ] {
            let err = if is_json {
                SessionAdapterConfig::from_json_str(doc)
            } else {
                SessionAdapterConfig::from_toml_str(doc)
            }
            .unwrap_err();
            assert!(matches!(err, ConfigError::Parse { .. }), "{doc}: {err:?}");
        }
    }
}
