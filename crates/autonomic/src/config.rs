//! [`RuntimeConfig`]: the loop's interval and retention, the adapter's configuration and the
//! initial Global Q; validated, and loadable from JSON or TOML.

use std::time::Duration;

use autonomic_adapter::Budgets;
use autonomic_adapter::SessionAdapterConfig;
use autonomic_adapter::breaker::BreakerConfig;
use autonomic_adapter::concurrency::ConcurrencyConfig;
use autonomic_adapter::config::load_json;
use autonomic_aggregate::WindowConfig;
use autonomic_core::GlobalQ;
use autonomic_core::config::{self as check, ConfigError};
use serde::{Deserialize, Serialize};

/// Everything an [`AutonomicRuntime`](crate::AutonomicRuntime) is configured with.
///
/// * `interval`: time between two iterations of the loop (`1 ms ..= 1 h`; default 1 s);
/// * `retention`: how long a finished session stays in the table before the loop removes it
///   (`0 ..= 30 days`; default 1 h, the quick reference's cleanup age; zero removes every
///   finished session at the next iteration);
/// * `adapter`: thresholds of the default policy and the adapter's bounds
///   ([`SessionAdapterConfig`]);
/// * `global_q`: the doctrine the adapter starts with ([`GlobalQ`]; hot-swappable later with
///   [`SessionAdapter::update_global_q`](crate::SessionAdapter::update_global_q)).
/// * `breaker`, `adaptive_concurrency`: the cohort breakers
///   ([`BreakerConfig`]) and the adaptive concurrency limit ([`ConcurrencyConfig`]), each off
///   unless its section is present.
/// * `budgets`: the budgets below Q, tenant shares and the retry budget
///   ([`Budgets`](autonomic_adapter::Budgets); none by default; hot-swappable later with
///   [`SessionAdapter::update_budgets`](crate::SessionAdapter::update_budgets)).
/// * `sweep_threads`: how many threads the loop's pass over the table runs on
///   ([`SweepThreads`]; default [`Auto`](SweepThreads::Auto): split over up to 4 cores once
///   the table holds 32K sessions).
///
/// Every value is checked by [`validate`](Self::validate) (the runtime's builder calls it),
/// and whenever a document is loaded. A refused value is a
/// [`ConfigError::InvalidField`] naming the field as it is spelled in documents.
///
/// # Documents
/// In JSON and TOML the durations are whole milliseconds, `interval_ms` and `retention_ms`;
/// the adapter's configuration and Global Q are nested under `adapter` and `global_q`.
/// Missing fields take their defaults; unknown and repeated fields are refused, at the top
/// and in each section. The document is parsed once: each section is read by its type's own
/// validating `Deserialize` impl (the adapter's configuration by the adapter, Global Q by
/// core), so a refused value comes back as [`ConfigError::InvalidField`] naming it, and a
/// parse failure as a [`ConfigError::Parse`] whose message is bounded (1 KB), however large
/// the input it quotes (in JSON, it starts with the path of the field at fault,
/// `adapter.max_retries: ...`).
///
/// ```
/// use std::time::Duration;
/// use autonomic::{ConfigError, RuntimeConfig};
///
/// let config = RuntimeConfig::from_toml_str(r#"
///     interval_ms = 250
///     retention_ms = 60000
///
///     [adapter]
///     max_retries = 5
///
///     [global_q]
///     max_failure_rate = 0.1
/// "#)?;
/// assert_eq!(config.interval, Duration::from_millis(250));
/// assert_eq!(config.retention, Duration::from_secs(60));
/// assert_eq!(config.adapter.max_retries, 5);
/// assert_eq!(config.global_q.max_failure_rate, 0.1);
///
/// let err = RuntimeConfig::from_json_str(r#"{"interval_ms": 0}"#).unwrap_err();
/// assert_eq!(err.field(), Some("interval_ms"));
/// assert_eq!(err.to_string(), "interval_ms = 0: must be greater than zero");
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Time between two iterations of the loop (`interval_ms` in documents).
    pub interval: Duration,
    /// How long a finished session stays in the table (`retention_ms` in documents).
    pub retention: Duration,
    /// The adapter's configuration.
    pub adapter: SessionAdapterConfig,
    /// The doctrine the adapter starts with.
    pub global_q: GlobalQ,
    /// The rolling windows the loop keeps and publishes (`windows` section in documents).
    pub windows: WindowConfig,
    /// The cohort breakers, if on (`breaker` section in documents; off by default). The loop
    /// lets them judge each knowledge generation it publishes.
    pub breaker: Option<BreakerConfig>,
    /// The adaptive concurrency limit, if on (`adaptive_concurrency` section in documents;
    /// off by default). The loop steps it once per knowledge generation it publishes.
    pub adaptive_concurrency: Option<ConcurrencyConfig>,
    /// The budgets below Q the adapter starts with: tenant shares and the retry budget
    /// (`budgets` section in documents; none by default).
    pub budgets: Budgets,
    /// How many threads the loop's pass over the table runs on (`sweep_threads` in
    /// documents: 0 for [`Auto`](SweepThreads::Auto), else the count).
    pub sweep_threads: SweepThreads,
}

/// How many threads the loop's pass over the table (its sweep: read every session, fold it
/// into the aggregate, remove those past the retention) runs on.
///
/// The pass is one visit of the table whose sessions are independent, so it splits into
/// parts, one thread each, that take chunks of the table as they come (so a thread that
/// starts late leaves its share to the others), each read and folded into the part's own
/// state, merged once at the end (see
/// [`SessionTable::sweep_readings_split`](crate::SessionTable::sweep_readings_split) and
/// [`Aggregation::run_split`](crate::aggregate::Aggregation::run_split)). The trade: about
/// the same CPU time per iteration (plus a thread start per extra part, tens of µs, a merge
/// in O(tenants × patterns), and cores stalling on memory at once: measured on 2 vCPUs, +5%
/// to +8% at 1M sessions and +12% to +31% at 100K), spent on more cores at once, so an
/// iteration takes about its share of that time per core (1.4x to 1.9x shorter on 2 vCPUs;
/// `docs/performance.md`). The knowledge published and the loop's report are those of a
/// single-threaded pass (the resources released are a float sum, equal up to rounding).
///
/// ```
/// use autonomic::{RuntimeConfig, SweepThreads};
///
/// // Small tables are swept on the loop's thread; a large one over the cores (up to 4).
/// assert_eq!(SweepThreads::Auto.parts(1_000, 2), 1);
/// assert_eq!(SweepThreads::Auto.parts(1_000_000, 2), 2);
/// assert_eq!(SweepThreads::Auto.parts(1_000_000, 64), 4);
/// assert_eq!(SweepThreads::Exactly(3).parts(10, 2), 3);
/// let config = RuntimeConfig::from_toml_str("sweep_threads = 2")?;
/// assert_eq!(config.sweep_threads, SweepThreads::Exactly(2));
/// let err = RuntimeConfig::from_toml_str("sweep_threads = 100").unwrap_err();
/// assert_eq!(err.field(), Some("sweep_threads"));
/// # Ok::<(), autonomic::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SweepThreads {
    /// Split once the table holds [`AUTO_FROM_SESSIONS`](Self::AUTO_FROM_SESSIONS)
    /// sessions, over as many threads as the process may run at once
    /// ([`std::thread::available_parallelism`], read when the runtime is built), at most
    /// [`AUTO_MAX`](Self::AUTO_MAX).
    #[default]
    Auto,
    /// Always this many (`1 ..= MAX`); 1 never splits.
    Exactly(usize),
}

impl SweepThreads {
    /// Most threads a sweep may be split over: beyond a few cores, the merge and the thread
    /// starts outgrow the share of the pass they save.
    pub const MAX: usize = 16;
    /// Most threads [`Auto`](Self::Auto) splits over.
    pub const AUTO_MAX: usize = 4;
    /// Sessions from which [`Auto`](Self::Auto) splits: below, starting threads (tens of µs)
    /// costs about what splitting the pass saves.
    pub const AUTO_FROM_SESSIONS: usize = 32_768;

    /// How many parts a sweep of a table of `sessions` is split into, on a process that may
    /// run `cores` threads at once.
    pub fn parts(self, sessions: usize, cores: usize) -> usize {
        match self {
            SweepThreads::Auto if sessions >= Self::AUTO_FROM_SESSIONS => {
                cores.clamp(1, Self::AUTO_MAX)
            }
            SweepThreads::Auto => 1,
            SweepThreads::Exactly(n) => n.clamp(1, Self::MAX),
        }
    }

    /// The count in documents: 0 for `Auto`.
    fn to_document(self) -> usize {
        match self {
            SweepThreads::Auto => 0,
            SweepThreads::Exactly(n) => n,
        }
    }

    fn from_document(n: usize) -> Self {
        if n == 0 { SweepThreads::Auto } else { SweepThreads::Exactly(n) }
    }

    fn validate(self) -> Result<(), ConfigError> {
        match self {
            SweepThreads::Exactly(n) if !(1..=Self::MAX).contains(&n) => {
                // The message is a `&'static str`: it names `MAX`'s value, checked here.
                const _: () = assert!(SweepThreads::MAX == 16);
                Err(ConfigError::invalid("sweep_threads", n, "must be 0 (auto) or 1 to 16 threads"))
            }
            _ => Ok(()),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            interval: Duration::from_secs(1),
            retention: Duration::from_secs(3600),
            adapter: SessionAdapterConfig::default(),
            global_q: GlobalQ::default(),
            windows: WindowConfig::default(),
            breaker: None,
            adaptive_concurrency: None,
            budgets: Budgets::default(),
            sweep_threads: SweepThreads::Auto,
        }
    }
}

impl RuntimeConfig {
    /// Shortest loop interval.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
    /// Longest loop interval: a loop that runs less often than this is not a control loop.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
    /// Longest retention: finished sessions kept longer than this would only grow the table.
    pub const MAX_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

    /// Sets the loop interval (checked by [`validate`](Self::validate)).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the retention of finished sessions (checked by [`validate`](Self::validate)).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Sets the adapter's configuration (checked by [`validate`](Self::validate)).
    pub fn with_adapter(mut self, adapter: SessionAdapterConfig) -> Self {
        self.adapter = adapter;
        self
    }

    /// Sets the initial Global Q (checked by [`validate`](Self::validate)).
    pub fn with_global_q(mut self, global_q: GlobalQ) -> Self {
        self.global_q = global_q;
        self
    }

    /// Sets the rolling windows (checked by [`validate`](Self::validate)).
    pub fn with_windows(mut self, windows: WindowConfig) -> Self {
        self.windows = windows;
        self
    }

    /// Sets how many threads the loop's sweep runs on (checked by
    /// [`validate`](Self::validate)).
    pub fn with_sweep_threads(mut self, sweep_threads: SweepThreads) -> Self {
        self.sweep_threads = sweep_threads;
        self
    }

    /// Checks every field; the error names the first one refused.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic::RuntimeConfig;
    /// let slow = RuntimeConfig::default().with_interval(Duration::from_secs(2 * 3600));
    /// assert_eq!(slow.validate().unwrap_err().field(), Some("interval_ms"));
    /// let hoarding = RuntimeConfig::default().with_retention(Duration::from_secs(90 * 86400));
    /// assert_eq!(hoarding.validate().unwrap_err().field(), Some("retention_ms"));
    /// assert!(RuntimeConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.is_zero() {
            return Err(ConfigError::invalid("interval_ms", 0, "must be greater than zero"));
        }
        if self.interval < Self::MIN_INTERVAL {
            return Err(ConfigError::invalid(
                "interval_ms",
                millis(self.interval),
                "must be at least 1 ms",
            ));
        }
        if self.interval > Self::MAX_INTERVAL {
            return Err(ConfigError::invalid(
                "interval_ms",
                millis(self.interval),
                "must be at most 3600000 ms (one hour)",
            ));
        }
        if self.retention > Self::MAX_RETENTION {
            return Err(ConfigError::invalid(
                "retention_ms",
                millis(self.retention),
                "must be at most 2592000000 ms (30 days)",
            ));
        }
        self.adapter.validate()?;
        self.global_q.validate()?;
        self.windows.validate()?;
        self.breaker.as_ref().map_or(Ok(()), BreakerConfig::validate)?;
        self.adaptive_concurrency.as_ref().map_or(Ok(()), ConcurrencyConfig::validate)?;
        self.budgets.validate()?;
        self.sweep_threads.validate()?;
        Ok(())
    }

    /// Reads and validates a JSON document (see [Documents](Self#documents)).
    pub fn from_json_str(json: &str) -> Result<Self, ConfigError> {
        load_json(json)
    }

    /// Reads and validates a TOML document (see [Documents](Self#documents)).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        check::load("toml", || toml::from_str(text))
    }

    /// The configuration as pretty JSON (durations in whole milliseconds).
    ///
    /// ```
    /// use autonomic::RuntimeConfig;
    /// let config = RuntimeConfig::default();
    /// assert_eq!(RuntimeConfig::from_json_str(&config.to_json_string())?, config);
    /// assert_eq!(RuntimeConfig::from_toml_str(&config.to_toml_string()?)?, config);
    /// # Ok::<(), autonomic::ConfigError>(())
    /// ```
    pub fn to_json_string(&self) -> String {
        // Serializing plain numbers and booleans cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The configuration as TOML (durations in whole milliseconds).
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(check::parse_error("toml"))
    }

    fn checked(doc: Document) -> Result<Self, ConfigError> {
        let config = RuntimeConfig {
            interval: Duration::from_millis(doc.interval_ms),
            retention: Duration::from_millis(doc.retention_ms),
            adapter: doc.adapter,
            global_q: doc.global_q,
            windows: doc.windows,
            breaker: doc.breaker,
            adaptive_concurrency: doc.adaptive_concurrency,
            budgets: doc.budgets,
            sweep_threads: SweepThreads::from_document(doc.sweep_threads),
        };
        config.validate()?;
        Ok(config)
    }
}

/// A duration in milliseconds, printed with its fraction when it has one.
fn millis(d: Duration) -> String {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        d.as_millis().to_string()
    } else {
        format!("{}", d.as_secs_f64() * 1e3)
    }
}

/// Whether a document leaves the `budgets` section out: nothing configured.
fn no_budgets(budgets: &&Budgets) -> bool {
    **budgets == Budgets::default()
}

fn default_interval_ms() -> u64 {
    u64::try_from(RuntimeConfig::default().interval.as_millis()).unwrap_or(u64::MAX)
}

fn default_retention_ms() -> u64 {
    u64::try_from(RuntimeConfig::default().retention.as_millis()).unwrap_or(u64::MAX)
}

/// The shape of a document: each section is read by its own type's validating impl.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default = "default_interval_ms")]
    interval_ms: u64,
    #[serde(default = "default_retention_ms")]
    retention_ms: u64,
    #[serde(default)]
    adapter: SessionAdapterConfig,
    #[serde(default)]
    global_q: GlobalQ,
    #[serde(default)]
    windows: WindowConfig,
    #[serde(default)]
    breaker: Option<BreakerConfig>,
    #[serde(default)]
    adaptive_concurrency: Option<ConcurrencyConfig>,
    #[serde(default)]
    budgets: Budgets,
    #[serde(default)]
    sweep_threads: usize,
}

/// What is written: durations in whole milliseconds, then the two sections.
#[derive(Serialize)]
struct DocumentOut<'a> {
    interval_ms: u64,
    retention_ms: u64,
    adapter: &'a SessionAdapterConfig,
    global_q: &'a GlobalQ,
    windows: &'a WindowConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker: &'a Option<BreakerConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adaptive_concurrency: &'a Option<ConcurrencyConfig>,
    #[serde(skip_serializing_if = "no_budgets")]
    budgets: &'a Budgets,
    sweep_threads: usize,
}

impl Serialize for RuntimeConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DocumentOut {
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            retention_ms: u64::try_from(self.retention.as_millis()).unwrap_or(u64::MAX),
            adapter: &self.adapter,
            global_q: &self.global_q,
            windows: &self.windows,
            breaker: &self.breaker,
            adaptive_concurrency: &self.adaptive_concurrency,
            budgets: &self.budgets,
            sweep_threads: self.sweep_threads.to_document(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RuntimeConfig {
    /// Reads the [document shape](RuntimeConfig#documents) and validates it; a refused value
    /// becomes the deserializer's error, with the message of the [`ConfigError`] (which
    /// [`config::load`](autonomic_core::config::load) hands back typed).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let doc: Document = check::from_map(deserializer)?;
        RuntimeConfig::checked(doc).map_err(check::refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_each_bad_field_by_name() {
        let d = RuntimeConfig::default();
        let cases = [
            (d.clone().with_interval(Duration::ZERO), "interval_ms"),
            (d.clone().with_interval(Duration::from_micros(500)), "interval_ms"),
            (d.clone().with_interval(Duration::from_secs(3601)), "interval_ms"),
            (d.clone().with_retention(Duration::from_secs(31 * 86_400)), "retention_ms"),
            (
                d.clone()
                    .with_adapter(SessionAdapterConfig { min_samples: 0, ..Default::default() }),
                "min_samples",
            ),
            (
                d.clone()
                    .with_global_q(GlobalQ { max_failure_rate: f64::NAN, ..Default::default() }),
                "max_failure_rate",
            ),
            (d.clone().with_sweep_threads(SweepThreads::Exactly(0)), "sweep_threads"),
            (d.clone().with_sweep_threads(SweepThreads::Exactly(17)), "sweep_threads"),
        ];
        for (config, field) in cases {
            assert_eq!(config.validate().unwrap_err().field(), Some(field), "{config:?}");
        }
        assert_eq!(
            d.clone().with_interval(Duration::from_micros(500)).validate().unwrap_err().to_string(),
            "interval_ms = 0.5: must be at least 1 ms"
        );
        // The bounds themselves are accepted.
        assert!(d.clone().with_interval(RuntimeConfig::MIN_INTERVAL).validate().is_ok());
        assert!(d.clone().with_interval(RuntimeConfig::MAX_INTERVAL).validate().is_ok());
        assert!(d.clone().with_retention(Duration::ZERO).validate().is_ok());
        assert!(d.clone().with_retention(RuntimeConfig::MAX_RETENTION).validate().is_ok());
        let most = SweepThreads::Exactly(SweepThreads::MAX);
        assert!(d.clone().with_sweep_threads(most).validate().is_ok());
        assert_eq!(
            RuntimeConfig::from_json_str(&d.with_sweep_threads(most).to_json_string())
                .unwrap()
                .sweep_threads,
            most
        );
    }

    #[test]
    fn documents_default_missing_fields_and_refuse_unknown_ones() {
        assert_eq!(RuntimeConfig::from_json_str("{}").unwrap(), RuntimeConfig::default());
        assert_eq!(RuntimeConfig::from_toml_str("").unwrap(), RuntimeConfig::default());
        let err = RuntimeConfig::from_json_str(r#"{"interval": 5}"#).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { format: "json", .. }), "{err}");
        let err = RuntimeConfig::from_toml_str("retention_ms = -1").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { format: "toml", .. }), "{err}");
        let err = RuntimeConfig::from_toml_str("[adapter]\nmax_retriez = 1").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { format: "toml", .. }), "{err}");
    }

    #[test]
    fn nested_refusals_are_typed() {
        let err = RuntimeConfig::from_json_str(r#"{"adapter": {"max_violation_rate": 1.5}}"#)
            .unwrap_err();
        assert_eq!(err.field(), Some("max_violation_rate"));
        let err =
            RuntimeConfig::from_toml_str("[global_q]\nmax_total_resources = 2.0").unwrap_err();
        assert_eq!(err.field(), Some("max_total_resources"));
        let err = RuntimeConfig::from_toml_str("interval_ms = 7200000").unwrap_err();
        assert_eq!(err.field(), Some("interval_ms"));
        let err = RuntimeConfig::from_json_str(r#"{"breaker": {"probes": 0}}"#).unwrap_err();
        assert_eq!(err.field(), Some("probes"));
        let err = RuntimeConfig::from_toml_str("[adaptive_concurrency]\nfloor = 9\nceiling = 8")
            .unwrap_err();
        assert_eq!(err.field(), Some("ceiling"));
    }

    #[test]
    fn budgets_load_into_the_runtime_and_refuse_by_field() {
        let config = RuntimeConfig::from_toml_str(
            "[budgets.retry_budget]\nbudget_percent = 20.0\nmin_retry_concurrency = 3",
        )
        .unwrap();
        let retry = config.budgets.retry_budget.expect("the section is read");
        assert_eq!((retry.budget_percent, retry.min_retry_concurrency), (20.0, 3));
        assert_eq!(
            RuntimeConfig::from_toml_str(&config.to_toml_string().unwrap()).unwrap(),
            config
        );
        let runtime = crate::AutonomicRuntime::new(config).unwrap();
        assert_eq!(runtime.adapter().budgets().retry_budget, Some(retry));
        let err = RuntimeConfig::from_json_str(
            r#"{"budgets": {"retry_budget": {"budget_percent": -1}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("retry_budget.budget_percent"));
        // Nothing configured: the section is left out of documents.
        assert!(!RuntimeConfig::default().to_json_string().contains("budgets"));
    }

    #[test]
    fn round_trips_through_both_formats_and_serde() {
        let config = RuntimeConfig::default()
            .with_interval(Duration::from_millis(20))
            .with_retention(Duration::from_secs(5))
            .with_adapter(SessionAdapterConfig { max_retries: 7, ..Default::default() })
            .with_global_q(GlobalQ { max_concurrent_adaptations: 3, ..Default::default() });
        assert_eq!(RuntimeConfig::from_json_str(&config.to_json_string()).unwrap(), config);
        assert_eq!(
            RuntimeConfig::from_toml_str(&config.to_toml_string().unwrap()).unwrap(),
            config
        );
        let with_feedback = RuntimeConfig {
            breaker: Some(BreakerConfig { probes: 5, ..Default::default() }),
            adaptive_concurrency: Some(ConcurrencyConfig::default()),
            ..config.clone()
        };
        let toml = with_feedback.to_toml_string().unwrap();
        assert_eq!(RuntimeConfig::from_toml_str(&toml).unwrap(), with_feedback);
        let json = with_feedback.to_json_string();
        assert_eq!(RuntimeConfig::from_json_str(&json).unwrap(), with_feedback);
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains(r#""interval_ms":20"#), "{json}");
        assert_eq!(serde_json::from_str::<RuntimeConfig>(&json).unwrap(), config);
        let err = serde_json::from_str::<RuntimeConfig>(r#"{"interval_ms": 0}"#).unwrap_err();
        assert!(err.to_string().contains("interval_ms"), "{err}");
    }

    #[test]
    fn repeated_keys_are_refused_in_every_section_and_messages_are_bounded() {
        for (doc, key) in [
            (r#"{"interval_ms": 5, "interval_ms": 6}"#, "interval_ms"),
            (r#"{"adapter": {"max_retries": 1, "max_retries": 2}}"#, "max_retries"),
            (
                r#"{"global_q": {"max_failure_rate": 0.1, "max_failure_rate": 0.2}}"#,
                "max_failure_rate",
            ),
        ] {
            let err = RuntimeConfig::from_json_str(doc).unwrap_err();
            assert!(err.to_string().contains(&format!("duplicate field `{key}`")), "{doc}: {err}");
        }
        for (doc, key) in [
            ("interval_ms = 5\ninterval_ms = 6", "interval_ms"),
            ("[adapter]\nmax_retries = 1\nmax_retries = 2", "max_retries"),
            ("[global_q]\nmax_failure_rate = 0.1\nmax_failure_rate = 0.2", "max_failure_rate"),
        ] {
            let err = RuntimeConfig::from_toml_str(doc).unwrap_err();
            assert!(err.to_string().contains(key), "{doc}: {err}");
        }
        let huge = "k".repeat(10 << 20);
        for err in [
            RuntimeConfig::from_json_str(&format!(r#"{{"adapter": {{"{huge}": 1}}}}"#))
                .unwrap_err(),
            RuntimeConfig::from_toml_str(&format!("[global_q]\n{huge} = 1")).unwrap_err(),
            RuntimeConfig::from_json_str(&format!(r#"{{"interval_ms": "{huge}"}}"#)).unwrap_err(),
        ] {
            assert!(err.to_string().len() < 2048, "{} bytes", err.to_string().len());
        }
    }
}
