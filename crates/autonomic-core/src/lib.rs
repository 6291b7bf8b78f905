//! The hot-path core of the session autonomic runtime.
//!
//! # The model
//! A service runs many concurrent workflow instances; each is a **session**. A session has an
//! id, a [context](SessionContext) (case, tenant, workflow pattern, tags), lock-free
//! [metrics](SessionMetrics) and a lifecycle:
//!
//! ```text
//! Created -> Active (-> Adapted) -> Completed | Failed | Cancelled
//! ```
//!
//! The owner of a session drives it through a [`SessionHandle<T, S>`]: `S` is a typestate
//! marker, so calls that make no sense in a state do not compile (no `record_*` on a finished
//! session, no second `start()`), and `T` is a tenant tag, so one tenant's handle cannot be
//! passed where another's is expected. Other holders (a table's cleanup, an external cancel)
//! may race the owner; every run-time transition is therefore one compare-and-swap: exactly
//! one terminal state wins and the loser gets a [`TransitionError`].
//!
//! Recording is the hot path: `record_task_execution` is one atomic add (count and
//! latency packed in one word, so a [snapshot](MetricsSnapshot) never tears them), and no
//! clock is read. Times come from an injectable monotonic [`Clock`], read only at transitions
//! and snapshots.
//!
//! This crate also holds the values the upper layers share: the doctrine [`GlobalQ`], the
//! [knowledge](GlobalKnowledge) the aggregator publishes and the doctrine gate reads, and
//! [configuration validation](config). It has no async dependency.
//!
//! ```
//! use std::time::Duration;
//! use autonomic_core::{CaseId, SessionHandle, TenantId};
//!
//! let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
//! handle.record_task_execution(Duration::from_millis(10));
//! let snapshot = handle.snapshot();
//! assert_eq!(snapshot.avg_latency_us(), Some(10_000.0));
//! handle.complete()?;
//! # Ok::<(), autonomic_core::TransitionError>(())
//! ```

mod clock;
pub mod config;
mod context;
mod coverage;
mod error;
mod global_q;
mod handle;
mod id_hash;
mod ids;
mod knowledge;
mod lifecycle;
mod metrics;
mod on_end;
mod reading;
mod snapshot;
mod state;
mod sync;
mod tag_list;
mod tenant;
#[cfg(all(test, autonomic_loom))]
mod tests;
pub mod text;
mod window;

pub use clock::{Clock, ClockHandle, ManualClock, MonotonicClock};
pub use config::ConfigError;
pub use context::{SessionContext, Tag};
pub use coverage::Coverage;
pub use error::{MetadataError, StateMismatch, TenantMismatch, TransitionError};
pub use global_q::GlobalQ;
pub use handle::{SessionBuilder, SessionHandle, Shareable};
pub use id_hash::{BuildSessionIdHasher, SessionIdHasher};
pub use ids::{CaseId, SessionId, TenantId};
pub use knowledge::{GlobalKnowledge, KnowledgeBase};
pub use metrics::SessionMetrics;
pub use reading::SessionReading;
pub use snapshot::MetricsSnapshot;
pub use state::{Lifecycle, SessionState, marker};
pub use tenant::{StaticTenant, TenantTag};
pub use window::{
    BurnRate, Evidence, WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge,
};
