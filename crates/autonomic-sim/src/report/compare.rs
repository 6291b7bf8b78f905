//! [`WhatIf`]: one scenario under two doctrines, side by side.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use autonomic::{ActionKind, GlobalQ, QRule};

use super::markdown::pct;
use super::plots::{LIMIT_COLOR, render};

/// The candidate's colours: this far along the palette from the live run's.
const CANDIDATE_SHIFT: usize = 5;
use super::{Plot, SimReport};
use crate::{Scenario, SimError, simulate};

/// The same scenario, same seed, run under the live Global Q (the scenario's) and under a
/// candidate one: both reports, the plots overlaid (the candidate dashed) and a table of the
/// differences. The timeline's Q changes apply to both runs.
///
/// ```
/// use autonomic::GlobalQ;
/// use autonomic_sim::{Scenario, WhatIf};
/// let scenario = Scenario::from_toml_str(r#"
///     name = "tiny"
///     seed = 3
///     duration_s = 30
///     [[patterns]]
///     name = "p"
///     tasks = [4, 6]
///     latency = { kind = "lognormal", median_ms = 40, sigma = 1.0 }
///     slo_ms = 100
///     task_failure_rate = 0.3
///     [[tenants]]
///     name = "t"
///     rate_per_s = 30
///     patterns = ["p"]
/// "#)?;
/// let tight = GlobalQ { max_concurrent_adaptations: 1, ..GlobalQ::default() };
/// let what_if = WhatIf::run(&scenario, tight)?;
/// assert!(what_if.candidate.totals.peak_in_flight <= 1);
/// assert!(what_if.markdown().contains("| refused by max_concurrent_adaptations |"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    /// The run under the scenario's own Global Q.
    pub live: SimReport,
    /// The run under the candidate.
    pub candidate: SimReport,
}

impl WhatIf {
    /// Runs `scenario` as it is and with `candidate` as its starting Global Q.
    pub fn run(scenario: &Scenario, candidate: GlobalQ) -> Result<Self, SimError> {
        let live = simulate(scenario)?;
        let other = scenario.clone().with_global_q(candidate)?;
        let candidate = simulate(&other)?;
        Ok(WhatIf { live, candidate })
    }

    /// The comparison as markdown: both doctrines, the table of differences, the overlaid
    /// plots.
    pub fn markdown(&self) -> String {
        let (a, b) = (&self.live, &self.candidate);
        let mut md = String::new();
        let _ = writeln!(md, "# What-if: {}\n", a.scenario);
        let _ = writeln!(
            md,
            "Seed {}, {:.0} s of virtual time. Live Global Q (solid lines) against the candidate (dashed).\n",
            a.seed,
            a.duration_ms as f64 / 1e3
        );
        let _ = writeln!(md, "| Global Q | live | candidate |\n|---|---:|---:|");
        let (qa, qb) = (&a.initial_q, &b.initial_q);
        let _ = writeln!(
            md,
            "| max_failure_rate | {} | {} |",
            qa.max_failure_rate, qb.max_failure_rate
        );
        let _ = writeln!(
            md,
            "| min_slo_compliance | {} | {} |",
            qa.min_slo_compliance, qb.min_slo_compliance
        );
        let _ = writeln!(
            md,
            "| max_concurrent_adaptations | {} | {} |",
            qa.max_concurrent_adaptations, qb.max_concurrent_adaptations
        );
        let _ = writeln!(
            md,
            "| max_total_resources | {} | {} |\n",
            qa.max_total_resources, qb.max_total_resources
        );

        let _ = writeln!(
            md,
            "## Differences\n\n| | live | candidate | difference |\n|---|---:|---:|---:|"
        );
        let mut row = |name: String, x: u64, y: u64| {
            let _ = writeln!(md, "| {name} | {x} | {y} | {:+} |", y as i128 - x as i128);
        };
        let (ta, tb) = (&a.totals, &b.totals);
        row("sessions".into(), ta.sessions, tb.sessions);
        row("completed".into(), ta.completed, tb.completed);
        row("failed".into(), ta.failed, tb.failed);
        row("retries".into(), ta.retries, tb.retries);
        for kind in ActionKind::ALL {
            row(format!("executed {kind}"), ta.decisions_of(kind), tb.decisions_of(kind));
        }
        for rule in QRule::ALL {
            row(format!("refused by {rule}"), ta.refusals_by(rule), tb.refusals_by(rule));
        }
        row("peak adaptations in flight".into(), ta.peak_in_flight, tb.peak_in_flight);
        for (i, name) in a.tenants.iter().enumerate() {
            let (x, y) = (&a.tenant_totals[i], &b.tenant_totals[i]);
            row(format!("{name}: failed"), x.failed, y.failed);
            row(format!("{name}: refused"), x.refused, y.refused);
        }
        let _ = writeln!(
            md,
            "| failure rate | {} | {} | |",
            pct(ta.failed, ta.completed + ta.failed),
            pct(tb.failed, tb.completed + tb.failed)
        );
        let _ = writeln!(
            md,
            "| peak resources granted | {:.3} | {:.3} | {:+.3} |",
            ta.peak_resources,
            tb.peak_resources,
            tb.peak_resources - ta.peak_resources
        );
        let held = |r: &SimReport| if r.invariants_hold() { "held" } else { "BROKEN" };
        let _ = writeln!(md, "| invariants | {} | {} | |\n", held(a), held(b));
        let _ = writeln!(
            md,
            "The two runs' own reports: [live](live/report.md), [candidate](candidate/report.md).\n"
        );
        let _ = writeln!(md, "## Plots (live solid, candidate dashed)\n");
        for plot in Plot::ALL {
            let _ = writeln!(md, "![{}]({})\n", plot.title(), plot.file_name());
        }
        md
    }

    /// The overlaid plots: each of [`Plot::ALL`] with both runs' lines.
    pub fn plots(&self) -> Vec<(Plot, String)> {
        Plot::ALL
            .iter()
            .map(|&plot| {
                let mut lines = self.live.lines(plot, " (live)", false);
                // The candidate's lines dashed, and in the other half of the palette so the
                // legend tells them apart (limits stay black).
                lines.extend(self.candidate.lines(plot, " (candidate)", true).into_iter().map(
                    |mut line| {
                        if line.color != LIMIT_COLOR {
                            line.color += CANDIDATE_SHIFT;
                        }
                        line
                    },
                ));
                (plot, render(plot, &lines, self.live.duration_ms))
            })
            .collect()
    }

    /// Writes `report.md` and the overlaid plots into `dir`, and each run's own report into
    /// `dir/live` and `dir/candidate`. Returns the comparison's path.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        self.live.write(&dir.join("live"))?;
        self.candidate.write(&dir.join("candidate"))?;
        super::write_files(dir, &self.markdown(), &self.plots())
    }
}
