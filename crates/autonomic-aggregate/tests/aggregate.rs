//! Aggregation over generated populations, checked against independent oracles.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use autonomic_aggregate::{
    AggregatedMetrics, Aggregation, LatencyHistogram, SessionAggregator, source,
};
use autonomic_core::marker::AnyState;
use autonomic_core::{
    CaseId, ClockHandle, Coverage, KnowledgeBase, ManualClock, MetricsSnapshot, SessionHandle,
    SessionState, TenantId, static_tenant,
};

mod support;
use support::Rng;

/// A population that ends in every state, with varied counters, tenants and patterns.
fn population(n: usize, tenants: &[TenantId], seed: u64) -> Vec<SessionHandle<(), AnyState>> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let tenant = tenants[rng.below(tenants.len() as u64) as usize];
            let mut b = SessionHandle::builder(CaseId::new(), tenant);
            // Patterns 0..6 and "none".
            let p = rng.below(7);
            if p < 6 {
                b = b.pattern(p as u8 * 40);
            }
            let created = b.build();
            let fate = rng.below(7);
            if fate == 0 {
                return created.erased(); // stays Created
            }
            if fate == 1 {
                return created.cancel().unwrap().erased(); // cancelled before starting
            }
            let h = created.start().unwrap();
            for _ in 0..rng.below(6) {
                h.record_task_execution_us(rng.below(50_000));
            }
            for _ in 0..rng.below(3) {
                h.record_retry();
            }
            if rng.below(4) == 0 {
                h.record_violation();
            }
            let erased = h.erased();
            match fate {
                2 => {}                         // Active
                3 => h.mark_adapted().unwrap(), // Adapted
                4 => drop(h.complete().unwrap()),
                5 => drop(h.fail().unwrap()),
                _ => drop(h.cancel().unwrap()),
            }
            erased
        })
        .collect()
}

/// Independent oracle: the metrics computed straight from the snapshots.
fn oracle(snaps: &[MetricsSnapshot]) -> AggregatedMetrics {
    let count = |st: SessionState| snaps.iter().filter(|s| s.state == st).count() as u64;
    let sum = |f: fn(&MetricsSnapshot) -> u64| snaps.iter().map(f).sum::<u64>();
    let tasks = sum(|s| s.task_completions);
    let latency = sum(|s| s.total_latency_us);
    let retries = sum(|s| s.retry_count);
    let violations = sum(|s| s.violation_count);
    let adaptations = sum(|s| s.adaptation_count);
    let (completed, failed, cancelled) = (
        count(SessionState::Completed),
        count(SessionState::Failed),
        count(SessionState::Cancelled),
    );
    let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut means: Vec<u64> = snaps
        .iter()
        .filter(|s| s.task_completions > 0)
        .map(|s| s.total_latency_us / s.task_completions)
        .collect();
    means.sort_unstable();
    let mut hist = LatencyHistogram::new();
    means.iter().for_each(|&m| hist.record(m));
    AggregatedMetrics {
        total_sessions: snaps.len() as u64,
        created_sessions: count(SessionState::Created),
        active_sessions: count(SessionState::Active) + count(SessionState::Adapted),
        adapted_sessions: count(SessionState::Adapted),
        completed_sessions: completed,
        failed_sessions: failed,
        cancelled_sessions: cancelled,
        total_completions: tasks,
        total_latency_us: latency,
        total_retries: retries,
        total_violations: violations,
        total_adaptations: adaptations,
        avg_latency_us: div(latency, tasks),
        violation_rate: div(violations, tasks),
        retry_rate: div(retries, tasks),
        failure_rate: div(failed, completed + failed + cancelled),
        adaptation_rate: div(adaptations, tasks),
        latency: hist.summary(),
        taken_at_ns: 0,
        // The tests aggregate slices of handles: sessions chosen by the caller.
        coverage: Coverage::Selection,
    }
}

fn snaps_of<'a>(
    it: impl IntoIterator<Item = &'a SessionHandle<(), AnyState>>,
) -> Vec<MetricsSnapshot> {
    it.into_iter().map(|h| h.snapshot_at(0)).collect()
}

fn manual_aggregator() -> (Arc<ManualClock>, Arc<KnowledgeBase>, SessionAggregator) {
    let clock = Arc::new(ManualClock::new());
    let kb = Arc::new(KnowledgeBase::new());
    let agg = SessionAggregator::with_clock(kb.clone(), ClockHandle::custom(clock.clone()));
    (clock, kb, agg)
}

/// Polls a future once; the aggregator's futures must be ready on their first poll.
fn ready_now<F: Future>(f: F) -> F::Output {
    match pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future was not ready on its first poll"),
    }
}

#[test]
fn state_buckets_add_up_to_the_total_and_match_the_oracle() {
    let tenants = [TenantId::new(), TenantId::new(), TenantId::new()];
    let sessions = population(5_000, &tenants, 7);
    let (_, _, agg) = manual_aggregator();
    let m = agg.aggregate_source(&sessions);
    assert_eq!(m.total_sessions, 5_000);
    assert_eq!(m.state_buckets_sum(), m.total_sessions);
    // Every bucket is populated, so none of them is silently empty.
    for n in [
        m.created_sessions,
        m.active_sessions,
        m.adapted_sessions,
        m.completed_sessions,
        m.failed_sessions,
        m.cancelled_sessions,
    ] {
        assert!(n > 100, "{m:?}");
    }
    assert_eq!(m, oracle(&snaps_of(&sessions)));
}

#[test]
fn rates_follow_their_definitions() {
    let (_, _, agg) = manual_aggregator();
    let t = TenantId::default_tenant();
    let a = SessionHandle::new(CaseId::new(), t).start().unwrap();
    let b = SessionHandle::new(CaseId::new(), t).start().unwrap();
    let c = SessionHandle::new(CaseId::new(), t).start().unwrap();
    for us in [100, 200, 300] {
        a.record_task_execution_us(us);
    }
    b.record_task_execution_us(1_400);
    a.record_retry();
    b.record_retry();
    b.record_retry();
    c.record_retry(); // retries without a task: attempts still count them
    b.record_violation();
    a.mark_adapted().unwrap();
    let sessions = [a.erased(), b.erased(), c.erased()];
    a.complete().unwrap();
    b.fail().unwrap();
    c.cancel().unwrap();

    let m = agg.aggregate_source(&sessions);
    assert_eq!(m.total_completions, 4);
    assert_eq!(m.avg_latency_us, 2_000.0 / 4.0); // task-weighted, not the mean of means
    assert_eq!(m.violation_rate, 1.0 / 4.0); // violations / tasks
    assert_eq!(m.retry_rate, 4.0 / 4.0); // retries / tasks
    assert_eq!(m.adaptation_rate, 1.0 / 4.0); // adaptations / tasks
    assert_eq!(m.failure_rate, 1.0 / 3.0); // failed / (completed + failed + cancelled)
    assert_eq!(m.slo_compliance(), 0.75);
    assert_eq!((m.latency.sessions, m.latency.min_us, m.latency.max_us), (2, 200, 1_400));

    // One session alone has the rates of its own snapshot.
    let alone = agg.aggregate_source(&sessions[..1]);
    let s = sessions[0].snapshot();
    assert_eq!(alone.avg_latency_us, s.avg_latency_us().unwrap());
    assert_eq!(alone.retry_rate, s.retry_rate());
    assert_eq!(alone.violation_rate, s.violation_rate());
    assert_eq!(alone.adaptation_rate, s.adaptation_rate());
}

#[test]
fn nothing_divides_by_zero() {
    let (_, _, agg) = manual_aggregator();
    let none: [SessionHandle<(), AnyState>; 0] = [];
    let empty = agg.aggregate_source(&none);
    assert_eq!(empty, AggregatedMetrics::default());
    assert_eq!(empty.slo_compliance(), 1.0);

    // Sessions that exist but have no task, no retry, and none finished.
    let idle: Vec<_> = (0..3)
        .map(|_| SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap().erased())
        .collect();
    let m = agg.aggregate_source(&idle);
    assert_eq!(m.active_sessions, 3);
    for rate in
        [m.avg_latency_us, m.violation_rate, m.retry_rate, m.failure_rate, m.adaptation_rate]
    {
        assert_eq!(rate, 0.0);
    }
    assert_eq!(m.latency, Default::default());
    let k = m.to_knowledge(0);
    assert!(k.slo_compliance == 1.0 && k.failure_rate == 0.0 && k.avg_latency_us == 0.0);
}

type Draw = Box<dyn Fn(&mut Rng) -> u64>;

/// Nearest-rank value of `sorted` at `q`.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn assert_within_bucket(reported: u64, truth: u64, what: &str) {
    if truth < 16 {
        assert_eq!(reported, truth, "{what}");
    } else {
        assert!(reported >= truth, "{what}: reported {reported} under true {truth}");
        assert!(
            (reported as u128) * 8 < (truth as u128) * 9,
            "{what}: reported {reported} more than 12.5% over true {truth}"
        );
    }
}

#[test]
fn histogram_percentiles_match_a_sorted_oracle_within_the_bucket_error() {
    let mut rng = Rng(99);
    let distributions: [(&str, Draw); 5] = [
        ("uniform small", Box::new(|r| r.below(20))),
        ("uniform", Box::new(|r| r.below(100_000))),
        ("log-uniform", Box::new(|r| 1 << r.below(40) | r.below(1 << 20))),
        ("bimodal", Box::new(|r| if r.below(100) < 95 { 800 + r.below(50) } else { 250_000 })),
        ("huge", Box::new(|r| r.next())),
    ];
    for (name, draw) in &distributions {
        for n in [1, 2, 10, 1_000, 20_000] {
            let mut values: Vec<u64> = (0..n).map(|_| draw(&mut rng)).collect();
            let mut h = LatencyHistogram::new();
            values.iter().for_each(|&v| h.record(v));
            values.sort_unstable();
            let qs = [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0];
            for q in qs.into_iter().chain((0..20).map(|_| rng.below(10_001) as f64 / 10_000.0)) {
                let truth = nearest_rank(&values, q);
                let reported = h.value_at_quantile(q).unwrap();
                if truth >= autonomic_aggregate::histogram::OVERFLOW_FROM_US {
                    // Overflow bucket: the exact maximum is reported.
                    assert_eq!(reported, *values.last().unwrap(), "{name} n={n} q={q}");
                } else {
                    assert_within_bucket(reported, truth, &format!("{name} n={n} q={q}"));
                }
            }
            assert_eq!(h.min(), values.first().copied());
            assert_eq!(h.max(), values.last().copied());
        }
    }
}

#[test]
fn the_latency_summary_is_the_distribution_of_session_means() {
    let (_, _, agg) = manual_aggregator();
    let mut rng = Rng(3);
    let mut means = Vec::new();
    let sessions: Vec<_> = (0..2_000)
        .map(|_| {
            let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
            let tasks = rng.below(5); // some sessions have no task
            let mut sum = 0;
            for _ in 0..tasks {
                let us = rng.below(10_000) + rng.below(2) * 100_000;
                sum += us;
                h.record_task_execution_us(us);
            }
            if let Some(mean) = sum.checked_div(tasks) {
                means.push(mean);
            }
            h.erased()
        })
        .collect();
    means.sort_unstable();
    let m = agg.aggregate_source(&sessions);
    assert_eq!(m.latency.sessions, means.len() as u64);
    assert_eq!(m.latency.min_us, means[0]);
    assert_eq!(m.latency.max_us, *means.last().unwrap());
    for (q, reported) in
        [(0.5, m.latency.p50_us), (0.9, m.latency.p90_us), (0.99, m.latency.p99_us)]
    {
        assert_within_bucket(reported, nearest_rank(&means, q), &format!("q={q}"));
    }
}

#[test]
fn tenant_and_pattern_breakdowns_match_filtered_oracles() {
    let tenants = [TenantId::new(), TenantId::new(), TenantId::default_tenant()];
    let sessions = population(4_000, &tenants, 11);
    let (clock, _, agg) = manual_aggregator();
    clock.advance(Duration::from_secs(5));
    let report = agg.breakdown(&sessions);
    assert_eq!(report.total.taken_at_ns, 5_000_000_000);

    assert_eq!(report.tenants.len(), 3);
    assert!(report.tenants.windows(2).all(|w| w[0].tenant < w[1].tenant));
    for t in tenants {
        let mine = snaps_of(sessions.iter().filter(|h| h.tenant_id() == t));
        let expected = AggregatedMetrics { taken_at_ns: 5_000_000_000, ..oracle(&mine) };
        assert_eq!(report.tenant(t), Some(&expected), "tenant {t}");
    }
    let patterns: Vec<u8> = report.patterns.iter().map(|p| p.pattern).collect();
    assert_eq!(patterns, vec![0, 40, 80, 120, 160, 200]);
    for p in patterns {
        let mine = snaps_of(sessions.iter().filter(|h| h.pattern() == Some(p)));
        let expected = AggregatedMetrics { taken_at_ns: 5_000_000_000, ..oracle(&mine) };
        assert_eq!(report.pattern(p), Some(&expected), "pattern {p}");
    }
    let unpatterned = snaps_of(sessions.iter().filter(|h| h.pattern().is_none()));
    assert_eq!(report.unpatterned.total_sessions, unpatterned.len() as u64);
    assert_eq!(report.pattern(1), None);

    // Every session is in exactly one tenant and exactly one pattern group.
    let by_tenant: u64 = report.tenants.iter().map(|t| t.metrics.total_sessions).sum();
    let by_pattern: u64 = report.patterns.iter().map(|p| p.metrics.total_sessions).sum::<u64>()
        + report.unpatterned.total_sessions;
    assert_eq!((by_tenant, by_pattern), (4_000, 4_000));
}

#[test]
fn tenants_without_sessions_leave_the_breakdown() {
    let (a, b) = (TenantId::new(), TenantId::new());
    let mut agg = Aggregation::new();
    let both = population(100, &[a, b], 5);
    agg.run(&both, 0);
    assert_eq!(agg.tenants().len(), 2);
    let only_a: Vec<_> = both.iter().filter(|h| h.tenant_id() == a).cloned().collect();
    let m = agg.run(&only_a, 1);
    assert_eq!(m.total_sessions, only_a.len() as u64);
    assert_eq!(agg.tenants().map(|(t, _)| t).collect::<Vec<_>>(), vec![a]);
    assert!(agg.tenant(b).is_none());
    assert!(agg.tenant_histogram(b).is_none());
    // And a later pass with `b` back counts it afresh, not on top of old numbers.
    let m = agg.run(&both, 2);
    assert_eq!(m.total_sessions, 100);
    assert_eq!(agg.tenant(b).unwrap().total_sessions, 100 - only_a.len() as u64);
}

#[test]
fn passes_do_not_accumulate() {
    let sessions = population(500, &[TenantId::new()], 1);
    let (_, _, agg) = manual_aggregator();
    let first = agg.aggregate_source(&sessions);
    let second = agg.aggregate_source(&sessions);
    assert_eq!(first, second);
    assert_eq!(agg.breakdown(&sessions).tenants[0].metrics, first);
}

#[test]
fn publishing_bumps_the_generation_and_carries_the_typed_fields() {
    let (clock, kb, agg) = manual_aggregator();
    let sessions = population(1_000, &[TenantId::new()], 21);
    assert_eq!(kb.current().generation, 0);

    // The quick reference's call publishes what it aggregated, as a selection of sessions:
    // the latest knowledge, not what the doctrine gate reads.
    let selected = ready_now(agg.aggregate_sessions(&sessions)).unwrap();
    assert_eq!(selected.coverage, Coverage::Selection);
    assert_eq!((kb.latest().generation, kb.latest().coverage), (1, Coverage::Selection));
    assert_eq!(kb.current().generation, 0);

    // The same sessions declared whole: what the gate reads from now on.
    let m = agg.aggregate_source(&source::whole(&sessions));
    assert_eq!(m, AggregatedMetrics { coverage: Coverage::All, ..selected });
    clock.advance(Duration::from_millis(3));
    let k = agg.publish(&m);
    assert_eq!((k.generation, k.coverage), (2, Coverage::All));
    assert_eq!(kb.current(), k);
    assert_eq!(k.published_at_ns, 3_000_000);
    assert_eq!(k.total_sessions, m.total_sessions);
    assert_eq!(k.active_sessions, m.active_sessions);
    assert_eq!(
        k.finished_sessions,
        m.completed_sessions + m.failed_sessions + m.cancelled_sessions
    );
    assert_eq!(k.total_tasks, m.total_completions);
    assert_eq!(k.failure_rate, m.failure_rate);
    assert_eq!(k.slo_compliance, 1.0 - m.violation_rate);
    assert_eq!(k.avg_latency_us, m.avg_latency_us);
    assert_eq!(k.p99_latency_us, m.latency.p99_us);
    assert!(k.failure_rate > 0.0 && k.slo_compliance < 1.0);

    let (m2, k2) = agg.aggregate_and_publish(&source::whole(&sessions));
    assert_eq!(k2.generation, 3);
    assert_eq!(m2, AggregatedMetrics { taken_at_ns: 3_000_000, ..m });
    assert_eq!(kb.history().len(), 3);
}

#[test]
fn the_async_signature_accepts_typed_handles_of_any_state() {
    static_tenant!(Acme = 0xACE);
    let (_, _, agg) = manual_aggregator();
    let active: Vec<SessionHandle<Acme>> = (0..4)
        .map(|_| SessionHandle::<Acme, _>::for_tenant(CaseId::new()).start().unwrap())
        .collect();
    active[0].record_task_execution_us(10);
    let m = ready_now(agg.aggregate_sessions(&active)).unwrap();
    assert_eq!((m.active_sessions, m.total_completions), (4, 1));

    let created = vec![SessionHandle::new(CaseId::new(), TenantId::new())];
    let m = ready_now(agg.aggregate_sessions(&created)).unwrap();
    assert_eq!(m.created_sessions, 1);
    let r = agg.breakdown(&active);
    assert_eq!(r.tenants.len(), 1);
    assert_eq!(r.tenants[0].tenant, TenantId::from_u128(0xACE));
}

#[test]
fn buckets_add_up_while_sessions_change_under_the_pass() {
    let tenants = [TenantId::new(), TenantId::new()];
    let handles: Vec<SessionHandle<(), autonomic_core::marker::Active>> = (0..2_000)
        .map(|i| SessionHandle::new(CaseId::new(), tenants[i % 2]).start().unwrap())
        .collect();
    let observed: Vec<_> = handles.iter().map(|h| h.erased()).collect();
    let (_, _, agg) = manual_aggregator();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, h) in handles.into_iter().enumerate() {
                h.record_task_execution_us(i as u64);
                h.record_retry();
                match i % 3 {
                    0 => drop(h.complete()),
                    1 => drop(h.fail()),
                    _ => h.mark_adapted().unwrap(),
                }
            }
            done.store(true, Ordering::Release);
        });
        let mut last_tasks = 0;
        loop {
            let finished = done.load(Ordering::Acquire);
            let m = agg.aggregate_source(&observed);
            assert_eq!(m.total_sessions, 2_000);
            assert_eq!(m.state_buckets_sum(), 2_000);
            // Tasks only ever grow, and each session's latency comes with its task.
            assert!(m.total_completions >= last_tasks);
            last_tasks = m.total_completions;
            assert_eq!(m.latency.sessions, m.total_completions);
            if finished {
                assert_eq!(m.total_completions, 2_000);
                assert_eq!(m.active_sessions, m.adapted_sessions);
                break;
            }
        }
    });
}

#[test]
fn many_tenants_and_pairs_beyond_the_lookup_cache_stay_exact() {
    // 1500 tenants x up to 7 pattern slots: far more (tenant, pattern) pairs than the lookup
    // cache has entries, so most lookups collide and go through the maps.
    let tenants: Vec<TenantId> = (0..1_500).map(|_| TenantId::new()).collect();
    let sessions = population(20_000, &tenants, 77);
    let mut agg = Aggregation::new();
    for pass in 0..2 {
        let total = agg.run(&sessions, pass);
        assert_eq!(total, AggregatedMetrics { taken_at_ns: pass, ..oracle(&snaps_of(&sessions)) });
        let mut seen = 0;
        for (tenant, m) in agg.tenants() {
            let mine = snaps_of(sessions.iter().filter(|h| h.tenant_id() == tenant));
            assert_eq!(m, AggregatedMetrics { taken_at_ns: pass, ..oracle(&mine) });
            seen += m.total_sessions;
        }
        assert_eq!(seen, 20_000);
    }
}

#[test]
fn a_tenant_that_changes_patterns_leaves_its_old_pattern() {
    let t = TenantId::new();
    let on = |p: u8| -> Vec<SessionHandle<(), AnyState>> {
        (0..10)
            .map(|i| {
                let h =
                    SessionHandle::builder(CaseId::new(), t).pattern(p).build().start().unwrap();
                h.record_task_execution_us(100 * (i + 1));
                h.erased()
            })
            .collect()
    };
    let (first, second) = (on(1), on(2));
    let mut agg = Aggregation::new();
    agg.run(&first, 0);
    assert_eq!(agg.pattern(1).unwrap().total_sessions, 10);
    let m = agg.run(&second, 1);
    assert!(agg.pattern(1).is_none());
    assert!(agg.pattern_histogram(1).is_none());
    assert_eq!(agg.pattern(2), Some(m));
    assert_eq!(agg.tenant(t), Some(m));
    assert_eq!(m, AggregatedMetrics { taken_at_ns: 1, ..oracle(&snaps_of(&second)) });
    // Both at once: one tenant, two cells.
    let both: Vec<_> = first.iter().chain(&second).cloned().collect();
    let m = agg.run(&both, 2);
    assert_eq!((m.total_sessions, m.latency.sessions), (20, 20));
    assert_eq!(agg.pattern(1).unwrap().latency, agg.pattern(2).unwrap().latency);
}

#[test]
fn a_pass_interrupted_by_a_panicking_source_leaves_no_trace() {
    let sessions = population(1_000, &[TenantId::new(), TenantId::new()], 8);
    let expected = oracle(&snaps_of(&sessions));
    let (_, _, agg) = manual_aggregator();
    let exploding = autonomic_aggregate::source::from_fn(|visit| {
        for (i, h) in sessions.iter().enumerate() {
            assert!(i < 700, "source failed half-way");
            visit(h);
        }
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        agg.aggregate_source(&exploding);
    }));
    assert!(caught.is_err());
    assert_eq!(agg.aggregate_source(&sessions), expected);
    assert_eq!(agg.breakdown(&sessions).total, expected);
}

/// A sums-only pass (the runtime loop's) counts every group exactly as a full pass does; only
/// the groups' latency distributions are left out (the overall one is kept).
#[test]
fn a_sums_only_pass_has_every_sum_of_a_full_pass_and_no_distribution_per_group() {
    let tenants: Vec<TenantId> = (0..5).map(|_| TenantId::new()).collect();
    let sessions = population(3_000, &tenants, 0x5eed_0011);
    let (mut full, mut lean) = (Aggregation::new(), Aggregation::sums_only());
    // Twice: the second pass reuses the groups and cells of the first.
    for _ in 0..2 {
        assert_eq!(lean.run(&sessions, 1_000), full.run(&sessions, 1_000));
    }
    let strip = |m: AggregatedMetrics| AggregatedMetrics { latency: Default::default(), ..m };
    assert_eq!(full.tenants().len(), tenants.len());
    for (tenant, m) in full.tenants() {
        let lean_m = lean.tenant(tenant).expect("the same tenants");
        assert_eq!(strip(lean_m), strip(m));
        assert!(m.latency.p50_us > 0);
        assert_eq!(lean_m.latency, Default::default(), "no distribution per tenant");
    }
    let patterns: Vec<_> = full.patterns().collect();
    assert_eq!(patterns.len(), lean.patterns().count());
    for (pattern, m) in patterns {
        assert_eq!(strip(lean.pattern(pattern).expect("the same patterns")), strip(m));
    }
    assert_eq!(strip(lean.unpatterned()), strip(full.unpatterned()));
}
