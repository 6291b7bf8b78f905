//! Retry budget: retries in flight bounded by a percentage of running sessions, with a
//! minimum (Envoy's `budget_percent` / `min_retry_concurrency`), through the public API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use autonomic_adapter::{Analysis, Budgets, QRule, RetryBudget, SessionAdapter};
use autonomic_adapter::{SessionAdapterConfig, SessionEvent};
use autonomic_core::{CaseId, GlobalKnowledge, GlobalQ, KnowledgeBase, SessionHandle, TenantId};

/// An adapter with a budget of 20% and a minimum of 3, room for 1000 adaptations, and
/// knowledge saying `running` sessions run.
fn adapter(running: u64) -> SessionAdapter {
    let kb = Arc::new(KnowledgeBase::new());
    kb.publish(GlobalKnowledge { active_sessions: running, ..GlobalKnowledge::default() });
    let retry_budget = Some(RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 });
    SessionAdapter::builder(kb)
        .global_q(GlobalQ { max_concurrent_adaptations: 1_000, ..GlobalQ::default() })
        .config(SessionAdapterConfig { event_capacity: 1_024, ..Default::default() })
        .budgets(Budgets { retry_budget, ..Budgets::default() })
        .build()
        .unwrap()
}

fn retrying() -> SessionHandle {
    let handle = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
    for _ in 0..4 {
        handle.record_retry();
    }
    handle
}

/// 100 running sessions all retrying at once: 20 are admitted, the other 80 refused by the
/// retry budget; executing one retry returns its token and lets the next one in.
#[test]
fn a_retry_storm_is_held_to_its_budget() {
    let adapter = adapter(100);
    let sessions: Vec<_> = (0..100).map(|_| retrying()).collect();
    let mut held = Vec::new();
    for session in &sessions {
        match adapter.evaluate(session).unwrap() {
            Analysis::Admitted(decision) => held.push(decision),
            Analysis::Refused(r) => {
                assert_eq!((r.rule, r.observed, r.limit), (QRule::RetryBudget, 20.0, 20.0))
            }
            Analysis::NoAction => unreachable!(),
        }
    }
    assert_eq!((held.len(), adapter.retries_in_flight()), (20, 20));
    assert_eq!(adapter.snapshot_stats().rejections.retry_budget, 80);
    assert!(
        adapter
            .take_events()
            .iter()
            .any(|e| matches!(e, SessionEvent::Rejected { rule: QRule::RetryBudget, .. }))
    );
    // Executing a retry returns its token.
    let first = held.remove(0);
    let owner = sessions.iter().find(|s| s.id() == first.session_id).unwrap();
    assert!(first.permit().holds_retry_token());
    adapter.execute(&first, owner).unwrap();
    assert!(!first.permit().holds_retry_token());
    assert_eq!(adapter.retries_in_flight(), 19);
    assert!(matches!(adapter.evaluate(&sessions[99]).unwrap(), Analysis::Admitted(_)));
}

/// With few sessions running the minimum applies: 5 running (20% is 1) still allow 3.
#[test]
fn never_fewer_than_the_minimum() {
    let adapter = adapter(5);
    let sessions: Vec<_> = (0..10).map(|_| retrying()).collect();
    let admitted: Vec<_> =
        sessions.iter().filter_map(|s| adapter.evaluate(s).unwrap().into_decision()).collect();
    assert_eq!(admitted.len(), 3);
    // Other kinds of action take no retry token and are not held by the budget.
    let slow = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
    for _ in 0..12 {
        slow.record_task_execution_us(150_000);
    }
    assert!(matches!(adapter.evaluate(&slow).unwrap(), Analysis::Admitted(_)));
    drop(admitted);
    assert_eq!(adapter.retries_in_flight(), 0);
}

/// The same storm from 64 concurrent tasks: retries in flight (counted by their holders)
/// never pass 20, and reach it.
#[test]
fn concurrent_retries_never_exceed_the_budget() {
    let adapter = Arc::new(adapter(100));
    let in_flight = Arc::new(AtomicU64::new(0));
    let max = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (adapter, in_flight, max) = (adapter.clone(), in_flight.clone(), max.clone());
                tokio::spawn(async move {
                    let handle = retrying();
                    for _ in 0..100 {
                        if let Analysis::Admitted(decision) = adapter.evaluate(&handle).unwrap() {
                            // SeqCst: a plain measurement of the gate's bound.
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(now, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            drop(decision);
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let max = max.load(Ordering::SeqCst);
    assert!(max <= 20, "{max} retries in flight");
    assert_eq!(max, 20, "the budget was never reached: the test did not exercise it");
    assert_eq!(adapter.retries_in_flight(), 0);
}
