//! [`Breakdown`]: an owned copy of one pass's totals and per-tenant and per-pattern roll-ups.

use autonomic_core::TenantId;
use serde::{Deserialize, Serialize};

use crate::{AggregatedMetrics, Aggregation};

/// One tenant's roll-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TenantMetrics {
    /// The tenant.
    pub tenant: TenantId,
    /// Its sessions' roll-up.
    pub metrics: AggregatedMetrics,
}

/// One workflow pattern's roll-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatternMetrics {
    /// The pattern id.
    pub pattern: u8,
    /// Its sessions' roll-up.
    pub metrics: AggregatedMetrics,
}

/// The totals of one aggregation pass with its per-tenant and per-pattern roll-ups, each an
/// [`AggregatedMetrics`] of its own (with its own latency percentiles).
///
/// Every session is in exactly one tenant and in exactly one of the pattern groups or
/// `unpatterned`, so the tenants' session counts, like the patterns' plus `unpatterned`'s,
/// add up to `total`'s.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_aggregate::SessionAggregator;
/// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
///
/// let (a, b) = (TenantId::new(), TenantId::new());
/// let sessions: Vec<_> = [(a, Some(7)), (a, None), (b, Some(7))]
///     .into_iter()
///     .map(|(tenant, pattern)| {
///         let builder = SessionHandle::builder(CaseId::new(), tenant);
///         let builder = match pattern { Some(p) => builder.pattern(p), None => builder };
///         builder.build().erased()
///     })
///     .collect();
/// let report = SessionAggregator::new(Arc::new(KnowledgeBase::new())).breakdown(&sessions);
/// assert_eq!(report.total.total_sessions, 3);
/// assert_eq!(report.tenant(a).unwrap().total_sessions, 2);
/// assert_eq!(report.pattern(7).unwrap().total_sessions, 2);
/// assert_eq!(report.unpatterned.total_sessions, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Every session.
    pub total: AggregatedMetrics,
    /// Per tenant with sessions, ordered by tenant id.
    pub tenants: Vec<TenantMetrics>,
    /// Per pattern with sessions, in increasing pattern order.
    pub patterns: Vec<PatternMetrics>,
    /// The sessions without a pattern.
    pub unpatterned: AggregatedMetrics,
}

impl Breakdown {
    /// Copies the result of the last pass of `aggregation`.
    pub fn from_aggregation(aggregation: &Aggregation) -> Self {
        let mut tenants: Vec<TenantMetrics> = aggregation
            .tenants()
            .map(|(tenant, metrics)| TenantMetrics { tenant, metrics })
            .collect();
        tenants.sort_unstable_by_key(|t| t.tenant);
        Breakdown {
            total: aggregation.total(),
            tenants,
            patterns: aggregation
                .patterns()
                .map(|(pattern, metrics)| PatternMetrics { pattern, metrics })
                .collect(),
            unpatterned: aggregation.unpatterned(),
        }
    }

    /// One tenant's roll-up; `None` if it had no session.
    pub fn tenant(&self, tenant: TenantId) -> Option<&AggregatedMetrics> {
        self.tenants
            .binary_search_by_key(&tenant, |t| t.tenant)
            .ok()
            .map(|i| &self.tenants[i].metrics)
    }

    /// One pattern's roll-up; `None` if it had no session.
    pub fn pattern(&self, pattern: u8) -> Option<&AggregatedMetrics> {
        self.patterns
            .binary_search_by_key(&pattern, |p| p.pattern)
            .ok()
            .map(|i| &self.patterns[i].metrics)
    }
}
