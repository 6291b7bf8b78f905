//! Fleet-wide knowledge: the rule of `KnowledgeStore` on both stores, and three runtimes on a
//! real `redis-server` whose doctrine reads the fleet's windows: the sum while every instance
//! publishes, a dead instance's counts aging out, and the fallback while Redis is down.

mod support;

use std::sync::Arc;
use std::time::Duration;

use autonomic::{AutonomicRuntime, RuntimeConfig, WindowConfig};
use autonomic_aggregate::WindowTotals;
use autonomic_core::{CaseId, Evidence, TenantId, WindowFigures};
use autonomic_fleet::{
    Allotment, FleetMember, FleetSpec, FleetStatus, FleetTotals, FleetWindows, InstanceId,
    KnowledgeStore, MemberConfig, MemoryKnowledgeStore, RedisKnowledgeStore, RedisLeaseStore,
    ScopeTotals, StoreError,
};
use support::redis_server::RedisServer;
use support::{PATIENCE, until_in_force, wait_for};

fn id(name: &str) -> InstanceId {
    InstanceId::new(name).unwrap()
}

fn failed(n: u64) -> WindowTotals {
    let mut totals = WindowTotals::default();
    totals.counts.failed = n;
    totals.short.failed = n;
    totals.gauges.running = 1;
    totals.gauges.oldest_running_ns = n * 1_000;
    totals
}

/// Publishes and sums: each instance reads the others' totals, never its own; a full fleet
/// stores no newcomer; a record not renewed ages out on the store's clock. Returns the
/// answers in order.
async fn exchanges<S: KnowledgeStore>(store: &S) -> Vec<FleetTotals> {
    let spec = FleetSpec::new("sums", Allotment::new(4, 0.0), Allotment::ZERO, 2, LEASE).unwrap();
    let ttl = Duration::from_millis(150);
    let mut trace = Vec::new();
    let mut ask = async |who: &str, totals: WindowTotals| {
        let answer = store
            .exchange(&spec, &id(who), &totals, &ScopeTotals::default(), ttl)
            .await
            .expect("answers");
        trace.push(answer.clone());
        answer
    };
    let first = ask("a", failed(3)).await;
    assert_eq!((first.instances, first.published), (0, true));
    assert!(first.others.is_empty());
    let b = ask("b", failed(4)).await;
    assert_eq!((b.instances, b.others.counts.failed), (1, 3));
    let a = ask("a", failed(5)).await;
    assert_eq!((a.instances, a.others.counts.failed), (1, 4), "its own record is left out");
    // Two instances at most: c reads both, and is not stored.
    let c = ask("c", failed(100)).await;
    assert_eq!((c.instances, c.published), (2, false));
    assert_eq!(c.others.counts.failed, 9);
    assert_eq!(c.others.gauges.running, 2, "running sessions add up");
    assert_eq!(c.others.gauges.oldest_running_ns, 5_000, "the oldest is the oldest of all");
    assert_eq!(ask("a", failed(5)).await.others.counts.failed, 4, "c was not stored");
    // a and b stop publishing: their records age out, on the store's clock. (Waiting for
    // time to pass is what this checks.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alone = ask("c", failed(1)).await;
    assert_eq!((alone.instances, alone.published), (0, true));
    assert!(alone.others.is_empty());
    trace
}

const LEASE: Duration = Duration::from_millis(1000);

#[tokio::test]
async fn both_knowledge_stores_follow_the_rule_and_agree() {
    let server = RedisServer::start();
    let on_redis = exchanges(&RedisKnowledgeStore::open(&server.url(), PATIENCE).unwrap()).await;
    let in_memory = exchanges(&MemoryKnowledgeStore::new()).await;
    assert_eq!(on_redis, in_memory);
}

#[tokio::test]
async fn redis_knowledge_refuses_corrupt_records() {
    let server = RedisServer::start();
    let store = RedisKnowledgeStore::open(&server.url(), PATIENCE).unwrap();
    let spec =
        FleetSpec::new("corrupt", Allotment::new(4, 0.0), Allotment::ZERO, 2, LEASE).unwrap();
    store.exchange(&spec, &id("a"), &failed(1), &ScopeTotals::default(), LEASE).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg("autonomic:fleet:{corrupt}:windows")
        .arg("b")
        .arg("99999999999999,1,2")
        .query_async(&mut connection)
        .await
        .unwrap();
    let err = store
        .exchange(&spec, &id("a"), &failed(1), &ScopeTotals::default(), LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

/// One instance: a runtime whose loop is driven by the test, and its member.
struct Instance {
    runtime: AutonomicRuntime,
    windows: Arc<FleetWindows>,
    member: Option<FleetMember>,
}

impl Instance {
    fn start(url: &str, spec: &FleetSpec, name: &str) -> Self {
        let windows = Arc::new(FleetWindows::new());
        let config = RuntimeConfig::default()
            .with_windows(WindowConfig { min_finished_sessions: 20, ..WindowConfig::default() });
        let runtime = AutonomicRuntime::builder()
            .config(config)
            .window_peers(windows.clone())
            .build()
            .unwrap();
        let leases = RedisLeaseStore::open(url, Duration::from_millis(200)).unwrap();
        let knowledge = leases.knowledge_store();
        let member = FleetMember::start_with_knowledge(
            runtime.shared_adapter(),
            leases,
            knowledge,
            windows.clone(),
            MemberConfig::new(spec.clone(), id(name)),
        )
        .unwrap();
        Instance { runtime, windows, member: Some(member) }
    }

    /// `n` sessions that end, failed or completed.
    fn sessions(&self, n: usize, fail: bool) {
        let tenant = TenantId::default_tenant();
        for _ in 0..n {
            let h = self.runtime.table().create_session(CaseId::new(), tenant).start().unwrap();
            h.record_task_execution_us(1_000);
            if fail {
                h.fail().unwrap();
            } else {
                h.complete().unwrap();
            }
        }
    }

    /// One loop iteration; the global figures the doctrine reads now.
    fn judge(&self) -> WindowFigures {
        self.runtime.run_once();
        self.runtime
            .knowledge()
            .current()
            .windows
            .clone()
            .expect("the loop publishes windows")
            .global
    }

    fn status(&self) -> tokio::sync::watch::Receiver<FleetStatus> {
        self.member.as_ref().expect("running").watch()
    }

    /// Waits until the others' sum in force holds `finished` finished sessions (their
    /// records as their runtimes last handed them), one exchange at a time.
    async fn others_finished(&self, finished: u64) {
        let what = format!("the others' {finished} finished sessions");
        until_in_force(&self.windows, self.status(), &what, |t| {
            t.others.counts.finished() == finished
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctrine_reads_the_fleets_windows_and_a_dead_instance_ages_out() {
    let mut server = RedisServer::start();
    let spec =
        FleetSpec::new("knowing", Allotment::new(12, 0.9), Allotment::new(1, 0.05), 3, LEASE)
            .unwrap();
    let mut fleet: Vec<Instance> =
        ["a", "b", "c"].iter().map(|n| Instance::start(&server.url(), &spec, n)).collect();
    // a fails 10 sessions, b and c complete 10 each: alone, no instance has the 20 finished
    // sessions the failure-rate rule needs.
    fleet[0].sessions(10, true);
    fleet[1].sessions(10, false);
    fleet[2].sessions(10, false);
    for instance in &fleet {
        let alone = instance.judge();
        assert!(matches!(alone.failure_rate, Evidence::NotEnough { have: 10, need: 20 }));
    }
    // Each instance's member publishes what its runtime handed and reads the others'.
    for instance in &fleet {
        instance.others_finished(20).await;
    }
    // Every instance's doctrine reads the fleet's sum: 10 failed of 30.
    for instance in &fleet {
        let fleetwide = instance.judge();
        assert_eq!((fleetwide.counts.failed, fleetwide.counts.completed), (10, 20));
        assert_eq!(fleetwide.failure_rate, Evidence::Judged(10.0 / 30.0));
        // Its own windows stay its own.
        assert_eq!(instance.runtime.windows().global.counts.finished(), 10);
    }

    // c dies (stops publishing; its record stays until it expires, one lease period).
    let c = fleet.pop().unwrap();
    c.member.unwrap().shutdown().await;
    for instance in &fleet {
        let mut status = instance.status();
        wait_for(&mut status, PATIENCE, "c aged out", |s| s.peers == 1).await;
    }
    let without_c = fleet[0].judge();
    assert_eq!((without_c.counts.failed, without_c.counts.completed), (10, 10));
    assert_eq!(without_c.failure_rate, Evidence::Judged(0.5));

    // Redis down: the last sum stays in force until its expiry, then a judges alone. A fresh
    // sum first (b's 10), so that it outlives the first failed exchange.
    let mut status = fleet[0].status();
    let done = status.borrow().knowledge_exchanges;
    wait_for(&mut status, PATIENCE, "a fresh sum", |s| s.knowledge_exchanges > done).await;
    fleet[0].others_finished(10).await;
    server.stop();
    wait_for(&mut status, PATIENCE, "a failed exchange", |s| s.knowledge_failures > 0).await;
    let kept_before = fleet[0].windows.in_force();
    let kept = fleet[0].judge();
    let kept_after = fleet[0].windows.in_force();
    // The sum's expiry is fixed and time only moves on: in force before and after the
    // iteration means in force during it.
    assert!(kept_before.is_some() && kept_after.is_some(), "the sum expired too early");
    assert_eq!(kept.counts.finished(), 20, "the last fleet sum, until it expires");
    let expired = tokio::time::timeout(PATIENCE, async {
        while fleet[0].windows.in_force().is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    expired.await.expect("the sum expires one lease period after it was asked for");
    let alone = fleet[0].judge();
    assert!(matches!(alone.failure_rate, Evidence::NotEnough { have: 10, need: 20 }));
    assert!(fleet[0].status().borrow().knowledge_error.is_some());

    // Redis back (empty): the instances publish again and read each other.
    server.restart();
    for instance in &fleet {
        instance.others_finished(10).await;
    }
    assert_eq!(fleet[0].judge().counts.finished(), 20);
    // A member that stops hands its runtime back to its own windows at once.
    let mut a = fleet.remove(0);
    a.member.take().unwrap().shutdown().await;
    assert_eq!(a.windows.in_force(), None);
    assert_eq!(a.judge().counts.finished(), 10);
    for instance in fleet {
        instance.member.unwrap().shutdown().await;
    }
}
