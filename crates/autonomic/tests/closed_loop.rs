//! The MAPE-K loop closes: what the sessions do changes what the adapter admits.
//!
//! Sessions fail until the windowed failure rate passes Global Q's `max_failure_rate`; one
//! iteration of the loop publishes it, and the adapter then refuses retries with the
//! failure-rate rule. The system recovers (new healthy sessions dilute the failures, or the
//! incident leaves the rolling window, whatever the retention); an iteration publishes that,
//! and the adapter admits again. Ages run on a `ManualClock`; nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use autonomic::{
    Analysis, AutonomicRuntime, CaseId, ClockHandle, GlobalQ, ManualClock, QRule, RuleCheck,
    RuntimeConfig, SessionAction, SessionEvent, SessionHandle, TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

const RETENTION: Duration = Duration::from_secs(60);

fn runtime() -> (Arc<ManualClock>, AutonomicRuntime) {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(
            RuntimeConfig::default()
                .with_retention(RETENTION)
                .with_global_q(GlobalQ { max_failure_rate: 0.05, ..GlobalQ::default() }),
        )
        .clock(ClockHandle::custom(clock.clone()))
        .build()
        .expect("valid configuration");
    (clock, runtime)
}

fn run_session(runtime: &AutonomicRuntime, tenant: TenantId, fails: bool) -> Res {
    let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    h.record_task_execution(Duration::from_millis(4));
    if fails {
        runtime.fail_session(h)?;
    } else {
        runtime.complete_session(h)?;
    }
    Ok(())
}

/// A running session that has retried more than `max_retries`: the policy proposes
/// `RetryTask` every time it is analysed.
fn probe(runtime: &AutonomicRuntime) -> SessionHandle {
    let h = runtime
        .start_session(runtime.create_session(CaseId::new(), TenantId::new()))
        .expect("a new session starts");
    for _ in 0..4 {
        h.record_retry();
    }
    h
}

/// Analyses the probe: `Ok(())` if admitted (the decision is dropped, returning its slot),
/// `Err(refusal)` if refused.
fn admitted(runtime: &AutonomicRuntime, probe: &SessionHandle) -> Result<(), autonomic::Refusal> {
    match runtime.adapter().evaluate(probe).expect("the policy proposes valid actions") {
        Analysis::Admitted(decision) => {
            assert!(matches!(decision.action, SessionAction::RetryTask { .. }));
            Ok(())
        }
        Analysis::Refused(refusal) => Err(refusal),
        Analysis::NoAction => panic!("the probe always wants a retry"),
    }
}

#[test]
fn failures_close_the_loop_and_new_healthy_sessions_reopen_it() -> Res {
    let (_clock, runtime) = runtime();
    let tenant = TenantId::new();
    let probe = probe(&runtime);

    for _ in 0..20 {
        run_session(&runtime, tenant, false)?;
    }
    let report = runtime.run_once();
    assert_eq!(report.metrics.failure_rate, 0.0);
    assert!(admitted(&runtime, &probe).is_ok());

    // Drive failures until the published failure rate passes 5%. The adapter reads the
    // published knowledge, not the table: it refuses only after an iteration.
    let mut failures = 0u64;
    let refusal = loop {
        run_session(&runtime, tenant, true)?;
        failures += 1;
        let before_iteration = admitted(&runtime, &probe);
        let report = runtime.run_once();
        let rate = failures as f64 / (20 + failures) as f64;
        assert_eq!(report.metrics.failure_rate, rate);
        assert_eq!(runtime.knowledge().current().failure_rate, rate);
        match admitted(&runtime, &probe) {
            Ok(()) => assert!(rate <= 0.05, "admitted at failure rate {rate}"),
            Err(refusal) => {
                assert!(before_iteration.is_ok(), "the rate was not published yet");
                break refusal;
            }
        }
        assert!(failures < 10, "never refused");
    };
    // 1/21 = 4.8% was admitted, 2/22 = 9.1% is refused.
    assert_eq!(failures, 2);
    assert_eq!(refusal.rule, QRule::MaxFailureRate);
    assert_eq!(refusal.observed, 2.0 / 22.0);
    assert_eq!(refusal.limit, 0.05);
    assert_eq!(refusal.session_id, probe.id());
    let stats = runtime.adapter().snapshot_stats();
    assert_eq!(stats.rejections.max_failure_rate, 1);
    assert_eq!(stats.rejections.total(), 1);
    let rejected = runtime.adapter().take_events().into_iter().any(|e| {
        matches!(e, SessionEvent::Rejected { session_id, rule: QRule::MaxFailureRate, .. }
            if session_id == probe.id())
    });
    assert!(rejected, "the refusal was emitted as an event");

    // Recover: healthy sessions bring the rate back to 5% (2/40), which is not above it.
    let mut healthy = 0;
    loop {
        run_session(&runtime, tenant, false)?;
        healthy += 1;
        let report = runtime.run_once();
        match admitted(&runtime, &probe) {
            Ok(()) => {
                assert_eq!(report.metrics.failure_rate, 0.05);
                break;
            }
            Err(refusal) => {
                assert_eq!(refusal.rule, QRule::MaxFailureRate);
                assert!(report.metrics.failure_rate > 0.05);
            }
        }
        assert!(healthy < 40, "never admitted again");
    }
    assert_eq!(healthy, 18);
    Ok(())
}

/// An incident judged, then forgotten one window after it ends, whatever the retention: the
/// doctrine reads the rolling window (60 s in 5 s buckets), not whatever sits in the table.
#[test]
fn the_incident_leaves_the_window_and_the_loop_reopens_whatever_the_retention() -> Res {
    for retention in [Duration::from_secs(1), RETENTION, Duration::from_secs(3600)] {
        let clock = Arc::new(ManualClock::new());
        let runtime = AutonomicRuntime::builder()
            .config(
                RuntimeConfig::default()
                    .with_retention(retention)
                    .with_global_q(GlobalQ { max_failure_rate: 0.05, ..GlobalQ::default() }),
            )
            .clock(ClockHandle::custom(clock.clone()))
            .build()?;
        let tenant = TenantId::new();
        let probe = probe(&runtime);

        // An incident: 8 of 20 sessions fail.
        for i in 0..20 {
            run_session(&runtime, tenant, i % 5 < 2)?;
        }
        runtime.run_once();
        let refusal = admitted(&runtime, &probe).unwrap_err();
        assert_eq!((refusal.rule, refusal.observed), (QRule::MaxFailureRate, 0.4));

        // Half a window later, healthy traffic: the window still holds the incident.
        clock.advance(Duration::from_secs(30));
        for _ in 0..10 {
            run_session(&runtime, tenant, false)?;
        }
        runtime.run_once();
        let refusal = admitted(&runtime, &probe).unwrap_err();
        assert_eq!(refusal.observed, 8.0 / 30.0, "retention {retention:?}");

        // A window (and a bucket) after the incident it has left the window. The 10 healthy
        // sessions left in it are too few to judge (the minimum is 20): the rule says so in
        // the decision, and the retry is admitted.
        clock.advance(Duration::from_secs(35));
        runtime.run_once();
        let Analysis::Admitted(decision) = runtime.adapter().evaluate(&probe)? else {
            panic!("the incident left the window (retention {retention:?})")
        };
        assert_eq!(decision.knowledge.max_failure_rate, RuleCheck::NotEnoughEvidence);
        drop(decision);

        // Enough healthy traffic: judged again, and healthy.
        for _ in 0..10 {
            run_session(&runtime, tenant, false)?;
        }
        runtime.run_once();
        let Analysis::Admitted(decision) = runtime.adapter().evaluate(&probe)? else {
            panic!("healthy")
        };
        assert_eq!(decision.knowledge.max_failure_rate, RuleCheck::Passed);
        assert_eq!(runtime.adapter().snapshot_stats().rejections.max_failure_rate, 2);
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_spawned_loop_closes_it_too() -> Res {
    let interval = Duration::from_millis(50);
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(RuntimeConfig::default().with_interval(interval).with_retention(RETENTION))
        .clock(ClockHandle::custom(clock.clone()))
        .start()?;
    let mut reports = runtime.reports();
    let tenant = TenantId::new();
    let probe = probe(&runtime);

    for i in 0..20 {
        run_session(&runtime, tenant, i < 6)?;
    }
    assert!(admitted(&runtime, &probe).is_ok(), "nothing published yet");
    // The loop's first iteration, one interval after the start.
    reports.changed().await?;
    let report = reports.borrow_and_update().clone().expect("a report");
    assert_eq!(report.iteration, 1);
    assert_eq!(report.metrics.failure_rate, 0.3);
    assert_eq!(admitted(&runtime, &probe).unwrap_err().rule, QRule::MaxFailureRate);

    // The failures age out of the window (and, with this retention, out of the table): the
    // next iteration publishes a window without them.
    clock.advance(RETENTION + Duration::from_secs(5));
    let mut iterations = 0;
    while admitted(&runtime, &probe).is_err() {
        reports.changed().await?;
        iterations += 1;
        assert!(iterations <= 1, "one iteration publishes the window without the incident");
    }
    let knowledge = runtime.knowledge().current();
    let window = knowledge.windows.as_ref().expect("the loop publishes windows");
    assert_eq!(window.global.counts.failed, 0, "the incident left the window");
    assert_eq!(runtime.last_report().expect("a report").totals.sessions_cleaned, 20);
    runtime.shutdown().await?;
    Ok(())
}
