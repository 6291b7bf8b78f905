//! The service integration's costs, next to their peers, in the same run.
//!
//! `tower_layer/*`: one request through a service called directly (no network): `poll_ready`,
//! `call`, and the response future polled once to completion. The inner service answers at
//! once; every row sends the same request (one header).
//! * `bare`: the inner service alone (the floor);
//! * `concurrency_limit`: tower's own `ConcurrencyLimit` (64) over it (the peer row);
//! * `session_layer_per_request`: `SessionLayer::per_request`: a session created in the
//!   table, started, evaluated, put in the extensions, one task recorded, completed;
//! * `session_layer_keyed`: `SessionLayer::keyed`: the key's session looked up, evaluated,
//!   one task recorded;
//! * `floor_runtime_lifecycle`: the bare service with the runtime's own per-session work
//!   done by hand around it (create, start, evaluate, one task, complete): what the
//!   per-request layer adds over this is the layer's own cost.
//!
//! Per-request sessions are removed (a `run_once` with zero retention) every 4096 requests,
//! outside the timed part, so the table stays small.
//!
//! `keyed_lookup/existing_key`: `KeyedSessions::session` for a key that exists (16 bytes),
//! among 10 000 keys; floor: a std `HashMap` lookup of the same 32-byte map key.
//!
//! `prometheus_scrape/encode_1k_tenants_50_patterns`: one text encoding of a registry holding
//! the `AutonomicCollector`, observed from a runtime with 1000 tenants and 50 patterns
//! (5000 sessions; 20 tenants and 20 patterns labelled, the rest `other`);
//! `observe_1k_tenants_50_patterns`: preparing that observation (one aggregation pass with
//! breakdowns over the table), which runs once per loop iteration, not per scrape.
//!
//! `cargo bench -p autonomic-benches --bench tower_bench` (quick check: `-- --test`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
use autonomic_benches::tower_requests::{
    inner, keyed, keyed_layer, one_ready, per_request, runtime, timed,
};
use autonomic_prometheus::{AutonomicCollector, ExportConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use prometheus_client::registry::Registry;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, service_fn};

fn tower_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("tower_layer");
    let rt = runtime();
    group.bench_function("bare", |b| {
        let mut service = inner();
        b.iter_custom(|iters| timed(&mut service, &rt, iters))
    });
    group.bench_function("concurrency_limit", |b| {
        let mut service = ConcurrencyLimitLayer::new(64).layer(inner());
        b.iter_custom(|iters| timed(&mut service, &rt, iters))
    });
    group.bench_function("session_layer_per_request", |b| {
        let mut service = per_request(&rt);
        b.iter_custom(|iters| timed(&mut service, &rt, iters))
    });
    group.bench_function("floor_runtime_lifecycle", |b| {
        let mut service = inner();
        let rt2 = rt.clone();
        let mut by_hand = service_fn(move |request: Request<()>| {
            let session =
                rt2.start_session(rt2.create_session(CaseId::new(), TenantId::default_tenant()));
            let session = session.unwrap();
            black_box(rt2.adapter().evaluate(&session).unwrap());
            let response = one_ready(&mut service, request);
            session.record_task_execution_us(1);
            rt2.complete_session(session).unwrap();
            std::future::ready(Ok::<_, Infallible>(response))
        });
        b.iter_custom(|iters| timed(&mut by_hand, &rt, iters))
    });
    group.bench_function("session_layer_keyed", |b| {
        let mut service = keyed(&rt);
        b.iter_custom(|iters| timed(&mut service, &rt, iters))
    });
    group.finish();
}

fn keyed_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed_lookup");
    let rt = runtime();
    let layer = keyed_layer(&rt);
    let keyed = layer.keyed_sessions().unwrap();
    let tenant = TenantId::new();
    let keys: Vec<String> = (0..10_000).map(|i| format!("wf-{i:012}")).collect();
    for key in &keys {
        keyed.session(&rt, tenant, key, None, 1).unwrap();
    }
    let key = keys[4321].as_str();
    group.bench_function("existing_key", |b| {
        b.iter(|| black_box(keyed.session(&rt, tenant, black_box(key), None, 2).unwrap()))
    });
    let map: HashMap<Box<[u8]>, u64> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut bytes = tenant.as_uuid().as_bytes().to_vec();
            bytes.extend_from_slice(k.as_bytes());
            (bytes.into_boxed_slice(), i as u64)
        })
        .collect();
    let mut probe = tenant.as_uuid().as_bytes().to_vec();
    probe.extend_from_slice(key.as_bytes());
    group.bench_function("floor_std_hashmap_get_32B", |b| {
        b.iter(|| black_box(map.get(black_box(probe.as_slice()))))
    });
    group.finish();
}

fn prometheus_scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("prometheus_scrape");
    let rt = Arc::new(AutonomicRuntime::new(RuntimeConfig::default()).unwrap());
    let tenants: Vec<TenantId> = (0..1000).map(|_| TenantId::new()).collect();
    for i in 0..5000usize {
        let new = rt.create_session(CaseId::new(), tenants[i % 1000]).with_pattern((i % 50) as u8);
        let h = rt.start_session(new).unwrap();
        h.record_task_execution_us(100 + i as u64 % 900);
        if i % 3 == 0 {
            rt.complete_session(h).unwrap();
        }
    }
    rt.run_once();
    let collector = AutonomicCollector::new(ExportConfig::default()).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    collector.observe_runtime(&rt);
    let mut text = String::with_capacity(64 << 10);
    group.bench_function("encode_1k_tenants_50_patterns", |b| {
        b.iter(|| {
            text.clear();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            black_box(text.len())
        })
    });
    group.bench_function("observe_1k_tenants_50_patterns", |b| {
        b.iter(|| collector.observe_runtime(&rt))
    });
    group.finish();
}

criterion_group!(benches, tower_layer, keyed_lookup, prometheus_scrape);
criterion_main!(benches);
