//! The doctrine view (typed, serializable, bounded) and the change feed (moves on each Q
//! change and each knowledge generation; awaited, never slept on).

use std::sync::Arc;

use autonomic_adapter::{
    DoctrineChange, DoctrineView, FnPolicy, Health, PolicyContext, Proposal, SessionAction,
    SessionAdapter, SessionPolicy, ShadowConfig, ViewOptions,
};
use autonomic_core::{
    CaseId, Evidence, GlobalKnowledge, GlobalQ, KnowledgeBase, MetricsSnapshot, SessionHandle,
    TenantId, WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge,
};

fn requesting() -> (Arc<KnowledgeBase>, SessionAdapter<impl SessionPolicy>) {
    let kb = Arc::new(KnowledgeBase::new());
    let policy = FnPolicy(|_: &MetricsSnapshot, _: &PolicyContext<'_>| {
        Some(Proposal::new(SessionAction::RequestResources { amount: 0.1 }, "slow"))
    });
    (kb.clone(), SessionAdapter::builder(kb).policy(policy).build().unwrap())
}

fn session(tenant: TenantId) -> SessionHandle {
    SessionHandle::new(CaseId::new(), tenant).start().unwrap()
}

fn figures(failed: u64, completed: u64, tasks: u64, violations: u64) -> WindowFigures {
    let counts = WindowCounts { failed, completed, tasks, violations, ..WindowCounts::default() };
    WindowFigures::new(counts, counts, WindowGauges::default(), 20, 100)
}

#[test]
fn the_view_holds_q_shadow_capacity_health_and_bounded_grants_and_round_trips() {
    let (kb, adapter) = requesting();
    let (failing, degraded, healthy, quiet) = (
        TenantId::from_u128(1),
        TenantId::from_u128(2),
        TenantId::from_u128(3),
        TenantId::from_u128(4),
    );
    kb.publish(GlobalKnowledge {
        windows: Some(WindowedKnowledge {
            tenants: vec![
                (failing, figures(30, 70, 1000, 0)),
                (degraded, figures(0, 100, 1000, 200)),
                (healthy, figures(0, 100, 1000, 1)),
                (quiet, figures(1, 1, 10, 0)),
            ],
            ..WindowedKnowledge::default()
        }),
        ..GlobalKnowledge::default()
    });
    adapter
        .set_shadow(ShadowConfig::of(GlobalQ { max_total_resources: 0.15, ..GlobalQ::default() }))
        .unwrap();
    let sessions: Vec<_> = (0..3).map(|_| session(healthy)).collect();
    for h in &sessions {
        let d = adapter.evaluate(h).unwrap().into_decision().unwrap();
        adapter.execute(&d, h).unwrap();
    }

    let view = adapter.doctrine_view_with(&ViewOptions { max_grants: 2 });
    assert_eq!(view.global_q, GlobalQ::default());
    assert_eq!(view.capacity.slots_in_use, 0);
    assert!((view.capacity.resources_granted - 0.3).abs() < 1e-9);
    assert_eq!(view.stats.executed_decisions, 3);
    let shadow = view.shadow.as_ref().unwrap();
    assert_eq!((shadow.total.admitted, shadow.total.refused_total()), (1, 2));
    assert_eq!((view.grants.sessions.len(), view.grants.sessions_holding), (2, 3));
    assert!(view.grants.truncated);
    assert!(view.grants.sessions.iter().all(|g| (g.amount - 0.1).abs() < 1e-9));
    let health = &view.tenant_health;
    assert!(health.windowed);
    assert_eq!(health.knowledge_generation, 1);
    let of = |t: TenantId| health.tenants.iter().find(|h| h.tenant == t).unwrap().figures;
    assert_eq!(of(failing).health, Health::Failing);
    assert_eq!(of(failing).failure_rate, Evidence::Judged(0.3));
    assert_eq!(of(degraded).health, Health::Degraded);
    assert_eq!(of(healthy).health, Health::Healthy);
    assert_eq!(of(quiet).health, Health::NotJudged);
    assert_eq!(health.other_tenants.unwrap().health, Health::NotJudged);

    let json = serde_json::to_value(&view).unwrap();
    for field in ["revision", "global_q", "shadow", "capacity", "stats", "tenant_health", "grants"]
    {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    assert_eq!(json["grants"]["truncated"], true);
    assert_eq!(json["tenant_health"]["tenants"][0]["figures"]["health"], "failing");
    assert_eq!(json["shadow"]["total"]["refused"][3]["rule"], "max_total_resources");
    let back: DoctrineView = serde_json::from_value(json).unwrap();
    assert_eq!(back, view);

    let all = adapter.doctrine_view();
    assert_eq!(all.grants.sessions.len(), 3);
    assert!(!all.grants.truncated);
}

#[test]
fn without_windows_the_health_lists_are_empty() {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let view = adapter.doctrine_view();
    assert!(!view.tenant_health.windowed);
    assert!(view.tenant_health.tenants.is_empty() && view.tenant_health.other_tenants.is_none());
    assert!(view.shadow.is_none());
    assert_eq!(view.revision.cause, DoctrineChange::Built);
}

#[tokio::test(flavor = "current_thread")]
async fn the_feed_fires_on_a_q_change_and_on_a_knowledge_generation() {
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = Arc::new(SessionAdapter::new(kb.clone()));
    let mut feed = adapter.doctrine_feed();
    assert!(!feed.has_changed().unwrap());

    // A waiter that is parked before the change and woken by it.
    let mut waiter_feed = adapter.doctrine_feed();
    let waiter = tokio::spawn(async move {
        waiter_feed.changed().await.unwrap();
        *waiter_feed.borrow_and_update()
    });
    tokio::task::yield_now().await; // let it park on `changed`
    adapter.update_global_q(GlobalQ { max_failure_rate: 0.01, ..GlobalQ::default() }).unwrap();
    let seen = waiter.await.unwrap();
    assert_eq!((seen.cause, seen.q_revision, seen.revision), (DoctrineChange::GlobalQ, 1, 1));

    feed.changed().await.unwrap();
    assert_eq!(feed.borrow_and_update().cause, DoctrineChange::GlobalQ);

    // Nothing new published: the feed does not move.
    assert!(!adapter.knowledge_published());
    assert!(!feed.has_changed().unwrap());
    kb.publish(GlobalKnowledge::default());
    assert!(adapter.knowledge_published());
    feed.changed().await.unwrap();
    let seen = *feed.borrow_and_update();
    assert_eq!(
        (seen.cause, seen.knowledge_generation, seen.revision),
        (DoctrineChange::Knowledge, 1, 2)
    );

    // A slow reader sees only the latest of several changes.
    adapter.set_shadow(ShadowConfig::default()).unwrap();
    adapter.promote_shadow().unwrap();
    feed.changed().await.unwrap();
    let seen = *feed.borrow_and_update();
    assert_eq!(seen.cause, DoctrineChange::ShadowPromoted);
    assert_eq!((seen.revision, seen.q_revision, seen.shadow_revision), (4, 2, 2));
    assert!(!feed.has_changed().unwrap());
}
