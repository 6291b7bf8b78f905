//! What the sessions share: the runtime, the tenants, the tally, and how a session asks for
//! and carries out a decision.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use autonomic::{
    ActionKind, AdmittedDecision, Analysis, AutonomicRuntime, SessionAction, SessionHandle,
};

use crate::args::Args;
use crate::workload::Tenant;

/// Everything the sessions share.
pub(crate) struct World {
    pub(crate) args: Args,
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) total_weight: u64,
    pub(crate) runtime: AutonomicRuntime,
    pub(crate) tally: Tally,
    /// When the world was built: the origin of the times the tally keeps.
    pub(crate) started: Instant,
}

/// A count kept by many session tasks at once.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        // Relaxed: an independent count; it is read after every session task has been
        // joined, and the join orders the adds before the read.
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        // Relaxed: see `add` (the progress lines do not read these counts).
        self.0.load(Ordering::Relaxed)
    }
}

/// What the workload did (counted by the sessions themselves).
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) per_tenant: Vec<TenantTally>,
    pub(crate) executed: [Counter; 6],
    pub(crate) execution_failed: Counter,
    pub(crate) backoff_ms: Counter,
    pub(crate) retries: Counter,
    pub(crate) lost_races: Counter,
    /// When the last session of the incident ended, ms after `World::started`.
    pub(crate) incident_ended_ms: AtomicU64,
}

#[derive(Default)]
pub(crate) struct TenantTally {
    pub(crate) sessions: Counter,
    pub(crate) completed: Counter,
    pub(crate) failed: Counter,
    pub(crate) cancelled: Counter,
    pub(crate) incident: Counter,
}

pub(crate) fn kind_index(kind: ActionKind) -> usize {
    ActionKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

/// What the session is doing differently because of its decisions.
#[derive(Default)]
pub(crate) struct Mode {
    pub(crate) degraded: bool,
    pub(crate) boosted: bool,
    pub(crate) shed_after: Option<u32>,
}

impl World {
    /// Asks for a decision and carries it out. A `RetryTask` is returned unexecuted: the
    /// caller waits, retries, and executes it once the retry is done.
    pub(crate) fn adapt(
        &self,
        handle: &SessionHandle,
        mode: &mut Mode,
        done: u32,
    ) -> Option<AdmittedDecision> {
        let adapter = self.runtime.adapter();
        let decision = match adapter.evaluate(handle) {
            Ok(Analysis::Admitted(decision)) => decision,
            // Refusals are counted by the adapter, by rule.
            Ok(Analysis::NoAction | Analysis::Refused(_)) => return None,
            Err(e) => {
                eprintln!("analysis error: {e}");
                return None;
            }
        };
        match &decision.action {
            SessionAction::RetryTask { .. } => return Some(decision),
            SessionAction::DegradePerformance { .. } => mode.degraded = true,
            SessionAction::RequestResources { .. } => mode.boosted = true,
            SessionAction::CancelOptionalTasks => mode.shed_after = Some(done + 2),
            SessionAction::TriggerCompensation { .. } | SessionAction::LogAndContinue { .. } => {}
        }
        self.execute(&decision, handle);
        None
    }

    pub(crate) fn execute<S: autonomic::Lifecycle>(
        &self,
        decision: &AdmittedDecision,
        handle: &SessionHandle<(), S>,
    ) {
        match self.runtime.adapter().execute(decision, handle) {
            Ok(()) => {
                self.tally.executed[kind_index(decision.action.kind())].add(1);
            }
            // Cancelled from outside meanwhile: what the decision held was returned.
            Err(_) => {
                self.tally.execution_failed.add(1);
            }
        }
    }
}
