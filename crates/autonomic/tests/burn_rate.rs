//! The error-budget burn rate reaches policies: a custom policy reads its tenant's published
//! window and acts on the multiwindow burn (short and long windows both burning fast), which
//! a slow burn or a healthy tenant never trips. Virtual time (`ManualClock`).

use std::sync::Arc;
use std::time::Duration;

use autonomic::{
    Analysis, AutonomicRuntime, CaseId, ClockHandle, FnPolicy, ManualClock, MetricsSnapshot,
    PolicyContext, Proposal, RuntimeConfig, SessionAction, TenantId,
};

/// The SLO the policy defends, and how many times its budget both windows must burn.
const SLO_TARGET: f64 = 0.99;
const FAST: f64 = 5.0;

#[test]
fn a_policy_degrades_a_tenant_whose_error_budget_burns_fast_in_both_windows() {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(RuntimeConfig::default()) // windows of 60 s, the burn's short one 5 s
        .clock(ClockHandle::custom(clock.clone()))
        .policy(FnPolicy(|_: &MetricsSnapshot, ctx: &PolicyContext<'_>| {
            let burning = ctx.tenant_window()?.burn_rate(SLO_TARGET);
            burning.both_above(FAST).then(|| {
                Proposal::new(SessionAction::DegradePerformance { factor: 0.5 }, "budget burning")
            })
        }))
        .build()
        .unwrap();
    let (sick, healthy) = (TenantId::new(), TenantId::new());
    let start = |tenant| runtime.start_session(runtime.create_session(CaseId::new(), tenant));
    let (a, b) = (start(sick).unwrap(), start(healthy).unwrap());
    let tasks = |h: &autonomic::SessionHandle<_, _>, n: u32, violations: u32| {
        for i in 0..n {
            h.record_task_execution_us(1_000);
            if i < violations {
                h.record_violation();
            }
        }
    };

    // A slow burn: 2 violations in 100 tasks is twice the budget (1%), in both windows.
    clock.advance(Duration::from_secs(1));
    tasks(&a, 100, 2);
    tasks(&b, 100, 0);
    runtime.run_once();
    let published = runtime.knowledge().current().windows.clone().expect("windows published");
    let slow = published.tenant(sick).expect("the sick tenant's window").burn_rate(SLO_TARGET);
    assert!((slow.long - 2.0).abs() < 1e-9 && (slow.short - 2.0).abs() < 1e-9, "{slow:?}");
    assert!(matches!(runtime.adapter().evaluate(&a).unwrap(), Analysis::NoAction));

    // Ten seconds on (past the 5 s short window): 5 violations in 10 tasks. The short window
    // burns 50 times the budget, the long one 7 in 110 (6.4 times): both fast.
    clock.advance(Duration::from_secs(10));
    tasks(&a, 10, 5);
    tasks(&b, 10, 0);
    runtime.run_once();
    let published = runtime.knowledge().current().windows.clone().expect("windows published");
    let fast = published.tenant(sick).unwrap().burn_rate(SLO_TARGET);
    assert!(fast.both_above(FAST), "{fast:?}");
    assert!((fast.short - 50.0).abs() < 1e-9, "{fast:?}");
    match runtime.adapter().evaluate(&a).unwrap() {
        Analysis::Admitted(decision) => {
            assert!(matches!(decision.record().action, SessionAction::DegradePerformance { .. }))
        }
        other => panic!("the sick tenant's budget burns fast: {other:?}"),
    }
    assert_eq!(published.tenant(healthy).unwrap().burn_rate(SLO_TARGET).long, 0.0);
    assert!(matches!(runtime.adapter().evaluate(&b).unwrap(), Analysis::NoAction));
}
