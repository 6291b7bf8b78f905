//! Adapter benchmarks: analysing a healthy session, the full action path (analyse, admit,
//! execute), with and without a shadow doctrine, refusals, and two threads analysing
//! different sessions.
//!
//! Every group measures its bare-primitive floor in the same run: an `ArcSwap::load` (what
//! reading a hot-swappable value costs) and a relaxed `fetch_add` (one uncontended atomic
//! RMW). Tracing is compiled in with no subscriber installed.
//!
//! Rows ending in `_budgets` run with tenant shares and a retry budget configured
//! ([`budgeted_adapter`]): the healthy path must not touch them, the action path pays for
//! the tenant's class (and, for a retry, the retry token and the knowledge read).
//!
//! `cargo bench -p autonomic-benches --bench adapter_bench`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use autonomic_adapter::{
    Analysis, Budgets, RetryBudget, SessionAdapter, ShadowConfig, Share, TenantShare, TenantShares,
};
use autonomic_core::{CaseId, GlobalKnowledge, GlobalQ, KnowledgeBase, SessionHandle, TenantId};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};

/// Polls a future that completes without waiting (the adapter's async wrappers never
/// suspend) with a no-op waker: the cost of the `async` wrapper itself, no runtime.
fn poll_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the adapter's futures never suspend"),
    }
}

fn adapter() -> SessionAdapter {
    SessionAdapter::new(Arc::new(KnowledgeBase::new()))
}

/// The default adapter with a shadow doctrine of `candidate`.
fn adapter_with_shadow(candidate: GlobalQ) -> SessionAdapter {
    let adapter = adapter();
    adapter.set_shadow(ShadowConfig::of(candidate)).unwrap();
    adapter
}

/// The two listed tenants of [`budgeted_adapter`].
const TENANTS: [TenantId; 2] = [TenantId::from_u128(1), TenantId::from_u128(2)];

/// The default adapter with tenant shares (two listed tenants guaranteed 40% of the slots
/// and resources each, ceiling the whole; the default class the rest) and a retry budget
/// (20% of running sessions, at least 3).
fn budgeted_adapter() -> SessionAdapter {
    let listed = Share { guaranteed_slots: 0.4, guaranteed_resources: 0.4, ..Share::default() };
    let tenant_shares = TenantShares {
        tenants: TENANTS.iter().map(|&t| TenantShare::new(t, listed)).collect(),
        default_class: Share::default(),
    };
    let budgets = Budgets {
        tenant_shares: Some(tenant_shares),
        retry_budget: Some(RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 }),
    };
    SessionAdapter::builder(Arc::new(KnowledgeBase::new())).budgets(budgets).build().unwrap()
}

fn session_of(tenant: TenantId) -> SessionHandle {
    SessionHandle::new(CaseId::new(), tenant).start().unwrap()
}

/// 100 tasks of 5 ms, no violation, no retry: the default policy proposes nothing.
fn healthy_of(tenant: TenantId) -> SessionHandle {
    let h = session_of(tenant);
    (0..100).for_each(|_| h.record_task_execution_us(5_000));
    h
}

fn healthy() -> SessionHandle {
    healthy_of(TENANTS[0])
}

/// 15% violations over 100 tasks: the default policy proposes `DegradePerformance`.
fn violating_of(tenant: TenantId) -> SessionHandle {
    let h = healthy_of(tenant);
    (0..15).for_each(|_| h.record_violation());
    h
}

fn violating() -> SessionHandle {
    violating_of(TENANTS[0])
}

/// Four retries (limit 3): the default policy proposes `RetryTask` (allocates the task id).
fn retrying() -> SessionHandle {
    let h = healthy();
    (0..4).for_each(|_| h.record_retry());
    h
}

fn floors(group: &mut BenchmarkGroup<'_, WallTime>) {
    let q = ArcSwap::from_pointee(GlobalQ::default());
    group.bench_function("floor/arc_swap_load", |b| {
        b.iter(|| black_box(&q).load().max_concurrent_adaptations)
    });
    let counter = AtomicU64::new(0);
    group.bench_function("floor/fetch_add_relaxed", |b| {
        b.iter(|| black_box(&counter).fetch_add(1, Ordering::Relaxed))
    });
}

fn analyze_healthy(c: &mut Criterion) {
    let mut group = c.benchmark_group("adapter/analyze_healthy");
    group.measurement_time(Duration::from_secs(3));
    floors(&mut group);
    let h = healthy();
    group.bench_function("context/metrics_snapshot", |b| b.iter(|| black_box(&h).snapshot_at(0)));
    let adapter = adapter();
    group.bench_function("evaluate_sync", |b| {
        b.iter(|| matches!(adapter.evaluate(black_box(&h)), Ok(Analysis::NoAction)))
    });
    let shadowed = adapter_with_shadow(GlobalQ::default());
    group.bench_function("evaluate_sync_shadow_set", |b| {
        b.iter(|| matches!(shadowed.evaluate(black_box(&h)), Ok(Analysis::NoAction)))
    });
    group.bench_function("analyze_session_async", |b| {
        b.iter(|| poll_ready(adapter.analyze_session(black_box(&h))).unwrap().is_none())
    });
    let budgeted = budgeted_adapter();
    group.bench_function("evaluate_sync_budgets", |b| {
        b.iter(|| matches!(budgeted.evaluate(black_box(&h)), Ok(Analysis::NoAction)))
    });
    group.finish();
}

fn action_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("adapter/action_path");
    group.measurement_time(Duration::from_secs(3));
    floors(&mut group);
    let adapter = adapter();

    let h = violating();
    group.bench_function("degrade/analyze_admit_execute_sync", |b| {
        b.iter(|| {
            let Ok(Analysis::Admitted(decision)) = adapter.evaluate(black_box(&h)) else {
                unreachable!()
            };
            adapter.execute(&decision, &h).unwrap();
        })
    });
    group.bench_function("degrade/analyze_admit_execute_async", |b| {
        b.iter(|| {
            let decision = poll_ready(adapter.analyze_session(black_box(&h))).unwrap().unwrap();
            poll_ready(adapter.execute_decision(&decision, &h)).unwrap();
        })
    });
    group.bench_function("degrade/analyze_admit_drop", |b| {
        b.iter(|| matches!(adapter.evaluate(black_box(&h)), Ok(Analysis::Admitted(_))))
    });

    let r = retrying();
    group.bench_function("retry/analyze_admit_execute_sync", |b| {
        b.iter(|| {
            let Ok(Analysis::Admitted(decision)) = adapter.evaluate(black_box(&r)) else {
                unreachable!()
            };
            adapter.execute(&decision, &r).unwrap();
        })
    });

    // The same path with a shadow doctrine set: its added cost is this row minus
    // `degrade/analyze_admit_execute_sync`. The candidate agrees with the live Q (the steady
    // state); `shadow_disagrees` keeps every decision in the disagreement sample.
    let shadowed = adapter_with_shadow(GlobalQ::default());
    group.bench_function("shadow/analyze_admit_execute_sync", |b| {
        b.iter(|| {
            let Ok(Analysis::Admitted(decision)) = shadowed.evaluate(black_box(&h)) else {
                unreachable!()
            };
            shadowed.execute(&decision, &h).unwrap();
        })
    });
    let disagreeing =
        adapter_with_shadow(GlobalQ { max_concurrent_adaptations: 0, ..GlobalQ::default() });
    group.bench_function("shadow_disagrees/analyze_admit_execute_sync", |b| {
        b.iter(|| {
            let Ok(Analysis::Admitted(decision)) = disagreeing.evaluate(black_box(&h)) else {
                unreachable!()
            };
            disagreeing.execute(&decision, &h).unwrap();
        })
    });

    let budgeted = budgeted_adapter();
    group.bench_function("degrade/analyze_admit_execute_sync_budgets", |b| {
        b.iter(|| {
            let Ok(Analysis::Admitted(decision)) = budgeted.evaluate(black_box(&h)) else {
                unreachable!()
            };
            budgeted.execute(&decision, &h).unwrap();
        })
    });
    group.bench_function("retry/analyze_admit_execute_sync_budgets", |b| {
        b.iter(|| {
            let Ok(Analysis::Admitted(decision)) = budgeted.evaluate(black_box(&r)) else {
                unreachable!()
            };
            budgeted.execute(&decision, &r).unwrap();
        })
    });
    assert_eq!(budgeted.active_adaptations(), 0);

    let kb = Arc::new(KnowledgeBase::new());
    kb.publish(GlobalKnowledge { failure_rate: 0.5, ..Default::default() });
    let refusing = SessionAdapter::new(kb);
    group.bench_function("degrade/analyze_refused", |b| {
        b.iter(|| matches!(refusing.evaluate(black_box(&h)), Ok(Analysis::Refused(_))))
    });
    group.finish();
    assert_eq!(adapter.active_adaptations(), 0);
}

/// Runs `op` `iters` times on each of `threads` threads (started together) and returns the
/// slowest thread's time: per-iteration time is then per operation per thread, so equal
/// numbers for 1 and 2 threads mean perfect scaling.
fn on_threads<S: Sync>(
    threads: usize,
    iters: u64,
    state: &[S],
    op: impl Fn(&S) + Sync,
) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = state[..threads]
            .iter()
            .map(|s| {
                let (barrier, op) = (&barrier, &op);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op(s);
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).max().unwrap()
    })
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("adapter/two_threads");
    group.measurement_time(Duration::from_secs(3)).sample_size(30);
    let q = ArcSwap::from_pointee(GlobalQ::default());
    let counters = [
        crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
        crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
    ];
    let adapter = adapter();
    let healthy_sessions = [healthy(), healthy()];
    let violating_sessions = [violating(), violating()];
    let budgeted = budgeted_adapter();
    let tenant_sessions = [violating_of(TENANTS[0]), violating_of(TENANTS[1])];
    for threads in [1, 2] {
        group.bench_function(format!("floor/arc_swap_load/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &[(), ()], |_| {
                    black_box(black_box(&q).load().max_concurrent_adaptations);
                })
            })
        });
        group.bench_function(format!("floor/fetch_add_relaxed_own_line/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &counters, |counter| {
                    black_box(counter).fetch_add(1, Ordering::Relaxed);
                })
            })
        });
        group.bench_function(format!("healthy_evaluate/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &healthy_sessions, |h| {
                    black_box(matches!(adapter.evaluate(black_box(h)), Ok(Analysis::NoAction)));
                })
            })
        });
        group.bench_function(format!("degrade_admit_execute/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &violating_sessions, |h| {
                    if let Ok(Analysis::Admitted(d)) = adapter.evaluate(black_box(h)) {
                        adapter.execute(&d, h).unwrap();
                    }
                })
            })
        });
        // Tenant shares on, each thread admitting for its own tenant (its own class
        // counters; the global counters and the pool are shared).
        group.bench_function(format!("tenants_admit_execute/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &tenant_sessions, |h| {
                    if let Ok(Analysis::Admitted(d)) = budgeted.evaluate(black_box(h)) {
                        budgeted.execute(&d, h).unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // The event buffer and history rings are bounded, so the action-path benches reach a
    // steady state (oldest event dropped per push) within the warm-up.
    Criterion::default().warm_up_time(Duration::from_secs(1)).sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = analyze_healthy, action_path, scaling
}
criterion_main!(benches);
