//! The cohort breaker (issue 12, part 5): 80% of pattern P's sessions fail; the breaker opens
//! for P only, other patterns keep their retries, shedding actions still pass, and it closes
//! after its half-open probes succeed (re-opens if one fails). Virtual time: `ManualClock`.

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::breaker::{BreakerConfig, BreakerState, BreakerView, Cohort};
use autonomic_adapter::{
    ActionKinds, Analysis, QRule, SessionAction, SessionAdapter, SessionEvent,
};
use autonomic_core::marker::Active;
use autonomic_core::{
    CaseId, ClockHandle, GlobalKnowledge, GlobalQ, KnowledgeBase, ManualClock, SessionHandle,
    TenantId, WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge,
};

const P: u8 = 7;
const OTHER: u8 = 9;

struct World {
    kb: Arc<KnowledgeBase>,
    adapter: SessionAdapter,
    manual: Arc<ManualClock>,
    clock: ClockHandle,
    tenant: TenantId,
}

fn world(config: BreakerConfig) -> World {
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = SessionAdapter::builder(kb.clone())
        .global_q(GlobalQ { max_concurrent_adaptations: 100, ..GlobalQ::default() })
        .breaker(config)
        .build()
        .unwrap();
    let manual = Arc::new(ManualClock::new());
    let clock = ClockHandle::custom(manual.clone());
    World { kb, adapter, manual, clock, tenant: TenantId::new() }
}

fn config() -> BreakerConfig {
    BreakerConfig { open_for_ms: 1_000, probes: 2, ..BreakerConfig::default() }
}

/// A pattern's window: `finished` sessions ended in the short window, `failed` of them
/// failed.
fn figures(finished: u64, failed: u64) -> WindowFigures {
    let short = WindowCounts { completed: finished - failed, failed, ..WindowCounts::default() };
    WindowFigures::new(short, short, WindowGauges::default(), 20, 100)
}

impl World {
    /// Publishes windows where each `(pattern, finished, failed)` is a pattern's short window
    /// (the tenant's is their sum) and lets the adapter observe them.
    fn publish(&self, patterns: &[(u8, u64, u64)]) {
        let (finished, failed) =
            patterns.iter().fold((0, 0), |(n, f), &(_, pn, pf)| (n + pn, f + pf));
        self.kb.publish(GlobalKnowledge {
            published_at_ns: self.clock.now_nanos(),
            windows: Some(WindowedKnowledge {
                length_ms: 60_000,
                short_ms: 5_000,
                patterns: patterns.iter().map(|&(p, n, f)| (p, figures(n, f))).collect(),
                tenants: vec![(self.tenant, figures(finished, failed))],
                ..WindowedKnowledge::default()
            }),
            ..GlobalKnowledge::default()
        });
        self.adapter.observe_knowledge(&self.clock);
    }

    /// A running session of `pattern` (of no pattern for `None`) on the virtual clock.
    fn started(&self, pattern: Option<u8>) -> SessionHandle<(), Active> {
        let builder = SessionHandle::builder(CaseId::new(), self.tenant).clock(self.clock.clone());
        let builder = match pattern {
            Some(p) => builder.pattern(p),
            None => builder,
        };
        builder.build().start().unwrap()
    }

    /// A running session of `pattern` that has retried past `max_retries`: the policy
    /// proposes `RetryTask`.
    fn retrying(&self, pattern: u8) -> SessionHandle<(), Active> {
        let handle = self.started(Some(pattern));
        for _ in 0..4 {
            handle.record_retry();
        }
        handle
    }

    fn retry(&self, handle: &SessionHandle<(), Active>) -> Analysis {
        let analysis = self.adapter.evaluate(handle).unwrap();
        if let Analysis::Admitted(decision) = &analysis {
            assert!(matches!(decision.action, SessionAction::RetryTask { .. }));
        }
        analysis
    }

    fn state_of(&self, cohort: Cohort) -> Option<BreakerState> {
        self.adapter.breakers().iter().find(|b| b.cohort == cohort).map(|b: &BreakerView| b.state)
    }

    fn breaker_events(&self) -> Vec<(Cohort, BreakerState)> {
        self.adapter
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                SessionEvent::BreakerChanged { cohort, state, .. } => Some((cohort, state)),
                _ => None,
            })
            .collect()
    }
}

fn refused_by_breaker(analysis: &Analysis) -> bool {
    analysis.refusal().is_some_and(|r| r.rule == QRule::CohortBreaker)
}

#[test]
fn a_sick_pattern_is_cut_off_alone_and_closes_after_its_probes_succeed() {
    let w = world(config());
    // 80% of P's sessions fail; the other pattern is healthy; the tenant (both) is at 41%.
    w.publish(&[(P, 100, 80), (OTHER, 100, 2)]);
    assert_eq!(w.state_of(Cohort::Pattern(P)), Some(BreakerState::Open));
    assert_eq!(w.adapter.breakers().len(), 1, "{:?}", w.adapter.breakers());
    assert_eq!(w.breaker_events(), vec![(Cohort::Pattern(P), BreakerState::Open)]);

    // P's retries are refused, as one decision of the breaker's, with the rate that opened it.
    let sick = w.retrying(P);
    let analysis = w.retry(&sick);
    assert!(refused_by_breaker(&analysis), "{analysis:?}");
    let refusal = analysis.refusal().unwrap();
    assert_eq!((refusal.observed, refusal.limit), (0.8, 0.5));
    // Another pattern keeps its retries.
    let fine = w.retrying(OTHER);
    assert!(matches!(w.retry(&fine), Analysis::Admitted(_)));
    // A shedding action of P passes: a session of P over its violation rate sheds load.
    let shedding = w.started(Some(P));
    for _ in 0..10 {
        shedding.record_task_execution_us(1_000);
    }
    for _ in 0..3 {
        shedding.record_violation();
    }
    let shed = w.adapter.evaluate(&shedding).unwrap().into_decision().expect("admitted");
    assert!(!ActionKinds::CONSUMING.contains(shed.action.kind()), "{:?}", shed.action);
    let stats = w.adapter.snapshot_stats();
    assert_eq!(stats.rejections.cohort_breaker, 1);
    assert_eq!((stats.breakers.open, stats.breakers.opened), (1, 1));

    // Not yet time: still refused.
    w.manual.advance(Duration::from_millis(999));
    assert!(refused_by_breaker(&w.retry(&sick)));
    // Half-open: two probe sessions pass (and their later proposals), a third does not.
    w.manual.advance(Duration::from_millis(1));
    let probe_a = w.retrying(P);
    let probe_b = w.retrying(P);
    assert!(matches!(w.retry(&probe_a), Analysis::Admitted(_)));
    assert!(matches!(w.retry(&probe_b), Analysis::Admitted(_)));
    assert!(matches!(w.retry(&probe_a), Analysis::Admitted(_)), "a probe stays a probe");
    assert!(refused_by_breaker(&w.retry(&sick)), "every probe place is taken");
    assert_eq!(w.state_of(Cohort::Pattern(P)), Some(BreakerState::HalfOpen));
    assert_eq!(w.adapter.snapshot_stats().breakers.probes_admitted, 2);

    // The probes complete: learned from their ends, not from the windows.
    probe_a.complete().unwrap();
    assert_eq!(w.state_of(Cohort::Pattern(P)), Some(BreakerState::HalfOpen));
    probe_b.complete().unwrap();
    assert_eq!(w.state_of(Cohort::Pattern(P)), Some(BreakerState::Closed));
    assert!(matches!(w.retry(&sick), Analysis::Admitted(_)));
    assert_eq!(
        w.breaker_events(),
        vec![
            (Cohort::Pattern(P), BreakerState::HalfOpen),
            (Cohort::Pattern(P), BreakerState::Closed)
        ]
    );
    // The next generation still carries the old failures: the closed breaker does not read
    // them again as news.
    w.publish(&[(P, 100, 80), (OTHER, 100, 2)]);
    assert!(matches!(w.retry(&sick), Analysis::Admitted(_)));
    let stats = w.adapter.snapshot_stats().breakers;
    assert_eq!((stats.open, stats.half_open, stats.closed), (0, 0, 1));
}

#[test]
fn a_failed_probe_reopens_and_a_late_one_counts_as_failed() {
    let w = world(BreakerConfig { probe_timeout_ms: 5_000, by_tenant: false, ..config() });
    w.publish(&[(P, 50, 40)]);
    w.manual.advance(Duration::from_secs(1));
    let probe = w.retrying(P);
    assert!(matches!(w.retry(&probe), Analysis::Admitted(_)));
    probe.fail().unwrap();
    assert_eq!(w.state_of(Cohort::Pattern(P)), Some(BreakerState::Open));
    assert!(refused_by_breaker(&w.retry(&w.retrying(P))));

    // Half-open again; this probe never ends: past the timeout, the loop's next observation
    // counts it as failed.
    w.manual.advance(Duration::from_secs(1));
    let stuck = w.retrying(P);
    assert!(matches!(w.retry(&stuck), Analysis::Admitted(_)));
    w.manual.advance(Duration::from_secs(5));
    w.adapter.observe_knowledge(&w.clock);
    assert_eq!(w.state_of(Cohort::Pattern(P)), Some(BreakerState::Open));
    let stats = w.adapter.snapshot_stats().breakers;
    assert_eq!((stats.opened, stats.probes_failed), (3, 2));
    // A cancelled probe gives no verdict: its place is free again.
    w.manual.advance(Duration::from_secs(1));
    let cancelled = w.retrying(P);
    assert!(matches!(w.retry(&cancelled), Analysis::Admitted(_)));
    cancelled.cancel().unwrap();
    let view = w.adapter.breakers();
    assert_eq!((view[0].state, view[0].probes_running), (BreakerState::HalfOpen, 0));
}

#[test]
fn too_little_evidence_never_opens_and_a_tenant_can_be_a_cohort() {
    let w = world(config());
    // Every session failed, but only 19 finished (the minimum is 20).
    w.publish(&[(P, 19, 19)]);
    assert!(w.adapter.breakers().is_empty());
    assert!(matches!(w.retry(&w.retrying(P)), Analysis::Admitted(_)));

    // Two patterns each at 60%: their tenant is too, and is cut off as a whole, including
    // sessions without a pattern.
    let w = world(BreakerConfig { by_pattern: false, ..config() });
    w.publish(&[(P, 50, 30), (OTHER, 50, 30)]);
    assert_eq!(w.state_of(Cohort::Tenant(w.tenant)), Some(BreakerState::Open));
    let no_pattern = w.started(None);
    for _ in 0..4 {
        no_pattern.record_retry();
    }
    assert!(refused_by_breaker(&w.adapter.evaluate(&no_pattern).unwrap()));
    // Another tenant's sessions are not concerned.
    let other =
        SessionHandle::builder(CaseId::new(), TenantId::new()).pattern(P).build().start().unwrap();
    for _ in 0..4 {
        other.record_retry();
    }
    assert!(matches!(w.adapter.evaluate(&other).unwrap(), Analysis::Admitted(_)));
    // The tenant leaves the windows: its breaker is forgotten (closed).
    w.kb.publish(GlobalKnowledge {
        windows: Some(WindowedKnowledge::default()),
        ..GlobalKnowledge::default()
    });
    w.adapter.observe_knowledge(&w.clock);
    assert!(w.adapter.breakers().is_empty());
    assert!(matches!(w.adapter.evaluate(&no_pattern).unwrap(), Analysis::Admitted(_)));
}

#[test]
fn concurrent_proposals_never_take_more_probe_places_than_configured() {
    let w = world(BreakerConfig { probes: 3, by_tenant: false, ..config() });
    w.publish(&[(P, 100, 90)]);
    w.manual.advance(Duration::from_secs(1));
    let sessions: Vec<_> = (0..64).map(|_| w.retrying(P)).collect();
    let admitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for chunk in sessions.chunks(8) {
            let (w, admitted) = (&w, &admitted);
            s.spawn(move || {
                for h in chunk {
                    if matches!(w.retry(h), Analysis::Admitted(_)) {
                        // Relaxed: a count read after the scope joins every thread.
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 3);
    let view = w.adapter.breakers();
    assert_eq!((view[0].state, view[0].probes_running), (BreakerState::HalfOpen, 3));
    assert_eq!(w.adapter.snapshot_stats().rejections.cohort_breaker, 61);
}
