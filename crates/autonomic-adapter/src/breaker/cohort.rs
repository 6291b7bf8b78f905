//! The vocabulary of the cohort breakers: a [`Cohort`], its [`BreakerState`], and the
//! [`BreakerView`] and [`BreakerStats`] that report them.

use std::fmt;

use autonomic_core::TenantId;
use serde::{Deserialize, Serialize};

/// A group of sessions that share a dependency: a workflow pattern or a tenant.
///
/// ```
/// use autonomic_adapter::breaker::Cohort;
/// assert_eq!(Cohort::Pattern(7).to_string(), "pattern 7");
/// let json = serde_json::to_string(&Cohort::Pattern(7)).unwrap();
/// assert_eq!(json, r#"{"pattern":7}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cohort {
    /// The sessions of one workflow pattern.
    Pattern(u8),
    /// The sessions of one tenant.
    Tenant(TenantId),
}

impl fmt::Display for Cohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cohort::Pattern(p) => write!(f, "pattern {p}"),
            Cohort::Tenant(t) => write!(f, "tenant {t}"),
        }
    }
}

/// Where a cohort's breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Proposals pass (the usual state; a closed breaker is not listed).
    Closed,
    /// Capacity-consuming proposals of the cohort's sessions are refused.
    Open,
    /// A bounded number of probe sessions are admitted; the rest are refused.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        })
    }
}

/// One cohort's breaker, as [`SessionAdapter::breakers`](crate::SessionAdapter::breakers)
/// reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerView {
    /// The cohort.
    pub cohort: Cohort,
    /// Its state.
    pub state: BreakerState,
    /// The failure rate of the cohort's window that last opened it.
    pub failure_rate: f64,
    /// When it last opened, milliseconds on the runtime's monotonic clock.
    pub opened_at_ms: u64,
    /// When it goes (or went) half-open, milliseconds on the monotonic clock; `None` unless
    /// it is open.
    pub half_open_at_ms: Option<u64>,
    /// Probe sessions running now (half-open only).
    pub probes_running: u32,
    /// Probe sessions that completed since it went half-open.
    pub probes_succeeded: u32,
    /// How many times it opened (re-openings included) while the adapter tracked it.
    pub times_opened: u64,
}

/// What the cohort breakers have done, in [`AdapterStats`](crate::AdapterStats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerStats {
    /// Breakers open now.
    pub open: u64,
    /// Breakers half-open now.
    pub half_open: u64,
    /// Openings, from the windows or after a failed probe.
    pub opened: u64,
    /// Transitions to half-open.
    pub half_opened: u64,
    /// Closings after their probes succeeded (or when the cohort left the windows).
    pub closed: u64,
    /// Probe sessions admitted.
    pub probes_admitted: u64,
    /// Probe sessions that failed (or timed out), each re-opening its breaker.
    pub probes_failed: u64,
}
