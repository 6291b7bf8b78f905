//! The report as markdown.

use std::fmt::Write as _;

use autonomic::{ActionKind, QRule};

use super::{Plot, SimReport};
use crate::invariants::Verdict;

/// `part / whole` as a percentage with one decimal ("-" of nothing).
pub(super) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

impl SimReport {
    /// The report as markdown: the run's parameters, the timeline, the invariants' verdicts,
    /// totals by tenant, decisions and refusals, and links to the plots
    /// ([`plots`](Self::plots), written beside it by [`write`](Self::write)).
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let q = &self.initial_q;
        let _ = writeln!(md, "# Simulation: {}\n", self.scenario);
        if !self.description.is_empty() {
            let _ = writeln!(md, "{}\n", self.description.trim());
        }
        let _ = writeln!(
            md,
            "Seed {}, {:.0} s of virtual time, loop every {} ms, window {} ms. Global Q at the \
             start: max_failure_rate {}, min_slo_compliance {}, max_concurrent_adaptations {}, \
             max_total_resources {}.\n",
            self.seed,
            self.duration_ms as f64 / 1e3,
            self.interval_ms,
            self.window_ms,
            q.max_failure_rate,
            q.min_slo_compliance,
            q.max_concurrent_adaptations,
            q.max_total_resources
        );
        if !self.timeline.is_empty() {
            let _ = writeln!(md, "## Timeline\n");
            for line in &self.timeline {
                let _ = writeln!(md, "- {line}");
            }
            md.push('\n');
        }
        self.invariants_md(&mut md);
        self.totals_md(&mut md);
        let _ = writeln!(md, "## Plots\n");
        for plot in Plot::ALL {
            let _ = writeln!(md, "![{}]({})\n", plot.title(), plot.file_name());
        }
        md
    }

    fn invariants_md(&self, md: &mut String) {
        let _ = writeln!(md, "## Invariants\n");
        if self.invariants.is_empty() {
            let _ = writeln!(md, "None asserted.\n");
            return;
        }
        for check in &self.invariants {
            let (mark, text) = match &check.verdict {
                Verdict::Held(t) => ("held", t.as_str()),
                Verdict::Broken(t) => ("BROKEN", t.as_str()),
                Verdict::Skipped(t) => ("skipped", *t),
            };
            let _ = writeln!(md, "- **{}**: {mark}: {text}", check.invariant);
        }
        md.push('\n');
    }

    fn totals_md(&self, md: &mut String) {
        let t = &self.totals;
        let _ = writeln!(md, "## Totals\n");
        let _ = writeln!(
            md,
            "{} sessions ({} completed, {} failed, {} running at the end), {} tasks, {} retries; \
             {} events, {} loop passes; peak {} sessions running, {} adaptations in flight, \
             {:.3} of resources granted.\n",
            t.sessions,
            t.completed,
            t.failed,
            t.running_at_end,
            t.tasks,
            t.retries,
            t.events,
            t.loop_passes,
            t.peak_live,
            t.peak_in_flight,
            t.peak_resources
        );
        if t.unexpected > 0 {
            let _ = writeln!(md, "**{} unexpected errors from the runtime.**\n", t.unexpected);
        }
        let _ = writeln!(
            md,
            "| tenant | sessions | completed | failed | failure rate | admitted | refused |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for (name, tt) in self.tenants.iter().zip(&self.tenant_totals) {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} |",
                tt.sessions,
                tt.completed,
                tt.failed,
                pct(tt.failed, tt.completed + tt.failed),
                tt.admitted,
                tt.refused
            );
        }
        md.push('\n');
        let _ = writeln!(md, "| decision executed | count |\n|---|---:|");
        for kind in ActionKind::ALL {
            let _ = writeln!(md, "| {kind} | {} |", t.decisions_of(kind));
        }
        md.push('\n');
        let _ = writeln!(md, "| refused by | count |\n|---|---:|");
        for rule in QRule::ALL {
            let _ = writeln!(md, "| {rule} | {} |", t.refusals_by(rule));
        }
        md.push('\n');
    }
}
