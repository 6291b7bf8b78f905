//! What the integration tests share.

#![allow(dead_code)]

pub mod proxy;
pub mod redis_server;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::timeout;

use autonomic_fleet::{FleetStatus, FleetTotals, FleetWindows};

/// Waits until `status` satisfies `condition`, at most `within`; panics with the last status
/// otherwise.
pub async fn wait_for(
    status: &mut watch::Receiver<FleetStatus>,
    within: Duration,
    what: &str,
    condition: impl FnMut(&FleetStatus) -> bool,
) -> FleetStatus {
    let found = match timeout(within, status.wait_for(condition)).await {
        Ok(Ok(status)) => Some(status.clone()),
        Ok(Err(_)) => panic!("{what}: the member stopped"),
        Err(_) => None,
    };
    found.unwrap_or_else(|| {
        panic!("{what}: not within {within:?}; last status {:?}", *status.borrow())
    })
}

/// Waits (at most `PATIENCE`) until the others' sum in force in `windows` satisfies `holds`,
/// one exchange of the member behind `status` at a time, and returns it; panics otherwise.
/// Counting exchanges is not enough: an exchange in flight when the runtime handed its
/// windows may still publish the earlier totals, and one that reads the others' records
/// before they have published theirs carries their earlier ones.
pub async fn until_in_force(
    windows: &FleetWindows,
    mut status: watch::Receiver<FleetStatus>,
    what: &str,
    mut holds: impl FnMut(&FleetTotals) -> bool,
) -> FleetTotals {
    let exchanges = async {
        loop {
            if let Some(totals) = windows.in_force().filter(&mut holds) {
                return totals;
            }
            let done = status.borrow().knowledge_exchanges;
            wait_for(&mut status, PATIENCE, what, |s| s.knowledge_exchanges > done).await;
        }
    };
    timeout(PATIENCE, exchanges).await.unwrap_or_else(|_| {
        panic!("{what}: not within {PATIENCE:?}; in force {:?}", windows.in_force())
    })
}

use std::sync::Arc;

use autonomic_adapter::{ActionKind, AdmittedDecision, Analysis, SessionAdapter};
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
use autonomic_fleet::{
    Allotment, FleetMember, FleetSpec, InstanceId, LeaseStore, MemberConfig, Standing,
};

/// Lease period of the tests' fleets: short, so expiry takes a fraction of a second.
pub const LEASE: Duration = Duration::from_millis(400);
/// Longest wait for anything the tests expect.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A fleet of at most 3 instances with a cap of 12 slots and 0.9 resources, floors of 2
/// slots and 0.1 (so the pool is 6 slots and 0.6).
pub fn spec(name: &str) -> FleetSpec {
    FleetSpec::new(name, Allotment::new(12, 0.9), Allotment::new(2, 0.1), 3, LEASE).unwrap()
}

/// An adapter on its own knowledge base, and its fleet member.
pub fn instance<S: LeaseStore>(
    store: S,
    spec: &FleetSpec,
    name: &str,
) -> (Arc<SessionAdapter>, FleetMember) {
    let adapter = Arc::new(SessionAdapter::new(Arc::new(KnowledgeBase::new())));
    let config = MemberConfig::new(spec.clone(), InstanceId::new(name).unwrap());
    let member = FleetMember::start(adapter.clone(), store, config).unwrap();
    (adapter, member)
}

/// The adapter's capacity in force.
pub fn capacity(adapter: &SessionAdapter) -> Allotment {
    let q = adapter.global_q();
    Allotment::new(q.max_concurrent_adaptations, q.max_total_resources)
}

/// Asks the adapter to admit one adaptation (a degradation: a session with a 15% violation
/// rate); the decision holds its slot until executed or dropped.
pub fn admit(adapter: &SessionAdapter) -> Result<AdmittedDecision, Analysis> {
    let (decision, _handle) = admit_with_handle(adapter);
    decision
}

/// [`admit`], and the session it was for (to execute the decision).
pub fn admit_with_handle(
    adapter: &SessionAdapter,
) -> (Result<AdmittedDecision, Analysis>, SessionHandle) {
    evaluated(adapter, ActionKind::DegradePerformance, |h| {
        (0..3).for_each(|_| h.record_violation())
    })
}

/// Asks the adapter to admit one adaptation that consumes capacity (a retry: a session past
/// `max_retries`); the decision holds its slot until executed or dropped.
pub fn admit_retry(adapter: &SessionAdapter) -> Result<AdmittedDecision, Analysis> {
    retry_with_handle(adapter).0
}

/// [`admit_retry`], and the session it was for (to execute the decision).
pub fn retry_with_handle(
    adapter: &SessionAdapter,
) -> (Result<AdmittedDecision, Analysis>, SessionHandle) {
    let retries = adapter.config().max_retries + 1;
    evaluated(adapter, ActionKind::RetryTask, |h| (0..retries).for_each(|_| h.record_retry()))
}

/// A new session with 20 tasks and what `signal` records, analysed: the decision if admitted
/// (of `kind`: checked), else the analysis.
fn evaluated(
    adapter: &SessionAdapter,
    kind: ActionKind,
    signal: impl FnOnce(&SessionHandle),
) -> (Result<AdmittedDecision, Analysis>, SessionHandle) {
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant())
        .start()
        .expect("a new session starts");
    for _ in 0..20 {
        handle.record_task_execution_us(1_000);
    }
    signal(&handle);
    let decision = match adapter.evaluate(&handle).expect("a valid proposal") {
        Analysis::Admitted(decision) => {
            assert_eq!(decision.action.kind(), kind);
            Ok(decision)
        }
        other => Err(other),
    };
    (decision, handle)
}

/// Whether the member holds a lease.
pub fn leased(status: &autonomic_fleet::FleetStatus) -> bool {
    matches!(status.standing, Standing::Leased { .. })
}

/// Fleet-wide instrumentation of admissions: one counter every instance's tasks add to, so
/// its value is the sum of the instances' adaptations in flight.
#[derive(Debug, Default)]
pub struct Meter {
    /// Adaptations admitted and not yet executed, fleet-wide.
    pub in_flight: std::sync::atomic::AtomicU64,
    /// The most seen in flight (reset by whoever reports per period).
    pub max_in_flight: std::sync::atomic::AtomicU64,
    /// Adaptations executed.
    pub admitted: std::sync::atomic::AtomicU64,
}

/// What a [`drive`] task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Degradations: actions that shed load (allowed beyond the floor, within the spec's
    /// shedding headroom, while an instance runs at it).
    Shedding,
    /// Retries: actions that consume capacity (bounded by the fleet's cap at every instant).
    Consuming,
}

/// One task of `load` on `adapter` until `until`: admit, count in `meter`, hold the slot for
/// `work` (the adaptation's work), execute; after a refusal wait `backoff` (the next
/// arrival). Returns the adaptations executed.
pub async fn drive(
    adapter: Arc<SessionAdapter>,
    load: Load,
    meter: Arc<Meter>,
    until: tokio::time::Instant,
    work: Duration,
    backoff: Duration,
) -> u64 {
    use std::sync::atomic::Ordering::SeqCst;
    let mut executed = 0;
    while tokio::time::Instant::now() < until {
        let (decision, handle) = match load {
            Load::Shedding => admit_with_handle(&adapter),
            Load::Consuming => retry_with_handle(&adapter),
        };
        let Ok(decision) = decision else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        // SeqCst throughout: test instrumentation, not a hot path.
        let now = meter.in_flight.fetch_add(1, SeqCst) + 1;
        meter.max_in_flight.fetch_max(now, SeqCst);
        tokio::time::sleep(work).await;
        meter.in_flight.fetch_sub(1, SeqCst);
        adapter.execute(&decision, &handle).expect("an admitted decision executes");
        meter.admitted.fetch_add(1, SeqCst);
        executed += 1;
    }
    executed
}
