//! Following the loop's reports: a progress line for each, and the incident remembered.

use std::time::{Duration, Instant};

use autonomic::{Breakdown, Evidence, GlobalQ, LoopReport, QRule, WindowFigures};

use crate::report::format::{ms, pct, short_rule, thousands};
use crate::world::World;

pub(crate) type Episode = (u64, f64, Option<(u64, f64)>);

/// Follows the loop's reports: prints a line for each, and remembers the incident.
#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) iterations: u64,
    pub(crate) took_total: Duration,
    pub(crate) took_max: Duration,
    pub(crate) last: Option<LoopReport>,
    pub(crate) refusing_since: Option<(u64, f64)>,
    pub(crate) episodes: Vec<Episode>,
    pub(crate) peak: Option<(LoopReport, Breakdown, f64)>,
}

/// Whether the windowed knowledge breaks Global Q (what the doctrine's knowledge rules judge:
/// a rate over the window, from its minimum volume on).
pub(crate) fn refusing(window: &WindowFigures, q: &GlobalQ) -> bool {
    window.failure_rate.rate().is_some_and(|r| r > q.max_failure_rate)
        || window.slo_compliance.rate().is_some_and(|c| c < q.min_slo_compliance)
}

/// A windowed rate as the progress lines print it: the rate, or how much evidence is missing.
fn evidence(e: Evidence) -> String {
    match e {
        Evidence::Judged(rate) => pct(rate),
        Evidence::NotEnough { have, need } => format!("({have}<{need})"),
    }
}

impl Watch {
    pub(crate) fn see(&mut self, report: LoopReport, world: &World, started: Instant) {
        let t = started.elapsed().as_secs_f64();
        let q = world.runtime.adapter().global_q();
        let previous = self.last.as_ref().map(|r| r.adapter.clone()).unwrap_or_default();
        let now = &report.adapter;
        let m = &report.metrics;
        let refused = now.rejections.total() - previous.rejections.total();
        let by_rule: Vec<String> = QRule::ALL
            .iter()
            .filter_map(|&rule| {
                let n = now.rejections.get(rule) - previous.rejections.get(rule);
                (n > 0).then(|| format!("{} {n}", short_rule(rule)))
            })
            .collect();
        let knowledge = world.runtime.knowledge().current();
        let window = knowledge.windows.as_ref().map(|w| w.global).unwrap_or_default();
        let doctrine = refusing(&window, &q);
        let line = format!(
            "{t:5.2}s  iter {:>3}  sessions {:>7} (active {:>5})  fail {:>5} (window {:>9})  \
             slo {:>6}  p99 {:>7}  cleaned {:>6}  loop {:>6}  decisions +{:<5} refused +{:<5}{}{}",
            report.iteration,
            thousands(m.total_sessions),
            thousands(m.active_sessions),
            pct(m.failure_rate),
            evidence(window.failure_rate),
            pct(m.slo_compliance()),
            ms(m.latency.p99_us),
            thousands(report.sessions_cleaned as u64),
            format!("{:.1}ms", report.took.as_secs_f64() * 1e3),
            now.total_decisions - previous.total_decisions,
            refused,
            if by_rule.is_empty() { String::new() } else { format!(" ({})", by_rule.join(", ")) },
            if doctrine { "  << the window breaks Global Q" } else { "" },
        );
        out!("{}", line.trim_end());
        self.iterations += 1;
        self.took_total += report.took;
        self.took_max = self.took_max.max(report.took);
        match (doctrine, self.refusing_since) {
            (true, None) => self.refusing_since = Some((report.iteration, t)),
            (false, Some((iteration, at))) => {
                self.episodes.push((iteration, at, Some((report.iteration, t))));
                self.refusing_since = None;
            }
            _ => {}
        }
        if doctrine
            && self.peak.as_ref().is_none_or(|(p, _, _)| m.failure_rate > p.metrics.failure_rate)
        {
            self.peak = Some((report.clone(), world.runtime.breakdown(), t));
        }
        self.last = Some(report);
    }
}
