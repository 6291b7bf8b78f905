//! [`AutonomicCollector`]: the `prometheus-client` collector.

use std::sync::{Arc, Mutex, PoisonError};

use autonomic::TenantId;
use autonomic::adapter::Refusals;
use autonomic::{ActionKind, AutonomicRuntime, QRule, SessionPolicy};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::OTHER;
use crate::observation::{Group, ObservedWindows, STATES};
use crate::{ExportConfig, ExportConfigError, Observation};

/// A [`Collector`] of the runtime's state, registered on the user's own
/// [`Registry`](prometheus_client::registry::Registry) (no global recorder).
///
/// It encodes, at scrape time, the last [`Observation`] given to it
/// ([`observe`](Self::observe), or [`observe_runtime`](Self::observe_runtime) after each
/// iteration of the runtime's loop): a scrape formats that aggregate and never visits the
/// session table, so its cost depends on the label bounds, not on the number of sessions.
/// Cloning shares the observation (observe on one clone, register another).
///
/// # Metrics
/// Gauges of the sessions in the table (they fall when cleanup removes sessions):
/// `autonomic_sessions{state}`, `autonomic_sessions_adapted`, `autonomic_tasks`,
/// `autonomic_violations`, `autonomic_retries`, `autonomic_adaptations`,
/// `autonomic_failure_ratio`, `autonomic_slo_compliance_ratio`,
/// `autonomic_task_latency_mean_seconds`, `autonomic_session_latency_seconds{quantile}`
/// (per-session mean latency), the histogram `autonomic_session_mean_latency_seconds`
/// (`_bucket{le}` on [`LATENCY_BOUNDS_US`](crate::LATENCY_BOUNDS_US), `_sum`, `_count`:
/// one value per session with a task, its mean task latency), and per tenant and per pattern
/// `autonomic_tenant_sessions{tenant,state}`, `autonomic_tenant_tasks{tenant}`,
/// `autonomic_tenant_violations{tenant}`, `autonomic_tenant_failure_ratio{tenant}` (and the
/// same with `pattern`). Label values: the top `max_tenants` / `max_patterns` by sessions,
/// the rest summed as `other` (`none` for sessions without a pattern).
///
/// The rolling window the doctrine judges (when the runtime's loop has published it):
/// `autonomic_window_length_seconds`, `autonomic_window_sessions_finished`,
/// `autonomic_window_tasks`, `autonomic_window_judged{rule}` (1 when the window holds the
/// minimum volume the rule needs, 0 when it does not), `autonomic_window_failure_ratio` and
/// `autonomic_window_slo_compliance_ratio` (only when judged), and per labelled tenant
/// `autonomic_tenant_window_failure_ratio{tenant}` (only when judged).
///
/// Counters of the adapter and the loop since start: `autonomic_refusals_total{rule}`,
/// `autonomic_action_refusals_total{rule,action}` (every rule and kind of action),
/// `autonomic_tenant_refusals_total{tenant}` (the tenants refused most, at most
/// `max_tenants` of the adapter's [`REFUSAL_TENANTS`](autonomic::adapter::REFUSAL_TENANTS),
/// each counted since it got its place; the rest as `other`),
/// `autonomic_decisions_total`, `autonomic_decisions_executed_total`,
/// `autonomic_events_dropped_total`, `autonomic_loop_iterations_total`,
/// `autonomic_sessions_cleaned_total`, `autonomic_grants_released_total`; gauges
/// `autonomic_adaptations_in_flight` and `autonomic_adaptations_max`,
/// `autonomic_resources_granted_ratio` and `autonomic_resources_max_ratio`,
/// `autonomic_knowledge_generation`, `autonomic_loop_duration_seconds`.
///
/// ```
/// use std::sync::Arc;
/// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
/// use autonomic_prometheus::{AutonomicCollector, ExportConfig};
/// use prometheus_client::{encoding::text::encode, registry::Registry};
///
/// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
/// let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
/// h.record_task_execution_us(1_500);
/// runtime.complete_session(h)?;
///
/// let collector = AutonomicCollector::new(ExportConfig::default())?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(collector.clone()));
/// collector.observe_runtime(&runtime);
///
/// let mut text = String::new();
/// encode(&mut text, &registry)?;
/// assert!(text.contains("autonomic_sessions{state=\"completed\"} 1"));
/// assert!(text.contains("autonomic_tasks 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AutonomicCollector {
    config: ExportConfig,
    /// Swapped whole by `observe`; a scrape clones the `Arc` under the lock and formats
    /// without it.
    observation: Arc<Mutex<Option<Arc<Observation>>>>,
}

impl AutonomicCollector {
    /// A collector with nothing observed yet (a scrape then encodes nothing).
    ///
    /// Errors: a bound of `config` out of range.
    pub fn new(config: ExportConfig) -> Result<Self, ExportConfigError> {
        config.validate()?;
        Ok(AutonomicCollector { config, observation: Arc::default() })
    }

    /// The label bounds.
    pub fn config(&self) -> &ExportConfig {
        &self.config
    }

    /// Makes `observation` what the next scrapes encode.
    pub fn observe(&self, observation: Observation) {
        *self.slot() = Some(Arc::new(observation));
    }

    /// Observes `runtime` now ([`Observation::of_runtime`]: one aggregation pass over its
    /// table). Call it after each iteration of the loop (`runtime.reports()`), not per
    /// scrape.
    pub fn observe_runtime<P: SessionPolicy>(&self, runtime: &AutonomicRuntime<P>) {
        self.observe(Observation::of_runtime(runtime, &self.config));
    }

    /// The observation the next scrape encodes.
    pub fn observation(&self) -> Option<Arc<Observation>> {
        self.slot().clone()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Observation>>> {
        // Only whole `Arc`s are stored under this lock: a panic cannot leave it half-written.
        self.observation.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for AutonomicCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match self.observation() {
            Some(observation) => {
                encode_observation(&observation, self.config.max_tenants, &mut encoder)
            }
            None => Ok(()),
        }
    }
}

/// Writes one gauge family without labels.
fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: V,
) -> Result<(), std::fmt::Error> {
    e.encode_descriptor(name, help, unit, MetricType::Gauge)?.encode_gauge(&value)
}

/// Writes one counter family without labels.
fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    e.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, u64, u64>(&value, None)
}

/// Writes one gauge family with one sample per label set.
fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in samples {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// An empty label set: a family with one unlabelled sample, written only when it exists.
const NO_LABELS: [(&str, &str); 0] = [];

/// The rolling window's families: a rate is written only when the window judged it (a rate
/// without enough evidence is absent, and `autonomic_window_judged` says why).
fn windows(e: &mut DescriptorEncoder, w: &ObservedWindows) -> Result<(), std::fmt::Error> {
    let g = &w.global;
    gauge(
        e,
        "autonomic_window_length",
        "Length of the rolling window the doctrine judges.",
        Some(&Unit::Seconds),
        w.length_seconds,
    )?;
    gauge(
        e,
        "autonomic_window_sessions_finished",
        "Sessions that finished within the rolling window.",
        None,
        g.counts.finished(),
    )?;
    gauge(
        e,
        "autonomic_window_tasks",
        "Tasks recorded within the rolling window.",
        None,
        g.counts.tasks,
    )?;
    gauges(
        e,
        "autonomic_window_judged",
        "1 when the rolling window holds the minimum volume the rule needs to judge, else 0.",
        None,
        [
            ("max_failure_rate", g.failure_rate.rate().is_some()),
            ("min_slo_compliance", g.slo_compliance.rate().is_some()),
        ]
        .map(|(rule, judged)| ([("rule", rule)], u64::from(judged))),
    )?;
    gauges(
        e,
        "autonomic_window_failure_ratio",
        "Failed (and slow running) sessions over finished ones within the rolling window.",
        None,
        g.failure_rate.rate().map(|r| (NO_LABELS, r)),
    )?;
    gauges(
        e,
        "autonomic_window_slo_compliance_ratio",
        "Tasks without an SLO violation over tasks within the rolling window.",
        None,
        g.slo_compliance.rate().map(|r| (NO_LABELS, r)),
    )?;
    gauges(
        e,
        "autonomic_tenant_window_failure_ratio",
        "A tenant's failure ratio within the rolling window (labelled tenants, when judged).",
        None,
        w.tenants.iter().filter_map(|(label, f)| {
            f.failure_rate.rate().map(|r| ([("tenant", label.as_str())], r))
        }),
    )
}

fn encode_observation(
    o: &Observation,
    max_tenants: usize,
    e: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let t = &o.total;
    let states = [
        t.created_sessions,
        t.active_sessions,
        t.completed_sessions,
        t.failed_sessions,
        t.cancelled_sessions,
    ];
    gauges(
        e,
        "autonomic_sessions",
        "Sessions in the table, by state.",
        None,
        STATES.iter().zip(states).map(|(&state, n)| ([("state", state)], n)),
    )?;
    gauge(
        e,
        "autonomic_sessions_adapted",
        "Active sessions in the Adapted sub-state.",
        None,
        t.adapted_sessions,
    )?;
    gauge(
        e,
        "autonomic_tasks",
        "Tasks recorded by the sessions in the table.",
        None,
        t.total_completions,
    )?;
    gauge(
        e,
        "autonomic_violations",
        "SLO violations recorded by the sessions in the table.",
        None,
        t.total_violations,
    )?;
    gauge(
        e,
        "autonomic_retries",
        "Retries recorded by the sessions in the table.",
        None,
        t.total_retries,
    )?;
    gauge(
        e,
        "autonomic_adaptations",
        "Adaptations recorded by the sessions in the table.",
        None,
        t.total_adaptations,
    )?;
    gauge(
        e,
        "autonomic_failure_ratio",
        "Failed sessions over finished sessions in the table.",
        None,
        t.failure_rate,
    )?;
    gauge(
        e,
        "autonomic_slo_compliance_ratio",
        "Tasks without an SLO violation over tasks.",
        None,
        t.slo_compliance(),
    )?;
    gauge(
        e,
        "autonomic_task_latency_mean",
        "Mean task latency.",
        Some(&Unit::Seconds),
        t.avg_latency_us / 1e6,
    )?;
    let l = &t.latency;
    gauges(
        e,
        "autonomic_session_latency",
        "Quantiles of the per-session mean task latency.",
        Some(&Unit::Seconds),
        [
            ("0", l.min_us),
            ("0.5", l.p50_us),
            ("0.9", l.p90_us),
            ("0.99", l.p99_us),
            ("1", l.max_us),
        ]
        .map(|(q, us)| ([("quantile", q)], us as f64 / 1e6)),
    )?;
    let latency = o.latency.encoded();
    e.encode_descriptor(
        "autonomic_session_mean_latency",
        "Per-session mean task latency of the sessions in the table (one value per session with a task).",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?
    .encode_histogram::<NoLabelSet>(
        o.latency.sum_us() as f64 / 1e6,
        o.latency.count(),
        &latency,
        None,
    )?;
    groups(e, "tenant", &o.tenants)?;
    groups(e, "pattern", &o.patterns)?;
    if let Some(w) = &o.windows {
        windows(e, w)?;
    }

    let a = &o.adapter;
    let mut refusals = e.encode_descriptor(
        "autonomic_refusals",
        "Adaptations refused by Global Q, by rule.",
        None,
        MetricType::Counter,
    )?;
    for rule in QRule::ALL {
        refusals
            .encode_family(&[("rule", rule.as_str())])?
            .encode_counter::<NoLabelSet, u64, u64>(&a.rejections.get(rule), None)?;
    }
    refusals_by_action_and_tenant(e, &a.refusals, max_tenants)?;
    counter(e, "autonomic_decisions", "Adaptations admitted by Global Q.", a.total_decisions)?;
    counter(
        e,
        "autonomic_decisions_executed",
        "Admitted adaptations executed.",
        a.executed_decisions,
    )?;
    counter(
        e,
        "autonomic_events_dropped",
        "Adapter events dropped because the buffer was full.",
        a.events_dropped,
    )?;
    gauge(
        e,
        "autonomic_adaptations_in_flight",
        "Admitted adaptations not yet executed.",
        None,
        a.active_adaptations,
    )?;
    gauge(
        e,
        "autonomic_adaptations_max",
        "Global Q's max_concurrent_adaptations.",
        None,
        o.global_q.max_concurrent_adaptations,
    )?;
    gauge(
        e,
        "autonomic_resources_granted_ratio",
        "Resources granted to live sessions, fraction of capacity.",
        None,
        a.granted_resources,
    )?;
    gauge(
        e,
        "autonomic_resources_max_ratio",
        "Global Q's max_total_resources.",
        None,
        o.global_q.max_total_resources,
    )?;

    if let Some(r) = &o.report {
        counter(e, "autonomic_loop_iterations", "Iterations of the MAPE-K loop.", r.iteration)?;
        counter(
            e,
            "autonomic_sessions_cleaned",
            "Finished sessions removed by cleanup.",
            r.totals.sessions_cleaned,
        )?;
        counter(
            e,
            "autonomic_grants_released",
            "Resource grants returned by the loop.",
            r.totals.grants_released,
        )?;
        gauge(
            e,
            "autonomic_knowledge_generation",
            "Generation of the knowledge last published.",
            None,
            r.knowledge_generation,
        )?;
        gauge(
            e,
            "autonomic_loop_duration",
            "How long the last loop iteration took.",
            Some(&Unit::Seconds),
            r.took.as_secs_f64(),
        )?;
    }
    Ok(())
}

/// `autonomic_action_refusals_total{rule,action}` and `autonomic_tenant_refusals_total{tenant}`
/// (the first `max_tenants` of the adapter's most refused tenants, the rest as `other`).
fn refusals_by_action_and_tenant(
    e: &mut DescriptorEncoder,
    refusals: &Refusals,
    max_tenants: usize,
) -> Result<(), std::fmt::Error> {
    let mut by_action = e.encode_descriptor(
        "autonomic_action_refusals",
        "Adaptations refused by Global Q, by rule and kind of action.",
        None,
        MetricType::Counter,
    )?;
    for rule in QRule::ALL {
        for kind in ActionKind::ALL {
            by_action
                .encode_family(&[("rule", rule.as_str()), ("action", kind.as_str())])?
                .encode_counter::<NoLabelSet, u64, u64>(&refusals.get(rule, kind), None)?;
        }
    }
    let mut by_tenant = e.encode_descriptor(
        "autonomic_tenant_refusals",
        "Adaptations refused by Global Q, for the tenants refused most (each since it got its place), the rest as other.",
        None,
        MetricType::Counter,
    )?;
    let (named, rest) = refusals.tenants.split_at(refusals.tenants.len().min(max_tenants));
    for t in named {
        by_tenant
            .encode_family(&[("tenant", TenantLabel(t.tenant))])?
            .encode_counter::<NoLabelSet, u64, u64>(&t.refusals, None)?;
    }
    let other = rest.iter().fold(refusals.other_tenants, |a, t| a.saturating_add(t.refusals));
    by_tenant
        .encode_family(&[("tenant", OTHER)])?
        .encode_counter::<NoLabelSet, u64, u64>(&other, None)
}

/// A tenant as a label value (as [`Group::label`] writes it), formatted at scrape time
/// without an allocation.
struct TenantLabel(TenantId);

impl EncodeLabelValue for TenantLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        write!(encoder, "{}", self.0)
    }
}

/// The per-tenant or per-pattern families, labelled by `key`.
fn groups(
    e: &mut DescriptorEncoder,
    key: &'static str,
    groups: &[Group],
) -> Result<(), std::fmt::Error> {
    let (sessions, tasks, violations, failure) = match key {
        "tenant" => (
            "autonomic_tenant_sessions",
            "autonomic_tenant_tasks",
            "autonomic_tenant_violations",
            "autonomic_tenant_failure_ratio",
        ),
        _ => (
            "autonomic_pattern_sessions",
            "autonomic_pattern_tasks",
            "autonomic_pattern_violations",
            "autonomic_pattern_failure_ratio",
        ),
    };
    gauges(
        e,
        sessions,
        "Sessions in the table, by state (top groups by sessions, the rest as other).",
        None,
        groups.iter().flat_map(|g| {
            STATES
                .iter()
                .zip(g.sessions)
                .map(move |(&state, n)| ([(key, g.label.as_str()), ("state", state)], n))
        }),
    )?;
    gauges(
        e,
        tasks,
        "Tasks recorded by the group's sessions.",
        None,
        groups.iter().map(|g| ([(key, g.label.as_str())], g.tasks)),
    )?;
    gauges(
        e,
        violations,
        "SLO violations recorded by the group's sessions.",
        None,
        groups.iter().map(|g| ([(key, g.label.as_str())], g.violations)),
    )?;
    gauges(
        e,
        failure,
        "Failed over finished sessions of the group.",
        None,
        groups.iter().map(|g| ([(key, g.label.as_str())], g.failure_ratio())),
    )
}
