//! [`RuntimeBuilder`], and the constructors of [`AutonomicRuntime`] that use it.

use std::fmt;
use std::sync::{Arc, Mutex};

use autonomic_adapter::{SessionAdapter, SessionPolicy, ThresholdPolicy};
use autonomic_aggregate::{SessionAggregator, WindowPeers};
use autonomic_core::{ClockHandle, ConfigError, KnowledgeBase};
use autonomic_table::SessionTable;
use tokio::sync::watch;

use autonomic_aggregate::Windows;

use super::{AutonomicRuntime, LoopState, Shared};
use crate::{RuntimeConfig, RuntimeError};

/// Builds an [`AutonomicRuntime`]: configuration, clock, knowledge base and policy.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use autonomic::{AutonomicRuntime, ClockHandle, ManualClock, RuntimeConfig};
///
/// let clock = Arc::new(ManualClock::new());
/// let runtime = AutonomicRuntime::builder()
///     .config(RuntimeConfig::default().with_retention(Duration::from_secs(60)))
///     .clock(ClockHandle::custom(clock.clone()))
///     .build()?;
/// assert!(!runtime.clock().is_monotonic());
/// assert!(!runtime.is_running()); // `build` does not start the loop; `start` does
/// # Ok::<(), autonomic::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build()` or `start()`"]
pub struct RuntimeBuilder<P = ThresholdPolicy> {
    config: RuntimeConfig,
    clock: ClockHandle,
    knowledge: Option<Arc<KnowledgeBase>>,
    peers: Option<Arc<dyn WindowPeers>>,
    policy: P,
}

impl Default for RuntimeBuilder<ThresholdPolicy> {
    fn default() -> Self {
        RuntimeBuilder {
            config: RuntimeConfig::default(),
            clock: ClockHandle::monotonic(),
            knowledge: None,
            peers: None,
            policy: ThresholdPolicy,
        }
    }
}

impl<P: SessionPolicy> RuntimeBuilder<P> {
    /// Sets the configuration (validated by [`build`](Self::build)).
    pub fn config(mut self, config: RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `clock` for the table's sessions, their cleanup and the aggregator (a
    /// [`ManualClock`](autonomic_core::ManualClock) makes ages and retention deterministic).
    /// The loop's interval is still measured on tokio's clock.
    pub fn clock(mut self, clock: ClockHandle) -> Self {
        self.clock = clock;
        self
    }

    /// Publishes into (and lets the doctrine gate read from) this knowledge base instead of a
    /// new one.
    pub fn knowledge(mut self, knowledge: Arc<KnowledgeBase>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// Counts the windows of other processes (a fleet's) in the global figures the loop
    /// publishes, so the doctrine judges the fleet's failure rate and SLO compliance: each
    /// iteration hands `peers` this runtime's global [`WindowTotals`](autonomic_aggregate::WindowTotals)
    /// and adds the sum it returns ([`Windows::knowledge_with_peers`]). Tenants and patterns
    /// stay this runtime's own.
    pub fn window_peers(mut self, peers: Arc<dyn WindowPeers>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Uses `policy` instead of the default [`ThresholdPolicy`].
    pub fn policy<Q: SessionPolicy>(self, policy: Q) -> RuntimeBuilder<Q> {
        RuntimeBuilder {
            config: self.config,
            clock: self.clock,
            knowledge: self.knowledge,
            peers: self.peers,
            policy,
        }
    }

    /// Validates the configuration and builds the runtime, without starting its loop (drive
    /// it with [`run_once`](AutonomicRuntime::run_once), or start it later with
    /// [`start_loop`](AutonomicRuntime::start_loop)).
    pub fn build(self) -> Result<AutonomicRuntime<P>, ConfigError> {
        self.config.validate()?;
        let knowledge = self.knowledge.unwrap_or_default();
        let mut adapter = SessionAdapter::builder(knowledge.clone())
            .config(self.config.adapter.clone())
            .global_q(self.config.global_q)
            .budgets(self.config.budgets.clone());
        if let Some(breaker) = self.config.breaker {
            adapter = adapter.breaker(breaker);
        }
        if let Some(concurrency) = self.config.adaptive_concurrency {
            adapter = adapter.adaptive_concurrency(concurrency);
        }
        let adapter = adapter.policy(self.policy).build()?;
        let (reports, _) = watch::channel(None);
        let shared = Shared {
            table: SessionTable::with_clock(self.clock.clone()),
            adapter: Arc::new(adapter),
            aggregator: SessionAggregator::with_clock(knowledge.clone(), self.clock),
            knowledge,
            windows: Mutex::new(Windows::new(self.config.windows)),
            state: Mutex::new(LoopState::new(self.config.windows.slow_session())),
            peers: self.peers,
            config: self.config,
            reports,
        };
        Ok(AutonomicRuntime { shared: Arc::new(shared), task: Mutex::new(None) })
    }

    /// Builds the runtime and starts its loop on the current tokio runtime.
    pub fn start(self) -> Result<AutonomicRuntime<P>, RuntimeError> {
        let runtime = self.build()?;
        runtime.start_loop()?;
        Ok(runtime)
    }
}

impl<P: fmt::Debug> fmt::Debug for RuntimeBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("knowledge", &self.knowledge.is_some())
            .field("window_peers", &self.peers.is_some())
            .field("policy", &self.policy)
            .finish()
    }
}

impl AutonomicRuntime<ThresholdPolicy> {
    /// A builder, starting from the default configuration, the monotonic clock, a new
    /// knowledge base and the default policy.
    pub fn builder() -> RuntimeBuilder<ThresholdPolicy> {
        RuntimeBuilder::default()
    }

    /// A runtime with `config`, without its loop (see [`RuntimeBuilder::build`]).
    pub fn new(config: RuntimeConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }

    /// A runtime with `config`, its loop started on the current tokio runtime.
    ///
    /// Errors: the configuration is refused ([`RuntimeError::Config`]), or there is no tokio
    /// runtime to spawn the loop on ([`RuntimeError::NoTokioRuntime`]).
    pub fn start(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Self::builder().config(config).start()
    }
}
