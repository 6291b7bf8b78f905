//! The runtime: its loop's life (start, iterations, shutdown, drop), what an iteration does
//! (aggregate, publish, release grants, clean up with history), and the lifecycle helpers.
//!
//! Time: the loop's interval is tokio time, driven here with paused time and
//! `tokio::time::advance`; session ages are the runtime clock, a `ManualClock`. Nothing
//! sleeps to synchronise: tests wait for reports on the `reports()` channel, or yield a
//! bounded number of times.

use std::sync::{Arc, Weak};
use std::time::Duration;

use autonomic::{
    AutonomicRuntime, CaseId, ClockHandle, KnowledgeBase, ManualClock, RuntimeConfig, RuntimeError,
    SessionAction, SessionEvent, SessionState, TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

const INTERVAL: Duration = Duration::from_millis(100);

fn manual_runtime(retention: Duration) -> (Arc<ManualClock>, AutonomicRuntime) {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(RuntimeConfig::default().with_interval(INTERVAL).with_retention(retention))
        .clock(ClockHandle::custom(clock.clone()))
        .build()
        .expect("valid configuration");
    (clock, runtime)
}

/// Waits (bounded) until the report channel shows iteration `n` or later.
async fn wait_for_iteration(
    rx: &mut tokio::sync::watch::Receiver<Option<autonomic::LoopReport>>,
    n: u64,
) -> autonomic::LoopReport {
    for _ in 0..1000 {
        if let Some(r) = rx.borrow_and_update().clone().filter(|r| r.iteration >= n) {
            return r;
        }
        rx.changed().await.expect("the runtime is alive");
    }
    panic!("iteration {n} never came");
}

#[test]
fn start_outside_tokio_is_a_typed_error_and_new_needs_no_runtime() {
    let err = AutonomicRuntime::start(RuntimeConfig::default()).unwrap_err();
    assert_eq!(err, RuntimeError::NoTokioRuntime);
    // Built without its loop, the runtime works anywhere.
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    assert!(!runtime.is_running());
    assert_eq!(runtime.run_once().iteration, 1);
}

#[test]
fn bad_configuration_is_refused_by_name() {
    let config = RuntimeConfig::default().with_interval(Duration::ZERO);
    let err = AutonomicRuntime::start(config.clone()).unwrap_err();
    assert!(matches!(&err, RuntimeError::Config(e) if e.field() == Some("interval_ms")), "{err}");
    assert_eq!(AutonomicRuntime::new(config).unwrap_err().field(), Some("interval_ms"));
}

#[tokio::test(start_paused = true)]
async fn the_loop_iterates_every_interval_and_shuts_down_cleanly() -> Res {
    let runtime = AutonomicRuntime::start(RuntimeConfig::default().with_interval(INTERVAL))?;
    let mut rx = runtime.reports();
    assert!(runtime.is_running());
    assert_eq!(runtime.start_loop().unwrap_err(), RuntimeError::AlreadyRunning);

    let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    h.record_task_execution_us(2_000);

    // Nothing before the first interval has passed.
    tokio::time::advance(INTERVAL / 2).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(runtime.last_report(), None);

    let first = wait_for_iteration(&mut rx, 1).await;
    assert_eq!(first.iteration, 1);
    assert_eq!(first.metrics.active_sessions, 1);
    assert_eq!(first.metrics.latency.p50_us, 2_000);
    assert_eq!(first.knowledge_generation, 1);
    assert_eq!(runtime.knowledge().current().generation, 1);
    assert_eq!(runtime.knowledge().current().active_sessions, 1);

    let second = wait_for_iteration(&mut rx, 2).await;
    assert_eq!(second.knowledge_generation, 2);

    runtime.shutdown().await?;
    assert!(!runtime.is_running());
    let after = runtime.last_report().map(|r| r.iteration);
    tokio::time::advance(INTERVAL * 10).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(runtime.last_report().map(|r| r.iteration), after, "no iteration after shutdown");

    // Still usable, and the loop can be started again.
    assert_eq!(runtime.run_once().iteration, after.unwrap() + 1);
    runtime.shutdown().await?; // not running: nothing to do
    runtime.start_loop()?;
    assert!(runtime.is_running());
    runtime.shutdown().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn dropping_the_runtime_leaves_no_task_behind() -> Res {
    let runtime = AutonomicRuntime::start(RuntimeConfig::default().with_interval(INTERVAL))?;
    let mut rx = runtime.reports();
    // The loop task holds the shared state (and through it the knowledge base).
    wait_for_iteration(&mut rx, 1).await;
    let knowledge: Weak<KnowledgeBase> = Arc::downgrade(runtime.knowledge());
    let tasks = tokio::runtime::Handle::current().metrics();
    assert_eq!(tasks.num_alive_tasks(), 1, "the loop task is alive");

    drop(runtime);
    // Aborting an idle task frees it the next time the scheduler runs: a few yields.
    let mut yields = 0;
    while (knowledge.strong_count() > 0 || tasks.num_alive_tasks() > 0) && yields < 100 {
        tokio::task::yield_now().await;
        yields += 1;
    }
    assert_eq!(knowledge.strong_count(), 0, "the loop task still holds the runtime");
    assert_eq!(tasks.num_alive_tasks(), 0);
    // And the report channel is closed.
    assert!(rx.changed().await.is_err());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn dropping_a_shutdown_future_aborts_the_loop() -> Res {
    let runtime = AutonomicRuntime::start(RuntimeConfig::default().with_interval(INTERVAL))?;
    let tasks = tokio::runtime::Handle::current().metrics();
    assert_eq!(tasks.num_alive_tasks(), 1);
    // Polled once, then dropped while it waits for the join: the task goes with its guard.
    tokio::select! {
        biased;
        _ = runtime.shutdown() => panic!("the loop task cannot have finished yet"),
        _ = std::future::ready(()) => {}
    }
    let mut yields = 0;
    while tasks.num_alive_tasks() > 0 && yields < 100 {
        tokio::task::yield_now().await;
        yields += 1;
    }
    assert_eq!(tasks.num_alive_tasks(), 0);
    assert!(!runtime.is_running());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_runs_on_a_multi_thread_runtime() -> Res {
    // Shared with workers through an `Arc`: stopping needs no exclusive access.
    let runtime = Arc::new(AutonomicRuntime::start(
        RuntimeConfig::default().with_interval(Duration::from_millis(5)),
    )?);
    let worker = runtime.clone();
    let session = tokio::spawn(async move {
        let h = worker.start_session(worker.create_session(CaseId::new(), TenantId::new()))?;
        h.record_task_execution_us(700);
        worker.complete_session(h).map(|h| h.id())
    });
    let id = session.await??;
    let mut rx = runtime.reports();
    let report = tokio::time::timeout(Duration::from_secs(30), wait_for_iteration(&mut rx, 3))
        .await
        .expect("three iterations within 30 s");
    assert!(report.iteration >= 3);
    assert_eq!(report.metrics.completed_sessions, 1);
    assert!(runtime.table().contains(&id), "retention is an hour");
    runtime.shutdown().await?;
    assert!(!runtime.is_running());
    Ok(())
}

#[test]
fn an_iteration_reports_cleans_up_by_retention_and_forgets_history() -> Res {
    let (clock, runtime) = manual_runtime(Duration::from_secs(60));
    let tenant = TenantId::new();

    // A session that adapts (so the adapter keeps history for it), then fails.
    let sick = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    for _ in 0..5 {
        sick.record_retry();
    }
    let decision = runtime.adapter().evaluate(&sick)?.into_decision().expect("admitted");
    runtime.adapter().execute(&decision, &sick)?;
    let sick_id = sick.id();
    assert_eq!(runtime.adapter().session_history(sick_id).len(), 1);
    runtime.fail_session(sick)?;
    let running = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;

    clock.advance(Duration::from_secs(30));
    let r1 = runtime.run_once();
    assert_eq!(r1.iteration, 1);
    assert_eq!(r1.at_ns, 30_000_000_000);
    assert_eq!((r1.metrics.total_sessions, r1.metrics.failed_sessions), (2, 1));
    assert_eq!(r1.metrics.failure_rate, 1.0);
    assert_eq!(r1.sessions_cleaned, 0, "ended 30 s ago, retention 60 s");
    assert_eq!(r1.sessions_remaining, 2);
    assert_eq!(r1.adapter.tracked_sessions, 1);
    assert_eq!(r1.adapter.total_decisions, 1);

    clock.advance(Duration::from_secs(30));
    let r2 = runtime.run_once();
    assert_eq!(r2.iteration, 2);
    assert_eq!(r2.knowledge_generation, 2);
    assert_eq!(r2.metrics.failed_sessions, 1, "the aggregate is taken before cleanup");
    assert_eq!(r2.sessions_cleaned, 1);
    assert_eq!(r2.sessions_remaining, 1);
    assert_eq!(r2.adapter.tracked_sessions, 0, "history went with the session");
    assert!(runtime.adapter().session_history(sick_id).is_empty());
    assert!(!runtime.table().contains(&sick_id));
    assert!(runtime.table().contains(&running.id()));
    assert_eq!(r2.totals.sessions_cleaned, 1);

    let r3 = runtime.run_once();
    assert_eq!(r3.metrics.failure_rate, 0.0, "nothing finished is left");
    assert_eq!(runtime.knowledge().current().failure_rate, 0.0);
    assert_eq!(r3.totals.sessions_cleaned, 1);
    assert_eq!(runtime.last_report(), Some(r3));
    Ok(())
}

/// A session that asks for resources (mean latency over `max_latency_us`) and gets them.
fn granted_session(runtime: &AutonomicRuntime) -> autonomic::SessionHandle {
    let h = runtime
        .start_session(runtime.create_session(CaseId::new(), TenantId::new()))
        .expect("starts");
    for _ in 0..12 {
        h.record_task_execution_us(150_000);
    }
    let decision = runtime.adapter().evaluate(&h).unwrap().into_decision().expect("admitted");
    assert_eq!(decision.action, SessionAction::RequestResources { amount: 0.05 });
    runtime.adapter().execute(&decision, &h).unwrap();
    h
}

#[test]
fn grants_of_sessions_finished_on_their_handles_come_back_when_they_end() -> Res {
    let (_clock, runtime) = manual_runtime(Duration::from_secs(3600));
    let adapter = runtime.adapter();

    // Through the runtime: returned at once.
    let told = granted_session(&runtime);
    assert!((adapter.granted_resources() - 0.05).abs() < 1e-9);
    runtime.complete_session(told)?;
    assert_eq!(adapter.granted_resources(), 0.0);

    // On the handle: returned at once too (the grant follows its session), not by the loop.
    let untold = granted_session(&runtime);
    let still_running = granted_session(&runtime);
    let untold_id = untold.id();
    untold.complete()?;
    assert!((adapter.granted_resources() - 0.05).abs() < 1e-9, "the running one keeps its grant");
    assert_eq!(adapter.granted_to(untold_id), 0.0);
    let report = runtime.run_once();
    assert_eq!((report.grants_released, report.sessions_cleaned), (0, 0));
    assert_eq!(adapter.session_history(untold_id).len(), 1, "history stays until cleanup");
    still_running.fail()?;
    assert_eq!(adapter.granted_resources(), 0.0);
    assert_eq!(runtime.run_once().grants_released, 0);
    Ok(())
}

#[test]
fn cleanup_forgets_the_sessions_it_removes() -> Res {
    let (_clock, runtime) = manual_runtime(Duration::ZERO);
    let h = granted_session(&runtime);
    let id = h.id();
    // Ended on its handle: the adapter is not told, the grant comes back anyway.
    h.cancel()?;
    assert_eq!(runtime.adapter().granted_resources(), 0.0);
    let report = runtime.run_once();
    assert_eq!((report.grants_released, report.sessions_cleaned), (0, 1));
    assert!(runtime.adapter().session_history(id).is_empty());
    Ok(())
}

/// `remove_session` on an active session, whose handle then gets a `RequestResources`
/// decision and completes: the grant comes back. (The loop's release skipped sessions no
/// longer in the table, so about 18 of these filled the default capacity for good.)
#[test]
fn a_removed_session_still_returns_its_grant_when_it_ends() -> Res {
    let (_clock, runtime) = manual_runtime(Duration::from_secs(3600));
    let adapter = runtime.adapter();
    for n in 0..40 {
        let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
        runtime.remove_session(&h.id())?;
        for _ in 0..12 {
            h.record_task_execution_us(150_000);
        }
        let decision = adapter.evaluate(&h)?.into_decision();
        let decision = decision.unwrap_or_else(|| panic!("session {n} was refused"));
        assert_eq!(decision.action, SessionAction::RequestResources { amount: 0.05 });
        adapter.execute(&decision, &h)?;
        h.complete()?;
        assert_eq!(adapter.granted_resources(), 0.0, "session {n} kept its grant");
        runtime.run_once();
    }
    Ok(())
}

#[test]
fn the_lifecycle_helpers_tell_the_adapter() -> Res {
    let (_clock, runtime) = manual_runtime(Duration::from_secs(60));
    let tenant = TenantId::new();
    let completed = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    let failed = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    let cancelled = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    let never_started = runtime.create_session(CaseId::new(), tenant);
    let never_started_id = never_started.id();
    let by_id = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    let ids = [completed.id(), failed.id(), cancelled.id(), by_id.id()];

    assert_eq!(runtime.complete_session(completed)?.state(), SessionState::Completed);
    assert_eq!(runtime.fail_session(failed)?.state(), SessionState::Failed);
    assert_eq!(runtime.cancel_session(cancelled)?.state(), SessionState::Cancelled);
    assert_eq!(runtime.cancel_new_session(never_started)?.state(), SessionState::Cancelled);
    runtime.cancel_session_by_id(&by_id.id())?;
    let err = runtime.complete_session(by_id).unwrap_err();
    assert_eq!(err.found, SessionState::Cancelled);

    let events = runtime.adapter().take_events();
    let started: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Started { session_id, tenant_id, .. } => {
                assert_eq!(*tenant_id, tenant);
                Some(*session_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(started, ids.to_vec());
    let finished: Vec<_> = events
        .iter()
        .filter(|e| !matches!(e, SessionEvent::Started { .. }))
        .map(|e| match e {
            SessionEvent::Completed { session_id, duration_ms, .. } => {
                assert_eq!(*duration_ms, Some(0), "the manual clock did not move");
                ("completed", *session_id)
            }
            SessionEvent::Failed { session_id, .. } => ("failed", *session_id),
            SessionEvent::Cancelled { session_id, .. } => ("cancelled", *session_id),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        finished,
        vec![
            ("completed", ids[0]),
            ("failed", ids[1]),
            ("cancelled", ids[2]),
            ("cancelled", never_started_id),
            ("cancelled", ids[3]),
        ]
    );

    // Errors by id are typed.
    let missing = autonomic::SessionId::from_raw(u64::MAX);
    assert!(matches!(runtime.cancel_session_by_id(&missing), Err(RuntimeError::Table(_))));
    assert!(matches!(runtime.cancel_session_by_id(&ids[0]), Err(RuntimeError::Transition(_))));
    Ok(())
}

#[test]
fn remove_session_forgets_what_the_adapter_keeps() -> Res {
    let (_clock, runtime) = manual_runtime(Duration::from_secs(60));
    let h = granted_session(&runtime);
    let id = h.id();
    assert_eq!(runtime.adapter().snapshot_stats().tracked_sessions, 1);
    let removed = runtime.remove_session(&id)?;
    assert_eq!(removed.id(), id);
    assert!(!runtime.table().contains(&id));
    assert_eq!(runtime.adapter().snapshot_stats().tracked_sessions, 0);
    assert_eq!(runtime.adapter().granted_resources(), 0.0);
    assert!(runtime.remove_session(&id).is_err());
    Ok(())
}

#[test]
fn the_runtime_publishes_into_a_given_knowledge_base_with_a_custom_policy() -> Res {
    use autonomic::{FnPolicy, PolicyContext, Proposal};
    let kb = Arc::new(KnowledgeBase::new());
    let runtime = AutonomicRuntime::builder()
        .knowledge(kb.clone())
        .policy(FnPolicy(|s: &autonomic::MetricsSnapshot, _: &PolicyContext<'_>| {
            (s.violation_count > 0).then(|| {
                Proposal::new(
                    SessionAction::RequestResources { amount: 0.05 },
                    "any violation asks for capacity",
                )
            })
        }))
        .build()?;
    let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    // Enough tasks for the windowed SLO rule to judge (100 by default).
    for _ in 0..100 {
        h.record_task_execution_us(10);
        h.record_violation();
    }
    runtime.run_once();
    assert_eq!(kb.current().generation, 1);
    assert_eq!(kb.current().slo_compliance, 0.0);
    // SLO compliance 0 is under min_slo_compliance: the custom policy's request for capacity
    // is refused.
    let analysis = runtime.adapter().evaluate(&h)?;
    assert_eq!(analysis.refusal().map(|r| r.rule), Some(autonomic::QRule::MinSloCompliance));
    Ok(())
}

#[test]
fn static_tenants_keep_their_type_through_the_runtime() -> Res {
    autonomic::static_tenant!(Acme = 0xAC);
    fn bill_acme(_: &autonomic::SessionHandle<Acme, autonomic::marker::Completed>) {}

    let (_clock, runtime) = manual_runtime(Duration::from_secs(60));
    let new = runtime.table().tenant::<Acme>().create_session(CaseId::new()).with_pattern(9);
    let handle = runtime.start_session(new)?;
    handle.record_task_execution_us(1_200);
    let done = runtime.complete_session(handle)?;
    bill_acme(&done);
    assert_eq!(done.tenant_id(), <Acme as autonomic::StaticTenant>::TENANT);
    let events = runtime.adapter().take_events();
    assert!(matches!(events[0], SessionEvent::Started { tenant_id, .. }
        if tenant_id == <Acme as autonomic::StaticTenant>::TENANT));
    assert!(matches!(events[1], SessionEvent::Completed { .. }));
    let report = runtime.run_once();
    assert_eq!(report.metrics.completed_sessions, 1);
    assert_eq!(runtime.breakdown().pattern(9).map(|m| m.latency.p50_us), Some(1_200));
    Ok(())
}
