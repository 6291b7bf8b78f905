//! Three instances (separate adapters on separate knowledge bases) x 64 tasks against one
//! fleet cap of 12 on a real Redis: the fleet-wide number of adaptations that consume
//! capacity (retries) in flight, counted by instrumenting every admission, never exceeds 12 —
//! while Redis is up, and (the floors being reserved out of the cap) while it is down.
//! (Actions that shed load may take the spec's shedding headroom beyond an instance's floor
//! while it runs at it: `failure_modes` covers them.)

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autonomic_fleet::{Allotment, FleetSpec, RedisLeaseStore};
use support::redis_server::RedisServer;
use support::{Load, Meter, PATIENCE, drive, instance, leased, wait_for};
use tokio::time::Instant;

const CAP: u64 = 12;
const TASKS: usize = 64;

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
    let phase = Duration::from_millis(1500);
    let stop_at = Instant::now() + phase * 3;
    let mut tasks: Vec<Vec<_>> = Vec::new();
    for (adapter, _) in &instances {
        tasks.push(
            (0..TASKS)
                .map(|_| {
                    let load = drive(
                        adapter.clone(),
                        Load::Consuming,
                        meter.clone(),
                        stop_at,
                        Duration::from_micros(500),
                        Duration::from_micros(200),
                    );
                    tokio::spawn(load)
                })
                .collect(),
        );
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
    let mut per = Vec::new();
    for instance_tasks in tasks {
        let mut executed = 0;
        for task in instance_tasks {
            executed += task.await.expect("a task panicked");
        }
        per.push(executed);
    }

    let max = meter.max_in_flight.load(Ordering::SeqCst);
    let admitted = meter.admitted.load(Ordering::SeqCst);
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
