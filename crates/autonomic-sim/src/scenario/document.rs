//! The TOML shape of a scenario, and its checked conversion into a [`Scenario`].

use std::collections::HashSet;
use std::time::Duration;

use autonomic::adapter::{Share, TenantShare, TenantShares};
use autonomic::core::config;
use autonomic::{RuntimeConfig, TenantId};
use serde::Deserialize;

use super::error::quote;
use super::{
    Change, ChangeKind, GlobalQPatch, Latency, NamedFault, PatternSpec, Scenario, ScenarioError,
    Short, TenantSpec,
};
use crate::faults::{Fault, FaultKind, Target};
use crate::invariants::Invariant;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    name: String,
    #[serde(default)]
    description: String,
    seed: u64,
    duration_s: f64,
    #[serde(default)]
    short: ShortDoc,
    #[serde(default)]
    runtime: Option<RuntimeConfig>,
    #[serde(default)]
    patterns: Vec<PatternDoc>,
    #[serde(default)]
    tenants: Vec<TenantDoc>,
    #[serde(default)]
    faults: Vec<FaultDoc>,
    #[serde(default)]
    changes: Vec<ChangeDoc>,
    #[serde(default)]
    invariants: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ShortDoc {
    rate_factor: Option<f64>,
    duration_s: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternDoc {
    name: String,
    tasks: [u32; 2],
    latency: Latency,
    slo_ms: f64,
    #[serde(default)]
    failure_rate: f64,
    #[serde(default)]
    task_failure_rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantDoc {
    name: String,
    rate_per_s: f64,
    patterns: Vec<String>,
    #[serde(default = "one")]
    latency_scale: f64,
    /// The tenant's guaranteed share and ceiling of the doctrine's capacity (tenant shares).
    #[serde(default)]
    share: Option<Share>,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FaultKindDoc {
    SessionFailures,
    TaskFailures,
    LatencySpike,
    SlowSessions,
    Flood,
    ResourcePressure,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultDoc {
    kind: FaultKindDoc,
    tenant: Option<String>,
    pattern: Option<String>,
    from_s: f64,
    until_s: f64,
    rate: Option<f64>,
    factor: Option<f64>,
    fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeDoc {
    at_s: f64,
    global_q: Option<GlobalQPatch>,
    tenant: Option<String>,
    rate_per_s: Option<f64>,
}

/// Tenant ids of scenarios: this prefix, then the tenant's place in the file.
const TENANT_ID_BASE: u128 = 0x5151_0000_0000_4000_8000_0000_0000_0000;

pub(super) fn read(text: &str) -> Result<Scenario, ScenarioError> {
    let doc: Document = config::load("toml", || toml::from_str(text))?;
    doc.check()
}

fn bounded<T>(field: &'static str, list: &[T], max: usize) -> Result<(), ScenarioError> {
    if list.len() > max {
        return Err(ScenarioError::TooMany { field, count: list.len(), max });
    }
    Ok(())
}

fn name_ok(field: String, name: &str) -> Result<(), ScenarioError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b' ');
    if ok {
        Ok(())
    } else {
        Err(ScenarioError::invalid(field, name, "must be 1 to 64 of A-Z a-z 0-9 - _ and spaces"))
    }
}

fn fraction(field: impl FnOnce() -> String, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ScenarioError::invalid(field(), v, "must be between 0.0 and 1.0"))
    }
}

/// Seconds in `0 ..= max`, as a duration.
fn seconds(
    field: impl FnOnce() -> String,
    v: f64,
    max: Duration,
) -> Result<Duration, ScenarioError> {
    if v.is_finite() && v >= 0.0 && v <= max.as_secs_f64() {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(ScenarioError::invalid(field(), v, "must be a time between 0 and the limit (86400 s)"))
    }
}

/// Sessions per second: finite, `0 ..= 100 000`.
fn rate(field: impl FnOnce() -> String, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && (0.0..=100_000.0).contains(&v) {
        Ok(v)
    } else {
        Err(ScenarioError::invalid(field(), v, "must be between 0 and 100000 per second"))
    }
}

impl Document {
    fn check(self) -> Result<Scenario, ScenarioError> {
        name_ok("name".into(), &self.name)?;
        if self.description.len() > 4096 {
            return Err(ScenarioError::invalid(
                "description".into(),
                &self.description,
                "must be at most 4096 bytes",
            ));
        }
        let duration = seconds(|| "duration_s".into(), self.duration_s, Scenario::MAX_DURATION)?;
        if duration < Duration::from_secs(1) {
            return Err(ScenarioError::invalid(
                "duration_s".into(),
                self.duration_s,
                "must be at least 1 second",
            ));
        }
        let short = Short {
            rate_factor: match self.short.rate_factor {
                None => 0.25,
                Some(f) if f.is_finite() && f > 0.0 && f <= 1.0 => f,
                Some(f) => {
                    return Err(ScenarioError::invalid(
                        "short.rate_factor".into(),
                        f,
                        "must be more than 0.0 and at most 1.0",
                    ));
                }
            },
            duration: match self.short.duration_s {
                None => None,
                Some(s) => Some(seconds(|| "short.duration_s".into(), s, duration)?)
                    .filter(|d| *d >= Duration::from_secs(1)),
            },
        };
        bounded("patterns", &self.patterns, Scenario::MAX_PATTERNS)?;
        bounded("tenants", &self.tenants, Scenario::MAX_TENANTS)?;
        bounded("faults", &self.faults, Scenario::MAX_FAULTS)?;
        bounded("changes", &self.changes, Scenario::MAX_CHANGES)?;
        if self.patterns.is_empty() {
            return Err(ScenarioError::Empty { field: "patterns" });
        }
        if self.tenants.is_empty() {
            return Err(ScenarioError::Empty { field: "tenants" });
        }
        let patterns = check_patterns(self.patterns)?;
        let shares: Vec<Option<Share>> = self.tenants.iter().map(|t| t.share).collect();
        let tenants = check_tenants(self.tenants, &patterns)?;
        let runtime = with_shares(self.runtime.unwrap_or_default(), &tenants, &shares)?;
        let faults = check_faults(self.faults, &tenants, &patterns, duration)?;
        let changes = check_changes(self.changes, &tenants, duration)?;
        let invariants = match self.invariants {
            None => Invariant::DEFAULT.to_vec(),
            Some(names) => {
                bounded("invariants", &names, Invariant::ALL.len())?;
                let mut seen = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    let inv = Invariant::from_name(name).ok_or_else(|| {
                        ScenarioError::invalid(
                            format!("invariants[{i}]"),
                            name,
                            "must be caps, recovery or tenant_shares",
                        )
                    })?;
                    if !seen.contains(&inv) {
                        seen.push(inv);
                    }
                }
                seen
            }
        };
        let scenario = Scenario {
            name: self.name,
            description: self.description,
            seed: self.seed,
            duration,
            short,
            runtime,
            patterns,
            tenants,
            faults,
            changes,
            invariants,
        };
        check_volume(&scenario)?;
        Ok(scenario)
    }
}

/// The tenants' `share` sections as the runtime's tenant shares (every tenant without one is
/// in the default class), validated by the adapter's own rule; a scenario sets its shares
/// either there or in `runtime.budgets.tenant_shares`, not both.
fn with_shares(
    mut runtime: RuntimeConfig,
    tenants: &[TenantSpec],
    shares: &[Option<Share>],
) -> Result<RuntimeConfig, ScenarioError> {
    let listed: Vec<TenantShare> = tenants
        .iter()
        .zip(shares)
        .filter_map(|(t, share)| share.map(|share| TenantShare::new(t.id, share)))
        .collect();
    if listed.is_empty() {
        return Ok(runtime);
    }
    if runtime.budgets.tenant_shares.is_some() {
        let i = shares.iter().position(Option::is_some).unwrap_or(0);
        return Err(ScenarioError::invalid(
            format!("tenants[{i}].share"),
            "a share",
            "runtime.budgets.tenant_shares is set too: give shares in one place",
        ));
    }
    runtime.budgets.tenant_shares =
        Some(TenantShares { tenants: listed, ..TenantShares::default() });
    runtime.budgets.validate()?;
    Ok(runtime)
}

fn check_patterns(docs: Vec<PatternDoc>) -> Result<Vec<PatternSpec>, ScenarioError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(docs.len());
    for (i, p) in docs.into_iter().enumerate() {
        let at = |f: &str| format!("patterns[{i}].{f}");
        name_ok(at("name"), &p.name)?;
        if !names.insert(p.name.clone()) {
            return Err(ScenarioError::DuplicateName { field: at("name"), name: quote(&p.name) });
        }
        let [lo, hi] = p.tasks;
        if lo == 0 || hi < lo || hi > 10_000 {
            return Err(ScenarioError::invalid(
                at("tasks"),
                format!("[{lo}, {hi}]"),
                "must be [fewest, most] with 1 <= fewest <= most <= 10000",
            ));
        }
        p.latency.validate(&at("latency"))?;
        if !(p.slo_ms.is_finite() && p.slo_ms > 0.0 && p.slo_ms <= 3_600_000.0) {
            return Err(ScenarioError::invalid(
                at("slo_ms"),
                p.slo_ms,
                "must be more than 0 and at most 3600000",
            ));
        }
        out.push(PatternSpec {
            id: u8::try_from(i + 1).unwrap_or(u8::MAX),
            tasks: (lo, hi),
            latency: p.latency,
            slo_us: (p.slo_ms * 1000.0) as u64,
            failure_rate: fraction(|| at("failure_rate"), p.failure_rate)?,
            task_failure_rate: fraction(|| at("task_failure_rate"), p.task_failure_rate)?,
            name: p.name,
        });
    }
    Ok(out)
}

fn find(names: impl Iterator<Item = String>, name: &str) -> Option<usize> {
    names.into_iter().position(|n| n == name)
}

fn check_tenants(
    docs: Vec<TenantDoc>,
    patterns: &[PatternSpec],
) -> Result<Vec<TenantSpec>, ScenarioError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(docs.len());
    for (i, t) in docs.into_iter().enumerate() {
        let at = |f: &str| format!("tenants[{i}].{f}");
        name_ok(at("name"), &t.name)?;
        if !names.insert(t.name.clone()) {
            return Err(ScenarioError::DuplicateName { field: at("name"), name: quote(&t.name) });
        }
        if t.patterns.is_empty() || t.patterns.len() > Scenario::MAX_PATTERNS {
            return Err(ScenarioError::invalid(
                at("patterns"),
                t.patterns.len(),
                "must name 1 to 64 patterns",
            ));
        }
        let mut picks = Vec::with_capacity(t.patterns.len());
        for (j, name) in t.patterns.iter().enumerate() {
            let index = find(patterns.iter().map(|p| p.name.clone()), name).ok_or_else(|| {
                ScenarioError::UnknownName {
                    field: format!("tenants[{i}].patterns[{j}]"),
                    kind: "pattern",
                    name: quote(name),
                }
            })?;
            picks.push(index);
        }
        if !(t.latency_scale.is_finite() && t.latency_scale > 0.0 && t.latency_scale <= 1000.0) {
            return Err(ScenarioError::invalid(
                at("latency_scale"),
                t.latency_scale,
                "must be more than 0 and at most 1000",
            ));
        }
        out.push(TenantSpec {
            id: TenantId::from_u128(TENANT_ID_BASE | (i as u128 + 1)),
            rate_per_s: rate(|| at("rate_per_s"), t.rate_per_s)?,
            patterns: picks,
            latency_scale: t.latency_scale,
            name: t.name,
        });
    }
    Ok(out)
}

fn check_faults(
    docs: Vec<FaultDoc>,
    tenants: &[TenantSpec],
    patterns: &[PatternSpec],
    duration: Duration,
) -> Result<Vec<NamedFault>, ScenarioError> {
    let mut out = Vec::with_capacity(docs.len());
    for (i, f) in docs.into_iter().enumerate() {
        let at = |field: &str| format!("faults[{i}].{field}");
        let from = seconds(|| at("from_s"), f.from_s, duration)?;
        let until = seconds(|| at("until_s"), f.until_s, Scenario::MAX_DURATION)?;
        if until <= from {
            return Err(ScenarioError::invalid(at("until_s"), f.until_s, "must be after from_s"));
        }
        let (target, named) = match (&f.tenant, &f.pattern) {
            (Some(_), Some(_)) => {
                return Err(ScenarioError::invalid(
                    at("pattern"),
                    "given with tenant",
                    "a fault hits a tenant or a pattern, not both",
                ));
            }
            (Some(name), None) => {
                let t = find(tenants.iter().map(|t| t.name.clone()), name).ok_or_else(|| {
                    ScenarioError::UnknownName {
                        field: at("tenant"),
                        kind: "tenant",
                        name: quote(name),
                    }
                })?;
                (Target::Tenant(tenants[t].id), format!("tenant {name}"))
            }
            (None, Some(name)) => {
                let p = find(patterns.iter().map(|p| p.name.clone()), name).ok_or_else(|| {
                    ScenarioError::UnknownName {
                        field: at("pattern"),
                        kind: "pattern",
                        name: quote(name),
                    }
                })?;
                (Target::Pattern(patterns[p].id), format!("pattern {name}"))
            }
            (None, None) => (Target::All, "everyone".to_string()),
        };
        let kind = fault_kind(&f, &at)?;
        out.push(NamedFault { fault: Fault::new(target, kind, from, until), target: named });
    }
    Ok(out)
}

/// The fault's kind with its values; each kind takes exactly the fields it uses.
fn fault_kind(f: &FaultDoc, at: &dyn Fn(&str) -> String) -> Result<FaultKind, ScenarioError> {
    let (name, wants): (&'static str, [bool; 3]) = match f.kind {
        FaultKindDoc::SessionFailures => ("session_failures", [true, false, false]),
        FaultKindDoc::TaskFailures => ("task_failures", [true, false, false]),
        FaultKindDoc::LatencySpike => ("latency_spike", [true, true, false]),
        FaultKindDoc::SlowSessions => ("slow_sessions", [true, true, false]),
        FaultKindDoc::Flood => ("flood", [false, true, false]),
        FaultKindDoc::ResourcePressure => ("resource_pressure", [false, false, true]),
    };
    let given = [("rate", f.rate), ("factor", f.factor), ("fraction", f.fraction)];
    let mut values = [0.0; 3];
    for (k, ((field, value), want)) in given.into_iter().zip(wants).enumerate() {
        match (value, want) {
            (Some(v), true) => values[k] = v,
            (None, true) => return Err(ScenarioError::Missing { field: at(field), kind: name }),
            (Some(_), false) => return Err(ScenarioError::Unused { field: at(field), kind: name }),
            (None, false) => {}
        }
    }
    let [rate, factor, fraction] = values;
    if matches!(f.kind, FaultKindDoc::ResourcePressure)
        && (f.tenant.is_some() || f.pattern.is_some())
    {
        let field = if f.tenant.is_some() { "tenant" } else { "pattern" };
        return Err(ScenarioError::Unused { field: at(field), kind: name });
    }
    let kind = match f.kind {
        FaultKindDoc::SessionFailures => FaultKind::SessionFailures { rate },
        FaultKindDoc::TaskFailures => FaultKind::TaskFailures { rate },
        FaultKindDoc::LatencySpike => FaultKind::LatencySpike { factor, rate },
        FaultKindDoc::SlowSessions => FaultKind::SlowSessions { factor, rate },
        FaultKindDoc::Flood => FaultKind::Flood { factor },
        FaultKindDoc::ResourcePressure => FaultKind::ResourcePressure { fraction },
    };
    // The fault's own checks, reported under this entry's path.
    crate::faults::FaultPlan::new(vec![Fault::new(
        Target::All,
        kind,
        Duration::ZERO,
        Duration::ZERO,
    )])
    .map_err(|e| match e {
        crate::faults::FaultError::Invalid { field, value, reason } => {
            ScenarioError::invalid(at(field), value, reason)
        }
        other => ScenarioError::invalid(at("kind"), other, "refused"),
    })?;
    Ok(kind)
}

fn check_changes(
    docs: Vec<ChangeDoc>,
    tenants: &[TenantSpec],
    duration: Duration,
) -> Result<Vec<Change>, ScenarioError> {
    let mut out = Vec::with_capacity(docs.len());
    for (i, c) in docs.into_iter().enumerate() {
        let at = |field: &str| format!("changes[{i}].{field}");
        let when = seconds(|| at("at_s"), c.at_s, duration)?;
        let what = match (c.global_q, c.tenant, c.rate_per_s) {
            (Some(patch), None, None) => {
                // Each field given must be valid on its own; the result is checked when applied.
                let q = patch.apply(autonomic::GlobalQ::default());
                q.validate().map_err(|e| match e {
                    autonomic::ConfigError::InvalidField { field, value, reason } => {
                        ScenarioError::InvalidField {
                            field: at(&format!("global_q.{field}")),
                            value,
                            reason,
                        }
                    }
                    other => ScenarioError::Config(other),
                })?;
                ChangeKind::GlobalQ(patch)
            }
            (None, Some(name), Some(r)) => {
                let tenant =
                    find(tenants.iter().map(|t| t.name.clone()), &name).ok_or_else(|| {
                        ScenarioError::UnknownName {
                            field: at("tenant"),
                            kind: "tenant",
                            name: quote(&name),
                        }
                    })?;
                ChangeKind::TenantRate { tenant, rate_per_s: rate(|| at("rate_per_s"), r)? }
            }
            (None, Some(_), None) => {
                return Err(ScenarioError::invalid(
                    at("rate_per_s"),
                    "missing",
                    "a tenant change needs a rate_per_s",
                ));
            }
            _ => {
                return Err(ScenarioError::invalid(
                    at("global_q"),
                    "",
                    "a change is either global_q = {...} or tenant and rate_per_s",
                ));
            }
        };
        out.push(Change { at: when, what });
    }
    // Stable: changes at the same instant apply in file order.
    out.sort_by_key(|c| c.at);
    Ok(out)
}

/// The expected number of sessions, floods included, stays within the bound.
fn check_volume(s: &Scenario) -> Result<(), ScenarioError> {
    let mut peak_rates: Vec<f64> = s.tenants.iter().map(|t| t.rate_per_s).collect();
    for change in &s.changes {
        if let ChangeKind::TenantRate { tenant, rate_per_s } = change.what {
            peak_rates[tenant] = peak_rates[tenant].max(rate_per_s);
        }
    }
    let flood = s
        .faults
        .iter()
        .filter_map(|f| match f.fault.kind {
            FaultKind::Flood { factor } => Some(factor),
            _ => None,
        })
        .fold(1.0, f64::max);
    let expected = peak_rates.iter().sum::<f64>() * flood * s.duration.as_secs_f64();
    if expected > Scenario::MAX_EXPECTED_SESSIONS {
        return Err(ScenarioError::invalid(
            "tenants".into(),
            format!("{expected:.0} sessions at peak rates"),
            "a scenario may expect at most 50000000 sessions",
        ));
    }
    Ok(())
}
