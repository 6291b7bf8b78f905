//! The session-scoped autonomic runtime: every layer in one import, and
//! [`AutonomicRuntime`], which owns them all and closes the MAPE-K loop.
//!
//! # The layers
//! | module | crate | what it owns |
//! |---|---|---|
//! | [`core`] | `autonomic-core` | ids, lock-free [`SessionMetrics`], the [`SessionHandle`] typestate, tenant tags, clocks, [`GlobalQ`], [`KnowledgeBase`] (no async) |
//! | [`table`] | `autonomic-table` | [`SessionTable`]: by id, tenant and pattern; stats; cleanup |
//! | [`adapter`] | `autonomic-adapter` | [`SessionAdapter`]: policy, the atomic doctrine gate, decisions, events, history |
//! | [`aggregate`] | `autonomic-aggregate` | [`SessionAggregator`]: totals, rates, percentiles, breakdowns, knowledge publication |
//!
//! Every public item of every layer is reachable through its module here
//! (`autonomic::table::visit`, `autonomic::adapter::gate`, ...), and the main types are
//! re-exported at the top, so `use autonomic::{SessionTable, SessionAdapter, TenantId}` works
//! as in the quick reference. Two names are only reachable through their modules because
//! they would clash: the validators `core::config` and the adapter's loaders
//! `adapter::config`. A service that only records metrics can depend on `autonomic-core`
//! alone, which has no async dependency.
//!
//! # The runtime
//! [`AutonomicRuntime`] owns the table, the adapter, the aggregator and the knowledge base
//! they share, all reading one clock (injectable through [`RuntimeBuilder::clock`]). Its loop
//! (on tokio) aggregates every session of the table, publishes the result as the knowledge
//! the doctrine gate reads and removes the sessions that ended more than `retention` ago
//! with their decision history (resource grants came back when they ended), then reports
//! ([`LoopReport`]) and traces a summary. So the loop closes: when sessions start failing,
//! the next iteration publishes the failure rate over its rolling window and the adapter
//! starts refusing the adaptations that consume capacity (retries, resource requests) by
//! `max_failure_rate`; when they recover and the incident leaves the window, it admits again,
//! whatever the retention.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use autonomic::{
//!     Analysis, AutonomicRuntime, CaseId, ClockHandle, ManualClock, QRule, RuntimeConfig,
//!     SessionState, TenantId,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(ManualClock::new());
//! let runtime = AutonomicRuntime::builder()
//!     .config(RuntimeConfig::default().with_retention(Duration::ZERO))
//!     .clock(ClockHandle::custom(clock.clone()))
//!     .build()?;
//! let tenant = TenantId::new();
//!
//! // One session in five fails: 20% of the window's 20 sessions, over Global Q's 5%.
//! for i in 0..20 {
//!     let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
//!     h.record_task_execution(Duration::from_millis(5));
//!     if i % 5 == 0 { runtime.fail_session(h)?; } else { runtime.complete_session(h)?; }
//! }
//! let report = runtime.run_once();                       // aggregate, publish, clean up
//! assert_eq!(report.metrics.failure_rate, 0.2);
//! assert_eq!(report.sessions_cleaned, 20);  // retention zero: the table forgets them...
//!
//! let struggling = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
//! for _ in 0..5 { struggling.record_retry(); }           // over max_retries: wants RetryTask
//! match runtime.adapter().evaluate(&struggling)? {       // ...the window does not
//!     Analysis::Refused(refusal) => assert_eq!(refusal.rule, QRule::MaxFailureRate),
//!     other => panic!("expected a refusal, got {other:?}"),
//! }
//!
//! clock.advance(Duration::from_secs(65));                // a window (60 s) later
//! runtime.run_once();                                    // the incident has left it
//! assert!(matches!(runtime.adapter().evaluate(&struggling)?, Analysis::Admitted(_)));
//! assert_eq!(struggling.state(), SessionState::Active);
//! # Ok(()) }
//! ```
//!
//! Start the periodic loop with [`AutonomicRuntime::start`] inside a tokio runtime, stop it
//! with [`shutdown`](AutonomicRuntime::shutdown); dropping the runtime aborts it.
//!
//! # Contents (this crate's own items)
//! * [`AutonomicRuntime`], [`RuntimeBuilder`]: the runtime.
//! * [`RuntimeConfig`]: interval, retention, adapter configuration, Global Q (JSON, TOML).
//! * [`LoopReport`], [`LoopTotals`]: what an iteration saw and did.
//! * [`TableSource`]: a table (or a tenant's or pattern's part of it) as the aggregator's
//!   [`SessionSource`].
//! * [`RuntimeError`].

mod config;
mod error;
mod report;
mod runtime;
mod table_source;

pub use config::{RuntimeConfig, SweepThreads};
pub use error::RuntimeError;
pub use report::{LoopReport, LoopTotals};
pub use runtime::{AutonomicRuntime, RuntimeBuilder};
pub use table_source::TableSource;

/// The core layer (`autonomic-core`): ids, session handles and metrics, clocks, Global Q,
/// knowledge. No async.
pub use autonomic_core as core;

/// The table layer (`autonomic-table`): the concurrent session table.
pub use autonomic_table as table;

/// The adapter layer (`autonomic-adapter`): policies, the doctrine gate, decisions, events.
pub use autonomic_adapter as adapter;

/// The aggregate layer (`autonomic-aggregate`): aggregation and knowledge publication.
pub use autonomic_aggregate as aggregate;

// Core.
pub use autonomic_core::{
    BurnRate, CaseId, Clock, ClockHandle, ConfigError, Coverage, Evidence, GlobalKnowledge,
    GlobalQ, KnowledgeBase, Lifecycle, ManualClock, MetadataError, MetricsSnapshot, MonotonicClock,
    SessionBuilder, SessionContext, SessionHandle, SessionId, SessionMetrics, SessionState,
    Shareable, StateMismatch, StaticTenant, Tag, TenantId, TenantMismatch, TenantTag,
    TransitionError, WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge, marker,
    static_tenant,
};

// Table.
pub use autonomic_table::{NewSession, SessionTable, TableError, TableStats, TenantView, visit};

// Adapter.
pub use autonomic_adapter::{
    ActionError, ActionKind, ActionKinds, AdapterError, AdapterStats, AdmittedDecision, Analysis,
    DoctrineChange, DoctrineRevision, DoctrineView, FnPolicy, KnowledgeChecks, KnowledgeRules,
    Metric, Permit, PolicyContext, Proposal, QRule, Refusal, Rejections, RuleCheck, SessionAction,
    SessionAdapter, SessionAdapterBuilder, SessionAdapterConfig, SessionDecision, SessionEvent,
    SessionPolicy, ShadowConfig, ShadowPromotion, ShadowReport, Signal, ThresholdPolicy, Verdict,
    ViewOptions,
};

// Aggregate.
pub use autonomic_aggregate::{
    AggregatedMetrics, Aggregation, Breakdown, Cumulative, Departures, LatencyHistogram,
    LatencySummary, PatternMetrics, SessionAggregator, SessionSource, TenantMetrics, WindowConfig,
    WindowMemory, WindowPeers, WindowTotals, Windows, histogram, source,
};
