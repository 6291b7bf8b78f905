//! The shedding headroom: slots above Global Q's `max_concurrent_adaptations` that only actions
//! shedding load may take. Consuming actions fail closed at Q's bound; shedding ones stay
//! allowed up to the bound plus the headroom; the headroom survives changes of Q and budgets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use autonomic_adapter::{
    Analysis, Budgets, DoctrineChange, FnPolicy, PolicyContext, Proposal, QRule, RetryBudget,
    SessionAction, SessionAdapter, SessionPolicy,
};
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, MetricsSnapshot, SessionHandle, TenantId};

/// A session with a retry on record asks for a retry (consumes capacity); any other asks to
/// degrade (sheds load).
fn adapter(slots: u64) -> SessionAdapter<impl SessionPolicy> {
    let policy = FnPolicy(|m: &MetricsSnapshot, _: &PolicyContext<'_>| {
        Some(if m.retry_count > 0 {
            Proposal::new(SessionAction::retry_task("t", 10), "retry")
        } else {
            Proposal::new(SessionAction::DegradePerformance { factor: 0.5 }, "shed")
        })
    });
    SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .global_q(GlobalQ { max_concurrent_adaptations: slots, ..GlobalQ::default() })
        .policy(policy)
        .build()
        .unwrap()
}

fn session(retrying: bool) -> SessionHandle {
    let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
    if retrying {
        h.record_retry();
    }
    h
}

/// The rule and the bound of a refusal, or `None` if admitted.
fn refused<P: SessionPolicy>(adapter: &SessionAdapter<P>, retrying: bool) -> Option<(QRule, f64)> {
    match adapter.evaluate(&session(retrying)).unwrap() {
        Analysis::Refused(r) => Some((r.rule, r.limit)),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn consuming_actions_fail_closed_at_q_and_shedding_ones_use_the_headroom() {
    let adapter = adapter(2);
    assert_eq!(adapter.shedding_headroom(), 0);
    let mut held: Vec<_> = (0..2)
        .map(|_| adapter.evaluate(&session(true)).unwrap().into_decision().expect("within Q"))
        .collect();
    // Without headroom, Q's bound holds for every kind.
    assert_eq!(refused(&adapter, false), Some((QRule::MaxConcurrentAdaptations, 2.0)));

    let revision = adapter.doctrine_feed().borrow().revision;
    assert_eq!(adapter.set_shedding_headroom(3), 0);
    assert_eq!(adapter.doctrine_feed().borrow().cause, DoctrineChange::SheddingHeadroom);
    assert_eq!(adapter.doctrine_feed().borrow().revision, revision + 1);
    assert_eq!(adapter.doctrine_view().capacity.shedding_headroom, 3);
    for _ in 0..3 {
        let shed = adapter.evaluate(&session(false)).unwrap().into_decision();
        held.push(shed.expect("a shedding action within the headroom"));
    }
    assert_eq!(adapter.active_adaptations(), 5);
    // The headroom is used up, and a retry is refused at Q's bound.
    assert_eq!(refused(&adapter, false), Some((QRule::MaxConcurrentAdaptations, 5.0)));
    assert_eq!(refused(&adapter, true), Some((QRule::MaxConcurrentAdaptations, 2.0)));

    // Shedding actions holding slots count against Q's bound too: with the two retries gone,
    // three shedding slots are still above it, so a retry stays refused.
    held.drain(..2);
    assert_eq!(adapter.active_adaptations(), 3);
    assert_eq!(refused(&adapter, true), Some((QRule::MaxConcurrentAdaptations, 2.0)));
    held.clear();
    assert!(adapter.evaluate(&session(true)).unwrap().into_decision().is_some());
}

#[test]
fn the_headroom_survives_changes_of_q_and_budgets() {
    let adapter = adapter(1);
    adapter.set_shedding_headroom(2);
    adapter
        .update_global_q(GlobalQ { max_concurrent_adaptations: 3, ..GlobalQ::default() })
        .unwrap();
    assert_eq!(adapter.shedding_headroom(), 2);
    let budgets = Budgets { retry_budget: Some(RetryBudget::default()), ..Budgets::default() };
    adapter.update_budgets(budgets).unwrap();
    assert_eq!(adapter.shedding_headroom(), 2);
    let held: Vec<_> = (0..5)
        .map(|_| adapter.evaluate(&session(false)).unwrap().into_decision().expect("3 + 2"))
        .collect();
    assert_eq!(refused(&adapter, false), Some((QRule::MaxConcurrentAdaptations, 5.0)));
    // Setting the same headroom again changes nothing and announces nothing.
    let revision = *adapter.doctrine_feed().borrow();
    assert_eq!(adapter.set_shedding_headroom(2), 2);
    assert_eq!(*adapter.doctrine_feed().borrow(), revision);
    drop(held);
}

/// Four threads admit a mix of retries and degradations and hold each slot a moment: the
/// consuming actions in flight never pass Q's bound, and all of them never pass the bound
/// plus the headroom (instrumented maxima).
#[test]
fn under_contention_consuming_stay_within_q_and_all_within_q_plus_headroom() {
    const Q: u64 = 3;
    const HEADROOM: u64 = 2;
    let adapter = Arc::new(adapter(Q));
    adapter.set_shedding_headroom(HEADROOM);
    let consuming = Arc::new(AtomicU64::new(0));
    let (max_consuming, max_all) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let admitted = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (adapter, consuming) = (adapter.clone(), consuming.clone());
            let (max_consuming, max_all) = (max_consuming.clone(), max_all.clone());
            let admitted = admitted.clone();
            s.spawn(move || {
                for i in 0..2_000u64 {
                    let retrying = (i + t) % 2 == 0;
                    let h = session(retrying);
                    let Some(decision) = adapter.evaluate(&h).unwrap().into_decision() else {
                        continue;
                    };
                    // SeqCst: test instrumentation.
                    if retrying {
                        let now = consuming.fetch_add(1, Ordering::SeqCst) + 1;
                        max_consuming.fetch_max(now, Ordering::SeqCst);
                    }
                    max_all.fetch_max(adapter.active_adaptations(), Ordering::SeqCst);
                    admitted.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                    if retrying {
                        consuming.fetch_sub(1, Ordering::SeqCst);
                    }
                    adapter.execute(&decision, &h).unwrap();
                }
            });
        }
    });
    let (max_consuming, max_all) =
        (max_consuming.load(Ordering::SeqCst), max_all.load(Ordering::SeqCst));
    assert!(max_consuming <= Q, "{max_consuming} consuming actions in flight, over Q's {Q}");
    assert!(max_all <= Q + HEADROOM, "{max_all} in flight, over {}", Q + HEADROOM);
    assert!(admitted.load(Ordering::SeqCst) > 100);
    assert_eq!(adapter.active_adaptations(), 0);
}
