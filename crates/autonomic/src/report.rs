//! [`LoopReport`]: what one iteration of the runtime's loop saw and did.

use std::time::Duration;

use autonomic_adapter::AdapterStats;
use autonomic_aggregate::AggregatedMetrics;
use serde::Serialize;

/// What one iteration of the MAPE-K loop saw and did (see
/// [`AutonomicRuntime::run_once`](crate::AutonomicRuntime::run_once)).
///
/// `metrics` is the aggregate of every session in the table at the start of the iteration,
/// before cleanup; it is also what was published as knowledge generation
/// `knowledge_generation`. Cleanup and grant counts are this iteration's; `totals` adds them
/// up since the runtime was built.
///
/// ```
/// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
///
/// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
/// let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
/// h.record_task_execution_us(800);
/// let report = runtime.run_once();
/// assert_eq!(report.iteration, 1);
/// assert_eq!(report.metrics.active_sessions, 1);
/// assert_eq!(report.knowledge_generation, 1);
/// assert_eq!(runtime.last_report(), Some(report));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopReport {
    /// Iteration number: 1, 2, ... (whether run by the loop or by `run_once`).
    pub iteration: u64,
    /// When the sessions were read (ns on the runtime's clock).
    pub at_ns: u64,
    /// The aggregate of every session in the table (Monitor / Analyze).
    pub metrics: AggregatedMetrics,
    /// The generation of the knowledge published from `metrics` (Knowledge).
    pub knowledge_generation: u64,
    /// Sessions whose resource grant was returned by this iteration's cleanup (Execute):
    /// normally none, since a grant comes back when its session ends.
    pub grants_released: usize,
    /// Resources returned this iteration, as a fraction of capacity.
    pub resources_released: f64,
    /// Finished sessions removed from the table (and their decision history) this iteration.
    pub sessions_cleaned: usize,
    /// Sessions left in the table after cleanup.
    pub sessions_remaining: usize,
    /// The adapter's statistics at the end of the iteration (decisions, refusals by rule,
    /// events pending and dropped, resources granted).
    pub adapter: AdapterStats,
    /// How long the iteration took (wall time, whatever the runtime's clock).
    pub took: Duration,
    /// Cleanup and grant counts summed over every iteration so far.
    pub totals: LoopTotals,
}

/// Counts summed over every iteration of a runtime's loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoopTotals {
    /// Finished sessions removed from the table.
    pub sessions_cleaned: u64,
    /// Grants returned.
    pub grants_released: u64,
}
