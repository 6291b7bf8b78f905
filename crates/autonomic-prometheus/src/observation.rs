//! [`Observation`]: what one scrape encodes, prepared when the aggregate is observed.

use autonomic::{
    AdapterStats, AggregatedMetrics, AutonomicRuntime, Breakdown, GlobalQ, LoopReport,
    SessionPolicy, TableSource, TenantId, WindowFigures,
};

use crate::{ExportConfig, LatencyBuckets};

/// The label value of the groups folded together.
pub const OTHER: &str = "other";

/// One labelled group (a tenant, a pattern, or `other`): sums of its sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The label value: `tenant-<uuid>`, a pattern number, `none`, or `other`.
    pub label: String,
    /// Sessions by state: created, active, completed, failed, cancelled.
    pub sessions: [u64; 5],
    /// Of the active ones, adapted.
    pub adapted: u64,
    /// Tasks recorded.
    pub tasks: u64,
    /// SLO violations recorded.
    pub violations: u64,
    /// Retries recorded.
    pub retries: u64,
    /// Adaptations recorded.
    pub adaptations: u64,
    /// Task latency summed, µs.
    pub latency_us: u64,
}

/// The state label values, in the order of [`Group::sessions`].
pub const STATES: [&str; 5] = ["created", "active", "completed", "failed", "cancelled"];

impl Group {
    fn new(label: String, m: &AggregatedMetrics) -> Self {
        let mut group = Group {
            label,
            sessions: [0; 5],
            adapted: 0,
            tasks: 0,
            violations: 0,
            retries: 0,
            adaptations: 0,
            latency_us: 0,
        };
        group.add(m);
        group
    }

    fn add(&mut self, m: &AggregatedMetrics) {
        let states = [
            m.created_sessions,
            m.active_sessions,
            m.completed_sessions,
            m.failed_sessions,
            m.cancelled_sessions,
        ];
        for (sum, n) in self.sessions.iter_mut().zip(states) {
            *sum = sum.saturating_add(n);
        }
        self.adapted = self.adapted.saturating_add(m.adapted_sessions);
        self.tasks = self.tasks.saturating_add(m.total_completions);
        self.violations = self.violations.saturating_add(m.total_violations);
        self.retries = self.retries.saturating_add(m.total_retries);
        self.adaptations = self.adaptations.saturating_add(m.total_adaptations);
        self.latency_us = self.latency_us.saturating_add(m.total_latency_us);
    }

    /// Sessions in every state.
    pub fn total_sessions(&self) -> u64 {
        self.sessions.iter().fold(0, |a, &b| a.saturating_add(b))
    }

    /// Failed over finished sessions; 0 when none finished.
    pub fn failure_ratio(&self) -> f64 {
        let finished = self.sessions[2] + self.sessions[3] + self.sessions[4];
        if finished == 0 { 0.0 } else { self.sessions[3] as f64 / finished as f64 }
    }
}

/// Everything a scrape encodes, prepared from one aggregate: the totals, the top tenants and
/// patterns by session count with the rest folded into [`OTHER`], the adapter's statistics,
/// the doctrine's caps and the loop's last report.
///
/// Built once per observation (O(tenants + patterns), a few dozen small strings); a scrape
/// only formats it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Every session.
    pub total: AggregatedMetrics,
    /// The latency histogram of every session (per-session mean task latency); empty unless
    /// set (by [`of_runtime`](Self::of_runtime), or from an aggregation's histogram with
    /// [`LatencyBuckets::of`]).
    pub latency: LatencyBuckets,
    /// The labelled tenants, most sessions first, then `other` if any was folded.
    pub tenants: Vec<Group>,
    /// The labelled patterns (and `none`), most sessions first, then `other`.
    pub patterns: Vec<Group>,
    /// The adapter's statistics.
    pub adapter: AdapterStats,
    /// The doctrine in force.
    pub global_q: GlobalQ,
    /// The loop's last report, if it ran.
    pub report: Option<LoopReport>,
    /// The rolling window's figures, when the published knowledge has them: the runtime's,
    /// and those of the labelled tenants (the same top tenants as [`tenants`](Self::tenants),
    /// so the label set stays bounded).
    pub windows: Option<ObservedWindows>,
}

/// The rolling window's figures an observation exports.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedWindows {
    /// The window's length, seconds.
    pub length_seconds: f64,
    /// The whole runtime.
    pub global: WindowFigures,
    /// The labelled tenants that have a window of their own, by label.
    pub tenants: Vec<(String, WindowFigures)>,
}

impl Observation {
    /// Prepares `breakdown` and the rest for export under `config`'s bounds.
    pub fn new(
        breakdown: &Breakdown,
        adapter: AdapterStats,
        global_q: GlobalQ,
        report: Option<LoopReport>,
        config: &ExportConfig,
    ) -> Self {
        let tenants = top(
            breakdown.tenants.iter().map(|t| (Label::Tenant(t.tenant), &t.metrics)),
            config.max_tenants,
        );
        let patterns = top(
            breakdown
                .patterns
                .iter()
                .map(|p| (Label::Pattern(p.pattern), &p.metrics))
                .chain(std::iter::once((Label::Unpatterned, &breakdown.unpatterned)))
                .filter(|(_, m)| m.total_sessions > 0),
            config.max_patterns,
        );
        Observation {
            total: breakdown.total,
            latency: LatencyBuckets::default(),
            tenants,
            patterns,
            adapter,
            global_q,
            report,
            windows: None,
        }
    }

    /// Observes `runtime` now: one aggregation pass with breakdowns over its table (and its
    /// latency histogram), its adapter's statistics, its Global Q and its loop's last report.
    pub fn of_runtime<P: SessionPolicy>(
        runtime: &AutonomicRuntime<P>,
        config: &ExportConfig,
    ) -> Self {
        let (breakdown, latency) = runtime.aggregator().aggregate_with(
            &TableSource::all(runtime.table()),
            |aggregation| {
                (
                    Breakdown::from_aggregation(aggregation),
                    LatencyBuckets::of(aggregation.histogram()),
                )
            },
        );
        let mut observation = Observation::new(
            &breakdown,
            runtime.adapter().snapshot_stats(),
            *runtime.adapter().global_q(),
            runtime.last_report(),
            config,
        );
        observation.latency = latency;
        let knowledge = runtime.knowledge().current();
        observation.windows = knowledge.windows.as_ref().map(|w| ObservedWindows {
            length_seconds: w.length_ms as f64 / 1e3,
            global: w.global,
            tenants: w
                .tenants
                .iter()
                .map(|(tenant, figures)| (tenant.to_string(), *figures))
                .filter(|(label, _)| observation.tenants.iter().any(|g| &g.label == label))
                .collect(),
        });
        observation
    }
}

/// What a group is labelled by, before it is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Tenant(TenantId),
    Pattern(u8),
    Unpatterned,
}

impl Label {
    fn value(self) -> String {
        match self {
            Label::Tenant(tenant) => tenant.to_string(),
            Label::Pattern(pattern) => pattern.to_string(),
            Label::Unpatterned => "none".to_owned(),
        }
    }
}

/// The `n` groups with the most sessions (ties by label), then the rest summed as `other`.
/// Only the `n` kept are formatted.
fn top<'a>(groups: impl Iterator<Item = (Label, &'a AggregatedMetrics)>, n: usize) -> Vec<Group> {
    let mut all: Vec<(Label, &AggregatedMetrics)> = groups.collect();
    all.sort_unstable_by(|a, b| {
        b.1.total_sessions.cmp(&a.1.total_sessions).then_with(|| a.0.cmp(&b.0))
    });
    let rest = all.split_off(all.len().min(n));
    let mut out: Vec<Group> =
        all.into_iter().map(|(label, m)| Group::new(label.value(), m)).collect();
    let mut rest = rest.into_iter();
    if let Some((_, first)) = rest.next() {
        let mut other = Group::new(OTHER.to_owned(), first);
        for (_, m) in rest {
            other.add(m);
        }
        out.push(other);
    }
    out
}
