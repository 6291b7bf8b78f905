//! What each knowledge generation moves: the cohort breakers ([`breaker`](crate::breaker)) and
//! the adaptive concurrency limit ([`concurrency`](crate::concurrency)).

use std::sync::Arc;

use autonomic_core::{ClockHandle, ConfigError, Lifecycle, SessionHandle, TenantTag};

use super::SessionAdapter;
use crate::breaker::{BreakerConfig, BreakerView, Breakers, Tripped};
use crate::concurrency::ConcurrencyConfig;
use crate::event::EventBuffer;
use crate::{ActionKind, SessionPolicy};

/// The opt-in parts of the doctrine that follow the knowledge (the builder's).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FeedbackConfig {
    pub(super) breaker: Option<BreakerConfig>,
    pub(super) concurrency: Option<ConcurrencyConfig>,
}

impl FeedbackConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.breaker.as_ref().map_or(Ok(()), BreakerConfig::validate)?;
        self.concurrency.as_ref().map_or(Ok(()), ConcurrencyConfig::validate)
    }

    pub(super) fn breakers(&self, events: &Arc<EventBuffer>) -> Option<Arc<Breakers>> {
        self.breaker.map(|config| Arc::new(Breakers::new(config, events.clone())))
    }
}

impl<P: SessionPolicy> SessionAdapter<P> {
    /// Lets the doctrine follow the knowledge in force ([`KnowledgeBase::current`](autonomic_core::KnowledgeBase::current)):
    /// judges the cohorts' windows for the breakers and steps the adaptive concurrency
    /// limit, each once per knowledge generation (a generation already seen changes
    /// nothing), and moves the breakers on in time (`clock`: the clock the sessions and the
    /// aggregator share): open ones due go half-open, probes past their timeout fail.
    ///
    /// **Who calls it**: the runtime's loop, right after each publication. A user who
    /// publishes knowledge alone calls it after each publication. Without breakers or
    /// adaptive concurrency configured it does nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use autonomic_adapter::SessionAdapter;
    /// use autonomic_adapter::concurrency::ConcurrencyConfig;
    /// use autonomic_core::{ClockHandle, GlobalKnowledge, KnowledgeBase};
    ///
    /// let kb = Arc::new(KnowledgeBase::new());
    /// let adapter = SessionAdapter::builder(kb.clone())
    ///     .adaptive_concurrency(ConcurrencyConfig::default())
    ///     .build()?;
    /// kb.publish(GlobalKnowledge::default()); // no windows: nothing to judge, the limit holds
    /// adapter.observe_knowledge(&ClockHandle::monotonic());
    /// assert_eq!(adapter.snapshot_stats().concurrency_limit, Some(10));
    /// # Ok::<(), autonomic_core::ConfigError>(())
    /// ```
    pub fn observe_knowledge(&self, clock: &ClockHandle) {
        if self.breakers.is_none() && self.concurrency.limit().is_none() {
            return;
        }
        let knowledge = self.knowledge.current();
        if let Some(breakers) = &self.breakers {
            breakers.observe(&knowledge, clock);
        }
        self.concurrency.observe(&knowledge);
    }

    /// The cohort breakers that are open, half-open or just closed, sorted by cohort (empty
    /// when the breakers are off). Takes the breakers' lock: for reports, not the hot path.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use autonomic_adapter::SessionAdapter;
    /// use autonomic_adapter::breaker::BreakerConfig;
    /// use autonomic_core::KnowledgeBase;
    /// let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
    ///     .breaker(BreakerConfig::default())
    ///     .build()?;
    /// assert!(adapter.breakers().is_empty());
    /// let json = serde_json::to_string(&adapter.breakers()).unwrap();
    /// assert_eq!(json, "[]");
    /// # Ok::<(), autonomic_core::ConfigError>(())
    /// ```
    pub fn breakers(&self) -> Vec<BreakerView> {
        self.breakers.as_ref().map(|b| b.views()).unwrap_or_default()
    }

    /// The breaker rule for a proposal the other rules admitted: `(failure rate, threshold)`
    /// when the session's cohort is tripped.
    #[inline]
    pub(super) fn cohort_breaker<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
        kind: ActionKind,
        now_ns: u64,
    ) -> Result<(), (f64, f64)> {
        match &self.breakers {
            None => Ok(()),
            Some(breakers) => breakers
                .admit(handle, kind, now_ns)
                .map_err(|Tripped { failure_rate, threshold }| (failure_rate, threshold)),
        }
    }
}
