//! Analysis: the policy proposes, Global Q admits or refuses ([`SessionAdapter::evaluate`]).

use autonomic_core::{Evidence, GlobalQ, Lifecycle, SessionHandle, SessionId, TenantId, TenantTag};

use tracing::field::{Empty, display};

use super::SessionAdapter;
use super::budgets::budget_breach;
use super::figures::Figures;
use super::in_force::InForce;
use crate::decision::AdmittedDecision;
use crate::event;
use crate::gate::{self, Ask, Gate, GateRefusal, Permit};
use crate::shadow::{Judged, Verdict};
use crate::{
    ActionKind, AdapterError, Analysis, KnowledgeChecks, PolicyContext, Proposal, QRule, Refusal,
    RuleCheck, SessionAction, SessionDecision, SessionEvent, SessionPolicy,
};

/// A Global Q rule a proposal broke, with the value seen and the limit.
pub(super) struct Breach {
    pub(super) rule: QRule,
    pub(super) observed: f64,
    pub(super) limit: f64,
}

impl Breach {
    /// The refusal, as a shadow's [`Verdict`].
    fn verdict(&self) -> Verdict {
        Verdict::Refused { rule: self.rule, observed: self.observed, limit: self.limit }
    }
}

impl<P: SessionPolicy> SessionAdapter<P> {
    /// Analyses a session: the policy proposes at most one action and Global Q admits or
    /// refuses it. Synchronous: this is the hot path.
    ///
    /// When the policy proposes nothing (a healthy session), this reads the session's
    /// counters and nothing else: no allocation, no lock, no clock, no shared write. A
    /// proposal is then validated (an invalid one is an error), its signal is emitted as an
    /// event, and the Global Q rules are checked in the order of [`QRule::ALL`] (except that a
    /// Global Q with `max_concurrent_adaptations = 0`, adaptation off, refuses every proposal
    /// by that rule before any other is read); a refusal is counted by rule, traced (`info`) with the rule and values, emitted as
    /// [`SessionEvent::Rejected`], and returned as [`Analysis::Refused`].
    pub fn evaluate<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
    ) -> Result<Analysis, AdapterError> {
        let snapshot = handle.snapshot_at(0);
        let span = tracing::debug_span!(
            "analyze_session",
            session_id = %handle.id(),
            state = %snapshot.state,
            decision.action = Empty,
        );
        let _entered = span.enter();
        let ctx = PolicyContext::new(
            handle.id(),
            handle.tenant_id(),
            handle.pattern(),
            &self.config,
            handle.context().clock(),
        )
        .with_knowledge(&self.knowledge);
        match self.policy.propose(&snapshot, &ctx) {
            None => Ok(Analysis::NoAction),
            Some(proposal) => self.admit(handle, proposal, &span),
        }
    }

    /// The quick reference's form of [`evaluate`](Self::evaluate): `Some` admitted decision,
    /// or `None` when there is nothing to do *or* Global Q refused (the refusal is still
    /// counted, traced and emitted; use `evaluate` to tell the two apart).
    pub async fn analyze_session<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
    ) -> Result<Option<AdmittedDecision>, AdapterError> {
        self.evaluate(handle).map(Analysis::into_decision)
    }

    /// Checks a proposal against Global Q, in the order of [`QRule::ALL`]: the knowledge
    /// rules (if `verify_global_q`), then the capacity rules, which take a permit.
    #[inline(never)]
    fn admit<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
        proposal: Proposal,
        span: &tracing::Span,
    ) -> Result<Analysis, AdapterError> {
        proposal.validate()?;
        span.record("decision.action", display(&proposal.action));
        // One clock read per proposal stamps its signal, its refusal or its decision.
        let clock = handle.context().clock();
        let now = clock.now_nanos();
        let at = Stamp { wall_ms: event::wall_ms(clock, now), monotonic_ms: now / 1_000_000 };
        if let Some(signal) = proposal.signal {
            self.events.push(signal.to_event(handle.id(), at.wall_ms));
        }
        // One load reads Q, the budgets and the shadow of one swap.
        let doctrine = self.doctrine.load();
        // With the adaptive limit in force (noting this proposal's demand for a slot).
        let q = self.concurrency.bound(&doctrine.q, &self.gate);
        let kind = proposal.action.kind();
        // The live rules, the retry budget and the shadow judge one reading of the knowledge.
        let figures = Figures::of(&self.knowledge);
        // The shadow is judged before the live gate takes anything (see `crate::shadow`).
        let shadow = doctrine.shadow.as_deref();
        let candidate = shadow.map(|s| {
            self.would_admit(s.q(), s.capacity_units(), &doctrine, &proposal.action, &figures)
        });
        let admission = adaptation_on(&self.gate, &q)
            .and_then(|()| self.knowledge_rules(&q, kind, &figures))
            .and_then(|checks| {
                let permit = self.capacity_rules(&q, &doctrine, handle, &proposal.action, &figures);
                Ok((checks, permit?))
            })
            .and_then(|admitted| {
                let cohort = self.cohort_breaker(handle, kind, now);
                cohort.map(|()| admitted).map_err(|(observed, limit)| Breach {
                    rule: QRule::CohortBreaker,
                    observed,
                    limit,
                })
            });
        if let (Some(shadow), Some(candidate)) = (shadow, candidate) {
            let live = admission.as_ref().map_or_else(Breach::verdict, |_| Verdict::Admitted);
            shadow.observe(Judged {
                session_id: handle.id(),
                tenant: handle.tenant_id(),
                timestamp_ms: at.wall_ms,
                action: &proposal.action,
                live,
                shadow: candidate,
            });
        }
        Ok(match admission {
            Ok((checks, permit)) => self.admitted(handle.id(), at, proposal, checks, permit),
            Err(breach) => self.refuse(handle.id(), handle.tenant_id(), at, proposal, breach),
        })
    }

    /// What `q` would decide for `action` now, without effect: the same rules in the same
    /// order as [`admit`](Self::admit), the capacity rules judged read-only against the gate's
    /// counters ([`Gate::would_admit`]). `capacity` is `q.max_total_resources` in units
    /// (worked out once, when the shadow is set); the shedding headroom is the live doctrine's.
    /// The shadow doctrine's judge: it reads the same `figures` as the live rules.
    fn would_admit(
        &self,
        q: &GlobalQ,
        capacity: u64,
        doctrine: &InForce,
        action: &SessionAction,
        figures: &Figures<'_>,
    ) -> Verdict {
        let capacity = |_| {
            let units = requested_units(action);
            let max_slots =
                q.max_concurrent_adaptations.saturating_add(doctrine.headroom_for(action.kind()));
            self.gate
                .would_admit(max_slots, capacity, units)
                .map_err(|refusal| capacity_breach(q, refusal))
        };
        adaptation_on(&self.gate, q)
            .and_then(|()| self.knowledge_rules(q, action.kind(), figures))
            .and_then(capacity)
            .map_or_else(|breach| breach.verdict(), |()| Verdict::Admitted)
    }

    /// `min_slo_compliance` and `max_failure_rate`, for the kinds of action each judges
    /// ([`KnowledgeRules`](crate::KnowledgeRules)), against the knowledge the aggregator
    /// published: its windowed figures when it has windows (judged only from their minimum
    /// volume on), else its figures over the sessions it covered ([`Figures`]). Skipped when
    /// `verify_global_q` is off; no knowledge is read when neither rule judges `kind`.
    ///
    /// Whether a rule applies is decided inline (a kind most rules skip costs no call); the
    /// rules themselves are judged in [`judge_knowledge`](Self::judge_knowledge).
    #[inline]
    fn knowledge_rules(
        &self,
        q: &GlobalQ,
        kind: ActionKind,
        figures: &Figures<'_>,
    ) -> Result<KnowledgeChecks, Breach> {
        let rules = &self.config.knowledge_rules;
        let (slo_applies, failure_applies) =
            (rules.min_slo_compliance.contains(kind), rules.max_failure_rate.contains(kind));
        if !self.config.verify_global_q || !(slo_applies || failure_applies) {
            return Ok(KnowledgeChecks::default());
        }
        Self::judge_knowledge(q, slo_applies, failure_applies, figures)
    }

    /// The knowledge rules that apply, judged against `figures`.
    #[inline(never)]
    fn judge_knowledge(
        q: &GlobalQ,
        slo_applies: bool,
        failure_applies: bool,
        figures: &Figures<'_>,
    ) -> Result<KnowledgeChecks, Breach> {
        let (compliance, failure_rate) = (figures.get().compliance, figures.get().failure_rate);
        let mut checks = KnowledgeChecks::default();
        if slo_applies {
            checks.min_slo_compliance = min_slo_compliance(q, compliance)?;
        }
        if failure_applies {
            checks.max_failure_rate = max_failure_rate(q, failure_rate)?;
        }
        if checks.lacked_evidence() {
            tracing::debug!(
                ?compliance,
                ?failure_rate,
                "knowledge rules: not enough evidence in the window to judge"
            );
        }
        Ok(checks)
    }

    #[inline]
    fn admitted(
        &self,
        session_id: SessionId,
        at: Stamp,
        proposal: Proposal,
        knowledge: KnowledgeChecks,
        permit: Permit,
    ) -> Analysis {
        self.counters.decision(session_id);
        let record = SessionDecision {
            session_id,
            timestamp_ms: at.wall_ms,
            monotonic_ms: at.monotonic_ms,
            action: proposal.action,
            reason: proposal.reason,
            expected_impact: proposal.expected_impact,
            global_q_verified: self.config.verify_global_q,
            knowledge,
        };
        tracing::debug!(reason = %record.reason, "adaptation admitted");
        Analysis::Admitted(AdmittedDecision { record, permit })
    }

    #[cold]
    fn refuse(
        &self,
        session_id: SessionId,
        tenant: TenantId,
        at: Stamp,
        proposal: Proposal,
        breach: Breach,
    ) -> Analysis {
        let Breach { rule, observed, limit } = breach;
        self.counters.rejection(rule, proposal.action.kind(), tenant);
        if rule == QRule::MaxConcurrentAdaptations && limit == 0.0 {
            tracing::info!(
                %rule,
                action = %proposal.action,
                "adaptation is off (max_concurrent_adaptations = 0): refused"
            );
        } else {
            tracing::info!(
                %rule,
                observed,
                limit,
                action = %proposal.action,
                "adaptation refused by global Q"
            );
        }
        self.events.push(SessionEvent::Rejected {
            session_id,
            timestamp_ms: at.wall_ms,
            action: proposal.action.clone(),
            rule,
            observed,
            limit,
        });
        Analysis::Refused(Refusal {
            session_id,
            action: proposal.action,
            reason: proposal.reason,
            rule,
            observed,
            limit,
        })
    }
}

/// One clock reading, as the wall-clock and monotonic milliseconds records carry.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    wall_ms: u64,
    monotonic_ms: u64,
}

/// The adaptation-off switch: a Global Q with `max_concurrent_adaptations = 0` refuses every
/// proposal by that rule before any other is read (so a failing knowledge rule is not
/// reported as the reason). [`GlobalQ::adaptation_off`] owns the rule.
#[inline]
fn adaptation_on(gate: &Gate, q: &GlobalQ) -> Result<(), Breach> {
    if q.adaptation_off() {
        return Err(Breach {
            rule: QRule::MaxConcurrentAdaptations,
            observed: gate.slots_in_use() as f64,
            limit: 0.0,
        });
    }
    Ok(())
}

/// Rule `min_slo_compliance`: the SLO compliance is at least the minimum (judged only
/// with enough evidence).
pub(super) fn min_slo_compliance(q: &GlobalQ, compliance: Evidence) -> Result<RuleCheck, Breach> {
    match compliance {
        Evidence::Judged(observed) if observed < q.min_slo_compliance => {
            Err(Breach { rule: QRule::MinSloCompliance, observed, limit: q.min_slo_compliance })
        }
        evidence => Ok(checked(evidence)),
    }
}

/// Rule `max_failure_rate`: the failure rate is at most the maximum (judged only with enough
/// evidence).
pub(super) fn max_failure_rate(q: &GlobalQ, failure_rate: Evidence) -> Result<RuleCheck, Breach> {
    match failure_rate {
        Evidence::Judged(observed) if observed > q.max_failure_rate => {
            Err(Breach { rule: QRule::MaxFailureRate, observed, limit: q.max_failure_rate })
        }
        evidence => Ok(checked(evidence)),
    }
}

/// What a knowledge rule that did not refuse says.
fn checked(evidence: Evidence) -> RuleCheck {
    match evidence {
        Evidence::Judged(_) => RuleCheck::Passed,
        Evidence::NotEnough { .. } => RuleCheck::NotEnoughEvidence,
    }
}

impl<P: SessionPolicy> SessionAdapter<P> {
    /// Rules `retry_budget`, `tenant_share`, `max_concurrent_adaptations` and
    /// `max_total_resources`: the gate takes a retry token (a retry under a retry budget),
    /// the tenant class's share (tenant shares on), a slot and the resources requested, or
    /// nothing.
    fn capacity_rules<T: TenantTag, S: Lifecycle>(
        &self,
        q: &GlobalQ,
        doctrine: &InForce,
        handle: &SessionHandle<T, S>,
        action: &SessionAction,
        figures: &Figures<'_>,
    ) -> Result<Permit, Breach> {
        let units = requested_units(action);
        let capacity = doctrine.capacity_units;
        let (retry_bound, index, class) =
            doctrine.budgets.ask(figures, handle.tenant_id(), action.kind());
        let max_slots =
            q.max_concurrent_adaptations.saturating_add(doctrine.headroom_for(action.kind()));
        let ask = Ask { max_slots, capacity, units, retry_bound, index, class };
        Gate::admit_with(ask).map_err(|refusal| capacity_breach(q, refusal))
    }
}

/// The resource units `action` asks the gate for.
#[inline]
pub(super) fn requested_units(action: &SessionAction) -> u64 {
    match *action {
        // Validated before the rules, so the conversion succeeds.
        SessionAction::RequestResources { amount } => gate::units_for_request(amount).unwrap_or(0),
        _ => 0,
    }
}

/// The breach a gate refusal is reported as.
fn capacity_breach(q: &GlobalQ, refusal: GateRefusal) -> Breach {
    budget_breach(refusal).unwrap_or_else(|| match refusal {
        GateRefusal::Slots { in_use, bound } => Breach {
            rule: QRule::MaxConcurrentAdaptations,
            observed: in_use as f64,
            limit: bound as f64,
        },
        GateRefusal::Resources { granted, requested, .. } => Breach {
            rule: QRule::MaxTotalResources,
            observed: gate::units_to_amount(granted.saturating_add(requested)),
            limit: q.max_total_resources,
        },
        _ => unreachable!("budget refusals are mapped above"),
    })
}
