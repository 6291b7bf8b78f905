//! Lifecycle, clock and counter behaviour of `SessionHandle` on real threads.

use std::sync::Arc;
use std::time::Duration;

use autonomic_core::{
    CaseId, ClockHandle, ManualClock, SessionBuilder, SessionHandle, SessionMetrics, SessionState,
    TenantId,
};

fn manual() -> (Arc<ManualClock>, ClockHandle) {
    let clock = Arc::new(ManualClock::new());
    (clock.clone(), ClockHandle::custom(clock))
}

#[test]
fn durations_come_from_the_injected_clock() {
    let (clock, handle_clock) = manual();
    let created = SessionBuilder::new(CaseId::new(), TenantId::new()).clock(handle_clock).build();
    clock.advance(Duration::from_millis(5));
    let h = created.start().unwrap();
    clock.advance(Duration::from_millis(10));
    assert_eq!(h.snapshot().duration_ms(), Some(10), "running: start to now");
    let done = h.complete().unwrap();
    clock.advance(Duration::from_secs(60));
    let s = done.snapshot();
    assert_eq!(s.started_at_ns, Some(5_000_000));
    assert_eq!(s.ended_at_ns, Some(15_000_000));
    assert_eq!(s.duration_ms(), Some(10), "finished: start to end, not to now");
    assert_eq!(s.ended_for(clock_now(&done)), Some(Duration::from_secs(60)));
}

fn clock_now<S: autonomic_core::Lifecycle>(h: &SessionHandle<(), S>) -> u64 {
    h.context().clock().now_nanos()
}

#[test]
fn never_started_sessions_have_no_duration() {
    let h = SessionHandle::new(CaseId::new(), TenantId::new());
    let cancelled = h.cancel().unwrap();
    let s = cancelled.snapshot();
    assert_eq!(s.state, SessionState::Cancelled);
    assert_eq!(s.started_at_ns, None);
    assert_eq!(s.duration_ms(), None);
    assert!(s.ended_at_ns.is_some());
}

#[test]
fn exactly_one_of_many_racing_finishers_wins() {
    for _ in 0..200 {
        let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
        let wins: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let h = h.clone();
                    s.spawn(move || match i % 3 {
                        0 => h.complete().is_ok(),
                        1 => h.fail().is_ok(),
                        _ => h.erased().cancel().is_ok(),
                    })
                })
                .collect();
            hs.into_iter().map(|j| usize::from(j.join().unwrap())).sum()
        });
        assert_eq!(wins, 1);
        let s = h.snapshot();
        assert!(s.state.is_terminal() && s.ended_at_ns.is_some());
        // A loser cannot move the session again.
        assert!(h.mark_adapted().is_err());
        assert_eq!(h.snapshot().state, s.state);
    }
}

#[test]
fn concurrent_recording_loses_nothing() {
    let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let h = h.clone();
            s.spawn(move || {
                for i in 0..50_000u64 {
                    h.record_task_execution_us(i % 100);
                    h.record_retry();
                    h.record_violation();
                }
            });
        }
    });
    let s = h.snapshot();
    assert_eq!(s.task_completions, 200_000);
    assert_eq!(s.total_latency_us, 4 * (0..50_000u64).map(|i| i % 100).sum::<u64>());
    assert_eq!((s.retry_count, s.violation_count), (200_000, 200_000));
}

#[test]
fn latency_sums_widen_instead_of_wrapping() {
    let m = SessionMetrics::new();
    let big = (1u64 << 30) - 1; // the largest latency that is packed
    for _ in 0..1500 {
        m.record_task_us(big); // crosses the 2^39 widening threshold about three times
    }
    m.record_task_us(1 << 40); // takes the cold path directly
    assert_eq!(m.read_tasks(), (1501, 1500 * big + (1 << 40)));
    m.record_task_us(u64::MAX);
    let (count, sum) = m.read_tasks();
    assert_eq!((count, sum), (1502, u64::MAX), "saturates, never wraps");
}

#[test]
fn task_counts_widen_past_the_packed_field() {
    let m = SessionMetrics::new();
    let n = (1u64 << 23) + 10; // past the 24-bit field's widening threshold
    for _ in 0..n {
        m.record_task_us(1);
    }
    assert_eq!(m.read_tasks(), (n, n));
}

#[test]
fn handles_are_one_pointer_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SessionHandle>();
    assert_send_sync::<SessionHandle<(), autonomic_core::marker::Created>>();
    assert_eq!(std::mem::size_of::<SessionHandle>(), std::mem::size_of::<usize>());
}

const DAY: Duration = Duration::from_secs(86_400);

/// A session that starts `origin_offset` after the clock's origin, runs 1.5 s and ended 2 s
/// ago reports exactly that, however far from the origin it is.
fn times_are_exact_at(origin_offset: Duration) {
    let (clock, handle_clock) = manual();
    clock.advance(origin_offset);
    let start = clock_now_of(&clock);
    let h = SessionBuilder::new(CaseId::new(), TenantId::new()).clock(handle_clock).build();
    let h = h.start().unwrap();
    clock.advance(Duration::from_nanos(1_500_000_001));
    let done = h.complete().unwrap();
    clock.advance(Duration::from_secs(2));
    let s = done.snapshot();
    assert_eq!(s.started_at_ns, Some(start));
    assert_eq!(s.ended_at_ns, Some(start + 1_500_000_001), "end at {origin_offset:?}");
    assert_eq!(s.duration(), Some(Duration::from_nanos(1_500_000_001)));
    assert_eq!(s.ended_for(clock_now_of(&clock)), Some(Duration::from_secs(2)));
}

fn clock_now_of(clock: &ManualClock) -> u64 {
    use autonomic_core::Clock;
    clock.now_nanos()
}

#[test]
fn end_times_stay_exact_past_418_days_of_uptime() {
    times_are_exact_at(418 * DAY);
}

#[test]
fn end_times_stay_exact_past_20_years_and_at_a_century() {
    times_are_exact_at(20 * 365 * DAY + Duration::from_nanos(123));
    times_are_exact_at(100 * 366 * DAY);
    // A clock that counts from the Unix epoch (2026 is 56 years in).
    times_are_exact_at(Duration::from_secs(1_795_000_000));
}

#[test]
fn a_session_that_runs_for_decades_keeps_its_duration_to_the_microsecond() {
    let (clock, handle_clock) = manual();
    let h = SessionBuilder::new(CaseId::new(), TenantId::new()).clock(handle_clock).build();
    clock.advance(Duration::from_secs(1));
    let h = h.start().unwrap();
    let ran = 150 * 365 * DAY + Duration::from_nanos(1_234_567);
    clock.advance(ran);
    let s = h.complete().unwrap().snapshot();
    assert_eq!(s.duration(), Some(Duration::from_nanos(ran.as_nanos() as u64 / 1_000 * 1_000)));
    // Never started, cancelled 20 years after the origin: its end is there too.
    let (clock, handle_clock) = manual();
    let h = SessionBuilder::new(CaseId::new(), TenantId::new()).clock(handle_clock).build();
    clock.advance(20 * 365 * DAY + Duration::from_micros(7));
    let s = h.cancel().unwrap().snapshot();
    assert_eq!(s.ended_at_ns, Some(clock_now_of(&clock)));
    assert_eq!(s.ended_for(clock_now_of(&clock)), Some(Duration::ZERO));
}

#[test]
fn for_tenant_is_named_without_a_state_placeholder() {
    autonomic_core::static_tenant!(pub Acme = 0xACE);
    let created = SessionHandle::<Acme>::for_tenant(CaseId::new());
    assert_eq!(created.state(), SessionState::Created);
    let acme: SessionHandle<Acme> = created.start().unwrap();
    assert_eq!(acme.tenant_id(), <Acme as autonomic_core::StaticTenant>::TENANT);
}
