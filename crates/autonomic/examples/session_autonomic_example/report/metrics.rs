//! The aggregated metrics: per tenant (at the height of the incident and at the end) and per
//! pattern.

use autonomic::{AggregatedMetrics, Breakdown};

use super::format::{ms, pct, thousands};
use crate::watch::Watch;
use crate::workload::{BAD_TENANT, PATTERNS};
use crate::world::World;

pub(super) fn aggregates(world: &World, watch: &Watch) {
    if let Some((report, breakdown, t)) = &watch.peak {
        out!("");
        out!(
            "== Aggregated metrics at the height of the incident (iteration {}, {t:.2} s; \
             per-session mean task latency)",
            report.iteration
        );
        tenant_table(world, breakdown);
    }
    out!("");
    out!("== Aggregated metrics at the end (the sessions still in the table)");
    let end = world.runtime.breakdown();
    tenant_table(world, &end);
    out!("");
    pattern_table(&end);
}

fn tenant_table(world: &World, breakdown: &Breakdown) {
    out!(
        "    {:<22} {:>8} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "tenant",
        "sessions",
        "active",
        "failed",
        "fail rate",
        "slo",
        "p50",
        "p90",
        "p99"
    );
    let row = |name: &str, m: &AggregatedMetrics| {
        out!(
            "    {:<22} {:>8} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8}",
            name,
            thousands(m.total_sessions),
            thousands(m.active_sessions),
            thousands(m.failed_sessions),
            pct(m.failure_rate),
            pct(m.slo_compliance()),
            ms(m.latency.p50_us),
            ms(m.latency.p90_us),
            ms(m.latency.p99_us),
        );
    };
    for t in &world.tenants {
        if let Some(m) = breakdown.tenant(t.id) {
            let name = if world.tenants.iter().position(|x| x.id == t.id) == Some(BAD_TENANT) {
                format!("{} (turns bad)", t.name)
            } else {
                t.name.clone()
            };
            row(&name, m);
        }
    }
    row("all", &breakdown.total);
}

fn pattern_table(end: &Breakdown) {
    out!(
        "    {:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "pattern",
        "sessions",
        "fail rate",
        "slo",
        "p50",
        "p90",
        "p99"
    );
    for p in &PATTERNS {
        if let Some(m) = end.pattern(p.id) {
            out!(
                "    {:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
                p.name,
                thousands(m.total_sessions),
                pct(m.failure_rate),
                pct(m.slo_compliance()),
                ms(m.latency.p50_us),
                ms(m.latency.p90_us),
                ms(m.latency.p99_us),
            );
        }
    }
}
