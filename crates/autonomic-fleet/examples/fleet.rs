//! Three instances of a fleet (each its own runtime, adapter, lease and windows) under load
//! against one fleet cap on Redis, their doctrines judging the fleet's summed windows; Redis
//! is killed for a while and comes back.
//!
//! `cargo run --release -p autonomic-fleet --example fleet` starts a local `redis-server` on a
//! free loopback port (or uses `REDIS_URL`, which it cannot kill: then Redis stays up) and
//! prints, every second, the fleet-wide adaptations in flight (the most seen in that second,
//! summed over the instances) against the cap, each instance's slice, and the requests each
//! instance sent to Redis in that second (lease requests and window exchanges); then each
//! instance's failure rate over its own window against the fleet-wide one its doctrine
//! reads (instance 0 fails one session in three, the others one in twenty; while Redis is
//! down, each falls back to its own once the last fleet sum expires). It exits by itself
//! after 18 s.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autonomic::{AutonomicRuntime, RuntimeConfig, WindowConfig};
use autonomic_core::{CaseId, Evidence, TenantId};
use autonomic_fleet::{
    Allotment, FleetMember, FleetSpec, FleetStatus, FleetWindows, InstanceId, MemberConfig,
    RedisLeaseStore, Standing,
};
use support::redis_server::RedisServer;
use support::{Load, Meter, drive};
use tokio::time::Instant;

const CAP: u64 = 12;
const SECONDS: u64 = 18;
const REDIS_DOWN: std::ops::Range<u64> = 6..12;
/// Tasks per instance: unequal, so the slices follow the load.
const TASKS: [usize; 3] = [64, 24, 4];
/// One session in this many fails, per instance.
const FAIL_ONE_IN: [u64; 3] = [3, 20, 20];

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = RedisServer::start();
            let url = server.url();
            (Some(server), url)
        }
    };
    println!("redis at {url}; fleet cap {CAP} slots, floor 1 per instance, lease 1 s");
    let spec = FleetSpec::new(
        "example",
        Allotment::new(CAP, 0.9),
        Allotment::new(1, 0.05),
        3,
        Duration::from_secs(1),
    )?
    // Every kind of action within the cap, at the floor too, so that the figures below are
    // all bounded by it (by default, actions that shed load may take an even share of the
    // pool beyond an instance's floor while it runs at it: see `with_shedding_at_floor`).
    .with_shedding_at_floor(0)?;

    let meter = Arc::new(Meter::default());
    let stop_at = Instant::now() + Duration::from_secs(SECONDS);
    let mut members: Vec<FleetMember> = Vec::new();
    let mut runtimes: Vec<Arc<AutonomicRuntime>> = Vec::new();
    let mut workers = Vec::new();
    let mut traffic = Vec::new();
    for (i, tasks) in TASKS.into_iter().enumerate() {
        // A 5 s window in 5 buckets, judged from 20 finished sessions; a loop every 250 ms.
        let windows = WindowConfig { length_ms: 5_000, buckets: 5, ..WindowConfig::default() };
        let config = RuntimeConfig::default()
            .with_interval(Duration::from_millis(250))
            .with_windows(windows);
        let fleet_windows = Arc::new(FleetWindows::new());
        let runtime = Arc::new(
            AutonomicRuntime::builder()
                .config(config)
                .window_peers(fleet_windows.clone())
                .start()?,
        );
        let adapter = runtime.shared_adapter();
        let store = RedisLeaseStore::open(&url, Duration::from_millis(200))?;
        let knowledge = store.knowledge_store();
        let config = MemberConfig::new(spec.clone(), InstanceId::new(&format!("instance-{i}"))?);
        members.push(FleetMember::start_with_knowledge(
            adapter.clone(),
            store,
            knowledge,
            fleet_windows,
            config,
        )?);
        traffic.push(tokio::spawn(sessions(runtime.clone(), FAIL_ONE_IN[i], stop_at)));
        runtimes.push(runtime);
        for _ in 0..tasks {
            let load = drive(
                adapter.clone(),
                Load::Shedding,
                meter.clone(),
                stop_at,
                Duration::from_millis(2),
                Duration::from_millis(1),
            );
            workers.push(tokio::spawn(load));
        }
    }

    let mut ticks =
        tokio::time::interval_at(Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
    let mut last_requests = vec![0u64; members.len()];
    let mut worst = 0;
    let mut up = true;
    for second in 1..=SECONDS {
        ticks.tick().await;
        // SeqCst: the example's own instrumentation.
        let max =
            meter.max_in_flight.swap(meter.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        worst = worst.max(max);
        let mut line = format!(
            "t={second:>2}s redis {:<4} in flight (max) {max:>2} / cap {CAP}  |",
            if up { "up" } else { "down" }
        );
        for (i, member) in members.iter().enumerate() {
            let status = member.status();
            let sent = status.requests + status.knowledge_exchanges + status.knowledge_failures;
            let requests = sent - last_requests[i];
            last_requests[i] = sent;
            line += &format!(
                " i{i}: {} {:>2} slots, {requests} req/s |",
                standing(&status),
                status.in_force.slots
            );
        }
        println!("{line}");
        let mut rates =
            String::from("        failure rate, own window / fleet's (what the doctrine reads) |");
        for (i, runtime) in runtimes.iter().enumerate() {
            let own = runtime.windows().global.failure_rate;
            let fleet =
                runtime.knowledge().current().windows.as_ref().map(|w| w.global.failure_rate);
            rates += &format!(" i{i}: {} / {} |", percent(Some(own)), percent(fleet));
        }
        println!("{rates}");
        if let Some(server) = server.as_mut() {
            if second == REDIS_DOWN.start {
                println!("        -- killing redis-server --");
                server.stop();
                up = false;
            } else if second == REDIS_DOWN.end {
                println!("        -- restarting redis-server (empty) --");
                server.restart();
                up = true;
            }
        }
    }
    for worker in workers {
        worker.await?;
    }
    for sessions in traffic {
        sessions.await?;
    }
    for member in members {
        member.shutdown().await;
    }
    for runtime in runtimes {
        runtime.shutdown().await?;
    }
    println!("most adaptations in flight across the fleet in any second: {worst} (cap {CAP})");
    Ok(())
}

/// Sessions on `runtime` until `until`: one every 5 ms, each with one task; one in
/// `fail_one_in` fails, the others complete.
async fn sessions(runtime: Arc<AutonomicRuntime>, fail_one_in: u64, until: Instant) {
    let tenant = TenantId::default_tenant();
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    let mut n = 0u64;
    while Instant::now() < until {
        ticks.tick().await;
        n += 1;
        let Ok(h) = runtime.table().create_session(CaseId::new(), tenant).start() else { continue };
        h.record_task_execution_us(2_000);
        let _ =
            if n.is_multiple_of(fail_one_in) { h.fail().map(drop) } else { h.complete().map(drop) };
    }
}

fn percent(rate: Option<Evidence>) -> String {
    match rate {
        Some(Evidence::Judged(r)) => format!("{:>3.0}%", r * 100.0),
        Some(Evidence::NotEnough { .. }) | None => "  - ".into(),
    }
}

fn standing(status: &FleetStatus) -> &'static str {
    match status.standing {
        Standing::Leased { .. } => "leased",
        Standing::Floor(_) => "FLOOR ",
    }
}
