//! [`SessionAdapter`]: one adapter serves every session of a runtime. What it does is split by
//! what it holds:
//!
//! * [`builder`]: construction and [`SessionAdapterBuilder`];
//! * [`analyse`]: the policy's proposal and the Global Q rules ([`SessionAdapter::evaluate`]);
//! * [`execute`]: applying an admitted decision ([`SessionAdapter::execute`]);
//! * [`session_end`]: session notifications and releases;
//! * [`doctrine`]: the shadow doctrine, the change feed and the introspection view;
//! * [`feedback`]: what each knowledge generation moves (cohort breakers, the adaptive
//!   concurrency limit);
//! * [`budgets`]: tenant shares and the retry budget in force, and tenant holdings;
//! * [`in_force`]: the doctrine in force (Q, budgets, shadow), one snapshot swapped whole;
//! * [`figures`]: the knowledge figures one admission reads, at most once;
//! * here: the adapter itself, Global Q, history, events and statistics.

mod analyse;
mod budgets;
mod builder;
mod doctrine;
mod execute;
mod feedback;
mod figures;
mod in_force;
mod session_end;

use std::fmt;
use std::sync::Arc;

use autonomic_core::{ConfigError, GlobalQ, KnowledgeBase, SessionId};

pub use builder::SessionAdapterBuilder;

use crate::breaker::Breakers;
use crate::concurrency::ConcurrencyLimit;
use crate::event::EventBuffer;
use crate::feed::Feed;
use crate::gate::{self, Gate};
use crate::sessions::SessionStore;
use crate::stats::Counters;
use crate::sync;
use crate::{
    AdapterStats, SessionAdapterConfig, SessionDecision, SessionEvent, SessionPolicy,
    ThresholdPolicy,
};

/// Lets each session adapt itself, never against the doctrine (Global Q).
///
/// One adapter serves every session of a runtime: share it (`Arc<SessionAdapter>`), do not
/// build one per session. See the [crate documentation](crate) for the model; in short:
///
/// 1. [`evaluate`](Self::evaluate) / [`analyze_session`](Self::analyze_session): the policy
///    looks at the session's metrics and proposes at most one action; Global Q admits it
///    (an [`AdmittedDecision`](crate::AdmittedDecision) holding a permit) or refuses it
///    (counted, traced, emitted).
/// 2. [`execute_decision`](Self::execute_decision): applies what the runtime can (marks the
///    session adapted, books a resource grant, records history, emits `Adapted`) and returns
///    the decision's adaptation slot.
/// 3. When the session ends (its handle's `complete()`, `fail()`, `cancel()`, a table's
///    cancel, or the drop of its last handle), the resources granted to it come back by
///    themselves; [`on_session_finished`](Self::on_session_finished) emits the lifecycle
///    event, and [`forget_session`](Self::forget_session) drops its history.
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
    /// Global Q, the budgets below it and the shadow doctrine, read with one load.
    doctrine: in_force::Doctrine,
    /// The change feed (Q, shadow, knowledge generations).
    feed: Feed,
    gate: sync::Arc<Gate>,
    sessions: SessionStore,
    events: Arc<EventBuffer>,
    counters: Counters,
    breakers: Option<Arc<Breakers>>,
    concurrency: ConcurrencyLimit,
}

impl<P: SessionPolicy> SessionAdapter<P> {
    // ------------------------------------------------------------------ doctrine -----

    /// The Global Q in force (lock-free read).
    pub fn global_q(&self) -> Arc<GlobalQ> {
        self.doctrine.load().q.clone()
    }

    /// Validates `q` and swaps it in without blocking readers; returns the Q it replaced.
    ///
    /// The change feed moves ([`doctrine_feed`](Self::doctrine_feed)). Admissions after the
    /// swap use the new bounds. Permits already held are not revoked:
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
        let previous = self.doctrine.replace(|now| now.with_q(q, now.shadow.clone())).q.clone();
        tracing::info!(?q, previous = ?*previous, "global Q updated");
        self.feed.changed(crate::DoctrineChange::GlobalQ);
        Ok(previous)
    }

    /// Slots above Global Q's `max_concurrent_adaptations` that only actions shedding load
    /// (`DegradePerformance`, `CancelOptionalTasks`, `Compensate`, `LogAndContinue`: every
    /// kind outside [`ActionKinds::CONSUMING`](crate::ActionKinds::CONSUMING)) may take; 0
    /// (none) by default. Returns the headroom it replaced.
    ///
    /// Actions that consume capacity (`RetryTask`, `RequestResources`) are bounded by Q alone,
    /// so with a headroom they *fail closed* at Q's bound while shedding actions stay allowed up
    /// to Q's bound plus the headroom. Slots in use never pass that sum; a shedding action
    /// holding a slot counts against Q's bound like any other, so it can only make a consuming
    /// action's admission stricter. A fleet member sets it while its instance runs at its floor
    /// (see `autonomic-fleet`). Tenant shares, when configured, still bound each tenant's
    /// slots. The change feed moves ([`DoctrineChange::SheddingHeadroom`](crate::DoctrineChange)).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use autonomic_adapter::{Analysis, SessionAdapter};
    /// use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, TenantId};
    ///
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// adapter.update_global_q(GlobalQ { max_concurrent_adaptations: 1, ..Default::default() })?;
    /// let session = || {
    ///     let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
    ///     (0..20).for_each(|_| h.record_task_execution_us(1_000));
    ///     h
    /// };
    /// let (retrying, degrading) = (session(), session());
    /// (0..4).for_each(|_| retrying.record_retry()); // wants a retry (consumes capacity)
    /// (0..3).for_each(|_| degrading.record_violation()); // wants to degrade (sheds load)
    /// let held = adapter.evaluate(&retrying)?.into_decision().expect("the one slot");
    /// assert!(matches!(adapter.evaluate(&degrading)?, Analysis::Refused(_)));
    /// assert_eq!(adapter.set_shedding_headroom(2), 0);
    /// let degrade = adapter.evaluate(&degrading)?.into_decision().expect("shedding: headroom");
    /// let other = session();
    /// (0..4).for_each(|_| other.record_retry());
    /// assert!(matches!(adapter.evaluate(&other)?, Analysis::Refused(_))); // fails closed
    /// assert_eq!(adapter.active_adaptations(), 2);
    /// # drop((held, degrade));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_shedding_headroom(&self, slots: u64) -> u64 {
        // The same headroom again (a fleet member sets it at every renewal) swaps nothing.
        let replaced = self.doctrine.replace_if(|now| {
            (now.shedding_headroom != slots).then(|| now.with_shedding_headroom(slots))
        });
        let Some(previous) = replaced else { return slots };
        tracing::info!(slots, previous = previous.shedding_headroom, "shedding headroom set");
        self.feed.changed(crate::DoctrineChange::SheddingHeadroom);
        previous.shedding_headroom
    }

    /// The shedding headroom in force (see [`set_shedding_headroom`](Self::set_shedding_headroom)).
    pub fn shedding_headroom(&self) -> u64 {
        self.doctrine.load().shedding_headroom
    }

    /// Admitted decisions not yet executed or dropped (adaptation slots in use).
    pub fn active_adaptations(&self) -> u64 {
        self.gate.slots_in_use()
    }

    /// Resources granted to live sessions (plus those reserved by admitted, unexecuted
    /// `RequestResources` decisions), as a fraction of capacity.
    pub fn granted_resources(&self) -> f64 {
        gate::units_to_amount(self.gate.units_granted())
    }

    /// Resources granted to one session, as a fraction of capacity.
    pub fn granted_to(&self, session_id: SessionId) -> f64 {
        gate::units_to_amount(self.sessions.granted_units(session_id))
    }

    /// The sessions holding a resource grant, with the amount each holds (a fraction of
    /// capacity), in no particular order.
    ///
    /// One pass over the sessions the adapter tracks, taking each shard's lock in turn: for
    /// reports and diagnostics, not for the hot path. A session that ended is not listed (its
    /// grant came back when it ended). Grants made or released during the pass may or may
    /// not be listed.
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
            refusals: self.counters.refusals(),
            events_dropped: self.events.dropped(),
            untracked_decisions,
            granted_resources: self.granted_resources(),
            max_concurrent_adaptations: self.doctrine.load().q.max_concurrent_adaptations,
            concurrency_limit: self.concurrency.limit(),
            breakers: self.breakers.as_ref().map(|b| b.stats()).unwrap_or_default(),
        }
    }

    /// The quick reference's form of [`snapshot_stats`](Self::snapshot_stats).
    pub async fn stats(&self) -> AdapterStats {
        self.snapshot_stats()
    }
}

impl<P: SessionPolicy> fmt::Debug for SessionAdapter<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAdapter")
            .field("config", &self.config)
            .field("doctrine", &self.doctrine)
            .field("gate", &self.gate)
            .field("sessions", &self.sessions)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}
