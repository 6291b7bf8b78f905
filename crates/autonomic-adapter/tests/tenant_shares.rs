//! Tenant shares: guarantees under a flooding neighbour, borrowing up to a ceiling, and the
//! reclaim rule (borrowed slots come back at execution or drop, borrowed resources at the
//! borrowing session's end), through the public API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use autonomic_adapter::{
    AdmittedDecision, Analysis, Budgets, QRule, SessionAdapter, SessionAdapterConfig, Share,
    TenantShare, TenantShares,
};
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, TenantId};

const A: TenantId = TenantId::from_u128(0xa);
const B: TenantId = TenantId::from_u128(0xb);
const C: TenantId = TenantId::from_u128(0xc);
const D: TenantId = TenantId::from_u128(0xd);

fn share(slots: (f64, f64), resources: (f64, f64)) -> Share {
    Share {
        guaranteed_slots: slots.0,
        ceiling_slots: slots.1,
        guaranteed_resources: resources.0,
        ceiling_resources: resources.1,
    }
}

/// Max 10 slots and all of the resources: A is guaranteed 1 slot (ceiling 4) and 0.1 of the
/// resources (ceiling 0.7); B, C, D 2 slots and 0.3, 0.3, 0.0 each. The pool (nobody's
/// guarantee) is 3 slots and 0.3 of the resources. Unlisted tenants: no guarantee, no room.
fn adapter() -> SessionAdapter {
    let tenants = vec![
        TenantShare::new(A, share((0.1, 0.4), (0.1, 0.7))),
        TenantShare::new(B, share((0.2, 1.0), (0.3, 1.0))),
        TenantShare::new(C, share((0.2, 1.0), (0.3, 1.0))),
        TenantShare::new(D, share((0.2, 1.0), (0.0, 1.0))),
    ];
    let default_class = share((0.0, 0.0), (0.0, 0.0));
    let budgets = Budgets {
        tenant_shares: Some(TenantShares { tenants, default_class }),
        retry_budget: None,
    };
    SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .global_q(GlobalQ {
            max_concurrent_adaptations: 10,
            max_total_resources: 1.0,
            ..GlobalQ::default()
        })
        .config(SessionAdapterConfig {
            resource_step: 0.3,
            event_capacity: 64,
            ..Default::default()
        })
        .budgets(budgets)
        .build()
        .unwrap()
}

/// A running session of `tenant` whose policy proposes a retry.
fn retrying(tenant: TenantId) -> SessionHandle {
    let handle = SessionHandle::new(CaseId::new(), tenant).start().unwrap();
    for _ in 0..4 {
        handle.record_retry();
    }
    handle
}

/// A running session of `tenant` whose policy asks for resources (`resource_step`).
fn slow(tenant: TenantId) -> SessionHandle {
    let handle = SessionHandle::new(CaseId::new(), tenant).start().unwrap();
    for _ in 0..12 {
        handle.record_task_execution_us(150_000);
    }
    handle
}

fn admitted(analysis: Analysis) -> AdmittedDecision {
    match analysis {
        Analysis::Admitted(decision) => decision,
        other => panic!("expected an admission, got {other:?}"),
    }
}

fn refused_by(analysis: Analysis) -> (QRule, f64, f64) {
    match analysis {
        Analysis::Refused(r) => (r.rule, r.observed, r.limit),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn held(adapter: &SessionAdapter, tenant: TenantId) -> (u64, f64) {
    let holding = adapter.tenant_holdings().into_iter().find(|h| h.tenant == Some(tenant)).unwrap();
    (holding.slots_held, holding.resources_held)
}

#[test]
fn with_b_c_d_idle_a_borrows_up_to_its_ceiling_and_b_still_gets_its_guarantee() {
    let adapter = adapter();
    let a = retrying(A);
    // A's guarantee (1) plus the whole pool (3) is its ceiling (4).
    let a_held: Vec<_> = (0..4).map(|_| admitted(adapter.evaluate(&a).unwrap())).collect();
    assert_eq!(refused_by(adapter.evaluate(&a).unwrap()), (QRule::TenantShare, 4.0, 4.0));
    assert_eq!(held(&adapter, A).0, 4);
    // B asks again: its guarantee was never lent.
    let b = retrying(B);
    let b_held: Vec<_> = (0..2).map(|_| admitted(adapter.evaluate(&b).unwrap())).collect();
    // Past its guarantee B would borrow, but A holds the whole pool: refused by the pool.
    assert_eq!(refused_by(adapter.evaluate(&b).unwrap()), (QRule::TenantShare, 3.0, 3.0));
    // Reclaim: A's borrowed slots come back when its decisions are executed (or dropped).
    adapter.execute(&a_held[3], &a).unwrap();
    let b_borrowed = admitted(adapter.evaluate(&b).unwrap());
    assert_eq!(held(&adapter, B).0, 3);
    assert_eq!(adapter.active_adaptations(), 6); // A 3, B 3
    drop((a_held, b_held, b_borrowed));
    assert_eq!((held(&adapter, A).0, held(&adapter, B).0, adapter.active_adaptations()), (0, 0, 0));
}

#[test]
fn borrowed_resources_come_back_when_the_borrowing_session_ends() {
    let adapter = adapter();
    let a = slow(A);
    // 0.3: 0.1 guaranteed, 0.2 borrowed; the grant follows the session past execution.
    adapter.execute(&admitted(adapter.evaluate(&a).unwrap()), &a).unwrap();
    let (_, resources) = held(&adapter, A);
    assert!((resources - 0.3).abs() < 1e-9, "{resources}");
    // Another 0.3 would borrow 0.3 more; 0.1 is left in the pool.
    let (rule, observed, limit) = refused_by(adapter.evaluate(&a).unwrap());
    assert_eq!(rule, QRule::TenantShare);
    assert!((observed - 0.5).abs() < 1e-9 && (limit - 0.3).abs() < 1e-9, "{observed} {limit}");
    // B's guarantee (0.3) is whole whatever A borrowed.
    let b = slow(B);
    adapter.execute(&admitted(adapter.evaluate(&b).unwrap()), &b).unwrap();
    // D (no resource guarantee) borrows the 0.1 left? No: 0.3 does not fit it.
    let d = slow(D);
    assert_eq!(refused_by(adapter.evaluate(&d).unwrap()).0, QRule::TenantShare);
    // A's session ends: its grant, borrowed part included, comes back; D can borrow now.
    a.complete().unwrap();
    assert_eq!(held(&adapter, A).1, 0.0);
    adapter.execute(&admitted(adapter.evaluate(&d).unwrap()), &d).unwrap();
    assert!((adapter.granted_resources() - 0.6).abs() < 1e-9);
}

#[test]
fn unlisted_tenants_share_the_default_class() {
    let adapter = adapter();
    // The default class has no guarantee and a ceiling of zero: every unlisted tenant is
    // refused by its share, whatever the room left.
    let stranger = retrying(TenantId::new());
    assert_eq!(refused_by(adapter.evaluate(&stranger).unwrap()), (QRule::TenantShare, 0.0, 0.0));
    assert_eq!(adapter.tenant_holdings().len(), 5);
    assert_eq!(adapter.snapshot_stats().rejections.tenant_share, 1);
}

/// Noisy neighbour: 64 tasks, 4 tenants; A floods from 61 tasks, B, C and D each run one task
/// that holds two decisions at a time (their guarantee). B, C and D are admitted every time
/// they ask; the number of adaptations in flight, counted by the holders, never passes the
/// global cap of 10 (nor does the gate's own count, sampled by every holder).
#[test]
fn a_flooding_tenant_never_takes_a_neighbours_guarantee_and_the_cap_holds() {
    const TASKS: usize = 64;
    const ROUNDS: usize = 200;
    let adapter = Arc::new(adapter());
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let tenant = match i {
                    0 => B,
                    1 => C,
                    2 => D,
                    _ => A,
                };
                let (adapter, in_flight, max) =
                    (adapter.clone(), in_flight.clone(), max_in_flight.clone());
                tokio::spawn(async move {
                    let handle = retrying(tenant);
                    let per_ask = if tenant == A { 1 } else { 2 };
                    let (mut admitted, mut refused) = (0u64, 0u64);
                    for round in 0..ROUNDS {
                        let mut holding = Vec::new();
                        for _ in 0..per_ask {
                            match adapter.evaluate(&handle).unwrap() {
                                Analysis::Admitted(decision) => {
                                    admitted += 1;
                                    // SeqCst: a plain measurement of the gate's bound.
                                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                    max.fetch_max(now, Ordering::SeqCst);
                                    max.fetch_max(adapter.active_adaptations(), Ordering::SeqCst);
                                    holding.push(decision);
                                }
                                Analysis::Refused(_) => refused += 1,
                                Analysis::NoAction => unreachable!("retries are over the limit"),
                            }
                        }
                        tokio::task::yield_now().await;
                        for (k, decision) in holding.into_iter().enumerate() {
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            if (i + round + k) % 2 == 0 {
                                adapter.execute(&decision, &handle).unwrap();
                            } // else: dropped unexecuted
                        }
                        tokio::task::yield_now().await;
                    }
                    (tenant, admitted, refused)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    let max = max_in_flight.load(Ordering::SeqCst);
    let flood_refused: u64 = results.iter().filter(|r| r.0 == A).map(|r| r.2).sum();
    println!("max in flight {max}, flood refused {flood_refused}");
    for &(tenant, admitted, refused) in results.iter().filter(|r| r.0 != A) {
        assert_eq!((admitted, refused), (2 * ROUNDS as u64, 0), "{tenant} was refused");
    }
    assert!(max <= 10, "max in flight {max}");
    assert!(flood_refused > 0, "A was never refused: the test did not exercise the shares");
    assert_eq!(adapter.active_adaptations(), 0);
    assert!(adapter.tenant_holdings().iter().all(|h| h.slots_held == 0));
}

/// Swapping Q rebuilds the guarantees against the new cap and keeps what is held counted; a
/// decision admitted before the swap returns its slot to the class it came from.
#[test]
fn a_q_swap_keeps_holdings_and_rescales_the_shares() {
    let adapter = adapter();
    let b = retrying(B);
    let held = admitted(adapter.evaluate(&b).unwrap());
    adapter
        .update_global_q(GlobalQ {
            max_concurrent_adaptations: 20,
            max_total_resources: 1.0,
            ..GlobalQ::default()
        })
        .unwrap();
    let b_holding = adapter.tenant_holdings().into_iter().find(|h| h.tenant == Some(B)).unwrap();
    assert_eq!((b_holding.slots_held, b_holding.guaranteed_slots), (1, 4));
    // B's guarantee is 4 now: three more are admitted within it.
    let more: Vec<_> = (0..3).map(|_| admitted(adapter.evaluate(&b).unwrap())).collect();
    drop(held);
    drop(more);
    assert_eq!((held_slots(&adapter, B), adapter.active_adaptations()), (0, 0));
    // The budgets swap the same way, validated.
    let mut budgets = adapter.budgets();
    budgets.retry_budget = Some(autonomic_adapter::RetryBudget::default());
    assert!(adapter.update_budgets(budgets.clone()).unwrap().retry_budget.is_none());
    assert_eq!(adapter.budgets(), budgets);
}

fn held_slots(adapter: &SessionAdapter, tenant: TenantId) -> u64 {
    held(adapter, tenant).0
}

/// Decisions and grants hold the shares they were admitted against: with the shares turned
/// off and on again while they are out, every slot and unit still comes back to the
/// adapter's caps, and a grant taken with the shares off joins no class.
#[test]
fn shares_turned_off_and_on_while_decisions_and_grants_are_out_lose_nothing() {
    let adapter = adapter();
    let shares = adapter.budgets();
    let (a, b) = (slow(A), retrying(B));
    adapter.execute(&admitted(adapter.evaluate(&a).unwrap()), &a).unwrap(); // a grant of 0.3
    let pending = admitted(adapter.evaluate(&b).unwrap()); // a slot
    assert_eq!(held(&adapter, B).0, 1);
    adapter.update_budgets(Budgets::default()).unwrap();
    assert!(adapter.tenant_holdings().is_empty());
    let c = slow(C);
    adapter.execute(&admitted(adapter.evaluate(&c).unwrap()), &c).unwrap(); // 0.3, no class
    adapter.update_budgets(shares).unwrap();
    assert_eq!((adapter.active_adaptations(), held(&adapter, C)), (1, (0, 0.0)));
    assert!((adapter.granted_resources() - 0.6).abs() < 1e-9);
    drop(pending);
    a.complete().unwrap();
    c.complete().unwrap();
    assert_eq!((adapter.active_adaptations(), adapter.granted_resources()), (0, 0.0));
}
