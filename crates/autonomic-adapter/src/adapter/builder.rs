//! Building a [`SessionAdapter`]: the constructors and [`SessionAdapterBuilder`].

use std::sync::Arc;

use autonomic_core::{ConfigError, GlobalQ, KnowledgeBase};

use super::SessionAdapter;
use super::feedback::FeedbackConfig;
use super::in_force::Doctrine;
use crate::breaker::BreakerConfig;
use crate::concurrency::{ConcurrencyConfig, ConcurrencyLimit};
use crate::event::EventBuffer;
use crate::feed::Feed;
use crate::gate::Gate;
use crate::sessions::SessionStore;
use crate::stats::Counters;
use crate::sync;
use crate::{Budgets, SessionAdapterConfig, SessionPolicy, ThresholdPolicy};

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
    budgets: Budgets,
    policy: P,
    feedback: FeedbackConfig,
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

    /// Turns the cohort breakers on with `config` (validated by [`build`](Self::build)); see
    /// [`breaker`](crate::breaker).
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.feedback.breaker = Some(config);
        self
    }

    /// Turns the adaptive concurrency limit on with `config` (validated by
    /// [`build`](Self::build)); see [`concurrency`](crate::concurrency).
    pub fn adaptive_concurrency(mut self, config: ConcurrencyConfig) -> Self {
        self.feedback.concurrency = Some(config);
        self
    }

    /// Sets the initial budgets below Global Q: tenant shares and the retry budget
    /// (validated by [`build`](Self::build)).
    pub fn budgets(mut self, budgets: Budgets) -> Self {
        self.budgets = budgets;
        self
    }

    /// Uses `policy` instead of the current one.
    pub fn policy<Q: SessionPolicy>(self, policy: Q) -> SessionAdapterBuilder<Q> {
        SessionAdapterBuilder {
            knowledge: self.knowledge,
            config: self.config,
            q: self.q,
            budgets: self.budgets,
            policy,
            feedback: self.feedback,
        }
    }

    /// Validates the configuration, Global Q and budgets and builds the adapter.
    pub fn build(self) -> Result<SessionAdapter<P>, ConfigError> {
        self.config.validate()?;
        self.q.validate()?;
        self.feedback.validate()?;
        self.budgets.validate()?;
        Ok(SessionAdapter::from_parts(
            self.knowledge,
            self.config,
            (self.q, self.budgets),
            self.policy,
            self.feedback,
        ))
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
            (GlobalQ::default(), Budgets::default()),
            ThresholdPolicy,
            FeedbackConfig::default(),
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
            budgets: Budgets::default(),
            policy: ThresholdPolicy,
            feedback: FeedbackConfig::default(),
        }
    }
}

impl<P: SessionPolicy> SessionAdapter<P> {
    fn from_parts(
        knowledge: Arc<KnowledgeBase>,
        config: SessionAdapterConfig,
        (q, budgets): (GlobalQ, Budgets),
        policy: P,
        feedback: FeedbackConfig,
    ) -> Self {
        // The doctrine's share indexes are built for this gate (see `gate::ShareIndex`).
        let gate = sync::Arc::new(Gate::new());
        let doctrine = Doctrine::new(q, budgets, &gate);
        let feed = Feed::new(knowledge.with_current(|k| k.generation));
        let events = Arc::new(EventBuffer::new(config.event_capacity));
        SessionAdapter {
            sessions: SessionStore::new(config.history_per_session, config.max_tracked_sessions),
            breakers: feedback.breakers(&events),
            concurrency: ConcurrencyLimit::new(feedback.concurrency),
            events,
            policy,
            knowledge,
            doctrine,
            feed,
            gate,
            counters: Counters::default(),
            config,
        }
    }
}
