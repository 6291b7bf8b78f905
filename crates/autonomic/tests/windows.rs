//! The runtime's rolling windows, driven in virtual time: the knowledge judges recent
//! behaviour, whatever the retention, with a minimum volume.

use std::sync::Arc;
use std::time::Duration;

use autonomic::{AutonomicRuntime, ClockHandle, ManualClock, RuntimeConfig};
use autonomic_aggregate::WindowConfig;
use autonomic_core::{CaseId, Evidence, TenantId, WindowedKnowledge};

/// A runtime with `config` on a manual clock starting at 0.
fn on_manual_clock(config: RuntimeConfig) -> (Arc<ManualClock>, AutonomicRuntime) {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(config)
        .clock(ClockHandle::custom(clock.clone()))
        .build()
        .unwrap();
    (clock, runtime)
}

/// Tenants A and B each start one session a second that ends a second later; A fails half
/// of its sessions from second 30 to second 59. One loop iteration a second. Returns the
/// windowed knowledge published after each iteration.
fn incident(retention: Duration) -> (Vec<WindowedKnowledge>, TenantId, TenantId) {
    let (clock, runtime) = on_manual_clock(
        RuntimeConfig::default()
            .with_retention(retention)
            .with_windows(WindowConfig { min_finished_sessions: 10, ..WindowConfig::default() }),
    );
    let (a, b) = (TenantId::new(), TenantId::new());
    let mut running = Vec::new();
    let mut published = Vec::new();
    for second in 0..150u64 {
        for (tenant, h) in running.drain(..) {
            let failing = tenant == a && (30..60).contains(&second) && second % 2 == 0;
            let h: autonomic_core::SessionHandle<(), autonomic_core::marker::Active> = h;
            h.record_task_execution_us(1_000);
            if failing {
                h.fail().unwrap();
            } else {
                h.complete().unwrap();
            }
        }
        for tenant in [a, b] {
            let h = runtime.table().create_session(CaseId::new(), tenant).start().unwrap();
            running.push((tenant, h));
        }
        runtime.run_once();
        published.push(
            runtime.knowledge().current().windows.clone().expect("the loop publishes windows"),
        );
        clock.advance(Duration::from_secs(1));
    }
    (published, a, b)
}

#[test]
fn the_published_knowledge_judges_the_incident_and_forgets_it_one_window_after() {
    let (published, a, b) = incident(Duration::from_secs(1));
    let rate = |i: usize, t: TenantId| published[i].tenant(t).map(|f| f.failure_rate);
    assert!(matches!(rate(5, a), Some(Evidence::NotEnough { need: 10, .. })), "{:?}", rate(5, a));
    assert_eq!(rate(25, a), Some(Evidence::Judged(0.0)));
    let worst = (30..=60).filter_map(|i| rate(i, a).and_then(|e| e.rate())).fold(0.0, f64::max);
    assert!(worst >= 0.25, "tenant A's incident shows in its window: {worst}");
    assert!(
        (0..150).all(|i| rate(i, b).and_then(|e| e.rate()).unwrap_or(0.0) == 0.0),
        "B is healthy"
    );
    // The last failure ends at second 59; a window and a bucket later A is healthy again.
    for (i, k) in published.iter().enumerate().skip(59 + 60 + 5) {
        assert_eq!(k.tenant(a).map(|f| f.failure_rate), Some(Evidence::Judged(0.0)), "second {i}");
    }
    // The global window also sees it, and counts every session once.
    let last = &published[149];
    assert_eq!(last.global.counts.tasks, last.global.counts.finished());
}

#[test]
fn retention_does_not_change_the_published_windows() {
    let (short, ..) = incident(Duration::from_secs(1));
    let (long, ..) = incident(Duration::from_secs(3600));
    assert_eq!(short.len(), long.len());
    for (i, (s, l)) in short.iter().zip(&long).enumerate() {
        // Tenants are different ids in the two runs; compare their figures in order.
        assert_eq!(s.global, l.global, "second {i}");
        let figures = |k: &WindowedKnowledge| {
            let mut f: Vec<_> = k.tenants.iter().map(|(_, f)| (f.counts, f.failure_rate)).collect();
            f.sort_by_key(|(c, _)| (c.failed, c.completed, c.started));
            f
        };
        assert_eq!(figures(s), figures(l), "second {i}");
    }
}

#[test]
fn a_session_removed_between_passes_keeps_its_last_tasks() {
    let clock = Arc::new(ManualClock::new());
    let runtime =
        AutonomicRuntime::builder().clock(ClockHandle::custom(clock.clone())).build().unwrap();
    let h = runtime.table().create_session(CaseId::new(), TenantId::new()).start().unwrap();
    h.record_task_execution_us(10);
    runtime.run_once();
    h.record_task_execution_us(10);
    h.record_task_execution_us(10);
    let id = h.id();
    h.complete().unwrap();
    runtime.remove_session(&id).unwrap();
    clock.advance(Duration::from_secs(1));
    runtime.run_once();
    let window = runtime.knowledge().current().windows.clone().unwrap();
    assert_eq!((window.global.counts.tasks, window.global.counts.completed), (3, 1));
    assert_eq!(window.global.counts.started, 1);
}

#[test]
fn tenants_and_patterns_have_their_own_oldest_age_and_slow_sessions() {
    let (clock, runtime) = on_manual_clock(
        RuntimeConfig::default()
            .with_windows(WindowConfig { slow_session_ms: 10_000, ..WindowConfig::default() }),
    );
    let (a, b) = (TenantId::new(), TenantId::new());
    clock.advance(Duration::from_secs(1));
    let old = runtime.table().create_session(CaseId::new(), a).with_pattern(3).start().unwrap();
    clock.advance(Duration::from_secs(20));
    let young = runtime.table().create_session(CaseId::new(), b).with_pattern(4).start().unwrap();
    clock.advance(Duration::from_secs(1));
    runtime.run_once();
    let w = runtime.knowledge().current().windows.clone().expect("the loop publishes windows");
    let secs = |ns: u64| ns / 1_000_000_000;
    let gauges = |f: Option<&autonomic_core::WindowFigures>| {
        let g = f.expect("a window of its own").gauges;
        (g.running, g.slow_running, secs(g.oldest_running_ns))
    };
    assert_eq!(gauges(Some(&w.global)), (2, 1, 21));
    assert_eq!(gauges(w.tenant(a)), (1, 1, 21), "A's session runs for 21 s: slow");
    assert_eq!(gauges(w.tenant(b)), (1, 0, 1), "B's runs for 1 s");
    assert_eq!(gauges(w.pattern(3)), (1, 1, 21));
    assert_eq!(gauges(w.pattern(4)), (1, 0, 1));
    old.complete().unwrap();
    clock.advance(Duration::from_secs(1));
    runtime.run_once();
    let w = runtime.knowledge().current().windows.clone().unwrap();
    assert_eq!(gauges(w.tenant(a)), (0, 0, 0), "nothing of A runs any more");
    assert_eq!(gauges(w.tenant(b)), (1, 0, 2));
    drop(young);
}

/// Peers that report a fixed sum and keep what the runtime hands them.
#[derive(Default)]
struct FixedPeers {
    others: std::sync::Mutex<autonomic::WindowTotals>,
    handed: std::sync::Mutex<Vec<autonomic::WindowTotals>>,
}

impl autonomic::WindowPeers for FixedPeers {
    fn exchange(&self, local: &autonomic::WindowTotals) -> autonomic::WindowTotals {
        self.handed.lock().unwrap().push(*local);
        *self.others.lock().unwrap()
    }
}

#[test]
fn window_peers_join_the_global_figures_and_see_only_the_local_totals() {
    let clock = Arc::new(ManualClock::new());
    let peers = Arc::new(FixedPeers::default());
    let config = RuntimeConfig::default()
        .with_windows(WindowConfig { min_finished_sessions: 10, ..WindowConfig::default() });
    let runtime = AutonomicRuntime::builder()
        .config(config)
        .clock(ClockHandle::custom(clock.clone()))
        .window_peers(peers.clone())
        .build()
        .unwrap();
    let tenant = TenantId::new();
    for _ in 0..5 {
        let h = runtime.table().create_session(CaseId::new(), tenant).start().unwrap();
        h.complete().unwrap();
    }
    runtime.run_once();
    let global = |r: &AutonomicRuntime| r.knowledge().current().windows.clone().unwrap().global;
    // Alone: 5 finished sessions, under the minimum volume of 10.
    assert!(matches!(global(&runtime).failure_rate, Evidence::NotEnough { have: 5, .. }));
    // The peers report 15 failed sessions and 2 running: the fleet's rate is 15 / 20.
    peers.others.lock().unwrap().counts.failed = 15;
    peers.others.lock().unwrap().gauges.running = 2;
    clock.advance(Duration::from_secs(1));
    runtime.run_once();
    let fleet = global(&runtime);
    assert_eq!(fleet.failure_rate, Evidence::Judged(0.75));
    assert_eq!(fleet.gauges.running, 2);
    // The peers are handed this runtime's own totals, never the fleet's sum; the runtime's
    // own windows and tenants stay local.
    let handed = peers.handed.lock().unwrap().clone();
    assert_eq!(handed.len(), 2);
    assert!(handed.iter().all(|t| t.counts.completed == 5 && t.counts.failed == 0), "{handed:?}");
    assert_eq!(runtime.windows().global.counts.failed, 0);
    let own = runtime.knowledge().current().windows.clone().unwrap();
    assert_eq!(own.tenant(tenant).unwrap().counts.failed, 0);
}

/// The loop's sweep split over threads publishes what a single-threaded one does: the same
/// sessions through a runtime sweeping on 1 thread and through ones sweeping on 2, 3 and 4
/// give equal reports (sessions cleaned, metrics) and equal windowed knowledge, pass after
/// pass, while sessions start, end and leave.
#[test]
fn a_split_sweep_publishes_what_a_single_threaded_one_does() {
    use autonomic::SweepThreads;
    let runtimes: Vec<(Arc<ManualClock>, AutonomicRuntime)> = (1..=4)
        .map(|n| {
            on_manual_clock(
                RuntimeConfig::default()
                    .with_retention(Duration::from_secs(3))
                    .with_sweep_threads(SweepThreads::Exactly(n)),
            )
        })
        .collect();
    let tenants: Vec<TenantId> = (0..5).map(|_| TenantId::new()).collect();
    let mut running: Vec<Vec<_>> = vec![Vec::new(); runtimes.len()];
    for second in 0..12u64 {
        for ((_, runtime), running) in runtimes.iter().zip(&mut running) {
            // The same sessions in every runtime: ids differ, tenants, patterns and fates not.
            for (i, h) in std::mem::take(running).into_iter().enumerate() {
                let h: autonomic_core::SessionHandle<(), autonomic_core::marker::Active> = h;
                h.record_task_execution_us(100 * (i as u64 % 7 + 1));
                match (i as u64 + second) % 5 {
                    0 => drop(h.fail().unwrap()),
                    1 | 2 => drop(h.complete().unwrap()),
                    _ => running.push(h),
                }
            }
            for i in 0..400u64 {
                let tenant = tenants[(i % 5) as usize];
                let new = runtime.table().create_session(CaseId::new(), tenant);
                let h = new.with_pattern((i % 6) as u8).start().unwrap();
                running.push(h);
            }
        }
        let reports: Vec<_> = runtimes.iter().map(|(_, r)| r.run_once()).collect();
        let published: Vec<_> =
            runtimes.iter().map(|(_, r)| r.knowledge().current().windows.clone()).collect();
        for (n, (report, windows)) in reports.iter().zip(&published).enumerate().skip(1) {
            let threads = n + 1;
            assert_eq!(report.metrics, reports[0].metrics, "{threads} threads, second {second}");
            assert_eq!(
                (report.sessions_cleaned, report.sessions_remaining),
                (reports[0].sessions_cleaned, reports[0].sessions_remaining),
                "{threads} threads, second {second}"
            );
            assert_eq!(windows, &published[0], "{threads} threads, second {second}");
        }
        if second > 4 {
            assert!(reports[0].sessions_cleaned > 0, "sessions leave from second 4 on");
        }
        for (clock, _) in &runtimes {
            clock.advance(Duration::from_secs(1));
        }
    }
}
