//! Fault injection on its own: seeded, per session, per target, in force only in its span.

use std::time::Duration;

use autonomic::TenantId;
use autonomic_sim::faults::{Fault, FaultInjector, FaultKind, FaultPlan, Target};

const A: TenantId = TenantId::from_u128(1);
const B: TenantId = TenantId::from_u128(2);

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn injector(seed: u64) -> FaultInjector {
    let plan = FaultPlan::new(vec![
        Fault::new(Target::Tenant(A), FaultKind::TaskFailures { rate: 0.3 }, s(10), s(20)),
        Fault::new(
            Target::Pattern(7),
            FaultKind::LatencySpike { factor: 10.0, rate: 1.0 },
            s(0),
            s(5),
        ),
        Fault::new(Target::All, FaultKind::SlowSessions { factor: 3.0, rate: 0.5 }, s(30), s(40)),
        Fault::new(Target::Tenant(B), FaultKind::Flood { factor: 4.0 }, s(50), s(60)),
        Fault::new(Target::All, FaultKind::ResourcePressure { fraction: 0.7 }, s(50), s(60)),
        Fault::new(Target::All, FaultKind::ResourcePressure { fraction: 0.6 }, s(55), s(60)),
    ])
    .unwrap();
    FaultInjector::new(plan, seed)
}

/// What 1000 tasks of session `key` are dealt at `at`.
fn draws(
    inj: &FaultInjector,
    tenant: TenantId,
    pattern: u8,
    key: u64,
    at: u64,
) -> Vec<(u64, bool)> {
    let mut f = inj.session(tenant, Some(pattern), key, s(at));
    (0..1000).map(|_| f.task(s(at), 100, 0.0)).map(|t| (t.latency_us, t.failed)).collect()
}

#[test]
fn a_session_gets_the_same_draws_whatever_ran_before_it() {
    let inj = injector(1);
    let first = draws(&inj, A, 1, 42, 15);
    let _others: Vec<_> = (0..50).map(|k| draws(&inj, A, 1, k, 15)).collect();
    assert_eq!(draws(&inj, A, 1, 42, 15), first);
    assert_eq!(draws(&injector(1), A, 1, 42, 15), first, "a new injector, same seed");
    assert_ne!(draws(&injector(2), A, 1, 42, 15), first, "another seed");
    assert_ne!(draws(&inj, A, 1, 43, 15), first, "another session");
}

#[test]
fn faults_hit_their_target_at_their_rate_within_their_span() {
    let inj = injector(3);
    let failed = |t, at| draws(&inj, t, 1, 0, at).iter().filter(|d| d.1).count();
    let hit = failed(A, 15);
    assert!((240..=360).contains(&hit), "about 30% of 1000: {hit}");
    assert_eq!(failed(B, 15), 0, "another tenant");
    assert_eq!(failed(A, 25), 0, "after the span");
    assert_eq!(failed(A, 5), 0, "before it");
    // A spike on pattern 7 only.
    assert!(draws(&inj, B, 7, 0, 1).iter().all(|d| d.0 == 1000));
    assert!(draws(&inj, B, 6, 0, 1).iter().all(|d| d.0 == 100));
    // Slow sessions: about half of those starting in the span, three times slower throughout.
    let slow = (0..1000).filter(|k| inj.session(A, None, *k, s(35)).is_slow()).count();
    assert!((440..=560).contains(&slow), "{slow}");
    assert!((0..100).all(|k| !inj.session(A, None, k, s(45)).is_slow()));
    let mut one = (0..).map(|k| inj.session(A, None, k, s(35))).find(|f| f.is_slow()).unwrap();
    assert_eq!(one.task(s(100), 100, 0.0).latency_us, 300, "to its end");
}

#[test]
fn outcomes_floods_and_pressure() {
    let inj = FaultInjector::new(
        FaultPlan::new(vec![Fault::new(
            Target::Tenant(A),
            FaultKind::SessionFailures { rate: 1.0 },
            s(0),
            s(10),
        )])
        .unwrap(),
        0,
    );
    let mut f = inj.session(A, None, 0, s(0));
    assert!(f.session_fails(s(9), 0.0));
    assert!(!f.session_fails(s(10), 0.0));
    assert!(f.session_fails(s(10), 1.0), "the base rate still applies");

    let inj = injector(0);
    assert_eq!(inj.arrival_factor(B, s(55)), 4.0);
    assert_eq!(inj.arrival_factor(A, s(55)), 1.0);
    assert_eq!(inj.arrival_factor(B, s(60)), 1.0);
    assert_eq!(inj.resource_pressure(s(52)), 0.7);
    assert_eq!(inj.resource_pressure(s(57)), 1.0, "added up, at most everything");
    assert_eq!(inj.edges(), [0, 5, 10, 20, 30, 40, 50, 55, 60].map(s));
}
