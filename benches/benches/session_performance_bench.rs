//! Core hot path: metric updates, handle creation, snapshots, each next to its bare floor.
//!
//! `cargo bench -p autonomic-benches --bench session_performance_bench`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use autonomic_benches::two_threads;
use autonomic_core::{CaseId, SessionHandle, TenantId};
use criterion::{Criterion, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;

fn active() -> SessionHandle {
    SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap()
}

fn metric_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("metric_update");
    let floor = AtomicU64::new(0);
    g.bench_function("floor_relaxed_fetch_add", |b| {
        b.iter(|| floor.fetch_add(black_box(1), Ordering::Relaxed))
    });
    let h = active();
    g.bench_function("record_task_execution", |b| {
        b.iter(|| h.record_task_execution(black_box(Duration::from_micros(150))))
    });
    g.bench_function("record_retry", |b| b.iter(|| h.record_retry()));
    g.bench_function("record_violation", |b| b.iter(|| h.record_violation()));
    g.finish();
}

fn metric_update_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("metric_update_2threads");
    // Floor: two threads, each on its own padded counter.
    let padded = [CachePadded::new(AtomicU64::new(0)), CachePadded::new(AtomicU64::new(0))];
    g.bench_function("floor_own_padded_counter", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i, n| {
                for _ in 0..n {
                    padded[i].fetch_add(black_box(1), Ordering::Relaxed);
                }
            })
        })
    });
    // What false sharing costs here: two threads on adjacent words of one cache line.
    let adjacent = CachePadded::new([AtomicU64::new(0), AtomicU64::new(0)]);
    g.bench_function("false_sharing_adjacent_words", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i, n| {
                for _ in 0..n {
                    adjacent[i].fetch_add(black_box(1), Ordering::Relaxed);
                }
            })
        })
    });
    // Two sessions created back to back (adjacent allocations), one per thread.
    let sessions = [active(), active()];
    g.bench_function("two_sessions_record_task", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i, n| {
                for _ in 0..n {
                    sessions[i].record_task_execution_us(black_box(150));
                }
            })
        })
    });
    let shared = active();
    g.bench_function("one_session_record_task", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_, n| {
                for _ in 0..n {
                    shared.record_task_execution_us(black_box(150));
                }
            })
        })
    });
    g.finish();
}

fn handle_creation(c: &mut Criterion) {
    let mut g = c.benchmark_group("handle_creation");
    g.bench_function("floor_box_176_bytes", |b| b.iter(|| black_box(Box::new([0u64; 22]))));
    g.bench_function("floor_instant_now", |b| b.iter(Instant::now));
    g.bench_function("floor_uuid_v4_fast_rng", |b| b.iter(uuid::Uuid::new_v4));
    let (case, tenant) = (CaseId::new(), TenantId::new());
    g.bench_function("session_handle_new", |b| {
        b.iter(|| SessionHandle::new(black_box(case), black_box(tenant)))
    });
    g.bench_function("session_handle_new_start", |b| {
        b.iter(|| SessionHandle::new(black_box(case), black_box(tenant)).start())
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    let h = active();
    for i in 0..100 {
        h.record_task_execution_us(i);
    }
    g.bench_function("snapshot", |b| b.iter(|| black_box(h.snapshot())));
    g.bench_function("snapshot_at", |b| b.iter(|| black_box(h.snapshot_at(black_box(1)))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = metric_update, metric_update_two_threads, handle_creation, snapshot
}
criterion_main!(benches);
