//! Three instances of a fleet (each its own knowledge base, adapter and lease) under load
//! against one fleet cap on Redis; Redis is killed for a while and comes back.
//!
//! `cargo run --release -p autonomic-fleet --example fleet` starts a local `redis-server` on a
//! free loopback port (or uses `REDIS_URL`, which it cannot kill: then Redis stays up) and
//! prints, every second, the fleet-wide adaptations in flight (the most seen in that second,
//! summed over the instances) against the cap, each instance's slice, and the requests each
//! instance sent to Redis in that second. It exits by itself after 18 s.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autonomic_adapter::SessionAdapter;
use autonomic_core::KnowledgeBase;
use autonomic_fleet::{
    Allotment, FleetMember, FleetSpec, FleetStatus, InstanceId, MemberConfig, RedisLeaseStore,
    Standing,
};
use support::redis_server::RedisServer;
use support::{Meter, drive};
use tokio::time::Instant;

const CAP: u64 = 12;
const SECONDS: u64 = 18;
const REDIS_DOWN: std::ops::Range<u64> = 6..12;
/// Tasks per instance: unequal, so the slices follow the load.
const TASKS: [usize; 3] = [64, 24, 4];

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
    )?;

    let meter = Arc::new(Meter::default());
    let stop_at = Instant::now() + Duration::from_secs(SECONDS);
    let mut members: Vec<FleetMember> = Vec::new();
    let mut workers = Vec::new();
    for (i, tasks) in TASKS.into_iter().enumerate() {
        let adapter = Arc::new(SessionAdapter::new(Arc::new(KnowledgeBase::new())));
        let store = RedisLeaseStore::open(&url, Duration::from_millis(200))?;
        let config = MemberConfig::new(spec.clone(), InstanceId::new(&format!("instance-{i}"))?);
        members.push(FleetMember::start(adapter.clone(), store, config)?);
        for _ in 0..tasks {
            let load = drive(
                adapter.clone(),
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
            let requests = status.requests - last_requests[i];
            last_requests[i] = status.requests;
            line += &format!(
                " i{i}: {} {:>2} slots, {requests} req/s |",
                standing(&status),
                status.in_force.slots
            );
        }
        println!("{line}");
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
    for member in members {
        member.shutdown().await;
    }
    println!("most adaptations in flight across the fleet in any second: {worst} (cap {CAP})");
    Ok(())
}

fn standing(status: &FleetStatus) -> &'static str {
    match status.standing {
        Standing::Leased { .. } => "leased",
        Standing::Floor(_) => "FLOOR ",
    }
}
