//! The aggregate layer of the session autonomic runtime: it turns many sessions into the
//! global picture (the K of MAPE-K) that the doctrine gate reads back.
//!
//! # The model
//! An **aggregation pass** visits every session of a [`SessionSource`] (a table, a slice of
//! handles) once. It reads the clock once and reads each session with one
//! [`snapshot_at`](autonomic_core::SessionHandle::snapshot_at) at that instant, into a small
//! batch on the stack; each full batch is then folded into the running sums. Nothing is
//! allocated per session. There are two kinds of pass:
//! * **totals** ([`AggregatedMetrics::of`], [`SessionAggregator::aggregate_source`]): all
//!   sessions as one group. This is what knowledge publishing needs, and the cheapest: it
//!   allocates nothing and does not even read the sessions' tenant and pattern.
//! * **breakdowns** ([`Aggregation::run`], [`SessionAggregator::breakdown`]): each session is
//!   also counted in its tenant's group and its workflow pattern's group (or "no pattern"),
//!   with the totals as the merge of the tenant groups. The groups live in an
//!   [`Aggregation`] that is reused from pass to pass, so a pass allocates nothing once it
//!   has met every tenant.
//!
//! Each group rolls up into an [`AggregatedMetrics`]:
//! * **state buckets**: created, active (with its adapted subset), completed, failed,
//!   cancelled. Every session is in exactly one, so they add up to the total.
//! * **sums** of tasks, latency, retries, violations and adaptations, accumulated in `u128`
//!   (they cannot overflow) and reported saturated to `u64`;
//! * **rates** as ratios of those sums (`failure_rate = failed / finished`,
//!   `violation_rate = violations / tasks`, ...), `0.0` whenever the denominator is zero;
//!   the table is on [`AggregatedMetrics`];
//! * a **latency distribution** (p50, p90, p99, min, max) from a fixed-size log-bucketed
//!   [`LatencyHistogram`]. It is the distribution of *per-session mean task latency*: a
//!   session keeps its task count and latency sum (a per-session histogram would cost more
//!   memory than the rest of the session), so each session with a task contributes its
//!   mean. Percentiles are at most 12.5 % above the true value, never below.
//!
//! A pass is not an atomic photograph of all sessions: each session is read consistently
//! (its task count and latency together, its state and end time together), but sessions
//! that change during the pass are seen as of when the pass reached them.
//!
//! # Knowledge
//! [`SessionAggregator::publish`] turns an aggregate into the typed
//! [`GlobalKnowledge`](autonomic_core::GlobalKnowledge) (SLO compliance = 1 - violation
//! rate, failure rate, totals, mean and p99 latency, and the
//! [`Coverage`](autonomic_core::Coverage): which sessions it speaks for) and publishes it in
//! the [`KnowledgeBase`](autonomic_core::KnowledgeBase). The doctrine gate reads, lock-free,
//! the latest knowledge that covered every session: an aggregate of a subset (only the
//! active sessions, one tenant) is published and kept, but cannot pass for the global
//! picture.
//!
//! ```
//! use std::sync::Arc;
//! use autonomic_aggregate::SessionAggregator;
//! use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
//!
//! let kb = Arc::new(KnowledgeBase::new());
//! let aggregator = SessionAggregator::new(kb.clone());
//! let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
//! h.record_task_execution_us(2_000);
//! h.record_violation();
//! let sessions = vec![h.erased()];
//!
//! let report = aggregator.breakdown(&sessions);           // totals + per tenant/pattern
//! assert_eq!(report.total.active_sessions, 1);
//! assert_eq!(report.total.latency.p99_us, 2_000);
//! aggregator.publish(&report.total);                       // a selection of sessions:
//! assert_eq!(kb.latest().slo_compliance, 0.0);             // published, and kept
//! assert_eq!(kb.current().slo_compliance, 1.0);            // not what the gate reads
//! # Ok::<(), autonomic_core::TransitionError>(())
//! ```
//!
//! # Cost
//! Measured against floors in the same run (`docs/performance.md` has the tables): a
//! totals pass costs 1 to 2.4 times a loop that only takes each session's snapshot, a
//! breakdown pass 2 to 5 times. Visited in random order (as a hash-map-backed table visits
//! them) sessions are cache misses, and both passes approach the cost of those misses
//! (totals about 1.2 times the random-order snapshot loop, breakdowns 1.5 to 2 times).
//!
//! # Contents
//! * [`SessionAggregator`]: passes over sources, and publication.
//! * [`AggregatedMetrics`]: the roll-up of a group (and [`AggregatedMetrics::of`], the totals
//!   pass); [`LatencySummary`] its percentiles.
//! * [`Aggregation`]: the breakdown pass's reusable state and its results, read in place.
//! * [`Breakdown`], [`TenantMetrics`], [`PatternMetrics`]: an owned copy of a pass.
//! * [`LatencyHistogram`]: the log-bucketed histogram.
//! * [`SessionSource`] and the [`source`] adapters: what can be aggregated, and what it
//!   covers.

mod aggregation;
mod aggregator;
mod breakdown;
pub mod histogram;
mod metrics;
pub mod source;
mod window;

pub use aggregation::Aggregation;
pub use aggregator::SessionAggregator;
pub use breakdown::{Breakdown, PatternMetrics, TenantMetrics};
pub use histogram::{LatencyHistogram, LatencySummary};
pub use metrics::AggregatedMetrics;
pub use source::{SessionSource, SplitSource};
pub use window::{
    Cumulative, Departures, WindowConfig, WindowMemory, WindowPass, WindowPeers, WindowTotals,
    Windows,
};
