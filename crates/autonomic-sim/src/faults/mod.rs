//! Seeded fault injection, for the simulator and for your own tests: [`FaultInjector`].
//!
//! A [`FaultPlan`] says which faults hit whom ([`Target`]: everyone, a tenant, a pattern) and
//! when; a [`FaultInjector`] draws them from a seed. Each session gets its own stream
//! ([`FaultInjector::session`], keyed by a number you choose, e.g. its arrival index), so
//! what a session is dealt does not depend on the order sessions run in: the same seed gives
//! the same faults in a multi-threaded test as in the simulator.
//!
//! ```
//! use std::time::Duration;
//! use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
//! use autonomic_sim::faults::{Fault, FaultInjector, FaultKind, FaultPlan, Target};
//!
//! let tenant = TenantId::from_u128(1);
//! let s = Duration::from_secs;
//! let plan = FaultPlan::new(vec![
//!     Fault::new(Target::Tenant(tenant), FaultKind::TaskFailures { rate: 1.0 }, s(0), s(10)),
//!     Fault::new(Target::Pattern(2), FaultKind::SessionFailures { rate: 1.0 }, s(0), s(10)),
//! ])?;
//! let injector = FaultInjector::new(plan, 42);
//!
//! let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
//! let handle =
//!     runtime.start_session(runtime.create_session(CaseId::new(), tenant).with_pattern(2))?;
//! let mut faults = injector.session(tenant, Some(2), 0, s(1));
//! // The task fails transiently: a retry is recorded, the task is not.
//! let task = faults.record_task(&handle, s(1), Duration::from_millis(5), 0.0);
//! assert!(task.failed);
//! assert_eq!(handle.snapshot().retry_count, 1);
//! assert_eq!(handle.snapshot().task_completions, 0);
//! // The session's outcome, as the fault says.
//! assert!(faults.session_fails(s(2), 0.0));
//! assert!(!faults.session_fails(s(11), 0.0), "the fault is over");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod plan;

use std::sync::Arc;
use std::time::Duration;

use autonomic::core::marker::Active;
use autonomic::{SessionHandle, TenantId, TenantTag};

pub use plan::{Fault, FaultError, FaultKind, FaultPlan, Target};

use crate::SimRng;

/// Draws the faults of a [`FaultPlan`] from a seed. Cheap to clone (the plan is shared).
#[derive(Debug, Clone)]
pub struct FaultInjector {
    faults: Arc<[Fault]>,
    seed: u64,
}

impl FaultInjector {
    /// An injector of `plan`'s faults, drawn from `seed`.
    pub fn new(plan: FaultPlan, seed: u64) -> Self {
        FaultInjector { faults: plan.faults().into(), seed }
    }

    /// The faults it injects.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The faults of a session of `tenant` running `pattern`, starting at `at`, on its own
    /// random stream `key` (any number that names the session within this seed: the same key
    /// gives the same draws).
    pub fn session(
        &self,
        tenant: TenantId,
        pattern: Option<u8>,
        key: u64,
        at: Duration,
    ) -> SessionFaults {
        let id = tenant.as_uuid().as_u128();
        let keys = [(id >> 64) as u64, id as u64, u64::from(pattern.unwrap_or(0)), key];
        let mut rng = SimRng::stream(self.seed, &keys);
        let mut slow_factor = 1.0;
        for fault in self.in_force(tenant, pattern, at) {
            if let FaultKind::SlowSessions { factor, rate } = fault.kind
                && rng.chance(rate)
            {
                slow_factor = f64::max(slow_factor, factor);
            }
        }
        SessionFaults { faults: self.faults.clone(), tenant, pattern, rng, slow_factor }
    }

    /// How many times its usual rate `tenant`'s sessions arrive at `at` (the largest flood in
    /// force, 1 without one).
    pub fn arrival_factor(&self, tenant: TenantId, at: Duration) -> f64 {
        self.in_force(tenant, None, at)
            .filter_map(|f| match f.kind {
                FaultKind::Flood { factor } => Some(factor),
                _ => None,
            })
            .fold(1.0, f64::max)
    }

    /// The fraction of resource capacity held by pressure at `at` (the faults in force
    /// added up, at most 1).
    pub fn resource_pressure(&self, at: Duration) -> f64 {
        let held: f64 = self
            .faults
            .iter()
            .filter(|f| f.active_at(at))
            .filter_map(|f| match f.kind {
                FaultKind::ResourcePressure { fraction } => Some(fraction),
                _ => None,
            })
            .sum();
        held.min(1.0)
    }

    /// Every instant at which a fault starts or ends, sorted, without repeats: the moments a
    /// driver must look again at arrival rates and pressure.
    pub fn edges(&self) -> Vec<Duration> {
        let mut edges: Vec<Duration> = self.faults.iter().flat_map(|f| [f.from, f.until]).collect();
        edges.sort_unstable();
        edges.dedup();
        edges
    }

    fn in_force(
        &self,
        tenant: TenantId,
        pattern: Option<u8>,
        at: Duration,
    ) -> impl Iterator<Item = &Fault> {
        self.faults.iter().filter(move |f| f.active_at(at) && f.target.matches(tenant, pattern))
    }
}

/// What one task was dealt: its latency, and whether it failed transiently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskFault {
    /// The task's latency, µs, with every slowdown in force.
    pub latency_us: u64,
    /// Whether the task failed transiently (to be retried).
    pub failed: bool,
}

/// The faults one session is dealt, on its own random stream ([`FaultInjector::session`]).
#[derive(Debug, Clone)]
pub struct SessionFaults {
    faults: Arc<[Fault]>,
    tenant: TenantId,
    pattern: Option<u8>,
    rng: SimRng,
    slow_factor: f64,
}

impl SessionFaults {
    /// Whether the session was dealt a slow run ([`FaultKind::SlowSessions`]) at its start.
    pub fn is_slow(&self) -> bool {
        self.slow_factor > 1.0
    }

    /// The random stream the session's faults are drawn from: a driver may draw the
    /// session's own workload from it too (after the faults' draws, so faults stay put).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// One task run at `at` that would take `latency_us` and fail with probability
    /// `base_failure_rate`: the latency with the session's slowdown and any spike in force,
    /// and whether it fails (the largest failure rate in force wins).
    pub fn task(&mut self, at: Duration, latency_us: u64, base_failure_rate: f64) -> TaskFault {
        let mut spike = 1.0f64;
        let mut failure_rate = base_failure_rate;
        for fault in self.faults.iter() {
            if !fault.active_at(at) || !fault.target.matches(self.tenant, self.pattern) {
                continue;
            }
            match fault.kind {
                FaultKind::LatencySpike { factor, rate } if self.rng.chance(rate) => {
                    spike = spike.max(factor);
                }
                FaultKind::TaskFailures { rate } => failure_rate = failure_rate.max(rate),
                _ => {}
            }
        }
        let failed = self.rng.chance(failure_rate);
        TaskFault { latency_us: scale(latency_us, self.slow_factor * spike), failed }
    }

    /// Whether the session, ending at `at`, fails: with the largest of `base_rate` and the
    /// session-failure faults in force.
    pub fn session_fails(&mut self, at: Duration, base_rate: f64) -> bool {
        let mut rate = base_rate;
        for fault in self.faults.iter() {
            if let FaultKind::SessionFailures { rate: r } = fault.kind
                && fault.active_at(at)
                && fault.target.matches(self.tenant, self.pattern)
            {
                rate = rate.max(r);
            }
        }
        self.rng.chance(rate)
    }

    /// Runs [`task`](Self::task) and records it on `handle`: a transient failure as a retry,
    /// a task that ran as one task execution of its (faulted) latency.
    pub fn record_task<T: TenantTag>(
        &mut self,
        handle: &SessionHandle<T, Active>,
        at: Duration,
        latency: Duration,
        base_failure_rate: f64,
    ) -> TaskFault {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let task = self.task(at, us, base_failure_rate);
        if task.failed {
            handle.record_retry();
        } else {
            handle.record_task_execution_us(task.latency_us);
        }
        task
    }
}

/// `us * factor`, saturating.
fn scale(us: u64, factor: f64) -> u64 {
    if factor == 1.0 {
        return us;
    }
    let scaled = us as f64 * factor;
    if scaled >= u64::MAX as f64 { u64::MAX } else { scaled as u64 }
}
