//! [`SessionAdapter`]: analysis, the doctrine gate, execution, session notifications,
//! history, events and statistics.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use autonomic_core::{
    ConfigError, GlobalQ, KnowledgeBase, Lifecycle, SessionHandle, SessionId, SessionState,
    StateMismatch, TenantTag, marker,
};
use tracing::field::{Empty, display};

use crate::decision::AdmittedDecision;
use crate::event::{self, EventBuffer};
use crate::gate::{self, Gate, GateRefusal};
use crate::sessions::SessionStore;
use crate::stats::Counters;
use crate::sync;
use crate::{
    AdapterError, AdapterStats, Analysis, PolicyContext, Proposal, QRule, Refusal, SessionAction,
    SessionAdapterConfig, SessionDecision, SessionEvent, SessionPolicy, ThresholdPolicy,
};

const TERMINAL: &[SessionState] =
    &[SessionState::Completed, SessionState::Failed, SessionState::Cancelled];

/// Lets each session adapt itself, never against the doctrine (Global Q).
///
/// One adapter serves every session of a runtime: share it (`Arc<SessionAdapter>`), do not
/// build one per session. See the [crate documentation](crate) for the model; in short:
///
/// 1. [`evaluate`](Self::evaluate) / [`analyze_session`](Self::analyze_session): the policy
///    looks at the session's metrics and proposes at most one action; Global Q admits it
///    (an [`AdmittedDecision`] holding a permit) or refuses it (counted, traced, emitted).
/// 2. [`execute_decision`](Self::execute_decision): applies what the runtime can (marks the
///    session adapted, books a resource grant, records history, emits `Adapted`) and returns
///    the decision's adaptation slot.
/// 3. [`on_session_finished`](Self::on_session_finished) (or [`release_session`](Self::release_session)):
///    returns the resources granted to the session.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{SessionAction, SessionAdapter};
/// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, SessionState, TenantId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// for _ in 0..20 {
///     handle.record_task_execution_us(1_000);
/// }
/// for _ in 0..3 {
///     handle.record_violation(); // 15%: over the 10% default
/// }
/// let decision = adapter.analyze_session(&handle).await?.expect("admitted");
/// assert!(matches!(decision.action, SessionAction::DegradePerformance { .. }));
/// adapter.execute_decision(&decision, &handle).await?;
/// assert_eq!(handle.state(), SessionState::Adapted);
/// assert_eq!(adapter.active_adaptations(), 0); // the slot came back at execution
/// assert_eq!(adapter.get_session_history(handle.id()).await.len(), 1);
/// # Ok(()) }
/// ```
pub struct SessionAdapter<P: SessionPolicy = ThresholdPolicy> {
    policy: P,
    config: SessionAdapterConfig,
    knowledge: Arc<KnowledgeBase>,
    q: ArcSwap<GlobalQ>,
    gate: sync::Arc<Gate>,
    sessions: SessionStore,
    events: EventBuffer,
    counters: Counters,
}

/// Builds a [`SessionAdapter`] with a configuration, a Global Q and a policy.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{SessionAdapter, SessionAdapterConfig};
/// use autonomic_core::{GlobalQ, KnowledgeBase};
/// let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
///     .config(SessionAdapterConfig { max_retries: 5, ..Default::default() })
///     .global_q(GlobalQ { max_concurrent_adaptations: 2, ..Default::default() })
///     .build()?;
/// assert_eq!(adapter.global_q().max_concurrent_adaptations, 2);
///
/// let bad = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
///     .config(SessionAdapterConfig { min_samples: 0, ..Default::default() })
///     .build();
/// assert_eq!(bad.unwrap_err().field(), Some("min_samples"));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()`"]
pub struct SessionAdapterBuilder<P = ThresholdPolicy> {
    knowledge: Arc<KnowledgeBase>,
    config: SessionAdapterConfig,
    q: GlobalQ,
    policy: P,
}

impl<P: SessionPolicy> SessionAdapterBuilder<P> {
    /// Sets the configuration (validated by [`build`](Self::build)).
    pub fn config(mut self, config: SessionAdapterConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the initial Global Q (validated by [`build`](Self::build)).
    pub fn global_q(mut self, q: GlobalQ) -> Self {
        self.q = q;
        self
    }

    /// Uses `policy` instead of the current one.
    pub fn policy<Q: SessionPolicy>(self, policy: Q) -> SessionAdapterBuilder<Q> {
        SessionAdapterBuilder { knowledge: self.knowledge, config: self.config, q: self.q, policy }
    }

    /// Validates the configuration and Global Q and builds the adapter.
    pub fn build(self) -> Result<SessionAdapter<P>, ConfigError> {
        self.config.validate()?;
        self.q.validate()?;
        Ok(SessionAdapter::from_parts(self.knowledge, self.config, self.q, self.policy))
    }
}

impl SessionAdapter<ThresholdPolicy> {
    /// An adapter with the default configuration, Global Q and policy, reading knowledge from
    /// `knowledge`.
    pub fn new(knowledge: Arc<KnowledgeBase>) -> Self {
        // The defaults are valid (tested), so nothing to refuse here.
        Self::from_parts(
            knowledge,
            SessionAdapterConfig::default(),
            GlobalQ::default(),
            ThresholdPolicy,
        )
    }

    /// An adapter with `config` (validated) and the default Global Q and policy.
    pub fn with_config(
        knowledge: Arc<KnowledgeBase>,
        config: SessionAdapterConfig,
    ) -> Result<Self, ConfigError> {
        Self::builder(knowledge).config(config).build()
    }

    /// A builder, starting from the defaults.
    pub fn builder(knowledge: Arc<KnowledgeBase>) -> SessionAdapterBuilder<ThresholdPolicy> {
        SessionAdapterBuilder {
            knowledge,
            config: SessionAdapterConfig::default(),
            q: GlobalQ::default(),
            policy: ThresholdPolicy,
        }
    }
}

impl<P: SessionPolicy> SessionAdapter<P> {
    fn from_parts(
        knowledge: Arc<KnowledgeBase>,
        config: SessionAdapterConfig,
        q: GlobalQ,
        policy: P,
    ) -> Self {
        SessionAdapter {
            sessions: SessionStore::new(config.history_per_session, config.max_tracked_sessions),
            events: EventBuffer::new(config.event_capacity),
            policy,
            knowledge,
            q: ArcSwap::from_pointee(q),
            gate: sync::Arc::new(Gate::new()),
            counters: Counters::default(),
            config,
        }
    }

    // ------------------------------------------------------------------ doctrine -----

    /// The Global Q in force (lock-free read).
    pub fn global_q(&self) -> Arc<GlobalQ> {
        self.q.load_full()
    }

    /// Validates `q` and swaps it in without blocking readers; returns the Q it replaced.
    ///
    /// Admissions after the swap use the new bounds. Permits already held are not revoked:
    /// if the new `max_concurrent_adaptations` is below the slots in use, admissions are
    /// refused until enough of them are returned (likewise for resources).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use autonomic_adapter::SessionAdapter;
    /// # use autonomic_core::{GlobalQ, KnowledgeBase};
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// let old = adapter.update_global_q(GlobalQ { max_failure_rate: 0.01, ..Default::default() })?;
    /// assert_eq!(old.max_failure_rate, 0.05);
    /// assert_eq!(adapter.global_q().max_failure_rate, 0.01);
    /// let err = adapter.update_global_q(GlobalQ { max_failure_rate: 2.0, ..Default::default() });
    /// assert_eq!(err.unwrap_err().field(), Some("max_failure_rate"));
    /// assert_eq!(adapter.global_q().max_failure_rate, 0.01); // unchanged
    /// # Ok::<(), autonomic_core::ConfigError>(())
    /// ```
    pub fn update_global_q(&self, q: GlobalQ) -> Result<Arc<GlobalQ>, ConfigError> {
        q.validate()?;
        let previous = self.q.swap(Arc::new(q));
        tracing::info!(?q, previous = ?*previous, "global Q updated");
        Ok(previous)
    }

    /// Admitted decisions not yet executed or dropped (adaptation slots in use).
    pub fn active_adaptations(&self) -> u64 {
        self.gate.slots().in_use()
    }

    /// Resources granted to live sessions (plus those reserved by admitted, unexecuted
    /// `RequestResources` decisions), as a fraction of capacity.
    pub fn granted_resources(&self) -> f64 {
        gate::units_to_amount(self.gate.ledger().granted())
    }

    /// Resources granted to one session, as a fraction of capacity.
    pub fn granted_to(&self, session_id: SessionId) -> f64 {
        gate::units_to_amount(self.sessions.granted_units(session_id))
    }

    /// The sessions holding a resource grant, with the amount each holds (a fraction of
    /// capacity), in no particular order.
    ///
    /// One pass over the sessions the adapter tracks, taking each shard's lock in turn: it is
    /// for periodic sweeps (the runtime's loop uses it to return the grants of sessions that
    /// ended without [`on_session_finished`](Self::on_session_finished) being called), not
    /// for the hot path. Grants made or released during the pass may or may not be listed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use autonomic_adapter::SessionAdapter;
    /// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
    ///
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// let slow = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    /// for _ in 0..12 {
    ///     slow.record_task_execution_us(150_000); // over max_latency_us: asks for resources
    /// }
    /// let decision = adapter.evaluate(&slow)?.into_decision().expect("admitted");
    /// adapter.execute(&decision, &slow)?;
    /// let granted = adapter.granted_sessions();
    /// assert_eq!(granted.len(), 1);
    /// assert_eq!(granted[0].0, slow.id());
    /// assert!((granted[0].1 - 0.05).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn granted_sessions(&self) -> Vec<(SessionId, f64)> {
        self.sessions
            .granted()
            .into_iter()
            .map(|(id, units)| (id, gate::units_to_amount(units)))
            .collect()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionAdapterConfig {
        &self.config
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The knowledge base the knowledge rules read.
    pub fn knowledge(&self) -> &Arc<KnowledgeBase> {
        &self.knowledge
    }

    // ------------------------------------------------------------------ analysis -----

    /// Analyses a session: the policy proposes at most one action and Global Q admits or
    /// refuses it. Synchronous: this is the hot path.
    ///
    /// When the policy proposes nothing (a healthy session), this reads the session's
    /// counters and nothing else: no allocation, no lock, no clock, no shared write. A
    /// proposal is then validated (an invalid one is an error), its signal is emitted as an
    /// event, and the Global Q rules are checked in the order of [`QRule::ALL`] (except that a
    /// Global Q with `max_concurrent_adaptations = 0`, adaptation off, refuses every proposal
    /// by that rule before any other is read); a refusal is
    /// counted by rule, traced (`info`) with the rule and values, emitted as
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
        );
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

    #[inline(never)]
    fn admit<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
        proposal: Proposal,
        span: &tracing::Span,
    ) -> Result<Analysis, AdapterError> {
        proposal.validate()?;
        let session_id = handle.id();
        span.record("decision.action", display(&proposal.action));
        // One clock read per proposal stamps its signal, its refusal or its decision.
        let clock = handle.context().clock();
        let now = clock.now_nanos();
        let at = Stamp { wall_ms: event::wall_ms(clock, now), monotonic_ms: now / 1_000_000 };
        if let Some(signal) = proposal.signal {
            self.events.push(signal.to_event(session_id, at.wall_ms));
        }
        let q = self.q.load();
        if q.adaptation_off() {
            let in_use = self.gate.slots().in_use() as f64;
            return Ok(self.refuse(
                session_id,
                at,
                proposal,
                QRule::MaxConcurrentAdaptations,
                in_use,
                0.0,
            ));
        }
        if self.config.verify_global_q {
            let (compliance, failure_rate) =
                self.knowledge.with_current(|k| (k.slo_compliance, k.failure_rate));
            if compliance < q.min_slo_compliance {
                let limit = q.min_slo_compliance;
                return Ok(self.refuse(
                    session_id,
                    at,
                    proposal,
                    QRule::MinSloCompliance,
                    compliance,
                    limit,
                ));
            }
            if failure_rate > q.max_failure_rate {
                let limit = q.max_failure_rate;
                return Ok(self.refuse(
                    session_id,
                    at,
                    proposal,
                    QRule::MaxFailureRate,
                    failure_rate,
                    limit,
                ));
            }
        }
        let units = match proposal.action {
            // Validated above, so the conversion succeeds.
            SessionAction::RequestResources { amount } => {
                gate::units_for_request(amount).unwrap_or(0)
            }
            _ => 0,
        };
        let max_slots = q.max_concurrent_adaptations;
        let capacity = gate::capacity_units(q.max_total_resources);
        match Gate::admit(&self.gate, max_slots, capacity, units) {
            Ok(permit) => {
                self.counters.decision(session_id);
                let record = SessionDecision {
                    session_id,
                    timestamp_ms: at.wall_ms,
                    monotonic_ms: at.monotonic_ms,
                    action: proposal.action,
                    reason: proposal.reason,
                    expected_impact: proposal.expected_impact,
                    global_q_verified: self.config.verify_global_q,
                };
                tracing::debug!(reason = %record.reason, "adaptation admitted");
                Ok(Analysis::Admitted(AdmittedDecision { record, permit }))
            }
            Err(GateRefusal::Slots { in_use, bound }) => Ok(self.refuse(
                session_id,
                at,
                proposal,
                QRule::MaxConcurrentAdaptations,
                in_use as f64,
                bound as f64,
            )),
            Err(GateRefusal::Resources { granted, requested, .. }) => Ok(self.refuse(
                session_id,
                at,
                proposal,
                QRule::MaxTotalResources,
                gate::units_to_amount(granted.saturating_add(requested)),
                q.max_total_resources,
            )),
        }
    }

    #[cold]
    fn refuse(
        &self,
        session_id: SessionId,
        at: Stamp,
        proposal: Proposal,
        rule: QRule,
        observed: f64,
        limit: f64,
    ) -> Analysis {
        self.counters.rejection(rule);
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

    // ----------------------------------------------------------------- execution -----

    /// Applies an admitted decision to its session, synchronously.
    ///
    /// What the adapter applies: it marks a running session `Adapted` (every kind but
    /// `LogAndContinue` and `TriggerCompensation`), books a `RequestResources` grant to the
    /// session (kept until the session is released), records the decision in the session's
    /// history, emits [`SessionEvent::Adapted`] (or traces the observation of a
    /// `LogAndContinue`). The rest is the caller's: waiting `backoff_ms` and retrying, running
    /// degraded, shedding optional tasks, running the compensation.
    ///
    /// **Slot hold**: every kind holds its adaptation slot from admission until this call
    /// returns (success or error), or until the decision is dropped unexecuted. Resources are
    /// held past execution (see the [crate documentation](crate#how-long-things-are-held)).
    ///
    /// Errors: the decision belongs to another session or adapter, or was already executed;
    /// or the session stopped running since admission (what the decision held is returned).
    pub fn execute<T: TenantTag, S: Lifecycle>(
        &self,
        decision: &AdmittedDecision,
        handle: &SessionHandle<T, S>,
    ) -> Result<(), AdapterError> {
        let session_id = decision.session_id;
        let span = tracing::debug_span!(
            "execute_decision",
            session_id = %session_id,
            state = %handle.state(),
            decision.action = %decision.action,
        );
        let _entered = span.enter();
        if session_id != handle.id() {
            return Err(AdapterError::WrongSession { decision: session_id, handle: handle.id() });
        }
        if !sync::Arc::ptr_eq(decision.permit.gate(), &self.gate) {
            return Err(AdapterError::ForeignDecision { session: session_id });
        }
        if !decision.permit.mark_executed() {
            return Err(AdapterError::AlreadyExecuted { session: session_id });
        }
        // Whatever happens below, the slot goes back when this function returns.
        let _slot = ReturnSlotOnExit(decision);
        let kind = decision.action.kind();
        if kind.marks_adapted() {
            let adapted = handle
                .erased()
                .into_active()
                .map_err(|e| e.found)
                .and_then(|active| active.mark_adapted().map_err(|e| e.found));
            if let Err(state) = adapted {
                decision.permit.release_units();
                tracing::debug!(%state, "session stopped running before execution");
                return Err(AdapterError::SessionNotRunning { session: session_id, state });
            }
        }
        let units = decision.permit.take_units();
        if !self.sessions.record(decision.record.clone(), units) {
            self.counters.untracked();
        }
        if units > 0 && handle.is_terminal() {
            // The session ended while the grant was being booked, and its release may have
            // run before the booking: give the grant back now. (The booking takes the shard
            // lock before this Acquire read of the state; a release after the booking finds
            // the grant itself.)
            self.gate.ledger().release(self.sessions.release(session_id));
        }
        match &decision.action {
            SessionAction::LogAndContinue { message } => {
                tracing::info!(%session_id, %message, "session observation");
            }
            action => self.events.push(SessionEvent::Adapted {
                session_id,
                timestamp_ms: decision.timestamp_ms,
                action: action.clone(),
                reason: decision.reason.clone(),
            }),
        }
        self.counters.executed(session_id);
        tracing::debug!("decision executed");
        Ok(())
    }

    /// The quick reference's form of [`execute`](Self::execute).
    pub async fn execute_decision<T: TenantTag, S: Lifecycle>(
        &self,
        decision: &AdmittedDecision,
        handle: &SessionHandle<T, S>,
    ) -> Result<(), AdapterError> {
        self.execute(decision, handle)
    }

    // ------------------------------------------------------ session notifications -----
    //
    // Called by whoever drives the sessions' lifecycles: the runtime facade does it for the
    // sessions of its table; a user driving the adapter alone calls them itself.

    /// A session started: emits [`SessionEvent::Started`].
    pub fn on_session_started<T: TenantTag, S: Lifecycle>(&self, handle: &SessionHandle<T, S>) {
        let clock = handle.context().clock();
        self.events.push(SessionEvent::Started {
            session_id: handle.id(),
            timestamp_ms: event::wall_ms(clock, clock.now_nanos()),
            tenant_id: handle.tenant_id(),
            pattern: handle.pattern(),
        });
    }

    /// A session finished: emits `Completed`, `Failed` or `Cancelled` (read from its state)
    /// and releases the resources granted to it; returns the amount released. Its history
    /// stays until [`forget_session`](Self::forget_session).
    ///
    /// Refused (nothing done) if the session has not finished.
    pub fn on_session_finished<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
    ) -> Result<f64, StateMismatch> {
        self.finished(handle, None)
    }

    fn finished<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
        error: Option<String>,
    ) -> Result<f64, StateMismatch> {
        let clock = handle.context().clock();
        let snapshot = handle.snapshot_at(clock.now_nanos());
        let session_id = handle.id();
        let timestamp_ms = event::wall_ms(clock, snapshot.taken_at_ns);
        let (task_count, duration_ms) = (snapshot.task_completions, snapshot.duration_ms());
        let event = match snapshot.state {
            SessionState::Completed => {
                SessionEvent::Completed { session_id, timestamp_ms, task_count, duration_ms }
            }
            SessionState::Failed => {
                SessionEvent::Failed { session_id, timestamp_ms, error, task_count, duration_ms }
            }
            SessionState::Cancelled => SessionEvent::Cancelled { session_id, timestamp_ms },
            found => return Err(StateMismatch { session: session_id, found, expected: TERMINAL }),
        };
        self.events.push(event);
        Ok(self.release_session(session_id))
    }

    /// [`on_session_finished`](Self::on_session_finished) for a handle the typestate knows
    /// completed.
    pub fn on_session_completed<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Completed>,
    ) -> f64 {
        // A terminal state is never left, so the state check cannot fail.
        self.on_session_finished(handle).unwrap_or(0.0)
    }

    /// [`on_session_finished`](Self::on_session_finished) for a handle the typestate knows
    /// failed.
    pub fn on_session_failed<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Failed>,
    ) -> f64 {
        self.on_session_finished(handle).unwrap_or(0.0)
    }

    /// [`on_session_failed`](Self::on_session_failed), with the error the session failed
    /// with: the `Failed` event keeps its text, cut at [`MAX_ERROR_LEN`](crate::MAX_ERROR_LEN)
    /// bytes.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use autonomic_adapter::{SessionAdapter, SessionEvent};
    /// # use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// let failed = SessionHandle::new(CaseId::new(), TenantId::new()).start()?.fail()?;
    /// adapter.on_session_failed_with(&failed, "payment gateway: 503");
    /// let events = adapter.take_events();
    /// assert!(matches!(&events[0],
    ///     SessionEvent::Failed { error: Some(e), .. } if e == "payment gateway: 503"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_session_failed_with<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Failed>,
        error: impl fmt::Display,
    ) -> f64 {
        let error = crate::config::bounded(error.to_string());
        // A terminal state is never left, so the state check cannot fail.
        self.finished(handle, Some(error)).unwrap_or(0.0)
    }

    /// [`on_session_finished`](Self::on_session_finished) for a handle the typestate knows
    /// was cancelled.
    pub fn on_session_cancelled<T: TenantTag>(
        &self,
        handle: &SessionHandle<T, marker::Cancelled>,
    ) -> f64 {
        self.on_session_finished(handle).unwrap_or(0.0)
    }

    /// Returns the resources granted to a session to the ledger (keeps its history); the
    /// amount returned.
    pub fn release_session(&self, session_id: SessionId) -> f64 {
        let units = self.sessions.release(session_id);
        self.gate.ledger().release(units);
        if units > 0 {
            tracing::debug!(%session_id, released = gate::units_to_amount(units), "grant released");
        }
        gate::units_to_amount(units)
    }

    /// Drops everything kept for a session (history and grant, which goes back to the
    /// ledger). Call it when the session leaves the table; returns the amount released.
    pub fn forget_session(&self, session_id: SessionId) -> f64 {
        let units = self.sessions.forget(session_id);
        self.gate.ledger().release(units);
        gate::units_to_amount(units)
    }

    /// Drops everything kept for every session (histories and grants). Decisions admitted and
    /// not yet executed keep their permits until they are executed or dropped. Returns the
    /// amount released.
    pub fn clear(&self) -> f64 {
        let units = self.sessions.clear();
        self.gate.ledger().release(units);
        gate::units_to_amount(units)
    }

    // ----------------------------------------------------- history, events, stats -----

    /// The session's executed decisions, oldest first (at most `history_per_session`).
    pub fn session_history(&self, session_id: SessionId) -> Vec<SessionDecision> {
        self.sessions.history(session_id)
    }

    /// The quick reference's form of [`session_history`](Self::session_history).
    pub async fn get_session_history(&self, session_id: SessionId) -> Vec<SessionDecision> {
        self.session_history(session_id)
    }

    /// Takes the buffered events, oldest first.
    pub fn take_events(&self) -> Vec<SessionEvent> {
        self.events.drain()
    }

    /// The quick reference's form of [`take_events`](Self::take_events).
    pub async fn drain_events(&self) -> Vec<SessionEvent> {
        self.take_events()
    }

    /// The adapter's statistics, now.
    pub fn snapshot_stats(&self) -> AdapterStats {
        let (total_decisions, executed_decisions, untracked_decisions, rejections) =
            self.counters.read();
        AdapterStats {
            active_adaptations: self.active_adaptations(),
            total_decisions,
            tracked_sessions: self.sessions.len(),
            pending_events: self.events.len(),
            executed_decisions,
            rejections,
            events_dropped: self.events.dropped(),
            untracked_decisions,
            granted_resources: self.granted_resources(),
            max_concurrent_adaptations: self.q.load().max_concurrent_adaptations,
        }
    }

    /// The quick reference's form of [`snapshot_stats`](Self::snapshot_stats).
    pub async fn stats(&self) -> AdapterStats {
        self.snapshot_stats()
    }
}

/// One clock reading, as the wall-clock and monotonic milliseconds records carry.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    wall_ms: u64,
    monotonic_ms: u64,
}

/// Returns the decision's slot when execution ends, however it ends.
struct ReturnSlotOnExit<'a>(&'a AdmittedDecision);

impl Drop for ReturnSlotOnExit<'_> {
    fn drop(&mut self) {
        self.0.permit.release_slot();
    }
}

impl<P: SessionPolicy> fmt::Debug for SessionAdapter<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAdapter")
            .field("config", &self.config)
            .field("global_q", &*self.q.load())
            .field("gate", &self.gate)
            .field("sessions", &self.sessions)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}
