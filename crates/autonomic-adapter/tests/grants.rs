//! Grants follow their session: a resource grant comes back to the ledger when its session
//! ends, however it ends, with the adapter used alone, the quick reference's way (Pattern 2:
//! analyse, execute, then `handle.complete()`; nobody calls `on_session_finished`).

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::{SessionAction, SessionAdapter, SessionAdapterConfig};
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};

type Error = Box<dyn std::error::Error>;
type Res = Result<(), Error>;

/// A running session whose tasks are too slow: the default policy asks for resources (0.05).
fn slow_session() -> Result<SessionHandle, Error> {
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
    for _ in 0..10 {
        handle.record_task_execution(Duration::from_millis(150));
    }
    Ok(handle)
}

/// Pattern 2's adaptation step: analyse, and execute what asks for resources. `true` if a
/// grant was executed.
#[allow(clippy::single_match)] // the quick reference's text
async fn adapt(adapter: &SessionAdapter, handle: &SessionHandle) -> Result<bool, Error> {
    if let Some(decision) = adapter.analyze_session(handle).await? {
        match decision.action {
            SessionAction::RequestResources { .. } => {
                adapter.execute_decision(&decision, handle).await?;
                return Ok(true);
            }
            _ => {}
        }
    }
    Ok(false)
}

/// The default capacity (0.9) holds 18 grants of 0.05. Forty sessions, each granted then
/// completed, one after another: every one of them is admitted, and nothing stays granted.
/// (Before grants followed their session, the 19th and every later request were refused.)
#[tokio::test]
async fn forty_sessions_granted_then_completed_are_all_admitted() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = SessionAdapter::new(kb.clone());
    for n in 0..40 {
        let handle = slow_session()?;
        assert!(adapt(&adapter, &handle).await?, "session {n} was refused its resources");
        assert!((adapter.granted_resources() - 0.05).abs() < 1e-12);
        handle.complete()?;
        assert_eq!(adapter.granted_resources(), 0.0, "session {n} kept its grant");
    }
    let stats = adapter.stats().await;
    assert_eq!((stats.executed_decisions, stats.rejections.total()), (40, 0));
    Ok(())
}

/// However the session ends: failed, cancelled by its owner, cancelled from outside through
/// another handle (what a table does), or dropped while still running.
#[tokio::test]
async fn a_grant_comes_back_however_its_session_ends() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let ends: [fn(SessionHandle) -> Res; 4] = [
        |h| h.fail().map(drop).map_err(Into::into),
        |h| h.cancel().map(drop).map_err(Into::into),
        |h| h.erased().cancel().map(drop).map_err(Into::into),
        |h| {
            drop(h); // the last handle goes away while the session is active
            Ok(())
        },
    ];
    for (n, end) in ends.into_iter().enumerate() {
        let handle = slow_session()?;
        assert!(adapt(&adapter, &handle).await?);
        assert!((adapter.granted_resources() - 0.05).abs() < 1e-12);
        end(handle)?;
        assert_eq!(adapter.granted_resources(), 0.0, "end #{n} kept the grant");
    }
    Ok(())
}

/// A session dropped while active, with other sessions still holding grants: only its own
/// grant comes back.
#[tokio::test]
async fn a_session_dropped_while_active_returns_only_its_grant() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let kept = slow_session()?;
    let dropped = slow_session()?;
    assert!(adapt(&adapter, &kept).await?);
    assert!(adapt(&adapter, &dropped).await?);
    assert!(adapt(&adapter, &dropped).await?); // a second grant joins the first
    assert!((adapter.granted_resources() - 0.15).abs() < 1e-12);
    let dropped_id = dropped.id();
    drop(dropped);
    assert!((adapter.granted_resources() - 0.05).abs() < 1e-12);
    assert_eq!(adapter.granted_to(dropped_id), 0.0);
    assert!((adapter.granted_to(kept.id()) - 0.05).abs() < 1e-12);
    assert_eq!(adapter.granted_sessions().len(), 1);
    Ok(())
}

/// The notifications stay: a grant is returned exactly once, whichever comes first.
#[tokio::test]
async fn notifications_and_ends_return_a_grant_exactly_once() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let other = slow_session()?;
    assert!(adapt(&adapter, &other).await?); // holds 0.05 throughout

    // The end first, then the notification.
    let handle = slow_session()?;
    assert!(adapt(&adapter, &handle).await?);
    let done = handle.complete()?;
    assert_eq!(adapter.on_session_completed(&done), 0.0);
    assert_eq!(adapter.forget_session(done.id()), 0.0);

    // An early release, then the end.
    let handle = slow_session()?;
    assert!(adapt(&adapter, &handle).await?);
    assert!((adapter.release_session(handle.id()) - 0.05).abs() < 1e-12);
    assert_eq!(adapter.release_session(handle.id()), 0.0);
    handle.complete()?;

    assert!((adapter.granted_resources() - 0.05).abs() < 1e-12, "only `other`'s grant is left");
    Ok(())
}

/// A decision executed after its session ended (through another handle) is refused and
/// holds nothing; one executed on a session that then ends at once gives its grant back.
#[tokio::test]
async fn a_grant_booked_as_the_session_ends_is_not_lost() -> Res {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    for _ in 0..100 {
        let handle = slow_session()?;
        let decision = adapter.analyze_session(&handle).await?.expect("admitted");
        let racer = handle.erased();
        let ender = std::thread::spawn(move || racer.cancel().is_ok());
        let executed = adapter.execute_decision(&decision, &handle).await;
        assert!(ender.join().expect("no panic"));
        drop(executed); // either outcome is fine; what matters is what is left held
        assert_eq!(adapter.granted_resources(), 0.0);
        assert_eq!(adapter.active_adaptations(), 0);
    }
    Ok(())
}

/// Past `max_tracked_sessions` the adapter keeps nothing for a new session, not even its
/// grant: the session alone holds it, and it still comes back when the session ends.
#[tokio::test]
async fn an_untracked_session_still_returns_its_grant() -> Res {
    let config = SessionAdapterConfig { max_tracked_sessions: 1, ..Default::default() };
    let adapter = SessionAdapter::with_config(Arc::new(KnowledgeBase::new()), config)?;
    let tracked = slow_session()?;
    assert!(adapt(&adapter, &tracked).await?);
    for _ in 0..40 {
        let untracked = slow_session()?;
        assert!(adapt(&adapter, &untracked).await?);
        assert!((adapter.granted_resources() - 0.10).abs() < 1e-12);
        assert_eq!(adapter.granted_to(untracked.id()), 0.0, "not tracked");
        untracked.complete()?;
        assert!((adapter.granted_resources() - 0.05).abs() < 1e-12);
    }
    let stats = adapter.stats().await;
    assert_eq!((stats.tracked_sessions, stats.untracked_decisions), (1, 40));
    Ok(())
}
