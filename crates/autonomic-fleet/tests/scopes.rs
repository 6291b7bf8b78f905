//! Fleet-wide knowledge per tenant and per pattern: both knowledge stores sum the instances'
//! scopes alike and bound them; a pattern failing on every instance, each seeing a slice, is
//! one fleet-wide incident in every instance's knowledge (in memory and through a real
//! `redis-server`), and in two real runtimes' published knowledge after one loop iteration
//! each; a dead instance's scopes age out; hostile records are refused with a typed error and
//! nothing of them reaches the knowledge.

mod support;

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::SessionAdapter;
use autonomic_adapter::breaker::{BreakerConfig, BreakerState, Cohort};
use autonomic_aggregate::{Cumulative, WindowConfig, WindowPeers, WindowTotals, Windows};
use autonomic_core::{
    ClockHandle, Evidence, GlobalKnowledge, KnowledgeBase, TenantId, WindowCounts, WindowGauges,
    WindowedKnowledge,
};
use autonomic_fleet::{
    Allotment, FleetMember, FleetSpec, FleetStatus, FleetTotals, FleetWindows, InstanceId,
    KnowledgeStore, LeaseStore, MemberConfig, MemoryKnowledgeStore, MemoryLeaseStore,
    RedisKnowledgeStore, RedisLeaseStore, ScopeSet, ScopeTotals,
};
use support::redis_server::RedisServer;
use support::{LEASE, PATIENCE, until_in_force, wait_for};

fn id(name: &str) -> InstanceId {
    InstanceId::new(name).unwrap()
}

fn sessions(failed: u64, completed: u64) -> WindowTotals {
    let mut totals = WindowTotals::default();
    totals.counts.failed = failed;
    totals.counts.completed = completed;
    totals.short = totals.counts;
    totals
}

fn patterns(own: &[(u8, WindowTotals)], other: WindowTotals) -> ScopeSet<u8> {
    ScopeSet { own: own.to_vec(), other }
}

/// Every session a set counts (its own scopes and `other`): bounding only moves them.
fn finished(set: &ScopeSet<u8>) -> u64 {
    set.own.iter().map(|(_, t)| t.counts.finished()).sum::<u64>() + set.other.counts.finished()
}

/// Two instances publish pattern 7 at 30% failures and more patterns than the cap (3); a
/// third reads their sums, bounded; their records age out. Returns the answers in order.
async fn scope_exchanges<S: KnowledgeStore>(store: &S) -> Vec<FleetTotals> {
    let spec = FleetSpec::new("scopes", Allotment::new(4, 0.0), Allotment::ZERO, 3, LEASE)
        .unwrap()
        .with_max_scopes(3)
        .unwrap();
    let ttl = Duration::from_millis(150);
    let (t1, t2) = (TenantId::from_u128(1), TenantId::from_u128(u128::MAX - 1));
    let a = ScopeTotals {
        tenants: ScopeSet {
            own: vec![(t1, sessions(0, 10)), (t2, sessions(5, 0))],
            ..Default::default()
        },
        patterns: patterns(
            &[
                (1, sessions(0, 1)),
                (2, sessions(0, 2)),
                (3, sessions(0, 3)),
                (4, sessions(0, 4)),
                (5, sessions(0, 5)),
                (7, sessions(30, 70)),
            ],
            sessions(0, 2),
        ),
    };
    let b = ScopeTotals {
        tenants: ScopeSet { own: vec![(t1, sessions(10, 0))], ..Default::default() },
        patterns: patterns(&[(7, sessions(30, 70)), (9, sessions(0, 4))], WindowTotals::default()),
    };
    let mut trace = Vec::new();
    let mut ask = async |who: &str, scopes: &ScopeTotals| {
        let none = WindowTotals::default();
        let answer = store.exchange(&spec, &id(who), &none, scopes, ttl).await.expect("answers");
        trace.push(answer.clone());
        answer
    };
    assert!(ask("a", &a).await.scopes.is_empty());
    let seen_by_b = ask("b", &b).await.scopes;
    // a's record was bounded to 3 patterns: 7, 5 and 4; 1, 2 and 3 folded into other.
    assert_eq!(seen_by_b.patterns.own.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![4, 5, 7]);
    assert_eq!(seen_by_b.patterns.other.counts.completed, 1 + 2 + 3 + 2);
    let c = ask("c", &ScopeTotals::default()).await.scopes;
    // Pattern 7, failing at 30% on both: the fleet's counts are both instances'.
    let p7 = c.patterns.own.iter().find(|(p, _)| *p == 7).expect("the busiest is kept").1;
    assert_eq!((p7.counts.failed, p7.counts.completed), (60, 140));
    // Four patterns, three kept: 4 and 9 tie at 4 sessions, the smaller key stays.
    assert_eq!(c.patterns.own.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![4, 5, 7]);
    assert_eq!(c.patterns.other.counts.completed, 8 + 4, "a's other and b's pattern 9");
    assert_eq!(finished(&c.patterns), finished(&a.patterns) + finished(&b.patterns));
    let tenants: Vec<_> = c.tenants.own.iter().map(|(t, s)| (*t, s.counts)).collect();
    assert_eq!(
        tenants,
        vec![(t1, sessions(10, 10).counts), (t2, sessions(5, 0).counts)],
        "tenants add up by id, sorted"
    );
    // a and b stop publishing: their scopes age out with their records. (Waiting for time to
    // pass is what this checks.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alone = ask("c", &ScopeTotals::default()).await;
    assert_eq!(alone.instances, 0);
    assert!(alone.scopes.is_empty());
    trace
}

#[tokio::test]
async fn both_knowledge_stores_sum_scopes_alike_and_bound_them() {
    let server = RedisServer::start();
    let on_redis =
        scope_exchanges(&RedisKnowledgeStore::open(&server.url(), PATIENCE).unwrap()).await;
    let in_memory = scope_exchanges(&MemoryKnowledgeStore::new()).await;
    assert_eq!(on_redis, in_memory);
}

/// The sessions' clock of the tests' windows: one pass, at one second.
const NOW: u64 = 1_000_000_000;

/// One instance: windows the test feeds, the fleet's view of them, its member, and an
/// adapter with cohort breakers.
struct Instance {
    adapter: Arc<SessionAdapter>,
    windows: Windows,
    fleet: Arc<FleetWindows>,
    member: Option<FleetMember>,
}

impl Instance {
    fn start<L: LeaseStore, K: KnowledgeStore>(
        leases: L,
        knowledge: K,
        spec: &FleetSpec,
        name: &str,
    ) -> Self {
        let config = WindowConfig { min_finished_sessions: 20, ..WindowConfig::default() };
        let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
            .breaker(BreakerConfig::default())
            .build()
            .unwrap();
        let adapter = Arc::new(adapter);
        let fleet = Arc::new(FleetWindows::new());
        let member = FleetMember::start_with_knowledge(
            adapter.clone(),
            leases,
            knowledge,
            fleet.clone(),
            MemberConfig::new(spec.clone(), id(name)),
        )
        .unwrap();
        Instance { adapter, windows: Windows::new(config), fleet, member: Some(member) }
    }

    /// One pass: `failed` and `completed` sessions of pattern 7 (and of the whole runtime).
    fn pattern_sessions(&mut self, failed: u64, completed: u64) {
        let counts = Cumulative(WindowCounts { failed, completed, ..Default::default() });
        let mut pass = self.windows.pass(NOW);
        pass.global(counts, WindowGauges::default());
        pass.pattern(7, counts, WindowGauges::default());
        pass.finish();
    }

    /// What the runtime's loop would publish now.
    fn knowledge(&self) -> WindowedKnowledge {
        self.fleet.knowledge(&self.windows, NOW)
    }

    /// Publishes what the loop would, and lets the doctrine's breakers judge it (as the
    /// runtime's loop does after each publication); the state of pattern 7's breaker.
    fn judge(&self) -> Option<BreakerState> {
        let windows = Some(self.knowledge());
        self.adapter.knowledge().publish(GlobalKnowledge { windows, ..Default::default() });
        self.adapter.observe_knowledge(&ClockHandle::monotonic());
        let breakers = self.adapter.breakers();
        breakers.iter().find(|b| b.cohort == Cohort::Pattern(7)).map(|b| b.state)
    }

    fn status(&self) -> tokio::sync::watch::Receiver<FleetStatus> {
        self.member.as_ref().expect("running").watch()
    }
}

/// Instances a and b of the fleet `name` (the tests' spec).
fn two_instances<L, K>(leases: L, knowledge: K, name: &str) -> Vec<Instance>
where
    L: LeaseStore + Clone,
    K: KnowledgeStore + Clone,
{
    let spec = support::spec(name);
    ["a", "b"]
        .iter()
        .map(|instance| Instance::start(leases.clone(), knowledge.clone(), &spec, instance))
        .collect()
}

/// Each instance publishes what its loop handed, then reads what the others published.
async fn exchange_all(fleet: &[Instance]) {
    for instance in fleet {
        others_scopes_in(&instance.fleet, instance.member.as_ref().expect("running")).await;
    }
}

/// Waits (at most `PATIENCE`) until `windows` holds the other instances' scopes.
async fn others_scopes_in(windows: &FleetWindows, member: &FleetMember) {
    until_in_force(windows, member.watch(), "the others' scopes", |t| !t.scopes.is_empty()).await;
}

/// Pattern 7 fails at 30% on two instances, 10 sessions each: alone, neither has the 20
/// finished sessions the failure-rate rule needs; the fleet's sum does, on both. When b dies,
/// a's knowledge ages back to its own.
async fn a_pattern_failing_on_every_instance<L, K>(leases: L, knowledge: K) -> Vec<Instance>
where
    L: LeaseStore + Clone,
    K: KnowledgeStore + Clone,
{
    let mut fleet = two_instances(leases, knowledge, "incident");
    for instance in &mut fleet {
        instance.pattern_sessions(3, 7);
        let alone = instance.knowledge();
        let p7 = alone.pattern(7).expect("a window of its own");
        assert_eq!(p7.failure_rate, Evidence::NotEnough { have: 10, need: 20 });
    }
    exchange_all(&fleet).await;
    for instance in &fleet {
        let knowledge = instance.knowledge();
        let p7 = knowledge.pattern(7).expect("pattern 7");
        assert_eq!((p7.counts.failed, p7.counts.completed), (6, 14));
        assert_eq!(p7.failure_rate, Evidence::Judged(0.3), "one fleet-wide incident");
        assert_eq!(knowledge.global.failure_rate, Evidence::Judged(0.3));
        assert_eq!(knowledge.patterns.len(), 1);
    }
    // b dies: its record expires one lease period after its last publication.
    let b = fleet.pop().unwrap();
    b.member.unwrap().shutdown().await;
    let mut status = fleet[0].status();
    wait_for(&mut status, PATIENCE, "b aged out", |s| s.peers == 0).await;
    let own = fleet[0].knowledge();
    assert_eq!(own.pattern(7).unwrap().failure_rate, Evidence::NotEnough { have: 10, need: 20 });
    assert_eq!(own, fleet[0].windows.knowledge(NOW));
    fleet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_pattern_sick_on_two_instances_is_one_fleet_incident_until_one_dies() {
    let fleet =
        a_pattern_failing_on_every_instance(MemoryLeaseStore::new(), MemoryKnowledgeStore::new())
            .await;
    for instance in fleet {
        instance.member.unwrap().shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_redis_a_pattern_sick_on_two_instances_is_one_fleet_incident() {
    let server = RedisServer::start();
    let leases = RedisLeaseStore::open(&server.url(), Duration::from_millis(200)).unwrap();
    let knowledge = leases.knowledge_store();
    let mut fleet = a_pattern_failing_on_every_instance(leases, knowledge).await;

    // Something else writes a live instance's records, its scopes not what any instance
    // publishes (300 patterns, beyond any max_scopes): the exchange goes on, those scopes
    // are left out and counted, and nothing of them reaches a's knowledge (x's
    // whole-runtime totals are zeros), which stays its own.
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut hostile = vec![1u8, 0, 0, 44, 1];
    hostile.resize(20_000, 0);
    write_instance(&mut connection, "incident", "x", hostile).await;
    let a = &fleet[0];
    let mut status = a.status();
    let seen = wait_for(&mut status, PATIENCE, "x's scopes left out", |s| {
        s.unreadable_scopes == 1 && s.peers == 1
    })
    .await;
    assert!(seen.knowledge_error.is_none(), "{:?}", seen.knowledge_error);
    assert_eq!(a.knowledge(), a.windows.knowledge(NOW));
    fleet.pop().unwrap().member.unwrap().shutdown().await;
}

/// Pattern 7 fails at 60% on two instances, 10 sessions each: above the breaker's threshold
/// (0.5), but under its minimum volume (20 finished sessions), so neither trips it alone;
/// the fleet's sum trips it on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_sick_on_two_instances_trips_the_cohort_breaker_on_both() {
    let mut fleet = two_instances(MemoryLeaseStore::new(), MemoryKnowledgeStore::new(), "breaker");
    for instance in &mut fleet {
        instance.pattern_sessions(6, 4);
        assert_eq!(instance.judge(), None, "alone: not enough evidence, no breaker");
    }
    exchange_all(&fleet).await;
    for instance in &fleet {
        assert_eq!(instance.judge(), Some(BreakerState::Open), "the fleet's 12 failed of 20");
    }
    for instance in fleet {
        instance.member.unwrap().shutdown().await;
    }
}

/// Two real runtimes whose loops read the fleet: pattern 7 fails at 30% on each, 10 finished
/// sessions apiece, under the runtimes' minimum volume (20). Alone, each loop's iteration
/// publishes pattern 7 unjudged; once their members have exchanged, one more iteration each
/// publishes the fleet's figures for pattern 7, judged. Virtual time (a `ManualClock`) for
/// the windows; the members' exchanges are awaited, never slept for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_loops_publish_a_sick_patterns_fleet_figures_judged() {
    use autonomic::{AutonomicRuntime, CaseId, ClockHandle, ManualClock, RuntimeConfig};

    let spec = support::spec("runtimes");
    let (leases, knowledge) = (MemoryLeaseStore::new(), MemoryKnowledgeStore::new());
    let mut fleet = Vec::new();
    for name in ["a", "b"] {
        let clock = Arc::new(ManualClock::new());
        let fleet_windows = Arc::new(FleetWindows::new());
        let config = RuntimeConfig::default()
            .with_windows(WindowConfig { min_finished_sessions: 20, ..WindowConfig::default() });
        let runtime = AutonomicRuntime::builder()
            .config(config)
            .clock(ClockHandle::custom(clock.clone()))
            .window_peers(fleet_windows.clone())
            .build()
            .unwrap();
        let member = FleetMember::start_with_knowledge(
            runtime.shared_adapter(),
            leases.clone(),
            knowledge.clone(),
            fleet_windows.clone(),
            MemberConfig::new(spec.clone(), id(name)),
        )
        .unwrap();
        clock.advance(Duration::from_secs(1));
        for fails in [true, true, true, false, false, false, false, false, false, false] {
            let new = runtime.create_session(CaseId::new(), TenantId::new()).with_pattern(7);
            let h = runtime.start_session(new).unwrap();
            h.record_task_execution(Duration::from_millis(4));
            if fails {
                runtime.fail_session(h).unwrap();
            } else {
                runtime.complete_session(h).unwrap();
            }
        }
        fleet.push((runtime, fleet_windows, member));
    }
    let pattern_7 = |runtime: &AutonomicRuntime| {
        runtime.run_once();
        let windows = runtime.knowledge().current().windows.clone().expect("windows published");
        *windows.pattern(7).expect("pattern 7")
    };
    for (runtime, _, _) in &fleet {
        let alone = pattern_7(runtime);
        assert_eq!(alone.failure_rate, Evidence::NotEnough { have: 10, need: 20 });
    }
    // Each member publishes what its loop handed and reads the other's.
    for (_, fleet_windows, member) in &fleet {
        others_scopes_in(fleet_windows, member).await;
    }
    for (runtime, _, _) in &fleet {
        let fleetwide = pattern_7(runtime);
        assert_eq!((fleetwide.counts.failed, fleetwide.counts.completed), (6, 14));
        assert_eq!(fleetwide.failure_rate, Evidence::Judged(0.3), "the fleet's 6 failed of 20");
        // The runtime's own windows stay its own.
        assert_eq!(runtime.windows().pattern(7).unwrap().counts.finished(), 10);
    }
    for (_, _, member) in fleet {
        member.shutdown().await;
    }
}

/// Writes live records under instance `name` of fleet `fleet` as something other than an
/// instance would: empty window totals expiring far ahead, and `scopes` as its scopes record.
async fn write_instance(
    connection: &mut redis::aio::MultiplexedConnection,
    fleet: &str,
    name: &str,
    scopes: Vec<u8>,
) {
    let windows = format!("99999999999999,{}", ["0"; 21].join(","));
    let _: () = redis::cmd("HSET")
        .arg(format!("autonomic:fleet:{{{fleet}}}:windows"))
        .arg(name)
        .arg(windows)
        .query_async(&mut *connection)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("autonomic:fleet:{{{fleet}}}:scopes"))
        .arg(name)
        .arg(scopes)
        .query_async(connection)
        .await
        .unwrap();
}

/// One call of the knowledge script as instance `a` of fleet `s` publishing `record` with
/// `max_record_bytes`.
async fn invoke(
    connection: &mut redis::aio::MultiplexedConnection,
    max_record_bytes: usize,
    record: &[u8],
) -> redis::RedisResult<redis::Value> {
    let script = redis::Script::new(include_str!("../src/redis_store/knowledge.lua"));
    let mut invocation = script.prepare_invoke();
    invocation.key("autonomic:fleet:{s}:windows").key("autonomic:fleet:{s}:scopes");
    invocation.arg("a").arg(1000).arg(3);
    for _ in 0..21 {
        invocation.arg(0);
    }
    invocation.arg(max_record_bytes).arg(record);
    invocation.invoke_async(connection).await
}

/// The script stores the caller's scopes record without reading it, so it bounds its size:
/// a record over `max_record_bytes`, or a bound over 128 KB, is refused and nothing is
/// stored.
#[tokio::test]
async fn the_script_refuses_a_scopes_record_over_its_bound() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for (max, record, what) in [
        (100, vec![0u8; 101], "longer than max_record_bytes"),
        (131_073, vec![0u8; 10], "a bound over 128 KB"),
        (1 << 30, vec![0u8; 1 << 20], "a megabyte"),
    ] {
        let refused = invoke(&mut connection, max, &record).await;
        assert!(refused.is_err(), "{what}: {refused:?}");
    }
    let stored: i64 = redis::cmd("EXISTS")
        .arg("autonomic:fleet:{s}:windows")
        .arg("autonomic:fleet:{s}:scopes")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing stored");
    let taken = invoke(&mut connection, 100, &[0u8; 100]).await;
    assert!(taken.is_ok(), "{taken:?}");
}

/// Scopes records of a live instance that no instance wrote (text, a msgpack array, a
/// record cut short, one with a pattern twice, one beyond the bound) are left out of the
/// sum, whoever asks, and counted; the other instances' records are still summed.
#[tokio::test]
async fn redis_knowledge_leaves_out_scopes_records_it_did_not_write() {
    let server = RedisServer::start();
    let store = RedisKnowledgeStore::open(&server.url(), PATIENCE).unwrap();
    let spec =
        FleetSpec::new("hostile", Allotment::new(4, 0.0), Allotment::ZERO, 3, LEASE).unwrap();
    let none = (WindowTotals::default(), ScopeTotals::default());
    store.exchange(&spec, &id("a"), &none.0, &none.1, LEASE).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut ones = WindowTotals::default();
    ones.counts.completed = 1;
    let scopes = ScopeTotals {
        patterns: ScopeSet { own: vec![(3, ones)], other: ones },
        ..Default::default()
    };
    // What b writes, to be tampered with.
    store.exchange(&spec, &id("b"), &none.0, &scopes, LEASE).await.unwrap();
    let written: Vec<u8> = redis::cmd("HGET")
        .arg("autonomic:fleet:{hostile}:scopes")
        .arg("b")
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut twice = written.clone();
    twice[3] = 2; // two patterns...
    twice.extend_from_slice(&written[written.len() - 169..]); // ...pattern 3 twice
    for (record, what) in [
        (format!("T:{}", ["1"; 21].join(",")).into_bytes(), "text"),
        (vec![0xdc, 0x00, 0x16, 0xa1, b'T'], "msgpack"),
        (written[..written.len() - 1].to_vec(), "cut short"),
        (twice, "a pattern twice"),
    ] {
        write_instance(&mut connection, "hostile", "x", record).await;
        let seen = store.exchange(&spec, &id("a"), &none.0, &none.1, LEASE).await.unwrap();
        assert_eq!((seen.instances, seen.unreadable_scopes), (2, 1), "{what}");
        assert_eq!(seen.scopes.patterns, ScopeSet { own: vec![(3, ones)], other: ones }, "{what}");
    }
    // Longer than any instance writes: the script hands back its mark instead of the record.
    write_instance(&mut connection, "hostile", "x", vec![1; 200_000]).await;
    let seen = store.exchange(&spec, &id("a"), &none.0, &none.1, LEASE).await.unwrap();
    assert_eq!((seen.instances, seen.unreadable_scopes), (2, 1));
    assert_eq!(seen.scopes.patterns, ScopeSet { own: vec![(3, ones)], other: ones });
    // Without x, b's record is read and nothing is left out.
    let _: () = redis::cmd("HDEL")
        .arg("autonomic:fleet:{hostile}:windows")
        .arg("x")
        .query_async(&mut connection)
        .await
        .unwrap();
    let seen = store.exchange(&spec, &id("a"), &none.0, &none.1, LEASE).await.unwrap();
    assert_eq!((seen.instances, seen.unreadable_scopes), (1, 0));
    assert_eq!(seen.scopes.patterns, ScopeSet { own: vec![(3, ones)], other: ones });
}
