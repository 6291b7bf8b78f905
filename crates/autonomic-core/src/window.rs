//! Windowed figures: what happened in a recent time window ([`WindowCounts`]), the levels
//! at the last look ([`WindowGauges`]), the rates a rule reads with the evidence behind them
//! ([`Evidence`]) and the error-budget [`BurnRate`], gathered in [`WindowFigures`].
//!
//! These are values: the aggregate layer's rolling windows compute them, the knowledge
//! carries them, the doctrine gate and policies read them.

use serde::{Deserialize, Serialize};

use crate::TenantId;

/// Events counted in one bucket of a window, or summed over a whole window.
///
/// Every field is a count of things that *happened* in the bucket's time span (sessions that
/// ended, tasks recorded), not a level; levels (sessions running now, the oldest one's age)
/// are [`WindowGauges`]. Sums saturate at `u64::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    /// Sessions that left `Created` (started, or cancelled before starting).
    pub started: u64,
    /// Sessions that completed.
    pub completed: u64,
    /// Sessions that failed.
    pub failed: u64,
    /// Sessions that were cancelled.
    pub cancelled: u64,
    /// Tasks recorded.
    pub tasks: u64,
    /// Task latency recorded, µs.
    pub latency_us: u64,
    /// SLO violations recorded.
    pub violations: u64,
    /// Retries recorded.
    pub retries: u64,
    /// Adaptations recorded.
    pub adaptations: u64,
}

impl WindowCounts {
    /// Sessions that finished (completed, failed or cancelled).
    pub fn finished(&self) -> u64 {
        self.completed.saturating_add(self.failed).saturating_add(self.cancelled)
    }

    /// Mean task latency, µs; `None` without a task.
    pub fn avg_latency_us(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.latency_us as f64 / self.tasks as f64)
    }

    /// Adds `other` into `self`, field by field (saturating).
    pub fn add(&mut self, other: &WindowCounts) {
        self.started = self.started.saturating_add(other.started);
        self.completed = self.completed.saturating_add(other.completed);
        self.failed = self.failed.saturating_add(other.failed);
        self.cancelled = self.cancelled.saturating_add(other.cancelled);
        self.tasks = self.tasks.saturating_add(other.tasks);
        self.latency_us = self.latency_us.saturating_add(other.latency_us);
        self.violations = self.violations.saturating_add(other.violations);
        self.retries = self.retries.saturating_add(other.retries);
        self.adaptations = self.adaptations.saturating_add(other.adaptations);
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == WindowCounts::default()
    }
}

/// Levels of one scope at the last pass: they are not events, so they are not bucketed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowGauges {
    /// Sessions running (`Active` or `Adapted`).
    pub running: u64,
    /// How long the oldest running session has run, ns (0 with none running).
    pub oldest_running_ns: u64,
    /// Running sessions older than the slow-session threshold (0 when it is off).
    pub slow_running: u64,
}

/// A rate, or the reason it was not judged: a rule that stands on too little evidence says
/// so instead of passing silently.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Evidence {
    /// Enough evidence: the rate, in `0.0..=1.0`.
    Judged(f64),
    /// Too little evidence: `have` of the `need`ed events were in the window.
    NotEnough {
        /// Events in the window.
        have: u64,
        /// Events required (the configured minimum).
        need: u64,
    },
}

impl Evidence {
    /// `Judged(numerator / denominator)` when `denominator >= need` (and is not zero), else
    /// `NotEnough`.
    pub fn of(numerator: u64, denominator: u64, need: u64) -> Self {
        if denominator >= need.max(1) {
            Evidence::Judged((numerator as f64 / denominator as f64).clamp(0.0, 1.0))
        } else {
            Evidence::NotEnough { have: denominator, need: need.max(1) }
        }
    }

    /// The rate, if it was judged.
    pub fn rate(&self) -> Option<f64> {
        match *self {
            Evidence::Judged(rate) => Some(rate),
            Evidence::NotEnough { .. } => None,
        }
    }
}

/// How fast the SLO's error budget is being spent, over the short and the long window: 1.0
/// spends exactly the budget, 14.4 spends a 30-day budget in two days. SRE practice alerts
/// when *both* windows burn fast (the long one proves it is not a blip, the short one that
/// it is still happening).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BurnRate {
    /// Over the short window (the last `short_buckets` buckets).
    pub short: f64,
    /// Over the whole window.
    pub long: f64,
}

impl BurnRate {
    /// Whether both windows burn at least `threshold` times the budget.
    pub fn both_above(&self, threshold: f64) -> bool {
        self.short >= threshold && self.long >= threshold
    }
}

/// What one scope (the runtime, a tenant, a pattern) shows over its window.
///
/// ```
/// use autonomic_core::{Evidence, WindowCounts, WindowFigures, WindowGauges};
///
/// let counts = WindowCounts { completed: 2, failed: 1, tasks: 3, violations: 0, ..Default::default() };
/// let f = WindowFigures::new(counts, counts, WindowGauges::default(), 20, 100);
/// assert_eq!(f.failure_rate, Evidence::NotEnough { have: 3, need: 20 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    /// Events over the whole window.
    pub counts: WindowCounts,
    /// Events over the short window.
    pub short: WindowCounts,
    /// Levels at the last pass.
    pub gauges: WindowGauges,
    /// Failed sessions over finished ones, with running sessions past the slow threshold
    /// counted as failed (a slow session is visible before it ends); judged from
    /// `min_finished_sessions` sessions on.
    pub failure_rate: Evidence,
    /// `1 - violations / tasks`; judged from `min_tasks` tasks on.
    pub slo_compliance: Evidence,
}

impl Default for WindowFigures {
    /// An empty window: nothing judged.
    fn default() -> Self {
        WindowFigures::new(
            WindowCounts::default(),
            WindowCounts::default(),
            WindowGauges::default(),
            1,
            1,
        )
    }
}

impl WindowFigures {
    /// Figures from a window's counts, its short window's counts, its gauges and the
    /// minimum volumes.
    pub fn new(
        counts: WindowCounts,
        short: WindowCounts,
        gauges: WindowGauges,
        min_finished: u64,
        min_tasks: u64,
    ) -> Self {
        let slow = gauges.slow_running;
        let failure_rate = Evidence::of(
            counts.failed.saturating_add(slow),
            counts.finished().saturating_add(slow),
            min_finished,
        );
        let slo_compliance = match Evidence::of(counts.violations, counts.tasks, min_tasks) {
            Evidence::Judged(violation_rate) => Evidence::Judged(1.0 - violation_rate),
            not_enough => not_enough,
        };
        WindowFigures { counts, short, gauges, failure_rate, slo_compliance }
    }

    /// The error-budget burn rate against `slo_target` (the compliance aimed at, for
    /// example Global Q's `min_slo_compliance`): the violation rate over each window divided
    /// by the budget `1 - slo_target`. With no budget (a target of 1.0) any violation burns
    /// infinitely fast. No minimum volume applies: a burn rate is for alerting, and each
    /// window's own size says how much it stands on.
    pub fn burn_rate(&self, slo_target: f64) -> BurnRate {
        let budget = (1.0 - slo_target).clamp(0.0, 1.0);
        let burn = |c: &WindowCounts| {
            if c.tasks == 0 || c.violations == 0 {
                0.0
            } else if budget == 0.0 {
                f64::INFINITY
            } else {
                (c.violations as f64 / c.tasks as f64).min(1.0) / budget
            }
        };
        BurnRate { short: burn(&self.short), long: burn(&self.counts) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_volume_decides_whether_a_rate_is_judged() {
        let few = WindowCounts { failed: 3, ..Default::default() };
        let f = WindowFigures::new(few, few, WindowGauges::default(), 20, 100);
        assert_eq!(f.failure_rate, Evidence::NotEnough { have: 3, need: 20 });
        let many = WindowCounts { failed: 30, completed: 70, ..Default::default() };
        let f = WindowFigures::new(many, many, WindowGauges::default(), 20, 100);
        assert_eq!(f.failure_rate, Evidence::Judged(0.3));
    }

    #[test]
    fn slow_running_sessions_count_as_failing_before_they_end() {
        let counts = WindowCounts { completed: 10, ..Default::default() };
        let gauges = WindowGauges { running: 20, oldest_running_ns: 1, slow_running: 10 };
        let f = WindowFigures::new(counts, counts, gauges, 20, 1);
        assert_eq!(f.failure_rate, Evidence::Judged(0.5));
    }

    #[test]
    fn burn_rate_divides_the_violation_rate_by_the_budget() {
        let long = WindowCounts { tasks: 1000, violations: 10, ..Default::default() };
        let short = WindowCounts { tasks: 100, violations: 5, ..Default::default() };
        let f = WindowFigures::new(long, short, WindowGauges::default(), 1, 1);
        let burn = f.burn_rate(0.99);
        assert!((burn.long - 1.0).abs() < 1e-9, "{burn:?}");
        assert!((burn.short - 5.0).abs() < 1e-9, "{burn:?}");
        assert!(burn.both_above(0.9) && !burn.both_above(2.0));
        assert_eq!(f.burn_rate(1.0).long, f64::INFINITY);
        assert_eq!(
            WindowFigures::new(Default::default(), Default::default(), Default::default(), 1, 1)
                .burn_rate(1.0)
                .long,
            0.0
        );
    }
}

/// The windowed part of the knowledge: the runtime's, each tenant's and each pattern's
/// [`WindowFigures`] at one instant, as the aggregate layer's rolling windows computed them.
///
/// Tenants and patterns are sorted (look one up with [`tenant`](Self::tenant) and
/// [`pattern`](Self::pattern)); those beyond the windows' caps are in `other_tenants` and
/// `other_patterns`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowedKnowledge {
    /// The window's length, milliseconds.
    pub length_ms: u64,
    /// The short window's length (of the burn rate), milliseconds.
    pub short_ms: u64,
    /// The whole runtime.
    pub global: WindowFigures,
    /// Each tenant with a window of its own, sorted by tenant.
    pub tenants: Vec<(TenantId, WindowFigures)>,
    /// The tenants beyond the cap, together.
    pub other_tenants: WindowFigures,
    /// Each pattern with a window of its own, sorted by pattern.
    pub patterns: Vec<(u8, WindowFigures)>,
    /// The patterns beyond the cap, together.
    pub other_patterns: WindowFigures,
}

impl WindowedKnowledge {
    /// A tenant's figures, if it has a window of its own.
    pub fn tenant(&self, tenant: TenantId) -> Option<&WindowFigures> {
        let i = self.tenants.binary_search_by_key(&tenant, |(t, _)| *t).ok()?;
        Some(&self.tenants[i].1)
    }

    /// A pattern's figures, if it has a window of its own.
    pub fn pattern(&self, pattern: u8) -> Option<&WindowFigures> {
        let i = self.patterns.binary_search_by_key(&pattern, |(p, _)| *p).ok()?;
        Some(&self.patterns[i].1)
    }
}
