//! Fleet benchmark: analyse + admit + execute on an adapter whose capacity is a leased slice
//! of a fleet budget (a `FleetMember` renewing and exchanging window totals in the background
//! every 100 ms), against the same path on a plain adapter measured in the same run (the
//! floor column).
//!
//! The admission path never calls the lease store, so the in-memory store stands in for
//! Redis here: what is measured is the adapter under a Global Q the member keeps swapping.
//!
//! `cargo bench -p autonomic-benches --bench fleet_bench`

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::SessionAdapter;
use autonomic_benches::fleet::{analyse_admit_execute, leased, violating};
use autonomic_core::KnowledgeBase;
use criterion::{Criterion, criterion_group, criterion_main};

fn fleet_on(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let (leased, member) = leased(&runtime, Duration::from_millis(300));
    let local = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let h = violating();

    let mut group = c.benchmark_group("fleet/action_path");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("local/analyze_admit_execute_sync", |b| {
        b.iter(|| analyse_admit_execute(&local, &h))
    });
    group.bench_function("leased/analyze_admit_execute_sync", |b| {
        b.iter(|| analyse_admit_execute(&leased, &h))
    });
    group.finish();
    let status = runtime.block_on(member.shutdown());
    assert!(status.grants > 0 && status.knowledge_exchanges > 0);
}

criterion_group!(benches, fleet_on);
criterion_main!(benches);
