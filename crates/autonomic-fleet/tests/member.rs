//! `FleetMember` on the in-memory store: shares follow demand, shutdown and drop give the
//! lease back, a floor of no slot is handled.

mod support;

use std::time::Duration;

use autonomic_fleet::{Allotment, FleetSpec, FloorReason, MemoryLeaseStore, Standing};
use support::{PATIENCE, admit, capacity, instance, leased, spec, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_move_toward_the_instance_that_uses_them() {
    let store = MemoryLeaseStore::new();
    let spec = spec("demand");
    let (busy, member_busy) = instance(store.clone(), &spec, "busy");
    let (idle, member_idle) = instance(store.clone(), &spec, "idle");
    let mut busy_status = member_busy.watch();
    let mut idle_status = member_idle.watch();
    wait_for(&mut busy_status, PATIENCE, "busy leased", |s| leased(s) && s.live_instances == 2)
        .await;
    wait_for(&mut idle_status, PATIENCE, "idle leased", |s| leased(s) && s.live_instances == 2)
        .await;

    // The busy instance keeps trying to admit (admissions and refusals are its demand); the
    // idle one asks for nothing. Its slice grows to the floor plus the whole pool (8), the
    // idle one keeps its floor (2); the two never add up to more than the cap.
    let driver = {
        let busy = busy.clone();
        tokio::spawn(async move {
            loop {
                let held: Vec<_> = (0..16).filter_map(|_| admit(&busy).ok()).collect();
                drop(held);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    wait_for(&mut busy_status, PATIENCE, "busy grows", |s| s.in_force.slots == 8).await;
    assert_eq!(capacity(&idle).slots, 2);
    assert!(capacity(&busy).slots + capacity(&idle).slots <= spec.cap().slots);
    driver.abort();
    member_busy.shutdown().await;
    member_idle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sets_the_floor_and_gives_the_slice_back() {
    let store = MemoryLeaseStore::new();
    let spec = spec("shutdown");
    let (leaving, member_leaving) = instance(store.clone(), &spec, "leaving");
    let (staying, member_staying) = instance(store.clone(), &spec, "staying");
    let mut status = member_staying.watch();
    wait_for(&mut status, PATIENCE, "two leases", |s| leased(s) && s.live_instances == 2).await;
    wait_for(&mut member_leaving.watch(), PATIENCE, "leaving leased", leased).await;

    let last = member_leaving.shutdown().await;
    assert_eq!(last.standing, Standing::Floor(FloorReason::Stopped));
    assert_eq!(capacity(&leaving), spec.floor());
    // Released, not expired: the other instance gets the whole pool at its next renewal.
    let alone = wait_for(&mut status, PATIENCE, "alone", |s| s.live_instances == 1).await;
    assert_eq!(alone.in_force.slots, 8);
    assert_eq!(capacity(&staying).slots, 8);

    // Dropping a member stops it too.
    drop(member_staying);
    wait_for(&mut status, PATIENCE, "stopped", |s| {
        s.standing == Standing::Floor(FloorReason::Stopped)
    })
    .await;
    assert_eq!(capacity(&staying), spec.floor());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_the_lease_while_work_beyond_the_floor_is_in_flight() {
    let store = MemoryLeaseStore::new();
    let spec = spec("draining");
    let (adapter, member) = instance(store.clone(), &spec, "a");
    wait_for(&mut member.watch(), PATIENCE, "leased", leased).await;
    let held: Vec<_> = (0..5).map(|_| admit(&adapter).expect("within the slice")).collect();
    let (_, other) = instance(store.clone(), &spec, "b");
    let mut other_status = other.watch();
    wait_for(&mut other_status, PATIENCE, "b leased", leased).await;
    // a is charged for its 8 (5 in use): b gets its floor only.
    assert_eq!(other_status.borrow().in_force.slots, 2);
    let stopping = tokio::spawn(member.shutdown());
    // While 5 slots (over the floor of 2) are in use, a keeps its lease, so b stays small.
    let renewals = other_status.borrow().grants;
    wait_for(&mut other_status, PATIENCE, "b renews", |s| s.grants > renewals).await;
    assert_eq!(other_status.borrow().in_force.slots, 2);
    drop(held);
    stopping.await.unwrap();
    wait_for(&mut other_status, PATIENCE, "b grows", |s| s.in_force.slots == 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floor_of_no_slot_applies_the_least_the_adapter_accepts() {
    let spec = FleetSpec::new(
        "off",
        Allotment::new(4, 0.5),
        Allotment::ZERO,
        2,
        Duration::from_millis(300),
    )
    .unwrap();
    let (adapter, member) = instance(MemoryLeaseStore::new(), &spec, "a");
    let status = member.status();
    // "Adaptation off" (0 slots) where the adapter accepts it, else its least (1 slot).
    assert!(status.in_force.slots <= 1, "{status:?}");
    assert_eq!(capacity(&adapter), status.in_force);
    member.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_requests_follow_the_renewal_schedule_not_the_admission_rate() {
    let spec = spec("requests");
    let (adapter, member) = instance(MemoryLeaseStore::new(), &spec, "a");
    let mut status = member.watch();
    let first = wait_for(&mut status, PATIENCE, "leased", leased).await;
    let started = tokio::time::Instant::now();
    let mut admitted = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            if admit(&adapter).is_ok() {
                admitted += 1;
            }
        }
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed();
    let requests = member.status().requests - first.requests;
    // One request per renew_every (lease/3), plus the one in flight at each end.
    let schedule = (elapsed.as_secs_f64() / (spec.lease_period().as_secs_f64() / 3.0)) as u64 + 2;
    assert!(admitted > 1_000, "{admitted}");
    assert!(requests <= schedule, "{requests} requests for {admitted} admissions in {elapsed:?}");
    member.shutdown().await;
}

/// More instances than `max_instances` (3): the extra one is refused (`Full`) and runs at its
/// floor (not reserved for it: the cap's floors are the first three's); once one of them
/// gives its lease back, the extra one is granted a lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_beyond_max_instances_runs_at_its_floor_until_a_lease_is_free() {
    let store = MemoryLeaseStore::new();
    let spec = spec("full");
    assert_eq!(spec.max_instances(), 3);
    let mut members: Vec<_> =
        ["a", "b", "c"].iter().map(|name| instance(store.clone(), &spec, name)).collect();
    for (_, member) in &members {
        wait_for(&mut member.watch(), PATIENCE, "leased", leased).await;
    }
    let (extra, member_extra) = instance(store.clone(), &spec, "d");
    let mut status = member_extra.watch();
    let refused = wait_for(&mut status, PATIENCE, "refused as full", |s| {
        s.standing == Standing::Floor(FloorReason::Full)
    })
    .await;
    assert_eq!(refused.granted, None);
    assert_eq!(capacity(&extra), spec.floor());

    let (_, leaving) = members.remove(0);
    leaving.shutdown().await;
    wait_for(&mut status, PATIENCE, "a free lease taken", leased).await;
    member_extra.shutdown().await;
    for (_, member) in members {
        member.shutdown().await;
    }
}
