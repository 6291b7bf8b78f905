//! Fleet benchmark: analyse + admit + execute on an adapter whose capacity is a leased slice
//! of a fleet budget (a `FleetMember` renewing in the background every 100 ms), against the
//! same path on a plain adapter measured in the same run (the floor column).
//!
//! The admission path never calls the lease store, so the in-memory store stands in for
//! Redis here: what is measured is the adapter under a Global Q the member keeps swapping.
//!
//! `cargo bench -p autonomic-benches --bench fleet_bench`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::{Analysis, SessionAdapter};
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
use autonomic_fleet::{
    Allotment, FleetMember, FleetSpec, InstanceId, MemberConfig, MemoryLeaseStore,
};
use criterion::{Criterion, criterion_group, criterion_main};

/// 15% violations over 100 tasks: the default policy proposes `DegradePerformance`.
fn violating() -> SessionHandle {
    let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
    (0..100).for_each(|_| h.record_task_execution_us(5_000));
    (0..15).for_each(|_| h.record_violation());
    h
}

fn analyse_admit_execute(adapter: &SessionAdapter, h: &SessionHandle) {
    let Ok(Analysis::Admitted(decision)) = adapter.evaluate(black_box(h)) else {
        unreachable!("admitted within the slice")
    };
    adapter.execute(&decision, h).unwrap();
}

fn fleet_on(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let spec = FleetSpec::new(
        "bench",
        Allotment::new(12, 0.9),
        Allotment::new(1, 0.05),
        3,
        Duration::from_millis(300),
    )
    .unwrap();
    let leased = Arc::new(SessionAdapter::new(Arc::new(KnowledgeBase::new())));
    let member = runtime.block_on(async {
        let config = MemberConfig::new(spec, InstanceId::new("bench").unwrap());
        let member = FleetMember::start(leased.clone(), MemoryLeaseStore::new(), config).unwrap();
        member.watch().wait_for(|s| s.granted.is_some()).await.unwrap();
        member
    });
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
    assert!(status.grants > 0);
}

criterion_group!(benches, fleet_on);
criterion_main!(benches);
