//! [`AdapterStats`]: what the adapter holds and has done.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use autonomic_core::SessionId;

use crate::QRule;
use crate::policy::mix64;

/// Refusals by Global Q, by rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejections {
    /// By `min_slo_compliance`.
    pub min_slo_compliance: u64,
    /// By `max_failure_rate`.
    pub max_failure_rate: u64,
    /// By `max_concurrent_adaptations`.
    pub max_concurrent_adaptations: u64,
    /// By `max_total_resources`.
    pub max_total_resources: u64,
    /// By `tenant_share` (a tenant class at its ceiling, or the borrowable pool exhausted).
    #[serde(default)]
    pub tenant_share: u64,
    /// By `retry_budget`.
    #[serde(default)]
    pub retry_budget: u64,
}

impl Rejections {
    /// Refusals by `rule`.
    pub fn get(&self, rule: QRule) -> u64 {
        match rule {
            QRule::MinSloCompliance => self.min_slo_compliance,
            QRule::MaxFailureRate => self.max_failure_rate,
            QRule::MaxConcurrentAdaptations => self.max_concurrent_adaptations,
            QRule::MaxTotalResources => self.max_total_resources,
            QRule::TenantShare => self.tenant_share,
            QRule::RetryBudget => self.retry_budget,
        }
    }

    /// All refusals.
    pub fn total(&self) -> u64 {
        QRule::ALL.iter().map(|&rule| self.get(rule)).sum()
    }
}

/// A snapshot of the adapter's state and counters (the quick reference's four fields first).
///
/// ```
/// # use std::sync::Arc;
/// # use autonomic_adapter::SessionAdapter;
/// # use autonomic_core::KnowledgeBase;
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let stats = adapter.snapshot_stats();
/// assert_eq!((stats.active_adaptations, stats.total_decisions, stats.tracked_sessions), (0, 0, 0));
/// assert_eq!(stats.rejections.total(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterStats {
    /// Admitted decisions not yet executed or dropped (slots in use).
    pub active_adaptations: u64,
    /// Decisions admitted since the adapter was built.
    pub total_decisions: u64,
    /// Sessions whose history or grant the adapter keeps.
    pub tracked_sessions: usize,
    /// Events waiting to be drained.
    pub pending_events: usize,
    /// Decisions executed.
    pub executed_decisions: u64,
    /// Proposals refused by Global Q, by rule.
    pub rejections: Rejections,
    /// Events dropped because the buffer was full (the oldest go first).
    pub events_dropped: u64,
    /// Executed decisions not recorded in history because `max_tracked_sessions` was reached.
    pub untracked_decisions: u64,
    /// Resources granted to live sessions, as a fraction of capacity.
    pub granted_resources: f64,
    /// `max_concurrent_adaptations` of the Global Q in force.
    pub max_concurrent_adaptations: u64,
}

/// Cells of a [`ShardedCounter`] (a power of two).
const CELLS: usize = 16;

/// A statistic counted on the action path: one cell per group of sessions, each on its own
/// cache line, so threads working on different sessions do not bounce one line between them.
#[derive(Debug, Default)]
pub(crate) struct ShardedCounter {
    cells: [CachePadded<AtomicU64>; CELLS],
}

impl ShardedCounter {
    #[inline]
    pub(crate) fn add(&self, session: SessionId) {
        let cell = (mix64(session.as_u64()) as usize) & (CELLS - 1);
        // Relaxed: a statistic.
        self.cells[cell].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        // Relaxed: a statistic; each cell is exact, the sum may be a few updates behind.
        self.cells.iter().map(|c| c.load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
    }
}

/// The adapter's counters. Statistics only (Relaxed): admission decisions never read them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    decisions: ShardedCounter,
    executed: ShardedCounter,
    untracked: AtomicU64,
    rejections: [AtomicU64; QRule::ALL.len()],
}

impl Counters {
    #[inline]
    pub(crate) fn decision(&self, session: SessionId) {
        self.decisions.add(session);
    }

    #[inline]
    pub(crate) fn executed(&self, session: SessionId) {
        self.executed.add(session);
    }

    pub(crate) fn untracked(&self) {
        // Relaxed: a statistic.
        self.untracked.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejection(&self, rule: QRule) {
        // Relaxed: a statistic.
        self.rejections[rule.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// `(decisions, executed, untracked, rejections)`.
    pub(crate) fn read(&self) -> (u64, u64, u64, Rejections) {
        // Relaxed (all): statistics, each exact, possibly a few updates apart.
        let r = |rule: QRule| self.rejections[rule.index()].load(Ordering::Relaxed);
        (
            self.decisions.sum(),
            self.executed.sum(),
            self.untracked.load(Ordering::Relaxed),
            Rejections {
                min_slo_compliance: r(QRule::MinSloCompliance),
                max_failure_rate: r(QRule::MaxFailureRate),
                max_concurrent_adaptations: r(QRule::MaxConcurrentAdaptations),
                max_total_resources: r(QRule::MaxTotalResources),
                tenant_share: r(QRule::TenantShare),
                retry_budget: r(QRule::RetryBudget),
            },
        )
    }
}
