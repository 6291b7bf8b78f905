//! The `/doctrine` view: the runtime's state as JSON, for the dashboard.

use autonomic::{AutonomicRuntime, QRule};
use autonomic_prometheus::{Group, Observation, STATES};
use serde_json::{Map, Value, json};

use crate::Tenant;

/// The runtime's state: the knowledge in force, the doctrine and how close to its caps the
/// adapter is, refusals by rule, and per tenant and pattern (the top ones, the rest as
/// `other`) sessions by state, tasks, violations, failure ratio and health.
///
/// `view` is the adapter's typed [`DoctrineView`](autonomic::DoctrineView), whole.
///
/// `observation` is the collector's last (the aggregate of the last loop iteration); the
/// knowledge, adapter statistics and Global Q are read now.
pub fn view(
    runtime: &AutonomicRuntime,
    observation: Option<&Observation>,
    tenants: &[Tenant],
) -> Value {
    let q = *runtime.adapter().global_q();
    let knowledge = runtime.knowledge().current();
    let stats = runtime.adapter().snapshot_stats();
    let refusals: Map<String, Value> = QRule::ALL
        .iter()
        .map(|&rule| (rule.as_str().to_owned(), json!(stats.rejections.get(rule))))
        .collect();
    let name = |label: &str| {
        tenants
            .iter()
            .find(|t| t.id.to_string() == label)
            .map_or(label.to_owned(), |t| t.name.to_owned())
    };
    let groups = |groups: &[Group], named: bool| -> Vec<Value> {
        groups
            .iter()
            .map(|g| {
                let sessions: Map<String, Value> = STATES
                    .iter()
                    .zip(g.sessions)
                    .map(|(s, n)| ((*s).to_owned(), json!(n)))
                    .collect();
                let violation_ratio =
                    if g.tasks == 0 { 0.0 } else { g.violations as f64 / g.tasks as f64 };
                let health = if g.failure_ratio() > q.max_failure_rate {
                    "failing"
                } else if violation_ratio > 1.0 - q.min_slo_compliance {
                    "degraded"
                } else {
                    "healthy"
                };
                json!({
                    "name": if named { name(&g.label) } else { g.label.clone() },
                    "sessions": sessions,
                    "tasks": g.tasks,
                    "violations": g.violations,
                    "retries": g.retries,
                    "failure_ratio": g.failure_ratio(),
                    "health": health,
                })
            })
            .collect()
    };
    let (tenants_view, patterns_view, loop_view) = match observation {
        Some(o) => (
            groups(&o.tenants, true),
            groups(&o.patterns, false),
            o.report.as_ref().map(|r| {
                json!({
                    "iteration": r.iteration,
                    "took_ms": r.took.as_secs_f64() * 1e3,
                    "sessions_cleaned_total": r.totals.sessions_cleaned,
                    "sessions_remaining": r.sessions_remaining,
                })
            }),
        ),
        None => (Vec::new(), Vec::new(), None),
    };
    json!({
        "knowledge": {
            "generation": knowledge.generation,
            "total_sessions": knowledge.total_sessions,
            "active_sessions": knowledge.active_sessions,
            "failure_rate": knowledge.failure_rate,
            "slo_compliance": knowledge.slo_compliance,
            "p99_latency_us": knowledge.p99_latency_us,
        },
        "global_q": {
            "max_failure_rate": q.max_failure_rate,
            "min_slo_compliance": q.min_slo_compliance,
            "max_concurrent_adaptations": q.max_concurrent_adaptations,
            "max_total_resources": q.max_total_resources,
        },
        "adaptations": { "in_flight": stats.active_adaptations, "max": q.max_concurrent_adaptations },
        "resources": { "granted": stats.granted_resources, "max": q.max_total_resources },
        "decisions": { "admitted": stats.total_decisions, "executed": stats.executed_decisions },
        "refusals": refusals,
        "tenants": tenants_view,
        "patterns": patterns_view,
        "loop": loop_view,
        // The adapter's typed view (Q, shadow, capacity, tenant health, grants by session).
        "view": runtime.doctrine_view(),
    })
}
