//! The adapter end to end: every action kind, every Global Q rule (refuses when violated,
//! admits when not), validation, bounded buffers, and what permits and grants hold.

use std::sync::Arc;

use autonomic_adapter::{
    ActionKind, AdapterError, AdmittedDecision, Analysis, FnPolicy, Metric, PolicyContext,
    Proposal, QRule, SessionAction, SessionAdapter, SessionAdapterConfig, SessionEvent,
};
use autonomic_core::{
    CaseId, GlobalKnowledge, GlobalQ, KnowledgeBase, MetricsSnapshot, SessionHandle, SessionState,
    TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

fn session() -> SessionHandle {
    SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap()
}

fn adapter_with(q: GlobalQ, config: SessionAdapterConfig) -> (Arc<KnowledgeBase>, SessionAdapter) {
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = SessionAdapter::builder(kb.clone()).global_q(q).config(config).build().unwrap();
    (kb, adapter)
}

fn adapter() -> (Arc<KnowledgeBase>, SessionAdapter) {
    adapter_with(GlobalQ::default(), SessionAdapterConfig::default())
}

/// A session the default policy answers with `RetryTask`.
fn needs_retry() -> SessionHandle {
    let h = session();
    (0..4).for_each(|_| h.record_retry());
    h
}

/// A session the default policy answers with `RequestResources`.
fn too_slow() -> SessionHandle {
    let h = session();
    (0..10).for_each(|_| h.record_task_execution_us(150_000));
    h
}

fn admitted(analysis: Analysis) -> AdmittedDecision {
    match analysis {
        Analysis::Admitted(d) => d,
        other => panic!("expected an admitted decision, got {other:?}"),
    }
}

fn refused_by(analysis: Analysis) -> (QRule, f64, f64) {
    match analysis {
        Analysis::Refused(r) => (r.rule, r.observed, r.limit),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ------------------------------------------------------------------ action kinds -------

#[test]
fn every_action_kind_is_proposed_admitted_and_executed() -> Res {
    let (_, adapter) = adapter();
    let off = SessionAdapterConfig { enable_auto_degrade: false, ..Default::default() };
    let (_, no_degrade) = adapter_with(GlobalQ::default(), off);

    let retry = needs_retry();
    let degrade = session();
    (0..20).for_each(|_| degrade.record_task_execution_us(1_000));
    (0..3).for_each(|_| degrade.record_violation()); // 15%
    let shed = session();
    (0..20).for_each(|_| shed.record_task_execution_us(1_000));
    (0..5).for_each(|_| shed.record_violation()); // 25% > 2 x 10%
    let slow = too_slow();
    let failed = session();
    let failed = failed.fail()?;
    let young = session();
    young.record_task_execution_us(1_000);
    young.record_violation(); // 100%, but one task
    let ignored = session();
    (0..20).for_each(|_| ignored.record_task_execution_us(1_000));
    (0..3).for_each(|_| ignored.record_violation());

    let cases: [(&SessionAdapter, SessionHandle<(), autonomic_core::marker::AnyState>, ActionKind);
        7] = [
        (&adapter, retry.erased(), ActionKind::RetryTask),
        (&adapter, degrade.erased(), ActionKind::DegradePerformance),
        (&adapter, shed.erased(), ActionKind::CancelOptionalTasks),
        (&adapter, slow.erased(), ActionKind::RequestResources),
        (&adapter, failed.erased(), ActionKind::TriggerCompensation),
        (&adapter, young.erased(), ActionKind::LogAndContinue),
        (&no_degrade, ignored.erased(), ActionKind::LogAndContinue),
    ];
    for (adapter, handle, kind) in cases {
        let decision = admitted(adapter.evaluate(&handle)?);
        assert_eq!(decision.action.kind(), kind, "{:?}", decision.action);
        assert!(decision.global_q_verified);
        assert_eq!(adapter.active_adaptations(), 1);
        let state_before = handle.state();
        adapter.execute(&decision, &handle)?;
        assert_eq!(adapter.active_adaptations(), 0, "{kind}: slot held after execution");
        let expected_state =
            if kind.marks_adapted() { SessionState::Adapted } else { state_before };
        assert_eq!(handle.state(), expected_state, "{kind}");
        let history = adapter.session_history(handle.id());
        assert_eq!(history.last(), Some(decision.record()), "{kind}");
        let adapted_events = adapter
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, SessionEvent::Adapted { .. }))
            .count();
        assert_eq!(adapted_events, usize::from(kind != ActionKind::LogAndContinue), "{kind}");
    }
    // The grant of the slow session stays until it is released.
    assert!((adapter.granted_to(slow.id()) - 0.05).abs() < 1e-12);
    assert!((adapter.granted_resources() - 0.05).abs() < 1e-12);
    Ok(())
}

#[test]
fn healthy_sessions_leave_no_trace() -> Res {
    let (_, adapter) = adapter();
    let h = session();
    (0..100).for_each(|_| h.record_task_execution_us(5_000));
    for _ in 0..10 {
        assert!(adapter.evaluate(&h)?.is_no_action());
    }
    let expected =
        autonomic_adapter::AdapterStats { max_concurrent_adaptations: 10, ..Default::default() };
    assert_eq!(adapter.snapshot_stats(), expected);
    Ok(())
}

// ---------------------------------------------------------------- Global Q rules -------

#[test]
fn min_slo_compliance_refuses_below_and_admits_at_the_limit() -> Res {
    let (kb, adapter) = adapter();
    let h = needs_retry();
    kb.publish(GlobalKnowledge { slo_compliance: 0.94, ..Default::default() });
    assert_eq!(refused_by(adapter.evaluate(&h)?), (QRule::MinSloCompliance, 0.94, 0.95));
    kb.publish(GlobalKnowledge { slo_compliance: 0.95, ..Default::default() });
    admitted(adapter.evaluate(&h)?);
    assert_eq!(adapter.snapshot_stats().rejections.min_slo_compliance, 1);
    Ok(())
}

#[test]
fn max_failure_rate_refuses_above_and_admits_at_the_limit() -> Res {
    let (kb, adapter) = adapter();
    let h = needs_retry();
    kb.publish(GlobalKnowledge { failure_rate: 0.06, ..Default::default() });
    assert_eq!(refused_by(adapter.evaluate(&h)?), (QRule::MaxFailureRate, 0.06, 0.05));
    kb.publish(GlobalKnowledge { failure_rate: 0.05, ..Default::default() });
    admitted(adapter.evaluate(&h)?);
    assert_eq!(adapter.snapshot_stats().rejections.max_failure_rate, 1);
    Ok(())
}

#[test]
fn max_concurrent_adaptations_refuses_when_full_and_admits_when_a_slot_returns() -> Res {
    let q = GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() };
    let (_, adapter) = adapter_with(q, SessionAdapterConfig::default());
    let sessions: Vec<_> = (0..3).map(|_| needs_retry()).collect();
    let first = admitted(adapter.evaluate(&sessions[0])?);
    let _second = admitted(adapter.evaluate(&sessions[1])?);
    assert_eq!(
        refused_by(adapter.evaluate(&sessions[2])?),
        (QRule::MaxConcurrentAdaptations, 2.0, 2.0)
    );
    adapter.execute(&first, &sessions[0])?; // returns the slot
    admitted(adapter.evaluate(&sessions[2])?);
    assert_eq!(adapter.snapshot_stats().rejections.max_concurrent_adaptations, 1);
    Ok(())
}

#[test]
fn max_total_resources_refuses_past_capacity_and_admits_after_release() -> Res {
    let q = GlobalQ { max_total_resources: 0.1, ..GlobalQ::default() };
    let (_, adapter) = adapter_with(q, SessionAdapterConfig::default());
    let (a, b, c) = (too_slow(), too_slow(), too_slow());
    adapter.execute(&admitted(adapter.evaluate(&a)?), &a)?;
    adapter.execute(&admitted(adapter.evaluate(&b)?), &b)?; // 0.1: exactly at capacity
    let (rule, observed, limit) = refused_by(adapter.evaluate(&c)?);
    assert_eq!((rule, limit), (QRule::MaxTotalResources, 0.1));
    assert!((observed - 0.15).abs() < 1e-12, "{observed}");
    // A session that ends gives its grant back, by itself; the notification finds nothing
    // left to release.
    let done = a.complete()?;
    assert!((adapter.granted_resources() - 0.05).abs() < 1e-12);
    assert_eq!(adapter.on_session_completed(&done), 0.0);
    admitted(adapter.evaluate(&c)?);
    assert_eq!(adapter.snapshot_stats().rejections.max_total_resources, 1);
    Ok(())
}

#[test]
fn verify_global_q_off_skips_knowledge_rules_but_not_capacity() -> Res {
    let config = SessionAdapterConfig { verify_global_q: false, ..Default::default() };
    let q = GlobalQ { max_concurrent_adaptations: 1, ..GlobalQ::default() };
    let (kb, adapter) = adapter_with(q, config);
    kb.publish(GlobalKnowledge { slo_compliance: 0.0, failure_rate: 1.0, ..Default::default() });
    let held = admitted(adapter.evaluate(&needs_retry())?);
    assert!(!held.global_q_verified);
    assert_eq!(refused_by(adapter.evaluate(&needs_retry())?).0, QRule::MaxConcurrentAdaptations);
    Ok(())
}

#[test]
fn updated_q_applies_to_the_next_admission_without_revoking_permits() -> Res {
    let (_, adapter) = adapter();
    let held: Vec<_> =
        (0..3).map(|_| admitted(adapter.evaluate(&needs_retry()).unwrap())).collect();
    adapter.update_global_q(GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() })?;
    assert_eq!(adapter.active_adaptations(), 3); // not revoked
    assert_eq!(
        refused_by(adapter.evaluate(&needs_retry())?),
        (QRule::MaxConcurrentAdaptations, 3.0, 2.0)
    );
    drop(held);
    admitted(adapter.evaluate(&needs_retry())?);
    assert!(
        adapter
            .update_global_q(GlobalQ { max_total_resources: f64::NAN, ..GlobalQ::default() })
            .is_err()
    );
    assert_eq!(adapter.global_q().max_concurrent_adaptations, 2);
    Ok(())
}

#[test]
fn refusals_are_emitted_with_rule_and_values() -> Res {
    let (kb, adapter) = adapter();
    let h = needs_retry();
    kb.publish(GlobalKnowledge { failure_rate: 0.5, ..Default::default() });
    assert!(adapter.evaluate(&h)?.refusal().is_some());
    let events = adapter.take_events();
    assert!(matches!(
        events[0],
        SessionEvent::ThresholdExceeded { metric: Metric::Retries, observed: 4.0, limit: 3.0, .. }
    ));
    match &events[1] {
        SessionEvent::Rejected { session_id, action, rule, observed, limit, .. } => {
            assert_eq!(*session_id, h.id());
            assert_eq!(action.kind(), ActionKind::RetryTask);
            assert_eq!((*rule, *observed, *limit), (QRule::MaxFailureRate, 0.5, 0.05));
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

// ------------------------------------------------------------------- validation -------

#[test]
fn invalid_proposals_are_errors_and_hold_nothing() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let bad_action = SessionAdapter::builder(kb.clone())
        .policy(FnPolicy(|_: &MetricsSnapshot, _: &PolicyContext<'_>| {
            Some(Proposal::new(SessionAction::RequestResources { amount: f64::NAN }, "bad"))
        }))
        .build()?;
    let err = bad_action.evaluate(&session()).unwrap_err();
    assert!(matches!(err, AdapterError::InvalidAction(ref e) if e.field == "amount"), "{err}");
    let bad_impact = SessionAdapter::builder(kb)
        .policy(FnPolicy(|_: &MetricsSnapshot, _: &PolicyContext<'_>| {
            Some(Proposal::new(SessionAction::CancelOptionalTasks, "bad").with_impact(-1.0))
        }))
        .build()?;
    assert_eq!(bad_impact.evaluate(&session()).unwrap_err(), AdapterError::InvalidImpact(-1.0));
    for a in [&bad_action.snapshot_stats(), &bad_impact.snapshot_stats()] {
        assert_eq!((a.active_adaptations, a.total_decisions, a.pending_events), (0, 0, 0));
    }
    Ok(())
}

#[test]
fn invalid_configuration_is_refused_when_building() {
    let kb = Arc::new(KnowledgeBase::new());
    let err = SessionAdapter::with_config(
        kb.clone(),
        SessionAdapterConfig { max_violation_rate: -1.0, ..Default::default() },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "max_violation_rate = -1: must be between 0.0 and 1.0");
    let err = SessionAdapter::builder(kb)
        .global_q(GlobalQ { max_failure_rate: 1.5, ..GlobalQ::default() })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), Some("max_failure_rate"));
}

// ------------------------------------------------------------------------ bounds -------

#[test]
fn event_buffer_is_bounded_and_counts_overflow() -> Res {
    let config = SessionAdapterConfig { event_capacity: 4, ..Default::default() };
    let (_, adapter) = adapter_with(GlobalQ::default(), config);
    for _ in 0..10 {
        adapter.on_session_started(&session());
    }
    let stats = adapter.snapshot_stats();
    assert_eq!((stats.pending_events, stats.events_dropped), (4, 6));
    assert_eq!(adapter.take_events().len(), 4);
    assert_eq!(adapter.snapshot_stats().pending_events, 0);
    Ok(())
}

#[test]
fn history_is_a_bounded_ring_and_tracked_sessions_are_capped() -> Res {
    let config = SessionAdapterConfig {
        history_per_session: 2,
        max_tracked_sessions: 2,
        ..Default::default()
    };
    let (_, adapter) = adapter_with(GlobalQ::default(), config);
    let h = needs_retry();
    for _ in 0..5 {
        h.record_retry();
        let d = admitted(adapter.evaluate(&h)?);
        adapter.execute(&d, &h)?;
    }
    assert_eq!(adapter.session_history(h.id()).len(), 2);
    let other = needs_retry();
    adapter.execute(&admitted(adapter.evaluate(&other)?), &other)?;
    let untracked = needs_retry();
    adapter.execute(&admitted(adapter.evaluate(&untracked)?), &untracked)?;
    let stats = adapter.snapshot_stats();
    assert_eq!((stats.tracked_sessions, stats.untracked_decisions), (2, 1));
    assert!(adapter.session_history(untracked.id()).is_empty());
    // Forgetting a session frees its place.
    adapter.forget_session(h.id());
    assert!(adapter.session_history(h.id()).is_empty());
    adapter.execute(&admitted(adapter.evaluate(&untracked)?), &untracked)?;
    assert_eq!(adapter.session_history(untracked.id()).len(), 1);
    adapter.clear();
    assert_eq!(adapter.snapshot_stats().tracked_sessions, 0);
    Ok(())
}

// ------------------------------------------------------------ permits and grants -------

#[test]
fn a_dropped_decision_returns_its_slot_and_reservation() -> Res {
    let (_, adapter) = adapter();
    let slow = too_slow();
    let decision = admitted(adapter.evaluate(&slow)?);
    assert_eq!(adapter.active_adaptations(), 1);
    assert!((adapter.granted_resources() - 0.05).abs() < 1e-12); // reserved at admission
    drop(decision);
    assert_eq!((adapter.active_adaptations(), adapter.granted_resources()), (0, 0.0));
    assert!(adapter.session_history(slow.id()).is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_returns_what_its_decision_held() -> Res {
    let (_, adapter) = adapter();
    let adapter = Arc::new(adapter);
    let (holding_tx, holding_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn({
        let adapter = adapter.clone();
        async move {
            let slow = too_slow();
            let decision = adapter.analyze_session(&slow).await.unwrap().unwrap();
            holding_tx.send(()).unwrap();
            std::future::pending::<()>().await; // never gets to execute
            adapter.execute_decision(&decision, &slow).await.unwrap();
        }
    });
    holding_rx.await?;
    assert_eq!(adapter.active_adaptations(), 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!((adapter.active_adaptations(), adapter.granted_resources()), (0, 0.0));
    Ok(())
}

#[test]
fn an_unpolled_analysis_holds_nothing_and_futures_are_send() {
    let (_, adapter) = adapter();
    let h = needs_retry();
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let future = assert_send(adapter.analyze_session(&h));
    drop(future);
    assert_eq!(adapter.snapshot_stats().total_decisions, 0);
}

#[test]
fn execution_errors_return_what_the_decision_held() -> Res {
    let (_, adapter) = adapter();
    let (_, other_adapter) = adapter_with(GlobalQ::default(), SessionAdapterConfig::default());
    let a = needs_retry();
    let b = needs_retry();
    let d = admitted(adapter.evaluate(&a)?);
    assert!(matches!(adapter.execute(&d, &b), Err(AdapterError::WrongSession { .. })));
    assert!(matches!(other_adapter.execute(&d, &a), Err(AdapterError::ForeignDecision { .. })));
    adapter.execute(&d, &a)?;
    assert_eq!(adapter.execute(&d, &a), Err(AdapterError::AlreadyExecuted { session: a.id() }));

    // The session ends between admission and execution.
    let slow = too_slow();
    let d = admitted(adapter.evaluate(&slow)?);
    let watcher = slow.erased();
    slow.cancel()?;
    let err = adapter.execute(&d, &watcher).unwrap_err();
    assert_eq!(
        err,
        AdapterError::SessionNotRunning { session: watcher.id(), state: SessionState::Cancelled }
    );
    assert_eq!((adapter.active_adaptations(), adapter.granted_resources()), (0, 0.0));
    Ok(())
}

#[test]
fn grants_last_until_the_session_ends_or_is_released() -> Res {
    let (_, adapter) = adapter();
    let slow = too_slow();
    for _ in 0..3 {
        adapter.execute(&admitted(adapter.evaluate(&slow)?), &slow)?;
    }
    assert!((adapter.granted_to(slow.id()) - 0.15).abs() < 1e-12);
    // Not finished yet: on_session_finished refuses and releases nothing.
    assert!(adapter.on_session_finished(&slow).is_err());
    assert!((adapter.granted_resources() - 0.15).abs() < 1e-12);
    let failed = slow.fail()?; // the end returns the grant
    assert_eq!(adapter.granted_resources(), 0.0);
    assert_eq!(adapter.granted_to(failed.id()), 0.0);
    assert_eq!(adapter.on_session_failed(&failed), 0.0); // returned exactly once
    assert_eq!(adapter.session_history(failed.id()).len(), 3); // history stays
    // release_session / forget_session / clear each return grants too.
    let s = too_slow();
    adapter.execute(&admitted(adapter.evaluate(&s)?), &s)?;
    assert_eq!(adapter.granted_sessions().len(), 1);
    assert_eq!(adapter.granted_sessions()[0].0, s.id());
    assert!((adapter.release_session(s.id()) - 0.05).abs() < 1e-12);
    assert!(adapter.granted_sessions().is_empty()); // history stays, the grant is gone
    adapter.execute(&admitted(adapter.evaluate(&s)?), &s)?;
    assert!((adapter.forget_session(s.id()) - 0.05).abs() < 1e-12);
    adapter.execute(&admitted(adapter.evaluate(&s)?), &s)?;
    assert!((adapter.clear() - 0.05).abs() < 1e-12);
    assert_eq!(adapter.granted_resources(), 0.0);
    // Released early, the grant is not returned again when the session ends.
    adapter.execute(&admitted(adapter.evaluate(&s)?), &s)?;
    assert!((adapter.release_session(s.id()) - 0.05).abs() < 1e-12);
    drop(s.complete()?);
    assert_eq!(adapter.granted_resources(), 0.0);
    Ok(())
}

// ------------------------------------------------------------------------ events -------

#[test]
fn each_lifecycle_notification_emits_its_event() -> Res {
    let (_, adapter) = adapter();
    let (a, b, c) = (session(), session(), session());
    adapter.on_session_started(&a);
    let a = a.complete()?;
    let b = b.fail()?;
    let c = c.cancel()?;
    adapter.on_session_completed(&a);
    adapter.on_session_failed(&b);
    adapter.on_session_cancelled(&c);
    let events = adapter.take_events();
    assert!(
        matches!(events[0], SessionEvent::Started { session_id, tenant_id, .. } if session_id == a.id() && tenant_id == TenantId::default_tenant())
    );
    assert!(
        matches!(events[1], SessionEvent::Completed { session_id, duration_ms: Some(_), .. } if session_id == a.id())
    );
    assert!(matches!(events[2], SessionEvent::Failed { session_id, .. } if session_id == b.id()));
    assert!(
        matches!(events[3], SessionEvent::Cancelled { session_id, .. } if session_id == c.id())
    );
    assert_eq!(events.len(), 4);
    Ok(())
}

#[test]
fn threshold_events_carry_the_numbers() -> Res {
    let (_, adapter) = adapter();
    let slow = too_slow();
    admitted(adapter.evaluate(&slow)?);
    let events = adapter.take_events();
    assert_eq!(
        events,
        vec![SessionEvent::ThresholdExceeded {
            session_id: slow.id(),
            timestamp_ms: events[0].timestamp_ms(),
            metric: Metric::MeanLatencyUs,
            observed: 150_000.0,
            limit: 100_000.0,
        }]
    );
    Ok(())
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SessionAdapter>();
    assert_send_sync::<SessionAdapter<Box<dyn autonomic_adapter::SessionPolicy>>>();
    assert_send_sync::<AdmittedDecision>();
    assert_send_sync::<autonomic_adapter::SessionDecision>();
    assert_send_sync::<SessionEvent>();
}
