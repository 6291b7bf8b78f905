//! The doctrine's bounds cannot be broken from outside: what an admitted decision holds can
//! be looked at, not given back (`decision.permit().gate().slots().release()` no longer
//! exists: see the `compile_fail` example on `Permit`), and requests too large to represent
//! are refused.

use std::sync::Arc;

use autonomic_adapter::{
    AdapterError, Analysis, FnPolicy, PolicyContext, Proposal, QRule, SessionAction, SessionAdapter,
};
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, MetricsSnapshot, SessionHandle, TenantId};

type Res = Result<(), Box<dyn std::error::Error>>;

fn session() -> SessionHandle {
    SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap()
}

/// With `max_concurrent_adaptations = 1`, a second adaptation is refused while the first is
/// held, whatever is done with the first decision's permit through the public API.
#[tokio::test]
async fn a_second_adaptation_is_refused_while_one_is_held() -> Res {
    let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .global_q(GlobalQ { max_concurrent_adaptations: 1, ..GlobalQ::default() })
        .build()?;
    let (first, second) = (session(), session());
    for _ in 0..4 {
        first.record_retry();
        second.record_retry();
    }
    let held = adapter.analyze_session(&first).await?.expect("the first is admitted");
    // Everything a permit offers outside the adapter is a read.
    let permit = held.permit();
    assert!(permit.holds_slot() && !permit.is_executed());
    assert_eq!(permit.reserved_resources(), 0.0);
    assert!(format!("{permit:?}").contains("holds_slot: true"));
    match adapter.evaluate(&second)? {
        Analysis::Refused(r) => assert_eq!(r.rule, QRule::MaxConcurrentAdaptations),
        other => panic!("a second adaptation got through: {other:?}"),
    }
    assert_eq!(adapter.active_adaptations(), 1);
    // Executing the first returns its slot once; a second execution changes nothing.
    adapter.execute_decision(&held, &first).await?;
    assert!(!held.permit().holds_slot());
    assert!(adapter.execute_decision(&held, &first).await.is_err());
    assert_eq!(adapter.active_adaptations(), 0);
    let next = adapter.analyze_session(&second).await?.expect("the slot came back");
    assert!(adapter.evaluate(&first)?.into_decision().is_none());
    drop(next);
    drop(held);
    assert_eq!(adapter.active_adaptations(), 0);
    Ok(())
}

/// Requests far beyond the capacity (what would have been `units >= 2^62` in the gate) are
/// refused before they reach the gate, and hold nothing.
#[tokio::test]
async fn huge_resource_requests_are_refused() -> Res {
    for amount in [(1u64 << 62) as f64, u64::MAX as f64, f64::MAX, 1e300, 1.000_001, -1.0] {
        let policy = FnPolicy(move |_: &MetricsSnapshot, _: &PolicyContext<'_>| {
            Some(Proposal::new(SessionAction::RequestResources { amount }, "asks for the moon"))
        });
        let adapter =
            SessionAdapter::builder(Arc::new(KnowledgeBase::new())).policy(policy).build()?;
        let handle = session();
        let err = adapter.evaluate(&handle).unwrap_err();
        assert!(
            matches!(&err, AdapterError::InvalidAction(e) if e.field == "amount"),
            "{amount}: {err}"
        );
        assert_eq!((adapter.active_adaptations(), adapter.granted_resources()), (0, 0.0));
        // The whole capacity is still there.
        let whole = FnPolicy(|_: &MetricsSnapshot, _: &PolicyContext<'_>| {
            Some(Proposal::new(SessionAction::RequestResources { amount: 0.9 }, "all of it"))
        });
        let adapter =
            SessionAdapter::builder(Arc::new(KnowledgeBase::new())).policy(whole).build()?;
        assert!(adapter.evaluate(&handle)?.into_decision().is_some());
    }
    Ok(())
}
