//! [`SimReport`]: what a run saw, over time and in total; written as markdown and SVG plots.

mod compare;
mod markdown;
mod plots;

use std::path::{Path, PathBuf};

use autonomic::{ActionKind, GlobalQ, QRule};

pub use compare::WhatIf;
pub use plots::Plot;

use crate::invariants::InvariantCheck;

/// Everything a run of a scenario saw. Deterministic: the same scenario and seed give the
/// same report, byte for byte once written ([`SimReport::markdown`], [`SimReport::plots`]);
/// nothing in it depends on wall time or on the process.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// The scenario's name.
    pub scenario: String,
    /// What it shows.
    pub description: String,
    /// The seed.
    pub seed: u64,
    /// The run's length, ms of virtual time.
    pub duration_ms: u64,
    /// The loop's interval, ms.
    pub interval_ms: u64,
    /// The rolling window's length, ms.
    pub window_ms: u64,
    /// The Global Q the run started under.
    pub initial_q: GlobalQ,
    /// The tenants' names, in the scenario's order (samples follow it).
    pub tenants: Vec<String>,
    /// The faults and changes, one line each, in time order.
    pub timeline: Vec<String>,
    /// One sample per loop pass (thinned to at most [`SimReport::MAX_SAMPLES`]).
    pub samples: Vec<Sample>,
    /// Totals over the run.
    pub totals: Totals,
    /// Totals per tenant, in the scenario's order.
    pub tenant_totals: Vec<TenantTotals>,
    /// Each invariant the scenario asserts, and the verdict.
    pub invariants: Vec<InvariantCheck>,
}

/// What one loop pass saw (or, when samples are thinned, the passes since the last sample:
/// peaks are over all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When, ms of virtual time.
    pub at_ms: u64,
    /// Sessions running in the simulation.
    pub live_sessions: u64,
    /// Sessions in the runtime's table (running, and finished within the retention).
    pub table_sessions: u64,
    /// Most adaptations in flight seen since the last sample.
    pub in_flight_peak: u64,
    /// `max_concurrent_adaptations` in force.
    pub in_flight_cap: u64,
    /// Most resources granted seen since the last sample (fraction of capacity).
    pub resources_peak: f64,
    /// `max_total_resources` in force.
    pub resources_cap: f64,
    /// Refusals by rule since the start, in the order of [`QRule::ALL`].
    pub refusals: [u64; QRule::ALL.len()],
    /// `max_failure_rate` in force.
    pub failure_rate_cap: f64,
    /// `min_slo_compliance` in force.
    pub slo_floor: f64,
    /// The runtime's windowed failure rate, when judged.
    pub failure_rate: Option<f64>,
    /// The runtime's windowed SLO compliance, when judged.
    pub slo_compliance: Option<f64>,
    /// Each tenant's windowed figures, in the scenario's order.
    pub tenants: Vec<TenantSample>,
}

/// One tenant's windowed figures at a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantSample {
    /// Windowed failure rate, when judged.
    pub failure_rate: Option<f64>,
    /// Windowed SLO compliance, when judged.
    pub slo_compliance: Option<f64>,
}

/// Totals over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Events the simulation handled (arrivals, task attempts, loop passes, ...).
    pub events: u64,
    /// Sessions that arrived.
    pub sessions: u64,
    /// Sessions that completed.
    pub completed: u64,
    /// Sessions that failed.
    pub failed: u64,
    /// Sessions still running at the end.
    pub running_at_end: u64,
    /// Tasks run.
    pub tasks: u64,
    /// Transient task failures (retries).
    pub retries: u64,
    /// Decisions admitted and executed, by action, in the order of [`ActionKind::ALL`].
    pub decisions: [u64; 6],
    /// Refusals by rule, in the order of [`QRule::ALL`].
    pub refusals: [u64; QRule::ALL.len()],
    /// Most adaptations in flight at once.
    pub peak_in_flight: u64,
    /// Most resources granted at once (fraction of capacity).
    pub peak_resources: f64,
    /// Most sessions running at once.
    pub peak_live: u64,
    /// Adapter events emitted (and drained by the simulation).
    pub adapter_events: u64,
    /// Loop passes.
    pub loop_passes: u64,
    /// Calls into the runtime that failed where the simulation expected success (a bug of
    /// the simulation or the runtime; zero in a sound run).
    pub unexpected: u64,
}

impl Totals {
    /// Admitted decisions of `kind`.
    pub fn decisions_of(&self, kind: ActionKind) -> u64 {
        ActionKind::ALL.iter().position(|k| *k == kind).map_or(0, |i| self.decisions[i])
    }

    /// Refusals by `rule`.
    pub fn refusals_by(&self, rule: QRule) -> u64 {
        QRule::ALL.iter().position(|r| *r == rule).map_or(0, |i| self.refusals[i])
    }
}

/// One tenant's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantTotals {
    /// Sessions that arrived.
    pub sessions: u64,
    /// Sessions that completed.
    pub completed: u64,
    /// Sessions that failed.
    pub failed: u64,
    /// Adaptations of its sessions that Global Q refused.
    pub refused: u64,
    /// Adaptations of its sessions admitted.
    pub admitted: u64,
}

impl SimReport {
    /// Most samples a report keeps: a longer run keeps every k-th pass, with peaks over the
    /// passes between.
    pub const MAX_SAMPLES: usize = 2000;

    /// Whether every invariant held (or was skipped).
    pub fn invariants_hold(&self) -> bool {
        !self.invariants.iter().any(InvariantCheck::is_broken)
    }
}

impl SimReport {
    /// Writes `report.md` and the plots ([`Plot::file_name`]) into `dir` (created if
    /// missing). Returns the report's path.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        write_files(dir, &self.markdown(), &self.plots())
    }
}

/// `report.md` and the plots into `dir`.
fn write_files(dir: &Path, markdown: &str, plots: &[(Plot, String)]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for (plot, svg) in plots {
        std::fs::write(dir.join(plot.file_name()), svg)?;
    }
    let report = dir.join("report.md");
    std::fs::write(&report, markdown)?;
    Ok(report)
}
