//! [`TenantHolding`]: what one tenant class holds from the doctrine gate, for introspection.

use autonomic_core::TenantId;
use serde::{Deserialize, Serialize};

/// What one tenant class holds now, against its guarantee and ceiling (tenant shares on; see
/// [`SessionAdapter::tenant_holdings`](crate::SessionAdapter::tenant_holdings)).
///
/// Slots are adaptation slots (of `max_concurrent_adaptations`); resources are fractions of
/// capacity (of `max_total_resources`'s whole, like [`Permit::reserved_resources`](crate::Permit::reserved_resources)).
///
/// ```
/// use autonomic_adapter::TenantHolding;
/// let holding = TenantHolding {
///     tenant: None, // the default class
///     slots_held: 1,
///     guaranteed_slots: 2,
///     ceiling_slots: 5,
///     resources_held: 0.05,
///     guaranteed_resources: 0.1,
///     ceiling_resources: 0.5,
/// };
/// assert!(serde_json::to_string(&holding)?.contains(r#""slots_held":1"#));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TenantHolding {
    /// The listed tenant, or `None` for the default class (every tenant not listed, together).
    pub tenant: Option<TenantId>,
    /// Adaptation slots the class holds (its decisions admitted and not yet executed or
    /// dropped).
    pub slots_held: u64,
    /// Slots it is guaranteed.
    pub guaranteed_slots: u64,
    /// Slots it may hold at most.
    pub ceiling_slots: u64,
    /// Resources it holds (reserved and granted), as a fraction of capacity.
    pub resources_held: f64,
    /// Resources it is guaranteed, as a fraction of capacity.
    pub guaranteed_resources: f64,
    /// Resources it may hold at most, as a fraction of capacity.
    pub ceiling_resources: f64,
}
