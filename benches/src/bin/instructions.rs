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

use autonomic_adapter::{Analysis, SessionAdapter, ShadowConfig};
use autonomic_benches::populated;
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, TenantId};

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
        // The adapter's action path (degrade: analyse, admit, execute), without and with a
        // shadow doctrine (agreeing with the live Q): the difference is the shadow's cost.
        "admit_execute" | "admit_execute_shadow" => {
            let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
            if op == "admit_execute_shadow" {
                adapter.set_shadow(ShadowConfig::of(GlobalQ::default())).expect("valid");
            }
            (0..100).for_each(|_| h.record_task_execution_us(5_000));
            (0..15).for_each(|_| h.record_violation());
            (0..n).for_each(|_| {
                let Ok(Analysis::Admitted(decision)) = adapter.evaluate(black_box(&h)) else {
                    unreachable!("a violating session is admitted")
                };
                adapter.execute(&decision, &h).expect("execute");
            });
        }
        other => {
            eprintln!(
                "unknown op {other:?}: floor_fetch_add | record_task | record_retry | snapshot_at | \
                 handle_new | loop_per_session | admit_execute | admit_execute_shadow"
            );
            std::process::exit(2);
        }
    }
    black_box(&floor);
}
