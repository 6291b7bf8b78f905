//! What the adapter did: decisions executed by action, refusals by rule, and when the
//! published knowledge broke Global Q.

use autonomic::{ActionKind, AdapterStats, GlobalQ, QRule};

use super::format::{pct, thousands};
use crate::BACKOFF_SCALE;
use crate::watch::Watch;
use crate::world::{Tally, kind_index};

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

pub(super) fn refusals(q: &GlobalQ, adapter: &AdapterStats, watch: &Watch) {
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
                "    the published knowledge broke Global Q from iteration {start} ({at:.2} s) to \
                 iteration {stop} ({stop_at:.2} s)"
            ),
            None => out!(
                "    the published knowledge broke Global Q from iteration {start} ({at:.2} s) \
                 to the end"
            ),
        }
    }
}

/// The bound a rule refuses past, as the report prints it.
fn limit(q: &GlobalQ, rule: QRule) -> String {
    match rule {
        QRule::MinSloCompliance => format!("< {}", pct(q.min_slo_compliance)),
        QRule::MaxFailureRate => format!("> {}", pct(q.max_failure_rate)),
        QRule::MaxConcurrentAdaptations => format!("> {} in flight", q.max_concurrent_adaptations),
        QRule::MaxTotalResources => format!("> {} of capacity", pct(q.max_total_resources)),
    }
}
