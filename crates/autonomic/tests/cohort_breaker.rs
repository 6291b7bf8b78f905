//! The cohort breaker end to end, driven by the runtime's loop on real windows: 80% of
//! pattern P's sessions fail; one iteration publishes it and the breaker opens for P only;
//! other patterns keep their retries; after `open_for_ms` of virtual time the breaker is
//! half-open, its probe sessions complete through the runtime, and it closes.

use std::sync::Arc;
use std::time::Duration;

use autonomic::adapter::breaker::{BreakerConfig, BreakerState, Cohort};
use autonomic::{
    Analysis, AutonomicRuntime, CaseId, ClockHandle, GlobalQ, ManualClock, QRule, RuntimeConfig,
    SessionHandle, TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

const P: u8 = 3;
const OTHER: u8 = 4;

fn runtime() -> (Arc<ManualClock>, AutonomicRuntime) {
    let clock = Arc::new(ManualClock::new());
    let config = RuntimeConfig {
        // The global failure-rate rule would refuse every pattern's retries: the breaker is
        // the targeted alternative.
        global_q: GlobalQ { max_failure_rate: 1.0, ..GlobalQ::default() },
        breaker: Some(BreakerConfig { open_for_ms: 2_000, probes: 2, ..BreakerConfig::default() }),
        ..RuntimeConfig::default()
    };
    let runtime = AutonomicRuntime::builder()
        .config(config)
        .clock(ClockHandle::custom(clock.clone()))
        .build()
        .expect("valid configuration");
    (clock, runtime)
}

fn session(runtime: &AutonomicRuntime, tenant: TenantId, pattern: u8) -> SessionHandle {
    let new = runtime.create_session(CaseId::new(), tenant).with_pattern(pattern);
    runtime.start_session(new).expect("a new session starts")
}

/// A running session of `pattern` that wants a retry.
fn retrying(runtime: &AutonomicRuntime, tenant: TenantId, pattern: u8) -> SessionHandle {
    let h = session(runtime, tenant, pattern);
    for _ in 0..4 {
        h.record_retry();
    }
    h
}

fn rule(runtime: &AutonomicRuntime, h: &SessionHandle) -> Option<QRule> {
    match runtime.adapter().evaluate(h).expect("valid proposal") {
        Analysis::Admitted(_) => None,
        Analysis::Refused(refusal) => Some(refusal.rule),
        Analysis::NoAction => panic!("the session wants a retry"),
    }
}

#[test]
fn the_loop_opens_the_breaker_of_a_sick_pattern_only_and_probes_close_it() -> Res {
    let (clock, runtime) = runtime();
    let tenant = TenantId::new();
    for i in 0..50 {
        let h = session(&runtime, tenant, P);
        h.record_task_execution(Duration::from_millis(3));
        if i % 5 == 0 {
            runtime.complete_session(h)?;
        } else {
            runtime.fail_session(h)?;
        }
        let h = session(&runtime, tenant, OTHER);
        h.record_task_execution(Duration::from_millis(3));
        runtime.complete_session(h)?;
    }
    let sick = retrying(&runtime, tenant, P);
    let fine = retrying(&runtime, tenant, OTHER);
    assert_eq!(rule(&runtime, &sick), None, "nothing published yet");

    clock.advance(Duration::from_millis(100));
    runtime.run_once();
    let breakers = runtime.adapter().breakers();
    assert_eq!(breakers.len(), 1, "{breakers:?}");
    assert_eq!((breakers[0].cohort, breakers[0].state), (Cohort::Pattern(P), BreakerState::Open));
    assert!((breakers[0].failure_rate - 0.8).abs() < 1e-9, "{breakers:?}");
    assert_eq!(rule(&runtime, &sick), Some(QRule::CohortBreaker));
    assert_eq!(rule(&runtime, &fine), None);
    assert_eq!(runtime.adapter().snapshot_stats().rejections.cohort_breaker, 1);

    // Half-open after open_for_ms: two probes, a third session is refused.
    clock.advance(Duration::from_millis(2_000));
    runtime.run_once();
    assert_eq!(runtime.adapter().breakers()[0].state, BreakerState::HalfOpen);
    let probes = [retrying(&runtime, tenant, P), retrying(&runtime, tenant, P)];
    for probe in &probes {
        assert_eq!(rule(&runtime, probe), None);
    }
    assert_eq!(rule(&runtime, &sick), Some(QRule::CohortBreaker));
    for probe in probes {
        runtime.complete_session(probe)?;
    }
    assert_eq!(runtime.adapter().breakers()[0].state, BreakerState::Closed);
    assert_eq!(rule(&runtime, &sick), None);
    // The next iterations still see the old failures in the short window: the closed
    // breaker does not read them again.
    runtime.run_once();
    assert_eq!(rule(&runtime, &sick), None);
    // Past open_for_ms (and the short window), the old failures are still in the window.
    clock.advance(Duration::from_millis(6_000));
    runtime.run_once();
    let windows = runtime.adapter().knowledge().current().windows.clone().unwrap();
    assert!(windows.pattern(P).unwrap().counts.failed >= 40, "{windows:?}");
    assert_eq!(rule(&runtime, &sick), None, "the closed breaker does not read them again");
    // A relapse after the close is judged afresh (from the short window).
    for _ in 0..25 {
        let h = session(&runtime, tenant, P);
        runtime.fail_session(h)?;
    }
    runtime.run_once();
    assert_eq!(rule(&runtime, &sick), Some(QRule::CohortBreaker));
    Ok(())
}
