//! Every snippet of the quick reference (`session-autonomic-quick-reference.md`), through the
//! facade crate only, as close to the text as the types allow, with assertions on what each
//! one produces.
//!
//! The changes to the text are the minimal typestate ones listed in
//! `docs/migrating-from-the-quick-reference.md`:
//! * `handle.start()` returns the active handle (re-bound: `let handle = handle.start()?;`);
//!   `start`, `complete`, `fail`, `cancel`, `mark_adapted` and `with_tag` return `Result`;
//! * `use autonomic::...` instead of `knhk_workflow_engine::autonomic::...`, and
//!   `autonomic::CaseId` instead of `knhk_workflow_engine::case::CaseId`;
//! * "Global Q violated": `adapter.global_q()` and `adapter.active_adaptations()` are
//!   lock-free methods, not `RwLock` fields to `.read().await`.
//!
//! Each pattern is also shown through `AutonomicRuntime`, which does the table, adapter and
//! aggregator bookkeeping together.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autonomic::{
    AggregatedMetrics, Analysis, AutonomicRuntime, CaseId, ClockHandle, Coverage, GlobalQ,
    KnowledgeBase, ManualClock, QRule, RuntimeConfig, SessionAction, SessionAdapter,
    SessionAggregator, SessionEvent, SessionState, SessionTable, TableError, TableSource, TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

// ------------------------------------------------------------------ Quick Start ------

#[tokio::test]
async fn quick_start() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let table = SessionTable::new();
    let adapter = SessionAdapter::new(kb.clone());

    let handle = table.create_session(CaseId::new(), TenantId::default_tenant());
    let handle = handle.start()?;

    handle.record_task_execution(Duration::from_millis(10));

    let mut executed = 0;
    if let Some(decision) = adapter.analyze_session(&handle).await? {
        adapter.execute_decision(&decision, &handle).await?;
        executed += 1;
    }

    let handle = handle.complete()?;

    // One healthy 10 ms task: nothing to adapt, nothing refused.
    assert_eq!(executed, 0);
    assert_eq!(handle.state(), SessionState::Completed);
    let snapshot = handle.snapshot();
    assert_eq!((snapshot.task_completions, snapshot.total_latency_us), (1, 10_000));
    assert_eq!(table.stats().completed_sessions, 1);
    assert_eq!(table.get(&handle.id())?.tenant_id(), TenantId::default_tenant());
    let stats = adapter.stats().await;
    assert_eq!((stats.total_decisions, stats.rejections.total()), (0, 0));
    Ok(())
}

#[tokio::test]
async fn quick_start_through_the_runtime() -> Res {
    let runtime = AutonomicRuntime::start(RuntimeConfig::default())?;

    let handle = runtime.create_session(CaseId::new(), TenantId::default_tenant());
    let handle = runtime.start_session(handle)?;

    handle.record_task_execution(Duration::from_millis(10));

    if let Some(decision) = runtime.adapter().analyze_session(&handle).await? {
        runtime.adapter().execute_decision(&decision, &handle).await?;
    }

    let id = handle.id();
    runtime.complete_session(handle)?;

    let events = runtime.adapter().drain_events().await;
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0], SessionEvent::Started { session_id, .. } if session_id == id));
    assert!(matches!(events[1], SessionEvent::Completed { session_id, .. } if session_id == id));
    let report = runtime.run_once();
    assert_eq!(report.metrics.completed_sessions, 1);
    assert_eq!(report.metrics.avg_latency_us, 10_000.0);
    runtime.shutdown().await?;
    Ok(())
}

// ----------------------------------------------------- Pattern 1: basic tracking ------

#[test]
fn pattern_1_basic_session_tracking() -> Res {
    let (case_id, tenant_id) = (CaseId::new(), TenantId::new());

    let table = SessionTable::new();
    let handle = table.create_session(case_id, tenant_id);

    let handle = handle.start()?;
    assert_eq!(table.stats().active_sessions, 1);
    // ... execute workflow ...
    handle.record_task_execution(Duration::from_millis(3));
    handle.record_task_execution(Duration::from_millis(5));
    let handle = handle.complete()?;

    assert_eq!(handle.state(), SessionState::Completed);
    let seen = table.get(&handle.id())?;
    assert_eq!(
        (seen.state(), seen.case_id(), seen.tenant_id()),
        (SessionState::Completed, case_id, tenant_id)
    );
    assert_eq!(seen.snapshot().avg_latency_us(), Some(4_000.0));
    let stats = table.stats();
    assert_eq!((stats.total_sessions, stats.active_sessions, stats.completed_sessions), (1, 0, 1));
    Ok(())
}

// ------------------------------------------------------ Pattern 2: with adaptation ------

/// A task that fails its first `failures` attempts.
async fn execute_task(attempt: u32, failures: u32) -> Result<Duration, &'static str> {
    if attempt < failures { Err("transient failure") } else { Ok(Duration::from_millis(5)) }
}

#[tokio::test(start_paused = true)]
async fn pattern_2_with_adaptation() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let table = SessionTable::new();
    let handle = table.create_session(CaseId::new(), TenantId::new()).start()?;

    let adapter = SessionAdapter::new(kb.clone());

    let tasks = ["reserve", "charge", "ship"];
    let mut slept = Vec::new();
    let mut degraded = false;
    let mut attempt = 0;
    for task in tasks {
        loop {
            // The first task fails five times before it succeeds.
            let failures = if task == "reserve" { 5 } else { 0 };
            match execute_task(attempt, failures).await {
                Ok(duration) => {
                    handle.record_task_execution(duration);
                    break;
                }
                Err(_e) => {
                    handle.record_retry();

                    // Check for adaptation
                    if let Some(decision) = adapter.analyze_session(&handle).await? {
                        match decision.action {
                            SessionAction::RetryTask { backoff_ms, .. } => {
                                let before = tokio::time::Instant::now();
                                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                                slept.push((backoff_ms, before.elapsed()));
                                // Retry
                            }
                            SessionAction::DegradePerformance { .. } => {
                                handle.mark_adapted()?;
                                degraded = true;
                                // Switch to degraded mode
                            }
                            _ => {}
                        }
                    }
                }
            }
            attempt += 1;
        }
    }

    // Five failures, max_retries 3: the 4th and 5th retries get a RetryTask each, with the
    // backoff doubling from the 100 ms base (equal jitter: half to all of 100, then 200 ms).
    assert_eq!(slept.len(), 2, "{slept:?}");
    for ((backoff, took), ceiling) in slept.iter().zip([100u64, 200]) {
        assert!((ceiling / 2..=ceiling).contains(backoff), "{backoff} vs {ceiling}");
        assert!(took.as_millis() >= u128::from(*backoff), "slept {took:?} for {backoff} ms");
    }
    assert!(!degraded);
    let snapshot = handle.snapshot();
    assert_eq!((snapshot.retry_count, snapshot.task_completions), (5, 3));
    // The decisions were dropped unexecuted: their adaptation slots came back.
    assert_eq!(adapter.active_adaptations(), 0);
    assert_eq!(adapter.stats().await.total_decisions, 2);
    Ok(())
}

#[tokio::test]
async fn pattern_2_degrading_through_the_runtime() -> Res {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    let handle = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    // 20 tasks, 3 over their SLO: a 15% violation rate, over the 10% threshold.
    for i in 0..20 {
        handle.record_task_execution(Duration::from_millis(2));
        if i % 7 == 0 {
            handle.record_violation();
        }
    }
    let decision = runtime.adapter().analyze_session(&handle).await?.expect("over threshold");
    let SessionAction::DegradePerformance { factor } = decision.action else {
        panic!("expected degradation, got {}", decision.action);
    };
    assert!(factor > 0.0 && factor < 1.0);
    runtime.adapter().execute_decision(&decision, &handle).await?;
    assert_eq!(handle.state(), SessionState::Adapted);
    assert_eq!(handle.snapshot().adaptation_count, 1);
    assert_eq!(runtime.run_once().metrics.adapted_sessions, 1);
    Ok(())
}

// ---------------------------------------------------------- Pattern 3: multi-tenant ------

#[test]
fn pattern_3_multi_tenant() -> Res {
    let table = SessionTable::new();
    let (case1, case2, case3) = (CaseId::new(), CaseId::new(), CaseId::new());

    // Create sessions for different tenants
    let tenant_a = TenantId::new();
    let tenant_b = TenantId::new();

    let handle_a = table.create_session(case1, tenant_a);
    let handle_b = table.create_session(case2, tenant_b);
    let handle_a2 = table.create_session(case3, tenant_a).start()?;

    // Filter by tenant
    let tenant_a_sessions = table.sessions_by_tenant(tenant_a);
    let count = table.tenant_session_count(tenant_a);

    assert_eq!(count, 2);
    let mut ids: Vec<_> = tenant_a_sessions.iter().map(|h| h.id()).collect();
    ids.sort();
    let mut expected = vec![handle_a.id(), handle_a2.id()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(tenant_a_sessions.iter().all(|h| h.tenant_id() == tenant_a));
    assert_eq!(table.sessions_by_tenant(tenant_b)[0].id(), handle_b.id());
    assert_eq!(table.tenant_session_count(tenant_b), 1);
    assert_eq!(table.stats().unique_tenants, 2);

    // The per-tenant aggregate, through the tenant index.
    let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
    let a = aggregator.aggregate_source(&TableSource::tenant(&table, tenant_a));
    assert_eq!((a.total_sessions, a.created_sessions, a.active_sessions), (2, 1, 1));
    Ok(())
}

// ----------------------------------------------------------- Pattern 4: aggregation ------

#[tokio::test]
async fn pattern_4_aggregation() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let table = SessionTable::new();
    let tenant = TenantId::new();
    // Three running sessions (1, 2 and 3 ms tasks; one violation), one finished and failed.
    for (i, latency_ms) in [1u64, 2, 3].into_iter().enumerate() {
        let h = table.create_session(CaseId::new(), tenant).start()?;
        h.record_task_execution(Duration::from_millis(latency_ms));
        h.record_task_execution(Duration::from_millis(latency_ms));
        if i == 2 {
            h.record_violation();
        }
    }
    let gone = table.create_session(CaseId::new(), tenant).start()?;
    gone.record_task_execution(Duration::from_millis(50));
    gone.fail()?;

    let aggregator = SessionAggregator::new(kb.clone());

    // Aggregate all active sessions
    let sessions = table.active_sessions();
    let metrics = aggregator.aggregate_sessions(&sessions).await?;

    println!("Avg latency: {}μs", metrics.avg_latency_us);
    println!("Violation rate: {:.2}%", metrics.violation_rate * 100.0);
    println!("Failure rate: {:.2}%", metrics.failure_rate * 100.0);

    assert_eq!(metrics.total_sessions, 3);
    assert_eq!(metrics.avg_latency_us, 2_000.0);
    assert_eq!(metrics.violation_rate, 1.0 / 6.0);
    // Over active sessions only, nothing has finished: the failure rate says nothing. The
    // aggregate is published into `kb`, saying it covered a selection, and does not become
    // what the doctrine gate reads.
    assert_eq!(metrics.failure_rate, 0.0);
    assert_eq!((kb.latest().generation, kb.latest().coverage), (1, Coverage::Selection));
    assert_eq!(kb.current().generation, 0);

    // Over the whole table, without collecting the sessions first: the failure shows.
    let all: AggregatedMetrics = aggregator.aggregate_source(&TableSource::all(&table));
    assert_eq!((all.total_sessions, all.failed_sessions), (4, 1));
    assert_eq!(all.failure_rate, 1.0);
    assert_eq!(all.avg_latency_us, (2.0 * 6_000.0 + 50_000.0) / 7.0);
    assert_eq!((all.latency.min_us, all.latency.max_us), (1_000, 50_000));
    assert_eq!(all.coverage, Coverage::All);
    let published = aggregator.publish(&all);
    assert_eq!((published.generation, kb.current().failure_rate), (2, 1.0));
    Ok(())
}

// ------------------------------------------------ Pattern 5: pattern-based filtering ------

#[test]
fn pattern_5_pattern_based_filtering() -> Res {
    let table = SessionTable::new();
    let (case_id, tenant_id) = (CaseId::new(), TenantId::new());
    let _other = table.create_session(CaseId::new(), tenant_id).with_pattern(7);

    // Create with pattern
    let handle =
        table.create_session(case_id, tenant_id).with_pattern(42).with_tag("high-priority")?;

    // Filter by pattern
    let pattern_sessions = table.sessions_by_pattern(42);

    assert_eq!(pattern_sessions.len(), 1);
    assert_eq!(pattern_sessions[0].id(), handle.id());
    assert_eq!(pattern_sessions[0].pattern(), Some(42));
    assert!(pattern_sessions[0].context().has_tag("high-priority"));
    assert_eq!(table.pattern_session_count(7), 1);
    let handle = handle.start()?;
    handle.record_task_execution_us(900);
    let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
    let by_pattern = aggregator.breakdown(&TableSource::all(&table));
    assert_eq!(by_pattern.pattern(42).map(|m| m.latency.p50_us), Some(900));
    assert_eq!(by_pattern.pattern(7).map(|m| m.created_sessions), Some(1));
    Ok(())
}

// --------------------------------------------------------- Pattern 6: cleanup ------

#[test]
fn pattern_6_session_cleanup() -> Res {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    let tenant = TenantId::new();
    let old = table.create_session(CaseId::new(), tenant).start()?;
    let running = table.create_session(CaseId::new(), tenant).start()?;
    old.complete()?;
    clock.advance(Duration::from_secs(2 * 3600));
    let recent = table.create_session(CaseId::new(), tenant).start()?;
    recent.fail()?;

    // Cleanup terminal sessions older than 1 hour
    let removed = table.cleanup_terminal_sessions(Duration::from_secs(3600));
    println!("Removed {} old sessions", removed);

    assert_eq!(removed, 1);
    assert_eq!(table.total_sessions(), 2);
    assert!(table.contains(&running.id()));
    assert_eq!(table.stats().failed_sessions, 1);
    Ok(())
}

#[test]
fn pattern_6_the_runtime_cleans_up_periodically() -> Res {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(RuntimeConfig::default().with_retention(Duration::from_secs(3600)))
        .clock(ClockHandle::custom(clock.clone()))
        .build()?;
    let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    runtime.complete_session(h)?;
    clock.advance(Duration::from_secs(3599));
    assert_eq!(runtime.run_once().sessions_cleaned, 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(runtime.run_once().sessions_cleaned, 1);
    assert!(runtime.table().is_empty());
    Ok(())
}

// ---------------------------------------------------------- Metrics & Monitoring ------

#[test]
fn session_metrics() -> Res {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    let handle = table.create_session(CaseId::new(), TenantId::new()).start()?;
    for latency_us in [1_000, 3_000, 5_000, 7_000] {
        handle.record_task_execution(Duration::from_micros(latency_us));
    }
    handle.record_retry();
    handle.record_violation();
    clock.advance(Duration::from_millis(1_250));

    let snapshot = handle.snapshot();

    println!("Retry count: {}", snapshot.retry_count);
    println!("Avg latency: {:?}μs", snapshot.avg_latency_us());
    println!("Violation rate: {:.2}%", snapshot.violation_rate() * 100.0);
    println!("Retry rate: {:.2}%", snapshot.retry_rate() * 100.0);
    println!("State: {}", snapshot.state);
    println!("Duration: {:?}ms", snapshot.duration_ms());

    assert_eq!(snapshot.retry_count, 1);
    assert_eq!(snapshot.avg_latency_us(), Some(4_000.0));
    assert_eq!(snapshot.violation_rate(), 0.25);
    assert_eq!(snapshot.retry_rate(), 0.25); // 1 retry per 4 tasks
    assert_eq!(snapshot.state.to_string(), "active");
    assert_eq!(snapshot.duration_ms(), Some(1_250));
    Ok(())
}

#[test]
fn table_statistics() -> Res {
    let table = SessionTable::new();
    let (a, b) = (TenantId::new(), TenantId::new());
    let h1 = table.create_session(CaseId::new(), a).start()?;
    let h2 = table.create_session(CaseId::new(), a).start()?;
    let _h3 = table.create_session(CaseId::new(), b).start()?;
    h1.complete()?;
    h2.fail()?;

    let stats = table.stats();

    println!("Total: {}", stats.total_sessions);
    println!("Active: {}", stats.active_sessions);
    println!("Completed: {}", stats.completed_sessions);
    println!("Failed: {}", stats.failed_sessions);
    println!("Tenants: {}", stats.unique_tenants);

    assert_eq!((stats.total_sessions, stats.active_sessions, stats.completed_sessions), (3, 1, 1));
    assert_eq!((stats.failed_sessions, stats.unique_tenants), (1, 2));
    Ok(())
}

#[tokio::test]
async fn adapter_statistics() -> Res {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    let handle = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    for _ in 0..4 {
        handle.record_retry();
    }
    let adapter = runtime.adapter();
    let decision = adapter.analyze_session(&handle).await?.expect("retries over the limit");

    let stats = adapter.stats().await;

    println!("Active adaptations: {}", stats.active_adaptations);
    println!("Total decisions: {}", stats.total_decisions);
    println!("Tracked sessions: {}", stats.tracked_sessions);
    println!("Pending events: {}", stats.pending_events);

    assert_eq!(stats.active_adaptations, 1, "the admitted decision holds its slot");
    assert_eq!(stats.total_decisions, 1);
    assert_eq!(stats.tracked_sessions, 0, "nothing executed yet");
    assert_eq!(stats.pending_events, 2, "Started, ThresholdExceeded");

    adapter.execute_decision(&decision, &handle).await?;
    let stats = adapter.stats().await;
    assert_eq!((stats.active_adaptations, stats.tracked_sessions, stats.pending_events), (0, 1, 3));
    Ok(())
}

// ----------------------------------------------------------------------- Debugging ------

/// What the process-wide subscriber writes (every test of this binary writes there once
/// `enable_tracing` has installed it).
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn enable_tracing() -> Res {
    // As in the quick reference: a process-wide subscriber, here writing to memory, with
    // thread ids so that this test can pick its own lines out of every test's.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_thread_ids(true)
        .with_writer(|| Capture)
        .init();

    // Session operations will emit spans:
    // - session_id
    // - state
    // - decision.action
    let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    let handle = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    for _ in 0..4 {
        handle.record_retry();
    }
    let decision = runtime.adapter().analyze_session(&handle).await?.expect("admitted");
    runtime.adapter().execute_decision(&decision, &handle).await?;
    runtime.run_once();

    // `fmt` prints `ThreadId(02)` for the thread whose `Debug` is `ThreadId(2)`.
    let number = format!("{:?}", std::thread::current().id())
        .trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .to_owned();
    let me = format!("ThreadId({number:0>2})");
    let text = String::from_utf8_lossy(&CAPTURED.lock().unwrap_or_else(|e| e.into_inner()))
        .lines()
        .filter(|l| l.contains(&me))
        .collect::<Vec<_>>()
        .join("\n");
    let id = handle.id().to_string();
    let analysed = text
        .lines()
        .find(|l| l.contains("analyze_session{") && l.contains("adaptation admitted"))
        .unwrap_or_else(|| panic!("no analysis span in:\n{text}"));
    assert!(analysed.contains(" DEBUG "), "{analysed}");
    assert!(analysed.contains(&format!("session_id={id}")), "{analysed}");
    assert!(analysed.contains("state=active"), "{analysed}");
    assert!(analysed.contains("decision.action=retry task"), "{analysed}");
    let executed = text
        .lines()
        .find(|l| l.contains("execute_decision{") && l.contains("decision executed"))
        .unwrap_or_else(|| panic!("no execution span in:\n{text}"));
    assert!(executed.contains(&format!("session_id={id}")), "{executed}");
    // And the loop traces one summary per iteration, at info.
    let summary = text
        .lines()
        .find(|l| l.contains("autonomic loop iteration"))
        .unwrap_or_else(|| panic!("no loop summary in:\n{text}"));
    assert!(summary.contains(" INFO "), "{summary}");
    assert!(summary.contains("iteration=1") && summary.contains("sessions=1"), "{summary}");
    assert!(summary.contains("decisions=1"), "{summary}");
    Ok(())
}

#[tokio::test]
async fn inspect_decision_history() -> Res {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder().clock(ClockHandle::custom(clock.clone())).build()?;
    let handle = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    let adapter = runtime.adapter();
    for n in 0..3 {
        clock.advance(Duration::from_millis(250));
        handle.record_retry();
        handle.record_retry();
        if n > 0 {
            let decision = adapter.analyze_session(&handle).await?.expect("over the limit");
            adapter.execute_decision(&decision, &handle).await?;
        }
    }
    let session_id = handle.id();

    let history = adapter.get_session_history(session_id).await;

    let mut lines = Vec::new();
    for decision in history {
        lines.push(format!("{}: {} - {}", decision.timestamp_ms, decision.action, decision.reason));
    }
    for line in &lines {
        println!("{line}");
    }
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("500: retry task current after "), "{}", lines[0]);
    assert!(lines[1].starts_with("750: retry task current after "), "{}", lines[1]);
    assert!(lines.iter().all(|l| l.ends_with(" - retries over max_retries")), "{lines:?}");
    Ok(())
}

#[tokio::test]
#[allow(clippy::single_match)] // the quick reference's text
async fn drain_events() -> Res {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    let adapter = runtime.adapter();
    let handle = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    for _ in 0..20 {
        handle.record_task_execution(Duration::from_millis(1));
    }
    for _ in 0..3 {
        handle.record_violation();
    }
    let decision = adapter.analyze_session(&handle).await?.expect("15% violations");
    adapter.execute_decision(&decision, &handle).await?;
    runtime.complete_session(handle.clone())?;

    let events = adapter.drain_events().await;

    let mut adapted = Vec::new();
    for event in &events {
        match event {
            SessionEvent::Adapted { session_id, action, reason, .. } => {
                println!("Session {} adapted: {}", session_id, reason);
                adapted.push((*session_id, action.clone()));
            }
            _ => {}
        }
    }
    assert_eq!(adapted.len(), 1);
    assert_eq!(adapted[0].0, handle.id());
    assert!(matches!(adapted[0].1, SessionAction::DegradePerformance { .. }));
    // In order: Started, ViolationDetected (analysis), Adapted (execution), Completed.
    assert_eq!(events.len(), 4);
    assert!(matches!(events[0], SessionEvent::Started { .. }));
    assert!(matches!(events[1], SessionEvent::ViolationDetected { violations: 3, tasks: 20, .. }));
    assert!(matches!(events[3], SessionEvent::Completed { .. }));
    assert!(adapter.drain_events().await.is_empty());
    assert_eq!(adapter.stats().await.events_dropped, 0);
    Ok(())
}

// ------------------------------------------------------------------ Troubleshooting ------

#[tokio::test]
async fn troubleshooting_session_not_found() -> Res {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    let table = runtime.table();
    let session_id = runtime.create_session(CaseId::new(), TenantId::new()).id();
    runtime.remove_session(&session_id)?;

    // Make sure you haven't removed it
    let err = table.get(&session_id).unwrap_err();
    assert_eq!(err, TableError::NotFound { id: session_id });
    assert_eq!(err.to_string(), format!("session {session_id} not found"));
    Ok(())
}

#[tokio::test]
async fn troubleshooting_global_q_violated() -> Res {
    let config = RuntimeConfig::default()
        .with_global_q(GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() });
    let runtime = AutonomicRuntime::new(config)?;
    let adapter = runtime.adapter();
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..3 {
        let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
        for _ in 0..4 {
            h.record_retry();
        }
        match adapter.evaluate(&h)? {
            Analysis::Admitted(decision) => held.push(decision),
            Analysis::Refused(refusal) => refused = Some(refusal),
            Analysis::NoAction => panic!("over max_retries"),
        }
    }

    // Adaptation rejected - check global Q
    let q = adapter.global_q();
    println!("Max concurrent adaptations: {}", q.max_concurrent_adaptations);
    println!("Current active: {}", adapter.active_adaptations());

    assert_eq!(q.max_concurrent_adaptations, 2);
    assert_eq!(adapter.active_adaptations(), 2);
    let refusal = refused.expect("the third was refused");
    assert_eq!(refusal.rule, QRule::MaxConcurrentAdaptations);
    assert_eq!((refusal.observed, refusal.limit), (2.0, 2.0));
    assert_eq!(adapter.stats().await.rejections.max_concurrent_adaptations, 1);
    drop(held);
    assert_eq!(adapter.active_adaptations(), 0);
    Ok(())
}

#[test]
fn troubleshooting_too_many_sessions() -> Res {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    for _ in 0..100 {
        table.create_session(CaseId::new(), TenantId::new()).start()?.complete()?;
    }
    let _running = table.create_session(CaseId::new(), TenantId::new()).start()?;
    assert_eq!(table.total_sessions(), 101);
    clock.advance(Duration::from_secs(3600));

    // Cleanup old sessions
    table.cleanup_terminal_sessions(Duration::from_secs(3600));

    assert_eq!(table.total_sessions(), 1);
    assert_eq!(table.stats().unique_tenants, 1);
    Ok(())
}
