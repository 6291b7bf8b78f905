//! A small workload on the core layer: concurrent sessions recording metrics, racing an
//! external cancel, and their snapshots.
//!
//! `cargo run --release --example session_autonomic_example`

use std::time::{Duration, Instant};

use autonomic::{CaseId, SessionHandle, SessionState, TenantId};

fn main() {
    let tenants = [TenantId::new(), TenantId::new(), TenantId::new()];
    let started = Instant::now();
    let sessions: Vec<SessionHandle> = (0..3000)
        .map(|i| {
            SessionHandle::builder(CaseId::new(), tenants[i % tenants.len()])
                .pattern((i % 7) as u8)
                .build()
                .start()
                .expect("a fresh session starts")
        })
        .collect();

    // Two workers record tasks on every session; an observer cancels every tenth one.
    std::thread::scope(|s| {
        for w in 0..2u64 {
            let sessions = &sessions;
            s.spawn(move || {
                for (i, h) in sessions.iter().enumerate() {
                    for t in 0..10u64 {
                        h.record_task_execution(Duration::from_micros(
                            100 + (i as u64 * 7 + t * 13 + w) % 900,
                        ));
                    }
                    if i % 17 == 0 {
                        h.record_retry();
                    }
                    if i % 23 == 0 {
                        h.record_violation();
                    }
                }
            });
        }
        let sessions = &sessions;
        s.spawn(move || {
            for h in sessions.iter().step_by(10) {
                let _ = h.erased().cancel();
            }
        });
    });

    let mut by_state = [0u64; 6];
    let (mut tasks, mut latency, mut lost_races) = (0u64, 0u64, 0u64);
    for h in sessions {
        let outcome = if h.id().as_u64() % 5 == 0 {
            h.clone().fail().map(|_| ())
        } else {
            h.clone().complete().map(|_| ())
        };
        if outcome.is_err() {
            lost_races += 1; // already cancelled from outside: the CAS refused the overwrite
        }
        let s = h.snapshot();
        by_state[s.state as usize] += 1;
        tasks += s.task_completions;
        latency += s.total_latency_us;
    }

    println!("sessions by state after the run:");
    for st in SessionState::ALL {
        println!("  {:<10} {}", st.as_str(), by_state[st as usize]);
    }
    println!(
        "tasks recorded: {tasks}, mean latency {:.1} µs",
        latency as f64 / tasks.max(1) as f64
    );
    println!("terminal transitions refused because a cancel won first: {lost_races}");
    println!("elapsed: {:.1?}", started.elapsed());
}
