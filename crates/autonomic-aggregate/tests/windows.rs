//! Rolling windows against the real sessions and the real breakdown pass, in virtual time:
//! a property test against a sequential model, an incident, caps and decades of clock.

use std::sync::Arc;
use std::time::Duration;

use autonomic_core::{
    CaseId, ClockHandle, ManualClock, SessionHandle, SessionReading, TenantId,
    marker::{Active, AnyState},
};

use autonomic_aggregate::{Aggregation, Cumulative, WindowConfig, Windows};
use autonomic_core::{WindowCounts, WindowGauges};

mod support;
use support::Rng;

const S: u64 = 1_000_000_000;

/// A live session: its erased handle, and its typed handle while it runs.
type Live = (SessionHandle<(), AnyState>, Option<SessionHandle<(), Active>>);

/// A table in miniature: live sessions (erased handles, plus the active typed handle while it
/// runs), with removal reporting departures as the real sweep does.
struct World {
    clock: Arc<ManualClock>,
    tenants: Vec<TenantId>,
    live: Vec<Live>,
    aggregation: Aggregation,
    windows: Windows,
}

impl World {
    fn new(config: WindowConfig, tenants: usize) -> Self {
        World {
            clock: Arc::new(ManualClock::new()),
            tenants: (0..tenants).map(|_| TenantId::new()).collect(),
            live: Vec::new(),
            aggregation: Aggregation::new(),
            windows: Windows::new(config),
        }
    }

    fn now(&self) -> u64 {
        ClockHandle::custom(self.clock.clone()).now_nanos()
    }

    fn start(&mut self, tenant: usize, pattern: u8) {
        let h = SessionHandle::builder(CaseId::new(), self.tenants[tenant])
            .pattern(pattern)
            .clock(ClockHandle::custom(self.clock.clone()))
            .build()
            .start()
            .unwrap();
        self.live.push((h.erased(), Some(h)));
    }

    fn reading(&self, i: usize) -> SessionReading {
        self.live[i].0.reading_at(self.now())
    }

    /// Removes session `i`, reporting it as departed (what the table's removal does).
    fn remove(&mut self, i: usize) {
        let reading = self.reading(i);
        self.windows.departed(&reading);
        self.live.swap_remove(i);
    }

    /// One loop pass: the breakdown of the live sessions feeds the windows.
    fn pass(&mut self) {
        let now = self.now();
        let sessions: Vec<_> = self.live.iter().map(|(h, _)| h.clone()).collect();
        self.aggregation.run(&sessions, now);
        let mut pass = self.windows.pass(now);
        pass.global(Cumulative::of(&self.aggregation.total()), WindowGauges::default());
        for (tenant, metrics) in self.aggregation.tenants() {
            pass.tenant(tenant, Cumulative::of(&metrics), WindowGauges::default());
        }
        for (pattern, metrics) in self.aggregation.patterns() {
            pass.pattern(pattern, Cumulative::of(&metrics), WindowGauges::default());
        }
        pass.finish();
    }
}

/// A sequential model: every event, in the bucket of the pass after it happened.
#[derive(Default)]
struct Model {
    /// (bucket, tenant index, pattern, events)
    events: Vec<(u64, usize, u8, WindowCounts)>,
    pending: Vec<(usize, u8, WindowCounts)>,
}

impl Model {
    fn note(&mut self, tenant: usize, pattern: u8, counts: WindowCounts) {
        self.pending.push((tenant, pattern, counts));
    }
    fn pass(&mut self, bucket: u64) {
        for (t, p, c) in self.pending.drain(..) {
            self.events.push((bucket, t, p, c));
        }
    }
    fn sum(&self, now: u64, span: u64, keep: impl Fn(usize, u8) -> bool) -> WindowCounts {
        let mut total = WindowCounts::default();
        for (b, t, p, c) in &self.events {
            if *b <= now && now - b < span && keep(*t, *p) {
                total.add(c);
            }
        }
        total
    }
}

#[test]
fn windowed_counts_equal_a_sequential_model_after_every_pass() {
    for seed in 1..=4u64 {
        let config = WindowConfig { length_ms: 20_000, buckets: 4, ..WindowConfig::default() };
        let width = config.bucket_width().as_nanos() as u64;
        let mut world = World::new(config, 3);
        let mut model = Model::default();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut index_of = Vec::new(); // tenant index and pattern of each live session
        for _step in 0..400 {
            match rng.below(10) {
                0 | 1 => {
                    let (t, p) = (rng.below(3) as usize, rng.below(2) as u8);
                    world.start(t, p);
                    index_of.push((t, p));
                    model.note(t, p, WindowCounts { started: 1, ..Default::default() });
                }
                2..=4 if !world.live.is_empty() => {
                    let i = rng.below(world.live.len() as u64) as usize;
                    let (t, p) = index_of[i];
                    let us = 1 + rng.below(1000);
                    world.live[i].0.metrics().record_task_us(us);
                    let violated = rng.below(4) == 0;
                    if violated {
                        world.live[i].0.metrics().record_violation();
                    }
                    model.note(
                        t,
                        p,
                        WindowCounts {
                            tasks: 1,
                            latency_us: us,
                            violations: u64::from(violated),
                            ..Default::default()
                        },
                    );
                }
                5 if !world.live.is_empty() => {
                    let i = rng.below(world.live.len() as u64) as usize;
                    if let Some(active) = world.live[i].1.take() {
                        let (t, p) = index_of[i];
                        let mut c = WindowCounts::default();
                        if rng.below(3) == 0 {
                            active.fail().unwrap();
                            c.failed = 1;
                        } else {
                            active.complete().unwrap();
                            c.completed = 1;
                        }
                        model.note(t, p, c);
                    }
                }
                6 if !world.live.is_empty() => {
                    // Removal of a session, ended or not, between passes: its last events
                    // must still count.
                    let i = rng.below(world.live.len() as u64) as usize;
                    world.remove(i);
                    index_of.swap_remove(i);
                }
                7 => world.clock.advance(Duration::from_millis(rng.below(3000))),
                _ => {
                    world.pass();
                    let now = world.now();
                    let bucket = now / width;
                    model.pass(bucket);
                    let global = world.windows.global(now);
                    assert_eq!(global.counts, model.sum(bucket, 4, |_, _| true), "seed {seed}");
                    assert_eq!(global.short, model.sum(bucket, 1, |_, _| true), "seed {seed}");
                    for (ti, tenant) in world.tenants.clone().into_iter().enumerate() {
                        let want = model.sum(bucket, 4, |t, _| t == ti);
                        let got =
                            world.windows.tenant(tenant, now).map(|f| f.counts).unwrap_or_default();
                        assert_eq!(got, want, "seed {seed} tenant {ti}");
                    }
                    for p in 0..2u8 {
                        let want = model.sum(bucket, 4, |_, q| q == p);
                        let got =
                            world.windows.pattern(p, now).map(|f| f.counts).unwrap_or_default();
                        assert_eq!(got, want, "seed {seed} pattern {p}");
                    }
                }
            }
        }
    }
}

/// Tenant A fails half its sessions for 30 s, then recovers; one session a second per
/// tenant, each lasting one second. Returns A's windowed failure rate after every pass.
fn incident(retention: Duration) -> Vec<Option<f64>> {
    let config = WindowConfig { min_finished_sessions: 10, ..WindowConfig::default() };
    let mut world = World::new(config, 2);
    let mut rates = Vec::new();
    for second in 0..150u64 {
        // End what started a second ago.
        for i in 0..world.live.len() {
            if let Some(active) = world.live[i].1.take() {
                let failing = world.live[i].0.tenant_id() == world.tenants[0]
                    && (30..60).contains(&second)
                    && second % 2 == 0;
                if failing {
                    active.fail().unwrap();
                } else {
                    active.complete().unwrap();
                }
            }
        }
        world.start(0, 1);
        world.start(1, 2);
        // The sweep: remove what ended at least `retention` ago.
        let now = world.now();
        let mut i = 0;
        while i < world.live.len() {
            let ended = world.reading(i).snapshot.ended_for(now);
            if ended.is_some_and(|age| age >= retention) {
                world.remove(i);
            } else {
                i += 1;
            }
        }
        world.pass();
        rates.push(
            world.windows.tenant(world.tenants[0], world.now()).and_then(|f| f.failure_rate.rate()),
        );
        world.clock.advance(Duration::from_secs(1));
    }
    rates
}

#[test]
fn an_incident_is_judged_while_it_lasts_and_forgotten_one_window_after() {
    let rates = incident(Duration::from_secs(1));
    assert_eq!(rates[5], None, "five sessions are not enough evidence");
    assert_eq!(rates[25], Some(0.0));
    let peak = rates[31..=60].iter().flatten().copied().fold(0.0, f64::max);
    // At the incident's end the window holds 30 healthy seconds and 30 of the incident.
    assert!(peak >= 0.25, "the incident shows: {peak}");
    // The last failure ends at second 58; one 60 s window (and one bucket) later it is gone.
    assert!(rates[58 + 60 + 5..].iter().all(|r| *r == Some(0.0)), "{:?}", &rates[110..]);
}

#[test]
fn retention_does_not_change_the_windowed_knowledge() {
    assert_eq!(incident(Duration::from_secs(1)), incident(Duration::from_secs(3600)));
}

#[test]
fn tenants_beyond_the_cap_share_other_and_idle_scopes_are_dropped() {
    let config = WindowConfig { max_tenants: 2, ..WindowConfig::default() };
    let mut world = World::new(config, 5);
    for t in 0..5 {
        world.start(t, 0);
        world.live[t].0.metrics().record_task_us(10);
    }
    world.pass();
    let now = world.now();
    assert_eq!(world.windows.scopes().0, 2);
    assert_eq!(world.windows.other_tenants(now).counts.tasks, 3);
    assert_eq!(world.windows.global(now).counts.tasks, 5);
    // Everything ends and leaves; a window later no tenant scope remains.
    while !world.live.is_empty() {
        if let Some(active) = world.live[0].1.take() {
            active.complete().unwrap();
        }
        world.remove(0);
    }
    for _ in 0..14 {
        world.clock.advance(Duration::from_secs(5));
        world.pass();
    }
    assert_eq!(world.windows.scopes(), (0, 0));
    let bytes = world.windows.heap_bytes();
    assert!(bytes < 64 * 1024, "{bytes}");
}

#[test]
fn windows_keep_working_decades_into_the_clock() {
    let mut world = World::new(WindowConfig::default(), 1);
    world.clock.set_nanos(20 * 365 * 86_400 * S);
    world.start(0, 0);
    world.pass();
    world.clock.advance(Duration::from_secs(1));
    let active = world.live[0].1.take().unwrap();
    active.fail().unwrap();
    world.pass();
    let figures = world.windows.global(world.now());
    assert_eq!((figures.counts.started, figures.counts.failed), (1, 1));
    world.clock.advance(Duration::from_secs(61));
    world.pass();
    assert_eq!(world.windows.global(world.now()).counts, WindowCounts::default());
}

#[test]
fn window_memory_counts_each_tenant_and_pattern_window_up_to_the_caps() {
    let config = WindowConfig { max_tenants: 4, max_patterns: 3, ..WindowConfig::default() };
    let mut windows = Windows::new(config);
    let empty = windows.memory();
    assert_eq!((empty.tenant_windows, empty.pattern_windows), (0, 0));
    assert_eq!((empty.tenants, empty.patterns), (0, 0));
    // A window's bytes include its ring of buckets.
    let ring = config.buckets as usize * std::mem::size_of::<WindowCounts>();
    assert!(empty.tenant_window > ring, "{empty:?}");
    assert!(empty.pattern_window > ring, "{empty:?}");
    assert!(empty.global > 3 * ring, "the runtime's and the two `other` rings: {empty:?}");
    let tenants: Vec<TenantId> = (0..10).map(|_| TenantId::new()).collect();
    for n in 1..=10usize {
        let mut pass = windows.pass(n as u64 * S);
        let counts = Cumulative(WindowCounts { tasks: n as u64, ..WindowCounts::default() });
        for (k, tenant) in tenants.iter().take(n).enumerate() {
            pass.tenant(*tenant, counts, WindowGauges::default());
            pass.pattern(k as u8, counts, WindowGauges::default());
        }
        pass.finish();
        let memory = windows.memory();
        let (held_tenants, held_patterns) = (n.min(4), n.min(3));
        assert_eq!((memory.tenant_windows, memory.pattern_windows), (held_tenants, held_patterns));
        assert_eq!(memory.tenants, held_tenants * memory.tenant_window);
        assert_eq!(memory.patterns, held_patterns * memory.pattern_window);
        assert_eq!(memory.tenant_window, empty.tenant_window);
        assert_eq!(memory.total(), windows.heap_bytes());
        // Every window held is counted in the total, beyond what the empty windows held.
        let own = held_tenants * memory.tenant_window + held_patterns * memory.pattern_window;
        assert!(memory.total() >= empty.total() + own, "{n}: {memory:?}");
        assert_eq!(
            memory.total(),
            memory.global + own + memory.spare + memory.ledgers,
            "{n}: {memory:?}"
        );
    }
}
