//! The quick reference's adapter snippets, as close to the text as the types allow.
//!
//! Differences from the text (see docs/migrating-from-the-quick-reference.md):
//! * a session comes from `SessionHandle::new(..)` here (the table is another crate), and
//!   `start()` returns the active handle (typestate), so it is re-bound;
//! * `start()`, `complete()` and `mark_adapted()` return `Result` (a racing holder may have
//!   finished the session first), hence the `?`;
//! * "Global Q violated": `adapter.global_q()` and `adapter.active_adaptations()` are
//!   methods (lock-free reads), not `RwLock` fields to `.read().await`.

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::{Analysis, QRule, SessionAction, SessionAdapter, SessionEvent};
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, SessionState, TenantId};

type Res = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn quick_start() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = SessionAdapter::new(kb.clone());

    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant());
    let handle = handle.start()?;

    handle.record_task_execution(Duration::from_millis(10));

    let mut executed = 0;
    if let Some(decision) = adapter.analyze_session(&handle).await? {
        adapter.execute_decision(&decision, &handle).await?;
        executed += 1;
    }

    let done = handle.complete()?;
    // One healthy task: nothing to do, nothing refused, nothing held.
    assert_eq!(executed, 0);
    assert_eq!(done.state(), SessionState::Completed);
    let stats = adapter.stats().await;
    assert_eq!((stats.total_decisions, stats.rejections.total()), (0, 0));
    assert_eq!(stats.active_adaptations, 0);
    Ok(())
}

/// A task that fails its first `failures` attempts.
async fn execute_task(attempt: u32, failures: u32) -> Result<Duration, &'static str> {
    if attempt < failures { Err("transient failure") } else { Ok(Duration::from_millis(5)) }
}

#[tokio::test(start_paused = true)]
async fn with_adaptation() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = SessionAdapter::new(kb.clone());
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;

    let mut retried_after = Vec::new();
    let mut attempt = 0;
    let tasks = 3;
    let mut task = 0;
    while task < tasks {
        match execute_task(attempt, 6).await {
            Ok(duration) => {
                handle.record_task_execution(duration);
                task += 1;
            }
            Err(_e) => {
                handle.record_retry();

                // Check for adaptation
                if let Some(decision) = adapter.analyze_session(&handle).await? {
                    match decision.action {
                        SessionAction::RetryTask { backoff_ms, .. } => {
                            let before = tokio::time::Instant::now();
                            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                            retried_after.push((backoff_ms, before.elapsed()));
                            // Retry
                        }
                        SessionAction::DegradePerformance { .. } => {
                            handle.mark_adapted()?;
                            // Switch to degraded mode
                        }
                        _ => {}
                    }
                }
            }
        }
        attempt += 1;
    }

    // Six failures, max_retries 3: the 4th, 5th and 6th retries get a RetryTask each, with a
    // backoff growing from the 100 ms base (equal jitter: between half and all of 100, 200,
    // 400 ms).
    assert_eq!(retried_after.len(), 3, "{retried_after:?}");
    for ((backoff, slept), ceiling) in retried_after.iter().zip([100u64, 200, 400]) {
        assert!((ceiling / 2..=ceiling).contains(backoff), "{backoff} vs {ceiling}");
        assert!(slept.as_millis() >= u128::from(*backoff));
    }
    // The decisions were dropped without execution: their slots came back.
    assert_eq!(adapter.active_adaptations(), 0);
    assert_eq!(adapter.stats().await.total_decisions, 3);
    Ok(())
}

#[tokio::test]
async fn adapter_statistics() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    for _ in 0..4 {
        handle.record_retry();
    }
    let decision = adapter.analyze_session(&handle).await?.expect("retries over the limit");

    let stats = adapter.stats().await;

    println!("Active adaptations: {}", stats.active_adaptations);
    println!("Total decisions: {}", stats.total_decisions);
    println!("Tracked sessions: {}", stats.tracked_sessions);
    println!("Pending events: {}", stats.pending_events);
    assert_eq!(stats.active_adaptations, 1); // the decision holds its slot
    assert_eq!(stats.total_decisions, 1);
    assert_eq!(stats.tracked_sessions, 0); // nothing executed yet
    assert_eq!(stats.pending_events, 1); // ThresholdExceeded (retries)

    adapter.execute_decision(&decision, &handle).await?;
    let stats = adapter.stats().await;
    assert_eq!((stats.active_adaptations, stats.tracked_sessions), (0, 1));
    assert_eq!(stats.pending_events, 2); // + Adapted
    Ok(())
}

#[tokio::test]
async fn inspect_decision_history() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    for n in 0..3 {
        handle.record_retry();
        handle.record_retry();
        if n > 0 {
            let decision = adapter.analyze_session(&handle).await?.expect("over the limit");
            adapter.execute_decision(&decision, &handle).await?;
        }
    }
    let session_id = handle.id();

    let history = adapter.get_session_history(session_id).await;

    let mut lines = Vec::new();
    for decision in history {
        lines.push(format!("{}: {} - {}", decision.timestamp_ms, decision.action, decision.reason));
    }
    assert_eq!(lines.len(), 2);
    for line in &lines {
        println!("{line}");
        assert!(line.contains("retry task current after"), "{line}");
        assert!(line.ends_with("retries over max_retries"), "{line}");
    }
    Ok(())
}

#[tokio::test]
#[allow(clippy::single_match)] // the quick reference's text
async fn drain_events() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    adapter.on_session_started(&handle);
    for _ in 0..20 {
        handle.record_task_execution(Duration::from_millis(1));
    }
    for _ in 0..3 {
        handle.record_violation();
    }
    let decision = adapter.analyze_session(&handle).await?.expect("15% violations");
    adapter.execute_decision(&decision, &handle).await?;

    let events = adapter.drain_events().await;

    let mut adapted = Vec::new();
    for event in &events {
        match event {
            SessionEvent::Adapted { session_id, action, reason, .. } => {
                println!("Session {} adapted: {}", session_id, reason);
                adapted.push((*session_id, action.clone()));
            }
            _ => {}
        }
    }
    assert_eq!(adapted.len(), 1);
    assert_eq!(adapted[0].0, handle.id());
    assert!(matches!(adapted[0].1, SessionAction::DegradePerformance { .. }));
    // In order: Started, ViolationDetected (at analysis), Adapted (at execution).
    assert!(matches!(events[0], SessionEvent::Started { .. }));
    assert!(matches!(events[1], SessionEvent::ViolationDetected { violations: 3, tasks: 20, .. }));
    assert_eq!(events.len(), 3);
    assert!(adapter.drain_events().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn troubleshooting_global_q_violated() -> Res {
    let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .global_q(GlobalQ { max_concurrent_adaptations: 1, ..GlobalQ::default() })
        .build()?;
    let first = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    let second = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    for h in [&first, &second] {
        for _ in 0..4 {
            h.record_retry();
        }
    }
    let held = adapter.analyze_session(&first).await?.expect("admitted");
    // Adaptation rejected: analyze_session says None ...
    assert!(adapter.analyze_session(&second).await?.is_none());

    // ... check global Q
    let q = adapter.global_q();
    println!("Max concurrent adaptations: {}", q.max_concurrent_adaptations);
    println!("Current active: {}", adapter.active_adaptations());
    assert_eq!((q.max_concurrent_adaptations, adapter.active_adaptations()), (1, 1));

    // ... and the refusal was not silent: counted by rule, emitted with the values.
    assert_eq!(adapter.stats().await.rejections.max_concurrent_adaptations, 1);
    let rejected = adapter.drain_events().await.into_iter().find_map(|e| match e {
        SessionEvent::Rejected { session_id, rule, observed, limit, .. } => {
            Some((session_id, rule, observed, limit))
        }
        _ => None,
    });
    assert_eq!(rejected, Some((second.id(), QRule::MaxConcurrentAdaptations, 1.0, 1.0)));
    // `evaluate` tells "refused" from "nothing to do".
    assert!(matches!(adapter.evaluate(&second)?, Analysis::Refused(_)));
    drop(held);
    assert!(matches!(adapter.evaluate(&second)?, Analysis::Admitted(_)));
    Ok(())
}
