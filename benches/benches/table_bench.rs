//! The session table at scale, each operation next to the bare primitive it is built on,
//! measured in the same run.
//!
//! `cargo bench -p autonomic-benches --bench table_bench` (`-- --test` runs each once).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autonomic_core::{
    BuildSessionIdHasher, CaseId, ClockHandle, ManualClock, SessionHandle, SessionId, TenantId,
    marker::AnyState,
};
use autonomic_table::SessionTable;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dashmap::DashMap;

/// The bare map the table is built on, with the same hasher.
type Floor = DashMap<u64, SessionHandle<(), AnyState>, BuildSessionIdHasher>;

/// A deterministic shuffle (xorshift), so every run probes keys in the same order.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// `n` started sessions over `tenants` tenants (round robin), pattern `i % patterns`.
fn fill(table: &SessionTable, n: usize, tenants: &[TenantId], patterns: usize) -> Vec<SessionId> {
    (0..n)
        .map(|i| {
            let h = table
                .create_session(CaseId::new(), tenants[i % tenants.len()])
                .with_pattern((i % patterns) as u8)
                .start()
                .expect("fresh session");
            h.id()
        })
        .collect()
}

fn tenants(n: usize) -> Vec<TenantId> {
    (0..n).map(|_| TenantId::new()).collect()
}

fn bare_handle() -> SessionHandle<(), AnyState> {
    SessionHandle::new(CaseId::new(), TenantId::default_tenant()).erased()
}

/// Keeps a small allocation alive after each timed batch, so that the sessions the batch
/// allocated and the untimed cleanup then frees are not at the top of the heap, where the
/// allocator would hand them back to the system and the next batch would page-fault them in
/// again. A service with churn reuses freed session memory; this measures that steady state.
fn pin_heap_top(ballast: &mut Vec<Vec<u64>>) {
    ballast.push(vec![0; 8]);
}

fn create(c: &mut Criterion) {
    const SIZE: usize = 1_000_000;
    let mut ballast = Vec::new();
    let mut g = c.benchmark_group("table_create_1m");
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    // Floor: the session allocation alone, then a bare insert into a map holding 1M.
    g.bench_function("floor_session_new_start", |b| {
        b.iter(|| SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start())
    });
    let floor = Floor::with_capacity_and_hasher(SIZE, Default::default());
    for i in 0..SIZE as u64 {
        floor.insert(u64::MAX - i, bare_handle());
    }
    g.bench_function("floor_map_insert_prebuilt", |b| {
        b.iter_custom(|iters| {
            let items: Vec<(u64, SessionHandle<(), AnyState>)> =
                (0..iters).map(|_| (SessionId::new().as_u64(), bare_handle())).collect();
            let ids: Vec<u64> = items.iter().map(|(id, _)| *id).collect();
            let start = Instant::now();
            for (id, h) in items {
                floor.insert(id, h);
            }
            let t = start.elapsed();
            pin_heap_top(&mut ballast);
            for id in &ids {
                floor.remove(id);
            }
            t
        })
    });
    g.bench_function("floor_session_new_plus_map_insert", |b| {
        b.iter_custom(|iters| {
            let ids: Vec<u64> = (0..iters).map(|_| SessionId::new().as_u64()).collect();
            let start = Instant::now();
            for &id in &ids {
                floor.insert(id, bare_handle());
            }
            let t = start.elapsed();
            pin_heap_top(&mut ballast);
            for id in &ids {
                floor.remove(id);
            }
            t
        })
    });
    drop(floor);

    let ts = tenants(1_000);
    let table = SessionTable::new();
    fill(&table, SIZE, &ts, 256);
    let mut k = 0usize;
    for (name, pattern) in
        [("create_session_start", false), ("create_session_with_pattern_start", true)]
    {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut ids = Vec::with_capacity(iters as usize);
                let start = Instant::now();
                for _ in 0..iters {
                    k += 1;
                    let new = table.create_session(CaseId::new(), ts[k % ts.len()]);
                    let new = if pattern { new.with_pattern(k as u8) } else { new };
                    ids.push(new.start().expect("fresh").id());
                }
                let t = start.elapsed();
                pin_heap_top(&mut ballast);
                for id in &ids {
                    let _ = table.remove(id); // keep the table at 1M
                }
                t
            })
        });
    }
    g.finish();
}

fn get(c: &mut Criterion) {
    const SIZE: usize = 1_000_000;
    let mut g = c.benchmark_group("table_get_1m");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    let ts = tenants(1_000);
    let table = SessionTable::new();
    let mut ids = fill(&table, SIZE, &ts, 256);
    shuffle(&mut ids, 0x5EED);
    let floor = Floor::with_capacity_and_hasher(SIZE, Default::default());
    table.for_each(|h| {
        floor.insert(h.id().as_u64(), h.clone());
    });
    let raw: Vec<u64> = ids.iter().map(|id| id.as_u64()).collect();

    let hot = ids[0];
    g.bench_function("floor_map_get_hot", |b| {
        b.iter(|| floor.get(black_box(&hot.as_u64())).map(|r| r.value().clone()))
    });
    g.bench_function("get_hot", |b| b.iter(|| table.get(black_box(&hot))));

    let mut i = 0;
    g.bench_function("floor_map_get_random", |b| {
        b.iter(|| {
            i = (i + 1) % raw.len();
            floor.get(black_box(&raw[i])).map(|r| r.value().clone())
        })
    });
    let mut i = 0;
    g.bench_function("get_random", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            table.get(black_box(&ids[i]))
        })
    });
    g.finish();
}

fn filter(c: &mut Criterion) {
    const SIZE: usize = 100_000;
    let mut g = c.benchmark_group("table_filter_1k_of_100k");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    // 100 tenants and 100 patterns: each holds 1,000 of the 100,000 sessions.
    let ts = tenants(100);
    let table = SessionTable::new();
    fill(&table, SIZE, &ts, 100);
    let tenant = ts[7];
    assert_eq!(table.sessions_by_tenant(tenant).len(), 1_000);
    assert_eq!(table.sessions_by_pattern(7).len(), 1_000);

    // Floor: cloning the same 1,000 handles out of a Vec.
    let same = table.sessions_by_tenant(tenant);
    g.bench_function("floor_clone_1k_handles_from_vec", |b| b.iter(|| same.to_vec()));
    g.bench_function("sessions_by_tenant", |b| {
        b.iter(|| table.sessions_by_tenant(black_box(tenant)))
    });
    g.bench_function("sessions_by_pattern", |b| b.iter(|| table.sessions_by_pattern(black_box(7))));
    g.bench_function("for_each_in_tenant_count", |b| {
        b.iter(|| {
            let mut n = 0;
            table.for_each_in_tenant(tenant, |_| n += 1);
            n
        })
    });
    g.finish();
}

fn scan(c: &mut Criterion) {
    const SIZE: usize = 1_000_000;
    let mut g = c.benchmark_group("table_scan_1m");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));

    let ts = tenants(1_000);
    let table = SessionTable::new();
    fill(&table, SIZE, &ts, 256);
    // A quarter of them finished, so the lists have something to filter.
    let mut n = 0;
    table.for_each(|h| {
        n += 1;
        if n % 4 == 0 {
            let _ = h.clone().into_active().map(|a| a.complete());
        }
    });
    // Floor: reading the state of 1M handles held in a Vec.
    let handles = table.sessions();
    g.bench_function("floor_vec_read_state", |b| {
        b.iter(|| handles.iter().filter(|h| h.is_active()).count())
    });
    g.bench_function("stats", |b| b.iter(|| table.stats()));
    g.bench_function("active_sessions", |b| b.iter(|| table.active_sessions().len()));
    g.bench_function("active_session_count", |b| b.iter(|| table.active_session_count()));
    g.bench_function("for_each_read_state", |b| {
        b.iter(|| {
            let mut n = 0usize;
            table.for_each(|h| n += usize::from(h.is_active()));
            n
        })
    });
    g.finish();
}

fn cleanup(c: &mut Criterion) {
    const SIZE: usize = 100_000;
    let mut g = c.benchmark_group("table_cleanup_100k");
    // Each iteration builds a fresh 100K table first (untimed): keep the run short.
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(1));
    let ts = tenants(100);

    // Floor: removing 100,000 handles from a bare map by key.
    g.bench_function("floor_map_remove_100k", |b| {
        b.iter_batched(
            || {
                let m = Floor::with_hasher(Default::default());
                let keys: Vec<u64> = (0..SIZE).map(|_| SessionId::new().as_u64()).collect();
                for &k in &keys {
                    m.insert(k, bare_handle());
                }
                (m, keys)
            },
            |(m, keys)| {
                for k in &keys {
                    m.remove(k);
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("cleanup_terminal_sessions", |b| {
        b.iter_batched(
            || {
                let clock = Arc::new(ManualClock::new());
                let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
                fill(&table, SIZE, &ts, 256);
                table.for_each(|h| {
                    let _ = h.clone().into_active().map(|a| a.complete());
                });
                clock.advance(Duration::from_secs(3600));
                table
            },
            |table| {
                assert_eq!(table.cleanup_terminal_sessions(Duration::from_secs(60)), SIZE);
                table
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, create, get, filter, scan, cleanup);
criterion_main!(benches);
