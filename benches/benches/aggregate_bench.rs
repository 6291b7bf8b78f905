//! Aggregation passes over 1K to 1M sessions (a `Vec` of handles as the source), next to
//! their floors, all measured in the same run.
//!
//! For each size N:
//! * `floor_contiguous_64B`: a plain loop summing the fields of N contiguous 64-byte structs
//!   (cache-resident up to 10K, a streaming scan beyond);
//! * `floor_one_atomic`: a loop over the same N handles reading one atomic each (the state);
//! * `floor_snapshot_at`: the same loop taking one `snapshot_at` per handle: what a pass
//!   reads, folded nowhere;
//! * `aggregate_source`: `SessionAggregator::aggregate_source`, the totals-only pass (totals,
//!   rates, latency percentiles) that knowledge publishing runs; handles visited in
//!   allocation order;
//! * `aggregation_run`: a pass with breakdowns (`Aggregation::run`: 8 tenants, 16 patterns
//!   plus "none", per-tenant and per-pattern histograms);
//! * `*_shuffled`: the same with the handles visited in a random order, as a
//!   hash-map-backed table visits them.
//!
//! Run: `cargo bench -p autonomic-benches --bench aggregate_bench`
//! (quick check: `... -- --test`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use autonomic_aggregate::{Aggregation, SessionAggregator};
use autonomic_core::marker::AnyState;
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use autonomic_benches::Rng;

/// N sessions over 8 tenants and 16 patterns (one in 8 without a pattern), in every state,
/// with 0 to 7 tasks each.
fn population(n: usize) -> Vec<SessionHandle<(), AnyState>> {
    let tenants: Vec<TenantId> = (0..8).map(|_| TenantId::new()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            let mut b = SessionHandle::builder(CaseId::new(), tenants[rng.below(8) as usize]);
            let p = rng.below(18);
            if p < 16 {
                b = b.pattern(p as u8);
            }
            let created = b.build();
            let fate = rng.below(10);
            if fate == 0 {
                return created.erased();
            }
            let h = created.start().unwrap();
            for _ in 0..rng.below(8) {
                h.record_task_execution_us(100 + rng.below(20_000));
            }
            if rng.below(5) == 0 {
                h.record_retry();
            }
            if rng.below(10) == 0 {
                h.record_violation();
            }
            let erased = h.erased();
            match fate {
                1..=3 => {}
                4 => h.mark_adapted().unwrap(),
                5..=7 => drop(h.complete().unwrap()),
                8 => drop(h.fail().unwrap()),
                _ => drop(h.cancel().unwrap()),
            }
            erased
        })
        .collect()
}

fn shuffled<T: Clone>(v: &[T]) -> Vec<T> {
    let mut out = v.to_vec();
    let mut rng = Rng(42);
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i as u64 + 1) as usize);
    }
    out
}

fn aggregate(c: &mut Criterion) {
    for n in [1_000usize, 10_000, 100_000, 1_000_000] {
        let sessions = population(n);
        let mixed = shuffled(&sessions);
        let blocks = autonomic_benches::blocks(n);
        let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
        let mut scratch = Aggregation::new();

        let mut g = c.benchmark_group(format!("aggregate/{n}"));
        g.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            g.sample_size(10).measurement_time(Duration::from_secs(3));
        } else {
            g.sample_size(30).measurement_time(Duration::from_secs(2));
        }
        g.warm_up_time(Duration::from_millis(500));

        g.bench_function(BenchmarkId::new("floor_contiguous_64B", n), |b| {
            b.iter(|| autonomic_benches::scan_blocks(black_box(&blocks)))
        });
        g.bench_function(BenchmarkId::new("floor_one_atomic", n), |b| {
            b.iter(|| black_box(&sessions).iter().map(|h| h.state() as u64).sum::<u64>())
        });
        g.bench_function(BenchmarkId::new("floor_snapshot_at", n), |b| {
            b.iter(|| {
                black_box(&sessions)
                    .iter()
                    .map(|h| h.snapshot_at(1).task_completions)
                    .fold(0u64, u64::wrapping_add)
            })
        });
        g.bench_function(BenchmarkId::new("aggregate_source", n), |b| {
            b.iter(|| aggregator.aggregate_source(black_box(&sessions)).total_sessions)
        });
        g.bench_function(BenchmarkId::new("aggregation_run", n), |b| {
            b.iter(|| scratch.run(black_box(&sessions), 1).total_sessions)
        });
        g.bench_function(BenchmarkId::new("floor_one_atomic_shuffled", n), |b| {
            b.iter(|| black_box(&mixed).iter().map(|h| h.state() as u64).sum::<u64>())
        });
        g.bench_function(BenchmarkId::new("floor_snapshot_at_shuffled", n), |b| {
            b.iter(|| {
                black_box(&mixed)
                    .iter()
                    .map(|h| h.snapshot_at(1).task_completions)
                    .fold(0u64, u64::wrapping_add)
            })
        });
        g.bench_function(BenchmarkId::new("aggregate_source_shuffled", n), |b| {
            b.iter(|| aggregator.aggregate_source(black_box(&mixed)).total_sessions)
        });
        g.bench_function(BenchmarkId::new("aggregation_run_shuffled", n), |b| {
            b.iter(|| scratch.run(black_box(&mixed), 1).total_sessions)
        });
        g.finish();
    }
}

criterion_group!(benches, aggregate);
criterion_main!(benches);
