//! [`Scenario`]: a workload, its faults and doctrine changes on a timeline, read from TOML.

mod document;
mod error;
mod latency;

use std::path::Path;
use std::time::Duration;

use autonomic::{GlobalQ, RuntimeConfig, TenantId};

pub use error::ScenarioError;
pub use latency::Latency;

use crate::faults::Fault;
use crate::invariants::Invariant;

/// A simulated scenario: tenants and workflow patterns with their arrival rates, task counts
/// and latencies; faults and changes of Global Q on a timeline; the runtime's configuration;
/// the run's length and seed; the invariants the run must hold.
///
/// Read from TOML ([`Scenario::from_toml_str`], [`Scenario::load`]): bounded in size
/// ([`MAX_BYTES`](Self::MAX_BYTES)) and in every list, and validated, each refusal a
/// [`ScenarioError`] naming its field. The library in `scenarios/` has one of each kind;
/// `scenarios/README.md` documents every field.
///
/// ```
/// use autonomic_sim::Scenario;
/// let scenario = Scenario::from_toml_str(r#"
///     name = "tiny"
///     seed = 7
///     duration_s = 30
///
///     [[patterns]]
///     name = "checkout"
///     tasks = [4, 8]
///     latency = { kind = "lognormal", median_ms = 20, sigma = 0.5 }
///     slo_ms = 100
///
///     [[tenants]]
///     name = "acme"
///     rate_per_s = 20
///     patterns = ["checkout"]
///
///     [[faults]]
///     kind = "session_failures"
///     tenant = "acme"
///     from_s = 10
///     until_s = 20
///     rate = 0.5
/// "#)?;
/// assert_eq!(scenario.name(), "tiny");
/// assert_eq!(scenario.tenants().len(), 1);
///
/// let err = Scenario::from_toml_str("name = \"x\"\nseed = 1\nduration_s = -5").unwrap_err();
/// assert_eq!(err.field(), Some("duration_s"));
/// # Ok::<(), autonomic_sim::ScenarioError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    name: String,
    description: String,
    seed: u64,
    duration: Duration,
    short: Short,
    runtime: RuntimeConfig,
    patterns: Vec<PatternSpec>,
    tenants: Vec<TenantSpec>,
    faults: Vec<NamedFault>,
    changes: Vec<Change>,
    invariants: Vec<Invariant>,
}

/// A workflow pattern's workload.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternSpec {
    /// Its name in the scenario.
    pub name: String,
    /// Its pattern id in the runtime (1, 2, ... in the order of the file).
    pub id: u8,
    /// Fewest and most tasks a session runs (uniform between).
    pub tasks: (u32, u32),
    /// How long a task takes.
    pub latency: Latency,
    /// A task over this is an SLO violation, µs.
    pub slo_us: u64,
    /// Chance that a session ends failed, outside faults.
    pub failure_rate: f64,
    /// Chance that a task fails transiently (and is retried), outside faults.
    pub task_failure_rate: f64,
}

/// A tenant's workload.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    /// Its name in the scenario.
    pub name: String,
    /// Its id in the runtime (fixed by its place in the file, so runs are comparable).
    pub id: TenantId,
    /// Sessions arriving per second (Poisson), before floods and changes.
    pub rate_per_s: f64,
    /// Indexes into the scenario's patterns, one drawn uniformly per session.
    pub patterns: Vec<usize>,
    /// Every task of this tenant takes this many times the pattern's latency.
    pub latency_scale: f64,
}

/// A fault as the scenario names it: the fault, and who it hits in the file's words.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedFault {
    /// The fault, for the injector.
    pub fault: Fault,
    /// `tenant acme`, `pattern checkout` or `everyone`.
    pub target: String,
}

/// A change at a given time: Global Q, or a tenant's arrival rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// When.
    pub at: Duration,
    /// What.
    pub what: ChangeKind,
}

/// What a [`Change`] changes.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeKind {
    /// Global Q becomes this (fields the file leaves out keep their value at that time).
    GlobalQ(GlobalQPatch),
    /// A tenant's arrival rate becomes this (per second).
    TenantRate {
        /// Index into the tenants.
        tenant: usize,
        /// The new rate.
        rate_per_s: f64,
    },
}

/// Global Q fields to change; `None` keeps the value in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalQPatch {
    /// New `max_total_resources`.
    pub max_total_resources: Option<f64>,
    /// New `max_concurrent_adaptations`.
    pub max_concurrent_adaptations: Option<u64>,
    /// New `min_slo_compliance`.
    pub min_slo_compliance: Option<f64>,
    /// New `max_failure_rate`.
    pub max_failure_rate: Option<f64>,
}

impl GlobalQPatch {
    /// `q` with the fields of this patch.
    pub fn apply(&self, q: GlobalQ) -> GlobalQ {
        GlobalQ {
            max_total_resources: self.max_total_resources.unwrap_or(q.max_total_resources),
            max_concurrent_adaptations: self
                .max_concurrent_adaptations
                .unwrap_or(q.max_concurrent_adaptations),
            min_slo_compliance: self.min_slo_compliance.unwrap_or(q.min_slo_compliance),
            max_failure_rate: self.max_failure_rate.unwrap_or(q.max_failure_rate),
        }
    }
}

/// How the short version of a scenario (CI's) differs: arrival rates scaled down, and maybe
/// a shorter run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Short {
    /// Arrival rates are multiplied by this (`0 < f <= 1`).
    pub rate_factor: f64,
    /// The run's length, if shorter.
    pub duration: Option<Duration>,
}

impl Scenario {
    /// The largest scenario file read, in bytes (1 MiB).
    pub const MAX_BYTES: u64 = 1 << 20;
    /// Most tenants.
    pub const MAX_TENANTS: usize = 64;
    /// Most patterns.
    pub const MAX_PATTERNS: usize = 64;
    /// Most faults.
    pub const MAX_FAULTS: usize = 64;
    /// Most changes.
    pub const MAX_CHANGES: usize = 256;
    /// Longest run: one day of virtual time.
    pub const MAX_DURATION: Duration = Duration::from_secs(86_400);
    /// Most sessions a scenario may expect (its rates, floods included, over its length).
    pub const MAX_EXPECTED_SESSIONS: f64 = 50_000_000.0;

    /// Reads and validates a scenario file, refusing one over [`MAX_BYTES`](Self::MAX_BYTES)
    /// before reading it.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        use std::io::Read as _;
        let io = |source| ScenarioError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > Self::MAX_BYTES {
            return Err(ScenarioError::TooLarge { size, max: Self::MAX_BYTES });
        }
        let mut text = String::new();
        // One byte more than allowed: a file that grew since its size was read is caught.
        file.take(Self::MAX_BYTES + 1).read_to_string(&mut text).map_err(io)?;
        Self::from_toml_str(&text)
    }

    /// Reads and validates a scenario from TOML text (at most
    /// [`MAX_BYTES`](Self::MAX_BYTES)).
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let size = text.len() as u64;
        if size > Self::MAX_BYTES {
            return Err(ScenarioError::TooLarge { size, max: Self::MAX_BYTES });
        }
        document::read(text)
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it shows, in a sentence or two.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The seed every random draw comes from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The run's length in virtual time.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The runtime's configuration (loop interval, retention, adapter, windows, the Global Q
    /// it starts with).
    pub fn runtime(&self) -> &RuntimeConfig {
        &self.runtime
    }

    /// The workflow patterns.
    pub fn patterns(&self) -> &[PatternSpec] {
        &self.patterns
    }

    /// The tenants.
    pub fn tenants(&self) -> &[TenantSpec] {
        &self.tenants
    }

    /// The faults.
    pub fn faults(&self) -> &[NamedFault] {
        &self.faults
    }

    /// The changes, in time order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The invariants the run asserts.
    pub fn invariants(&self) -> &[Invariant] {
        &self.invariants
    }

    /// The same scenario with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same scenario starting under another Global Q (a what-if's candidate; the
    /// timeline's changes still apply). Errors: `q` is refused by its own validation.
    pub fn with_global_q(mut self, q: GlobalQ) -> Result<Self, autonomic::ConfigError> {
        q.validate()?;
        self.runtime.global_q = q;
        Ok(self)
    }

    /// The short version: rates scaled by the scenario's `short.rate_factor`, the run cut to
    /// `short.duration_s` if it says so.
    pub fn shortened(mut self) -> Self {
        for tenant in &mut self.tenants {
            tenant.rate_per_s *= self.short.rate_factor;
        }
        for change in &mut self.changes {
            if let ChangeKind::TenantRate { rate_per_s, .. } = &mut change.what {
                *rate_per_s *= self.short.rate_factor;
            }
        }
        if let Some(d) = self.short.duration {
            self.duration = self.duration.min(d);
        }
        self.short = Short { rate_factor: 1.0, duration: None };
        self.name.push_str(" (short)");
        self
    }
}
