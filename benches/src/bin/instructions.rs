//! Runs one hot operation N times, for `valgrind --tool=callgrind` instruction counts that do
//! not drift with machine load. Per-operation cost = (count at 2N - count at N) / N.
//!
//! `cargo xtask bench --instructions` drives it; by hand:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/instructions record_task 1000000`
//!
//! `loop_per_session` is one session's share of a loop iteration of the runtime (a table of
//! 10,000 sessions, iterated N / 10,000 times); `loop_per_session_split` the same with the
//! sweep split in two parts (`SweepThreads::Exactly(2)`: callgrind runs threads one at a time,
//! so it counts every part's instructions).
//!
//! `tower_bare`, `tower_per_request`, `tower_keyed`: one request (`poll_ready`, `call`, the
//! response future polled once) through the bare service, through `SessionLayer::per_request`
//! over it, and through `SessionLayer::keyed` (one existing key) over it; the table is swept
//! (`run_once`, zero retention) every 4096 requests in every one of them, so removing a
//! request's session is counted too. `keyed_lookup`: `KeyedSessions::session` for an existing
//! key among 10,000. `admit_local` and `admit_leased` are one
//! analyse + admit + execute on a plain adapter and on one whose capacity a running fleet
//! member leases (lease period one hour, so that the member's background requests, 3 per
//! lease period whatever the admission rate, stay out of the per-operation count).
//! `admit*`: one analysis of a session that wants a retry, admitted (the decision dropped);
//! `admit` without cohort breakers, `admit_breaker` with them configured and none tripped,
//! `admit_breaker_tripped` with another pattern's breaker open (the session's cohorts are
//! looked up), `refuse_breaker_open` with the session's own pattern's breaker open (refused).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use autonomic::SweepThreads;
use autonomic_adapter::breaker::BreakerConfig;
use autonomic_adapter::{
    Analysis, Budgets, RetryBudget, SessionAdapter, ShadowConfig, Share, TenantShare, TenantShares,
};
use autonomic_benches::{fleet, populated, populated_with, tower_requests as req};
use autonomic_core::{
    CaseId, ClockHandle, GlobalKnowledge, GlobalQ, KnowledgeBase, SessionHandle, TenantId,
    WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge,
};

/// Sessions in the table of `loop_per_session`.
const LOOP_SESSIONS: u64 = 10_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().expect("start");
    let floor = AtomicU64::new(0);
    match op.as_str() {
        "floor_fetch_add" => (0..n).for_each(|_| {
            floor.fetch_add(black_box(1), Ordering::Relaxed);
        }),
        "record_task" => {
            (0..n).for_each(|_| h.record_task_execution(black_box(Duration::from_micros(150))))
        }
        "record_retry" => (0..n).for_each(|_| black_box(&h).record_retry()),
        "snapshot_at" => (0..n).for_each(|_| {
            black_box(h.snapshot_at(black_box(1)));
        }),
        // One session's share of a loop iteration: N / 10,000 iterations over 10,000 sessions.
        "loop_per_session" => {
            let runtime = populated(LOOP_SESSIONS as usize);
            (0..(n / LOOP_SESSIONS).max(1)).for_each(|_| {
                black_box(runtime.run_once());
            });
        }
        "loop_per_session_split" => {
            let runtime = populated_with(LOOP_SESSIONS as usize, SweepThreads::Exactly(2));
            (0..(n / LOOP_SESSIONS).max(1)).for_each(|_| {
                black_box(runtime.run_once());
            });
        }
        "admit_local" => {
            let local = autonomic_adapter::SessionAdapter::new(std::sync::Arc::new(
                autonomic_core::KnowledgeBase::new(),
            ));
            let v = fleet::violating();
            (0..n).for_each(|_| fleet::analyse_admit_execute(&local, &v));
        }
        "admit_leased" => {
            let tokio = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_time()
                .build()
                .expect("a tokio runtime");
            let (leased, member) = fleet::leased(&tokio, Duration::from_secs(3600));
            let v = fleet::violating();
            (0..n).for_each(|_| fleet::analyse_admit_execute(&leased, &v));
            tokio.block_on(member.shutdown());
        }
        "admit" => admissions(n, false, false, 2),
        "admit_breaker" => admissions(n, true, false, 2),
        "admit_breaker_tripped" => admissions(n, true, true, 2),
        "refuse_breaker_open" => admissions(n, true, true, 1),
        "handle_new" => (0..n).for_each(|_| {
            black_box(SessionHandle::new(
                black_box(CaseId::from_u128(1)),
                TenantId::default_tenant(),
            ));
        }),
        "tower_bare" => {
            let runtime = req::runtime();
            req::timed(&mut req::inner(), &runtime, n);
        }
        "tower_per_request" => {
            let runtime = req::runtime();
            let mut service = req::per_request(&runtime);
            req::timed(&mut service, &runtime, n);
        }
        "tower_keyed" => {
            let runtime = req::runtime();
            let mut service = req::keyed(&runtime);
            req::timed(&mut service, &runtime, n);
        }
        "keyed_lookup" => {
            let (runtime, layer, keys) = req::keyed_population(10_000);
            let keyed = layer.keyed_sessions().expect("keyed");
            let (tenant, key) = (TenantId::default_tenant(), keys[4321].as_str());
            (0..n).for_each(|_| {
                black_box(keyed.session(&runtime, tenant, black_box(key), None, 2).expect("key"));
            });
        }
        // The adapter: a healthy evaluate, and analyse + admit + execute of a degradation
        // (and of a retry), without budgets, with tenant shares and a retry budget, and with a
        // shadow doctrine agreeing with the live Q (the difference is the shadow's cost).
        "evaluate_healthy" | "evaluate_healthy_budgets" => {
            let adapter = adapter(op.ends_with("_budgets"));
            (0..100).for_each(|_| h.record_task_execution_us(5_000));
            (0..n).for_each(|_| {
                black_box(matches!(adapter.evaluate(black_box(&h)), Ok(Analysis::NoAction)));
            });
        }
        "admit_execute"
        | "admit_execute_budgets"
        | "retry_admit_execute_budgets"
        | "admit_execute_shadow" => {
            let adapter = adapter(op.ends_with("_budgets"));
            if op == "admit_execute_shadow" {
                adapter.set_shadow(ShadowConfig::of(GlobalQ::default())).expect("valid");
            }
            (0..100).for_each(|_| h.record_task_execution_us(5_000));
            if op.starts_with("retry") {
                (0..4).for_each(|_| h.record_retry());
            } else {
                (0..15).for_each(|_| h.record_violation());
            }
            (0..n).for_each(|_| {
                let Ok(Analysis::Admitted(decision)) = adapter.evaluate(black_box(&h)) else {
                    unreachable!("the session always proposes and the gate has room")
                };
                adapter.execute(&decision, &h).expect("executed");
            });
        }
        other => {
            eprintln!(
                "unknown op {other:?}: floor_fetch_add | record_task | record_retry | snapshot_at | \
                 handle_new | loop_per_session | tower_bare | tower_per_request | tower_keyed | \
                 keyed_lookup | admit_local | admit_leased | evaluate_healthy[_budgets] | \
                 admit_execute[_budgets|_shadow] | retry_admit_execute_budgets | admit | \
                 admit_breaker | admit_breaker_tripped | refuse_breaker_open"
            );
            std::process::exit(2);
        }
    }
    black_box(&floor);
}

/// `n` analyses of a session of `pattern` that wants a retry, with pattern 1's window at 80%
/// failures published; with the cohort breakers configured (`breaker`) and, if `tripped`,
/// observed (pattern 1's breaker open).
fn admissions(n: u64, breaker: bool, tripped: bool, pattern: u8) {
    let kb = Arc::new(KnowledgeBase::new());
    let short = WindowCounts { completed: 20, failed: 80, ..WindowCounts::default() };
    let sick = WindowFigures::new(short, short, WindowGauges::default(), 20, 100);
    kb.publish(GlobalKnowledge {
        windows: Some(WindowedKnowledge {
            length_ms: 60_000,
            short_ms: 5_000,
            patterns: vec![(1, sick)],
            ..WindowedKnowledge::default()
        }),
        ..GlobalKnowledge::default()
    });
    let mut builder = SessionAdapter::builder(kb);
    if breaker {
        builder = builder.breaker(BreakerConfig { by_tenant: false, ..BreakerConfig::default() });
    }
    let adapter = builder.build().expect("valid configuration");
    if tripped {
        adapter.observe_knowledge(&ClockHandle::monotonic());
        assert_eq!(adapter.breakers().len(), 1);
    }
    let h = SessionHandle::builder(CaseId::new(), TenantId::default_tenant())
        .pattern(pattern)
        .build()
        .start()
        .expect("start");
    for _ in 0..4 {
        h.record_retry();
    }
    let expect_admitted = pattern != 1 || !tripped;
    (0..n).for_each(|_| {
        let analysis = adapter.evaluate(black_box(&h)).expect("a valid proposal");
        assert_eq!(matches!(analysis, Analysis::Admitted(_)), expect_admitted);
        black_box(analysis);
    });
}

/// The default adapter; with `budgets`, tenant shares (the default tenant listed, guaranteed
/// 40%, ceiling the whole) and a retry budget (20% of running sessions, at least 3).
fn adapter(budgets: bool) -> SessionAdapter {
    let builder = SessionAdapter::builder(Arc::new(KnowledgeBase::new()));
    if !budgets {
        return builder.build().expect("defaults are valid");
    }
    let listed = Share { guaranteed_slots: 0.4, guaranteed_resources: 0.4, ..Share::default() };
    let tenant_shares = TenantShares {
        tenants: vec![TenantShare::new(TenantId::default_tenant(), listed)],
        default_class: Share::default(),
    };
    let retry_budget = Some(RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 });
    builder
        .budgets(Budgets { tenant_shares: Some(tenant_shares), retry_budget })
        .build()
        .expect("valid budgets")
}
