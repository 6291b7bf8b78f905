//! The adaptive concurrency limit through the adapter's gate (issue 12, part 3): the limit in
//! force caps admissions below Global Q's `max_concurrent_adaptations`, moves once per
//! knowledge generation, and a lower Q still wins. (The controller's own behaviour under
//! steady timeouts, one slow window and sustained overload is unit-tested next to it, in
//! `src/concurrency/controller.rs`.)

mod support;

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::concurrency::ConcurrencyConfig;
use support::retrying;

use autonomic_adapter::{AdmittedDecision, Analysis, QRule, SessionAdapter};
use autonomic_core::{
    ClockHandle, GlobalKnowledge, GlobalQ, KnowledgeBase, ManualClock, TenantId, WindowCounts,
    WindowFigures, WindowGauges, WindowedKnowledge,
};

fn knowledge(failed: u64, latency_us: u64) -> GlobalKnowledge {
    let short = WindowCounts {
        completed: 100 - failed,
        failed,
        tasks: 1_000,
        latency_us: 1_000 * latency_us,
        ..WindowCounts::default()
    };
    GlobalKnowledge {
        windows: Some(WindowedKnowledge {
            global: WindowFigures::new(short, short, WindowGauges::default(), 1, 1),
            ..WindowedKnowledge::default()
        }),
        ..GlobalKnowledge::default()
    }
}

/// Admits retries until one is refused; returns the admitted decisions and the refusal's
/// `(rule, limit)`.
fn fill(adapter: &SessionAdapter, clock: &ClockHandle) -> (Vec<AdmittedDecision>, QRule, f64) {
    let mut held = Vec::new();
    loop {
        match adapter.evaluate(&retrying(TenantId::default_tenant(), None, clock)).unwrap() {
            Analysis::Admitted(decision) => held.push(decision),
            Analysis::Refused(r) => return (held, r.rule, r.limit),
            Analysis::NoAction => unreachable!(),
        }
    }
}

#[test]
fn the_limit_in_force_caps_admission_and_follows_the_knowledge() {
    let (kb, adapter) = limited(5);
    let clock = ClockHandle::custom(Arc::new(ManualClock::new()));
    assert_eq!(adapter.snapshot_stats().concurrency_limit, Some(5));
    let (held, rule, limit) = fill(&adapter, &clock);
    assert_eq!((held.len(), rule, limit), (5, QRule::MaxConcurrentAdaptations, 5.0));
    drop(held);

    // Three healthy generations whose demand fills the limit: 8. Observing the same
    // generation again changes nothing.
    for _ in 0..3 {
        let (held, _, _) = fill(&adapter, &clock);
        kb.publish(knowledge(1, 10_000));
        adapter.observe_knowledge(&clock);
        drop(held);
    }
    adapter.observe_knowledge(&clock);
    assert_eq!(adapter.snapshot_stats().concurrency_limit, Some(8));
    let (held, _, limit) = fill(&adapter, &clock);
    assert_eq!((held.len(), limit), (8, 8.0));
    drop(held);

    // One overloaded generation holds; the second cuts (8 * 0.75 = 6).
    kb.publish(knowledge(40, 10_000));
    adapter.observe_knowledge(&clock);
    assert_eq!(adapter.snapshot_stats().concurrency_limit, Some(8));
    kb.publish(knowledge(40, 10_000));
    adapter.observe_knowledge(&clock);
    assert_eq!(adapter.snapshot_stats().concurrency_limit, Some(6));

    // A Q below the limit wins.
    adapter
        .update_global_q(GlobalQ {
            max_concurrent_adaptations: 3,
            max_failure_rate: 1.0,
            ..GlobalQ::default()
        })
        .unwrap();
    let (held, _, limit) = fill(&adapter, &clock);
    assert_eq!((held.len(), limit), (3, 3.0));
}

/// An adapter whose limit starts at `initial` (floor 2, ceiling 20) under a Q of 50 slots
/// that tolerates any failure rate, and the knowledge base it reads.
fn limited(initial: u64) -> (Arc<KnowledgeBase>, SessionAdapter) {
    let kb = Arc::new(KnowledgeBase::new());
    let config =
        ConcurrencyConfig { floor: 2, ceiling: 20, initial, ..ConcurrencyConfig::default() };
    let adapter = SessionAdapter::builder(kb.clone())
        .global_q(GlobalQ {
            max_concurrent_adaptations: 50,
            max_failure_rate: 1.0,
            ..GlobalQ::default()
        })
        .adaptive_concurrency(config)
        .build()
        .unwrap();
    (kb, adapter)
}

/// `n` retries admitted (each holding a slot).
fn admitted(adapter: &SessionAdapter, clock: &ClockHandle, n: usize) -> Vec<AdmittedDecision> {
    let session = || retrying(TenantId::default_tenant(), None, clock);
    (0..n).map(|_| adapter.evaluate(&session()).unwrap().into_decision().unwrap()).collect()
}

#[test]
fn an_idle_system_holds_its_limit_and_a_saturated_healthy_one_raises_it() {
    let (kb, adapter) = limited(5);
    let manual = Arc::new(ManualClock::new());
    let clock = ClockHandle::custom(manual.clone());
    let generation = || {
        manual.advance(Duration::from_secs(1));
        kb.publish(knowledge(1, 10_000));
        adapter.observe_knowledge(&clock);
        adapter.snapshot_stats().concurrency_limit
    };

    // Idle: healthy windows, no proposal. Twenty generations later the limit has not moved.
    for _ in 0..20 {
        assert_eq!(generation(), Some(5));
    }
    // Light use: three proposals at a time (peak demand 3 of 5, under 80%): held.
    for _ in 0..5 {
        let held = admitted(&adapter, &clock, 3);
        assert_eq!(generation(), Some(5));
        drop(held);
    }
    // Five at a time, the whole limit: it rises. The next generation, the permits still
    // held but no new proposal: no demand, held.
    let held = admitted(&adapter, &clock, 5);
    assert_eq!(generation(), Some(6), "the generation they were admitted in used the limit");
    assert_eq!(generation(), Some(6), "no proposal since: no demand");
    drop(held);
    // Saturated: each generation's proposals fill the limit and one is refused at it.
    for expected in 7..=20 {
        let (held, rule, _) = fill(&adapter, &clock);
        assert_eq!(rule, QRule::MaxConcurrentAdaptations);
        assert_eq!(generation(), Some(expected));
        drop(held);
    }
    let (held, _, limit) = fill(&adapter, &clock);
    assert_eq!((held.len(), limit), (20, 20.0), "the ceiling");
}

#[test]
fn off_by_default_and_bad_configuration_is_refused_by_name() {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    assert_eq!(adapter.snapshot_stats().concurrency_limit, None);
    let err = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .adaptive_concurrency(ConcurrencyConfig {
            backoff: f64::NAN,
            ..ConcurrencyConfig::default()
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), Some("backoff"));
}
