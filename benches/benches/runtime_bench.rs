//! The runtime's own costs, next to their floors, all measured in the same run.
//!
//! `runtime_loop/{100000,1000000}`: one `AutonomicRuntime::run_once` over a table of N
//! sessions in a mix of states (10% created, 40% running of which a tenth adapted, 30%
//! completed, 10% failed, 10% cancelled; 0 to 7 tasks each; 8 tenants, 16 patterns), on a
//! manual clock that does not move, so cleanup scans every session and removes none: the
//! steady-state iteration. Beside it:
//! * `floor_contiguous_64B`: summing N contiguous 64-byte blocks (a streaming scan);
//! * `floor_table_visit`: `SessionTable::for_each` reading one atomic per session (the
//!   table's visit, which each pass of the iteration pays);
//! * `floor_vec_aggregate`: the same aggregation over a `Vec` of the same handles, in the
//!   order the table visits them (what the table's visit adds is the difference);
//! * `aggregate_pass` and `cleanup_scan`: the iteration's two passes alone.
//!
//! `run_once` splits its sweep over the cores (`SweepThreads::Auto`). Its split against one
//! thread is `loop_cpu N 1` against `loop_cpu N 2` (wall and CPU time, each in a fresh process:
//! a second table built in this one, after the first is freed, would be laid out differently).
//!
//! `concurrent_ops_1000`: 1000 tokio tasks on a 2-worker multi-thread runtime, each creating
//! a session through the runtime, starting it, recording 10 tasks, analysing it and
//! completing it (`healthy`: nothing to adapt; `all_adapt`: each has retried past
//! `max_retries`, so each analysis admits a `RetryTask` that is executed); floor: spawning
//! and joining 1000 tokio tasks that do nothing. Spawning and joining are in every case;
//! removing the finished sessions and draining events happen between measurements.
//!
//! `cargo bench -p autonomic-benches --bench runtime_bench` (quick check: `-- --test`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autonomic::{Analysis, AutonomicRuntime, CaseId, RuntimeConfig, TableSource, TenantId};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use autonomic_benches::populated;

fn runtime_loop(c: &mut Criterion) {
    for n in [100_000usize, 1_000_000] {
        let runtime = populated(n);
        assert_eq!(runtime.table().total_sessions(), n);
        let blocks = autonomic_benches::blocks(n);
        // The first iteration settles what later ones find (knowledge history, scratch).
        assert_eq!(runtime.run_once().sessions_cleaned, 0);

        let mut g = c.benchmark_group(format!("runtime_loop/{n}"));
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10).warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(if n >= 1_000_000 { 6 } else { 3 }));

        g.bench_function(BenchmarkId::new("floor_contiguous_64B", n), |b| {
            b.iter(|| autonomic_benches::scan_blocks(black_box(&blocks)))
        });
        g.bench_function(BenchmarkId::new("floor_table_visit", n), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                runtime.table().for_each(|h| sum += h.state() as u64);
                black_box(sum)
            })
        });
        let held = runtime.table().sessions();
        g.bench_function(BenchmarkId::new("floor_vec_aggregate", n), |b| {
            b.iter(|| runtime.aggregator().aggregate_source(&held).total_sessions)
        });
        g.bench_function(BenchmarkId::new("aggregate_pass", n), |b| {
            b.iter(|| {
                runtime
                    .aggregator()
                    .aggregate_source(&TableSource::all(runtime.table()))
                    .total_sessions
            })
        });
        g.bench_function(BenchmarkId::new("cleanup_scan", n), |b| {
            b.iter(|| runtime.table().cleanup_terminal_sessions(Duration::from_secs(3600)))
        });
        g.bench_function(BenchmarkId::new("run_once", n), |b| {
            b.iter(|| {
                let report = runtime.run_once();
                assert_eq!(report.sessions_cleaned, 0);
                report.metrics.total_sessions
            })
        });
        g.finish();
    }
}

const TASKS: usize = 1000;

/// One session's short lifecycle through the runtime; `retries` before the analysis.
fn lifecycle(runtime: &AutonomicRuntime, tenant: TenantId, retries: u32) -> bool {
    let new = runtime.create_session(CaseId::new(), tenant);
    let handle = runtime.start_session(new).expect("fresh session");
    for i in 0..10u64 {
        handle.record_task_execution_us(200 + i);
    }
    for _ in 0..retries {
        handle.record_retry();
    }
    let adapted = match runtime.adapter().evaluate(&handle).expect("valid proposal") {
        Analysis::Admitted(decision) => {
            runtime.adapter().execute(&decision, &handle).expect("running session");
            true
        }
        Analysis::NoAction => false,
        Analysis::Refused(refusal) => panic!("refused: {refusal}"),
    };
    runtime.complete_session(handle).expect("running session");
    adapted
}

fn concurrent_ops(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runtime = Arc::new(AutonomicRuntime::new(RuntimeConfig::default()).expect("valid"));
    let tenants: Arc<[TenantId]> = (0..8).map(|_| TenantId::new()).collect();
    // Between measurements: the finished sessions leave, with their history and events.
    let reset = |runtime: &AutonomicRuntime| {
        runtime.table().cleanup_terminal_sessions(Duration::ZERO);
        runtime.adapter().clear();
        runtime.adapter().take_events();
    };

    let mut g = c.benchmark_group("concurrent_ops_1000");
    g.sample_size(50).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(4));

    g.bench_function("floor_spawn_join_1000_empty_tasks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                tokio.block_on(async {
                    let handles: Vec<_> = (0..TASKS).map(|_| tokio::spawn(async {})).collect();
                    for h in handles {
                        h.await.expect("task");
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });

    for (name, retries) in [("healthy", 0u32), ("all_adapt", 4)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let adapted = tokio.block_on(async {
                        let handles: Vec<_> = (0..TASKS)
                            .map(|i| {
                                let runtime = runtime.clone();
                                let tenant = tenants[i % tenants.len()];
                                tokio::spawn(async move { lifecycle(&runtime, tenant, retries) })
                            })
                            .collect();
                        let mut adapted = 0;
                        for h in handles {
                            adapted += usize::from(h.await.expect("task"));
                        }
                        adapted
                    });
                    total += start.elapsed();
                    assert_eq!(adapted, if retries > 0 { TASKS } else { 0 });
                    reset(&runtime);
                }
                total
            })
        });
    }
    g.finish();
    assert!(runtime.table().is_empty());
    assert_eq!(runtime.adapter().snapshot_stats().rejections.total(), 0);
}

criterion_group!(benches, concurrent_ops, runtime_loop);
criterion_main!(benches);
