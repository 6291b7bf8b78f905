//! The failure modes of the crate documentation's table, each against a real `redis-server`
//! that the test stops, pauses, restarts or cuts off.

mod support;

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::{AdmittedDecision, Analysis, QRule, SessionAdapter};
use autonomic_fleet::{
    Allotment, FleetMember, FleetStatus, FloorReason, InstanceId, LeaseReply, LeaseRequest,
    LeaseStore, RedisLeaseStore, Standing,
};
use support::proxy::Proxy;
use support::redis_server::RedisServer;
use support::{
    PATIENCE, admit, admit_retry, admit_with_handle, capacity, instance, leased, spec, wait_for,
};
use tokio::sync::watch;

fn store(url: &str) -> RedisLeaseStore {
    RedisLeaseStore::open(url, Duration::from_millis(100)).unwrap()
}

const FLOOR: Allotment = Allotment { slots: 2, resource_units: 100_000 };
/// Floor and the whole pool: what an instance alone in the fleet is granted.
const ALONE: Allotment = Allotment { slots: 8, resource_units: 700_000 };

/// At the floor, actions that consume capacity fail closed and actions that shed load stay
/// allowed: with the floor's slots held by retries the next retry is refused for capacity,
/// while degradations are still admitted, up to the spec's shedding headroom at the floor.
fn fails_closed_at_the_floor(adapter: &SessionAdapter) {
    let retries: Vec<_> =
        (0..FLOOR.slots).map(|_| admit_retry(adapter).expect("within the floor")).collect();
    refused_for_capacity(admit_retry(adapter), "a retry past the floor");
    let headroom = spec("any").shedding_at_floor();
    assert!(headroom > 0);
    assert_eq!(adapter.shedding_headroom(), headroom);
    let shedding: Vec<_> = (0..headroom)
        .map(|_| admit(adapter).expect("shedding stays allowed at the floor"))
        .collect();
    refused_for_capacity(admit(adapter), "shedding past the floor's headroom");
    drop((retries, shedding));
}

/// `admission` was refused by `max_concurrent_adaptations`.
fn refused_for_capacity(admission: Result<AdmittedDecision, Analysis>, why: &str) {
    match admission {
        Err(Analysis::Refused(refusal)) => {
            assert_eq!(refusal.rule, QRule::MaxConcurrentAdaptations)
        }
        other => panic!("{why}: expected a refusal for capacity, got {other:?}"),
    }
}

/// Instance `name` of the fleet `name` alone on `server`, once leased the whole pool: its
/// adapter, member and status.
async fn leased_alone(
    server: &RedisServer,
    name: &str,
) -> (Arc<SessionAdapter>, FleetMember, watch::Receiver<FleetStatus>) {
    let (adapter, member) = instance(store(&server.url()), &spec(name), "a");
    let mut status = member.watch();
    wait_for(&mut status, PATIENCE, "first lease", leased).await;
    assert_eq!(capacity(&adapter), ALONE);
    assert_eq!(adapter.shedding_headroom(), 0, "leased, the slice bounds every kind");
    (adapter, member, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_keeps_the_lease_until_it_expires_then_the_floor() {
    let mut server = RedisServer::start();
    let (adapter, member, mut status) = leased_alone(&server, "down").await;

    server.stop();
    let failing = wait_for(&mut status, PATIENCE, "a failed renewal", |s| s.failures > 0).await;
    assert!(leased(&failing), "the lease is kept while it lasts: {failing:?}");
    assert_eq!(failing.in_force, ALONE);
    let fallen = wait_for(&mut status, PATIENCE, "the floor", |s| !leased(s)).await;
    assert_eq!(fallen.standing, Standing::Floor(FloorReason::Expired));
    assert_eq!(capacity(&adapter), FLOOR);
    fails_closed_at_the_floor(&adapter);

    server.restart();
    wait_for(&mut status, PATIENCE, "a lease again", leased).await;
    assert_eq!(capacity(&adapter), ALONE);
    member.shutdown().await;
}

/// Expiry: decisions admitted under a lease finish after it has run out (permits are never
/// revoked); the floor applies to admissions from then on, counting what they still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_admitted_under_an_expired_lease_finish() {
    let mut server = RedisServer::start();
    let (adapter, member, mut status) = leased_alone(&server, "in-flight").await;
    let held: Vec<_> = (0..ALONE.slots)
        .map(|_| {
            let (decision, handle) = admit_with_handle(&adapter);
            (decision.expect("within the slice"), handle)
        })
        .collect();
    const { assert!(ALONE.slots > FLOOR.slots) };

    server.stop();
    let fallen = wait_for(&mut status, PATIENCE, "the floor", |s| !leased(s)).await;
    assert_eq!(fallen.standing, Standing::Floor(FloorReason::Expired));
    assert_eq!(capacity(&adapter), FLOOR);
    assert_eq!(adapter.active_adaptations(), ALONE.slots, "nothing revoked");
    refused_for_capacity(admit_retry(&adapter), "past the floor while the lease's decisions run");
    for (decision, handle) in &held {
        adapter.execute(decision, handle).expect("a decision admitted under the lease finishes");
    }
    assert_eq!(adapter.active_adaptations(), 0);
    fails_closed_at_the_floor(&adapter);
    member.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_times_out_and_the_lease_runs_out() {
    let mut server = RedisServer::start();
    let (adapter, member, mut status) = leased_alone(&server, "paused").await;

    server.pause();
    let failing = wait_for(&mut status, PATIENCE, "a timed-out renewal", |s| s.failures > 0).await;
    assert!(leased(&failing), "{failing:?}");
    let fallen = wait_for(&mut status, PATIENCE, "the floor", |s| !leased(s)).await;
    assert_eq!(fallen.standing, Standing::Floor(FloorReason::Expired));
    assert_eq!(capacity(&adapter), FLOOR);

    server.resume();
    wait_for(&mut status, PATIENCE, "a lease again", leased).await;
    assert_eq!(capacity(&adapter), ALONE);
    member.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_the_side_that_cannot_renew_falls_to_the_floor() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port()).await;
    let spec = spec("partition");
    let (cut_off, member_a) = instance(store(&proxy.url()), &spec, "a");
    let (connected, member_b) = instance(store(&server.url()), &spec, "b");
    let (mut a, mut b) = (member_a.watch(), member_b.watch());
    wait_for(&mut a, PATIENCE, "a leased", |s| leased(s) && s.live_instances == 2).await;
    wait_for(&mut b, PATIENCE, "b leased", |s| leased(s) && s.live_instances == 2).await;

    proxy.cut();
    let fallen = wait_for(&mut a, PATIENCE, "a at the floor", |s| !leased(s)).await;
    assert_eq!(fallen.standing, Standing::Floor(FloorReason::Expired));
    assert_eq!(capacity(&cut_off), FLOOR);
    // Once a's lease has expired on the server, b gets the whole pool; with a at its
    // (reserved) floor the fleet stays within the cap.
    let alone = wait_for(&mut b, PATIENCE, "b alone", |s| s.live_instances == 1).await;
    assert_eq!(alone.in_force, ALONE);
    assert!(capacity(&cut_off).slots + capacity(&connected).slots <= spec.cap().slots);
    assert!(b.borrow().failures == 0, "b never lost Redis");

    proxy.heal();
    wait_for(&mut a, PATIENCE, "a leased again", leased).await;
    wait_for(&mut b, PATIENCE, "b sees a", |s| s.live_instances == 2).await;
    let total = capacity(&cut_off).slots + capacity(&connected).slots;
    assert!(total <= spec.cap().slots, "{total}");
    member_a.shutdown().await;
    member_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_with_lost_writes_reacquires_with_larger_epochs() {
    let mut server = RedisServer::start();
    let spec = spec("failover");
    let (_adapter_a, member_a) = instance(store(&server.url()), &spec, "a");
    let (_adapter_b, member_b) = instance(store(&server.url()), &spec, "b");
    let (mut a, mut b) = (member_a.watch(), member_b.watch());
    let epoch_of = |s: &autonomic_fleet::FleetStatus| match s.standing {
        Standing::Leased { epoch } => Some(epoch),
        Standing::Floor(_) => None,
    };
    let before_a = epoch_of(&wait_for(&mut a, PATIENCE, "a leased", leased).await).unwrap();
    let before_b = epoch_of(&wait_for(&mut b, PATIENCE, "b leased", leased).await).unwrap();

    // A failover to a replica that lost every write: the same address, an empty server.
    server.restart();
    let after_a =
        wait_for(&mut a, PATIENCE, "a re-acquired", |s| epoch_of(s).is_some_and(|e| e != before_a))
            .await;
    let after_b =
        wait_for(&mut b, PATIENCE, "b re-acquired", |s| epoch_of(s).is_some_and(|e| e != before_b))
            .await;
    // Epochs come from the server's clock too: never one handed out before the loss.
    assert!(epoch_of(&after_a).unwrap() > before_a.max(before_b));
    assert!(epoch_of(&after_b).unwrap() > before_a.max(before_b));
    member_a.shutdown().await;
    member_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_epoch_is_refused_and_the_member_acquires_anew() {
    let server = RedisServer::start();
    let spec = spec("stale");
    let (_adapter, member) = instance(store(&server.url()), &spec, "a");
    let mut status = member.watch();
    wait_for(&mut status, PATIENCE, "first lease", leased).await;

    // Another process takes the name over: a new epoch fences the member's lease.
    let intruder = store(&server.url());
    let name = InstanceId::new("a").unwrap();
    let ask = LeaseRequest {
        spec: &spec,
        instance: &name,
        epoch: None,
        demand: 0,
        holding: Allotment::ZERO,
    };
    let LeaseReply::Granted(takeover) = intruder.lease(&ask).await.unwrap() else { panic!() };
    // The member's next renewal is refused as stale; it acquires anew, with a larger epoch.
    let again = wait_for(
        &mut status,
        PATIENCE,
        "re-acquired",
        |s| matches!(s.standing, Standing::Leased { epoch } if epoch > takeover.epoch),
    )
    .await;
    assert!(again.grants >= 2);
    // Now the intruder's epoch is the stale one: its renewal and its release are ignored.
    let renew = LeaseRequest { epoch: Some(takeover.epoch), ..ask };
    assert_eq!(intruder.lease(&renew).await.unwrap(), LeaseReply::Stale);
    assert!(!intruder.release(&spec, &name, takeover.epoch).await.unwrap());
    assert!(leased(&member.status()));
    member.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_at_the_floor_while_redis_is_down() {
    let mut server = RedisServer::start();
    server.stop();
    let spec = spec("late");
    let (adapter, member) = instance(store(&server.url()), &spec, "a");
    let mut status = member.watch();
    let waiting = wait_for(&mut status, PATIENCE, "failed attempts", |s| s.failures >= 2).await;
    assert_eq!(waiting.standing, Standing::Floor(FloorReason::NotYetLeased));
    assert_eq!(capacity(&adapter), FLOOR);
    fails_closed_at_the_floor(&adapter);
    server.restart();
    wait_for(&mut status, PATIENCE, "leased", leased).await;
    assert_eq!(capacity(&adapter), ALONE);
    member.shutdown().await;
}
