//! [`GlobalQ`]: the doctrine every local adaptation must respect.

use serde::{Deserialize, Serialize};

use crate::config::{self, ConfigError};

/// The global doctrine ("Global Q"): bounds that no local adaptation may break.
///
/// Values are validated by [`GlobalQ::validate`], by [`GlobalQ::new`], and whenever a `GlobalQ`
/// is deserialized (a document with NaN, negative or out-of-range values, or an unknown field,
/// is refused with the field's name).
///
/// # Loading
/// Its `Deserialize` impl is its one loader, in any serde format: missing fields take their
/// defaults, an unknown or repeated field is refused, every value is validated. Run through
/// [`config::load`], a refused value comes back as [`ConfigError::InvalidField`] and a parse
/// failure as a bounded [`ConfigError::Parse`]; the configurations that hold a `GlobalQ` (the
/// runtime's `global_q` section) load it this way.
///
/// ```
/// use autonomic_core::GlobalQ;
/// let q = GlobalQ::default();
/// assert_eq!((q.max_total_resources, q.max_concurrent_adaptations), (0.9, 10));
/// assert_eq!((q.min_slo_compliance, q.max_failure_rate), (0.95, 0.05));
///
/// let err = serde_json::from_str::<GlobalQ>(r#"{"max_total_resources": 1.5,
///     "max_concurrent_adaptations": 10, "min_slo_compliance": 0.95, "max_failure_rate": 0.05}"#)
///     .unwrap_err();
/// assert!(err.to_string().contains("max_total_resources"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GlobalQ {
    /// Largest sum of resources granted to live sessions, as a fraction of capacity
    /// (`0.0..=1.0`; default 0.9).
    pub max_total_resources: f64,
    /// Most adaptations admitted and not yet finished at any instant (default 10). `0` is
    /// the "adaptation off" switch: every proposal is then refused by this rule (counted,
    /// traced and emitted like any refusal).
    pub max_concurrent_adaptations: u64,
    /// Adaptations are refused while global SLO compliance is below this (`0.0..=1.0`;
    /// default 0.95).
    pub min_slo_compliance: f64,
    /// Adaptations are refused while the global failure rate is above this (`0.0..=1.0`;
    /// default 0.05).
    pub max_failure_rate: f64,
}

impl Default for GlobalQ {
    fn default() -> Self {
        GlobalQ {
            max_total_resources: 0.9,
            max_concurrent_adaptations: 10,
            min_slo_compliance: 0.95,
            max_failure_rate: 0.05,
        }
    }
}

impl GlobalQ {
    /// A validated doctrine.
    pub fn new(
        max_total_resources: f64,
        max_concurrent_adaptations: u64,
        min_slo_compliance: f64,
        max_failure_rate: f64,
    ) -> Result<Self, ConfigError> {
        let q = GlobalQ {
            max_total_resources,
            max_concurrent_adaptations,
            min_slo_compliance,
            max_failure_rate,
        };
        q.validate()?;
        Ok(q)
    }

    /// Whether `max_concurrent_adaptations` is 0: every proposal will be refused.
    pub const fn adaptation_off(&self) -> bool {
        self.max_concurrent_adaptations == 0
    }

    /// Checks every field; the error names the first one refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        config::fraction("max_total_resources", self.max_total_resources)?;
        // Any count is valid: 0 switches adaptation off (see the field).
        config::fraction("min_slo_compliance", self.min_slo_compliance)?;
        config::fraction("max_failure_rate", self.max_failure_rate)?;
        Ok(())
    }
}

/// The unvalidated shape `GlobalQ` is read from.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GlobalQFields {
    #[serde(default = "defaults::max_total_resources")]
    max_total_resources: f64,
    #[serde(default = "defaults::max_concurrent_adaptations")]
    max_concurrent_adaptations: u64,
    #[serde(default = "defaults::min_slo_compliance")]
    min_slo_compliance: f64,
    #[serde(default = "defaults::max_failure_rate")]
    max_failure_rate: f64,
}

mod defaults {
    use super::GlobalQ;
    pub(super) fn max_total_resources() -> f64 {
        GlobalQ::default().max_total_resources
    }
    pub(super) fn max_concurrent_adaptations() -> u64 {
        GlobalQ::default().max_concurrent_adaptations
    }
    pub(super) fn min_slo_compliance() -> f64 {
        GlobalQ::default().min_slo_compliance
    }
    pub(super) fn max_failure_rate() -> f64 {
        GlobalQ::default().max_failure_rate
    }
}

impl<'de> Deserialize<'de> for GlobalQ {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        GlobalQ::try_from(config::from_map::<GlobalQFields, _>(deserializer)?)
            .map_err(config::refused)
    }
}

impl TryFrom<GlobalQFields> for GlobalQ {
    type Error = ConfigError;
    fn try_from(f: GlobalQFields) -> Result<Self, ConfigError> {
        GlobalQ::new(
            f.max_total_resources,
            f.max_concurrent_adaptations,
            f.min_slo_compliance,
            f.max_failure_rate,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_each_bad_field_by_name() {
        let cases: [(GlobalQ, &str); 5] = [
            (
                GlobalQ { max_total_resources: f64::NAN, ..GlobalQ::default() },
                "max_total_resources",
            ),
            (GlobalQ { max_total_resources: -0.1, ..GlobalQ::default() }, "max_total_resources"),
            (GlobalQ { min_slo_compliance: 1.01, ..GlobalQ::default() }, "min_slo_compliance"),
            (GlobalQ { max_failure_rate: f64::INFINITY, ..GlobalQ::default() }, "max_failure_rate"),
            (GlobalQ { max_failure_rate: -1.0, ..GlobalQ::default() }, "max_failure_rate"),
        ];
        for (q, field) in cases {
            assert_eq!(q.validate().unwrap_err().field(), Some(field), "{q:?}");
        }
        assert!(GlobalQ::default().validate().is_ok());
    }

    #[test]
    fn zero_concurrent_adaptations_is_the_off_switch() {
        let off = GlobalQ::new(0.9, 0, 0.95, 0.05).unwrap();
        assert!(off.adaptation_off());
        assert!(!GlobalQ::default().adaptation_off());
        let q: GlobalQ = serde_json::from_str(r#"{"max_concurrent_adaptations": 0}"#).unwrap();
        assert_eq!(q, off);
    }

    #[test]
    fn json_defaults_missing_fields_and_refuses_unknown_ones() {
        let q: GlobalQ = serde_json::from_str(r#"{"max_concurrent_adaptations": 3}"#).unwrap();
        assert_eq!(q, GlobalQ { max_concurrent_adaptations: 3, ..GlobalQ::default() });
        assert!(serde_json::from_str::<GlobalQ>(r#"{"max_concurent_adaptations": 3}"#).is_err());
        assert!(serde_json::from_str::<GlobalQ>(r#"{"max_failure_rate": -0.5}"#).is_err());
    }

    #[test]
    fn loading_refuses_lists_and_repeated_fields_and_keeps_refusals_typed() {
        let load = |doc: &str| config::load("json", || serde_json::from_str::<GlobalQ>(doc));
        let err = load("[0.9, 10, 0.95, 0.05]").unwrap_err();
        assert!(err.to_string().contains("table of fields"), "{err}");
        let err = load(r#"{"max_failure_rate": 0.1, "max_failure_rate": 0.2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate field `max_failure_rate`"), "{err}");
        assert_eq!(
            load(r#"{"min_slo_compliance": 2}"#).unwrap_err().field(),
            Some("min_slo_compliance")
        );
        let err = load(&format!(r#"{{"{}": 1}}"#, "k".repeat(10 << 20))).unwrap_err();
        assert!(err.to_string().len() < 2048, "{} bytes", err.to_string().len());
    }
}
