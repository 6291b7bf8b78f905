//! The rule of `LeaseStore`, checked on both stores with the same scenarios: the memory
//! store and a real `redis-server` give the same grants.

mod support;

use std::time::Duration;

use autonomic_fleet::{
    Allotment, Epoch, FleetSpec, InstanceId, Lease, LeaseReply, LeaseRequest, LeaseStore,
    MemoryLeaseStore, RedisLeaseStore,
};
use support::redis_server::RedisServer;

fn spec(name: &str, lease_ms: u64) -> FleetSpec {
    FleetSpec::new(
        name,
        Allotment::new(12, 0.9),
        Allotment::new(1, 0.06),
        3,
        Duration::from_millis(lease_ms),
    )
    .unwrap()
}

fn id(name: &str) -> InstanceId {
    InstanceId::new(name).unwrap()
}

async fn ask<S: LeaseStore>(
    store: &S,
    spec: &FleetSpec,
    who: &InstanceId,
    epoch: Option<Epoch>,
    demand: u64,
    holding: Allotment,
) -> LeaseReply {
    let request = LeaseRequest { spec, instance: who, epoch, demand, holding };
    store.lease(&request).await.expect("the store answers")
}

fn granted(reply: LeaseReply) -> Lease {
    match reply {
        LeaseReply::Granted(lease) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// A busy instance alone takes the pool; a newcomer gets its (reserved) floor; the first
/// instance's slice shrinks over two renewals (it stays charged for what it holds) and only
/// then does the newcomer's grow. The grants never add up to more than the cap. Returns the
/// grants in order.
async fn rebalancing<S: LeaseStore>(store: &S) -> Vec<Allotment> {
    let spec = spec("rebalancing", 5_000);
    let (a, b) = (id("a"), id("b"));
    let mut trace = Vec::new();
    let la = granted(ask(store, &spec, &a, None, 10, Allotment::ZERO).await);
    trace.push(la.granted);
    assert_eq!(la.granted, Allotment::new(10, 0.78), "alone: floor + pool");
    let lb = granted(ask(store, &spec, &b, None, 10, Allotment::ZERO).await);
    trace.push(lb.granted);
    assert_eq!(lb.granted, Allotment::new(1, 0.06), "only the newcomer's floor is free");
    assert!(lb.epoch > la.epoch);
    // a renews with its equal share of demand, still holding its old slice.
    let la2 = granted(ask(store, &spec, &a, Some(la.epoch), 10, la.granted).await);
    trace.push(la2.granted);
    assert_eq!(la2.epoch, la.epoch);
    assert!(la2.granted.slots < la.granted.slots);
    let lb2 = granted(ask(store, &spec, &b, Some(lb.epoch), 10, lb.granted).await);
    trace.push(lb2.granted);
    assert_eq!(lb2.granted, lb.granted, "a is still charged for what it held");
    // a renews holding only its new slice: its charge drops, and b's grant grows.
    let la3 = granted(ask(store, &spec, &a, Some(la.epoch), 10, la2.granted).await);
    trace.push(la3.granted);
    let lb3 = granted(ask(store, &spec, &b, Some(lb.epoch), 10, lb2.granted).await);
    trace.push(lb3.granted);
    assert!(lb3.granted.slots > lb2.granted.slots, "{lb3:?}");
    assert!(la3.granted.slots + lb3.granted.slots <= 12);
    assert!(la3.granted.resource_units + lb3.granted.resource_units <= 900_000);
    assert_eq!(lb3.live_instances, 2);
    trace
}

/// A new lease is charged for what its instance still holds (from a lease it lost), as far
/// as it is free: the others' grants leave it out. Returns the grants in order.
async fn inheritance<S: LeaseStore>(store: &S) -> Vec<Allotment> {
    let spec = spec("inheritance", 5_000);
    let (a, b, c) = (id("a"), id("b"), id("c"));
    let mut trace = Vec::new();
    let la = granted(ask(store, &spec, &a, None, 1, Allotment::ZERO).await);
    let lb = granted(ask(store, &spec, &b, None, 1, Allotment::ZERO).await);
    trace.extend([la.granted, lb.granted]);
    // a shrinks to its half (4.5 above the floor: 5, the odd slot to the older lease), b
    // grows to its 4.
    let la2 = granted(ask(store, &spec, &a, Some(la.epoch), 1, Allotment::new(5, 0.0)).await);
    let lb2 = granted(ask(store, &spec, &b, Some(lb.epoch), 1, lb.granted).await);
    trace.extend([la2.granted, lb2.granted]);
    assert_eq!((la2.granted.slots, lb2.granted.slots), (6, 5));
    // b goes; c comes, still holding 4 slots (say, b restarted under another name).
    assert!(store.release(&spec, &b, lb.epoch).await.unwrap());
    let lc = granted(ask(store, &spec, &c, None, 0, Allotment::new(4, 0.0)).await);
    trace.push(lc.granted);
    assert_eq!(lc.granted.slots, 1, "no demand: its floor");
    // a asks for everything: c's 3 slots above its floor are not free.
    let la3 = granted(ask(store, &spec, &a, Some(la.epoch), 1, la2.granted).await);
    trace.push(la3.granted);
    assert_eq!(la3.granted.slots, 1 + 9 - 3);
    trace
}

/// Largest remainder: three instances with demands 10, 5 and 2 renew (each holding only its
/// last grant) until their slices settle; then the slices add up to the whole cap (rounding
/// every share down would leave a slot unused: 6 + 3 + 2 = 11 of 12), and at no step do the
/// latest grants add up to more than the cap. Returns the grants in order.
///
/// Then b's and c's demands move a little at every renewal, so that which of them has the
/// larger remainder flips between their renewals: the whole cap stays allotted (a left-over
/// unit stays with the instance that holds it).
async fn apportionment<S: LeaseStore>(store: &S) -> Vec<Allotment> {
    let spec = spec("apportionment", 5_000);
    let names = [id("a"), id("b"), id("c")];
    let demands = [10, 5, 2];
    let mut trace = Vec::new();
    let mut held = Vec::new();
    for (name, demand) in names.iter().zip(demands) {
        held.push(granted(ask(store, &spec, name, None, demand, Allotment::ZERO).await));
    }
    for _round in 0..4 {
        for i in 0..3 {
            let renewed = granted(
                ask(store, &spec, &names[i], Some(held[i].epoch), demands[i], held[i].granted)
                    .await,
            );
            held[i] = renewed;
            trace.push(renewed.granted);
            let slots: u64 = held.iter().map(|l| l.granted.slots).sum();
            let units: u64 = held.iter().map(|l| l.granted.resource_units).sum();
            assert!(slots <= 12 && units <= 900_000, "over the cap: {held:?}");
        }
    }
    let slots: Vec<u64> = held.iter().map(|l| l.granted.slots).collect();
    // 9 of the pool by 10:5:2 is 5.29 + 2.65 + 1.06: 5 + 2 + 1 rounded down, and the odd
    // slot to a, which holds it (it started with the whole pool and shrank to its share),
    // though b's remainder is larger.
    assert_eq!(slots, [1 + 6, 1 + 2, 1 + 1]);
    assert_eq!(held.iter().map(|l| l.granted.slots).sum::<u64>(), 12, "the whole cap");
    let units: u64 = held.iter().map(|l| l.granted.resource_units).sum();
    assert_eq!(units, 900_000, "the whole cap: {held:?}");
    // Demands 1000 : 640 - 10r : 635 - 10r in round r, of a pool of 9: about 4.0, 2.5, 2.5,
    // rounded down 4 + 2 + 2, and one unit left over. b renews with a fresh demand below c's
    // last, and c with one below b's: ranked by remainders alone, each would see the other
    // first and the unit would go to nobody. Once the slices have settled to the new demands
    // (two rounds), the whole cap stays allotted: whoever holds the unit keeps it.
    for round in 0..8u64 {
        let wobble = [1000, 640 - 10 * round, 635 - 10 * round];
        for i in 0..3 {
            let renewed = granted(
                ask(store, &spec, &names[i], Some(held[i].epoch), wobble[i], held[i].granted).await,
            );
            held[i] = renewed;
            trace.push(renewed.granted);
            let slots: u64 = held.iter().map(|l| l.granted.slots).sum();
            assert!(slots <= 12, "over the cap: {held:?}");
        }
        let slots: u64 = held.iter().map(|l| l.granted.slots).sum();
        assert!(round < 2 || slots == 12, "round {round}: a slot unallotted: {held:?}");
    }
    trace
}

/// Fencing: a takeover makes the old epoch stale for renewals and releases; the fleet is
/// full at `max_instances`; a released lease is gone.
async fn fencing<S: LeaseStore>(store: &S) {
    let spec = spec("fencing", 5_000);
    let (a, b, c, d) = (id("a"), id("b"), id("c"), id("d"));
    let old = granted(ask(store, &spec, &a, None, 0, Allotment::ZERO).await);
    let new = granted(ask(store, &spec, &a, None, 0, Allotment::ZERO).await);
    assert!(new.epoch > old.epoch);
    assert_eq!(ask(store, &spec, &a, Some(old.epoch), 0, Allotment::ZERO).await, LeaseReply::Stale);
    assert!(!store.release(&spec, &a, old.epoch).await.unwrap(), "a stale release is ignored");
    granted(ask(store, &spec, &a, Some(new.epoch), 0, Allotment::ZERO).await);
    granted(ask(store, &spec, &b, None, 0, Allotment::ZERO).await);
    let lc = granted(ask(store, &spec, &c, None, 0, Allotment::ZERO).await);
    assert_eq!(ask(store, &spec, &d, None, 0, Allotment::ZERO).await, LeaseReply::Full);
    assert!(store.release(&spec, &c, lc.epoch).await.unwrap());
    assert_eq!(
        ask(store, &spec, &c, Some(lc.epoch), 0, Allotment::ZERO).await,
        LeaseReply::Expired
    );
    granted(ask(store, &spec, &d, None, 0, Allotment::ZERO).await);
}

/// A lease not renewed expires on the store's clock: its renewal is refused and its share
/// is free again.
async fn expiry<S: LeaseStore>(store: &S) {
    let spec = spec("expiry", 150);
    let (a, b) = (id("a"), id("b"));
    let la = granted(ask(store, &spec, &a, None, 1, Allotment::ZERO).await);
    assert_eq!(la.ttl, Duration::from_millis(150));
    // Waiting for time to pass is what this checks (the store's clock), not a stand-in for
    // synchronisation.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lb = granted(ask(store, &spec, &b, None, 1, Allotment::ZERO).await);
    assert_eq!(lb.granted.slots, 10, "a's share came back");
    assert_eq!(
        ask(store, &spec, &a, Some(la.epoch), 1, Allotment::ZERO).await,
        LeaseReply::Expired
    );
    assert!(!store.release(&spec, &a, la.epoch).await.unwrap());
}

#[tokio::test]
async fn memory_store_follows_the_rule() {
    let store = MemoryLeaseStore::new();
    rebalancing(&store).await;
    inheritance(&store).await;
    fencing(&store).await;
    expiry(&store).await;
    apportionment(&store).await;
}

#[tokio::test]
async fn redis_store_follows_the_rule_and_agrees_with_memory() {
    let server = RedisServer::start();
    let store = RedisLeaseStore::open(&server.url(), Duration::from_secs(2)).unwrap();
    let on_redis = rebalancing(&store).await;
    fencing(&store).await;
    expiry(&store).await;
    let in_memory = rebalancing(&MemoryLeaseStore::new()).await;
    assert_eq!(on_redis, in_memory);
    let on_redis = inheritance(&store).await;
    let in_memory = inheritance(&MemoryLeaseStore::new()).await;
    assert_eq!(on_redis, in_memory);
    let on_redis = apportionment(&store).await;
    let in_memory = apportionment(&MemoryLeaseStore::new()).await;
    assert_eq!(on_redis, in_memory);
}

#[tokio::test]
async fn redis_store_fails_closed_on_corrupt_records() {
    let server = RedisServer::start();
    let store = RedisLeaseStore::open(&server.url(), Duration::from_secs(2)).unwrap();
    let spec = spec("corrupt", 5_000);
    granted(ask(&store, &spec, &id("a"), None, 0, Allotment::ZERO).await);
    // Something else writes garbage into the fleet's hash.
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg("autonomic:fleet:{corrupt}:leases")
        .arg("b")
        .arg("not,a,record")
        .query_async(&mut connection)
        .await
        .unwrap();
    let request = LeaseRequest {
        spec: &spec,
        instance: &id("c"),
        epoch: None,
        demand: 0,
        holding: Allotment::ZERO,
    };
    let err = store.lease(&request).await.unwrap_err();
    assert!(err.to_string().contains("corrupt fleet records"), "{err}");
}

#[tokio::test]
async fn redis_store_reports_an_unreachable_server() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.stop();
    let store = RedisLeaseStore::open(&url, Duration::from_millis(300)).unwrap();
    let spec = spec("down", 5_000);
    let request = LeaseRequest {
        spec: &spec,
        instance: &id("a"),
        epoch: None,
        demand: 0,
        holding: Allotment::ZERO,
    };
    let err = store.lease(&request).await.unwrap_err();
    assert!(
        matches!(
            err,
            autonomic_fleet::StoreError::Unreachable(_) | autonomic_fleet::StoreError::Timeout(_)
        ),
        "{err:?}"
    );
}
