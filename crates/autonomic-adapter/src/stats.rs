//! [`AdapterStats`]: what the adapter holds and has done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use autonomic_core::{SessionId, TenantId};

use crate::breaker::BreakerStats;
use crate::policy::mix64;
use crate::{ActionKind, QRule};

/// Rules of Global Q (the length of every per-rule array).
const RULES: usize = QRule::ALL.len();
/// Kinds of action (the length of every per-kind array).
const KINDS: usize = ActionKind::ALL.len();

/// Tenants whose refusals [`Refusals::tenants`] counts by name: the tenants refused most
/// (space-saving); the others are summed in [`Refusals::other_tenants`].
pub const REFUSAL_TENANTS: usize = 16;

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
    /// By `cohort_breaker`.
    #[serde(default)]
    pub cohort_breaker: u64,
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
            QRule::CohortBreaker => self.cohort_breaker,
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
    /// Proposals refused by Global Q, by rule and kind of action, and by tenant.
    pub refusals: Refusals,
    /// Events dropped because the buffer was full (the oldest go first).
    pub events_dropped: u64,
    /// Executed decisions not recorded in history because `max_tracked_sessions` was reached.
    pub untracked_decisions: u64,
    /// Resources granted to live sessions, as a fraction of capacity.
    pub granted_resources: f64,
    /// `max_concurrent_adaptations` of the Global Q in force.
    pub max_concurrent_adaptations: u64,
    /// The adaptive concurrency limit in force, when it is on (the capacity rule admits
    /// against the lower of it and `max_concurrent_adaptations`).
    #[serde(default)]
    pub concurrency_limit: Option<u64>,
    /// What the cohort breakers have done (all zero when they are off).
    #[serde(default)]
    pub breakers: BreakerStats,
}

/// Refusals by Global Q broken down by (rule, kind of action) and by tenant, with a bounded
/// number of tenants named ([`REFUSAL_TENANTS`]).
///
/// ```
/// # use std::sync::Arc;
/// use autonomic_adapter::{ActionKind, QRule, SessionAdapter};
/// # use autonomic_core::KnowledgeBase;
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let refusals = adapter.snapshot_stats().refusals;
/// assert_eq!(refusals.get(QRule::MaxFailureRate, ActionKind::RetryTask), 0);
/// assert!(refusals.tenants.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusals {
    /// Refusals by rule (index: the rule's place in [`QRule`]'s declaration) and kind of
    /// action (the kind's place in [`ActionKind::ALL`]); read with [`get`](Self::get).
    pub by_action: [[u64; KINDS]; RULES],
    /// The tenants refused most, most refusals first: each with the refusals counted since
    /// it got its place among them (a tenant that loses its place and comes back starts again
    /// from 1). At most [`REFUSAL_TENANTS`].
    pub tenants: Vec<TenantRefusals>,
    /// Refusals of every other tenant (tenants never named, and named ones before they lost
    /// their place): with `tenants`, every refusal is counted exactly once.
    pub other_tenants: u64,
}

impl Refusals {
    /// Refusals of a `kind` of action by `rule`.
    pub fn get(&self, rule: QRule, kind: ActionKind) -> u64 {
        self.by_action[rule.index()][kind_index(kind)]
    }

    /// Refusals by `rule`, of every kind of action.
    pub fn by_rule(&self, rule: QRule) -> u64 {
        self.by_action[rule.index()].iter().fold(0, |a, &b| a.saturating_add(b))
    }
}

/// One tenant's refusals in [`Refusals::tenants`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRefusals {
    /// The tenant.
    pub tenant: TenantId,
    /// Its refusals since it got its place.
    pub refusals: u64,
}

/// The place of `kind` in [`ActionKind::ALL`].
const fn kind_index(kind: ActionKind) -> usize {
    kind as usize
}

/// The tenants refused most, in bounded memory: the space-saving algorithm (Metwally,
/// Agrawal, El Abbadi 2005) over [`REFUSAL_TENANTS`] places. A tenant without a place takes
/// the place of the one with the smallest estimate, inheriting that estimate as its error, so
/// every tenant refused more than `1/REFUSAL_TENANTS` of all refusals holds a place. What is
/// reported for a tenant is its estimate minus its error: the refusals counted since it got
/// its place, a lower bound; what the evicted tenant had counted moves to `other`.
#[derive(Debug, Default)]
struct TopTenants {
    places: Vec<Place>,
    other: u64,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    tenant: TenantId,
    /// Space-saving estimate (an upper bound of the tenant's refusals since it was last
    /// without a place).
    estimate: u64,
    /// Of `estimate`, what it inherited.
    error: u64,
}

impl TopTenants {
    fn count(&mut self, tenant: TenantId) {
        if let Some(place) = self.places.iter_mut().find(|p| p.tenant == tenant) {
            place.estimate = place.estimate.saturating_add(1);
            return;
        }
        if self.places.len() < REFUSAL_TENANTS {
            self.places.push(Place { tenant, estimate: 1, error: 0 });
            return;
        }
        // Full: the smallest estimate gives its place up (`places` is never empty here).
        if let Some(min) = self.places.iter_mut().min_by_key(|p| p.estimate) {
            self.other = self.other.saturating_add(min.estimate - min.error);
            *min = Place { tenant, estimate: min.estimate.saturating_add(1), error: min.estimate };
        }
    }

    fn read(&self) -> (Vec<TenantRefusals>, u64) {
        let mut tenants: Vec<TenantRefusals> = self
            .places
            .iter()
            .map(|p| TenantRefusals { tenant: p.tenant, refusals: p.estimate - p.error })
            .collect();
        tenants.sort_unstable_by(|a, b| b.refusals.cmp(&a.refusals).then(a.tenant.cmp(&b.tenant)));
        (tenants, self.other)
    }
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
    /// Refusals by rule and kind of action (the one count of refusals; by rule is a sum).
    refusals: [[AtomicU64; KINDS]; RULES],
    /// Refusals by tenant. A lock, on the refusal path only (cold, and already traced).
    refusing_tenants: Mutex<TopTenants>,
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

    pub(crate) fn rejection(&self, rule: QRule, kind: ActionKind, tenant: TenantId) {
        // Relaxed: a statistic.
        self.refusals[rule.index()][kind_index(kind)].fetch_add(1, Ordering::Relaxed);
        self.top_tenants().count(tenant);
    }

    fn top_tenants(&self) -> std::sync::MutexGuard<'_, TopTenants> {
        // Counting is a few plain writes that leave the places consistent at every step.
        self.refusing_tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refusals by rule and kind, and by tenant.
    pub(crate) fn refusals(&self) -> Refusals {
        // Relaxed: statistics, each exact, possibly a few updates apart.
        let by_action =
            self.refusals.each_ref().map(|row| row.each_ref().map(|c| c.load(Ordering::Relaxed)));
        let (tenants, other_tenants) = self.top_tenants().read();
        Refusals { by_action, tenants, other_tenants }
    }

    /// `(decisions, executed, untracked, rejections)`.
    pub(crate) fn read(&self) -> (u64, u64, u64, Rejections) {
        // Relaxed (all): statistics, each exact, possibly a few updates apart.
        let r = |rule: QRule| {
            self.refusals[rule.index()]
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .fold(0, u64::saturating_add)
        };
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
                cohort_breaker: r(QRule::CohortBreaker),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_indexes_follow_all() {
        for (i, kind) in ActionKind::ALL.into_iter().enumerate() {
            assert_eq!(kind_index(kind), i);
        }
    }

    #[test]
    fn top_tenants_keep_the_heavy_ones_and_count_every_refusal_once() {
        let heavy: Vec<TenantId> = (0..4).map(|_| TenantId::new()).collect();
        let mut top = TopTenants::default();
        let mut total = 0u64;
        // Each heavy tenant refused 50 times, interleaved with 1000 tenants refused once.
        for round in 0..1000 {
            if round % 5 == 0 {
                for &t in &heavy {
                    top.count(t);
                    total += 1;
                }
            }
            top.count(TenantId::new());
            total += 1;
        }
        let (tenants, other) = top.read();
        assert!(tenants.len() <= REFUSAL_TENANTS);
        assert_eq!(tenants.iter().map(|t| t.refusals).sum::<u64>() + other, total);
        for t in &heavy {
            let named = tenants.iter().find(|n| n.tenant == *t).map(|n| n.refusals);
            assert_eq!(named, Some(200), "a heavy tenant keeps its place from its first refusal");
        }
        assert_eq!(&tenants[..4].iter().map(|t| t.refusals).collect::<Vec<_>>(), &[200; 4]);

        // A tenant that turns heavy late takes a place too (first come would never name it).
        let late = TenantId::new();
        for _ in 0..300 {
            top.count(late);
            top.count(TenantId::new());
            total += 2;
        }
        let (tenants, other) = top.read();
        assert_eq!(tenants.iter().map(|t| t.refusals).sum::<u64>() + other, total);
        let named = tenants.iter().find(|n| n.tenant == late).map(|n| n.refusals);
        assert!(named.is_some_and(|n| n >= 290), "{named:?}");
    }

    #[test]
    fn refusals_by_action_sum_to_refusals_by_rule() {
        let counters = Counters::default();
        let tenant = TenantId::new();
        counters.rejection(QRule::MaxFailureRate, ActionKind::RetryTask, tenant);
        counters.rejection(QRule::MaxFailureRate, ActionKind::DegradePerformance, tenant);
        counters.rejection(QRule::MaxTotalResources, ActionKind::RequestResources, tenant);
        let refusals = counters.refusals();
        assert_eq!(refusals.get(QRule::MaxFailureRate, ActionKind::RetryTask), 1);
        assert_eq!(refusals.get(QRule::MaxFailureRate, ActionKind::RequestResources), 0);
        assert_eq!(refusals.by_rule(QRule::MaxFailureRate), 2);
        let (.., rejections) = counters.read();
        for rule in QRule::ALL {
            assert_eq!(rejections.get(rule), refusals.by_rule(rule));
        }
        assert_eq!(refusals.tenants, vec![TenantRefusals { tenant, refusals: 3 }]);
        assert_eq!(refusals.other_tenants, 0);
    }
}
