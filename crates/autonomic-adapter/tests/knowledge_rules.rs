//! The knowledge rules of Global Q judge what the published windows show, only with enough
//! evidence, and only the kinds of action they are configured for (by default those that
//! consume capacity).

use std::sync::Arc;

use autonomic_adapter::{
    ActionKinds, Analysis, FnPolicy, KnowledgeRules, PolicyContext, Proposal, QRule, RuleCheck,
    SessionAction, SessionAdapter, SessionAdapterConfig,
};
use autonomic_core::{
    CaseId, GlobalKnowledge, KnowledgeBase, MetricsSnapshot, SessionHandle, TenantId, WindowCounts,
    WindowFigures, WindowGauges, WindowedKnowledge,
};

/// Knowledge whose window holds `failed` failed and `completed` completed sessions, judged
/// from `min_finished` finished sessions on (and a lifetime failure rate of 0, to show that
/// the windowed one is what is read).
fn windowed(failed: u64, completed: u64, min_finished: u64) -> GlobalKnowledge {
    let counts = WindowCounts { failed, completed, tasks: 1000, ..WindowCounts::default() };
    let global = WindowFigures::new(counts, counts, WindowGauges::default(), min_finished, 100);
    GlobalKnowledge {
        failure_rate: 0.0,
        windows: Some(WindowedKnowledge { global, ..WindowedKnowledge::default() }),
        ..GlobalKnowledge::default()
    }
}

/// An adapter whose policy proposes `action` for every session.
fn proposing(
    action: SessionAction,
    config: SessionAdapterConfig,
) -> (Arc<KnowledgeBase>, SessionAdapter<impl autonomic_adapter::SessionPolicy>) {
    let kb = Arc::new(KnowledgeBase::new());
    let policy = FnPolicy(move |_: &MetricsSnapshot, _: &PolicyContext<'_>| {
        Some(Proposal::new(action.clone(), "test"))
    });
    let adapter =
        SessionAdapter::builder(kb.clone()).config(config).policy(policy).build().unwrap();
    (kb, adapter)
}

fn session() -> SessionHandle {
    SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap()
}

fn retry() -> SessionAction {
    SessionAction::retry_task("t1", 100)
}

#[test]
fn three_failures_of_three_are_not_enough_evidence_thirty_of_a_hundred_are() {
    let (kb, adapter) = proposing(retry(), SessionAdapterConfig::default());
    let h = session();
    kb.publish(windowed(3, 0, 20));
    let Analysis::Admitted(decision) = adapter.evaluate(&h).unwrap() else {
        panic!("3 of 3 with a minimum of 20 does not trip the rule")
    };
    assert_eq!(decision.knowledge.max_failure_rate, RuleCheck::NotEnoughEvidence);
    drop(decision);
    kb.publish(windowed(30, 70, 20));
    let Analysis::Refused(refusal) = adapter.evaluate(&h).unwrap() else {
        panic!("30 of 100 trips it")
    };
    assert_eq!((refusal.rule, refusal.observed), (QRule::MaxFailureRate, 0.3));
}

#[test]
fn shedding_actions_are_admitted_while_the_failure_rate_blocks_a_retry() {
    let sick = windowed(50, 50, 20);
    let (kb, retries) = proposing(retry(), SessionAdapterConfig::default());
    kb.publish(sick.clone());
    assert!(matches!(retries.evaluate(&session()).unwrap(),
        Analysis::Refused(r) if r.rule == QRule::MaxFailureRate));
    let resources = SessionAction::RequestResources { amount: 0.1 };
    let (kb, requests) = proposing(resources, SessionAdapterConfig::default());
    kb.publish(sick.clone());
    assert!(matches!(requests.evaluate(&session()).unwrap(), Analysis::Refused(_)));

    for shedding in [
        SessionAction::DegradePerformance { factor: 0.5 },
        SessionAction::CancelOptionalTasks,
        SessionAction::trigger_compensation("undo the booking"),
        SessionAction::log_and_continue("noted"),
    ] {
        let (kb, adapter) = proposing(shedding.clone(), SessionAdapterConfig::default());
        kb.publish(sick.clone());
        let Analysis::Admitted(decision) = adapter.evaluate(&session()).unwrap() else {
            panic!("{shedding:?} sheds load: the failure rate does not block it")
        };
        assert_eq!(decision.knowledge.max_failure_rate, RuleCheck::NotApplied);
    }
}

#[test]
fn which_rule_blocks_which_action_is_configuration() {
    let strict = SessionAdapterConfig {
        knowledge_rules: KnowledgeRules {
            max_failure_rate: ActionKinds::ALL,
            ..Default::default()
        },
        ..SessionAdapterConfig::default()
    };
    let (kb, adapter) = proposing(SessionAction::CancelOptionalTasks, strict);
    kb.publish(windowed(50, 50, 20));
    assert!(matches!(adapter.evaluate(&session()).unwrap(),
        Analysis::Refused(r) if r.rule == QRule::MaxFailureRate));
    // And from a document.
    let config = SessionAdapterConfig::from_toml_str(
        "[knowledge_rules]\nmax_failure_rate = [\"retry_task\"]\nmin_slo_compliance = []",
    )
    .unwrap();
    assert_eq!(
        config.knowledge_rules.max_failure_rate,
        ActionKinds::NONE.with(autonomic_adapter::ActionKind::RetryTask)
    );
    assert!(
        SessionAdapterConfig::from_toml_str("[knowledge_rules]\nmax_failure_rate = [\"retry\"]")
            .is_err()
    );
}

#[test]
fn a_passing_rule_records_the_windowed_value_it_read() {
    let (kb, adapter) = proposing(retry(), SessionAdapterConfig::default());
    kb.publish(windowed(1, 99, 20));
    let Analysis::Admitted(decision) = adapter.evaluate(&session()).unwrap() else { panic!() };
    assert_eq!(decision.knowledge.max_failure_rate, RuleCheck::Passed);
    assert!(decision.knowledge.min_slo_compliance == RuleCheck::Passed);
}
