//! Runs one hot operation N times, for `valgrind --tool=callgrind` instruction counts that do
//! not drift with machine load. Per-operation cost = (count at 2N - count at N) / N.
//!
//! `cargo xtask bench --instructions` drives it; by hand:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/instructions record_task 1000000`
//!
//! `loop_per_session` is one session's share of a loop iteration of the runtime (a table of
//! 10,000 sessions, iterated N / 10,000 times).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use autonomic_adapter::{
    Analysis, Budgets, RetryBudget, SessionAdapter, Share, TenantShare, TenantShares,
};
use autonomic_benches::populated;
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};

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
        "handle_new" => (0..n).for_each(|_| {
            black_box(SessionHandle::new(
                black_box(CaseId::from_u128(1)),
                TenantId::default_tenant(),
            ));
        }),
        // The adapter: a healthy evaluate, and analyse + admit + execute of a degradation
        // (and of a retry), without budgets and with tenant shares and a retry budget.
        "evaluate_healthy" | "evaluate_healthy_budgets" => {
            let adapter = adapter(op.ends_with("_budgets"));
            (0..100).for_each(|_| h.record_task_execution_us(5_000));
            (0..n).for_each(|_| {
                black_box(matches!(adapter.evaluate(black_box(&h)), Ok(Analysis::NoAction)));
            });
        }
        "admit_execute" | "admit_execute_budgets" | "retry_admit_execute_budgets" => {
            let adapter = adapter(op.ends_with("_budgets"));
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
                 handle_new | loop_per_session | evaluate_healthy[_budgets] | \
                 admit_execute[_budgets] | retry_admit_execute_budgets"
            );
            std::process::exit(2);
        }
    }
    black_box(&floor);
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
