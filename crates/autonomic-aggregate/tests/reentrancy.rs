//! A callback handed to the aggregator runs under no lock the aggregator takes again: it may
//! ask the same aggregator for another pass.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use autonomic_aggregate::SessionAggregator;
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};

/// Runs `f` on its own thread and waits for it at most `limit`: a deadlocked `f` fails the
/// test instead of hanging it (its thread is left blocked; the test process ends anyway).
fn finishes_within<R: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(f());
    });
    finished.recv_timeout(limit).expect("the call did not return: it deadlocked")
}

#[test]
fn a_callback_of_aggregate_with_can_ask_the_same_aggregator_for_a_breakdown() {
    let aggregator = Arc::new(SessionAggregator::new(Arc::new(KnowledgeBase::new())));
    let (a, b) = (TenantId::new(), TenantId::new());
    let sessions: Vec<_> = [a, a, b]
        .into_iter()
        .map(|t| {
            let h = SessionHandle::new(CaseId::new(), t).start().unwrap();
            h.record_task_execution_us(100);
            h.erased()
        })
        .collect();

    let (outer, inner) = finishes_within(Duration::from_secs(10), move || {
        aggregator.aggregate_with(&sessions, |agg| {
            let inner = aggregator.breakdown(&sessions);
            (agg.tenants().len(), inner)
        })
    });
    assert_eq!(outer, 2);
    assert_eq!(inner.total.total_sessions, 3);
    assert_eq!(inner.tenant(a).unwrap().total_sessions, 2);
}

#[test]
fn a_callback_that_panics_leaves_the_aggregator_usable() {
    let aggregator = Arc::new(SessionAggregator::new(Arc::new(KnowledgeBase::new())));
    let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
    let sessions = vec![h.erased()];
    let panicking = aggregator.clone();
    let s = sessions.clone();
    let result =
        thread::spawn(move || panicking.aggregate_with(&s, |_| panic!("callback panics"))).join();
    assert!(result.is_err());
    let report = finishes_within(Duration::from_secs(10), move || aggregator.breakdown(&sessions));
    assert_eq!(report.total.active_sessions, 1);
}
