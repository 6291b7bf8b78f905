//! The policy sees its cohort (issue 12, cohort diagnosis): a custom policy reads its
//! session's pattern's and tenant's windows through `PolicyContext`, from the knowledge
//! published last, read when it asks.

mod support;

use std::sync::{Arc, Mutex};

use support::{retrying, running};

use autonomic_adapter::breaker::BreakerConfig;
use autonomic_adapter::{
    Analysis, CohortWindows, FnPolicy, PolicyContext, Proposal, QRule, SessionAction,
    SessionAdapter, SessionAdapterConfig, SessionPolicy,
};
use autonomic_core::{
    ClockHandle, Coverage, GlobalKnowledge, KnowledgeBase, MetricsSnapshot, TenantId, WindowCounts,
    WindowFigures, WindowGauges, WindowedKnowledge,
};

const P: u8 = 7;

/// A window where `failed` of `finished` sessions failed (judged from 20 finished).
fn figures(finished: u64, failed: u64) -> WindowFigures {
    let c = WindowCounts { completed: finished - failed, failed, ..WindowCounts::default() };
    WindowFigures::new(c, c, WindowGauges::default(), 20, 1)
}

fn publish(
    kb: &KnowledgeBase,
    patterns: Vec<(u8, WindowFigures)>,
    tenants: Vec<(TenantId, WindowFigures)>,
) {
    let mut tenants = tenants;
    tenants.sort_by_key(|(t, _)| *t);
    kb.publish(GlobalKnowledge {
        windows: Some(WindowedKnowledge { patterns, tenants, ..WindowedKnowledge::default() }),
        ..GlobalKnowledge::default()
    });
}

/// A policy that records the cohort it saw and proposes to log it.
fn recording() -> (impl SessionPolicy, Arc<Mutex<Vec<CohortWindows>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let policy = FnPolicy(move |_: &MetricsSnapshot, ctx: &PolicyContext<'_>| {
        let cohort = ctx.cohort();
        assert_eq!(ctx.pattern_window(), cohort.pattern, "one knowledge, one answer");
        assert_eq!(ctx.tenant_window(), cohort.tenant, "one knowledge, one answer");
        record.lock().unwrap().push(cohort);
        Some(Proposal::new(SessionAction::LogAndContinue { message: "seen".into() }, "record"))
    });
    (policy, seen)
}

/// An adapter with the recording policy, its knowledge base, and what the policy saw.
fn recording_adapter()
-> (Arc<KnowledgeBase>, SessionAdapter<impl SessionPolicy>, Arc<Mutex<Vec<CohortWindows>>>) {
    let kb = Arc::new(KnowledgeBase::new());
    let (policy, seen) = recording();
    let adapter = SessionAdapter::builder(kb.clone()).policy(policy).build().unwrap();
    (kb, adapter, seen)
}

#[test]
fn a_custom_policy_reads_its_patterns_and_tenants_windows() {
    let (kb, adapter, seen) = recording_adapter();
    let tenant = TenantId::new();
    let other_tenant = TenantId::new();
    publish(
        &kb,
        vec![(3, figures(100, 0)), (P, figures(100, 80))],
        vec![(tenant, figures(50, 10)), (other_tenant, figures(50, 50))],
    );

    adapter.evaluate(&running(tenant, Some(P), &ClockHandle::monotonic())).unwrap();
    let cohort = seen.lock().unwrap().pop().unwrap();
    assert_eq!(cohort.generation, 1);
    assert_eq!(cohort.pattern, Some(figures(100, 80)));
    assert_eq!(cohort.tenant, Some(figures(50, 10)));
    assert_eq!(cohort.worst_failure_rate(), Some(0.8));

    // A session without a pattern has no pattern window; its tenant's is still read.
    adapter.evaluate(&running(other_tenant, None, &ClockHandle::monotonic())).unwrap();
    let cohort = seen.lock().unwrap().pop().unwrap();
    assert_eq!(cohort.pattern, None);
    assert_eq!(cohort.tenant, Some(figures(50, 50)));
    assert_eq!(cohort.worst_failure_rate(), Some(1.0));
}

#[test]
fn the_cohort_is_read_when_asked_so_the_next_publication_is_seen() {
    let (kb, adapter, seen) = recording_adapter();
    let tenant = TenantId::new();
    let session = running(tenant, Some(P), &ClockHandle::monotonic());

    // Nothing published yet: an empty cohort, not an error.
    adapter.evaluate(&session).unwrap();
    assert_eq!(seen.lock().unwrap().pop().unwrap(), CohortWindows::default());

    publish(&kb, vec![(P, figures(100, 80))], vec![]);
    adapter.evaluate(&session).unwrap();
    let cohort = seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        (cohort.generation, cohort.pattern, cohort.tenant),
        (1, Some(figures(100, 80)), None)
    );

    publish(&kb, vec![(P, figures(100, 5))], vec![]);
    adapter.evaluate(&session).unwrap();
    assert_eq!(seen.lock().unwrap().pop().unwrap().worst_failure_rate(), Some(0.05));

    // A publication that did not cover every session is not the current knowledge: the
    // policy reads what the doctrine's rules read.
    kb.publish(GlobalKnowledge {
        coverage: Coverage::Pattern(P),
        windows: Some(WindowedKnowledge {
            patterns: vec![(P, figures(100, 100))],
            ..WindowedKnowledge::default()
        }),
        ..GlobalKnowledge::default()
    });
    adapter.evaluate(&session).unwrap();
    assert_eq!(seen.lock().unwrap().pop().unwrap().generation, 2);
}

#[test]
fn a_cohort_beyond_the_windows_caps_has_no_window_of_its_own() {
    let (kb, adapter, seen) = recording_adapter();
    kb.publish(GlobalKnowledge {
        windows: Some(WindowedKnowledge {
            patterns: vec![(1, figures(100, 0))],
            other_patterns: figures(100, 90),
            other_tenants: figures(100, 90),
            ..WindowedKnowledge::default()
        }),
        ..GlobalKnowledge::default()
    });
    adapter.evaluate(&running(TenantId::new(), Some(P), &ClockHandle::monotonic())).unwrap();
    let cohort = seen.lock().unwrap().pop().unwrap();
    assert_eq!((cohort.pattern, cohort.tenant), (None, None), "`other` is not one cohort");
    assert_eq!(cohort.worst_failure_rate(), None);
}

#[test]
fn a_context_built_by_hand_reads_knowledge_only_when_given_some() {
    let kb = KnowledgeBase::new();
    publish(&kb, vec![(P, figures(100, 80))], vec![]);
    let config = SessionAdapterConfig::default();
    let clock = ClockHandle::monotonic();
    let session = running(TenantId::new(), Some(P), &ClockHandle::monotonic());
    let bare = PolicyContext::new(session.id(), session.tenant_id(), Some(P), &config, &clock);
    assert_eq!(bare.cohort(), CohortWindows::default());
    assert_eq!(bare.pattern_window(), None);
    let with = bare.with_knowledge(&kb);
    assert_eq!(with.pattern_window(), Some(figures(100, 80)));
    assert_eq!(with.tenant_window(), None);
}

#[test]
fn windows_under_the_minimum_volume_judge_no_failure_rate() {
    let few = figures(10, 10); // 10 finished, 20 needed
    let cohort = CohortWindows { pattern: Some(few), tenant: Some(figures(40, 4)), generation: 1 };
    assert_eq!(cohort.worst_failure_rate(), Some(0.1), "the unjudged pattern is left out");
}

#[test]
fn the_default_policy_sheds_instead_of_retrying_into_a_failing_cohort_when_asked() {
    let shedding = SessionAdapterConfig {
        shed_retries_at_cohort_failure_rate: Some(0.5),
        ..SessionAdapterConfig::default()
    };
    let clock = ClockHandle::monotonic();
    let tenant = TenantId::new();
    let action = |config: &SessionAdapterConfig, pattern: WindowFigures| {
        let kb = Arc::new(KnowledgeBase::new());
        publish(&kb, vec![(P, pattern)], vec![(tenant, figures(100, 0))]);
        let adapter = SessionAdapter::builder(kb).config(config.clone()).build().unwrap();
        adapter
            .evaluate(&retrying(tenant, Some(P), &clock))
            .unwrap()
            .into_decision()
            .unwrap()
            .action
            .clone()
    };
    let is_retry = |a: &SessionAction| matches!(a, SessionAction::RetryTask { .. });

    // Off by default: a retry, however the cohort fares.
    assert!(is_retry(&action(&SessionAdapterConfig::default(), figures(100, 80))));
    // On: the cohort fails 80% (judged): a degradation instead, by 1 - 0.8, clamped to 0.5.
    assert_eq!(
        action(&shedding, figures(100, 80)),
        SessionAction::DegradePerformance { factor: 0.5 }
    );
    // On, the cohort under the threshold or without enough evidence: a retry.
    assert!(is_retry(&action(&shedding, figures(100, 40))));
    assert!(is_retry(&action(&shedding, figures(10, 10))));
}

#[test]
fn shedding_passes_the_cohort_breaker_a_retry_does_not() {
    let tenant = TenantId::new();
    let clock = ClockHandle::monotonic();
    let run = |config: SessionAdapterConfig| {
        let kb = Arc::new(KnowledgeBase::new());
        let adapter = SessionAdapter::builder(kb.clone())
            .config(config)
            .breaker(BreakerConfig::default())
            .build()
            .unwrap();
        publish(&kb, vec![(P, figures(100, 80))], vec![]);
        adapter.observe_knowledge(&clock);
        adapter.evaluate(&retrying(tenant, Some(P), &clock)).unwrap()
    };
    match run(SessionAdapterConfig::default()) {
        Analysis::Refused(r) => assert_eq!(r.rule, QRule::CohortBreaker),
        other => panic!("{other:?}"),
    }
    let shedding = SessionAdapterConfig {
        shed_retries_at_cohort_failure_rate: Some(0.5),
        ..SessionAdapterConfig::default()
    };
    let decision = run(shedding).into_decision().expect("a shedding action is admitted");
    assert!(matches!(decision.action, SessionAction::DegradePerformance { .. }));
}
