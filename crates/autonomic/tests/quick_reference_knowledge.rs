//! Footgun: the quick reference's pattern 4 builds its aggregator on the knowledge base the
//! adapter reads (`SessionAggregator::new(kb.clone())`) and aggregates; a user expects `kb`
//! to learn from it. It does, saying what the aggregate covered, and an aggregate of part of
//! the sessions never passes for the whole picture the doctrine gate admits on.

use std::sync::Arc;
use std::time::Duration;

use autonomic::{
    Analysis, CaseId, Coverage, KnowledgeBase, QRule, SessionAdapter, SessionAggregator,
    SessionTable, TableSource, TenantId,
};

type Res = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn pattern_4_feeds_the_knowledge_base_it_was_built_with() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let table = SessionTable::new();
    let tenant = TenantId::new();
    for _ in 0..4 {
        let handle = table.create_session(CaseId::new(), tenant).start()?;
        handle.record_task_execution(Duration::from_millis(2));
        handle.record_violation();
    }

    // The quick reference's pattern 4, as written there.
    let aggregator = SessionAggregator::new(kb.clone());
    let sessions = table.active_sessions();
    let metrics = aggregator.aggregate_sessions(&sessions).await?;
    assert_eq!(metrics.violation_rate, 1.0);

    let published = kb.history();
    assert_eq!(published.len(), 1, "aggregating left the knowledge base untouched");
    let latest = kb.latest();
    assert_eq!((latest.generation, latest.total_sessions), (1, 4));
    assert_eq!(latest.slo_compliance, 0.0);
    assert_eq!(latest.coverage, Coverage::Selection, "a slice of handles is a selection");
    Ok(())
}

#[tokio::test]
async fn an_aggregate_of_active_sessions_cannot_pass_for_the_whole_picture() -> Res {
    let kb = Arc::new(KnowledgeBase::new());
    let table = SessionTable::new();
    let adapter = SessionAdapter::new(kb.clone());
    let aggregator = SessionAggregator::new(kb.clone());
    let tenant = TenantId::new();

    // Half of the finished sessions failed: over Global Q's 5% failure rate.
    for i in 0..10 {
        let handle = table.create_session(CaseId::new(), tenant).start()?;
        handle.record_task_execution(Duration::from_millis(1));
        if i % 2 == 0 {
            handle.fail()?;
        } else {
            handle.complete()?;
        }
    }
    let struggling = table.create_session(CaseId::new(), tenant).start()?;
    for _ in 0..5 {
        struggling.record_retry(); // over max_retries: proposes RetryTask
    }

    // The whole table, published: the doctrine refuses.
    let (whole, _) = aggregator.aggregate_and_publish(&TableSource::all(&table));
    assert_eq!((whole.coverage, whole.failure_rate), (Coverage::All, 0.5));
    let refused = |analysis: Analysis| match analysis {
        Analysis::Refused(refusal) => refusal.rule == QRule::MaxFailureRate,
        _ => false,
    };
    assert!(refused(adapter.evaluate(&struggling)?));

    // Then the quick reference's aggregate of the active sessions only: nothing finished
    // there, so its failure rate is 0%. Published, it must not lift the refusal.
    let active = aggregator.aggregate_sessions(&table.active_sessions()).await?;
    assert_eq!((active.failure_rate, active.coverage), (0.0, Coverage::Selection));
    assert_eq!(kb.latest().failure_rate, 0.0);
    assert_eq!(kb.current().failure_rate, 0.5);
    assert!(refused(adapter.evaluate(&struggling)?), "a partial aggregate reached the gate");

    // One tenant's part of the table says so too.
    let (part, _) = aggregator.aggregate_and_publish(&TableSource::tenant(&table, tenant));
    assert_eq!(part.coverage, Coverage::Tenant(tenant));
    assert_eq!(kb.current().coverage, Coverage::All);
    Ok(())
}
