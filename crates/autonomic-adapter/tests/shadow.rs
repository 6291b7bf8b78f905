//! The shadow doctrine: a candidate Q judged beside the live one, without effect; promoting it
//! makes its refusals real.

use std::sync::Arc;

use autonomic_adapter::{
    Analysis, FnPolicy, PolicyContext, Proposal, QRule, SessionAction, SessionAdapter,
    SessionPolicy, ShadowConfig, Verdict,
};
use autonomic_core::{
    CaseId, GlobalKnowledge, GlobalQ, KnowledgeBase, MetricsSnapshot, SessionHandle, TenantId,
};

/// An adapter under `live` whose policy proposes `action` for every session.
fn proposing(
    live: GlobalQ,
    action: SessionAction,
) -> (Arc<KnowledgeBase>, SessionAdapter<impl SessionPolicy>) {
    let kb = Arc::new(KnowledgeBase::new());
    let policy = FnPolicy(move |_: &MetricsSnapshot, _: &PolicyContext<'_>| {
        Some(Proposal::new(action.clone(), "test"))
    });
    let adapter =
        SessionAdapter::builder(kb.clone()).global_q(live).policy(policy).build().unwrap();
    (kb, adapter)
}

fn session(tenant: TenantId) -> SessionHandle {
    SessionHandle::new(CaseId::new(), tenant).start().unwrap()
}

fn retry() -> SessionAction {
    SessionAction::retry_task("t1", 100)
}

#[test]
fn a_tighter_candidate_reports_its_refusals_the_live_q_admits_them_and_promotion_makes_them_real() {
    let live = GlobalQ { max_failure_rate: 0.2, ..GlobalQ::default() };
    let candidate = GlobalQ { max_failure_rate: 0.05, ..GlobalQ::default() };
    let (kb, adapter) = proposing(live, retry());
    kb.publish(GlobalKnowledge { failure_rate: 0.1, ..GlobalKnowledge::default() });
    assert!(adapter.set_shadow(ShadowConfig::of(candidate)).unwrap().is_none());

    let (a, b) = (TenantId::new(), TenantId::new());
    for tenant in [a, a, a, b, b] {
        let h = session(tenant);
        let Analysis::Admitted(decision) = adapter.evaluate(&h).unwrap() else {
            panic!("the live Q (max_failure_rate 0.2) admits at a failure rate of 0.1")
        };
        adapter.execute(&decision, &h).unwrap();
    }
    assert_eq!(adapter.snapshot_stats().rejections.total(), 0);
    assert_eq!(adapter.snapshot_stats().executed_decisions, 5);

    let report = adapter.shadow_report().unwrap();
    assert_eq!(report.global_q, candidate);
    assert_eq!(report.total.admitted, 0);
    assert_eq!(report.total.refused_by(QRule::MaxFailureRate), 5);
    assert_eq!(report.total.refused_total(), 5);
    let of = |t: TenantId| report.tenants.iter().find(|v| v.tenant == t).unwrap().counts.clone();
    assert_eq!(of(a).refused_by(QRule::MaxFailureRate), 3);
    assert_eq!(of(b).refused_by(QRule::MaxFailureRate), 2);
    assert_eq!(report.other_tenants.judged(), 0);
    assert_eq!(report.live_admitted_shadow_refused, 5);
    assert_eq!(report.disagreements.len(), 5);
    let d = &report.disagreements[0];
    assert_eq!(d.live, Verdict::Admitted);
    assert_eq!(
        d.shadow,
        Verdict::Refused { rule: QRule::MaxFailureRate, observed: 0.1, limit: 0.05 }
    );
    assert_eq!(d.tenant, a);

    let promoted = adapter.promote_shadow().unwrap();
    assert_eq!(*promoted.previous, live);
    assert_eq!(promoted.report, report);
    assert_eq!(*adapter.global_q(), candidate);
    assert!(adapter.shadow_report().is_none());
    match adapter.evaluate(&session(a)).unwrap() {
        Analysis::Refused(refusal) => {
            assert_eq!(
                (refusal.rule, refusal.observed, refusal.limit),
                (QRule::MaxFailureRate, 0.1, 0.05)
            )
        }
        other => panic!("the promoted Q refuses: {other:?}"),
    }
    assert_eq!(adapter.snapshot_stats().rejections.max_failure_rate, 1);
}

#[test]
fn capacity_is_judged_read_only_against_the_live_gate() {
    let candidate = GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() };
    let (_kb, adapter) =
        proposing(GlobalQ::default(), SessionAction::DegradePerformance { factor: 0.5 });
    adapter.set_shadow(ShadowConfig::of(candidate)).unwrap();
    let held: Vec<_> = (0..3)
        .map(|_| adapter.evaluate(&session(TenantId::default_tenant())).unwrap())
        .map(|a| a.into_decision().expect("the live Q admits 10"))
        .collect();
    // The shadow took nothing: the live gate holds exactly the three live permits.
    assert_eq!(adapter.active_adaptations(), 3);
    let report = adapter.shadow_report().unwrap();
    assert_eq!(report.total.admitted, 2);
    assert_eq!(report.total.refused_by(QRule::MaxConcurrentAdaptations), 1);
    assert_eq!(
        report.disagreements[0].shadow,
        Verdict::Refused { rule: QRule::MaxConcurrentAdaptations, observed: 2.0, limit: 2.0 }
    );
    drop(held);
    assert_eq!(adapter.active_adaptations(), 0);
}

#[test]
fn resources_are_judged_against_what_the_live_ledger_holds() {
    let candidate = GlobalQ { max_total_resources: 0.05, ..GlobalQ::default() };
    let (_kb, adapter) =
        proposing(GlobalQ::default(), SessionAction::RequestResources { amount: 0.05 });
    adapter.set_shadow(ShadowConfig::of(candidate)).unwrap();
    let sessions: Vec<_> = (0..2).map(|_| session(TenantId::default_tenant())).collect();
    for h in &sessions {
        let decision = adapter.evaluate(h).unwrap().into_decision().unwrap();
        adapter.execute(&decision, h).unwrap();
    }
    assert!((adapter.granted_resources() - 0.10).abs() < 1e-9);
    let report = adapter.shadow_report().unwrap();
    assert_eq!(report.total.admitted, 1);
    assert_eq!(report.total.refused_by(QRule::MaxTotalResources), 1);
}

#[test]
fn a_looser_candidate_reports_what_it_would_have_admitted() {
    let (kb, adapter) = proposing(GlobalQ::default(), retry());
    kb.publish(GlobalKnowledge { failure_rate: 0.1, ..GlobalKnowledge::default() });
    adapter
        .set_shadow(ShadowConfig::of(GlobalQ { max_failure_rate: 0.5, ..GlobalQ::default() }))
        .unwrap();
    assert!(adapter.evaluate(&session(TenantId::new())).unwrap().refusal().is_some());
    let report = adapter.shadow_report().unwrap();
    assert_eq!((report.total.admitted, report.live_refused_shadow_admitted), (1, 1));
    assert_eq!(report.disagreements[0].shadow, Verdict::Admitted);
    assert!(matches!(
        report.disagreements[0].live,
        Verdict::Refused { rule: QRule::MaxFailureRate, .. }
    ));
}

#[test]
fn a_healthy_evaluate_leaves_the_shadow_untouched_and_clearing_returns_the_report() {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    adapter.set_shadow(ShadowConfig::of(GlobalQ::default())).unwrap();
    let healthy = session(TenantId::default_tenant());
    for _ in 0..20 {
        healthy.record_task_execution_us(1_000);
    }
    assert!(adapter.evaluate(&healthy).unwrap().is_no_action());
    let report = adapter.clear_shadow().unwrap();
    assert_eq!(report.total.judged(), 0);
    assert!(report.tenants.is_empty());
    assert!(adapter.clear_shadow().is_none());
}

#[test]
fn a_bad_candidate_is_refused_by_field_and_the_shadow_kept() {
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    adapter.set_shadow(ShadowConfig::default()).unwrap();
    let bad = ShadowConfig::of(GlobalQ { min_slo_compliance: f64::NAN, ..GlobalQ::default() });
    assert_eq!(adapter.set_shadow(bad).unwrap_err().field(), Some("min_slo_compliance"));
    assert_eq!(adapter.shadow_report().unwrap().global_q, GlobalQ::default());
}

/// Promotion is a Q swap like `update_global_q`: the tenant shares are then held against the
/// promoted Q's caps, not the caps of the Q it replaced.
#[test]
fn promotion_holds_the_tenant_shares_against_the_promoted_caps() {
    use autonomic_adapter::{Budgets, Share, TenantShare, TenantShares};
    let acme = TenantId::new();
    let half = Share { guaranteed_slots: 0.5, ..Share::default() };
    let shares = TenantShares { tenants: vec![TenantShare::new(acme, half)], ..Default::default() };
    let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .budgets(Budgets { tenant_shares: Some(shares), ..Budgets::default() })
        .build()
        .unwrap(); // 10 slots: acme is guaranteed 5
    assert_eq!(adapter.tenant_holdings()[0].guaranteed_slots, 5);
    let tight = GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() };
    adapter.set_shadow(ShadowConfig::of(tight)).unwrap();
    assert_eq!(adapter.tenant_holdings()[0].guaranteed_slots, 5, "a shadow has no effect");
    adapter.promote_shadow().unwrap();
    let holdings = adapter.tenant_holdings();
    assert_eq!((holdings[0].guaranteed_slots, holdings[0].ceiling_slots), (1, 2));
}
