//! Loom models of the lifecycle word: racing transitions decide exactly one winner, a terminal
//! state is never overwritten and always comes with its end time, and that end time (stored
//! relative to the start, see `crate::lifecycle`) is exact however far the clock is from its
//! origin.
//!
//! Run with `RUSTFLAGS="--cfg autonomic_loom" cargo test --release -p autonomic-core --lib loom_`.

use std::sync::Arc as StdArc;
use std::time::Duration;

use crate::{
    CaseId, ClockHandle, ManualClock, SessionBuilder, SessionHandle, SessionState, TenantId,
};
use loom::thread;

fn active() -> SessionHandle {
    SessionHandle::new(CaseId::from_u128(1), TenantId::default_tenant()).start().unwrap()
}

#[test]
fn racing_terminal_transitions_have_exactly_one_winner() {
    loom::model(|| {
        let h = active();
        let (a, b, observer) = (h.clone(), h.clone(), h.erased());
        let t1 = thread::spawn(move || a.complete().map(|_| ()).map_err(|e| e.found));
        let t2 = thread::spawn(move || b.fail().map(|_| ()).map_err(|e| e.found));
        // An observer must never see a terminal state without its end time.
        let s = observer.snapshot();
        assert_eq!(s.state.is_terminal(), s.ended_at_ns.is_some());
        let (r1, r2) = (t1.join().unwrap(), t2.join().unwrap());
        let end = h.snapshot();
        match (r1, r2) {
            (Ok(()), Err(found)) => {
                assert_eq!(found, SessionState::Completed);
                assert_eq!(end.state, SessionState::Completed);
            }
            (Err(found), Ok(())) => {
                assert_eq!(found, SessionState::Failed);
                assert_eq!(end.state, SessionState::Failed);
            }
            other => panic!("expected exactly one winner, got {other:?}"),
        }
        assert!(end.ended_at_ns.is_some());
        assert!(end.started_at_ns.is_some());
    });
}

#[test]
fn external_cancel_never_overwrites_a_terminal_state() {
    loom::model(|| {
        let h = active();
        let outside = h.erased();
        let t = thread::spawn(move || outside.cancel().is_ok());
        let completed = h.clone().complete().is_ok();
        let cancelled = t.join().unwrap();
        assert!(completed ^ cancelled, "exactly one of complete/cancel wins");
        let expected = if completed { SessionState::Completed } else { SessionState::Cancelled };
        assert_eq!(h.state(), expected);
    });
}

#[test]
fn mark_adapted_racing_complete() {
    loom::model(|| {
        let h = active();
        let adapter = h.clone();
        let t = thread::spawn(move || adapter.mark_adapted().is_ok());
        let done = h.clone().complete();
        let adapted = t.join().unwrap();
        // Nothing else finishes the session, so completion wins from Active or Adapted.
        assert!(done.is_ok());
        let s = h.snapshot();
        assert_eq!(s.state, SessionState::Completed);
        // An adaptation is counted iff mark_adapted won its CAS before completion.
        assert_eq!(s.adaptation_count, u64::from(adapted));
    });
}

#[test]
fn start_racing_external_cancel() {
    loom::model(|| {
        let created = SessionHandle::new(CaseId::from_u128(2), TenantId::default_tenant());
        let outside = created.erased();
        let t = thread::spawn(move || {
            let s = outside.snapshot();
            // Whoever sees the session running also sees its start time.
            if s.state.is_active() {
                assert!(s.started_at_ns.is_some());
            }
            outside.cancel().is_ok()
        });
        let started = created.start();
        let cancelled = t.join().unwrap();
        match started {
            Ok(h) => {
                // The cancel may still have won against the running session.
                let s = h.snapshot();
                assert!(s.started_at_ns.is_some());
                assert_eq!(s.state == SessionState::Cancelled, cancelled);
            }
            Err(e) => {
                assert!(cancelled);
                assert_eq!(e.found, SessionState::Cancelled);
            }
        }
    });
}

#[test]
fn the_end_time_is_exact_decades_after_the_clock_origin() {
    const TWENTY_YEARS: Duration = Duration::from_secs(20 * 365 * 86_400);
    loom::model(|| {
        let clock = StdArc::new(ManualClock::new());
        clock.advance(TWENTY_YEARS);
        let start = TWENTY_YEARS.as_nanos() as u64;
        let created = SessionBuilder::new(CaseId::from_u128(3), TenantId::default_tenant())
            .clock(ClockHandle::custom(clock.clone()))
            .build();
        let outside = created.erased();
        let h = created.start().unwrap();
        clock.advance(Duration::from_nanos(1_001));
        let t = thread::spawn(move || {
            let s = outside.snapshot();
            // Whoever sees the end sees it exactly, relative to the start it was stored from.
            if let Some(end) = s.ended_at_ns {
                assert_eq!((s.started_at_ns, end), (Some(start), start + 1_001));
            }
            outside.cancel().is_ok()
        });
        let observer = h.clone();
        let completed = h.complete().is_ok();
        let cancelled = t.join().unwrap();
        assert!(completed ^ cancelled);
        let s = observer.snapshot();
        assert_eq!(s.ended_at_ns, Some(start + 1_001));
        assert_eq!(s.duration(), Some(Duration::from_nanos(1_001)));
    });
}
