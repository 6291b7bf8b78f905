//! The runtime's doctrine view and change feed: the loop's knowledge reaches both.

use std::sync::Arc;

use autonomic::{
    AutonomicRuntime, CaseId, ClockHandle, DoctrineChange, GlobalQ, ManualClock, RuntimeConfig,
    ShadowConfig, TenantId,
};

#[tokio::test(flavor = "current_thread")]
async fn each_loop_publication_moves_the_feed_and_the_view_shows_the_windows() {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(RuntimeConfig::default())
        .clock(ClockHandle::custom(clock.clone()))
        .build()
        .unwrap();
    let mut feed = runtime.doctrine_feed();
    let tenant = TenantId::new();
    for _ in 0..3 {
        let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
        h.record_task_execution_us(1_000);
        runtime.fail_session(h).unwrap();
    }
    runtime.adapter().set_shadow(ShadowConfig::of(GlobalQ::default())).unwrap();
    feed.changed().await.unwrap();
    assert_eq!(feed.borrow_and_update().cause, DoctrineChange::ShadowSet);

    runtime.run_once();
    feed.changed().await.unwrap();
    let seen = *feed.borrow_and_update();
    assert_eq!((seen.cause, seen.knowledge_generation), (DoctrineChange::Knowledge, 1));
    runtime.run_once();
    feed.changed().await.unwrap();
    assert_eq!(feed.borrow_and_update().knowledge_generation, 2);

    let view = runtime.doctrine_view();
    assert_eq!(view.revision.knowledge_generation, 2);
    assert!(view.tenant_health.windowed);
    let mine = view.tenant_health.tenants.iter().find(|t| t.tenant == tenant).unwrap();
    assert_eq!(mine.figures.finished, 3);
    assert!(view.shadow.is_some());
}
