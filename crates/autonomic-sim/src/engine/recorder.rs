//! [`Recorder`]: what the simulation writes down as it runs, and the report made of it.

use autonomic::{
    ActionKind, GlobalQ, LoopReport, QRule, Refusal, SessionAdapter, TenantId, WindowedKnowledge,
};

use crate::faults::FaultKind;
use crate::invariants::{Invariant, InvariantCheck, Verdict};
use crate::report::{Sample, SimReport, TenantSample, TenantTotals, Totals};
use crate::scenario::{ChangeKind, Scenario};

/// Most spans of "the knowledge rules refuse" kept for the recovery check; past it, the
/// last span stretches to cover the rest (so the check errs towards "not recovered").
const MAX_SPANS: usize = 4096;

/// Slack on a resource comparison (the ledger counts millionths).
const RESOURCE_SLACK: f64 = 1e-6;

pub(super) struct Recorder {
    pub(super) totals: Totals,
    pub(super) tenant_totals: Vec<TenantTotals>,
    samples: Vec<Sample>,
    stride: u64,
    passes: u64,
    in_flight_peak: u64,
    resources_peak: f64,
    /// The first admission found over a cap, if any; admissions checked.
    cap_breach: Option<String>,
    admissions: u64,
    /// When the knowledge rules would refuse (ns, half-open spans, merged), and what the
    /// window showed when each span began.
    blocking: Vec<(u64, u64, String)>,
    /// Slow sessions still running, and when the last one ended.
    slow_live: u64,
    slow_last_end_ns: u64,
    /// The first capacity refusal of a tenant still within its guarantee, if any; capacity
    /// refusals judged against the tenants' holdings.
    share_breach: Option<String>,
    capacity_refusals: u64,
}

impl Recorder {
    pub(super) fn new(scenario: &Scenario) -> Self {
        let interval = scenario.runtime().interval.as_nanos().max(1);
        let passes = scenario.duration().as_nanos() / interval;
        let stride = passes.div_ceil(SimReport::MAX_SAMPLES as u128).max(1);
        Recorder {
            totals: Totals::default(),
            tenant_totals: vec![TenantTotals::default(); scenario.tenants().len()],
            samples: Vec::new(),
            stride: u64::try_from(stride).unwrap_or(u64::MAX),
            passes: 0,
            in_flight_peak: 0,
            resources_peak: 0.0,
            cap_breach: None,
            admissions: 0,
            blocking: Vec::new(),
            slow_live: 0,
            slow_last_end_ns: 0,
            share_breach: None,
            capacity_refusals: 0,
        }
    }

    /// A refusal of `tenant`'s proposal: counted for the tenant, and, when a capacity rule
    /// refused it (slots, resources or the tenant's share), judged against what the tenant's
    /// class holds. The simulator is single-threaded, so the holdings read here are the ones
    /// the gate judged: a refusal while the class holds fewer slots than it is guaranteed (or,
    /// for resources, while the request fits what remains of its guaranteed resources) is a
    /// tenant starved below its guarantee.
    pub(super) fn refused<P: autonomic::SessionPolicy>(
        &mut self,
        (index, tenant): (usize, TenantId),
        refusal: &Refusal,
        adapter: &SessionAdapter<P>,
        now_ns: u64,
    ) {
        self.tenant_totals[index].refused += 1;
        if !matches!(
            refusal.rule,
            QRule::MaxConcurrentAdaptations | QRule::MaxTotalResources | QRule::TenantShare
        ) {
            return;
        }
        self.capacity_refusals += 1;
        if self.share_breach.is_some() {
            return;
        }
        let Some(class) = adapter.tenant_holdings().into_iter().find(|h| h.tenant == Some(tenant))
        else {
            return; // not listed: the default class has no guarantee of its own to starve
        };
        let amount = match refusal.action {
            autonomic::SessionAction::RequestResources { amount } => amount,
            _ => 0.0,
        };
        let slots_within = class.slots_held < class.guaranteed_slots;
        let units_within =
            class.resources_held + amount <= class.guaranteed_resources + RESOURCE_SLACK;
        if slots_within && units_within {
            self.share_breach = Some(format!(
                "at {:.1} s a proposal ({}) was refused by {} while its tenant held {} of {} guaranteed slots and {:.3} of {:.3} guaranteed resources",
                now_ns as f64 / 1e9,
                refusal.action,
                refusal.rule,
                class.slots_held,
                class.guaranteed_slots,
                class.resources_held,
                class.guaranteed_resources,
            ));
        }
    }

    pub(super) fn arrived(&mut self, tenant: usize, slow: bool) {
        self.totals.sessions += 1;
        self.tenant_totals[tenant].sessions += 1;
        if slow {
            self.slow_live += 1;
        }
    }

    pub(super) fn live(&mut self, live: u64) {
        self.totals.peak_live = self.totals.peak_live.max(live);
    }

    pub(super) fn ended(&mut self, tenant: usize, completed: bool, slow: bool, now: u64) {
        if completed {
            self.totals.completed += 1;
            self.tenant_totals[tenant].completed += 1;
        } else {
            self.totals.failed += 1;
            self.tenant_totals[tenant].failed += 1;
        }
        if slow {
            self.slow_live = self.slow_live.saturating_sub(1);
            self.slow_last_end_ns = now;
        }
    }

    /// An admission: checks the caps in force right after it.
    pub(super) fn admitted<P: autonomic::SessionPolicy>(
        &mut self,
        tenant: usize,
        adapter: &SessionAdapter<P>,
    ) {
        self.tenant_totals[tenant].admitted += 1;
        self.admissions += 1;
        let in_flight = adapter.active_adaptations();
        let granted = adapter.granted_resources();
        self.peak(in_flight, granted);
        if self.cap_breach.is_none() {
            let q = adapter.global_q();
            if in_flight > q.max_concurrent_adaptations {
                self.cap_breach = Some(format!(
                    "{in_flight} adaptations in flight after an admission, over max_concurrent_adaptations {}",
                    q.max_concurrent_adaptations
                ));
            } else if granted > q.max_total_resources + RESOURCE_SLACK {
                self.cap_breach = Some(format!(
                    "{granted:.4} of resources granted after an admission, over max_total_resources {:.4}",
                    q.max_total_resources
                ));
            }
        }
    }

    pub(super) fn executed(&mut self, kind: ActionKind) {
        if let Some(i) = ActionKind::ALL.iter().position(|k| *k == kind) {
            self.totals.decisions[i] += 1;
        }
    }

    fn peak(&mut self, in_flight: u64, granted: f64) {
        self.in_flight_peak = self.in_flight_peak.max(in_flight);
        self.resources_peak = self.resources_peak.max(granted);
        self.totals.peak_in_flight = self.totals.peak_in_flight.max(in_flight);
        self.totals.peak_resources = self.totals.peak_resources.max(granted);
    }

    /// One loop pass: a sample (every `stride` passes), and whether the knowledge rules
    /// refuse from now until the next pass.
    pub(super) fn pass(
        &mut self,
        now: u64,
        report: &LoopReport,
        windows: &WindowedKnowledge,
        q: &GlobalQ,
        live: u64,
        scenario: &Scenario,
    ) {
        self.totals.loop_passes += 1;
        self.passes += 1;
        self.peak(report.adapter.active_adaptations, report.adapter.granted_resources);
        let failure = windows.global.failure_rate.rate();
        let slo = windows.global.slo_compliance.rate();
        let blocking = failure.is_some_and(|r| r > q.max_failure_rate)
            || slo.is_some_and(|c| c < q.min_slo_compliance);
        if blocking {
            let interval = u64::try_from(scenario.runtime().interval.as_nanos());
            let until = now.saturating_add(interval.unwrap_or(u64::MAX));
            let why = || {
                let show = |r: Option<f64>| {
                    r.map_or_else(|| "not judged".to_string(), |r| format!("{:.2}%", r * 100.0))
                };
                format!(
                    "windowed failure rate {} (max {}), SLO compliance {} (min {})",
                    show(failure),
                    q.max_failure_rate,
                    show(slo),
                    q.min_slo_compliance
                )
            };
            self.block(now, until, why);
        }
        if !self.passes.is_multiple_of(self.stride) {
            return;
        }
        let mut refusals = [0; QRule::ALL.len()];
        for (i, rule) in QRule::ALL.iter().enumerate() {
            refusals[i] = report.adapter.rejections.get(*rule);
        }
        let tenants = scenario
            .tenants()
            .iter()
            .map(|t| {
                let figures = windows.tenant(t.id);
                TenantSample {
                    failure_rate: figures.and_then(|f| f.failure_rate.rate()),
                    slo_compliance: figures.and_then(|f| f.slo_compliance.rate()),
                }
            })
            .collect();
        self.samples.push(Sample {
            at_ms: now / 1_000_000,
            live_sessions: live,
            table_sessions: report.sessions_remaining as u64,
            in_flight_peak: std::mem::take(&mut self.in_flight_peak),
            in_flight_cap: q.max_concurrent_adaptations,
            resources_peak: std::mem::take(&mut self.resources_peak),
            resources_cap: q.max_total_resources,
            refusals,
            failure_rate_cap: q.max_failure_rate,
            slo_floor: q.min_slo_compliance,
            failure_rate: failure,
            slo_compliance: slo,
            tenants,
        });
    }

    fn block(&mut self, from: u64, until: u64, why: impl FnOnce() -> String) {
        let full = self.blocking.len() >= MAX_SPANS;
        match self.blocking.last_mut() {
            Some(last) if last.1 >= from => last.1 = last.1.max(until),
            Some(last) if full => last.1 = until,
            _ => self.blocking.push((from, until, why())),
        }
    }

    pub(super) fn report(self, scenario: &Scenario) -> SimReport {
        let invariants =
            scenario.invariants().iter().map(|inv| self.check(*inv, scenario)).collect();
        let runtime = scenario.runtime();
        SimReport {
            scenario: scenario.name().to_string(),
            description: scenario.description().to_string(),
            seed: scenario.seed(),
            duration_ms: millis(scenario.duration().as_nanos()),
            interval_ms: millis(runtime.interval.as_nanos()),
            window_ms: runtime.windows.length_ms,
            initial_q: runtime.global_q,
            tenants: scenario.tenants().iter().map(|t| t.name.clone()).collect(),
            timeline: timeline(scenario),
            samples: self.samples,
            totals: self.totals,
            tenant_totals: self.tenant_totals,
            invariants,
        }
    }

    fn check(&self, invariant: Invariant, scenario: &Scenario) -> InvariantCheck {
        let verdict = match invariant {
            Invariant::Caps => match &self.cap_breach {
                Some(breach) => Verdict::Broken(breach.clone()),
                None => Verdict::Held(format!(
                    "{} admissions, each within the caps in force (peak {} in flight, {:.3} of resources)",
                    self.admissions, self.totals.peak_in_flight, self.totals.peak_resources
                )),
            },
            Invariant::Recovery => self.check_recovery(scenario),
            Invariant::TenantShares => {
                match (&self.share_breach, &scenario.runtime().budgets.tenant_shares) {
                    (Some(breach), _) => Verdict::Broken(breach.clone()),
                    (None, None) => Verdict::Skipped("no tenant shares configured"),
                    (None, Some(_)) => Verdict::Held(format!(
                        "{} capacity refusals, none of a tenant within its guarantee",
                        self.capacity_refusals
                    )),
                }
            }
        };
        InvariantCheck { invariant, verdict }
    }

    /// For each fault that hurts health, from one window (and two passes) after it ends until
    /// the next fault starts, the knowledge rules must not refuse.
    fn check_recovery(&self, scenario: &Scenario) -> Verdict {
        let runtime = scenario.runtime();
        let grace = runtime.windows.length_ms * 1_000_000 + 2 * runtime.interval.as_nanos() as u64;
        let end = scenario.duration().as_nanos() as u64;
        let faults = scenario.faults();
        let hurts = |k: &FaultKind| !matches!(k, FaultKind::ResourcePressure { .. });
        let mut checked = 0;
        for (i, f) in faults.iter().enumerate() {
            if !hurts(&f.fault.kind) {
                continue;
            }
            let mut ended = f.fault.until.as_nanos() as u64;
            if matches!(f.fault.kind, FaultKind::SlowSessions { .. }) {
                if self.slow_live > 0 {
                    continue; // slow sessions still running at the end: nothing to judge
                }
                ended = ended.max(self.slow_last_end_ns);
            }
            let due = ended.saturating_add(grace);
            // Another fault in force between this one's end and its due time: that one's
            // check covers the period.
            let overlapped = faults.iter().enumerate().any(|(j, g)| {
                j != i
                    && hurts(&g.fault.kind)
                    && (g.fault.from.as_nanos() as u64) < due
                    && (g.fault.until.as_nanos() as u64) > ended
                    && g.fault.from >= f.fault.from
            });
            if overlapped {
                continue;
            }
            let next = faults
                .iter()
                .map(|g| g.fault.from.as_nanos() as u64)
                .filter(|&from| from >= due)
                .min()
                .unwrap_or(end)
                .min(end);
            if due >= next {
                continue;
            }
            checked += 1;
            if let Some((from, _, why)) =
                self.blocking.iter().find(|(a, b, _)| *b > due && *a < next)
            {
                return Verdict::Broken(format!(
                    "fault {i} ({} on {}) ended at {:.1} s; the knowledge rules still refused at {:.1} s, after the {:.1} s allowed ({why} from {:.1} s)",
                    f.fault.kind.name(),
                    f.target,
                    ended as f64 / 1e9,
                    (*from).max(due) as f64 / 1e9,
                    due as f64 / 1e9,
                    *from as f64 / 1e9,
                ));
            }
        }
        if checked == 0 {
            return Verdict::Held("no fault ends a window before the next one or the run's end: nothing to recover from".into());
        }
        Verdict::Held(format!(
            "{checked} fault(s) checked: the knowledge rules admitted again within one window (+2 passes) of each fault's end"
        ))
    }
}

fn millis(nanos: u128) -> u64 {
    u64::try_from(nanos / 1_000_000).unwrap_or(u64::MAX)
}

/// The faults and changes, one line each, in time order.
fn timeline(scenario: &Scenario) -> Vec<String> {
    let mut lines: Vec<(u128, String)> = Vec::new();
    for f in scenario.faults() {
        let what = match f.fault.kind {
            FaultKind::SessionFailures { rate } => format!("sessions fail at {:.0}%", rate * 100.0),
            FaultKind::TaskFailures { rate } => format!("tasks fail at {:.0}%", rate * 100.0),
            FaultKind::LatencySpike { factor, rate } => {
                format!("{:.0}% of tasks {factor}x slower", rate * 100.0)
            }
            FaultKind::SlowSessions { factor, rate } => {
                format!("{:.0}% of sessions {factor}x slower", rate * 100.0)
            }
            FaultKind::Flood { factor } => format!("arrivals x{factor}"),
            FaultKind::ResourcePressure { fraction } => {
                format!("{:.0}% of resource capacity held elsewhere", fraction * 100.0)
            }
        };
        lines.push((
            f.fault.from.as_nanos(),
            format!(
                "{:.1} s - {:.1} s: {} ({}): {what}",
                f.fault.from.as_secs_f64(),
                f.fault.until.as_secs_f64(),
                f.fault.kind.name(),
                f.target
            ),
        ));
    }
    for c in scenario.changes() {
        let what = match &c.what {
            ChangeKind::GlobalQ(p) => {
                let mut parts = Vec::new();
                if let Some(v) = p.max_total_resources {
                    parts.push(format!("max_total_resources = {v}"));
                }
                if let Some(v) = p.max_concurrent_adaptations {
                    parts.push(format!("max_concurrent_adaptations = {v}"));
                }
                if let Some(v) = p.min_slo_compliance {
                    parts.push(format!("min_slo_compliance = {v}"));
                }
                if let Some(v) = p.max_failure_rate {
                    parts.push(format!("max_failure_rate = {v}"));
                }
                format!("Global Q: {}", parts.join(", "))
            }
            ChangeKind::TenantRate { tenant, rate_per_s } => format!(
                "tenant {} arrives at {rate_per_s}/s",
                scenario.tenants().get(*tenant).map_or("?", |t| t.name.as_str())
            ),
        };
        lines.push((c.at.as_nanos(), format!("{:.1} s: change: {what}", c.at.as_secs_f64())));
    }
    lines.sort_by_key(|(at, _)| *at);
    lines.into_iter().map(|(_, line)| line).collect()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use autonomic::adapter::{Budgets, Share, TenantShare, TenantShares};
    use autonomic::{GlobalQ, KnowledgeBase, Refusal, SessionAction, SessionAdapter, SessionId};

    use super::*;

    /// The check breaks when it should: a capacity refusal of a tenant that holds nothing of
    /// its guaranteed slot is a starvation; the same refusal of the default class, or by a
    /// knowledge rule, is not.
    #[test]
    fn a_capacity_refusal_within_a_guarantee_breaks_the_invariant() {
        let scenario = crate::Scenario::from_toml_str(
            "name = \"x\"\nseed = 1\nduration_s = 10\n[[patterns]]\nname = \"p\"\ntasks = [1, 2]\nlatency = { kind = \"fixed\", ms = 1 }\nslo_ms = 10\n[[tenants]]\nname = \"c\"\nrate_per_s = 1\npatterns = [\"p\"]\nshare = { guaranteed_slots = 0.5 }\n",
        )
        .unwrap();
        let c = scenario.tenants()[0].id;
        let budgets = Budgets {
            tenant_shares: Some(TenantShares {
                tenants: vec![TenantShare::new(
                    c,
                    Share { guaranteed_slots: 0.5, ..Share::default() },
                )],
                ..TenantShares::default()
            }),
            retry_budget: None,
        };
        let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
            .global_q(GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() })
            .budgets(budgets)
            .build()
            .unwrap();
        let refusal = |rule| Refusal {
            session_id: SessionId::new(),
            action: SessionAction::CancelOptionalTasks,
            reason: Cow::Borrowed("test"),
            rule,
            observed: 2.0,
            limit: 2.0,
        };
        let mut recorder = Recorder::new(&scenario);
        let other = TenantId::from_u128(99); // not listed: the default class
        recorder.refused((0, other), &refusal(QRule::MaxConcurrentAdaptations), &adapter, 0);
        recorder.refused((0, c), &refusal(QRule::MaxFailureRate), &adapter, 0);
        assert!(recorder.share_breach.is_none());
        assert_eq!(recorder.capacity_refusals, 1);
        recorder.refused(
            (0, c),
            &refusal(QRule::MaxConcurrentAdaptations),
            &adapter,
            1_000_000_000,
        );
        let breach = recorder.share_breach.clone().expect("c held 0 of its 1 guaranteed slot");
        assert!(breach.contains("held 0 of 1 guaranteed slots"), "{breach}");
        let check = recorder.check(Invariant::TenantShares, &scenario);
        assert!(matches!(check.verdict, Verdict::Broken(_)));
    }
}
