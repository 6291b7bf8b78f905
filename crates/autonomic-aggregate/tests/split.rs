//! A pass split into parts ([`Aggregation::run_split`]) equals a single-threaded pass over the
//! same sessions exactly: the roll-up, every tenant's and pattern's breakdown and
//! distribution, and what the windows are fed.

use std::sync::Arc;
use std::time::Duration;

use autonomic_aggregate::{
    AggregatedMetrics, Aggregation, LatencyHistogram, SessionSource, SplitSource, WindowConfig,
    Windows,
};
use autonomic_core::marker::AnyState;
use autonomic_core::{
    CaseId, Clock, ClockHandle, ManualClock, SessionHandle, SessionReading, TenantId,
    WindowedKnowledge,
};

mod support;
use support::Rng;

/// Sessions visited round-robin by the parts (part `i` takes every `parts`-th session from
/// `i`), one thread per part: each part meets every tenant and pattern, so the merge has
/// cells to add up, not only to move.
struct RoundRobin(Vec<SessionHandle<(), AnyState>>);

impl SessionSource for RoundRobin {
    type Tenant = ();
    type State = AnyState;
    fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, f: F) {
        self.0.iter().for_each(f)
    }
}

impl SplitSource for RoundRobin {
    fn for_each_reading_split<V: Send>(
        &self,
        now_nanos: u64,
        parts: &mut [V],
        visit: impl Fn(&mut V, &SessionReading) + Sync,
    ) {
        let n = parts.len();
        let (sessions, visit) = (&self.0, &visit);
        std::thread::scope(|scope| {
            for (i, state) in parts.iter_mut().enumerate() {
                scope.spawn(move || {
                    for h in sessions.iter().skip(i).step_by(n) {
                        visit(state, &h.reading_at(now_nanos));
                    }
                });
            }
        });
    }
}

/// Sessions in every state, started at different instants (so the oldest running one
/// differs by group), with varied counters, tenants and patterns.
fn population(clock: &Arc<ManualClock>, n: usize, tenants: &[TenantId], seed: u64) -> RoundRobin {
    let mut rng = Rng(seed);
    let sessions = (0..n)
        .map(|_| {
            clock.advance(Duration::from_millis(rng.below(50)));
            let tenant = tenants[rng.below(tenants.len() as u64) as usize];
            let mut b = SessionHandle::builder(CaseId::new(), tenant)
                .clock(ClockHandle::custom(clock.clone()));
            if rng.below(5) != 0 {
                b = b.pattern(rng.below(9) as u8);
            }
            let created = b.build();
            let fate = rng.below(7);
            if fate == 0 {
                return created.erased();
            }
            let h = created.start().unwrap();
            for _ in 0..rng.below(6) {
                h.record_task_execution_us(rng.below(80_000));
            }
            if rng.below(3) == 0 {
                h.record_retry();
            }
            let erased = h.erased();
            match fate {
                1 | 2 => {}
                3 => h.mark_adapted().unwrap(),
                4 => drop(h.complete().unwrap()),
                5 => drop(h.fail().unwrap()),
                _ => drop(h.cancel().unwrap()),
            }
            erased
        })
        .collect();
    RoundRobin(sessions)
}

/// Everything a pass shows, in a comparable order.
#[derive(Debug, PartialEq)]
struct Seen {
    total: AggregatedMetrics,
    tenants: Vec<(TenantId, AggregatedMetrics, Vec<autonomic_aggregate::histogram::Bucket>)>,
    patterns: Vec<(u8, AggregatedMetrics, Vec<autonomic_aggregate::histogram::Bucket>)>,
    unpatterned: AggregatedMetrics,
    overall: Vec<autonomic_aggregate::histogram::Bucket>,
    fed: WindowedKnowledge,
}

fn buckets(h: Option<&LatencyHistogram>) -> Vec<autonomic_aggregate::histogram::Bucket> {
    h.map(|h| h.buckets().collect()).unwrap_or_default()
}

fn seen(agg: &Aggregation, total: AggregatedMetrics, now: u64) -> Seen {
    let mut tenants: Vec<_> =
        agg.tenants().map(|(t, m)| (t, m, buckets(agg.tenant_histogram(t)))).collect();
    tenants.sort_by_key(|(t, ..)| *t);
    let patterns = agg.patterns().map(|(p, m)| (p, m, buckets(agg.pattern_histogram(p)))).collect();
    let mut windows = Windows::new(WindowConfig::default());
    let mut pass = windows.pass(now);
    agg.feed_windows(&mut pass);
    pass.finish();
    Seen {
        total,
        tenants,
        patterns,
        unpatterned: agg.unpatterned(),
        overall: buckets(Some(agg.histogram())),
        fed: windows.knowledge(now),
    }
}

#[test]
fn a_split_pass_equals_a_single_threaded_one() {
    let clock = Arc::new(ManualClock::new());
    let tenants: Vec<TenantId> = (0..12).map(|_| TenantId::new()).collect();
    let slow = Some(Duration::from_secs(20));
    for per_group in [true, false] {
        let make = || {
            let agg = if per_group { Aggregation::new() } else { Aggregation::sums_only() };
            agg.with_slow_threshold(slow)
        };
        // One aggregation per part count, kept across passes (helpers and cells carry over),
        // over populations that differ in size and tenants from pass to pass.
        let mut single = make();
        let mut splits: Vec<Aggregation> = (2..=4).map(|_| make()).collect();
        for (round, n) in [3_000usize, 10, 0, 5_000, 1_200].into_iter().enumerate() {
            let tenants = &tenants[..(round * 5 % 12) + 1];
            let source = population(&clock, n, tenants, 0xA5A5 + round as u64);
            clock.advance(Duration::from_secs(30));
            let now = clock.now_nanos();
            let total = single.run(&source, now);
            let expected = seen(&single, total, now);
            assert_eq!(expected.total.total_sessions, n as u64);
            for (parts, split) in (2..=4).zip(&mut splits) {
                let total = split.run_split(&source, now, parts);
                let got = seen(split, total, now);
                assert_eq!(got, expected, "{parts} parts, round {round}, per group {per_group}");
            }
        }
    }
}
