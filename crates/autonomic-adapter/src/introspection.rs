//! Introspection: [`DoctrineView`], a typed, serializable picture of the doctrine's state
//! (the Q in force and the shadow, what the gate holds, tenant health from the windows,
//! grants by session), and [`ViewOptions`], its bounds.
//!
//! A view is read piece by piece, lock-free except for the grants (each shard of the session
//! store locked in turn): its parts are each exact but not one atomic snapshot. It is for
//! people and dashboards, never for the admission path.
//!
//! # Extending it
//! Each new piece of doctrine state is one more field of [`DoctrineView`], filled in
//! [`SessionAdapter::doctrine_view`](crate::SessionAdapter::doctrine_view).

use autonomic_core::config::ConfigError;
use autonomic_core::{Evidence, GlobalQ, SessionId, TenantId, WindowFigures};
use serde::{Deserialize, Serialize};

use crate::{AdapterStats, DoctrineRevision, ShadowReport};

/// Bounds of a [`DoctrineView`]. Loads from JSON or TOML; a refused value names its field.
///
/// ```
/// use autonomic_adapter::ViewOptions;
/// assert_eq!(ViewOptions::from_json_str(r#"{"max_grants": 10}"#)?.max_grants, 10);
/// let err = ViewOptions::from_toml_str("max_grants = 0").unwrap_err();
/// assert_eq!(err.field(), Some("max_grants"));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct ViewOptions {
    /// Sessions listed in [`GrantsView::sessions`] at most (`1..=65536`; default 100).
    pub max_grants: usize,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions { max_grants: 100 }
    }
}

impl ViewOptions {
    /// Largest `max_grants`.
    pub const MAX_GRANTS: usize = 1 << 16;

    /// Checks every field; the error names the first one refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::config::within("max_grants", self.max_grants, Self::MAX_GRANTS)
    }
}

crate::validated::validated_document!(ViewOptions);

/// The doctrine's state, for people and dashboards.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{DoctrineView, SessionAdapter};
/// use autonomic_core::KnowledgeBase;
///
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let view = adapter.doctrine_view();
/// assert_eq!(view.capacity.slots_in_use, 0);
/// assert!(view.shadow.is_none());
/// let json = serde_json::to_string(&view)?;
/// assert_eq!(serde_json::from_str::<DoctrineView>(&json)?, view);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoctrineView {
    /// The change feed's latest value when the view was taken.
    pub revision: DoctrineRevision,
    /// The Q in force.
    pub global_q: GlobalQ,
    /// The shadow doctrine, if one is set, with what it has seen.
    pub shadow: Option<ShadowReport>,
    /// What the gate holds against the Q's caps.
    pub capacity: CapacityView,
    /// The adapter's statistics (decisions, refusals by rule, events).
    pub stats: AdapterStats,
    /// Tenant health, from the windows of the knowledge the gate reads.
    pub tenant_health: TenantHealthView,
    /// Sessions holding a resource grant (bounded).
    pub grants: GrantsView,
    /// The budgets below Q in force: tenant shares and the retry budget.
    #[serde(default)]
    pub budgets: crate::Budgets,
    /// What each tenant class holds against its guarantee and ceiling (empty without tenant
    /// shares; bounded by the classes listed, see [`TenantShares`](crate::TenantShares)).
    #[serde(default)]
    pub tenant_holdings: Vec<crate::TenantHolding>,
    /// Retries holding a token of the retry budget now.
    #[serde(default)]
    pub retries_in_flight: u64,
    /// The cohort breakers that are not closed (bounded by the scopes the windows hold).
    #[serde(default)]
    pub breakers: Vec<crate::breaker::BreakerView>,
}

/// What the gate holds, against the caps of the Q in force.
///
/// By action kind: resources are only ever held by `RequestResources`, so `resources_granted`
/// is that kind's. Slots are not counted by kind: it would take one more atomic
/// read-modify-write on admission and on release of every decision, which the action path does
/// not pay; a slot is held only from admission to execution (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityView {
    /// Adaptation slots in use (admitted, not yet executed or dropped).
    pub slots_in_use: u64,
    /// `max_concurrent_adaptations` in force.
    pub max_concurrent_adaptations: u64,
    /// Slots above it that only actions shedding load may take
    /// ([`set_shedding_headroom`](crate::SessionAdapter::set_shedding_headroom)).
    #[serde(default)]
    pub shedding_headroom: u64,
    /// Resources granted to live sessions and reserved by admitted decisions, as a fraction
    /// of capacity.
    pub resources_granted: f64,
    /// `max_total_resources` in force.
    pub max_total_resources: f64,
}

/// How a tenant's windowed figures stand against the Q in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Every rule judged passes.
    Healthy,
    /// The failure rate passes (or is not judged) but SLO compliance is below
    /// `min_slo_compliance`.
    Degraded,
    /// The failure rate is above `max_failure_rate`.
    Failing,
    /// Neither rate had enough evidence in the window.
    NotJudged,
}

/// One scope's (a tenant's, or the other tenants') windowed figures and health.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HealthFigures {
    /// Failure rate over the window, or the evidence it lacked.
    pub failure_rate: Evidence,
    /// SLO compliance over the window, or the evidence it lacked.
    pub slo_compliance: Evidence,
    /// Sessions that finished in the window.
    pub finished: u64,
    /// Tasks recorded in the window.
    pub tasks: u64,
    /// Sessions running at the last pass.
    pub running: u64,
    /// The figures against the Q in force.
    pub health: Health,
}

impl HealthFigures {
    pub(crate) fn of(figures: &WindowFigures, health: Health) -> Self {
        HealthFigures {
            failure_rate: figures.failure_rate,
            slo_compliance: figures.slo_compliance,
            finished: figures.counts.finished(),
            tasks: figures.counts.tasks,
            running: figures.gauges.running,
            health,
        }
    }
}

/// One tenant's health.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TenantHealth {
    /// The tenant.
    pub tenant: TenantId,
    /// Its figures.
    pub figures: HealthFigures,
}

/// Tenant health from the windows: bounded by the windows' own cap on tenants (those past it
/// are `other_tenants`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantHealthView {
    /// The knowledge generation the figures come from.
    pub knowledge_generation: u64,
    /// Whether that knowledge has windows (the runtime's loop publishes them); without, the
    /// lists are empty.
    pub windowed: bool,
    /// Each tenant with a window of its own, sorted by tenant.
    pub tenants: Vec<TenantHealth>,
    /// The tenants beyond the windows' cap, together (`None` without windows).
    pub other_tenants: Option<HealthFigures>,
}

/// One session's grant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionGrant {
    /// The session.
    pub session_id: SessionId,
    /// What it holds, as a fraction of capacity.
    pub amount: f64,
}

/// Sessions holding a grant: at most [`ViewOptions::max_grants`] of them, in no particular
/// order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantsView {
    /// The sessions listed.
    pub sessions: Vec<SessionGrant>,
    /// Sessions holding a grant in all (tracked ones: see `max_tracked_sessions`).
    pub sessions_holding: usize,
    /// Whether some were left out of `sessions`.
    pub truncated: bool,
}
