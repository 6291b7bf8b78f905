//! What the adapter did: decisions executed by action, refusals by rule, when the windowed
//! knowledge broke Global Q, and how soon after the incident the doctrine admitted again.

use std::sync::atomic::Ordering;

use autonomic::{ActionKind, AdapterStats, GlobalQ, QRule};

use super::format::{pct, thousands};
use crate::watch::Watch;
use crate::world::{Tally, World, kind_index};
use crate::{BACKOFF_SCALE, LOOP_INTERVAL, WINDOW};

pub(super) fn decisions(tally: &Tally, adapter: &AdapterStats) {
    out!("");
    out!(
        "== Decisions executed, by action ({} admitted in all)",
        thousands(adapter.total_decisions)
    );
    for kind in ActionKind::ALL {
        out!("    {:<24} {:>9}", kind.as_str(), thousands(tally.executed[kind_index(kind)].get()));
    }
    out!("    {:<24} {:>9}", "not applied (cancelled)", thousands(tally.execution_failed.get()));
    out!(
        "    task retries {}, simulated backoff {:.1} s (waited {}x faster); these depend on \
         what the doctrine admitted, so they vary a little from run to run",
        thousands(tally.retries.get()),
        tally.backoff_ms.get() as f64 / 1e3,
        BACKOFF_SCALE,
    );
}

pub(super) fn refusals(world: &World, q: &GlobalQ, adapter: &AdapterStats, watch: &Watch) {
    out!("");
    out!("== Refusals by Global Q, by rule ({} in all)", thousands(adapter.rejections.total()));
    for rule in QRule::ALL {
        out!(
            "    {:<28} {:>9}   ({})",
            rule.as_str(),
            thousands(adapter.rejections.get(rule)),
            limit(q, rule)
        );
    }
    let open = watch.refusing_since.map(|(start, at)| (start, at, None));
    for (start, at, end) in watch.episodes.iter().chain(open.as_ref()) {
        match end {
            Some((stop, stop_at)) => out!(
                "    the windowed knowledge broke Global Q from iteration {start} ({at:.2} s) to \
                 iteration {stop} ({stop_at:.2} s)"
            ),
            None => out!(
                "    the windowed knowledge broke Global Q from iteration {start} ({at:.2} s) \
                 to the end"
            ),
        }
    }
    recovery(world, watch);
}

/// When the incident ended and when the doctrine admitted again: within one window (and one
/// loop interval, the time it takes to publish), or not.
fn recovery(world: &World, watch: &Watch) {
    // Relaxed: every session task has been joined before the report (see `session::finish`).
    let ended_ms = world.tally.incident_ended_ms.load(Ordering::Relaxed);
    if ended_ms == 0 {
        return;
    }
    let ended = ended_ms as f64 / 1e3;
    let readmitted = watch.episodes.iter().rev().find_map(|(_, _, end)| end.map(|(_, at)| at));
    let bound = (WINDOW.length_ms + LOOP_INTERVAL.as_millis() as u64) as f64 / 1e3;
    match readmitted {
        Some(at) if watch.refusing_since.is_none() => {
            let after = at - ended;
            let within = if after <= bound { "within" } else { "NOT within" };
            // The window's failure rate can fall back under the limit while the incident's
            // last, rarer failures still run: then the doctrine admits before they end.
            let when = if after < 0.0 {
                format!("{:.0} ms before it", -after * 1e3)
            } else {
                format!("{:.0} ms later", after * 1e3)
            };
            out!(
                "    the incident's last session ended at {ended:.2} s; the doctrine admitted again \
                 at {at:.2} s, {when}: {within} one window ({} ms) and one loop interval",
                WINDOW.length_ms,
            );
        }
        _ if watch.refusing_since.is_some() => out!(
            "    the incident's last session ended at {ended:.2} s; the doctrine was still refusing \
             at the end"
        ),
        _ => out!(
            "    the incident's last session ended at {ended:.2} s; the window never broke Global Q"
        ),
    }
}

/// The bound a rule refuses past, as the report prints it.
fn limit(q: &GlobalQ, rule: QRule) -> String {
    match rule {
        QRule::MinSloCompliance => format!("< {}", pct(q.min_slo_compliance)),
        QRule::MaxFailureRate => format!("> {}", pct(q.max_failure_rate)),
        QRule::MaxConcurrentAdaptations => format!("> {} in flight", q.max_concurrent_adaptations),
        QRule::MaxTotalResources => format!("> {} of capacity", pct(q.max_total_resources)),
        QRule::TenantShare => "past a tenant's ceiling or the borrowable pool".to_owned(),
        QRule::RetryBudget => "past the retry budget".to_owned(),
        QRule::CohortBreaker => "an open cohort breaker".to_owned(),
    }
}
