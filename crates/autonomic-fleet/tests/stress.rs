//! Three instances (separate adapters on separate knowledge bases) x 64 tasks against one
//! fleet cap of 12 on a real Redis: the fleet-wide number of adaptations in flight, counted
//! by instrumenting every admission, never exceeds 12 — while Redis is up, and (the floors
//! being reserved out of the cap) while it is down.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use autonomic_fleet::{Allotment, FleetSpec, RedisLeaseStore};
use support::redis_server::RedisServer;
use support::{PATIENCE, admit_with_handle, instance, leased, wait_for};
use tokio::time::Instant;

const CAP: u64 = 12;
const TASKS: usize = 64;

#[derive(Default)]
struct Meter {
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    admitted: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_of_64_tasks_never_exceed_the_fleet_cap() {
    let mut server = RedisServer::start();
    let spec = FleetSpec::new(
        "stress",
        Allotment::new(CAP, 0.9),
        Allotment::new(1, 0.05),
        3,
        Duration::from_millis(400),
    )
    .unwrap();
    let instances: Vec<_> = (0..3)
        .map(|i| {
            let store = RedisLeaseStore::open(&server.url(), Duration::from_millis(100)).unwrap();
            instance(store, &spec, &format!("i{i}"))
        })
        .collect();
    for (_, member) in &instances {
        let mut status = member.watch();
        wait_for(&mut status, PATIENCE, "leased", |s| leased(s) && s.live_instances == 3).await;
    }

    let meter = Arc::new(Meter::default());
    let per_instance: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let phase = Duration::from_millis(1500);
    let stop_at = Instant::now() + phase * 3;
    let mut tasks = Vec::new();
    for (i, (adapter, _)) in instances.iter().enumerate() {
        for _ in 0..TASKS {
            let (adapter, meter, per_instance) =
                (adapter.clone(), meter.clone(), per_instance.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < stop_at {
                    let (decision, handle) = admit_with_handle(&adapter);
                    let Ok(decision) = decision else {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                        continue;
                    };
                    let now = meter.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    meter.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    per_instance[i].fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_micros(500)).await; // the adaptation's work
                    meter.in_flight.fetch_sub(1, Ordering::SeqCst);
                    adapter.execute(&decision, &handle).expect("executes");
                    meter.admitted.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
    }
    // Phase 1: Redis up. Phase 2: Redis down (leases run out: every instance falls to its
    // floor). Phase 3: Redis back (leases again).
    tokio::time::sleep(phase).await;
    let up_max = meter.max_in_flight.load(Ordering::SeqCst);
    server.stop();
    for (_, member) in &instances {
        let mut status = member.watch();
        wait_for(&mut status, PATIENCE, "at the floor", |s| !leased(s)).await;
    }
    server.restart();
    for task in tasks {
        task.await.expect("a task panicked");
    }

    let max = meter.max_in_flight.load(Ordering::SeqCst);
    let admitted = meter.admitted.load(Ordering::SeqCst);
    let per: Vec<u64> = per_instance.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    eprintln!(
        "fleet max in flight {max} (with Redis up: {up_max}), admitted {admitted}, per instance {per:?}"
    );
    assert!(up_max <= CAP, "{up_max} adaptations in flight with Redis up, over the cap of {CAP}");
    assert!(max <= CAP, "{max} adaptations in flight, over the cap of {CAP}");
    assert!(up_max > 3, "the slices were never used together ({up_max})");
    assert!(per.iter().all(|&n| n > 100), "{per:?}");
    for (adapter, member) in instances {
        assert!(adapter.active_adaptations() == 0);
        let last = member.shutdown().await;
        assert!(last.grants >= 2, "{last:?}");
    }
}
