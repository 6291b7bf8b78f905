//! Coming from the original implementation: the ten behaviour differences found by running
//! its tests here (see "From the original implementation" in
//! `docs/migrating-from-the-quick-reference.md`). One test per row: a row changed back shows
//! the original's behaviour; a row that remains shows this runtime's, so a change to either
//! is noticed.
//!
//! Times come from a `ManualClock` with a wall-clock origin, so every timestamp is exact.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autonomic::{
    Analysis, AutonomicRuntime, CaseId, ClockHandle, GlobalKnowledge, GlobalQ, KnowledgeBase,
    ManualClock, Metric, QRule, RuntimeConfig, SessionAction, SessionAdapter, SessionAdapterConfig,
    SessionEvent, SessionHandle, SessionId, SessionMetrics, SessionState, SessionTable, TableError,
    TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

/// 2026-01-01T00:00:00Z, in ms since the Unix epoch: the test clock's wall-clock origin.
const ORIGIN_MS: u64 = 1_767_225_600_000;

fn runtime_with(q: GlobalQ, adapter: SessionAdapterConfig) -> (Arc<ManualClock>, AutonomicRuntime) {
    let clock = Arc::new(ManualClock::with_unix_origin(Duration::from_millis(ORIGIN_MS)));
    let runtime = AutonomicRuntime::builder()
        .config(RuntimeConfig::default().with_global_q(q).with_adapter(adapter))
        .clock(ClockHandle::custom(clock.clone()))
        .build()
        .expect("valid configuration");
    (clock, runtime)
}

fn runtime() -> (Arc<ManualClock>, AutonomicRuntime) {
    runtime_with(GlobalQ::default(), SessionAdapterConfig::default())
}

/// Four retries: over the default `max_retries` of 3, so the default policy proposes.
fn over_the_retry_limit(h: &SessionHandle) {
    for _ in 0..4 {
        h.record_retry();
    }
}

fn session() -> SessionHandle {
    SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().expect("fresh session")
}

/// Row 1 (changed back): `retry_rate()` is retries / tasks, in the snapshot and in
/// `AggregatedMetrics`. With 2 tasks and 1 retry the original printed 0.5; this runtime did
/// 0.333 (retries / attempts) before.
#[test]
fn row_1_retry_rate_is_retries_per_task() -> Res {
    let (_, runtime) = runtime();
    let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    h.record_task_execution(Duration::from_millis(1));
    h.record_task_execution(Duration::from_millis(1));
    h.record_retry();
    assert_eq!(h.snapshot().retry_rate(), 0.5);
    assert_eq!(runtime.aggregate().retry_rate, 0.5);
    // Like the other per-task rates, it is not capped at 1.
    for _ in 0..3 {
        h.record_retry();
    }
    assert_eq!(h.snapshot().retry_rate(), 2.0);
    Ok(())
}

/// A `tracing` writer into memory, for the one test that reads what was traced.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Row 2 (changed back): a Global Q with `max_concurrent_adaptations = 0` is valid and
/// switches adaptation off. Every proposal is refused by that rule, even when another rule
/// would refuse too, and visibly: counted, traced, and emitted as `Rejected` with limit 0.
#[test]
fn row_2_a_q_of_zero_switches_adaptation_off() -> Res {
    use tracing_subscriber::util::SubscriberInitExt;

    let off = GlobalQ::new(0.9, 0, 0.95, 0.05)?;
    assert_eq!(
        autonomic_core::config::load("toml", || {
            toml::from_str::<GlobalQ>("max_concurrent_adaptations = 0")
        })?,
        off
    );
    let config = RuntimeConfig::from_toml_str("[global_q]\nmax_concurrent_adaptations = 0")?;
    assert_eq!(config.global_q, off);

    let (_, runtime) = runtime_with(off, SessionAdapterConfig::default());
    let adapter = runtime.adapter();
    // The knowledge rule would refuse too; the off switch is the rule that answers.
    runtime.knowledge().publish(GlobalKnowledge { failure_rate: 0.5, ..Default::default() });
    let captured = Captured::default();
    let writer = captured.clone();
    let _trace = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();

    let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    over_the_retry_limit(&h);
    match adapter.evaluate(&h)? {
        Analysis::Refused(r) => {
            assert_eq!((r.rule, r.observed, r.limit), (QRule::MaxConcurrentAdaptations, 0.0, 0.0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(adapter.active_adaptations(), 0);
    let stats = adapter.snapshot_stats();
    assert_eq!((stats.total_decisions, stats.rejections.max_concurrent_adaptations), (0, 1));
    assert_eq!(stats.rejections.max_failure_rate, 0);
    let rejected = adapter.take_events().into_iter().find_map(|e| match e {
        SessionEvent::Rejected { rule, limit, .. } => Some((rule, limit)),
        _ => None,
    });
    assert_eq!(rejected, Some((QRule::MaxConcurrentAdaptations, 0.0)));
    let traced = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(traced.contains("adaptation is off"), "{traced}");

    // Switching it back on is a hot swap.
    adapter.update_global_q(GlobalQ::default())?;
    runtime.knowledge().publish(GlobalKnowledge::default());
    assert!(matches!(adapter.evaluate(&h)?, Analysis::Admitted(_)));
    Ok(())
}

/// Row 3 (changed back): `decision.timestamp_ms` is a wall-clock time a person reads
/// (milliseconds since the Unix epoch), as the quick reference's "Inspect Decision History"
/// prints it; the monotonic reading is beside it as `monotonic_ms`. Events carry the same
/// wall-clock stamp. Both come from one reading of the session's clock.
#[test]
fn row_3_decisions_and_events_carry_wall_clock_time() -> Res {
    let (clock, runtime) = runtime();
    clock.advance(Duration::from_millis(1_500));
    let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    over_the_retry_limit(&h);
    clock.advance(Duration::from_millis(250));
    let decision = runtime.adapter().evaluate(&h)?.into_decision().expect("admitted");
    assert_eq!((decision.timestamp_ms, decision.monotonic_ms), (ORIGIN_MS + 1_750, 1_750));
    runtime.adapter().execute(&decision, &h)?;
    let history = runtime.adapter().session_history(h.id());
    assert_eq!(history[0].timestamp_ms, ORIGIN_MS + 1_750);

    let stamps: Vec<u64> =
        runtime.adapter().take_events().iter().map(|e| e.timestamp_ms()).collect();
    // Started, ThresholdExceeded (analysis), Adapted (the decision's own time).
    assert_eq!(stamps, vec![ORIGIN_MS + 1_500, ORIGIN_MS + 1_750, ORIGIN_MS + 1_750]);

    // With the process's clock, the stamp is today's date, not milliseconds since start.
    let real = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let s = session();
    over_the_retry_limit(&s);
    let d = real.evaluate(&s)?.into_decision().expect("admitted");
    assert!(d.timestamp_ms > 1_700_000_000_000, "{}", d.timestamp_ms); // after Nov 2023
    assert!(d.timestamp_ms - d.monotonic_ms > 1_700_000_000_000);
    Ok(())
}

/// Row 4 (remains): the default rules are `ThresholdPolicy`'s, documented on it.
#[test]
fn row_4_default_rules_are_the_threshold_policys() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let action = |h: &SessionHandle| {
        adapter.evaluate(h).expect("valid").into_decision().map(|d| d.into_record().action)
    };

    // Retries over the limit: RetryTask (the original shed optional tasks).
    let retried = session();
    over_the_retry_limit(&retried);
    assert!(matches!(action(&retried), Some(SessionAction::RetryTask { .. })));

    // Below min_samples (10 tasks): only LogAndContinue, however bad the rate.
    let young = session();
    young.record_task_execution_us(1_000);
    young.record_violation();
    assert!(matches!(action(&young), Some(SessionAction::LogAndContinue { .. })));

    // Degrade factor: max / rate, clamped to 0.5..=0.9 (the original: always 0.8).
    let degraded = session();
    for _ in 0..20 {
        degraded.record_task_execution_us(1_000);
    }
    for _ in 0..3 {
        degraded.record_violation(); // 15% against 10%
    }
    match action(&degraded) {
        Some(SessionAction::DegradePerformance { factor }) => {
            assert!((factor - 0.1 / 0.15).abs() < 1e-12, "{factor}");
        }
        other => panic!("{other:?}"),
    }

    // RequestResources asks `resource_step` (default 0.05; the original asked 0.2).
    let slow = session();
    for _ in 0..12 {
        slow.record_task_execution_us(150_000);
    }
    assert_eq!(action(&slow), Some(SessionAction::RequestResources { amount: 0.05 }));
    let config = SessionAdapterConfig { resource_step: 0.2, ..Default::default() };
    let like_the_original = SessionAdapter::with_config(Arc::new(KnowledgeBase::new()), config)?;
    let d = like_the_original.evaluate(&slow)?.into_decision().expect("admitted");
    assert_eq!(d.action, SessionAction::RequestResources { amount: 0.2 });

    // A failed session (retries or not) gets compensation; a finished one gets nothing.
    let failed = session();
    over_the_retry_limit(&failed);
    let failed = failed.fail()?;
    let compensation = adapter.evaluate(&failed)?.into_decision().expect("admitted");
    assert!(matches!(compensation.action, SessionAction::TriggerCompensation { .. }));
    let done = session();
    over_the_retry_limit(&done);
    let done = done.complete()?;
    assert!(adapter.evaluate(&done)?.is_no_action());
    Ok(())
}

/// Row 5, restored part (changed back): `Completed` carries the task count, `Failed` the
/// error text (bounded), `Started` the pattern beside the tenant.
#[test]
fn row_5_end_events_keep_what_a_person_debugging_needs() -> Res {
    let (clock, runtime) = runtime();
    let tenant = TenantId::new();
    let new = runtime.create_session(CaseId::new(), tenant).with_pattern(42);
    let ok = runtime.start_session(new)?;
    let bad = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    let huge = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    for _ in 0..3 {
        ok.record_task_execution_us(100);
    }
    bad.record_task_execution_us(100);
    clock.advance(Duration::from_millis(40));
    let (ok_id, bad_id) = (ok.id(), bad.id());
    runtime.complete_session(ok)?;
    runtime.fail_session_with(bad, "payment gateway: 503 Service Unavailable")?;
    runtime.fail_session_with(huge, "x".repeat(1 << 20))?;

    let events = runtime.adapter().take_events();
    assert!(matches!(
        events[0],
        SessionEvent::Started { session_id, tenant_id, pattern: Some(42), .. }
            if session_id == ok_id && tenant_id == tenant
    ));
    assert!(matches!(
        events[3],
        SessionEvent::Completed { session_id, task_count: 3, duration_ms: Some(40), .. }
            if session_id == ok_id
    ));
    match &events[4] {
        SessionEvent::Failed { session_id, error, task_count, .. } => {
            assert_eq!((*session_id, *task_count), (bad_id, 1));
            assert_eq!(error.as_deref(), Some("payment gateway: 503 Service Unavailable"));
        }
        other => panic!("{other:?}"),
    }
    match &events[5] {
        SessionEvent::Failed { error: Some(error), .. } => {
            assert!(error.starts_with("xxx"), "{error}");
            assert!(error.len() < autonomic::adapter::MAX_ERROR_LEN + 64, "{}", error.len());
            assert!(error.ends_with("(1048576 bytes in all)"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // A failure reported without an error has none.
    let quiet = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    runtime.fail_session(quiet)?;
    let events = runtime.adapter().take_events();
    assert!(matches!(events[1], SessionEvent::Failed { error: None, task_count: 0, .. }));
    Ok(())
}

/// Row 5, the part that remains: `ViolationDetected` / `ThresholdExceeded` carry the numbers
/// (`Metric`, observed, limit); analysing emits them whether or not the action is then
/// admitted; executing `LogAndContinue` emits nothing (it is traced: it adapts nothing).
#[test]
fn row_5_signals_are_emitted_at_analysis_and_log_and_continue_emits_nothing() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let retried = session();
    over_the_retry_limit(&retried);
    let decision = adapter.evaluate(&retried)?.into_decision().expect("admitted");
    drop(decision); // not executed: the signal was emitted anyway
    let events = adapter.take_events();
    assert!(matches!(
        events[..],
        [SessionEvent::ThresholdExceeded {
            metric: Metric::Retries,
            observed: 4.0,
            limit: 3.0,
            ..
        }]
    ));

    let young = session();
    young.record_task_execution_us(1_000);
    young.record_violation();
    let log = adapter.evaluate(&young)?.into_decision().expect("admitted");
    assert!(matches!(log.action, SessionAction::LogAndContinue { .. }));
    adapter.take_events();
    adapter.execute(&log, &young)?;
    assert!(adapter.take_events().is_empty());
    assert_eq!(young.state(), SessionState::Active);
    Ok(())
}

/// Row 6 (remains): executing `RetryTask` does not count a retry on the session. The caller
/// counts retries where they happen (`record_retry`, as in the quick reference's pattern 2);
/// counting again at execution counted each failure twice and fed the very threshold that
/// proposed the retry.
#[test]
fn row_6_executing_retry_task_counts_no_retry() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let h = session();
    over_the_retry_limit(&h);
    let decision = adapter.evaluate(&h)?.into_decision().expect("admitted");
    assert!(matches!(decision.action, SessionAction::RetryTask { .. }));
    adapter.execute(&decision, &h)?;
    assert_eq!(h.snapshot().retry_count, 4);
    Ok(())
}

/// Row 7 (remains): `unique_tenants` counts tenants that have sessions in the table now; a
/// tenant whose last session left is forgotten (a set of every tenant ever seen grows
/// without bound).
#[test]
fn row_7_unique_tenants_counts_tenants_with_sessions() -> Res {
    let table = SessionTable::new();
    let (a, b) = (TenantId::new(), TenantId::new());
    let ha = table.create_session(CaseId::new(), a).start()?;
    let _hb = table.create_session(CaseId::new(), b).start()?;
    assert_eq!(table.stats().unique_tenants, 2);
    table.remove(&ha.id())?;
    assert_eq!(table.stats().unique_tenants, 1);
    Ok(())
}

/// Row 8 (remains): there are no named facts; the doctrine reads typed knowledge, which the
/// runtime's aggregation publishes (`set_fact("failure_rate", ..)` is now
/// `publish(GlobalKnowledge { failure_rate, .. })`).
#[test]
fn row_8_the_doctrine_reads_typed_published_knowledge() -> Res {
    let (_, runtime) = runtime();
    let sick = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    over_the_retry_limit(&sick);
    // Aggregation publishes the failure rate, over the table and over the rolling window
    // (judged from 20 finished sessions on): 10 failed of 20 finished.
    for i in 0..20 {
        let h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
        if i % 2 == 0 {
            runtime.complete_session(h)?;
        } else {
            runtime.fail_session(h)?;
        }
    }
    runtime.run_once();
    let knowledge = runtime.knowledge().current();
    assert_eq!(knowledge.failure_rate, 0.5);
    let window = knowledge.windows.as_ref().expect("the loop publishes windows");
    assert_eq!(window.global.failure_rate, autonomic::Evidence::Judged(0.5));
    let refusal = runtime.adapter().evaluate(&sick)?;
    assert_eq!(refusal.refusal().map(|r| r.rule), Some(QRule::MaxFailureRate));

    // Publishing by hand steers it the same way.
    runtime.knowledge().publish(GlobalKnowledge { failure_rate: 0.0, ..Default::default() });
    assert!(matches!(runtime.adapter().evaluate(&sick)?, Analysis::Admitted(_)));
    Ok(())
}

/// Row 9 (remains): session ids are `u64`, printed `session-%016x`; case and tenant ids are
/// UUIDs printed with their kind as a prefix.
#[test]
fn row_9_ids_print_with_their_kind() {
    assert_eq!(SessionId::from_raw(0x2a).to_string(), "session-000000000000002a");
    assert_eq!(SessionId::from_raw(0x2a).as_u64(), 42);
    assert!(CaseId::new().to_string().starts_with("case-"));
    assert_eq!(
        TenantId::default_tenant().to_string(),
        "tenant-00000000-0000-0000-0000-000000000000"
    );
}

/// Row 10 (remains): renamed or reshaped calls.
#[test]
fn row_10_renamed_and_reshaped_calls() -> Res {
    // SessionMetrics: updates in microseconds, the snapshot taken at a clock reading.
    let metrics = SessionMetrics::new();
    metrics.record_task_us(250);
    metrics.record_retry();
    let snapshot = metrics.read(0);
    assert_eq!((snapshot.task_completions, snapshot.total_latency_us), (1, 250));

    // clear_completed_sessions -> forget_session, per session.
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let h = session();
    over_the_retry_limit(&h);
    adapter.execute(&adapter.evaluate(&h)?.into_decision().expect("admitted"), &h)?;
    assert_eq!(adapter.session_history(h.id()).len(), 1);
    adapter.forget_session(h.id());
    assert!(adapter.session_history(h.id()).is_empty());

    // with_config(knowledge, config) validates and returns a Result.
    let bad = SessionAdapterConfig { min_samples: 0, ..Default::default() };
    let err = SessionAdapter::with_config(Arc::new(KnowledgeBase::new()), bad).unwrap_err();
    assert_eq!(err.field(), Some("min_samples"));

    // AggregatedMetrics counts are u64.
    let (_, runtime) = runtime();
    let _h = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    let total: u64 = runtime.aggregate().total_sessions;
    assert_eq!(total, 1);

    // table.remove returns a Result: a second removal is NotFound.
    let table = SessionTable::new();
    let id = table.create_session(CaseId::new(), TenantId::new()).start()?.id();
    assert!(table.remove(&id).is_ok());
    assert!(matches!(table.remove(&id), Err(TableError::NotFound { id: gone }) if gone == id));
    Ok(())
}
