//! Stress: many concurrent tokio tasks against small Global Q bounds, through the public API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use autonomic_adapter::{Analysis, SessionAdapter, SessionAdapterConfig};
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, TenantId};

const TASKS: usize = 64;
const ROUNDS: usize = 200;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// 64 tasks, `max_concurrent_adaptations` = 2: each holds its admitted decision across a
/// yield (so others run meanwhile), counting itself in flight. The maximum seen is 2.
#[test]
fn sixty_four_tasks_never_exceed_two_adaptations_in_flight() {
    let adapter = Arc::new(
        SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
            .global_q(GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() })
            .config(SessionAdapterConfig { event_capacity: 64, ..Default::default() })
            .build()
            .unwrap(),
    );
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let (admitted, refused) = runtime().block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let adapter = adapter.clone();
                let in_flight = in_flight.clone();
                let max_in_flight = max_in_flight.clone();
                tokio::spawn(async move {
                    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant())
                        .start()
                        .unwrap();
                    for _ in 0..4 {
                        handle.record_retry(); // always proposes RetryTask
                    }
                    let (mut admitted, mut refused) = (0u64, 0u64);
                    for round in 0..ROUNDS {
                        match adapter.evaluate(&handle).unwrap() {
                            Analysis::Admitted(decision) => {
                                admitted += 1;
                                // SeqCst: a plain measurement; the bound itself comes from
                                // the gate, this only observes it.
                                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                max_in_flight.fetch_max(now, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                if (i + round) % 2 == 0 {
                                    adapter.execute_decision(&decision, &handle).await.unwrap();
                                } // else: dropped unexecuted
                            }
                            Analysis::Refused(_) => refused += 1,
                            Analysis::NoAction => unreachable!("retries are over the limit"),
                        }
                        tokio::task::yield_now().await;
                    }
                    (admitted, refused)
                })
            })
            .collect();
        let mut totals = (0, 0);
        for task in tasks {
            let (a, r) = task.await.unwrap();
            totals.0 += a;
            totals.1 += r;
        }
        totals
    });
    let max = max_in_flight.load(Ordering::SeqCst);
    println!("admitted {admitted}, refused {refused}, max in flight {max}");
    assert!(max <= 2, "max in flight {max}");
    assert_eq!(max, 2, "the second slot was never used: the test did not exercise the bound");
    assert!(refused > 0, "nothing was refused: the test did not exercise the bound");
    assert_eq!(admitted + refused, (TASKS * ROUNDS) as u64);
    let stats = adapter.snapshot_stats();
    assert_eq!(stats.active_adaptations, 0);
    assert_eq!(stats.total_decisions, admitted);
    assert_eq!(stats.rejections.max_concurrent_adaptations, refused);
    assert!(stats.events_dropped > 0 && stats.pending_events == 64);
}

/// 64 tasks request resources (0.05 each) against `max_total_resources` = 0.3 and hold their
/// grants across yields; the sum granted never exceeds 0.3, and it all comes back.
#[test]
fn sixty_four_tasks_never_exceed_total_resources() {
    let adapter = Arc::new(
        SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
            .global_q(GlobalQ { max_total_resources: 0.3, ..GlobalQ::default() })
            .build()
            .unwrap(),
    );
    // Units (millionths) granted and not yet released, as counted by the tasks themselves.
    let held = Arc::new(AtomicU64::new(0));
    let max_held = Arc::new(AtomicU64::new(0));
    let refused = runtime().block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let adapter = adapter.clone();
                let held = held.clone();
                let max_held = max_held.clone();
                tokio::spawn(async move {
                    let mut refused = 0u64;
                    for _ in 0..ROUNDS / 4 {
                        let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant())
                            .start()
                            .unwrap();
                        for _ in 0..10 {
                            handle.record_task_execution_us(200_000); // too slow
                        }
                        match adapter.evaluate(&handle).unwrap() {
                            Analysis::Admitted(decision) => {
                                adapter.execute(&decision, &handle).unwrap();
                                // SeqCst: a plain measurement, as above.
                                let now = held.fetch_add(50_000, Ordering::SeqCst) + 50_000;
                                max_held.fetch_max(now, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                held.fetch_sub(50_000, Ordering::SeqCst);
                                // The end returns the grant; the notification finds none.
                                let done = handle.complete().unwrap();
                                assert_eq!(adapter.on_session_completed(&done), 0.0);
                            }
                            Analysis::Refused(_) => refused += 1,
                            Analysis::NoAction => unreachable!("latency is over the limit"),
                        }
                        tokio::task::yield_now().await;
                    }
                    refused
                })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            refused += task.await.unwrap();
        }
        refused
    });
    let max = max_held.load(Ordering::SeqCst);
    println!("refused {refused}, max held {max} units");
    assert!(max <= 300_000, "{max} units held at once");
    assert!(refused > 0, "nothing was refused: the test did not exercise the bound");
    assert_eq!(adapter.granted_resources(), 0.0);
    assert_eq!(adapter.snapshot_stats().rejections.max_total_resources, refused);
}
