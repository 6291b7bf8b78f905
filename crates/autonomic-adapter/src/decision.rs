//! Decisions: the record ([`SessionDecision`]), the admitted decision that holds its permit
//! ([`AdmittedDecision`]), and the outcome of one analysis ([`Analysis`], [`Refusal`],
//! [`QRule`]).

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use autonomic_core::SessionId;
use serde::{Deserialize, Serialize};

use crate::gate::Permit;
use crate::{KnowledgeChecks, SessionAction};

/// A decision taken for one session: what to do, why, and whether Global Q was checked.
///
/// This is the plain record: it is what the history keeps and what serializes. A decision
/// that has just been admitted comes as an [`AdmittedDecision`], which dereferences to this
/// and also holds the gate permit.
///
/// ```
/// use autonomic_adapter::{SessionAction, SessionDecision};
/// use autonomic_core::SessionId;
/// let d = SessionDecision {
///     session_id: SessionId::from_raw(7),
///     timestamp_ms: 1_767_225_600_000,
///     monotonic_ms: 1_500,
///     action: SessionAction::CancelOptionalTasks,
///     reason: "violation rate over twice max_violation_rate".into(),
///     expected_impact: 0.5,
///     global_q_verified: true,
///     knowledge: Default::default(),
/// };
/// let json = serde_json::to_string(&d).unwrap();
/// assert_eq!(serde_json::from_str::<SessionDecision>(&json).unwrap(), d);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDecision {
    /// The session the decision is for.
    pub session_id: SessionId,
    /// When it was admitted: wall-clock milliseconds since the Unix epoch (a time a person
    /// reads), derived from the session's [`Clock`](autonomic_core::Clock) reading that also
    /// gives `monotonic_ms`.
    pub timestamp_ms: u64,
    /// When it was admitted: milliseconds on the session's monotonic clock (for durations
    /// and ordering; never moves backwards).
    pub monotonic_ms: u64,
    /// What the session does.
    pub action: SessionAction,
    /// Why (a short fixed text for the built-in policy; the numbers that triggered it are in
    /// the `ThresholdExceeded` / `ViolationDetected` event emitted with it).
    pub reason: Cow<'static, str>,
    /// The policy's estimate of how much of the problem the action removes (`0.0..=1.0`).
    pub expected_impact: f64,
    /// Whether every Global Q rule was checked before admission. The capacity rules are
    /// always checked; this is `false` when `verify_global_q` is off, so the knowledge rules
    /// (`min_slo_compliance`, `max_failure_rate`) were skipped.
    pub global_q_verified: bool,
    /// What each knowledge rule said: passed (with the value it read), not enough evidence
    /// in the window to judge, or not applied to this kind of action.
    #[serde(default)]
    pub knowledge: KnowledgeChecks,
}

/// A decision the doctrine gate admitted: the [`SessionDecision`] (it dereferences to it) and
/// the [`Permit`] holding its adaptation slot and any resources it reserved.
///
/// Hand it to [`SessionAdapter::execute_decision`](crate::SessionAdapter::execute_decision)
/// to apply it, or drop it: dropping returns everything it holds, so a decision abandoned
/// on an error path or in a cancelled future cannot leak a slot. It is not `Clone` (a slot is
/// held once); [`record`](Self::record) gives a plain copy.
///
/// ```
/// # use std::sync::Arc;
/// # use autonomic_adapter::{Analysis, SessionAction, SessionAdapter};
/// # use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// for _ in 0..5 { handle.record_retry(); }
/// let Analysis::Admitted(decision) = adapter.evaluate(&handle)? else { unreachable!() };
/// assert!(matches!(decision.action, SessionAction::RetryTask { .. })); // through Deref
/// assert_eq!(adapter.active_adaptations(), 1);
/// drop(decision);                                                      // not executed
/// assert_eq!(adapter.active_adaptations(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AdmittedDecision {
    pub(crate) record: SessionDecision,
    pub(crate) permit: Permit,
}

impl AdmittedDecision {
    /// The plain record.
    pub fn record(&self) -> &SessionDecision {
        &self.record
    }

    /// The permit (slot and reserved resources) the decision holds.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    /// Whether it has been executed.
    pub fn is_executed(&self) -> bool {
        self.permit.is_executed()
    }

    /// Gives up the permit (returning what it holds) and keeps the record.
    pub fn into_record(self) -> SessionDecision {
        self.record
    }
}

impl Deref for AdmittedDecision {
    type Target = SessionDecision;
    #[inline]
    fn deref(&self) -> &SessionDecision {
        &self.record
    }
}

/// A rule of Global Q, named after the field it enforces.
///
/// ```
/// use autonomic_adapter::QRule;
/// assert_eq!(QRule::MaxConcurrentAdaptations.to_string(), "max_concurrent_adaptations");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QRule {
    /// Admitted, unfinished adaptations would exceed `max_concurrent_adaptations`.
    MaxConcurrentAdaptations,
    /// Resources granted to live sessions would exceed `max_total_resources`.
    MaxTotalResources,
    /// Global SLO compliance is below `min_slo_compliance`.
    MinSloCompliance,
    /// The global failure rate is above `max_failure_rate`.
    MaxFailureRate,
    /// The tenant's class is at its ceiling, or the borrowable pool (the capacity no class
    /// is guaranteed) is exhausted ([`TenantShares`](crate::TenantShares)).
    TenantShare,
    /// Retries in flight would exceed the [`RetryBudget`](crate::RetryBudget).
    RetryBudget,
    /// The session's cohort (its pattern or its tenant) has an open breaker (or a half-open
    /// one with every probe place taken): see [`breaker`](crate::breaker).
    CohortBreaker,
}

impl QRule {
    /// Every rule, in the order admission checks them (knowledge rules first, then the
    /// capacity rules, which take something, then the budgets below Q, then the cohort
    /// breaker, which only refuses a proposal every other rule admitted, so that a probe place
    /// goes to a proposal that is admitted).
    pub const ALL: [QRule; 7] = [
        QRule::MinSloCompliance,
        QRule::MaxFailureRate,
        QRule::MaxConcurrentAdaptations,
        QRule::MaxTotalResources,
        QRule::TenantShare,
        QRule::RetryBudget,
        QRule::CohortBreaker,
    ];

    /// The Global Q field it enforces.
    pub const fn as_str(self) -> &'static str {
        match self {
            QRule::MaxConcurrentAdaptations => "max_concurrent_adaptations",
            QRule::MaxTotalResources => "max_total_resources",
            QRule::MinSloCompliance => "min_slo_compliance",
            QRule::MaxFailureRate => "max_failure_rate",
            QRule::TenantShare => "tenant_share",
            QRule::RetryBudget => "retry_budget",
            QRule::CohortBreaker => "cohort_breaker",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for QRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposed decision that Global Q refused, with the rule and the values it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The session concerned.
    pub session_id: SessionId,
    /// The action the policy proposed.
    pub action: SessionAction,
    /// Why the policy proposed it.
    pub reason: Cow<'static, str>,
    /// The rule that refused.
    pub rule: QRule,
    /// What the rule saw: slots in use, resources granted plus requested, SLO compliance or
    /// failure rate (for the cohort breaker: the cohort's failure rate that opened it).
    pub observed: f64,
    /// The Global Q limit it was held against.
    pub limit: f64,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} refused by {} (observed {}, limit {})",
            self.session_id, self.action, self.rule, self.observed, self.limit
        )
    }
}

/// What one analysis of a session came to.
///
/// [`SessionAdapter::analyze_session`](crate::SessionAdapter::analyze_session) folds this
/// into `Option<AdmittedDecision>` (the quick reference's shape); the refusal is still
/// counted, traced and emitted there. [`SessionAdapter::evaluate`](crate::SessionAdapter::evaluate)
/// returns it whole.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{Analysis, QRule, SessionAdapter};
/// use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, TenantId};
///
/// let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
///     .global_q(GlobalQ { max_concurrent_adaptations: 1, ..GlobalQ::default() })
///     .build()?;
/// let healthy = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// assert!(matches!(adapter.evaluate(&healthy)?, Analysis::NoAction));
///
/// let (a, b) = (healthy.clone(), SessionHandle::new(CaseId::new(), TenantId::new()).start()?);
/// for _ in 0..4 {
///     a.record_retry();
///     b.record_retry();
/// }
/// let Analysis::Admitted(held) = adapter.evaluate(&a)? else { unreachable!() };
/// match adapter.evaluate(&b)? {
///     Analysis::Refused(refusal) => {
///         assert_eq!(refusal.rule, QRule::MaxConcurrentAdaptations);
///         assert_eq!((refusal.observed, refusal.limit), (1.0, 1.0));
///     }
///     other => panic!("{other:?}"),
/// }
/// # drop(held);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum Analysis {
    /// The policy proposed nothing: the session is healthy (or not running).
    NoAction,
    /// The policy proposed an action and Global Q admitted it.
    Admitted(AdmittedDecision),
    /// The policy proposed an action and Global Q refused it.
    Refused(Refusal),
}

impl Analysis {
    /// The admitted decision, if any (a refusal becomes `None`, like "nothing to do").
    #[inline]
    pub fn into_decision(self) -> Option<AdmittedDecision> {
        match self {
            Analysis::Admitted(decision) => Some(decision),
            Analysis::NoAction | Analysis::Refused(_) => None,
        }
    }

    /// The refusal, if Global Q refused.
    #[inline]
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Analysis::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }

    /// Whether the policy proposed nothing.
    #[inline]
    pub fn is_no_action(&self) -> bool {
        matches!(self, Analysis::NoAction)
    }
}
